"""A small reference client for the shop's chat server, written to be read by app developers.

The protocol is described in docs/app_protocol.md; this file shows it working. Two ways in:

* ``SocketChat`` - what a shopper's device uses (like the web chat page does):
  ``POST /session`` on the web chat server gives a session token, the device connects
  to Rasa's Socket.IO endpoint with ``auth: {"token": ...}``, sends ``user_uttered`` and
  receives ``bot_uttered``. Messages sent outside a reply (an agent's message, the rating
  question) carry an ``outbox_id``; the client remembers the last one and, after every
  (re)connect, asks for what it missed (``outbox_resume``), so nothing is lost and
  nothing is shown twice, in order.
* ``RestChat`` - what an app *backend* uses with its API key (never ship the key in an
  app): ``POST /webhooks/rest/webhook`` returns the bot's replies, and
  ``GET /webhooks/rest/outbox`` (a long poll) returns the messages sent outside a reply.

Only the standard library, ``aiohttp`` and ``python-socketio`` are used.

Try it (``make run`` going)::

    python clients/python/shop_chat_client.py --web http://localhost:8080
    python clients/python/shop_chat_client.py --rest http://localhost:5005 \\
        --api-key-file .state/secrets/api_key --sender app-user-42

Type a message and press Enter; ``#2`` sends the payload of the latest message's
second button; ``/quit`` ends the session (the CLI keeps its session in
``--state``, so the next run continues the same conversation and gets what it missed).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Optional, Union
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import aiohttp
import socketio

logger = logging.getLogger("shop_chat_client")

JSON = dict[str, Any]
MessageHandler = Callable[["ChatMessage"], Union[None, Awaitable[None]]]

REQUEST_TIMEOUT = 30.0  # seconds for one HTTP call (a long poll adds its `wait`)
RESUME_TIMEOUT = 15.0  # seconds to wait for the server to acknowledge an outbox_resume
LOOPBACK = {"localhost", "127.0.0.1", "0.0.0.0", "::1"}
# python-engineio's asyncio WebSocket transport needs aiohttp >= 3.10; with an older aiohttp (this project
# pins 3.9, Rasa's requirement) the client uses HTTP long-polling, which the server supports as well.
# A mobile Socket.IO library should use "websocket" (falling back to "polling").
DEFAULT_TRANSPORTS = ("websocket", "polling") if hasattr(aiohttp, "ClientWSTimeout") else ("polling",)


class ChatError(Exception):
    """The server refused a request: `status` is the HTTP status, `body` its (JSON) answer."""

    def __init__(self, status: int, body: Any) -> None:
        message = body.get("message") if isinstance(body, dict) else body
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.body = body


# ----------------------------------------------------------------------------- messages


@dataclass(frozen=True)
class Button:
    """A button or quick reply. Show `title`; when tapped, send `payload` (not the title) as the message."""

    title: str
    payload: str


@dataclass(frozen=True)
class ChatMessage:
    """One message to the shopper, whatever channel or shape it came in.

    `sender` is "bot" or "agent" (a human agent; `agent` is their display name).
    `outbox_id` is set on messages sent outside a reply to the shopper (agent messages,
    the rating question): use it to drop repeats. `raw` is the message as received."""

    text: str = ""
    buttons: tuple[Button, ...] = ()
    image: Optional[str] = None
    attachment: Any = None  # any other attachment (a link, a card), as the server sent it
    custom: Any = None  # a custom payload (REST), as the server sent it
    sender: str = "bot"
    agent: Optional[str] = None
    outbox_id: Optional[str] = None
    raw: JSON = field(default_factory=dict, compare=False)

    @classmethod
    def parse(cls, data: JSON) -> ChatMessage:
        """Read both shapes the server uses for buttons: `quick_replies` (Socket.IO replies) and `buttons`
        (REST replies and every outbox message), and both image shapes (`image`, or an image attachment)."""
        buttons = tuple(Button(str(b["title"]), str(b["payload"]))
                        for b in [*(data.get("quick_replies") or []), *(data.get("buttons") or [])]
                        if isinstance(b, dict) and b.get("title") and b.get("payload") is not None)
        image = data.get("image") if isinstance(data.get("image"), str) else None
        attachment = data.get("attachment")
        payload = attachment.get("payload") if isinstance(attachment, dict) else None
        if isinstance(attachment, dict) and attachment.get("type") == "image" and isinstance(payload, dict):
            image = payload.get("src") or image
            attachment = None
        sender = "agent" if data.get("from") == "agent" else "bot"
        return cls(text=str(data.get("text") or ""), buttons=buttons, image=image, attachment=attachment,
                   custom=data.get("custom"), sender=sender,
                   agent=str(data["agent"]) if sender == "agent" and data.get("agent") else None,
                   outbox_id=data.get("outbox_id") if isinstance(data.get("outbox_id"), str) else None, raw=data)

    def __str__(self) -> str:
        who = f"人工客服 {self.agent}" if self.sender == "agent" else "bot"
        lines = [f"[{who}] {self.text}"] if self.text else [f"[{who}]"]
        lines += [f"    #{i} {b.title}" for i, b in enumerate(self.buttons, 1)]
        if self.image:
            lines.append(f"    (image) {self.image}")
        if self.attachment is not None:
            lines.append(f"    (attachment) {json.dumps(self.attachment, ensure_ascii=False)}")
        if self.custom is not None:
            lines.append(f"    (custom) {json.dumps(self.custom, ensure_ascii=False)}")
        return "\n".join(lines)


def outbox_key(outbox_id: str) -> tuple[int, int]:
    """Outbox ids are Redis stream ids, "<milliseconds>-<sequence>": compare them as number pairs, not text."""
    millis, _, seq = outbox_id.partition("-")
    return int(millis), int(seq or 0)


def is_outbox_id(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    millis, dash, seq = value.partition("-")
    return bool(dash) and millis.isdigit() and seq.isdigit() and len(millis) <= 20 and len(seq) <= 20


class OutboxTracker:
    """Which outbox messages the shopper has seen: the newest id (what to resume after) and recent ids.

    A message is new when its id was not seen; the resume point is the largest id seen.
    Keep `last` across app restarts (with the session token)."""

    def __init__(self, last: Optional[str] = None, remember: int = 1000) -> None:
        self.last = last if is_outbox_id(last) else None
        self._seen: dict[str, None] = {}  # insertion-ordered, trimmed to `remember`
        self._remember = remember

    def is_new(self, outbox_id: str) -> bool:
        if outbox_id in self._seen:
            return False
        if self.last is None or outbox_key(outbox_id) > outbox_key(self.last):
            return True
        # Older than the newest seen, and not seen: new only if it is within the ids remembered here
        # (two server processes may publish in the opposite order of their ids). Older ones were shown.
        return bool(self._seen) and outbox_key(outbox_id) > outbox_key(next(iter(self._seen)))

    def mark(self, outbox_id: str) -> None:
        self._seen[outbox_id] = None
        while len(self._seen) > self._remember:
            self._seen.pop(next(iter(self._seen)))
        if self.last is None or outbox_key(outbox_id) > outbox_key(self.last):
            self.last = outbox_id

    def reset(self) -> None:
        self.last = None
        self._seen.clear()


# ----------------------------------------------------------------------------- session tokens


@dataclass
class SessionState:
    """What a device keeps between launches (secure storage on a phone): the token, its conversation id and
    the last outbox id seen. The token is a credential for this conversation: do not log or share it."""

    token: Optional[str] = None
    session_id: Optional[str] = None
    last_outbox_id: Optional[str] = None

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> SessionState:
        data = json.loads(text) if text.strip() else {}
        return cls(**{k: data.get(k) for k in ("token", "session_id", "last_outbox_id")})


async def request_session(http: aiohttp.ClientSession, web_url: str, token: Optional[str] = None) -> JSON:
    """``POST <web>/session {"token": <current or null>}`` -> ``{"token", "sessionId", "purged"}``.

    With a valid token it returns a fresh token for the *same* conversation (call it before every
    connect: a token lasts SESSION_MAX_AGE_SECONDS, 30 days by default, from its last renewal).
    Without one, or with an expired or forged one, it starts a new conversation."""
    async with http.post(web_url.rstrip("/") + "/session", json={"token": token},
                         timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)) as response:
        body = await response.json(content_type=None)
        if response.status != 200:
            raise ChatError(response.status, body)
        return dict(body)


async def socket_target(http: aiohttp.ClientSession, web_url: str) -> tuple[str, str]:
    """Where Socket.IO is: ``GET <web>/config.json`` -> ``{"socketUrl", "socketPath"}``.

    Like the web page, a loopback host there ("localhost") means "the machine the web server is on"."""
    async with http.get(web_url.rstrip("/") + "/config.json",
                        timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)) as response:
        if response.status != 200:
            raise ChatError(response.status, await response.text())
        config = await response.json(content_type=None)
    url = urlsplit(str(config["socketUrl"]))
    web = urlsplit(web_url)
    if url.hostname in LOOPBACK and web.hostname and web.hostname not in LOOPBACK:
        url = url._replace(netloc=web.hostname + (f":{url.port}" if url.port else ""))
    return urlunsplit((url.scheme, url.netloc, "", "", "")), str(config.get("socketPath") or "/socket.io/")


# ----------------------------------------------------------------------------- Socket.IO


class SocketChat:
    """A shopper's device on Socket.IO: session token, messages both ways, resume after disconnects.

    Usage::

        chat = SocketChat("https://shop.example/chat", state=SessionState.from_json(saved))
        await chat.connect()
        await chat.send("小米手环多少钱")
        message = await chat.next_message()
        ...
        await chat.disconnect()           # or the network drops: connect() again later
        saved = chat.state.to_json()      # keep it: the next connect() resumes this conversation

    Every message arrives once on `next_message()` (and the `on_message` callback if given)."""

    def __init__(self, web_url: str, *, state: Optional[SessionState] = None,
                 socket_url: Optional[str] = None, socket_path: Optional[str] = None,
                 transports: tuple[str, ...] = DEFAULT_TRANSPORTS,
                 on_message: Optional[MessageHandler] = None, reconnection: bool = True) -> None:
        self.web_url = web_url
        self.state = state or SessionState()
        self.socket_url, self.socket_path = socket_url, socket_path
        self.transports = list(transports)
        self.on_message = on_message
        self.inbox: asyncio.Queue[ChatMessage] = asyncio.Queue()
        self.errors: list[str] = []  # what the server refused ("error" events), newest last
        self.conversation_changed = False  # the last renewal started a new conversation (token expired/purged)
        self._outbox = OutboxTracker(self.state.last_outbox_id)
        self._buffer: list[JSON] = []  # outbox messages received while catching up
        self._catching_up = False
        self._catch_up_task: Optional[asyncio.Task[None]] = None
        self._confirmed = asyncio.Event()
        self._http: Optional[aiohttp.ClientSession] = None
        # The Socket.IO client retries by itself after a dropped connection; `auth` is called again before
        # every attempt, so each attempt presents a freshly renewed token.
        self.sio = socketio.AsyncClient(reconnection=reconnection, handle_sigint=False)
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on("session_confirm", self._on_session_confirm)
        self.sio.on("bot_uttered", self._on_bot_uttered)
        self.sio.on("outbox_check", self._on_outbox_check)
        self.sio.on("error", self._on_error)

    # -- connecting ---------------------------------------------------------------
    async def renew_session(self) -> None:
        """Get a fresh token for our conversation (or a new conversation when ours is gone)."""
        if self._http is None:
            self._http = aiohttp.ClientSession()
        data = await request_session(self._http, self.web_url, self.state.token)
        changed = self.state.session_id is not None and data["sessionId"] != self.state.session_id
        if changed or data.get("purged"):
            # A new conversation: outbox ids of the old one mean nothing here. (purged: the shop deleted the
            # old conversation on the shopper's request; delete the history you show, too.)
            self._outbox.reset()
            self.state.last_outbox_id = None
        self.conversation_changed = changed or bool(data.get("purged"))
        self.state.token, self.state.session_id = str(data["token"]), str(data["sessionId"])

    async def _auth(self) -> JSON:
        try:
            await self.renew_session()
        except (aiohttp.ClientError, asyncio.TimeoutError, ChatError) as error:
            logger.warning("could not renew the session token (%s); trying the one we have", error)
        return {"token": self.state.token}

    async def connect(self, timeout: float = 10.0) -> None:
        """Connect (renewing the token first) and wait until the server confirmed the conversation."""
        if self._http is None:
            self._http = aiohttp.ClientSession()
        if self.socket_url is None or self.socket_path is None:
            url, path = await socket_target(self._http, self.web_url)
            self.socket_url, self.socket_path = self.socket_url or url, self.socket_path or path
        self._confirmed.clear()
        await self.sio.connect(self.socket_url, auth=self._auth, transports=self.transports,
                               socketio_path=self.socket_path, wait_timeout=timeout)
        await asyncio.wait_for(self._confirmed.wait(), timeout)

    async def _on_connect(self) -> None:
        # From now on pushed outbox messages are held back until the resume below has finished,
        # so that missed messages and new ones come out in outbox order.
        self._catching_up = True
        self._confirmed.clear()
        await self.sio.emit("session_request", {})

    async def _on_session_confirm(self, session_id: Any = None) -> None:
        if session_id != self.state.session_id:
            logger.warning("the server confirmed another conversation than ours")
            return
        self._confirmed.set()
        self._start_catch_up()

    async def _on_outbox_check(self, _data: Any = None) -> None:
        """The server lost and regained its message bus: ask for anything we may have missed."""
        if self.sio.connected and self._confirmed.is_set():
            self._catching_up = True
            self._start_catch_up()

    def _start_catch_up(self) -> None:
        if self._catch_up_task is None or self._catch_up_task.done():
            self._catch_up_task = asyncio.ensure_future(self._catch_up())

    async def _catch_up(self) -> None:
        """``outbox_resume {"after": last}`` until it brings nothing new.

        The server sends every missed message as a ``bot_uttered`` and then acknowledges the
        event (a Socket.IO ack), so after the ack we have all of them, plus any message pushed
        meanwhile. It sends at most 100 per resume: ask again until nothing new comes."""
        try:
            while self.sio.connected:
                before = self._outbox.last
                try:
                    await self.sio.call("outbox_resume", {"after": self._outbox.last or "0"}, timeout=RESUME_TIMEOUT)
                except (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError):
                    logger.warning("outbox_resume was not acknowledged; will resume on the next connect")
                    break
                self._flush_buffer()
                if self._outbox.last == before:
                    break
        finally:
            self._catching_up = False
            self._flush_buffer()

    def _flush_buffer(self) -> None:
        held, self._buffer = self._buffer, []
        for data in sorted(held, key=lambda d: outbox_key(d["outbox_id"])):
            self._accept(data)

    async def _on_disconnect(self, _reason: Any = None) -> None:
        self._confirmed.clear()

    async def _on_error(self, data: Any = None) -> None:
        message = data.get("message") if isinstance(data, dict) else str(data)
        logger.warning("the server refused a message: %s", message)
        self.errors.append(str(message))

    # -- receiving ----------------------------------------------------------------
    async def _on_bot_uttered(self, data: Any = None) -> None:
        # No await before the message is queued or held: messages are handled in the order they came.
        if not isinstance(data, dict):
            return
        if is_outbox_id(data.get("outbox_id")) and self._catching_up:
            self._buffer.append(data)
            return
        self._accept(data)

    def _accept(self, data: JSON) -> None:
        outbox_id = data.get("outbox_id")
        if outbox_id is not None:
            if not is_outbox_id(outbox_id) or not self._outbox.is_new(outbox_id):
                return  # already shown
            self._outbox.mark(outbox_id)
            self.state.last_outbox_id = self._outbox.last
        message = ChatMessage.parse(data)
        self.inbox.put_nowait(message)
        if self.on_message is not None:
            result = self.on_message(message)
            if asyncio.iscoroutine(result):
                asyncio.ensure_future(result)

    async def next_message(self, timeout: Optional[float] = None) -> ChatMessage:
        """The next message to the shopper (asyncio.TimeoutError after `timeout` seconds)."""
        return await asyncio.wait_for(self.inbox.get(), timeout)

    # -- sending ------------------------------------------------------------------
    async def send(self, text: str, metadata: Optional[JSON] = None) -> None:
        """Send what the shopper typed. A text starting with "/" is read as text, never as a command."""
        if not self.sio.connected:
            raise ConnectionError("not connected: connect() first (keep the text and send it then)")
        body: JSON = {"message": text, "session_id": self.state.session_id}
        if metadata:
            body["metadata"] = metadata
        await self.sio.emit("user_uttered", body)

    async def press(self, button: Button) -> None:
        """A tapped button: its payload is the message (the server honours payloads it offered)."""
        await self.send(button.payload)

    async def disconnect(self) -> None:
        """Leave now. (A plain `sio.disconnect()` on the polling transport waits for the pending long-poll.)"""
        if self._catch_up_task is not None:
            self._catch_up_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._catch_up_task
        self._catching_up = False
        if self.sio.connected:
            for namespace in list(self.sio.namespaces):
                await self.sio._send_packet(self.sio.packet_class(socketio.packet.DISCONNECT, namespace=namespace))
            await self.sio.eio.disconnect(abort=True)
        elif self.sio.eio.state != "disconnected":
            await self.sio.eio.disconnect(abort=True)
        self._confirmed.clear()

    async def close(self) -> None:
        await self.disconnect()
        await self.sio.shutdown()
        if self._http is not None:
            await self._http.close()
            self._http = None


# ----------------------------------------------------------------------------- REST


class RestChat:
    """An app backend on REST: one shopper's conversation (`sender`) with the server's API key.

    ``send`` returns the bot's replies; ``poll`` returns messages sent outside a reply (agent messages,
    the rating question), waiting up to `wait` seconds for the first one. Keep `last_outbox_id` per
    shopper; pass it back when you create the client again. A device could also use this class with its
    session token instead of the API key (then `sender` may be left out)."""

    def __init__(self, rasa_url: str, credential: str, sender: Optional[str] = None,
                 last_outbox_id: Optional[str] = None) -> None:
        self.rasa_url = rasa_url.rstrip("/")
        self.sender = sender
        self.last_outbox_id = last_outbox_id if is_outbox_id(last_outbox_id) else None
        self._headers = {"Authorization": f"Bearer {credential}"}
        self._http: Optional[aiohttp.ClientSession] = None

    async def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(headers=self._headers)
        return self._http

    async def send(self, text: str, metadata: Optional[JSON] = None) -> list[ChatMessage]:
        """``POST /webhooks/rest/webhook``. A 429 (too fast) still returns a message to show."""
        body: JSON = {"message": text}
        if self.sender is not None:
            body["sender"] = self.sender
        if metadata:
            body["metadata"] = metadata
        http = await self._session()
        async with http.post(f"{self.rasa_url}/webhooks/rest/webhook", json=body,
                             timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT + 30)) as response:
            answer = await _json_or_text(response)
        if response.status not in (200, 429) or not isinstance(answer, list):
            raise ChatError(response.status, answer)
        return [ChatMessage.parse(m) for m in answer if isinstance(m, dict)]

    async def poll(self, wait: float = 25) -> list[ChatMessage]:
        """``GET /webhooks/rest/outbox?sender&after&wait``: the messages after `last_outbox_id`, oldest first."""
        query = {"after": self.last_outbox_id or "0", "wait": str(wait)}
        if self.sender is not None:
            query["sender"] = self.sender
        http = await self._session()
        async with http.get(f"{self.rasa_url}/webhooks/rest/outbox?{urlencode(query, quote_via=quote)}",
                            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT + wait)) as response:
            answer = await _json_or_text(response)
        if response.status != 200 or not isinstance(answer, dict):
            raise ChatError(response.status, answer)
        messages = [ChatMessage.parse(m) for m in answer.get("messages") or []]
        if is_outbox_id(answer.get("last_id")):
            self.last_outbox_id = answer["last_id"]
        return messages

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None


async def _json_or_text(response: aiohttp.ClientResponse) -> Any:
    text = await response.text()
    try:
        return json.loads(text)
    except ValueError:
        return text


# ----------------------------------------------------------------------------- CLI


async def _read_line() -> Optional[str]:
    line = await asyncio.to_thread(sys.stdin.readline)
    return line.rstrip("\n") if line else None


def _pick_button(line: str, latest: Optional[ChatMessage]) -> Optional[Button]:
    """`#2`: the latest message's second button."""
    if latest is None or not line.startswith("#") or not line[1:].isdigit():
        return None
    index = int(line[1:]) - 1
    return latest.buttons[index] if 0 <= index < len(latest.buttons) else None


