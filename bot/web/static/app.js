/*
 * 小店客服 web chat.
 *
 * Talks to Rasa's socketio channel (credentials.yml: user_message_evt: user_uttered,
 * bot_message_evt: bot_uttered, session_persistence: true):
 *   page   -> web     POST /session {token?} -> {token, sessionId}   before every (re)connect
 *   client -> server  socket.io connect with auth {token}  (the server binds the connection
 *                     to the token's conversation and refuses it without one)
 *   client -> server  session_request                     on every (re)connect
 *   server -> client  session_confirm <session_id>
 *   client -> server  user_uttered {message, session_id}
 *   server -> client  bot_uttered {text?, quick_replies?|buttons?, attachment?|image?}
 *   server -> client  bot_uttered {..., outbox_id, from: "agent"|"bot", agent?}  a message sent
 *                     outside a request (an agent's reply, a queue update)
 *   client -> server  outbox_resume {after: last outbox_id seen}  after session_confirm, and
 *                     whenever the server says outbox_check: what came while we were away
 *
 * The session token, its id and the message history live in localStorage, so a reload
 * keeps the conversation (the same token, so Rasa continues the same tracker).
 * Message text only ever reaches the DOM through text nodes, never as HTML.
 */
(function () {
  "use strict";

  var STORAGE_KEY = "xiaodian-webchat:v1";
  // Limits come from the server, which fills them into the page (bot/web/server.py).
  var MAX_LEN = document.getElementById("input").maxLength;
  var MAX_SESSION_ID = parseInt(document.body.getAttribute("data-max-session-id"), 10) || 128;
  var MAX_HISTORY = 300;
  var TYPING_TIMEOUT_MS = 30000;
  var CONFIG_RETRY_MS = 3000;
  var TIME_GAP_MS = 5 * 60 * 1000;
  var DISCONNECTED_TEXT = "连接已断开，正在重新连接…";
  // Shown (as plain messages, not quick replies) while the conversation is empty.
  var SUGGESTIONS = ["查一下我的订单", "物流到哪了", "我要退货", "现在有什么优惠活动"];

  var els = {
    messages: document.getElementById("messages"),
    typing: document.getElementById("typing"),
    welcome: document.getElementById("welcome"),
    suggestions: document.getElementById("suggestions"),
    input: document.getElementById("input"),
    send: document.getElementById("send"),
    counter: document.getElementById("counter"),
    form: document.getElementById("composer"),
    banner: document.getElementById("status-banner"),
    connStatus: document.getElementById("conn-status"),
    newChat: document.getElementById("new-chat"),
  };

  var socket = null;
  var ready = false; // connected and session confirmed: sending allowed
  var restarting = false; // a deliberate reconnect for a new conversation
  var typingTimer = null;
  var state = loadState();

  // ---------------------------------------------------------------- storage

  // A new conversation: the server names it when the page asks for a session token.
  function freshState() {
    return { sessionId: null, token: null, messages: [], outboxId: null };
  }

  function isValidSessionId(id) {
    return typeof id === "string" && /^[A-Za-z0-9_-]{8,}$/.test(id) && id.length <= MAX_SESSION_ID;
  }

  function isValidOutboxId(id) {
    return typeof id === "string" && /^\d{1,20}-\d{1,20}$/.test(id);
  }

  // Stream ids "<ms>-<seq>" in order: is `a` later than `b` (null: nothing seen yet)?
  function outboxAfter(a, b) {
    if (!b) return true;
    var x = a.split("-"), y = b.split("-");
    if (x[0].length !== y[0].length) return x[0].length > y[0].length;
    if (x[0] !== y[0]) return x[0] > y[0];
    return Number(x[1]) > Number(y[1]);
  }

  function isValidState(s) {
    return s && (s.sessionId === null || isValidSessionId(s.sessionId)) &&
      (s.token === null || typeof s.token === "string") && Array.isArray(s.messages);
  }

  function loadState() {
    try {
      var raw = window.localStorage.getItem(STORAGE_KEY);
      if (raw) {
        var parsed = JSON.parse(raw);
        if (parsed && parsed.token === undefined) parsed.token = null; // stored by an older page
        if (parsed && parsed.token === null) parsed.sessionId = null; // ids come from the server now
        if (parsed && !isValidOutboxId(parsed.outboxId)) parsed.outboxId = null;
        if (isValidState(parsed)) {
          parsed.messages = parsed.messages.filter(function (m) {
            return m && (m.from === "user" || m.from === "bot");
          });
          return parsed;
        }
      }
    } catch (e) { /* unreadable storage: start afresh */ }
    var s = freshState();
    saveState(s);
    return s;
  }

  function saveState(s) {
    s = s || state;
    if (s.messages.length > MAX_HISTORY) s.messages = s.messages.slice(-MAX_HISTORY);
    try {
      window.localStorage.setItem(STORAGE_KEY, JSON.stringify(s));
    } catch (e) { /* storage full or blocked: keep the conversation in memory */ }
  }

  // Another tab of the same shop changed the conversation: follow it.
  window.addEventListener("storage", function (ev) {
    if (ev.key !== STORAGE_KEY) return;
    var previousSession = state.sessionId;
    try {
      var parsed = ev.newValue ? JSON.parse(ev.newValue) : null;
      state = isValidState(parsed) ? parsed : freshState();
    } catch (e) {
      state = freshState();
    }
    renderAll();
    if (state.sessionId !== previousSession) reconnectForNewSession();
  });

  // -------------------------------------------------------------- rendering

  function pad2(n) { return (n < 10 ? "0" : "") + n; }

  function formatTime(ts) {
    var d = new Date(ts);
    var now = new Date();
    var hm = pad2(d.getHours()) + ":" + pad2(d.getMinutes());
    if (d.toDateString() === now.toDateString()) return hm;
    return (d.getMonth() + 1) + "月" + d.getDate() + "日 " + hm;
  }

  // Text with http(s) links made clickable; everything goes in as text nodes.
  function appendRichText(parent, text) {
    var re = /https?:\/\/[^\s<>"'，。！？、；：）」』】]+/g;
    var last = 0;
    var m;
    while ((m = re.exec(text)) !== null) {
      if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
      var a = document.createElement("a");
      a.href = m[0];
      a.textContent = m[0];
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      parent.appendChild(a);
      last = m.index + m[0].length;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  function safeUrl(url) {
    if (typeof url !== "string") return null;
    try {
      var u = new URL(url, window.location.href);
      return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
    } catch (e) {
      return null;
    }
  }

  function scrollToBottom() {
    els.messages.scrollTop = els.messages.scrollHeight;
  }

  function insertBeforeTyping(node) {
    els.messages.insertBefore(node, els.typing);
  }

  function renderTimeDivider(ts) {
    var div = document.createElement("div");
    div.className = "time-divider";
    div.textContent = formatTime(ts);
    insertBeforeTyping(div);
  }

  function renderMessage(msg, index) {
    var row = document.createElement("div");
    row.className = "msg-row " + msg.from;
    row.dataset.index = String(index);

    var bubble = document.createElement("div");
    bubble.className = "msg " + msg.from + (msg.agent ? " agent" : "");
    bubble.dataset.testid = msg.from === "user" ? "msg-user" : "msg-bot";
    if (msg.agent) {
      var name = document.createElement("div");
      name.className = "msg-agent";
      name.dataset.testid = "msg-agent";
      name.textContent = "人工客服 " + msg.agent;
      bubble.appendChild(name);
    }
    if (msg.text) {
      var text = document.createElement("div");
      text.className = "msg-text";
      appendRichText(text, msg.text);
      bubble.appendChild(text);
    }
    var img = safeUrl(msg.image);
    if (img) {
      var image = document.createElement("img");
      image.className = "msg-image";
      image.alt = "图片";
      image.loading = "lazy";
      image.src = img;
      image.addEventListener("load", scrollToBottom);
      var link = document.createElement("a");
      link.href = img;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      link.appendChild(image);
      bubble.appendChild(link);
    }
    var href = safeUrl(msg.link);
    if (href) {
      var a = document.createElement("a");
      a.className = "msg-link";
      a.href = href;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      a.textContent = msg.linkTitle || href;
      bubble.appendChild(a);
    }
    row.appendChild(bubble);
    insertBeforeTyping(row);

    if (msg.from === "bot" && msg.quickReplies && msg.quickReplies.length) {
      var box = document.createElement("div");
      box.className = "quick-replies";
      box.dataset.testid = "quick-replies";
      msg.quickReplies.forEach(function (qr) {
        var b = document.createElement("button");
        b.type = "button";
        b.className = "quick-reply";
        b.dataset.testid = "quick-reply";
        b.textContent = qr.title;
        b.disabled = !ready;
        b.addEventListener("click", function () {
          sendMessage(qr.payload, qr.title);
        });
        box.appendChild(b);
      });
      insertBeforeTyping(box);
    }
  }

  function renderAll() {
    var nodes = els.messages.querySelectorAll(".msg-row:not(.typing-row), .quick-replies, .time-divider, .notice");
    for (var i = 0; i < nodes.length; i++) nodes[i].remove();
    var lastTs = 0;
    state.messages.forEach(function (msg, i) {
      if (msg.ts && msg.ts - lastTs > TIME_GAP_MS) renderTimeDivider(msg.ts);
      if (msg.ts) lastTs = msg.ts;
      renderMessage(msg, i);
    });
    els.suggestions.hidden = state.messages.length > 0;
    scrollToBottom();
  }

  function addMessage(msg) {
    msg.ts = Date.now();
    var prev = state.messages.length ? state.messages[state.messages.length - 1].ts || 0 : 0;
    state.messages.push(msg);
    saveState();
    if (msg.ts - prev > TIME_GAP_MS) renderTimeDivider(msg.ts);
    renderMessage(msg, state.messages.length - 1);
    els.suggestions.hidden = true;
    scrollToBottom();
  }

  function renderSuggestions() {
    SUGGESTIONS.forEach(function (text) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "suggestion";
      b.dataset.testid = "suggestion";
      b.textContent = text;
      b.disabled = !ready;
      b.addEventListener("click", function () { sendMessage(text, text); });
      els.suggestions.appendChild(b);
    });
  }

  // A one-off line from the page itself (not the bot, not kept in the history).
  function showNotice(text) {
    var div = document.createElement("div");
    div.className = "notice";
    div.dataset.testid = "notice";
    div.textContent = text;
    insertBeforeTyping(div);
    scrollToBottom();
  }

  // ------------------------------------------------------- typing indicator

  function showTyping() {
    els.typing.hidden = false;
    scrollToBottom();
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, TYPING_TIMEOUT_MS);
  }

  function hideTyping() {
    clearTimeout(typingTimer);
    typingTimer = null;
    els.typing.hidden = true;
  }

  // ---------------------------------------------------- connection status UI

  function setReady(value) {
    ready = value;
    var buttons = els.messages.querySelectorAll(".quick-reply, .suggestion");
    for (var i = 0; i < buttons.length; i++) buttons[i].disabled = !value;
    updateComposer();
  }

  function setConnState(kind) {
    // kind: "connecting" | "online" | "offline"
    els.connStatus.dataset.state = kind;
    els.connStatus.textContent = kind === "online" ? "在线" : kind === "offline" ? "连接已断开" : "正在连接…";
    document.body.dataset.connection = kind;
    if (kind === "offline") {
      els.banner.textContent = DISCONNECTED_TEXT;
      els.banner.hidden = false;
    } else if (kind === "online") {
      els.banner.hidden = true;
    }
  }

  function updateComposer() {
    var len = els.input.value.length;
    els.counter.textContent = len + "/" + MAX_LEN;
    els.counter.classList.toggle("warn", len >= MAX_LEN - 50);
    els.send.disabled = !ready || els.input.value.trim() === "";
    els.form.classList.toggle("offline", !ready);
  }

  function autoGrow() {
    var m = els.messages;
    var atBottom = m.scrollHeight - m.scrollTop - m.clientHeight < 24;
    els.input.style.height = "auto";
    els.input.style.height = Math.min(els.input.scrollHeight, 120) + "px";
    if (atBottom) scrollToBottom();
  }

  // ---------------------------------------------------------------- sending

  function clearQuickReplies() {
    var changed = false;
    state.messages.forEach(function (m) {
      if (m.quickReplies) {
        delete m.quickReplies;
        changed = true;
      }
    });
    var boxes = els.messages.querySelectorAll(".quick-replies");
    for (var i = 0; i < boxes.length; i++) boxes[i].remove();
    return changed;
  }

  // `payload` goes to Rasa, `display` is what the shopper sees in their bubble.
  function sendMessage(payload, display) {
    if (!ready || !socket) return false;
    payload = String(payload == null ? "" : payload);
    if (payload.trim() === "") return false;
    if (payload.length > MAX_LEN) payload = payload.slice(0, MAX_LEN);
    clearQuickReplies();
    addMessage({ from: "user", text: display == null ? payload : String(display) });
    socket.emit("user_uttered", { message: payload, session_id: state.sessionId });
    showTyping();
    return true;
  }

  function sendDraft() {
    var text = els.input.value;
    if (text.trim() === "") return;
    if (sendMessage(text.trim())) {
      els.input.value = "";
      autoGrow();
      updateComposer();
    }
  }

  els.form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    sendDraft();
    els.input.focus();
  });

  els.input.addEventListener("keydown", function (ev) {
    if (ev.key !== "Enter" || ev.shiftKey) return;
    // Enter that confirms an IME composition (拼音输入) must not send.
    if (ev.isComposing || ev.keyCode === 229) return;
    ev.preventDefault();
    sendDraft();
  });

  els.input.addEventListener("input", function () {
    if (els.input.value.length > MAX_LEN) els.input.value = els.input.value.slice(0, MAX_LEN);
    autoGrow();
    updateComposer();
  });

  els.newChat.addEventListener("click", function () {
    hideTyping();
    state = freshState();
    saveState();
    renderAll();
    reconnectForNewSession();
    els.input.focus();
  });

  // ---------------------------------------------------------- bot messages

  function normaliseButtons(list) {
    if (!Array.isArray(list)) return [];
    return list.filter(function (b) {
      return b && typeof b.title === "string" && b.title !== "" && b.payload != null;
    }).map(function (b) {
      return { title: b.title, payload: String(b.payload) };
    });
  }

  function attachmentToMessage(att, msg) {
    if (typeof att === "string") {
      if (/\.(png|jpe?g|gif|webp|svg)(\?|#|$)/i.test(att)) msg.image = att;
      else msg.link = att;
      return;
    }
    if (!att || typeof att !== "object") return;
    var payload = att.payload || {};
    var src = payload.src || payload.url || att.src || att.url;
    if (att.type === "image" && src) {
      msg.image = src;
    } else if (att.type === "template" && payload.elements) {
      var elements = Array.isArray(payload.elements) ? payload.elements : [payload.elements];
      var lines = [];
      elements.forEach(function (e) {
        if (!e) return;
        if (e.title) lines.push(String(e.title));
        if (e.subtitle) lines.push(String(e.subtitle));
        if (!msg.image && e.image_url) msg.image = e.image_url;
      });
      if (lines.length) msg.text = (msg.text ? msg.text + "\n" : "") + lines.join("\n");
    } else if (src) {
      msg.link = src;
      msg.linkTitle = payload.title || att.title || "打开附件";
    }
  }

  function onBotUttered(data) {
    if (!data || typeof data !== "object") return;
    if (data.outbox_id !== undefined) {
      // Sent outside a request: shown once, however often it is delivered.
      if (!isValidOutboxId(data.outbox_id) || !outboxAfter(data.outbox_id, state.outboxId)) return;
      state.outboxId = data.outbox_id;
    }
    var msg = { from: "bot" };
    if (data.from === "agent" && typeof data.agent === "string") msg.agent = data.agent.slice(0, 40);
    if (typeof data.text === "string" && data.text !== "") msg.text = data.text;
    var replies = normaliseButtons(data.quick_replies).concat(normaliseButtons(data.buttons));
    if (replies.length) msg.quickReplies = replies;
    if (typeof data.image === "string") msg.image = data.image;
    if (data.attachment) attachmentToMessage(data.attachment, msg);
    if (!msg.text && !msg.image && !msg.link && !msg.quickReplies) return;
    hideTyping();
    addMessage(msg);
  }

  // ------------------------------------------------------------- socket.io

  function isLoopback(host) {
    return host === "localhost" || host === "127.0.0.1" || host === "0.0.0.0" || host === "[::1]" || host === "::1";
  }

  // Where the browser reaches Rasa. A loopback host in the config means "the
  // machine this page came from" when the page is opened from another device.
  function resolveSocket(cfg) {
    var u = new URL(cfg.socketUrl || "", window.location.href);
    var pageHost = window.location.hostname;
    if (isLoopback(u.hostname) && pageHost && !isLoopback(pageHost)) u.hostname = pageHost;
    if (u.hostname === "0.0.0.0") u.hostname = pageHost || "localhost";
    var path = cfg.socketPath || "/socket.io/";
    var prefix = u.pathname.replace(/\/+$/, "");
    if (prefix && path.indexOf(prefix + "/") !== 0) path = prefix + path;
    return { url: u.origin, path: path };
  }

  function connect(cfg) {
    if (typeof window.io !== "function") {
      setConnState("offline");
      return;
    }
    var target = resolveSocket(cfg);
    socket = window.io(target.url, {
      path: target.path,
      // Asked before every (re)connect: a fresh token for this browser's conversation.
      auth: function (cb) {
        fetchSession().then(function () { cb({ token: state.token }); },
                            function () { cb({ token: state.token }); });
      },
      transports: ["websocket", "polling"],
      tryAllTransports: true,
      reconnection: true,
      reconnectionDelay: 1000,
      reconnectionDelayMax: 5000,
      timeout: 10000,
    });

    socket.on("connect", function () {
      restarting = false;
      socket.emit("session_request", {});
    });

    socket.on("session_confirm", function (data) {
      var id = typeof data === "string" ? data : data && data.session_id;
      if (!isValidSessionId(id) || id !== state.sessionId) return; // not the conversation this page holds
      setConnState("online");
      setReady(true);
      socket.emit("outbox_resume", { after: state.outboxId || "0" });
    });

    socket.on("outbox_check", function () {
      if (ready) socket.emit("outbox_resume", { after: state.outboxId || "0" });
    });

    socket.on("bot_uttered", onBotUttered);

    // The shop's socketio channel answers a message it refuses with an "error" event.
    socket.on("error", function () {
      hideTyping();
      showNotice("消息未能送达，请稍后重试。");
    });

    socket.on("disconnect", function (reason) {
      setReady(false);
      hideTyping();
      if (restarting) {
        setConnState("connecting");
        return;
      }
      setConnState("offline");
      // The server closed us on purpose: socket.io does not retry by itself then.
      if (reason === "io server disconnect") socket.connect();
    });

    socket.on("connect_error", function () {
      setReady(false);
      setConnState("offline");
    });
  }

  // Leave the old session's room by reconnecting; `connect` then asks for the new one.
  function reconnectForNewSession() {
    if (!socket) return;
    setReady(false);
    if (socket.connected) {
      restarting = true;
      socket.disconnect();
      socket.connect();
    } else if (!socket.active) {
      socket.connect();
    }
  }

  // POST /session: renews this page's token, or starts a new conversation when it has none
  // (or it expired). A new conversation id replaces the old one; the shown history stays.
  function fetchSession() {
    return fetch("/session", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: state.token }),
      cache: "no-store",
      credentials: "same-origin",
    })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (data) {
        if (!data || typeof data.token !== "string" || !isValidSessionId(data.sessionId)) throw new Error("bad session");
        if (data.purged) {
          // The shop deleted this conversation on the shopper's request: forget what this page kept.
          state.messages = [];
          renderAll();
        }
        state.token = data.token;
        state.sessionId = data.sessionId;
        saveState();
      });
  }

  function loadConfig() {
    fetch("/config.json", { cache: "no-store" })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(connect)
      .catch(function () {
        setConnState("offline");
        setTimeout(loadConfig, CONFIG_RETRY_MS);
      });
  }

  // Read-only view for tests and debugging in the browser console.
  window.xiaodianChat = Object.freeze({
    sessionId: function () { return state.sessionId; },
    ready: function () { return ready; },
    transport: function () {
      var engine = socket && socket.io && socket.io.engine;
      return engine && engine.transport ? engine.transport.name : null;
    },
  });

  // ------------------------------------------------------------------ start

  renderSuggestions();
  renderAll();
  setConnState("connecting");
  updateComposer();
  loadConfig();
})();
