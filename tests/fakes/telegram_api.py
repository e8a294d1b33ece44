"""A local stand-in for the Telegram Bot API, speaking its HTTP protocol as python-telegram-bot uses it.

It runs an aiohttp server on a free loopback port in a thread of its own (so
synchronous tests, a running Rasa stack and asyncio tests can all use it), hosts
any number of bots (one token each; an unknown token gets 401 like Telegram) and
answers `POST|GET /bot<token>/<method>` with real-shaped JSON. A test plays the
users: it feeds updates (a text message, a command, a reply to a message, a
press of an inline button) which the bot receives by long polling (`getUpdates`)
or, after `setWebhook`, as POSTs to its webhook URL with the
`X-Telegram-Bot-Api-Secret-Token` header. Every call is recorded, and a test can
wait for a call matching a predicate::

    with TelegramApiStandIn() as telegram:
        token = telegram.add_bot("123:desk", username="ShopDeskBot")
        bot = Bot(token, base_url=telegram.base_url)
        app = Application.builder().token(token).base_url(telegram.base_url).build()
        ...
        agent = TgUser(42, "小王")
        telegram.send_text(token, agent, TgChat.private(agent), "/start")
        sent = telegram.wait_for_call("sendMessage", lambda c: c.params["chat_id"] == 42)
        telegram.press_button(token, agent, sent.result, text="接入")

Like Telegram: a bot cannot write first to a user who never wrote to it (403) nor
to a chat it is not in (400), unless `strict_chats=False` or the chat was
announced with `add_chat`; button data over 64 bytes, an empty or too long
text, an edit that changes nothing, a callback query answered twice are refused.
Not like Telegram: webhook URLs may be plain http on loopback; files are not kept.
"""
from __future__ import annotations

import asyncio
import contextlib
import html
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Union

import aiohttp
from aiohttp import web

from tests.fakes.loop_thread import LoopThreadServer

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64

_INT_FIELDS = {"message_id", "offset", "limit", "timeout", "reply_to_message_id", "cache_time", "max_connections",
               "message_thread_id", "user_id", "from_chat_id"}
_BOOL_FIELDS = {"show_alert", "drop_pending_updates", "disable_notification", "protect_content",
                "allow_sending_without_reply", "disable_web_page_preview", "has_spoiler"}
_JSON_FIELDS = {"reply_markup", "entities", "caption_entities", "allowed_updates", "reply_parameters",
                "link_preview_options", "commands", "scope"}
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class TgUser:
    id: int
    first_name: str
    username: Optional[str] = None
    last_name: Optional[str] = None
    is_bot: bool = False
    language_code: Optional[str] = "zh-hans"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        for name in ("last_name", "username", "language_code"):
            if getattr(self, name):
                data[name] = getattr(self, name)
        return data


@dataclass(frozen=True)
class TgChat:
    id: int
    type: str  # private, group, supergroup, channel
    title: Optional[str] = None
    first_name: Optional[str] = None
    username: Optional[str] = None

    @classmethod
    def private(cls, user: TgUser) -> TgChat:
        """The private chat of a user with a bot (its id is the user's id)."""
        return cls(user.id, "private", first_name=user.first_name, username=user.username)

    @classmethod
    def group(cls, chat_id: int, title: str = "客服台") -> TgChat:
        return cls(chat_id, "supergroup", title=title)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        for name in ("title", "first_name", "username"):
            if getattr(self, name):
                data[name] = getattr(self, name)
        return data


@dataclass(frozen=True)
class Call:
    """One request a bot made: its method, decoded parameters, and what the stand-in answered."""

    index: int
    token: str
    method: str
    params: dict[str, Any]
    status: int
    response: dict[str, Any]
    at: float

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))

    @property
    def result(self) -> Any:
        return self.response.get("result")

    @property
    def chat_id(self) -> Any:
        return self.params.get("chat_id")

    @property
    def text(self) -> str:
        return str(self.params.get("text") or self.params.get("caption") or "")


@dataclass(frozen=True)
class WebhookDelivery:
    token: str
    update_id: int
    url: str
    status: Optional[int]  # None: could not connect
    error: str = ""


class ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: Optional[dict[str, Any]] = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


