"""The action server: rasa_sdk's app with our actions, on loopback, answering only Rasa.

    python -m bot.runtime.action_server --port 5055     # what `make run` starts

rasa_sdk's own `python -m rasa_sdk` listens on every interface and runs whatever
tracker a caller posts, so anyone who reaches the port could claim any verified
order. Here every request except `/health` must carry the shared secret
(`Authorization: Bearer <SHOP_ACTIONS_TOKEN>`, compared in constant time) and is
refused with 401 before any action runs; the host comes from `ACTIONS_HOST`
(default 127.0.0.1). Without a secret configured the server does not start.
"""
from __future__ import annotations

import argparse
import hmac
import logging
import sys
from typing import Optional

from rasa_sdk.endpoint import create_app
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.config import load_settings
from bot.privacy.logs import install_masking

logger = logging.getLogger(__name__)
OPEN_PATHS = frozenset({"/health"})


def bearer_matches(header: Optional[str], secret: str) -> bool:
    """Whether an Authorization header carries `secret`, compared in constant time."""
    expected = f"Bearer {secret}".encode()
    return hmac.compare_digest((header or "").encode("utf-8", "replace"), expected)


def create_action_app(token: str, actions_package: str = "actions") -> Sanic:
    """rasa_sdk's action server app for `actions_package`, refusing calls without `token`."""
    if not token:
        raise ValueError("the action server needs a secret (SHOP_ACTIONS_TOKEN)")
    app = create_app(actions_package, cors_origins=None)  # called by Rasa only: no browser, no CORS

    @app.on_request
    async def require_token(request: Request) -> Optional[HTTPResponse]:
        if request.path in OPEN_PATHS or bearer_matches(request.headers.get("authorization"), token):
            return None
        logger.warning("refused an action server call without the shared secret from %s", request.ip)
        return response.json({"error": "unauthorized"}, status=401)

    return app


def main(argv: Optional[list[str]] = None) -> int:
    settings = load_settings()
    parser = argparse.ArgumentParser(prog="python -m bot.runtime.action_server", description=__doc__)
    parser.add_argument("--port", type=int, default=settings.actions_port)
    parser.add_argument("--host", default=settings.actions_host)
    args = parser.parse_args(argv)
    install_masking()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s - %(message)s")
    if not settings.actions_token:
        print("SHOP_ACTIONS_TOKEN is not set: the action server will not run without its secret "
              "(make run sets it from .state/secrets/actions_token)", file=sys.stderr)
        return 2
    app = create_action_app(settings.actions_token)
    app.run(host=args.host, port=args.port, workers=1, access_log=False, motd=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
