"""Sanic app that serves the web chat page for the shop's Rasa bot.

The page itself talks to Rasa directly over socket.io (Rasa's ``socketio``
channel); this server only hands out the static files, fills the server's limits
into the page (message length, session id length) and tells the page where Rasa
is (``/config.json``). Routes are grouped in blueprints so more can be
added later (e.g. an agent console under ``/agent``) without touching the chat.

Run::

    python -m bot.web.server            # host, port and Rasa's URL from bot.config

Rasa must run with the socketio channel enabled in credentials.yml
(``user_message_evt: user_uttered``, ``bot_message_evt: bot_uttered``,
``session_persistence: true``) and with ``--cors "*"`` because the page is
served from a different origin than Rasa.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
from functools import cache
from pathlib import Path
from typing import Optional
from urllib.parse import urlsplit

import redis
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.config import load_settings
from bot.guard.identity import SessionTokens
from bot.guard.rate_limit import SLOW_DOWN_REPLY, rate_limiter
from bot.guard.screening import MAX_SENDER_CHARS
from bot.privacy.logs import install_masking
from bot.privacy.purged import was_purged

STATIC_DIR = Path(__file__).resolve().parent / "static"
INDEX_FILE = STATIC_DIR / "index.html"
DEFAULT_SOCKET_PATH = "/socket.io/"
APP_NAME_PREFIX = "shop_webchat"

# Sanic keeps a process-wide registry of app names; every app built here gets
# its own name so tests (or a future agent console) can build several.
_app_counter = itertools.count(1)

# The page's only script is our own; message text is never parsed as HTML.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data: http: https:; connect-src 'self' http: https: ws: wss:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def normalise_rasa_url(rasa_url: str) -> str:
    """``http(s)://host[:port][/prefix]`` without a trailing slash; ValueError otherwise."""
    url = (rasa_url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"rasa_url must be an http(s) URL such as http://localhost:5005, got {rasa_url!r}")
    return url.rstrip("/")


def _no_cache(resp: HTTPResponse) -> HTTPResponse:
    resp.headers["Cache-Control"] = "no-cache"
    return resp


@cache
def _index_template() -> str:
    return INDEX_FILE.read_text(encoding="utf-8")


def render_index(max_message_chars: int, max_session_id_chars: int = MAX_SENDER_CHARS) -> str:
    """The chat page with the server's limits filled in (the page's script reads them from it)."""
    return (_index_template()
            .replace("{{max_message_chars}}", str(int(max_message_chars)))
            .replace("{{max_session_id_chars}}", str(int(max_session_id_chars))))


@cache
def _redis() -> Optional[redis.Redis]:
    url = load_settings().redis_url
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2) if url else None


def purged_conversation(session_id: str) -> bool:
    """Whether this conversation was purged on request (bot.privacy.purge)."""
    client = _redis()
    try:
        return bool(client is not None and was_purged(client, session_id))
    except redis.RedisError:
        return False


def session_tokens() -> Optional[SessionTokens]:
    settings = load_settings()
    return SessionTokens(settings.session_key, settings.session_max_age_seconds) if settings.session_key else None


def webchat_blueprint(rasa_url: str, socket_path: str = DEFAULT_SOCKET_PATH,
                      max_message_chars: Optional[int] = None) -> Blueprint:
    """The shopper chat page: ``/``, ``/config.json``, ``/session`` and ``/static/*``."""
    bp = Blueprint("webchat")
    config = {"socketUrl": rasa_url, "socketPath": socket_path}
    page = render_index(max_message_chars or load_settings().max_message_chars)
    tokens = session_tokens()

    @bp.post("/session")
    async def session(request: Request) -> HTTPResponse:
        """A signed token for this browser's conversation: the one its token names, else a new one."""
        if tokens is None:
            return response.json({"error": "unavailable", "message": "SHOP_SESSION_KEY is not set"}, status=503)
        if len(request.body or b"") > 2048:
            return response.json({"error": "bad_request", "message": "body too large"}, status=400)
        try:
            body = json.loads(request.body or b"{}")
        except (ValueError, RecursionError):
            body = {}
        current = tokens.session_of(body.get("token")) if isinstance(body, dict) else None
        purged = current is not None and purged_conversation(current)
        if purged:
            current = None  # its data is gone: the page starts afresh and forgets what it stored
        if current is None and not rate_limiter().allow_new_session(request.ip):
            return response.json({"error": "too_many_requests", "message": SLOW_DOWN_REPLY}, status=429)
        token, session_id = tokens.issue(current)
        return _no_cache(response.json({"token": token, "sessionId": session_id, "purged": purged}))

    @bp.get("/")
    async def index(_: Request) -> HTTPResponse:
        return _no_cache(response.html(page))

    @bp.get("/config.json")
    async def chat_config(_: Request) -> HTTPResponse:
        return _no_cache(response.json(config, dumps=json.dumps, ensure_ascii=False))

    bp.static("/static", str(STATIC_DIR), name="static")
    return bp


def health_blueprint() -> Blueprint:
    bp = Blueprint("health")

    @bp.get("/health")
    async def health(_: Request) -> HTTPResponse:
        return response.json({"status": "ok"})

    return bp


def create_app(rasa_url: str, *, socket_path: str = DEFAULT_SOCKET_PATH, name: Optional[str] = None,
               max_message_chars: Optional[int] = None) -> Sanic:
    """Build the web app. `rasa_url` is where the browser reaches Rasa's socket.io endpoint."""
    rasa_url = normalise_rasa_url(rasa_url)
    if not socket_path.startswith("/"):
        socket_path = "/" + socket_path
    app = Sanic(name or f"{APP_NAME_PREFIX}_{os.getpid()}_{next(_app_counter)}")
    app.config.ACCESS_LOG = False
    # Only static files and tiny JSON here: don't hold a stop for idle keep-alive browsers.
    app.config.GRACEFUL_SHUTDOWN_TIMEOUT = 3.0
    app.ctx.rasa_url = rasa_url
    app.blueprint(webchat_blueprint(rasa_url, socket_path, max_message_chars))
    app.blueprint(health_blueprint())

    @app.on_response
    async def security_headers(_: Request, resp: HTTPResponse) -> None:
        # On every response, not only the page: no other site may frame or script any of it.
        resp.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "same-origin")

    return app


def main(argv: Optional[list[str]] = None) -> None:
    install_masking()
    settings = load_settings()
    parser = argparse.ArgumentParser(prog="python -m bot.web.server", description="Serve the shop's web chat page.")
    parser.add_argument("--host", default=settings.web_host)
    parser.add_argument("--port", type=int, default=settings.web_port)
    parser.add_argument("--rasa-url", default=settings.rasa_public_url,
                        help="Rasa server URL as the browser must see it (socket.io channel)")
    parser.add_argument("--socket-path", default=DEFAULT_SOCKET_PATH, help="socket.io path on the Rasa server")
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(argv)
    try:
        app = create_app(args.rasa_url, socket_path=args.socket_path)
    except ValueError as exc:
        parser.error(str(exc))
    app.run(host=args.host, port=args.port, workers=1, debug=args.debug, access_log=args.debug, motd=False)


if __name__ == "__main__":
    main()
