"""Only the web chat's own origin may drive the bot from a browser: CORS and the Socket.IO origin check."""
from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from tests.conftest import RunningStack

pytestmark = pytest.mark.stack

EVIL = "http://evil.example"


def handshake(stack: RunningStack, origin: str) -> int:
    """Socket.IO's first (polling) request, as a browser on `origin` sends it."""
    request = urllib.request.Request(f"{stack.stack.rasa_url}/socket.io/?EIO=4&transport=polling",
                                     headers={"Origin": origin})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_cross_origin_socketio_handshake_is_refused(stack: RunningStack) -> None:
    assert handshake(stack, EVIL) == 400


def test_the_web_chat_origin_may_connect(stack: RunningStack) -> None:
    assert stack.stack.origins
    assert handshake(stack, stack.stack.origins[0]) == 200


def test_rest_gives_no_cors_grant_to_another_origin(stack: RunningStack) -> None:
    request = urllib.request.Request(stack.stack.rest_url, method="OPTIONS", headers={
        "Origin": EVIL, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            headers = response.headers
    except urllib.error.HTTPError as error:
        headers = error.headers
    assert headers.get("Access-Control-Allow-Origin") not in ("*", EVIL)
