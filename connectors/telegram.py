"""Telegram channel for shoppers (issue 15), on python-telegram-bot v22 (not Rasa's aiogram-based channel).

    credentials.yml:  connectors.telegram.ShopTelegramInput:
    environment:      TELEGRAM_TOKEN (the shop bot's token from @BotFather), and for webhook mode
                      TELEGRAM_PUBLIC_URL (https base Telegram reaches Rasa at) + TELEGRAM_WEBHOOK_SECRET;
                      TELEGRAM_API_URL: a Bot API server other than Telegram's (tests, a local server)

Two ways to receive updates:

- webhook (TELEGRAM_PUBLIC_URL set): at start the channel registers
  `<public url>/webhooks/telegram/webhook` with `setWebhook(secret_token=...)`.
  A POST without the right `X-Telegram-Bot-Api-Secret-Token` gets 403; a body
  that is not a Telegram update 400. An update is handled before the POST is
  answered (Telegram retries what was not answered; a repeated update id is
  dropped, see below);
- long polling (no public URL; development): `getUpdates` runs in a background
  task from server start to stop. A batch is confirmed (the next offset) only
  after it was handled, so a restart re-reads what it had not started on.

Per update: conversation `telegram:<chat id>` (private chats only; the bot
ignores groups and channels), input_channel `telegram`, metadata
`telegram_user_id` and the order guard's client `telegram:<user id>`. Text goes
through the same screening and per-conversation rate limit as the web chat and
through `connectors.deliver.deliver` (the hand-off gate: while an agent holds the
conversation the bot sends nothing). `/start` is a greeting ("你好"). Another
update (a sticker, photo, voice, an edit) gets a polite "text only" answer;
updates the shop has no use for (channel posts, member changes ...) are
acknowledged and dropped. Updates of one chat are handled in order. Each update
id is handled once (`SET NX` on `shop:channel:telegram:update:<bot>:<id>`, a day,
taken as handling starts: an update redelivered after a slow answer is not a
second turn; one cut short by a crash is not handled again).

Bot messages go out as plain text (no parse_mode: a shopper's `<b>` or `*x*`
shows as typed), split below Telegram's 4,096 characters (UTF-16 units), at a
line or sentence end where possible. Buttons become an inline keyboard whose
callback data is the payload; a payload over Telegram's 64 bytes (or starting
with HASHED) travels as HASHED + a digest and is resolved against the payloads
the bot offered the conversation since the shopper last wrote, so a pressed
button never names anything the bot did not offer (a short payload that was not
offered is neutralised by deliver()). A press is answered (`answerCallbackQuery`)
and handed to the bot as the button's payload. Images go out with `sendPhoto`
(as a link when Telegram cannot fetch them). Bot API calls go through PTB's `Bot`
over aiohttp (`AiohttpRequest`; httpx, PTB's default, costs a turn ~1.7 ms of CPU
per answer); the long poll keeps PTB's HTTPXRequest.

Hand-off outbound (an agent's messages, queue updates, the rating question):
every Rasa process subscribes with `bot.handoff.outbound.listen`, and the shared
outbox courier (`bot.handoff.courier`, cursor `shop:channel:telegram:delivered:<conv>`)
sends each entry of a `telegram:*` outbox once, in order, also across processes
and restarts (a catch-up after every (re)subscription). A failed send that surely
did not reach Telegram (no connection, flood limit) leaves the entry undelivered
and is retried RETRY_SECONDS later; Telegram refusing it for good (the shopper
blocked the bot) or a time-out (it may have arrived) counts as delivered.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import json
import logging
import re
from typing import Any, Awaitable, Callable, Dict, List, Optional

import aiohttp
import redis.asyncio as aioredis
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from telegram import Bot, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest as TelegramBadRequest
from telegram.error import (
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import BaseRequest, HTTPXRequest, RequestData

from bot.config import Settings, load_settings
from bot.guard.rate_limit import SLOW_DOWN_REPLY, rate_limiter
from bot.guard.screening import CLIENT_KEY, screen_message
from bot.handoff.courier import DELIVERED, RETRY, KeyedLocks, Outcome, cursor_key
from bot.handoff.courier import OutboxCourier as SharedCourier
from bot.handoff.outbound import listen
from bot.runtime.redis_clients import new_async_redis
from connectors.deliver import deliver, offered_to

logger = logging.getLogger(__name__)

CHANNEL = "telegram"
CONVERSATION_PREFIX = "telegram:"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WEBHOOK_ROUTE = "/webhook"
MAX_TEXT = 4096  # Telegram's limit for a message, in UTF-16 code units
MAX_CALLBACK_DATA = 64  # bytes
HASHED = "#sha:"  # callback data standing for a longer payload: HASHED + 32 hex digits of its SHA-256
ALLOWED_UPDATES = [Update.MESSAGE, Update.EDITED_MESSAGE, Update.CALLBACK_QUERY]
SECRET_FORMAT = re.compile(r"[A-Za-z0-9_-]{1,256}")
USER_ID_KEY = "telegram_user_id"
START_TEXT = "你好"  # what /start says to the bot
REDIS_PREFIX = "shop:channel:telegram"
SEEN_SECONDS = 24 * 3600  # an update id is remembered this long (Telegram gives up on an update within a day)
RETRY_SECONDS = 5.0  # a send that failed for a passing reason is tried again after this

UNSUPPORTED_REPLY = "亲，我目前只能看懂文字消息哦～图片、语音、贴纸等暂时看不到，请用文字描述一下您的问题。"
EDITED_REPLY = "亲，修改后的消息我看不到哦～如需更正，请重新发送一条。"
FAILED_REPLY = "抱歉，系统开了个小差，请稍后再发一次～"
EXPIRED_BUTTON = "这个按钮已经失效了，请直接输入您的问题～"
BUTTONS_PROMPT = "请选择："
SHOPPER_CONTENT = ("sticker", "photo", "video", "voice", "audio", "document", "animation", "video_note",
                   "location", "contact", "venue", "poll", "dice", "game", "story")


# -- small pieces -----------------------------------------------------------------------------------
def conversation_of(chat_id: int) -> str:
    return f"{CONVERSATION_PREFIX}{chat_id}"


def chat_of(conversation: str) -> Optional[int]:
    """The Telegram chat id of a `telegram:<chat id>` conversation, else None."""
    if not conversation.startswith(CONVERSATION_PREFIX):
        return None
    rest = conversation[len(CONVERSATION_PREFIX):]
    return int(rest) if re.fullmatch(r"-?\d{1,20}", rest) else None


def _units(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1  # Telegram counts UTF-16 code units


def split_text(text: str, limit: int = MAX_TEXT) -> List[str]:
    """`text` in pieces of at most `limit` UTF-16 units, cut after a line, a sentence or a word when one ends
    in the second half of a piece; pieces that would show nothing are dropped."""
    pieces: List[str] = []
    rest = text
    while sum(_units(c) for c in rest) > limit:
        size, cut = 0, 0
        for index, char in enumerate(rest):
            size += _units(char)
            if size > limit:
                cut = index
                break
        window = rest[:cut]
        for separators in ("\n", "。！？!?；;", "，,、 "):
            at = max(window.rfind(s) for s in separators)
            if at >= cut // 2:
                cut = at + 1
                break
        pieces.append(rest[:cut])
        rest = rest[cut:]
    pieces.append(rest)
    return [p for p in (piece.strip("\n") for piece in pieces) if p.strip()]


def _seconds(value: Any) -> float:
    """RetryAfter.retry_after as seconds (PTB gives an int or a timedelta)."""
    return float(value.total_seconds()) if hasattr(value, "total_seconds") else float(value)


def _digest(payload: str) -> str:
    return hashlib.sha256(payload.encode("utf-8", "replace")).hexdigest()[:32]


def callback_data(payload: str) -> str:
    """A button's callback data: its payload, or HASHED + a digest when Telegram's 64 bytes cannot hold it."""
    if payload and len(payload.encode("utf-8", "replace")) <= MAX_CALLBACK_DATA and not payload.startswith(HASHED):
        return payload
    return HASHED + _digest(payload)


def payload_of(data: str, offered: set[str]) -> Optional[str]:
    """The payload a pressed button stands for; None for a digest that matches nothing the bot offered."""
    if not data.startswith(HASHED):
        return data
    wanted = data[len(HASHED):]
    return next((p for p in sorted(offered) if _digest(p) == wanted), None)


def keyboard(buttons: List[Dict[str, Any]]) -> Optional[InlineKeyboardMarkup]:
    """Rasa buttons as an inline keyboard: two a row when the titles are short, else one a row."""
    made = []
    for button in buttons:
        title = str(button.get("title") or button.get("payload") or "").strip()[:64] or "…"
        url = button.get("url")
        if isinstance(url, str) and url.startswith(("https://", "http://")):
            made.append(InlineKeyboardButton(title, url=url))
            continue
        payload = str(button.get("payload") or button.get("title") or "").strip()
        if payload:
            made.append(InlineKeyboardButton(title, callback_data=callback_data(payload)))
    if not made:
        return None
    per_row = 2 if all(len(b.text) <= 8 for b in made) else 1
    return InlineKeyboardMarkup([made[i:i + per_row] for i in range(0, len(made), per_row)])


class AiohttpRequest(BaseRequest):
    """python-telegram-bot's transport over aiohttp: a Bot API call costs about a quarter of httpx's CPU
    (0.5 against 2.2 ms a sendMessage to a local server), and every answer of a turn makes one."""

    def __init__(self, connections: int = 128, read_timeout: float = 10.0, connect_timeout: float = 5.0,
                 write_timeout: float = 10.0) -> None:
        self._connections = connections
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._write_timeout = write_timeout
        self._session: Optional[aiohttp.ClientSession] = None

    @property
    def read_timeout(self) -> Optional[float]:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=self._connections))

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(self, url: str, method: str, request_data: Optional[RequestData] = None,
                         read_timeout: Any = BaseRequest.DEFAULT_NONE, write_timeout: Any = BaseRequest.DEFAULT_NONE,
                         connect_timeout: Any = BaseRequest.DEFAULT_NONE,
                         pool_timeout: Any = BaseRequest.DEFAULT_NONE) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            await self.initialize()
        assert self._session is not None
        # A timeout the caller did not give comes as PTB's DefaultValue sentinel (or None: no limit).
        read = read_timeout if isinstance(read_timeout, (int, float)) or read_timeout is None else self._read_timeout
        connect = (connect_timeout if isinstance(connect_timeout, (int, float)) or connect_timeout is None
                   else self._connect_timeout)
        data: Any = None
        if request_data is not None:
            files = request_data.multipart_data
            if files:
                form = aiohttp.FormData()
                for name, value in request_data.json_parameters.items():
                    form.add_field(name, value)
                for name, (filename, content, mimetype) in files.items():
                    form.add_field(name, content, filename=filename, content_type=mimetype)
                data = form
            else:
                data = request_data.json_parameters
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read)
        try:
            async with self._session.request(method, url, data=data, timeout=timeout,
                                             headers={"User-Agent": self.USER_AGENT}) as reply:
                return reply.status, await reply.read()
        except asyncio.TimeoutError as error:
            raise TimedOut() from error
        except aiohttp.ClientError as error:  # a refused connection: surely not sent
            raise NetworkError(f"aiohttp.{type(error).__name__}: {error}") from error


def build_bot(settings: Settings) -> Bot:
    """The shop bot on Telegram, or on TELEGRAM_API_URL (its root, like `http://127.0.0.1:8081`)."""
    assert settings.telegram_token
    request = AiohttpRequest(connections=128)
    polling = HTTPXRequest(connection_pool_size=2, read_timeout=70, connect_timeout=5)  # one call at a time
    if not settings.telegram_api_url:
        return Bot(settings.telegram_token, request=request, get_updates_request=polling)
    root = settings.telegram_api_url.rstrip("/")
    root = root[: -len("/bot")] if root.endswith("/bot") else root
    return Bot(settings.telegram_token, base_url=f"{root}/bot", base_file_url=f"{root}/file/bot",
               request=request, get_updates_request=polling)


# -- sending ----------------------------------------------------------------------------------------
class TelegramOutput(OutputChannel):
    """The bot's answers in a Telegram chat: plain text, inline keyboards, photos."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def _call(self, what: Callable[[], Awaitable[Any]]) -> Any:
        """One Bot API call, tried once more after a flood wait or a failed connection (nothing was sent)."""
        try:
            return await what()
        except RetryAfter as wait:
            await asyncio.sleep(min(5.0, _seconds(wait.retry_after)))
        except TimedOut:
            raise  # it may have arrived: not sent again
        except TelegramBadRequest:
            raise
        except NetworkError:
            await asyncio.sleep(0.5)
        return await what()

    async def send_text(self, chat_id: int, text: str, buttons: Optional[List[Dict[str, Any]]] = None) -> None:
        """Send `text` (split when too long; the keyboard goes with the last piece). Raises TelegramError."""
        markup = keyboard(buttons) if buttons else None
        pieces = split_text(text) or ([BUTTONS_PROMPT] if markup else [])
        for index, piece in enumerate(pieces):
            await self._call(functools.partial(self.bot.send_message, chat_id, piece,
                                               reply_markup=markup if index == len(pieces) - 1 else None))

    async def _safely(self, recipient_id: str, what: Callable[[int], Awaitable[None]]) -> None:
        chat_id = chat_of(recipient_id)
        if chat_id is None:
            logger.warning("not a Telegram conversation: %s", recipient_id)
            return
        try:
            await what(chat_id)
        except Forbidden:
            logger.info("Telegram chat %s blocked the bot; answer dropped", chat_id)
        except TelegramError as error:
            logger.warning("Telegram refused an answer to chat %s: %s", chat_id, error)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self._safely(recipient_id, lambda chat: self.send_text(chat, text))

    async def send_text_with_buttons(self, recipient_id: str, text: str, buttons: List[Dict[str, Any]],
                                     **kwargs: Any) -> None:
        await self._safely(recipient_id, lambda chat: self.send_text(chat, text, buttons))

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        async def photo(chat: int) -> None:
            try:
                await self._call(lambda: self.bot.send_photo(chat, image))
            except TelegramBadRequest as error:  # Telegram could not fetch or read it: the link instead
                logger.info("sendPhoto refused (%s); sending the image's link", error)
                await self.send_text(chat, str(image))

        await self._safely(recipient_id, photo)

    async def send_attachment(self, recipient_id: str, attachment: str, **kwargs: Any) -> None:
        await self.send_text_message(recipient_id, str(attachment))

    async def send_custom_json(self, recipient_id: str, json_message: Dict[str, Any], **kwargs: Any) -> None:
        text = json_message.get("text") if isinstance(json_message, dict) else None
        if isinstance(text, str) and text.strip():
            await self.send_text_message(recipient_id, text)
        else:
            logger.debug("custom message without text not shown on Telegram")

    async def send_outbox_message(self, chat_id: int, message: Dict[str, Any]) -> None:
        """A hand-off message (bot.handoff.outbound): an agent's words under their name. Raises TelegramError."""
        text = str(message.get("text") or "")
        if message.get("from") == "agent" and message.get("agent"):
            text = f"人工客服{message['agent']}：\n{text}"
        buttons = message.get("buttons") if isinstance(message.get("buttons"), list) else None
        if text.strip() or buttons:
            await self.send_text(chat_id, text, buttons)
        if isinstance(message.get("image"), str):
            await self._call(lambda: self.bot.send_photo(chat_id, message["image"]))


