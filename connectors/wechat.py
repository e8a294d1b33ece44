"""WeChat Official Account (公众号) channel: WeChat's message callback on /webhooks/wechat/webhook.

Protocol (WeChat's "接收普通消息 / 被动回复 / 客服消息" APIs):

- GET is WeChat's URL check: `signature = sha1(sorted(token, timestamp, nonce))`; the
  `echostr` is echoed only when the signature is right (403 otherwise).
- POST is a shopper's message or an event as XML. Every request's `signature` is
  checked (403 when wrong, or when its `timestamp` is more than MAX_CLOCK_SKEW
  seconds off). With `WECHAT_AES_KEY` set the account is in safe mode (安全模式; also
  兼容模式): a POST must be encrypted (`encrypt_type=aes`) with a valid
  `msg_signature` over the ciphertext, and the passive reply is encrypted too
  (wechatpy's WeChatCrypto). Plain requests are then refused: in plain mode the
  signature does not cover the body.
- WeChat waits 5 s for an answer, then retries (same MsgId). The bot's answer goes
  back in the HTTP response (a passive reply) when it is ready within the budget
  (`reply_budget_seconds`, default 4); otherwise the channel answers "success"
  and sends the answer through the customer-service message API
  (`message/custom/send`) when it is ready. Each message is de-duplicated in Redis
  (MsgId; FromUserName + CreateTime + Event + EventKey for events): a retry never runs the bot again,
  it waits for the first attempt's answer and returns it passively when that answer
  is ready and nobody has sent it yet. The answer is sent exactly once, passively
  or by the API, whichever claims it first (one Redis hash per message, HSETNX).
  A turn costs two Redis round trips besides the rate limit: one to take the message
  (and the numbered options listed last), one to store the answer and claim the
  passive reply for the request waiting in this process.
- The access token is fetched from `/cgi-bin/token`, cached in Redis (shared by every
  process) until 5 minutes before it expires, and fetched again on errcode
  40001/40014/42001.

Messages: text goes to the bot (screened and rate-limited like the web chat, then
`connectors.deliver.deliver`, which runs the hand-off's ownership gate); a voice
message with WeChat's speech recognition (`Recognition`) is read as text; other
types (image, voice, video, location, link...) get a polite "please type" answer;
`subscribe` gets the welcome text; a menu CLICK whose EventKey is in the `menu`
mapping is handed to the bot as that text; `unsubscribe` and other events get
nothing. Malformed XML, missing fields, XML with a DOCTYPE and bodies over
MAX_BODY_BYTES are refused with 400/413, never a 500.

Buttons have no native rendering: the bot's buttons are listed as numbered lines
("1. 查订单"), and a shopper's next message that is just one of those numbers
("1", "１") is handed to the bot as that button's payload. The numbers hold for
the next message only (Redis, per conversation); any other message clears them.

Hand-off: agents' messages and queue updates for `wechat:*` conversations
(bot.handoff.outbound) are sent with the customer-service API by the shared
outbox courier (bot.handoff.courier): each once, in order, across processes and
restarts; after (re)subscribing, and after each shopper message, pending outbox
entries are caught up. When WeChat refuses (45015: the shopper last wrote more
than 48 h ago; 45047: too many messages) the entry stays undelivered and goes out
after the shopper's next message. A process dying between sending and recording
an entry resends that one entry.

credentials.yml::

    connectors.wechat.ShopWeChatInput:
      reply_budget_seconds: 4      # passive reply when the answer is ready within this
      welcome: "..."               # answer to a new follower (optional)
      menu:                        # custom menu CLICK EventKey -> what the shopper "says"
        ORDER_STATUS: "查订单"

Settings (bot.config): WECHAT_APP_ID, WECHAT_APP_SECRET, WECHAT_TOKEN,
WECHAT_AES_KEY (optional), WECHAT_API_URL. Without the first three, or without
Redis, the channel logs one warning and answers 503; the other channels run on.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import time
import unicodedata
import uuid
from typing import Any, Awaitable, Callable, Dict, Optional
from xml.parsers.expat import ExpatError

import aiohttp
import redis
import redis.asyncio as aioredis
import xmltodict
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import TextReply

from bot.config import Settings, load_settings
from bot.guard.rate_limit import SLOW_DOWN_REPLY, rate_limiter
from bot.guard.screening import CLIENT_KEY, screen_message
from bot.handoff import keys
from bot.handoff.courier import DELIVERED, HOLD, RETRY, OutboxCourier, Outcome
from bot.handoff.outbound import listen
from bot.runtime.redis_clients import new_async_redis
from connectors.deliver import deliver

logger = logging.getLogger(__name__)

CHANNEL = "wechat"
CONVERSATION_PREFIX = "wechat:"
PREFIX = "shop:wechat"
MAX_BODY_BYTES = 16 * 1024  # WeChat's callbacks are a few hundred bytes
MAX_CLOCK_SKEW = 600  # seconds between a request's timestamp and our clock
MAX_BUDGET_SECONDS = 4.5  # WeChat gives up after 5 s
TURN_TTL_SECONDS = 600  # how long a message's de-duplication record lives (WeChat retries within ~15 s)
MENU_TTL_SECONDS = 24 * 3600
MAX_TEXT_BYTES = 2000  # WeChat refuses text over 2048 bytes (45002)
TOKEN_MARGIN_SECONDS = 300  # a cached access token is dropped this long before WeChat expires it
TOKEN_ERRORS = frozenset({40001, 40014, 42001})  # invalid / expired access token: fetch a new one
OPENID = re.compile(r"[A-Za-z0-9_-]{1,64}")
CHOICE = re.compile(r"\d{1,2}")

WELCOME = ("您好，欢迎关注！我是店铺的智能客服，可以帮您查订单、查物流、问商品、办退换货～"
           "直接发文字告诉我您的问题就好。")
PLEASE_TYPE_REPLY = "亲，我暂时只能看懂文字消息哦～请直接打字描述您的问题，我马上帮您处理。"
SORRY_REPLY = "亲，系统开了个小差，请稍后再发一次，给您添麻烦了。"
CHOOSE_HINT = "（回复数字即可选择）"

# Lua: one Redis round trip per step of a message's life (see the module docstring). A new message also takes
# the numbered options listed last (KEYS[2]): they hold for the next message only.
BEGIN = """
local new = redis.call('HSETNX', KEYS[1], 'started', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'waiting', 1)
local menu = false
if new == 1 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  menu = redis.call('GET', KEYS[2])
  if menu then redis.call('DEL', KEYS[2]) end
