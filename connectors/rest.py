"""REST channel with caller identity and input checks: POST /webhooks/rest/webhook.

Every call carries `Authorization: Bearer <credential>` (bot.guard.identity): an
API key from `SHOP_API_KEYS` (the app's backend names the conversation in
`sender`), or a web chat session token (the conversation is the token's; a
`sender` naming another is refused). Without one: 401. Rasa's own RestInput
answers 500 to a body that is not a JSON object and passes any message size on
to the NLU; here a malformed body gets a 400 with a reason, and an over-long or
empty message gets a polite answer without touching the conversation.

REST has no push, so messages sent outside a request (an agent's reply, a queue
update; bot.handoff.outbound) wait in the conversation's outbox:
`GET /webhooks/rest/outbox?sender=<id>&after=<last id>&wait=<seconds>` (same
credentials) answers `{"messages": [{..., "outbox_id"}], "last_id"}` at once when
something is waiting, else holds the request up to `wait` seconds (at most
MAX_POLL_SECONDS) for the first message: a long poll. Pass the last `outbox_id`
you received as `after`; nothing is lost and nothing comes twice.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Awaitable, Callable, Dict, Optional

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.config import load_settings
from bot.guard.identity import Caller, SessionTokens, identify
from bot.guard.rate_limit import SLOW_DOWN_REPLY, rate_limiter
from bot.guard.screening import CLIENT_KEY, BadRequest, check_metadata, check_sender, screen_message, without_claims
from bot.handoff.outbound import for_client, valid_after, wait_for
from bot.runtime.redis_clients import new_async_redis
from connectors.deliver import deliver

logger = logging.getLogger(__name__)


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


MAX_POLL_SECONDS = 30

UNAUTHORIZED = {"error": "unauthorized",
                "message": "send Authorization: Bearer <API key or web chat session token>"}


def conversation_of(caller: Caller, body: Dict[str, Any]) -> str:
    """The conversation a caller may write to: a session's own, or the one an API key's caller names."""
    if caller.kind == "session":
        named = body.get("sender")
        if named is not None and named != caller.name:
            raise PermissionError("this session token is for another conversation")
        return caller.name
    return check_sender(body.get("sender"))


def client_of(caller: Caller, sender: str) -> str:
    """Who the order access guard counts: a session, or one of an app backend's users."""
    return caller.client_id if caller.kind == "session" else f"{caller.client_id}:{sender}"


class ShopRestInput(RestInput):
    """Rasa's REST channel, same URL and reply format, with request validation."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    def __init__(self, max_chars: Optional[int] = None) -> None:
        settings = load_settings()
        self.max_chars = max_chars or settings.max_message_chars
        self.api_keys = settings.api_keys
        self.tokens = (SessionTokens(settings.session_key, settings.session_max_age_seconds)
                       if settings.session_key else None)
        self.redis_url = settings.redis_url
        if not self.api_keys and not self.tokens:
            logger.warning("REST channel: no SHOP_API_KEYS and no SHOP_SESSION_KEY, every call will be refused")

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> ShopRestInput:
        return cls((credentials or {}).get("max_message_chars"))

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint("shop_rest_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/outbox", methods=["GET"])
        async def outbox(request: Request) -> HTTPResponse:
            caller = identify(request.headers.get("authorization"), self.api_keys, self.tokens)
            if caller is None:
                return response.json(UNAUTHORIZED, status=401)
            try:
                sender = conversation_of(caller, {"sender": request.args.get("sender")}
                                         if request.args.get("sender") is not None else {})
                wait = min(MAX_POLL_SECONDS, max(0.0, float(request.args.get("wait", "0"))))
            except BadRequest as error:
                return _bad_request(error)
            except PermissionError as error:
                return response.json({"error": "forbidden", "message": str(error)}, status=403)
            except ValueError:
                return _bad_request(BadRequest("'wait' must be a number of seconds"))
            if not self.redis_url:
                return response.json({"messages": [], "last_id": None})
            after = valid_after(request.args.get("after"))
            client = new_async_redis(self.redis_url)
            try:
                entries = await wait_for(client, sender, after, wait)
            finally:
                await client.close()
            return response.json({"messages": [for_client(i, m) for i, m in entries],
                                  "last_id": entries[-1][0] if entries else (None if after == "0" else after)})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            caller = identify(request.headers.get("authorization"), self.api_keys, self.tokens)
            if caller is None:
                return response.json(UNAUTHORIZED, status=401)
            try:
                body = _parse_body(request)
                sender = conversation_of(caller, body)
                screened = screen_message(body.get("message"), self.max_chars)
            except BadRequest as error:
                return _bad_request(error)
            except PermissionError as error:
                return response.json({"error": "forbidden", "message": str(error)}, status=403)
            if screened.reply is not None:
                return response.json([{"recipient_id": sender, "text": screened.reply}])
            api_key = caller.name if caller.kind == "api_key" else None
            if not rate_limiter().allow_message(sender, ip=request.ip, api_key=api_key):
                return response.json([{"recipient_id": sender, "text": SLOW_DOWN_REPLY}], status=429)
            collector = CollectingOutputChannel()
            await deliver(
                on_new_message,
                UserMessage(
                    screened.text,
                    collector,
                    sender,
                    input_channel=self.name(),  # the server knows the channel; a client could claim any
                    # Only an app backend (API key) may say its shopper is a VIP; a web page may not.
                    metadata={**(body["metadata"] if caller.kind == "api_key" else without_claims(body["metadata"])),
                              CLIENT_KEY: client_of(caller, sender)},
                ),
                request.app,
            )
            return response.json(collector.messages)

        return webhook