# -- hand-off messages, each exactly once (bot.handoff.courier) -----------------------------------------
def delivered_key(conversation: str) -> str:
    """The conversation's cursor: the last outbox entry delivered to Telegram."""
    return cursor_key(CHANNEL, conversation)


async def send_outbox_entry(output: TelegramOutput, conversation: str, entry_id: str,
                            message: Dict[str, Any]) -> Outcome:
    """The courier's send: one outbox entry to the chat, and what became of it."""
    chat_id = chat_of(conversation)
    if chat_id is None:
        return DELIVERED
    try:
        await output.send_outbox_message(chat_id, message)
    except (Forbidden, TelegramBadRequest, TimedOut, ValueError) as error:
        # Refused for good, or may have arrived: counted as delivered, never sent twice.
        logger.warning("outbox entry %s of %s not (surely) delivered: %s", entry_id, conversation, error)
    except (NetworkError, RetryAfter, InvalidToken) as error:  # surely not sent: tried again later
        logger.warning("outbox entry %s of %s: Telegram unreachable (%s); retrying", entry_id, conversation, error)
        return RETRY
    except TelegramError as error:  # anything else Telegram says no to: it would say it again
        logger.warning("outbox entry %s of %s refused: %s", entry_id, conversation, error)
    return DELIVERED


