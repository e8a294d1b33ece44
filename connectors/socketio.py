"""Socket.IO channel for the web chat page (bot/web/static).

Written out rather than inherited from Rasa's SocketIOInput because that one
does not await `enter_room` (a coroutine in python-socketio 5.x), so with
session persistence the bot's answers never reach the page. Messages are
screened like on every channel (bot.guard.screening).
"""
from __future__ import annotations

import inspect
import json
import logging
import uuid
from typing import Any, Awaitable, Callable, Dict, Optional

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOOutput
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer

from bot.config import load_settings
from bot.guard.screening import CLIENT_KEY, BadRequest, check_metadata, check_sender, screen_message
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
            session_persistence=credentials.get("session_persistence", True),
            socketio_path=credentials.get("socketio_path", "/socket.io"),
            max_chars=credentials.get("max_message_chars"),
        )

    def __init__(
        self,
        user_message_evt: str = "user_uttered",
        bot_message_evt: str = "bot_uttered",
        session_persistence: bool = True,
        socketio_path: str = "/socket.io",
        max_chars: Optional[int] = None,
    ) -> None:
        self.user_message_evt = user_message_evt
        self.bot_message_evt = bot_message_evt
        self.session_persistence = session_persistence
        self.socketio_path = socketio_path
        settings = load_settings()
        self.max_chars = max_chars or settings.max_message_chars
        self.allowed_origins = settings.webchat_origins
        self.sio: Optional[AsyncServer] = None
        self.app: Optional[Sanic] = None  # the server this channel runs in, once it starts

    def _client(self, sid: str) -> str:
        """Who is on this connection: the address it came from (the session, once tokens bind it)."""
        environ = (self.sio.get_environ(sid) if self.sio else None) or {}
        # engine.io's Sanic driver always says REMOTE_ADDR 127.0.0.1; the Sanic request knows the peer.
        request = environ.get("sanic.request")
        return f"ip:{getattr(request, 'ip', None) or 'unknown'}"

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

        @sio.on("session_request")
        async def session_request(sid: str, data: Optional[Dict]) -> None:
            session_id = data.get("session_id") if isinstance(data, dict) else None
            try:
                session_id = check_sender(session_id) if session_id else uuid.uuid4().hex
            except BadRequest:
                session_id = uuid.uuid4().hex
            if self.session_persistence:
                entered = sio.enter_room(sid, session_id)
                if inspect.isawaitable(entered):
                    await entered
            await sio.emit("session_confirm", session_id, room=sid)

        @sio.on(self.user_message_evt)
        async def handle_message(sid: str, data: Any) -> None:
            if not isinstance(data, dict):
                return
            output = SocketIOOutput(sio, self.bot_message_evt)
            try:
                sender_id = check_sender(data.get("session_id") if self.session_persistence else sid)
                screened = screen_message(data.get("message"), self.max_chars)
                metadata = data.get("metadata") or {}
                if isinstance(metadata, str):  # Rasa's own web widget sends it as a JSON string
                    try:
                        metadata = json.loads(metadata)
                    except (json.JSONDecodeError, RecursionError):
                        raise BadRequest("'metadata' is not valid JSON") from None
                metadata = check_metadata(metadata)
            except BadRequest as error:
                await sio.emit("error", {"message": str(error)}, room=sid)
                return
            if screened.reply is not None:
                await output.send_text_message(sender_id, screened.reply)
                return
            await deliver(
                on_new_message,
                UserMessage(screened.text, output, sender_id, input_channel=self.name(),
                            metadata={**metadata, CLIENT_KEY: self._client(sid)}),
                self.app,
            )

        return webhook