end
return {new, redis.call('HGET', KEYS[1], 'sent'), redis.call('HGET', KEYS[1], 'answer'), menu}
"""
# The turn's answer is ready: store it (and the options it lists, KEYS[2]); when ARGV[4] requests of this process
# wait for it, claim the passive reply for them (they no longer count as waiting). Also: whether the conversation
# has an outbox (KEYS[3]), whose undelivered messages may go now that the shopper wrote.
FINISH = """
redis.call('HSET', KEYS[1], 'answer', ARGV[1])
if ARGV[2] ~= '' then redis.call('SET', KEYS[2], ARGV[2], 'EX', tonumber(ARGV[3])) end
local sent = false
local taken = tonumber(ARGV[4])
if taken > 0 then
  redis.call('HSETNX', KEYS[1], 'sent', 'passive')
  redis.call('HINCRBY', KEYS[1], 'waiting', -taken)
  sent = redis.call('HGET', KEYS[1], 'sent')
end
return {sent, redis.call('EXISTS', KEYS[3])}
"""
CLAIM_PASSIVE = """
redis.call('HSETNX', KEYS[1], 'sent', 'passive')
redis.call('HINCRBY', KEYS[1], 'waiting', -1)
return redis.call('HGET', KEYS[1], 'sent')
"""
CLAIM_API = """
local sent = redis.call('HGET', KEYS[1], 'sent')
if sent then return sent end
if tonumber(redis.call('HGET', KEYS[1], 'waiting') or '0') > 0 and ARGV[1] ~= '1' then return false end
redis.call('HSET', KEYS[1], 'sent', 'api')
return 'api'
"""
COMPARE_AND_DELETE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

class _Waiter:
    """A request of this process waiting for a turn's answer; `taken` once the turn claimed the passive reply
    for it."""

    __slots__ = ("taken",)

    def __init__(self) -> None:
        self.taken = False


class Refused(Exception):
    """A request that is not WeChat's or cannot be read: answered with `status` and the reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class WeChatApiError(Exception):
    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(f"WeChat API error {errcode}: {errmsg}")
        self.errcode = errcode


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def menu_key(conversation: str) -> str:
    """The payloads of the numbered options the bot listed last in the conversation."""
    return f"{PREFIX}:menu:{conversation}"


