"""A local stand-in for WeChat's servers, as an Official Account's developer server meets them.

Both directions of the protocol, on a free loopback port in a thread of its own
(like tests/fakes/telegram_api.py), so synchronous tests and a running Rasa can
use it:

- WeChat -> us: it plays the shoppers. `send_text`, `send_event`, `send_message`
  build the real XML (text, image, voice, event...), sign the callback URL with the
  account's token (`signature`, `timestamp`, `nonce`, `openid`; in safe mode also
  `encrypt_type=aes` and `msg_signature`, the body encrypted with the EncodingAESKey
  by wechatpy's WeChatCrypto) and POST it to the channel. Like WeChat it waits 5 s
  for the answer, then drops the connection and tries again with the same message
  (3 attempts in all); `deliver_again` repeats a message as WeChat does after a
  lost response. The passive reply is read back (decrypted and its MsgSignature
  checked in safe mode).
- us -> WeChat: the API at `base_url` (set WECHAT_API_URL to it): `GET
  /cgi-bin/token` (counted; wrong AppID/secret refused like WeChat; tokens can be
  expired (42001) or revoked (40001) on demand) and `POST
  /cgi-bin/message/custom/send` (recorded; over 2048 bytes -> 45002; a shopper
  marked with `refuse_sends` -> 45015, as outside the 48 h window).

    with WeChatServerStandIn(callback_url=f"{rasa}/webhooks/wechat/webhook") as wechat:
        reply = wechat.send_text("o_shopper_1", "你好")
        assert reply.passive and "您好" in reply.text
        texts = wechat.wait_for_sent("o_shopper_1", count=1)

The pure helpers (`sign`, `text_xml`, `event_xml`, `encrypt_body`, `read_reply`)
are what the benchmark uses to speak the protocol from its own event loop.
Not like WeChat: plain http on loopback; no media, no IP whitelist.
"""
from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import aiohttp
import xmltodict
import yaml
from aiohttp import web
from wechatpy.crypto import WeChatCrypto

from bot.config import PROJECT_ROOT
from tests.fakes.loop_thread import LoopThreadServer

ACCOUNT = "gh_0123456789ab"  # the Official Account's original id (ToUserName)
MAX_TEXT_BYTES = 2048
_msg_ids = itertools.count(int(time.time()) * 1000)


def sign(token: str, *parts: str) -> str:
    return hashlib.sha1("".join(sorted((token, *parts))).encode()).hexdigest()


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def message_xml(openid: str, msg_type: str, fields: dict[str, str], create_time: Optional[int] = None,
                msg_id: Optional[int] = None, account: str = ACCOUNT) -> str:
    """A callback's XML as WeChat sends it: the common fields, the type's own, MsgId for messages (not events)."""
    nodes = [f"<ToUserName>{_cdata(account)}</ToUserName>", f"<FromUserName>{_cdata(openid)}</FromUserName>",
             f"<CreateTime>{create_time or int(time.time())}</CreateTime>", f"<MsgType>{_cdata(msg_type)}</MsgType>"]
    nodes += [f"<{name}>{_cdata(value)}</{name}>" for name, value in fields.items()]
    if msg_type != "event":
        nodes.append(f"<MsgId>{msg_id or next(_msg_ids)}</MsgId>")
    return "<xml>" + "".join(nodes) + "</xml>"


def text_xml(openid: str, content: str, msg_id: Optional[int] = None) -> str:
    return message_xml(openid, "text", {"Content": content}, msg_id=msg_id)


def event_xml(openid: str, event: str, key: Optional[str] = None, create_time: Optional[int] = None) -> str:
    fields = {"Event": event, **({"EventKey": key} if key is not None else {})}
    return message_xml(openid, "event", fields, create_time=create_time)


