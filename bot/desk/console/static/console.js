/*
 * 小店客服 · 客服工作台 (bot/desk/console/server.py).
 *
 *   GET  /me                   who is logged in (401: show the login form)
 *   POST /login {login, password}   sets the HttpOnly session cookie
 *   POST /logout               ends the session; the agent's chats go back to the queue
 *   WS   /ws                   server -> page: hello, board, assigned, context, message, released, error
 *                              page -> server: status, claim, context, send, note, transfer, close
 *
 * Everything shoppers and agents wrote reaches the DOM through textContent only, never as HTML.
 */
(function () {
  "use strict";

  var REASONS = {
    complaint_high: "高危投诉", refund_large: "大额退款", frustration: "情绪激动", fallback: "机器人未理解",
    shopper_request: "顾客要求人工", low_rating: "差评回访",
  };
  var RESOLUTION_NAMES = {
    solved: "已解决", unsolved: "未解决", follow_up: "需跟进", no_reply: "顾客未回复", transferred_offline: "转线下处理",
  };
  var CHANNELS = { socketio: "网页", rest: "App", telegram: "Telegram", wechat: "微信" };
  var STATUS_NAMES = { online: "在线", away: "离开", offline: "离线" };
  var SLOT_NAMES = {
    order_id: "订单号", verified_order: "已验证订单", product: "商品", return_reason: "退货原因",
    refund_reason: "退款原因", complaint_text: "投诉内容",
  };
  var TICKET_KINDS = { "return": "退货", exchange: "换货", refund: "退款", repair: "维修", complaint: "投诉", callback: "回电" };
  var WHO = { shopper: "顾客", bot: "机器人", agent: "客服", note: "内部备注" };
  var RECONNECT_MS = 2000;

  var state = {
    me: null, groups: [], groupNames: {}, resolutions: [], canned: [], board: null, offset: 0,
    chats: {}, order: [], active: null, socket: null, reconnectTimer: null, lastDraft: null,
  };

  var $ = function (id) { return document.getElementById(id); };

  // -------------------------------------------------------------- DOM helpers (text only)

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function pair(dl, label, value) {
    if (value === undefined || value === null || value === "") return;
    dl.appendChild(el("dt", null, label));
    dl.appendChild(el("dd", null, value));
  }

  function groupName(id) { return state.groupNames[id] || id || "—"; }
  function reasonName(id) { return REASONS[id] || id || "—"; }
  function channelName(id) { return CHANNELS[id] || id || "—"; }
  function serverNow() { return Date.now() + state.offset; }

  function duration(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var m = Math.floor(s / 60);
    if (m >= 60) return Math.floor(m / 60) + " 小时 " + (m % 60) + " 分";
    return m > 0 ? m + " 分 " + (s % 60) + " 秒" : s + " 秒";
  }

  function clock(ms) {
    var d = new Date(ms);
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
  }

  function shortId(conv) { return conv.length > 12 ? conv.slice(0, 6) + "…" + conv.slice(-4) : conv; }

  var toastTimer = null;
  function toast(text, kind) {
    var box = $("toast");
    box.textContent = text;
    box.className = "toast " + (kind || "error");
    box.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { box.hidden = true; }, 5000);
  }

  // -------------------------------------------------------------- login

  function showLogin(message) {
    closeSocket();
    $("console-view").hidden = true;
    $("login-view").hidden = false;
    var error = $("login-error");
    error.hidden = !message;
    error.textContent = message || "";
    $("login-name").focus();
  }

  function boot() {
    fetch("/me", { credentials: "same-origin", cache: "no-store" }).then(function (reply) {
      if (reply.status === 401) { showLogin(); return null; }
      return reply.json();
    }).then(function (me) {
      if (!me) return;
      state.me = me;
      showConsole();
      connect();
    }).catch(function () {
      toast("无法连接服务器，稍后自动重试");
      setTimeout(boot, RECONNECT_MS);
    });
  }

  $("login-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var button = $("login-submit");
    button.disabled = true;
    fetch("/login", {
      method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ login: $("login-name").value, password: $("login-password").value }),
    }).then(function (reply) {
      return reply.json().then(function (body) { return { ok: reply.ok, body: body }; });
    }).then(function (result) {
      button.disabled = false;
      $("login-password").value = "";
      if (result.ok) { $("login-error").hidden = true; boot(); } else { showLogin(result.body.message || "登录失败"); }
    }).catch(function () {
      button.disabled = false;
      showLogin("网络错误，请重试");
    });
  });

  $("logout").addEventListener("click", function () {
    fetch("/logout", { method: "POST", credentials: "same-origin" }).finally(function () {
      state.chats = {}; state.order = []; state.active = null; state.me = null;
      showLogin();
    });
  });

  // -------------------------------------------------------------- socket

  function showConsole() {
    $("login-view").hidden = true;
    $("console-view").hidden = false;
    $("me-name").textContent = state.me.name;
    $("me-role").textContent = state.me.role === "supervisor" ? "主管" : "客服";
    $("supervisor-pane").hidden = state.me.role !== "supervisor";
  }

  function setConn(kind, text) {
    var node = $("conn-state");
    node.setAttribute("data-state", kind);
    node.textContent = text;
  }

  function closeSocket() {
    clearTimeout(state.reconnectTimer);
    if (state.socket) {
      state.socket.onclose = null;
      state.socket.close();
      state.socket = null;
    }
  }

  function connect() {
    closeSocket();
    setConn("connecting", "连接中…");
    var socket = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
    state.socket = socket;
    socket.onopen = function () { setConn("online", "已连接"); };
    socket.onmessage = function (event) {
      var message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      var handler = HANDLERS[message.type];
      if (handler) handler(message);
    };
    socket.onclose = function (event) {
      state.socket = null;
      if (event.code === 4401) { showLogin("登录已失效，请重新登录"); return; }
      setConn("offline", "连接断开，正在重连…");
      state.reconnectTimer = setTimeout(connect, RECONNECT_MS);
    };
  }

  function send(message) {
    if (!state.socket || state.socket.readyState !== WebSocket.OPEN) {
      toast("连接已断开，请稍候再试");
      return false;
    }
    state.socket.send(JSON.stringify(message));
    return true;
  }

  // -------------------------------------------------------------- chats

  function chatOf(conv) {
    if (!state.chats[conv]) {
      state.chats[conv] = { conv: conv, context: null, messages: [], unread: 0, missing: 0, summary: null };
      state.order.push(conv);
    }
    return state.chats[conv];
  }

  function dropChat(conv) {
    delete state.chats[conv];
    state.order = state.order.filter(function (c) { return c !== conv; });
    if (state.active === conv) {
      state.active = state.order.length ? state.order[0] : null;
      renderChat();
    }
    renderMine();
  }

  function turnsOf(context) {
    return (context.transcript || []).map(function (turn) {
      return {
        who: turn.who, text: turn.text, at: (turn.at || 0) * 1000, intent: turn.intent,
        confidence: turn.confidence, entities: turn.entities || [], agent: turn.agent,
      };
    });
  }

  function select(conv) {
    state.active = conv;
    var chat = state.chats[conv];
    if (chat) chat.unread = 0;
    renderMine();
    renderChat();
  }

  var HANDLERS = {
    hello: function (m) {
      state.me = m.me;
      state.groups = m.groups;
      state.groupNames = {};
      m.groups.forEach(function (g) { state.groupNames[g.id] = g.name; });
      state.resolutions = m.resolutions;
      state.canned = m.canned;
      showConsole();
      renderStatic();
    },
    board: function (m) {
      state.board = m;
      state.offset = m.now_ms - Date.now();
      var mine = {};
      m.mine.forEach(function (summary) {
        mine[summary.conv] = true;
        var known = !!state.chats[summary.conv];
        var chat = chatOf(summary.conv);
        chat.summary = summary;
        chat.missing = 0;
        if (!known) {
          send({ type: "context", conv: summary.conv });
          if (!state.active) state.active = summary.conv;
        }
      });
      // a chat missing from two boards in a row left us (requeued after a long disconnect)
      state.order.slice().forEach(function (conv) {
        if (!mine[conv] && ++state.chats[conv].missing >= 2) dropChat(conv);
      });
      renderBoard();
      renderMine();
      if (state.active && !$("chat").hidden) renderChatHead();
      else renderChat();
    },
    assigned: function (m) {
      chatOf(m.conv);
      if (!state.active) state.active = m.conv;
      toast(m.from ? m.from + " 转给您一个会话" : "接入了新会话 " + shortId(m.conv), "info");
      renderMine();
      renderChat();
    },
    context: function (m) {
      var chat = chatOf(m.conv);
      chat.context = m.context;
      var notes = chat.messages.filter(function (x) { return x.who === "note"; });
      chat.messages = turnsOf(m.context).concat(notes).sort(function (a, b) { return a.at - b.at; });
      if (m.warning) toast(m.warning);
      if (!state.active) state.active = m.conv;
      renderMine();
      if (state.active === m.conv) renderChat();
    },
    message: function (m) {
      var chat = state.chats[m.conv];
      if (!chat) return;
      chat.messages.push({ who: m.from, text: m.text, at: m.at, agent: m.agent });
      if (state.active === m.conv) {
        appendMessage($("messages"), chat.messages[chat.messages.length - 1]);
        scrollDown();
      } else {
        chat.unread += 1;
        renderMine();
      }
    },
    released: function (m) {
      toast(m.why === "closed" ? "会话已结束" : "会话已转接", "info");
      dropChat(m.conv);
    },
    error: function (m) {
      if (m.request === "send" && state.lastDraft && !$("reply").value) $("reply").value = state.lastDraft;
      toast(m.message || "操作失败");
    },
  };

  // -------------------------------------------------------------- rendering

  function renderStatic() {
    var canned = $("canned");
    clear(canned);
    state.canned.forEach(function (reply) {
      var button = el("button", "canned-btn", reply.title);
      button.type = "button";
      button.title = reply.text;
      button.addEventListener("click", function () { insertReply(reply.text); });
      canned.appendChild(button);
    });
    var resolution = $("resolution");
    clear(resolution);
    resolution.appendChild(new Option("选择结束原因", ""));
    state.resolutions.forEach(function (r) { resolution.appendChild(new Option(RESOLUTION_NAMES[r] || r, r)); });
  }

  function renderBoard() {
    var board = state.board;
    var queue = $("queue");
    clear(queue);
    var total = 0;
    Object.keys(board.waiting).forEach(function (group) {
      var items = board.waiting[group];
      total += items.length;
      var section = el("section", "queue-group");
      section.setAttribute("data-group", group);
      var head = el("h3", null, groupName(group) + " ");
      head.appendChild(el("span", "count", items.length));
      section.appendChild(head);
      if (!items.length) section.appendChild(el("p", "muted small", "暂无排队"));
      items.forEach(function (item) { section.appendChild(queueItem(item)); });
      queue.appendChild(section);
    });
    $("queue-total").textContent = total;
    var online = board.status === "online";
    $("status-online").setAttribute("aria-pressed", online ? "true" : "false");
    $("status-away").setAttribute("aria-pressed", board.status === "away" ? "true" : "false");
    renderTransferTargets();
    if (board.supervisor) renderSupervisor(board.supervisor);
    tick();
  }

  function queueItem(item) {
    var row = el("div", "queue-item");
    row.setAttribute("data-conv", item.conv);
    if (item.priority >= 4) row.classList.add("urgent");
    var top = el("div", "qi-top");
    top.appendChild(el("span", "pos", "#" + item.position));
    top.appendChild(el("span", "reason", reasonName(item.reason)));
    var wait = el("span", "wait", "");
    wait.setAttribute("data-since", item.enqueued_ms);
    top.appendChild(wait);
    row.appendChild(top);
    var meta = el("div", "qi-meta", channelName(item.channel) + " · 情绪 " + item.frustration.toFixed(1) +
      (item.requeued ? " · 退回 " + item.requeued + " 次" : ""));
    row.appendChild(meta);
    if (item.preview) row.appendChild(el("div", "preview", item.preview));
    var claim = el("button", "claim small", "接入");
    claim.type = "button";
    claim.addEventListener("click", function () { send({ type: "claim", conv: item.conv }); });
    row.appendChild(claim);
    return row;
  }

  function renderMine() {
    var list = $("my-chats");
    clear(list);
    state.order.forEach(function (conv) {
      var chat = state.chats[conv];
      var item = el("li", "chat-item" + (conv === state.active ? " active" : ""));
      item.setAttribute("data-conv", conv);
      var summary = chat.summary || {};
      item.appendChild(el("span", "ci-title", shortId(conv)));
      item.appendChild(el("span", "ci-sub", groupName(summary.group) + " · " + reasonName(summary.reason)));
      if (chat.unread) item.appendChild(el("span", "unread", chat.unread));
      item.addEventListener("click", function () { select(conv); });
      list.appendChild(item);
    });
    $("mine-count").textContent = state.order.length + (state.me && state.me.limit ? "/" + state.me.limit : "");
  }

  function renderTransferTargets() {
    var select = $("transfer-target");
    var current = select.value;
    clear(select);
    select.appendChild(new Option("转接到…", ""));
    state.groups.forEach(function (g) { select.appendChild(new Option("技能组：" + g.name, "group:" + g.id)); });
    (state.board ? state.board.agents : []).forEach(function (a) {
      if (a.status === "offline") return;
      select.appendChild(new Option("客服：" + a.name + "（" + STATUS_NAMES[a.status] + "，" + a.load + "/" + a.limit + "）",
        "agent:" + a.id));
    });
    select.value = current;
    if (select.value !== current) select.value = "";
  }

  function renderSupervisor(sup) {
    var groups = $("sup-groups");
    clear(groups);
    sup.groups.forEach(function (g) {
      var row = el("tr");
      row.setAttribute("data-group", g.group);
      row.appendChild(el("td", null, groupName(g.group)));
      row.appendChild(el("td", "num", g.length));
      row.appendChild(el("td", g.longest_ms > 180000 ? "num late" : "num", g.length ? duration(g.longest_ms) : "—"));
      groups.appendChild(row);
    });
    var agents = $("sup-agents");
    clear(agents);
    sup.agents.forEach(function (a) {
      var row = el("tr");
      row.setAttribute("data-agent", a.id);
      row.appendChild(el("td", null, a.name + (a.desk === "telegram" ? "（Telegram）" : "")));
      var status = el("td", "status-" + a.status, STATUS_NAMES[a.status] || a.status);
      row.appendChild(status);
      row.appendChild(el("td", null, a.groups.map(groupName).join("、")));
      var chats = el("td", null, a.chats.length + "/" + a.limit + (a.chats.length ? "：" : ""));
      a.chats.forEach(function (c, i) {
        chats.appendChild(el("span", "chip", shortId(c.conv) + " " + groupName(c.group)));
        if (i < a.chats.length - 1) chats.appendChild(document.createTextNode(" "));
      });
      row.appendChild(chats);
      agents.appendChild(row);
    });
  }

  function renderChatHead() {
    var chat = state.chats[state.active];
    if (!chat) return;
    var summary = chat.summary || {};
    var esc = (chat.context && chat.context.escalation) || {};
    $("chat-title").textContent = "会话 " + shortId(chat.conv);
    $("chat-title").title = chat.conv;
    $("chat-sub").textContent = groupName(summary.group || esc.group) + " · " + reasonName(summary.reason || esc.reason) +
      " · " + channelName(summary.channel || (chat.context && chat.context.channel));
  }

  function renderChat() {
    var chat = state.active ? state.chats[state.active] : null;
    $("chat").hidden = !chat;
    $("chat-empty").hidden = !!chat;
    $("chat-pane").setAttribute("data-conv", chat ? chat.conv : "");
    renderContext(chat);
    if (!chat) return;
    renderChatHead();
    var box = $("messages");
    clear(box);
    if (!chat.context) box.appendChild(el("p", "muted center", "正在载入对话记录…"));
    chat.messages.forEach(function (m) { appendMessage(box, m); });
    scrollDown();
  }

  function appendMessage(box, m) {
    var row = el("div", "msg " + m.who);
    var head = el("div", "msg-head", (m.who === "agent" && m.agent ? "客服 " + m.agent : WHO[m.who] || m.who) +
      (m.at ? " · " + clock(m.at) : ""));
    row.appendChild(head);
    row.appendChild(el("div", "bubble", m.text));
    if (m.who === "shopper" && m.intent) {
      var nlu = "意图 " + m.intent + (typeof m.confidence === "number" ? "（" + m.confidence.toFixed(2) + "）" : "");
      if (m.entities && m.entities.length) {
        nlu += " · 实体 " + m.entities.map(function (e) { return e[0] + "=" + e[1]; }).join("，");
      }
      var meta = el("div", "nlu" + (typeof m.confidence === "number" && m.confidence < 0.5 ? " low" : ""), nlu);
      row.appendChild(meta);
    }
    box.appendChild(row);
  }

  function scrollDown() {
    var box = $("messages");
    box.scrollTop = box.scrollHeight;
  }

  function renderContext(chat) {
    var context = chat && chat.context;
    $("ctx").hidden = !context;
    $("ctx-empty").hidden = !!context;
    if (!context) return;
    var esc = context.escalation || {};
    var details = {};
    try { details = JSON.parse(esc.details || "{}") || {}; } catch (e) { details = {}; }
    var dl = $("ctx-escalation");
    clear(dl);
    pair(dl, "原因", reasonName(esc.reason));
    pair(dl, "技能组", groupName(esc.group));
    pair(dl, "优先级", esc.priority);
    pair(dl, "情绪分", esc.frustration);
    pair(dl, "渠道", channelName(context.channel));
    if (esc.enqueued_ms) pair(dl, "等待", duration((Number(esc.claimed_ms) || serverNow()) - Number(esc.enqueued_ms)));
    if (Number(esc.requeued)) pair(dl, "退回", esc.requeued + " 次");
    if (typeof details.last_message === "string") pair(dl, "最后一句", details.last_message);

    var slots = $("ctx-slots");
    clear(slots);
    Object.keys(context.slots || {}).forEach(function (k) {
      var v = context.slots[k];
      pair(slots, SLOT_NAMES[k] || k, typeof v === "object" ? JSON.stringify(v) : v);
    });
    if (!slots.firstChild) slots.appendChild(el("p", "muted small", "暂无"));

    var order = $("ctx-order");
    clear(order);
    var o = context.order;
    if (!o) {
      order.appendChild(el("p", "muted small", "顾客尚未验证订单"));
    } else {
      var odl = el("dl");
      pair(odl, "订单号", o.order_no);
      pair(odl, "状态", o.status);
      pair(odl, "实付", "¥" + Number(o.total_paid).toFixed(2));
      pair(odl, "物流", (o.carrier || "") + (o.tracking_no ? " " + o.tracking_no : ""));
      pair(odl, "地址", o.address);
      pair(odl, "取消原因", o.cancel_reason);
      order.appendChild(odl);
      var items = el("ul", "plain items");
      (o.items || []).forEach(function (i) {
        items.appendChild(el("li", null, i.name + "（" + [i.colour, i.size].filter(Boolean).join("/") + "）× " +
          i.quantity + "  ¥" + Number(i.unit_price).toFixed(2)));
      });
      order.appendChild(items);
      if ((o.logistics || []).length) {
        var track = el("ol", "logistics");
        o.logistics.slice().reverse().forEach(function (e) {
          track.appendChild(el("li", null, e.at.replace("T", " ").slice(0, 16) + " " + (e.location || "") + " " + e.description));
        });
        order.appendChild(track);
      }
    }
    var tickets = $("ctx-tickets");
    clear(tickets);
    (context.tickets || []).forEach(function (t) {
      tickets.appendChild(el("li", null, t.ticket_no + " · " + (TICKET_KINDS[t.kind] || t.kind) + " · " + t.status));
    });
    if (!tickets.firstChild) tickets.appendChild(el("li", "muted small", "暂无工单"));
  }

  function insertReply(text) {
    var box = $("reply");
    var start = box.selectionStart || box.value.length;
    var end = box.selectionEnd || box.value.length;
    box.value = box.value.slice(0, start) + text + box.value.slice(end);
    box.focus();
    box.selectionStart = box.selectionEnd = start + text.length;
  }

  // -------------------------------------------------------------- actions

  $("status-online").addEventListener("click", function () { send({ type: "status", status: "online" }); });
  $("status-away").addEventListener("click", function () { send({ type: "status", status: "away" }); });
  $("claim-next").addEventListener("click", function () { send({ type: "claim" }); });
  $("ctx-refresh").addEventListener("click", function () {
    if (state.active) send({ type: "context", conv: state.active });
  });

  $("composer").addEventListener("submit", function (event) {
    event.preventDefault();
    var box = $("reply");
    var text = box.value.trim();
    if (!text || !state.active) return;
    var note = $("as-note").checked;
    if (send({ type: note ? "note" : "send", conv: state.active, text: text })) {
      state.lastDraft = box.value;
      box.value = "";
      $("as-note").checked = false;
    }
  });

  $("reply").addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });

  $("transfer").addEventListener("click", function () {
    var target = $("transfer-target").value;
    if (!state.active || !target) { toast("请选择转接目标"); return; }
    var split = target.indexOf(":");
    var kind = target.slice(0, split), id = target.slice(split + 1);
    var message = { type: "transfer", conv: state.active };
    message[kind] = id;
    send(message);
  });

  $("close-chat").addEventListener("click", function () {
    var resolution = $("resolution").value;
    if (!state.active) return;
    if (!resolution) { toast("请先选择结束原因"); return; }
    send({ type: "close", conv: state.active, resolution: resolution });
  });

  function tick() {
    var now = serverNow();
    document.querySelectorAll(".wait[data-since]").forEach(function (node) {
      node.textContent = "已等 " + duration(now - Number(node.getAttribute("data-since")));
    });
  }
  setInterval(tick, 1000);

  window.deskConsole = { state: state };
  boot();
})();