def legacy_delivered_key(conversation: str) -> str:
    """Where the channel kept its outbox cursor before bot.handoff.courier (read once, then the courier's)."""
    return f"{PREFIX}:delivered:{conversation}"


def signature_of(*parts: str) -> str:
    """WeChat's signature: sha1 of the parts sorted and joined."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def _same(expected: str, given: Any) -> bool:
    return isinstance(given, str) and hmac.compare_digest(expected.encode(), given.encode())


def parse_xml(text: str) -> Dict[str, Any]:
    """The fields of a WeChat XML message (`<xml>...</xml>`), or Refused(400)."""
    lowered = text.lower()
    if "<!doctype" in lowered or "<!entity" in lowered:
        raise Refused(400, "XML with a DOCTYPE or entities is not accepted")
    try:
        document = xmltodict.parse(text)
    except (ExpatError, ValueError) as error:
        raise Refused(400, f"malformed XML: {error}") from None
    fields = document.get("xml") if isinstance(document, dict) else None
    if not isinstance(fields, dict):
        raise Refused(400, "the body must be an <xml> element with fields")
    return fields


def check_message(fields: Dict[str, Any]) -> None:
    """Refused(400) unless the fields every WeChat message has are there and well formed."""
    for name in ("ToUserName", "FromUserName", "CreateTime", "MsgType"):
        if not isinstance(fields.get(name), str) or not fields[name].strip():
            raise Refused(400, f"missing field {name}")
    if not OPENID.fullmatch(fields["FromUserName"]):
        raise Refused(400, "FromUserName is not an OpenID")
    if not fields["CreateTime"].isdigit():
        raise Refused(400, "CreateTime must be a number")
    if "MsgId" in fields and not (isinstance(fields["MsgId"], str) and fields["MsgId"].isdigit()):
        raise Refused(400, "MsgId must be a number")


def split_text(text: str, limit: int = MAX_TEXT_BYTES) -> list[str]:
    """`text` in pieces of at most `limit` UTF-8 bytes, cut at line ends where possible."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if len(candidate.encode()) <= limit:
            current = candidate
            continue
        if current:
            pieces.append(current)
        current = ""
        for char in line:  # a line too long by itself: cut it by characters
            if len((current + char).encode()) > limit:
                pieces.append(current)
                current = ""
            current += char
    if current:
        pieces.append(current)
    return pieces


def render(messages: list[Dict[str, Any]]) -> tuple[list[str], list[str]]:
    """The bot's messages as WeChat texts (each within MAX_TEXT_BYTES), and the payloads of the numbered options."""
    blocks: list[str] = []
    payloads: list[str] = []
    for message in messages:
        lines = []
        if message.get("from") == "agent" and message.get("agent"):
            lines.append(f"【人工客服·{message['agent']}】")
        if message.get("text"):
            lines.append(str(message["text"]))
        if message.get("image"):
            lines.append(f"[图片] {message['image']}")
        buttons = list(message.get("buttons") or []) + list(message.get("quick_replies") or [])
        for button in buttons:
            if not isinstance(button, dict):
                continue
            title = str(button.get("title") or button.get("payload") or "")
            if button.get("url"):
                lines.append(f"{title}：{button['url']}")
                continue
            payloads.append(str(button.get("payload") or title))
            lines.append(f"{len(payloads)}. {title}")
        if lines:
            blocks.append("\n".join(lines))
    if payloads:
        blocks.append(CHOOSE_HINT)
    text = "\n\n".join(blocks)
    return (split_text(text) if text else []), payloads