def signed_params(token: str, openid: Optional[str] = None) -> dict[str, str]:
    timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**10))
    params = {"signature": sign(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
    if openid:
        params["openid"] = openid
    return params


def encrypt_body(crypto: WeChatCrypto, token: str, xml: str, params: dict[str, str],
                 account: str = ACCOUNT) -> tuple[str, dict[str, str]]:
    """Safe mode: the body with the message encrypted, and the URL parameters with `msg_signature`."""
    envelope = xmltodict.parse(crypto.encrypt_message(xml, params["nonce"], params["timestamp"]))["xml"]
    encrypt = envelope["Encrypt"]
    body = f"<xml><ToUserName>{_cdata(account)}</ToUserName><Encrypt>{_cdata(encrypt)}</Encrypt></xml>"
    return body, {**params, "encrypt_type": "aes",
                  "msg_signature": sign(token, params["timestamp"], params["nonce"], encrypt)}


def read_reply(body: str, crypto: Optional[WeChatCrypto] = None, token: str = "") -> Optional[dict[str, Any]]:
    """The fields of a passive reply; None for "success" or an empty body. Safe mode: decrypted, signature checked."""
    if body.strip() in ("", "success"):
        return None
    fields = xmltodict.parse(body)["xml"]
    if "Encrypt" in fields:
        assert crypto is not None, "an encrypted reply but no AES key"
        expected = sign(token, fields["TimeStamp"], fields["Nonce"], fields["Encrypt"])
        assert fields["MsgSignature"] == expected, "the reply's MsgSignature is wrong"
        fields = xmltodict.parse(crypto.decrypt_message(fields, fields["MsgSignature"], fields["TimeStamp"],
                                                        fields["Nonce"]))["xml"]
    return dict(fields)


@dataclass(frozen=True)
class Attempt:
    status: Optional[int]  # None: no answer within the timeout
    body: str
    seconds: float


@dataclass
class Callback:
    """One message as WeChat delivered it: every attempt, and the passive reply WeChat took (if any)."""

    xml: str
    encrypted: bool
    attempts: list[Attempt] = field(default_factory=list)
    reply: Optional[dict[str, Any]] = None

    @property
    def status(self) -> Optional[int]:
        return self.attempts[-1].status if self.attempts else None

    @property
    def passive(self) -> bool:
        return self.reply is not None

    @property
    def text(self) -> str:
        return str((self.reply or {}).get("Content") or "")


@dataclass(frozen=True)
class Sent:
    """A customer-service message the channel sent."""

    openid: str
    msgtype: str
    text: str
    token: str
    at: float


@dataclass
class _Token:
    value: str
    expires_at: float
    errcode: int = 0  # 0: valid; else what WeChat answers when it is used


class WeChatServerStandIn(LoopThreadServer):
    """WeChat's servers on 127.0.0.1; see the module docstring."""

    thread_name = "wechat-stand-in"
    start_timeout = 15.0

    def __init__(self, *, app_id: str = "wx0123456789abcdef", secret: str = "stand-in-app-secret",
                 token: str = "stand-in-token", aes_key: Optional[str] = None, callback_url: Optional[str] = None,
                 reply_timeout: float = 5.0, attempts: int = 3, token_lifetime: int = 7200,
                 host: str = "127.0.0.1") -> None:
        self.app_id, self.secret, self.token, self.aes_key = app_id, secret, token, aes_key
        self.crypto = WeChatCrypto(token, aes_key, app_id) if aes_key else None
        self.callback_url = callback_url
        self.reply_timeout, self.max_attempts, self.token_lifetime = reply_timeout, attempts, token_lifetime
        self.host = host
        self.port = 0
        self.token_calls = 0
        self.api_calls: list[tuple[str, int]] = []  # (path, errcode answered)
        self.sent: list[Sent] = []
        self._tokens: dict[str, _Token] = {}
        self._refused: dict[str, int] = {}  # openid -> errcode for custom sends
        self._lock = threading.Condition()
        self._runner: Optional[web.AppRunner] = None
        self._session: Optional[aiohttp.ClientSession] = None

    # -- life cycle ---------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self._token)
        app.router.add_post("/cgi-bin/message/custom/send", self._custom_send)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        self._session = aiohttp.ClientSession()

    async def _cleanup(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def _run(self, coroutine: Any, timeout: float = 60) -> Any:
        assert self._loop is not None, "start() the stand-in first"
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    # -- the API: access token ----------------------------------------------------------------
    async def _token(self, request: web.Request) -> web.Response:
        query = request.query
        with self._lock:
            self.token_calls += 1
            if query.get("grant_type") != "client_credential":
                return self._error("/cgi-bin/token", 40002, "invalid grant_type")
            if query.get("appid") != self.app_id:
                return self._error("/cgi-bin/token", 40013, "invalid appid")
            if query.get("secret") != self.secret:
                return self._error("/cgi-bin/token", 40125, "invalid appsecret")
            value = f"ACCESS_TOKEN_{self.token_calls}_{secrets.token_hex(8)}"
            self._tokens[value] = _Token(value, time.time() + self.token_lifetime)
            self.api_calls.append(("/cgi-bin/token", 0))
        return web.json_response({"access_token": value, "expires_in": self.token_lifetime})

    def _error(self, path: str, errcode: int, errmsg: str) -> web.Response:
        self.api_calls.append((path, errcode))
        return web.json_response({"errcode": errcode, "errmsg": f"{errmsg} rid: {secrets.token_hex(4)}"})

    def expire_tokens(self) -> None:
        """Every token issued so far has expired (42001 when used)."""
        with self._lock:
            for token in self._tokens.values():
                token.expires_at = 0

    def revoke_tokens(self, errcode: int = 40001) -> None:
        """Every token issued so far is no longer valid (e.g. another server fetched a new one): 40001."""
        with self._lock:
            for token in self._tokens.values():
                token.errcode = errcode

    def token_errors(self) -> list[int]:
        """The errcodes the API answered because of an access token."""
        with self._lock:
            return [code for _, code in self.api_calls if code in (40001, 40014, 42001)]

    # -- the API: customer-service messages ------------------------------------------------------
    def refuse_sends(self, openid: str, errcode: int = 45015) -> None:
        """Customer-service messages to `openid` are refused (45015: out of the 48 h window)."""
        with self._lock:
            self._refused[openid] = errcode

    def allow_sends(self, openid: str) -> None:
        with self._lock:
            self._refused.pop(openid, None)

    async def _custom_send(self, request: web.Request) -> web.Response:
        path = "/cgi-bin/message/custom/send"
        raw = await request.read()
        with self._lock:
            token = self._tokens.get(request.query.get("access_token", ""))
            if token is None:
                return self._error(path, 40001, "invalid credential, access_token is invalid or not latest")
            if token.errcode:
                return self._error(path, token.errcode, "invalid credential, access_token is invalid or not latest")
            if token.expires_at < time.time():
                return self._error(path, 42001, "access_token expired")
            try:
                body = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                return self._error(path, 47001, "data format error")
            openid, msgtype = body.get("touser"), body.get("msgtype")
            if not isinstance(openid, str) or not openid:
                return self._error(path, 40003, "invalid openid")
            if msgtype != "text":
                return self._error(path, 40008, "invalid message type (the stand-in takes text only)")
            content = (body.get("text") or {}).get("content")
            if not isinstance(content, str) or not content:
                return self._error(path, 44003, "empty content")
            if len(content.encode()) > MAX_TEXT_BYTES:
                return self._error(path, 45002, "content size out of limit")
            if openid in self._refused:
                return self._error(path, self._refused[openid],
                                   "response out of time limit or subscription is canceled")
            self.sent.append(Sent(openid, msgtype, content, token.value, time.time()))
            self.api_calls.append((path, 0))
            self._lock.notify_all()
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    def sent_to(self, openid: str) -> list[str]:
        with self._lock:
            return [s.text for s in self.sent if s.openid == openid]

    def wait_for_sent(self, openid: str, count: int = 1, timeout: float = 30) -> list[str]:
        """The texts sent to `openid` once there are at least `count` (AssertionError after `timeout`)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(texts := [s.text for s in self.sent if s.openid == openid]) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{len(texts)} of {count} customer-service messages to {openid} after {timeout} s"
                self._lock.wait(left)
            return texts

    # -- callbacks: WeChat -> the channel -----------------------------------------------------------
    def handshake(self, echostr: str, wrong_signature: bool = False) -> tuple[int, str]:
        """The URL check WeChat does when the server address is saved: (status, body)."""
        params = {**signed_params(self.token), "echostr": echostr}
        if wrong_signature:
            params["signature"] = "0" * 40
        return self._run(self._request("GET", params, b""))

    def send_text(self, openid: str, content: str, msg_id: Optional[int] = None,
                  encrypted: Optional[bool] = None) -> Callback:
        return self.deliver(text_xml(openid, content, msg_id), encrypted)

    def send_event(self, openid: str, event: str, key: Optional[str] = None,
                   encrypted: Optional[bool] = None) -> Callback:
        return self.deliver(event_xml(openid, event, key), encrypted)

    def send_message(self, openid: str, msg_type: str, fields: dict[str, str],
                     encrypted: Optional[bool] = None) -> Callback:
        return self.deliver(message_xml(openid, msg_type, fields), encrypted)

    def deliver(self, xml: str, encrypted: Optional[bool] = None) -> Callback:
        """POST a message like WeChat: up to `attempts` tries, each given `reply_timeout` seconds."""
        return self._run(self.deliver_async(xml, encrypted), timeout=self.reply_timeout * self.max_attempts + 30)

    def deliver_again(self, callback: Callback) -> Callback:
        """The same message once more, as WeChat repeats it when our answer did not reach it."""
        return self.deliver(callback.xml, callback.encrypted)

    async def deliver_async(self, xml: str, encrypted: Optional[bool] = None) -> Callback:
        encrypted = self.crypto is not None if encrypted is None else encrypted
        callback = Callback(xml, encrypted)
        openid = xmltodict.parse(xml)["xml"].get("FromUserName")
        for _ in range(self.max_attempts):
            params = signed_params(self.token, openid)
            body = xml
            if encrypted:
                assert self.crypto is not None, "safe mode needs the stand-in's aes_key"
                body, params = encrypt_body(self.crypto, self.token, xml, params)
            started = time.monotonic()
            try:
                status, text = await self._request("POST", params, body.encode(), timeout=self.reply_timeout)
            except asyncio.TimeoutError:
                callback.attempts.append(Attempt(None, "", time.monotonic() - started))
                continue  # WeChat drops the connection and tries again
            callback.attempts.append(Attempt(status, text, time.monotonic() - started))
            if status == 200:
                callback.reply = read_reply(text, self.crypto, self.token)
            break
        return callback

    def post_raw(self, body: bytes, params: Optional[dict[str, str]] = None, signed: bool = True,
                 content_type: str = "text/xml") -> tuple[int, str]:
        """Any body to the callback URL (bad input tests); signed like WeChat unless told otherwise."""
        query = {**(signed_params(self.token) if signed else {}), **(params or {})}
        return self._run(self._request("POST", query, body, content_type=content_type))

    async def _request(self, method: str, params: dict[str, str], body: bytes, timeout: float = 30,
                       content_type: str = "text/xml") -> tuple[int, str]:
        assert self.callback_url and self._session is not None, "no callback_url"
        async with self._session.request(method, self.callback_url, params=params, data=body,
                                         headers={"Content-Type": content_type, "User-Agent": "Mozilla/4.0"},
                                         timeout=aiohttp.ClientTimeout(total=timeout)) as reply:
            return reply.status, await reply.text()


# -- a Rasa stack with the WeChat channel ---------------------------------------------------------------------

def credentials_with_wechat(path: Path, channel: Optional[dict[str, Any]] = None) -> Path:
    """A credentials file at `path`: the project's channels plus WeChat's entry (for Stack.credentials_file)."""
    channels = yaml.safe_load((PROJECT_ROOT / "credentials.yml").read_text(encoding="utf-8")) or {}
    channels["connectors.wechat.ShopWeChatInput"] = channel or {}
    path.write_text(yaml.safe_dump(channels, allow_unicode=True), encoding="utf-8")
    return path


def wechat_env(server: WeChatServerStandIn) -> dict[str, str]:
    """The settings that point the channel at the stand-in (for Stack.extra_env)."""
    env = {"WECHAT_APP_ID": server.app_id, "WECHAT_APP_SECRET": server.secret, "WECHAT_TOKEN": server.token,
           "WECHAT_API_URL": server.base_url}
    if server.aes_key:
        env["WECHAT_AES_KEY"] = server.aes_key
    return env