async def run_socket_cli(args: argparse.Namespace) -> None:
    state_file = Path(args.state)
    state = SessionState.from_json(state_file.read_text()) if state_file.exists() else SessionState()
    latest: list[Optional[ChatMessage]] = [None]

    def show(message: ChatMessage) -> None:
        print(message, flush=True)
        if message.buttons:
            latest[0] = message
        state_file.write_text(chat.state.to_json())  # the resume point survives a crash

    chat = SocketChat(args.web, state=state, on_message=show,
                      transports=("polling",) if args.polling else DEFAULT_TRANSPORTS)
    await chat.connect()
    state_file.write_text(chat.state.to_json())
    print(f"connected, conversation {chat.state.session_id} (type /quit to leave)", flush=True)
    try:
        while (line := await _read_line()) is not None and line != "/quit":
            if not line.strip():
                continue
            button = _pick_button(line, latest[0])
            await (chat.press(button) if button else chat.send(line))
    finally:
        state_file.write_text(chat.state.to_json())
        await chat.close()


async def run_rest_cli(args: argparse.Namespace) -> None:
    key = args.api_key or Path(args.api_key_file).read_text().strip()
    chat = RestChat(args.rest, key, args.sender)
    latest: list[Optional[ChatMessage]] = [None]

    def show(messages: list[ChatMessage]) -> None:
        for message in messages:
            print(message, flush=True)
            if message.buttons:
                latest[0] = message

    async def poll_forever() -> None:
        while True:
            try:
                show(await chat.poll(wait=25))
            except (aiohttp.ClientError, asyncio.TimeoutError, ChatError) as error:
                print(f"(outbox poll failed: {error}; retrying)", flush=True)
                await asyncio.sleep(3)

    poller = asyncio.ensure_future(poll_forever())
    print(f"REST as {args.sender} (type /quit to leave)", flush=True)
    try:
        while (line := await _read_line()) is not None and line != "/quit":
            if line.strip():
                button = _pick_button(line, latest[0])
                show(await chat.send(button.payload if button else line))
    finally:
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller
        await chat.close()


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description="Chat with the shop's assistant as an app would.")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--web", help="web chat server URL (session tokens, Socket.IO), e.g. http://localhost:8080")
    mode.add_argument("--rest", help="Rasa server URL for REST with an API key, e.g. http://localhost:5005")
    parser.add_argument("--state", default=".shop_chat_session.json", help="file keeping the session (--web)")
    parser.add_argument("--polling", action="store_true", help="use the HTTP long-polling transport only (--web)")
    parser.add_argument("--api-key", help="API key (--rest); better: --api-key-file")
    parser.add_argument("--api-key-file", default=".state/secrets/api_key", help="file holding the API key (--rest)")
    parser.add_argument("--sender", default="app-user-1", help="the shopper's conversation id (--rest)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_socket_cli(args) if args.web else run_rest_cli(args))


if __name__ == "__main__":
    main()