def choice_of(text: str, payloads: list[str]) -> Optional[str]:
    """The payload a reply of just a number picks from the options listed last, if it is one."""
    number = unicodedata.normalize("NFKC", text).strip().rstrip(".。")
    if CHOICE.fullmatch(number) and 1 <= int(number) <= len(payloads):
        return payloads[int(number) - 1]
    return None


class WeChatApi:
    """The Official Account API calls the channel makes: access token, customer-service messages."""

    def __init__(self, base_url: str, app_id: str, secret: str, client: aioredis.Redis,
                 session: aiohttp.ClientSession) -> None:
        self.base_url = base_url.rstrip("/")
        self.app_id = app_id
        self._secret = secret
        self.redis = client
        self.session = session
        self.token_key = f"{PREFIX}:token:{app_id}"
        self._fetching = asyncio.Lock()

    async def access_token(self) -> str:
        cached = await self.redis.get(self.token_key)
        if cached:
            return _text(cached)
        async with self._fetching:  # one fetch per process; the Redis lock makes it one for all processes
            cached = await self.redis.get(self.token_key)
            if cached:
                return _text(cached)
            lock_key, owner = f"{self.token_key}:lock", uuid.uuid4().hex
            for _ in range(50):  # another process is fetching: wait up to 5 s for its token
                if await self.redis.set(lock_key, owner, nx=True, px=10_000):
                    break
                await asyncio.sleep(0.1)
                cached = await self.redis.get(self.token_key)
                if cached:
                    return _text(cached)
            try:
                return await self._fetch_token()
            finally:
                await self.redis.eval(COMPARE_AND_DELETE, 1, lock_key, owner)

    async def _fetch_token(self) -> str:
        params = {"grant_type": "client_credential", "appid": self.app_id, "secret": self._secret}
        async with self.session.get(f"{self.base_url}/cgi-bin/token", params=params) as reply:
            data = await reply.json(content_type=None)
        if not isinstance(data, dict) or not data.get("access_token"):
            raise WeChatApiError(int((data or {}).get("errcode", -1)), str((data or {}).get("errmsg", "no token")))
        token = str(data["access_token"])
        lifetime = int(data.get("expires_in") or 7200)
        await self.redis.set(self.token_key, token, ex=max(30, lifetime - TOKEN_MARGIN_SECONDS))
        logger.info("WeChat access token fetched (valid %d s)", lifetime)
        return token

    async def post(self, path: str, payload: Dict[str, Any]) -> Dict[str, Any]:
        """POST JSON to the API with the access token; a rejected token is replaced once. WeChatApiError."""
        body = json.dumps(payload, ensure_ascii=False).encode()  # WeChat shows \\u escapes literally
        for attempt in range(2):
            token = await self.access_token()
            async with self.session.post(f"{self.base_url}{path}", params={"access_token": token}, data=body,
                                         headers={"Content-Type": "application/json; charset=utf-8"}) as reply:
                data = await reply.json(content_type=None)
            errcode = int(data.get("errcode", 0)) if isinstance(data, dict) else -1
            if errcode in TOKEN_ERRORS and attempt == 0:
                logger.info("WeChat refused the access token (%d); fetching a new one", errcode)
                await self.redis.eval(COMPARE_AND_DELETE, 1, self.token_key, token)
                continue
            if errcode != 0:
                raise WeChatApiError(errcode, str(data.get("errmsg", "")) if isinstance(data, dict) else "")
            return data
        raise AssertionError("unreachable")

    async def send_text(self, openid: str, text: str) -> None:
        await self.post("/cgi-bin/message/custom/send",
                        {"touser": openid, "msgtype": "text", "text": {"content": text}})


