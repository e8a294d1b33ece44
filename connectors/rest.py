"""REST channel with input checks: POST /webhooks/rest/webhook.

Rasa's own RestInput answers 500 to a body that is not a JSON object and passes
any message size on to the NLU. Here a malformed body gets a 400 with a reason,
and an over-long or empty message gets a polite answer without touching the
conversation.
"""
from __future__ import annotations

import json
from typing import Any, Awaitable, Callable, Dict, Optional

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.config import load_settings
from bot.guard.screening import CLIENT_KEY, BadRequest, check_metadata, check_sender, screen_message
from connectors.deliver import deliver


def _parse_body(request: Request) -> Dict[str, Any]:
    try:
        body = json.loads(request.body or b"")
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BadRequest(f"body is not valid JSON: {error}") from None
    except RecursionError:
        raise BadRequest("body is nested too deeply") from None
    if not isinstance(body, dict):
        raise BadRequest('body must be a JSON object like {"sender": "...", "message": "..."}')
    body["metadata"] = check_metadata(body.get("metadata"))
    if not isinstance(body.get("input_channel", ""), str):
        raise BadRequest("'input_channel' must be a string (it is ignored: the channel is 'rest')")
    return body


def _bad_request(error: BadRequest) -> HTTPResponse:
    return response.json({"error": "bad_request", "message": str(error)}, status=400)


class ShopRestInput(RestInput):
    """Rasa's REST channel, same URL and reply format, with request validation."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    def __init__(self, max_chars: Optional[int] = None) -> None:
        self.max_chars = max_chars or load_settings().max_message_chars

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> ShopRestInput:
        return cls((credentials or {}).get("max_message_chars"))

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint("shop_rest_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                body = _parse_body(request)
                sender = check_sender(body.get("sender", "default"))
                screened = screen_message(body.get("message"), self.max_chars)
            except BadRequest as error:
                return _bad_request(error)
            if screened.reply is not None:
                return response.json([{"recipient_id": sender, "text": screened.reply}])
            collector = CollectingOutputChannel()
            await deliver(
                on_new_message,
                UserMessage(
                    screened.text,
                    collector,
                    sender,
                    input_channel=self.name(),  # the server knows the channel; a client could claim any
                    metadata={**body["metadata"], CLIENT_KEY: f"ip:{request.ip}"},
                ),
                request.app,
            )
            return response.json(collector.messages)

        return webhook
