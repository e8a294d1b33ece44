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
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer

from bot.config import load_settings
from bot.guard.screening import BadRequest, screen_message
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
        self.max_chars = max_chars or load_settings().max_message_chars
        self.sio: Optional[AsyncServer] = None

    def get_output_channel(self) -> Optional[OutputChannel]:
        return SocketIOOutput(self.sio, self.bot_message_evt) if self.sio else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        # cors_allowed_origins=[] turns python-socketio's origin check off: the page
        # is served from another port (bot/web/server.py).
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=[])
        webhook = SocketBlueprint(sio, self.socketio_path, "shop_socketio_webhook", __name__)
        self.sio = sio

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @sio.on("session_request")
        async def session_request(sid: str, data: Optional[Dict]) -> None:
            session_id = (data or {}).get("session_id") or uuid.uuid4().hex
            if not isinstance(session_id, str) or len(session_id) > 128:
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
            sender_id = data.get("session_id") if self.session_persistence else sid
            if not isinstance(sender_id, str) or not sender_id:
                await sio.emit("error", {"message": "session_id missing: send session_request first"}, room=sid)
                return
            try:
                screened = screen_message(data.get("message"), self.max_chars)
            except BadRequest as error:
                await sio.emit("error", {"message": str(error)}, room=sid)
                return
            if screened.reply is not None:
                await output.send_text_message(sender_id, screened.reply)
                return
            metadata = data.get("metadata") or {}
            if isinstance(metadata, str):
                try:
                    metadata = json.loads(metadata)
                except json.JSONDecodeError:
                    metadata = {}
            await deliver(
                on_new_message,
                UserMessage(screened.text, output, sender_id, input_channel=self.name(),
                            metadata=metadata if isinstance(metadata, dict) else {}),
            )

        return webhook
