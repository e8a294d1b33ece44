"""Socket.IO channel for the web chat page (bot/web/static).

Written out rather than inherited from Rasa's SocketIOInput, which lets a client
name any conversation. Here a connection must present a web chat session token
(`auth: {token}`, issued by the web chat server's `POST /session`, see
bot.guard.identity): it is bound to that token's conversation and joins only
its room, so a conversation's replies reach only its own connections, and a
message naming another conversation is refused. Messages are screened like on
every channel (bot.guard.screening).
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Awaitable, Callable, Dict, Optional

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOOutput
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer

from bot.config import load_settings
from bot.guard.identity import SessionTokens
from bot.guard.rate_limit import SLOW_DOWN_REPLY, rate_limiter
from bot.guard.screening import CLIENT_KEY, BadRequest, check_metadata, screen_message, without_claims
from bot.handoff.outbound import for_client, listen, valid_after
from bot.handoff.service import outbound
from bot.runtime.redis_clients import new_async_redis
from connectors.deliver import deliver

logger = logging.getLogger(__name__)


class ShopSocketIOInput(InputChannel):
    """Web chat over Socket.IO, with conversations that survive a page reload."""

    @classmethod
    def name(cls) -> str:
        return "socketio"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> ShopSocketIOInput:
        credentials = credentials or {}
        return cls(
            user_message_evt=credentials.get("user_message_evt", "user_uttered"),
            bot_message_evt=credentials.get("bot_message_evt", "bot_uttered"),
            socketio_path=credentials.get("socketio_path", "/socket.io"),
            max_chars=credentials.get("max_message_chars"),
        )

    def __init__(
        self,
        user_message_evt: str = "user_uttered",
        bot_message_evt: str = "bot_uttered",
        socketio_path: str = "/socket.io",
        max_chars: Optional[int] = None,
    ) -> None:
        self.user_message_evt = user_message_evt
        self.bot_message_evt = bot_message_evt
        self.socketio_path = socketio_path
        settings = load_settings()
        self.tokens = (SessionTokens(settings.session_key, settings.session_max_age_seconds)
                       if settings.session_key else None)
        self.max_chars = max_chars or settings.max_message_chars
        self.allowed_origins = settings.webchat_origins
        self.redis_url = settings.redis_url
        self.sio: Optional[AsyncServer] = None
        self.app: Optional[Sanic] = None  # the server this channel runs in, once it starts
        self._listener: Optional[asyncio.Task] = None

    def _ip(self, sid: str) -> str:
        """The address this connection came from."""
        environ = (self.sio.get_environ(sid) if self.sio else None) or {}
        # engine.io's Sanic driver always says REMOTE_ADDR 127.0.0.1; the Sanic request knows the peer.
        request = environ.get("sanic.request")
        return str(getattr(request, "ip", None) or "unknown")

    def _client(self, sid: str) -> str:
        """Who the order access guard counts for this connection: its address."""
        return f"ip:{self._ip(sid)}"

    def get_output_channel(self) -> Optional[OutputChannel]:
        return SocketIOOutput(self.sio, self.bot_message_evt) if self.sio else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        # Only the web chat's own origins may open a connection (bot.config WEBCHAT_ORIGINS):
        # another site must not drive the bot from its visitors' browsers.
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=list(self.allowed_origins))
        webhook = SocketBlueprint(sio, self.socketio_path, "shop_socketio_webhook", __name__)
        self.sio = sio

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.listener("before_server_start")
        async def remember_app(app: Sanic, _loop: object) -> None:
            self.app = app
            if self.redis_url:
                self._listener = asyncio.create_task(listen(new_async_redis(self.redis_url), push, catch_up))

        @webhook.listener("after_server_stop")
        async def stop_listening(_app: Sanic, _loop: object) -> None:
            if self._listener is not None:
                self._listener.cancel()

        async def push(conversation: str, entry_id: str, message: Dict[str, Any]) -> None:
            """An outbound message for a conversation: to its connections in this process, if any."""
            await sio.emit(self.bot_message_evt, for_client(entry_id, message), room=conversation)

        async def catch_up() -> None:
            """After (re)subscribing: every page here asks for what it may have missed."""
            await sio.emit("outbox_check", {})

        @sio.on("outbox_resume")
        async def outbox_resume(sid: str, data: Any) -> None:
            session_id = await bound_session(sid)
            sender = outbound()
            if not session_id or sender is None:
                return
            after = valid_after(data.get("after") if isinstance(data, dict) else None)
            for entry_id, message in sender.since(session_id, after):
                await sio.emit(self.bot_message_evt, for_client(entry_id, message), room=sid)

        @sio.on("connect")
        async def connect(sid: str, environ: Dict[str, Any], auth: Any = None) -> None:
            token = auth.get("token") if isinstance(auth, dict) else None
            session_id = self.tokens.session_of(token) if self.tokens else None
            if session_id is None:
                raise ConnectionRefusedError("a web chat session token is required (POST /session on the web chat)")
            await sio.save_session(sid, {"session_id": session_id})
            await sio.enter_room(sid, session_id)  # replies to this conversation reach its connections only

        async def bound_session(sid: str) -> Optional[str]:
            session = await sio.get_session(sid)
            return session.get("session_id") if isinstance(session, dict) else None

        @sio.on("session_request")
        async def session_request(sid: str, data: Any) -> None:
            session_id = await bound_session(sid)
            if session_id:
                await sio.emit("session_confirm", session_id, room=sid)

        @sio.on(self.user_message_evt)
        async def handle_message(sid: str, data: Any) -> None:
            if not isinstance(data, dict):
                return
            output = SocketIOOutput(sio, self.bot_message_evt)
            sender_id = await bound_session(sid)
            named = data.get("session_id")
            if sender_id is None or (named is not None and named != sender_id):
                logger.warning("refused a message for another conversation on connection %s", sid)
                await sio.emit("error", {"message": "this connection belongs to another conversation"}, room=sid)
                return
            try:
                screened = screen_message(data.get("message"), self.max_chars)
                metadata = data.get("metadata") or {}
                if isinstance(metadata, str):  # Rasa's own web widget sends it as a JSON string
                    try:
                        metadata = json.loads(metadata)
                    except (json.JSONDecodeError, RecursionError):
                        raise BadRequest("'metadata' is not valid JSON") from None
                metadata = without_claims(check_metadata(metadata))  # a web page cannot vouch for VIP status
            except BadRequest as error:
                await sio.emit("error", {"message": str(error)}, room=sid)
                return
            if screened.reply is not None:
                await output.send_text_message(sender_id, screened.reply)
                return
            if not rate_limiter().allow_message(sender_id, ip=self._ip(sid)):
                await output.send_text_message(sender_id, SLOW_DOWN_REPLY)
                return
            await deliver(
                on_new_message,
                UserMessage(screened.text, output, sender_id, input_channel=self.name(),
                            metadata={**metadata, CLIENT_KEY: self._client(sid)}),
                self.app,
            )

        return webhook