@dataclass
class _Bot:
    token: str
    user: TgUser
    updates: list[dict[str, Any]] = field(default_factory=list)  # not yet confirmed by an offset
    next_update_id: int = 1
    known_chats: dict[int, TgChat] = field(default_factory=dict)
    messages: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    next_message_id: dict[int, int] = field(default_factory=dict)
    open_queries: dict[str, dict[str, Any]] = field(default_factory=dict)  # callback query id -> query
    answered: set[str] = field(default_factory=set)
    webhook_url: str = ""
    webhook_secret: str = ""
    webhook_max_connections: int = 40
    webhook_allowed_updates: list[str] = field(default_factory=list)
    last_error_date: Optional[int] = None
    last_error_message: str = ""
    arrived: Optional[asyncio.Event] = None  # set in the server's loop when an update is fed
    delivering: Optional[asyncio.Lock] = None


def _plain(text: str, parse_mode: Optional[str]) -> str:
    """The text a user sees: HTML tags stripped and entities unescaped (Markdown is kept as sent)."""
    if (parse_mode or "").upper() == "HTML":
        return html.unescape(_TAG.sub("", text))
    return text


def _decode(name: str, value: Any) -> Any:
    """A parameter as Telegram types it: PTB sends strings raw and everything else JSON-encoded."""
    if not isinstance(value, str):
        return value
    if name == "chat_id":
        return int(value) if re.fullmatch(r"-?\d+", value) else value
    if name in _INT_FIELDS:
        return int(value) if re.fullmatch(r"-?\d+", value) else value
    if name in _BOOL_FIELDS:
        return value.lower() == "true"
    if name in _JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