class OutboxCourier(SharedCourier):
    """The shared outbox courier for `telegram:*` conversations, sending through `output` (module docstring)."""

    def __init__(self, client: aioredis.Redis, output: TelegramOutput, retention_seconds: int) -> None:
        super().__init__(client, CHANNEL, CONVERSATION_PREFIX, functools.partial(send_outbox_entry, output),
                         retention_seconds=retention_seconds, retry_seconds=RETRY_SECONDS,
                         accepts=lambda conversation: chat_of(conversation) is not None)
        self.output = output


# -- the channel ------------------------------------------------------------------------------------
class ShopTelegramInput(InputChannel):
    """Shoppers on Telegram: webhook or long polling, buttons, hand-off messages (module docstring)."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> ShopTelegramInput:
        credentials = credentials or {}
        return cls(max_chars=credentials.get("max_message_chars"),
                   poll_timeout=float(credentials.get("poll_timeout", 25)))

    def __init__(self, max_chars: Optional[int] = None, poll_timeout: float = 25,
                 settings: Optional[Settings] = None) -> None:
        settings = settings or load_settings()
        self.settings = settings
        self.max_chars = max_chars or settings.max_message_chars
        self.poll_timeout = poll_timeout
        self.secret = settings.telegram_webhook_secret or ""
        self.public_url = (settings.telegram_public_url or "").rstrip("/")
        self.bot_key = (settings.telegram_token or "").split(":", 1)[0]  # the bot's user id, not secret
        self.problem = self._check(settings)
        if self.problem:
            logger.warning("Telegram channel off: %s", self.problem)
        else:
            # httpx logs every request's URL at INFO, and a Bot API URL contains the token.
            logging.getLogger("httpx").setLevel(logging.WARNING)
        self.bot: Optional[Bot] = None
        self.output: Optional[TelegramOutput] = None
        self.redis: Optional[aioredis.Redis] = None
        self.courier: Optional[OutboxCourier] = None
        self.app: Optional[Sanic] = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._serving = asyncio.Event()
        self._chats = KeyedLocks()  # one update of a chat at a time, in arrival order

    @staticmethod
    def _check(settings: Settings) -> Optional[str]:
        if not settings.telegram_token:
            return "TELEGRAM_TOKEN is not set (the shop bot's token from @BotFather)"
        if settings.telegram_public_url:
            if not settings.telegram_webhook_secret:
                return ("TELEGRAM_PUBLIC_URL is set (webhook mode) but TELEGRAM_WEBHOOK_SECRET is not: a webhook "
                        "without a secret would take updates from anyone")
            if not SECRET_FORMAT.fullmatch(settings.telegram_webhook_secret):
                return "TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -"
            if not settings.telegram_public_url.startswith(("https://", "http://")):
                return "TELEGRAM_PUBLIC_URL must be a URL like https://shop.example.com"
        return None

    @property
    def webhook_url(self) -> str:
        return f"{self.public_url}/webhooks/{self.name()}{WEBHOOK_ROUTE}"

    @property
    def enabled(self) -> bool:
        return self.problem is None

    def get_output_channel(self) -> Optional[OutputChannel]:
        return self.output

    # -- life cycle -------------------------------------------------------------------------------
    async def start(self, app: Sanic, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        """The server starts: make the bot; listen for hand-off messages; poll when there is no webhook."""
        self.app = app
        if not self.enabled:
            return
        self._serving = asyncio.Event()
        self.bot = build_bot(self.settings)
        self.output = TelegramOutput(self.bot)
        if self.settings.redis_url:
            self.redis = new_async_redis(self.settings.redis_url)
            self.courier = OutboxCourier(self.redis, self.output, self.settings.retention_seconds)
            self._tasks.append(asyncio.create_task(listen(self.redis, self.courier.notified,
                                                          self.courier.subscribed), name="telegram-outbound"))
        else:
            logger.warning("Telegram channel: no REDIS_URL, agents' messages cannot reach Telegram shoppers")
        self._tasks.append(asyncio.create_task(self._connect(on_new_message), name="telegram-connect"))

    async def serving(self) -> None:
        self._serving.set()

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.courier is not None:
            await self.courier.close()
        if self.redis is not None:
            with contextlib.suppress(Exception):
                await self.redis.close()
        if self.bot is not None:
            with contextlib.suppress(Exception):
                await self.bot.shutdown()
        self.bot = self.output = self.redis = self.courier = None

    async def _connect(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        """Check the token, then register the webhook or start polling; Telegram being away only delays it."""
        assert self.bot is not None
        await self._serving.wait()
        delay = 1.0
        while True:
            try:
                await self.bot.initialize()
                if self.public_url:
                    await self.bot.set_webhook(self.webhook_url, secret_token=self.secret,
                                               allowed_updates=ALLOWED_UPDATES)
                    logger.info("Telegram channel: @%s, webhook %s", self.bot.username, self.webhook_url)
                    return
                info = await self.bot.get_webhook_info()
                if info.url:
                    logger.warning("Telegram channel: removing the webhook %s to poll (no TELEGRAM_PUBLIC_URL)",
                                   info.url)
                    await self.bot.delete_webhook()
                logger.info("Telegram channel: @%s, long polling (no TELEGRAM_PUBLIC_URL)", self.bot.username)
                break
            except InvalidToken:
                logger.warning("Telegram channel off: Telegram refused TELEGRAM_TOKEN")
                return
            except TelegramError as error:
                logger.warning("Telegram channel: cannot reach the Bot API (%s); trying again in %.0f s", error,
                               delay)
                await asyncio.sleep(delay)
                delay = min(60.0, delay * 2)
        await self._poll(on_new_message)

    async def _poll(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        assert self.bot is not None
        offset: Optional[int] = None
        delay = 1.0
        while True:
            try:
                updates = await self.bot.get_updates(offset=offset, timeout=int(self.poll_timeout),
                                                     allowed_updates=ALLOWED_UPDATES,
                                                     read_timeout=self.poll_timeout + 10)
                delay = 1.0
            except RetryAfter as wait:
                await asyncio.sleep(min(60.0, _seconds(wait.retry_after)))
                continue
            except Conflict as error:
                logger.warning("Telegram channel: %s (another process polls this bot, or a webhook is set)", error)
                await asyncio.sleep(5)
                continue
            except InvalidToken:
                logger.warning("Telegram channel off: Telegram refused TELEGRAM_TOKEN")
                return
            except TelegramError as error:
                logger.warning("Telegram channel: getUpdates failed (%s); again in %.0f s", error, delay)
                await asyncio.sleep(delay)
                delay = min(30.0, delay * 2)
                continue
            if updates:
                # One task per update; each chat's updates wait for each other in arrival order (KeyedLocks).
                await asyncio.gather(*(self.process(update, on_new_message) for update in updates))
                offset = updates[-1].update_id + 1  # confirms the batch only now that it was handled

    # -- receiving -----------------------------------------------------------------------------------
    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint("shop_telegram_webhook", __name__)

        @webhook.listener("before_server_start")
        async def starting(app: Sanic, _loop: object) -> None:
            await self.start(app, on_new_message)

        @webhook.listener("after_server_start")
        async def started(_app: Sanic, _loop: object) -> None:
            await self.serving()

        @webhook.listener("after_server_stop")
        async def stopped(_app: Sanic, _loop: object) -> None:
            await self.stop()

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.enabled else "off",
                                  "mode": "webhook" if self.public_url else "polling"})

        @webhook.route(WEBHOOK_ROUTE, methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            given = request.headers.get(SECRET_HEADER) or ""
            if not self.secret or not hmac.compare_digest(given.encode(), self.secret.encode()):
                return response.json({"error": "forbidden", "message": f"wrong or missing {SECRET_HEADER}"},
                                     status=403)
            if self.bot is None:
                return response.json({"error": "unavailable", "message": "the Telegram channel is not running"},
                                     status=503)
            try:
                update = self.parse(request.body)
            except ValueError as error:
                return response.json({"error": "bad_request", "message": str(error)}, status=400)
            await self.process(update, on_new_message)
            return response.json({"ok": True})

        return webhook

    def parse(self, body: Optional[bytes]) -> Update:
        """A webhook body as an Update, or ValueError saying what is wrong with it."""
        try:
            data = json.loads(body or b"")
        except (ValueError, UnicodeDecodeError) as error:
            raise ValueError(f"body is not valid JSON: {error}") from None
        except RecursionError:
            raise ValueError("body is nested too deeply") from None
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int) \
                or isinstance(data.get("update_id"), bool):
            raise ValueError("body must be a Telegram Update: a JSON object with an integer 'update_id'")
        try:
            return Update.de_json(data, self.bot)
        except Exception as error:  # noqa: BLE001 - any shape PTB cannot read is the sender's mistake
            raise ValueError(f"not a Telegram Update: {type(error).__name__}: {error}") from None

    async def process(self, update: Update, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        """Handle one update; never raises (a failure is logged and the shopper asked to write again)."""
        chat = update.effective_chat
        # Taken before anything awaits, so a chat's updates (polled in a batch) keep their order.
        async with self._chats.hold(chat.id if chat else f"update:{update.update_id}"):
            if not await self._first_time(update.update_id):
                logger.info("Telegram update %s was already handled", update.update_id)
                return
            try:
                if update.callback_query is not None:
                    await self._on_button(update.callback_query, on_new_message)
                elif update.message is not None:
                    await self._on_message(update.message, on_new_message)
                elif update.edited_message is not None:
                    await self._reply(update.edited_message, EDITED_REPLY)
                else:
                    logger.debug("Telegram update %s of no use to the shop dropped", update.update_id)
            except Exception:
                logger.exception("Telegram update %s failed", update.update_id)
                if chat is not None and chat.type == "private" and self.output is not None:
                    await self.output.send_text_message(conversation_of(chat.id), FAILED_REPLY)

    async def _first_time(self, update_id: int) -> bool:
        if self.redis is None or self.bot is None:
            return True
        try:
            return bool(await self.redis.set(f"{REDIS_PREFIX}:update:{self.bot_key}:{update_id}", 1, nx=True,
                                             ex=SEEN_SECONDS))
        except Exception:  # Redis away: handling it (maybe twice) beats dropping it
            logger.warning("Telegram channel: cannot check update %s against Redis", update_id, exc_info=True)
            return True

    async def _reply(self, message: Message, text: str) -> None:
        if message.chat.type == "private" and self.output is not None:
            await self.output.send_text_message(conversation_of(message.chat.id), text)

    def _user_message(self, text: str, conversation: str, user_id: Optional[int]) -> UserMessage:
        assert self.output is not None
        who = f"telegram:{user_id}" if user_id is not None else conversation
        return UserMessage(text, self.output, conversation, input_channel=self.name(),
                           metadata={USER_ID_KEY: user_id, CLIENT_KEY: who})

    async def _on_message(self, message: Message, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        user = message.from_user
        if message.chat.type != "private" or user is None or user.is_bot:
            logger.debug("Telegram message outside a private chat ignored (chat %s)", message.chat.id)
            return
        conversation = conversation_of(message.chat.id)
        text = message.text
        if text is None:
            if any(getattr(message, kind, None) for kind in SHOPPER_CONTENT):
                await self._reply(message, UNSUPPORTED_REPLY)
            return
        if re.fullmatch(r"/start(@\w+)?(\s.*)?", text, flags=re.S):
            text = START_TEXT
        screened = screen_message(text, self.max_chars)
        if screened.reply is not None:
            await self._reply(message, screened.reply)
            return
        if not rate_limiter().allow_message(conversation):
            await self._reply(message, SLOW_DOWN_REPLY)
            return
        await deliver(on_new_message, self._user_message(screened.text, conversation, user.id), self.app)

    async def _on_button(self, query: CallbackQuery, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        assert self.bot is not None
        message = query.message
        chat = message.chat if message is not None else None
        if chat is None or chat.type != "private" or not query.data or query.from_user.is_bot:
            await self._answer(query)
            return
        conversation = conversation_of(chat.id)
        payload = payload_of(query.data, await offered_to(self.app, conversation)
                             if query.data.startswith(HASHED) else set())
        if payload is None:
            await self._answer(query, EXPIRED_BUTTON)
            return
        screened = screen_message(payload, max(self.max_chars, MAX_TEXT))
        if screened.reply is not None:
            await self._answer(query)
            return
        if not rate_limiter().allow_message(conversation):
            await self._answer(query, SLOW_DOWN_REPLY)
            return
        await self._answer(query)
        await deliver(on_new_message, self._user_message(screened.text, conversation, query.from_user.id),
                      self.app)

    async def _answer(self, query: CallbackQuery, text: Optional[str] = None) -> None:
        """Stop the button's spinner (a short notice when there is something to say)."""
        assert self.bot is not None
        try:
            await self.bot.answer_callback_query(query.id, text=text)
        except TelegramError as error:
            logger.info("answerCallbackQuery %s: %s", query.id, error)