class ShopWeChatInput(InputChannel):
    """A WeChat Official Account's message callback, with passive replies and customer-service messages."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> ShopWeChatInput:
        credentials = credentials or {}
        return cls(reply_budget_seconds=float(credentials.get("reply_budget_seconds") or 4.0),
                   welcome=credentials.get("welcome"), menu=credentials.get("menu"),
                   max_chars=credentials.get("max_message_chars"))

    def __init__(self, reply_budget_seconds: float = 4.0, welcome: Optional[str] = None,
                 menu: Optional[Dict[str, str]] = None, max_chars: Optional[int] = None,
                 settings: Optional[Settings] = None) -> None:
        settings = settings or load_settings()
        self.budget = min(MAX_BUDGET_SECONDS, max(0.0, reply_budget_seconds))
        self.welcome = welcome or WELCOME
        self.menu = {str(k): str(v) for k, v in (menu or {}).items()}
        self.max_chars = max_chars or settings.max_message_chars
        self.retention_seconds = settings.retention_seconds
        self.app_id = settings.wechat_app_id or ""
        self._secret = settings.wechat_app_secret or ""
        self.token = settings.wechat_token or ""
        self.api_url = settings.wechat_api_url
        self.redis_url = settings.redis_url
        self.crypto: Optional[WeChatCrypto] = None
        missing = [name for name, value in (("WECHAT_APP_ID", self.app_id), ("WECHAT_APP_SECRET", self._secret),
                                            ("WECHAT_TOKEN", self.token), ("REDIS_URL", self.redis_url)) if not value]
        if not missing and settings.wechat_aes_key:
            try:
                self.crypto = WeChatCrypto(self.token, settings.wechat_aes_key, self.app_id)
            except (AssertionError, ValueError, TypeError):
                missing.append("a valid WECHAT_AES_KEY (43 characters)")
        self.configured = not missing
        if missing:
            logger.warning("WeChat channel off: set %s. /webhooks/wechat/webhook answers 503; other channels run on",
                           ", ".join(missing))
        self.redis: Optional[aioredis.Redis] = None
        self.api: Optional[WeChatApi] = None
        self.courier: Optional[OutboxCourier] = None
        self._session: Optional[aiohttp.ClientSession] = None
        self._tasks: set[asyncio.Task] = set()
        self._answers: Dict[str, asyncio.Future] = {}  # this process's turns in progress: (texts, how sent)
        self._waiters: Dict[str, list[_Waiter]] = {}  # requests of this process waiting for those answers
        self._scripts: Dict[str, Any] = {}

    # -- the callback ---------------------------------------------------------------------
    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint("shop_wechat_webhook", __name__)
        app_holder: Dict[str, Sanic] = {}

        @webhook.listener("before_server_start")
        async def start(app: Sanic, _loop: object) -> None:
            app_holder["app"] = app
            if not self.configured or not self.redis_url:
                return
            self.redis = new_async_redis(self.redis_url)
            self._scripts = {name: self.redis.register_script(script) for name, script in
                             (("begin", BEGIN), ("finish", FINISH), ("claim_passive", CLAIM_PASSIVE),
                              ("claim_api", CLAIM_API))}
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
            self.api = WeChatApi(self.api_url, self.app_id, self._secret, self.redis, self._session)
            self.courier = OutboxCourier(self.redis, CHANNEL, CONVERSATION_PREFIX, self._send_outbox_entry,
                                         retention_seconds=self.retention_seconds, accepts=_addressable,
                                         legacy_cursor=self._legacy_cursor)
            self._spawn(listen(new_async_redis(self.redis_url), self.courier.notified, self.courier.subscribed))

        @webhook.listener("after_server_stop")
        async def stop(_app: Sanic, _loop: object) -> None:
            for task in list(self._tasks):
                task.cancel()
            if self.courier is not None:
                await self.courier.close()
            if self._session is not None:
                await self._session.close()
            if self.redis is not None:
                await self.redis.close()

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.configured else "not configured"})

        @webhook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            if not self.configured:
                return _not_configured()
            args = request.args
            if not self._signed(args.get("signature"), args.get("timestamp", ""), args.get("nonce", "")):
                return response.text("wrong signature", status=403)
            return response.text(args.get("echostr", ""))

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            started = time.monotonic()
            if not self.configured:
                return _not_configured()
            try:
                fields, encrypted = self._read(request)
                answer = await self._answer(fields, on_new_message, app_holder.get("app"), started)
            except Refused as error:
                return response.text(str(error), status=error.status)
            except redis.RedisError:
                logger.exception("WeChat channel: Redis unavailable")
                answer = SORRY_REPLY
            if answer is None:
                return response.text("success")
            reply = TextReply(source=_cdata(fields["ToUserName"]), target=_cdata(fields["FromUserName"]),
                              content=_cdata(answer)).render()
            if encrypted and self.crypto is not None:
                reply = self.crypto.encrypt_message(reply, request.args.get("nonce", ""), str(int(time.time())))
            return response.text(reply, content_type="application/xml; charset=utf-8")

        return webhook

    def _signed(self, signature: Any, timestamp: str, nonce: str) -> bool:
        return _same(signature_of(self.token, timestamp, nonce), signature)

    def _read(self, request: Request) -> tuple[Dict[str, Any], bool]:
        """The message fields of a POST, checked: (fields, whether it came encrypted). Refused."""
        body = request.body or b""
        if len(body) > MAX_BODY_BYTES:
            raise Refused(413, f"body over {MAX_BODY_BYTES} bytes")
        args = request.args
        timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
        if not self._signed(args.get("signature"), timestamp, nonce):
            raise Refused(403, "wrong signature")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > MAX_CLOCK_SKEW:
            raise Refused(403, "timestamp too far from now")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused(400, "the body is not UTF-8") from None
        encrypted = args.get("encrypt_type") == "aes"
        if self.crypto is None and encrypted:
            raise Refused(400, "an encrypted message, but no WECHAT_AES_KEY is configured (safe mode)")
        if self.crypto is not None:
            if not encrypted:
                raise Refused(403, "safe mode: messages must be encrypted (encrypt_type=aes)")
            text = self._decrypt(parse_xml(text), args.get("msg_signature"), timestamp, nonce)
        fields = parse_xml(text)
        check_message(fields)
        return fields, encrypted

    def _decrypt(self, envelope: Dict[str, Any], msg_signature: Any, timestamp: str, nonce: str) -> str:
        assert self.crypto is not None
        encrypt = envelope.get("Encrypt")
        if not isinstance(encrypt, str) or not encrypt:
            raise Refused(400, "missing field Encrypt")
        if not _same(signature_of(self.token, timestamp, nonce, encrypt), msg_signature):
            raise Refused(403, "wrong msg_signature")
        try:
            return str(self.crypto.decrypt_message({"Encrypt": encrypt}, msg_signature, timestamp, nonce))
        except InvalidSignatureException:
            raise Refused(403, "wrong msg_signature") from None
        except InvalidAppIdException:
            raise Refused(403, "encrypted for another AppID") from None
        except Exception:  # noqa: BLE001 - bad base64, padding, length: the ciphertext is not WeChat's
            raise Refused(400, "Encrypt cannot be decrypted") from None

    async def _answer(self, fields: Dict[str, Any], on_new_message: Callable[[UserMessage], Awaitable[Any]],
                      app: Optional[Sanic], started: float) -> Optional[str]:
        """What to reply passively (None: "success")."""
        openid = fields["FromUserName"]
        msg_type = str(fields["MsgType"]).lower()
        # WeChat's advice for events is FromUserName + CreateTime; two different events (a menu click right
        # after another) can share a second, so the event and its key are part of it: a retry is identical.
        dedup = (f"msg:{fields['MsgId']}" if fields.get("MsgId")
                 else f"event:{openid}:{fields['CreateTime']}:{fields.get('Event', '')}:{fields.get('EventKey', '')}")
        if msg_type == "text":
            return await self._turn(on_new_message, app, openid, fields.get("Content") or "", dedup, started)
        if msg_type == "voice" and isinstance(fields.get("Recognition"), str) and fields["Recognition"].strip():
            return await self._turn(on_new_message, app, openid, fields["Recognition"], dedup, started)
        if msg_type == "event":
            event = str(fields.get("Event") or "").lower()
            if event == "subscribe":  # also a follow by scanning a QR code (EventKey qrscene_...)
                return self.welcome
            if event == "click":
                key = fields.get("EventKey")
                said = self.menu.get(key) if isinstance(key, str) else None
                if said is None:
                    logger.warning("WeChat menu key %r has no entry under menu: in credentials.yml", key)
                    return PLEASE_TYPE_REPLY
                return await self._turn(on_new_message, app, openid, said, dedup, started)
            return None  # unsubscribe, VIEW, LOCATION, template job reports...: nothing to say
        return PLEASE_TYPE_REPLY

    # -- a turn within WeChat's 5 s -----------------------------------------------------------
    async def _turn(self, on_new_message: Callable[[UserMessage], Awaitable[Any]], app: Optional[Sanic],
                    openid: str, text: str, dedup: str, started: float) -> Optional[str]:
        assert self.redis is not None
        conversation = CONVERSATION_PREFIX + openid
        screened = screen_message(text, self.max_chars)
        if screened.reply is not None:
            return screened.reply
        turn_key = f"{PREFIX}:turn:{dedup}"
        new, sent, stored, listed = await self._scripts["begin"](keys=[turn_key, menu_key(conversation)],
                                                                 args=[TURN_TTL_SECONDS, int(time.time())])
        if new:
            produced: asyncio.Future = asyncio.get_running_loop().create_future()
            self._answers[turn_key] = produced
            self._spawn(self._produce(turn_key, openid, produced,
                                      self._bot(on_new_message, app, conversation, screened.text, listed)))
        elif sent is not None:  # a retry after the answer went out
            await self.redis.hincrby(turn_key, "waiting", -1)
            return _first(stored) if _text(sent) == "passive" else None
        return await self._await_answer(turn_key, started)

    async def _bot(self, on_new_message: Callable[[UserMessage], Awaitable[Any]], app: Optional[Sanic],
                   conversation: str, text: str, listed: Any) -> list[Dict[str, Any]]:
        """The bot's answer to the shopper's text, through the hand-off's gate. `listed`: the options listed
        last (taken by BEGIN; put back when the message does not reach the bot)."""
        assert self.redis is not None
        if not rate_limiter().allow_message(conversation):
            if listed:
                await self.redis.set(menu_key(conversation), listed, nx=True, ex=MENU_TTL_SECONDS)
            return [{"text": SLOW_DOWN_REPLY}]
        payload = choice_of(text, json.loads(listed)) if listed else None
        collector = CollectingOutputChannel()
        await deliver(on_new_message, UserMessage(payload or text, collector, conversation, input_channel=CHANNEL,
                                                  metadata={CLIENT_KEY: conversation}), app)
        return collector.messages

    async def _produce(self, turn_key: str, openid: str, produced: asyncio.Future,
                       bot: Awaitable[list[Dict[str, Any]]]) -> None:
        """Run the turn, publish its answer, then send it by the API unless a request claims it first.

        The requests of this process that wait for the answer (normally the one that brought the message) get
        the passive reply claimed for them in the same round trip that stores the answer: no further Redis
        call on the way back to WeChat."""
        assert self.redis is not None
        try:
            try:
                messages = await bot
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("the bot failed on a WeChat message")
                messages = [{"text": SORRY_REPLY}]
            texts, payloads = render(messages)
            texts = texts or [SORRY_REPLY]
            conversation = CONVERSATION_PREFIX + openid
            waiters = self._waiters.pop(turn_key, [])
            for waiter in waiters:  # taken before the round trip: a waiter timing out meanwhile still gets it
                waiter.taken = True
            sent, outbox = await self._scripts["finish"](
                keys=[turn_key, menu_key(conversation), keys.outbox(conversation)],
                args=[json.dumps(texts, ensure_ascii=False), json.dumps(payloads, ensure_ascii=False) if payloads
                      else "", MENU_TTL_SECONDS, len(waiters)])
            produced.set_result((texts, _text(sent) if sent is not None else None))
            if outbox and self.courier is not None:
                self.courier.kick(conversation)  # what WeChat refused before (45015) can go now the shopper wrote
            give_up = time.monotonic() + self.budget + 1.0
            while sent is None:  # a request elsewhere waits for this answer: it will reply passively
                sent = await self._scripts["claim_api"](keys=[turn_key], args=[int(time.monotonic() > give_up)])
                if sent is None:
                    await asyncio.sleep(0.05)
            rest = texts if _text(sent) == "api" else texts[1:]
            for text in rest:
                try:
                    assert self.api is not None
                    await self.api.send_text(openid, text)
                except (WeChatApiError, aiohttp.ClientError, asyncio.TimeoutError, ValueError,
                        redis.RedisError) as error:
                    logger.warning("could not send an answer through WeChat's customer-service API: %s",
                                   error if isinstance(error, WeChatApiError) else type(error).__name__)
                    break
        finally:
            if not produced.done():
                produced.cancel()
            self._waiters.pop(turn_key, None)
            asyncio.get_running_loop().call_later(5, self._answers.pop, turn_key, None)

    async def _await_answer(self, turn_key: str, started: float) -> Optional[str]:
        """Wait within the budget for the message's answer; the first text when this request may reply with it."""
        assert self.redis is not None
        deadline = started + self.budget
        texts: Optional[list[str]] = None
        counted = True  # this request still counts in the turn's 'waiting'
        try:
            produced = self._answers.get(turn_key)
            if produced is not None and not produced.done():  # the turn runs here: no polling
                waiter = _Waiter()
                self._waiters.setdefault(turn_key, []).append(waiter)
                try:  # (asyncio.wait leaves the turn running on timeout)
                    await asyncio.wait({produced}, timeout=max(0.0, deadline - time.monotonic()))
                finally:
                    if not waiter.taken:
                        waiting = self._waiters.get(turn_key)
                        if waiting is not None and waiter in waiting:
                            waiting.remove(waiter)
                if waiter.taken:  # the turn claimed the passive reply for this request (or tried to)
                    counted = False
                    if not produced.done():  # its round trip is under way
                        await asyncio.wait({produced}, timeout=2.0)
                    if not produced.done() or produced.cancelled() or produced.exception() is not None:
                        return None
                    texts, sent = produced.result()
                    return texts[0] if sent == "passive" else None
            if produced is not None and produced.done() and not produced.cancelled() \
                    and produced.exception() is None:
                texts = produced.result()[0]
            while texts is None:  # the turn runs in another process (or this wait timed out: one last look)
                stored = await self.redis.hget(turn_key, "answer")
                if stored is not None:
                    texts = json.loads(stored)
                    break
                if time.monotonic() >= deadline:
                    break
                await asyncio.sleep(0.1)
        finally:
            if texts is None and counted:
                await self.redis.hincrby(turn_key, "waiting", -1)
        if texts is None:
            return None
        sent = await self._scripts["claim_passive"](keys=[turn_key])
        return texts[0] if _text(sent) == "passive" else None

    # -- hand-off messages (bot.handoff.courier) ------------------------------------------------------
    async def _legacy_cursor(self, conversation: str) -> Optional[str]:
        assert self.redis is not None
        value = await self.redis.get(legacy_delivered_key(conversation))
        return _text(value) if value is not None else None

    async def _send_outbox_entry(self, conversation: str, _entry_id: str, message: Dict[str, Any]) -> Outcome:
        """The courier's send: one outbox entry by the customer-service API."""
        assert self.redis is not None and self.api is not None
        openid = conversation[len(CONVERSATION_PREFIX):]
        texts, payloads = render([message])
        try:
            for text in texts:
                await self.api.send_text(openid, text)
        except WeChatApiError as error:
            # 45015: the shopper last wrote over 48 h ago. The entry waits for their next message.
            logger.warning("WeChat did not take a hand-off message (%s); it stays in the outbox", error)
            return HOLD
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            logger.warning("hand-off messages to a WeChat shopper wait: %s", type(error).__name__)
            return RETRY
        if payloads:
            await self.redis.set(menu_key(conversation), json.dumps(payloads, ensure_ascii=False),
                                 ex=MENU_TTL_SECONDS)
        return DELIVERED

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _addressable(conversation: str) -> bool:
    return OPENID.fullmatch(conversation[len(CONVERSATION_PREFIX):]) is not None


def _cdata(text: str) -> str:
    """`text` safe inside wechatpy's <![CDATA[...]]> (a "]]>" would end it early)."""
    return text.replace("]]>", "]]]]><![CDATA[>")


def _first(stored: Any) -> Optional[str]:
    texts = json.loads(stored) if stored else []
    return texts[0] if texts else None


def _not_configured() -> HTTPResponse:
    return response.json({"error": "not_configured",
                          "message": "set WECHAT_APP_ID, WECHAT_APP_SECRET and WECHAT_TOKEN"}, status=503)