class TelegramApiStandIn(LoopThreadServer):
    """A fake Bot API server on 127.0.0.1; see the module docstring."""

    thread_name = "telegram-api-stand-in"
    start_timeout = 10.0

    def __init__(self, *, strict_chats: bool = True, host: str = "127.0.0.1") -> None:
        self.strict_chats = strict_chats
        self.host = host
        self.port = 0
        self._bots: dict[str, _Bot] = {}
        self._calls: list[Call] = []
        self.deliveries: list[WebhookDelivery] = []
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._runner: Optional[web.AppRunner] = None
        self._session: Optional[aiohttp.ClientSession] = None
        self._ids = itertools.count(1)
        self._closing = False
        self._deliveries: set[asyncio.Future[None]] = set()

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The server's root, as a local Bot API server's (TELEGRAM_API_URL)."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """For `Bot(token, base_url=...)` / `ApplicationBuilder().base_url(...)` (the token is appended)."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    async def _serve(self) -> None:
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("*", "/file/bot{token}/{path:.*}", self._file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        for bot in self._bots.values():
            bot.arrived, bot.delivering = asyncio.Event(), asyncio.Lock()

    async def _cleanup(self) -> None:
        self._closing = True
        for bot in self._bots.values():
            if bot.arrived is not None:
                bot.arrived.set()  # long polls end now
        for task in list(self._deliveries):
            task.cancel()
        await asyncio.gather(*self._deliveries, return_exceptions=True)
        await asyncio.sleep(0.05)
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- bots and chats -------------------------------------------------------------------------
    def add_bot(self, token: str = "123456:TEST-desk-token", username: str = "ShopDeskBot",
                first_name: str = "小店客服台", bot_id: Optional[int] = None) -> str:
        """Host a bot; its token (the part before ':' is its user id, as in a real token)."""
        head = token.split(":", 1)[0]
        user = TgUser(bot_id or (int(head) if head.isdigit() else 10_000 + len(self._bots)), first_name, username,
                      is_bot=True, language_code=None)
        with self._lock:
            bot = self._bots[token] = _Bot(token, user)
        if self._loop is not None:
            async def make_primitives() -> None:
                bot.arrived, bot.delivering = asyncio.Event(), asyncio.Lock()
            asyncio.run_coroutine_threadsafe(make_primitives(), self._loop).result(5)
        return token

    def bot_user(self, token: str) -> TgUser:
        return self._bots[token].user

    def add_chat(self, token: str, chat: TgChat) -> None:
        """The bot is a member of `chat` (a group), or the user of a private chat has started the bot."""
        with self._lock:
            self._bots[token].known_chats[chat.id] = chat

    # -- what users do --------------------------------------------------------------------------
    def send_text(self, token: str, user: TgUser, chat: TgChat, text: str, reply_to: Optional[int] = None
                  ) -> dict[str, Any]:
        """A user writes `text` in `chat` (a command when it starts with '/'), maybe replying to a message."""
        with self._lock:
            bot = self._bots[token]
            message: dict[str, Any] = {
                "message_id": self._new_message_id(bot, chat.id), "from": user.to_dict(), "chat": chat.to_dict(),
                "date": int(time.time()), "text": text,
            }
            command = re.match(r"/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?", text)
            if command:
                message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command.group(0))}]
            if reply_to is not None:
                replied = bot.messages.get((chat.id, reply_to))
                if replied is None:
                    raise KeyError(f"no message {reply_to} in chat {chat.id}")
                message["reply_to_message"] = {k: v for k, v in replied.items() if k != "reply_to_message"}
            bot.messages[(chat.id, message["message_id"])] = message
            bot.known_chats[chat.id] = chat
        return self.feed(token, {"message": message})

    def press_button(self, token: str, user: TgUser, message: Union[dict[str, Any], tuple[int, int]],
                     data: Optional[str] = None, text: Optional[str] = None) -> dict[str, Any]:
        """A user presses an inline button of a bot's message (by its callback data or part of its label).

        Like in a real client only a button the message shows now can be pressed.
        """
        with self._lock:
            bot = self._bots[token]
            chat_id, message_id = ((message[0], message[1]) if isinstance(message, tuple)
                                   else (message["chat"]["id"], message["message_id"]))
            current = bot.messages.get((chat_id, message_id))
            if current is None:
                raise KeyError(f"no message {message_id} in chat {chat_id}")
            buttons = [b for row in (current.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]
            chosen = [b for b in buttons if "callback_data" in b
                      and (data is None or b["callback_data"] == data) and (text is None or text in b["text"])]
            if not chosen:
                raise LookupError(f"message {message_id} shows no such button (buttons: {buttons})")
            query_id = str(next(self._ids) * 7_919 + 1_000_000)
            query = {"id": query_id, "from": user.to_dict(), "message": json.loads(json.dumps(current)),
                     "chat_instance": str(abs(chat_id) * 31 + 17), "data": chosen[0]["callback_data"]}
            bot.open_queries[query_id] = query
        return self.feed(token, {"callback_query": query})

    def feed(self, token: str, update: dict[str, Any]) -> dict[str, Any]:
        """Queue a raw update (an update_id is added) for polling, or deliver it to the webhook."""
        with self._lock:
            bot = self._bots[token]
            update = {"update_id": bot.next_update_id, **update}
            bot.next_update_id += 1
            bot.updates.append(update)
            webhook = bot.webhook_url
        if self._loop is not None:
            if webhook:
                self._loop.call_soon_threadsafe(self._spawn_delivery, bot)
            elif bot.arrived is not None:
                self._loop.call_soon_threadsafe(bot.arrived.set)
        return update

    # -- what the test checks -------------------------------------------------------------------
    def calls(self, method: Optional[str] = None, token: Optional[str] = None, since: int = 0) -> list[Call]:
        with self._lock:
            return [c for c in self._calls[since:] if (method is None or c.method == method)
                    and (token is None or c.token == token)]

    def mark(self) -> int:
        """A cursor: pass it as `since` to look only at calls made after this moment."""
        with self._lock:
            return len(self._calls)

    def wait_for_call(self, method: Optional[str] = None, where: Optional[Callable[[Call], bool]] = None,
                      timeout: float = 10, since: int = 0, ok: Optional[bool] = True) -> Call:
        """The first recorded call (from index `since`) of `method` matching `where`, waiting up to `timeout` s.

        By default only successful calls count (`ok=None`: any, `ok=False`: refused ones).
        """
        deadline = time.monotonic() + timeout

        def match(call: Call) -> bool:
            return ((method is None or call.method == method) and (ok is None or call.ok == ok)
                    and (where is None or bool(where(call))))

        with self._changed:
            while True:
                for call in self._calls[since:]:
                    if match(call):
                        return call
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [(c.method, c.params) for c in self._calls[since:] if method is None or c.method == method]
                    raise TimeoutError(f"no {method or 'call'} matched within {timeout}s; seen: {seen}")
                self._changed.wait(remaining)

    async def await_call(self, method: Optional[str] = None, where: Optional[Callable[[Call], bool]] = None,
                         timeout: float = 10, since: int = 0, ok: Optional[bool] = True) -> Call:
        """`wait_for_call` from a coroutine, without blocking its event loop."""
        return await asyncio.to_thread(self.wait_for_call, method, where, timeout, since, ok)

    def messages(self, token: str, chat_id: int) -> list[dict[str, Any]]:
        """Every message of a chat as it shows now (edits applied), oldest first."""
        with self._lock:
            bot = self._bots[token]
            return [json.loads(json.dumps(m)) for (c, _), m in sorted(bot.messages.items()) if c == chat_id]

    def message(self, token: str, chat_id: int, message_id: int) -> dict[str, Any]:
        with self._lock:
            return json.loads(json.dumps(self._bots[token].messages[(chat_id, message_id)]))

    def pending_updates(self, token: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._bots[token].updates)

    # -- the HTTP side --------------------------------------------------------------------------
    async def _params(self, request: web.Request) -> dict[str, Any]:
        raw: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                body = await request.json()
                raw.update(body if isinstance(body, dict) else {})
            else:
                for name, value in (await request.post()).items():
                    if isinstance(value, web.FileField):
                        raw[name] = {"filename": value.filename, "size": len(value.file.read())}
                    else:
                        raw[name] = value
        return {name: _decode(name, value) for name, value in raw.items()}

    async def _handle(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        try:
            params = await self._params(request)
        except ValueError:
            params = {}
        bot = self._bots.get(token)
        status, body = 200, {}
        try:
            if bot is None:
                raise ApiError(401, "Unauthorized")
            handler = getattr(self, f"_m_{method.lower()}", None)
            if handler is None:
                raise ApiError(404, "Not Found")
            result = await handler(bot, params)
            body = {"ok": True, "result": result}
        except ApiError as error:
            status = error.code
            body = {"ok": False, "error_code": error.code, "description": error.description}
            if error.parameters:
                body["parameters"] = error.parameters
        with self._changed:
            self._calls.append(Call(len(self._calls), token, method, params, status, body, time.monotonic()))
            self._changed.notify_all()
        return web.json_response(body, status=status, dumps=lambda d: json.dumps(d, ensure_ascii=False))

    async def _file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] not in self._bots:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)

    def _new_message_id(self, bot: _Bot, chat_id: int) -> int:
        number = bot.next_message_id.get(chat_id, 1)
        bot.next_message_id[chat_id] = number + 1
        return number

    def _chat(self, bot: _Bot, chat_id: Any) -> TgChat:
        if not isinstance(chat_id, int):
            raise ApiError(400, "Bad Request: chat not found")
        chat = bot.known_chats.get(chat_id)
        if chat is not None:
            return chat
        if self.strict_chats:
            if chat_id > 0:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
            raise ApiError(400, "Bad Request: chat not found")
        return TgChat(chat_id, "private" if chat_id > 0 else "supergroup", title=None if chat_id > 0 else "chat",
                      first_name="user" if chat_id > 0 else None)

    @staticmethod
    def _check_markup(markup: Any) -> Optional[dict[str, Any]]:
        if markup in (None, "", {}):
            return None
        if not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        for row in markup.get("inline_keyboard", []):
            for button in row:
                if not button.get("text"):
                    raise ApiError(400, "Bad Request: text buttons are unallowed in the inline keyboard")
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA:
                    raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return markup

    def _reply_to(self, bot: _Bot, chat_id: int, params: dict[str, Any]) -> Optional[dict[str, Any]]:
        wanted = params.get("reply_to_message_id")
        reply = params.get("reply_parameters")
        if isinstance(reply, dict):
            wanted = reply.get("message_id")
        if wanted is None:
            return None
        replied = bot.messages.get((chat_id, int(wanted)))
        if replied is None:
            if isinstance(reply, dict) and reply.get("allow_sending_without_reply"):
                return None
            raise ApiError(400, "Bad Request: message to be replied not found")
        return {k: v for k, v in replied.items() if k != "reply_to_message"}

    def _store(self, bot: _Bot, chat: TgChat, content: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {"message_id": self._new_message_id(bot, chat.id), "from": bot.user.to_dict(),
                                   "chat": chat.to_dict(), "date": int(time.time()), **content}
        markup = self._check_markup(params.get("reply_markup"))
        replied = self._reply_to(bot, chat.id, params)
        if replied is not None:
            message["reply_to_message"] = replied
        if markup:
            message["reply_markup"] = markup
        bot.messages[(chat.id, message["message_id"])] = message
        return json.loads(json.dumps(message))

    # -- methods (each returns the `result`, or raises ApiError) --------------------------------
    async def _m_getme(self, bot: _Bot, params: dict[str, Any]) -> dict[str, Any]:
        return {**bot.user.to_dict(), "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False, "can_connect_to_business": False, "has_main_web_app": False}

    async def _m_getupdates(self, bot: _Bot, params: dict[str, Any]) -> list[dict[str, Any]]:
        if bot.webhook_url:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset, limit = int(params.get("offset") or 0), max(1, min(100, int(params.get("limit") or 100)))
        timeout = max(0.0, float(params.get("timeout") or 0))
        deadline = time.monotonic() + timeout
        assert bot.arrived is not None
        while True:
            bot.arrived.clear()
            with self._lock:
                if offset:
                    if offset < 0:
                        bot.updates = bot.updates[offset:]
                    else:
                        bot.updates = [u for u in bot.updates if u["update_id"] >= offset]
                pending = bot.updates[:limit]
            remaining = deadline - time.monotonic()
            if pending or remaining <= 0 or self._closing:
                return json.loads(json.dumps(pending))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(bot.arrived.wait(), remaining)

    async def _m_sendmessage(self, bot: _Bot, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            chat = self._chat(bot, params.get("chat_id"))
            text = _plain(str(params.get("text") or ""), params.get("parse_mode"))
            if not text.strip():
                raise ApiError(400, "Bad Request: message text is empty")
            if len(text) > MAX_TEXT:
                raise ApiError(400, "Bad Request: message is too long")
            content: dict[str, Any] = {"text": text}
            if params.get("entities"):
                content["entities"] = params["entities"]
            return self._store(bot, chat, content, params)

    async def _m_sendphoto(self, bot: _Bot, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            chat = self._chat(bot, params.get("chat_id"))
            photo = params.get("photo")
            if not photo:
                raise ApiError(400, "Bad Request: there is no photo in the request")
            size = photo.get("size", 0) if isinstance(photo, dict) else 0
            file_id = f"AgACAgUAAxk{next(self._ids):08d}"
            content: dict[str, Any] = {"photo": [
                {"file_id": file_id + "s", "file_unique_id": file_id[-8:] + "s", "width": 90, "height": 90,
                 "file_size": max(1, size // 10)},
                {"file_id": file_id, "file_unique_id": file_id[-8:], "width": 800, "height": 800,
                 "file_size": size or 1},
            ]}
            if params.get("caption"):
                content["caption"] = _plain(str(params["caption"]), params.get("parse_mode"))
            return self._store(bot, chat, content, params)

    def _editable(self, bot: _Bot, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("inline_message_id"):
            raise ApiError(400, "Bad Request: inline messages are not supported by the stand-in")
        chat_id, message_id = params.get("chat_id"), params.get("message_id")
        message = (bot.messages.get((chat_id, message_id))
                   if isinstance(chat_id, int) and isinstance(message_id, int) else None)
        if message is None or message["from"]["id"] != bot.user.id:
            raise ApiError(400, "Bad Request: message to edit not found")
        return message

    async def _m_editmessagetext(self, bot: _Bot, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            message = self._editable(bot, params)
            text = _plain(str(params.get("text") or ""), params.get("parse_mode"))
            if not text.strip():
                raise ApiError(400, "Bad Request: message text is empty")
            if "text" not in message:
                raise ApiError(400, "Bad Request: there is no text in the message to edit")
            markup = self._check_markup(params.get("reply_markup"))
            if text == message["text"] and markup == message.get("reply_markup"):
                raise ApiError(400, "Bad Request: message is not modified: specified new message content and "
                                    "reply markup are exactly the same as a current content and reply markup "
                                    "of the message")
            message["text"] = text
            message.pop("reply_markup", None)
            if markup:
                message["reply_markup"] = markup
            message["edit_date"] = int(time.time())
            return json.loads(json.dumps(message))

    async def _m_editmessagereplymarkup(self, bot: _Bot, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            message = self._editable(bot, params)
            markup = self._check_markup(params.get("reply_markup"))
            if markup == message.get("reply_markup"):
                raise ApiError(400, "Bad Request: message is not modified: specified new message content and "
                                    "reply markup are exactly the same as a current content and reply markup "
                                    "of the message")
            message.pop("reply_markup", None)
            if markup:
                message["reply_markup"] = markup
            message["edit_date"] = int(time.time())
            return json.loads(json.dumps(message))

    async def _m_answercallbackquery(self, bot: _Bot, params: dict[str, Any]) -> bool:
        with self._lock:
            query_id = str(params.get("callback_query_id") or "")
            if query_id not in bot.open_queries or query_id in bot.answered:
                raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
            bot.answered.add(query_id)
            return True

    async def _m_deletemessage(self, bot: _Bot, params: dict[str, Any]) -> bool:
        with self._lock:
            chat_id, message_id = params.get("chat_id"), params.get("message_id")
            if not isinstance(chat_id, int) or not isinstance(message_id, int) \
                    or bot.messages.pop((chat_id, message_id), None) is None:
                raise ApiError(400, "Bad Request: message to delete not found")
            return True

    async def _m_sendchataction(self, bot: _Bot, params: dict[str, Any]) -> bool:
        with self._lock:
            self._chat(bot, params.get("chat_id"))
        return True

    async def _m_setmycommands(self, bot: _Bot, params: dict[str, Any]) -> bool:
        return True

    async def _m_getmycommands(self, bot: _Bot, params: dict[str, Any]) -> list[Any]:
        return []

    async def _m_setwebhook(self, bot: _Bot, params: dict[str, Any]) -> bool:
        url = str(params.get("url") or "")
        secret = str(params.get("secret_token") or "")
        if secret and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        if url and not re.match(r"https?://", url):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        with self._lock:
            bot.webhook_url, bot.webhook_secret = url, secret
            bot.webhook_max_connections = int(params.get("max_connections") or 40)
            bot.webhook_allowed_updates = list(params.get("allowed_updates") or [])
            if params.get("drop_pending_updates"):
                bot.updates.clear()
            pending = bool(url and bot.updates)
        if pending:
            self._spawn_delivery(bot)
        return True

    async def _m_deletewebhook(self, bot: _Bot, params: dict[str, Any]) -> bool:
        with self._lock:
            bot.webhook_url, bot.webhook_secret = "", ""
            if params.get("drop_pending_updates"):
                bot.updates.clear()
        return True

    async def _m_getwebhookinfo(self, bot: _Bot, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            info: dict[str, Any] = {"url": bot.webhook_url, "has_custom_certificate": False,
                                    "pending_update_count": len(bot.updates)}
            if bot.webhook_url:
                info["max_connections"] = bot.webhook_max_connections
                info["ip_address"] = self.host
                if bot.webhook_allowed_updates:
                    info["allowed_updates"] = bot.webhook_allowed_updates
            if bot.last_error_date:
                info["last_error_date"] = bot.last_error_date
                info["last_error_message"] = bot.last_error_message
            return info

    # -- webhook delivery -----------------------------------------------------------------------
    def _spawn_delivery(self, bot: _Bot) -> None:
        """Start delivering `bot`'s pending updates (in the server's loop)."""
        task = asyncio.ensure_future(self._deliver(bot))
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _deliver(self, bot: _Bot, attempts: int = 5) -> None:
        """POST every pending update to the webhook, in order, retrying a refused one a few times."""
        assert bot.delivering is not None and self._session is not None
        async with bot.delivering:
            failures = 0
            while True:
                with self._lock:
                    if not bot.webhook_url or not bot.updates:
                        return
                    update, url, secret = bot.updates[0], bot.webhook_url, bot.webhook_secret
                headers = {SECRET_HEADER: secret} if secret else {}
                status: Optional[int] = None
                error = ""
                try:
                    async with self._session.post(url, json=update, headers=headers) as reply:
                        status = reply.status
                        if status >= 300:
                            error = f"Wrong response from the webhook: {status} {reply.reason}"
                except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as problem:
                    error = f"Connection failed: {problem!r}"
                with self._changed:
                    self.deliveries.append(WebhookDelivery(bot.token, update["update_id"], url, status, error))
                    if not error:
                        bot.updates = [u for u in bot.updates if u["update_id"] != update["update_id"]]
                        failures = 0
                    else:
                        bot.last_error_date, bot.last_error_message = int(time.time()), error
                        failures += 1
                    self._changed.notify_all()
                if error:
                    if failures >= attempts:
                        return  # stays pending (getWebhookInfo shows it); the next feed tries again
                    await asyncio.sleep(0.1 * 2 ** failures)

    def wait_for_delivery(self, where: Callable[[WebhookDelivery], bool], timeout: float = 10
                          ) -> WebhookDelivery:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for delivery in self.deliveries:
                    if where(delivery):
                        return delivery
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no matching webhook delivery within {timeout}s: {self.deliveries}")
                self._changed.wait(remaining)


def buttons_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The inline buttons of a message (a Message dict), row by row flattened."""
    return [b for row in (message.get("reply_markup") or {}).get("inline_keyboard", []) for b in row]
