"""The web chat server (bot/web/server.py): routes, config and the command line.

sanic-testing is not part of the project's dependencies, so the server runs for
real: `python -m bot.web.server` in a subprocess on a free port, queried with urllib.
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from bot.config import PROJECT_ROOT
from bot.web.server import STATIC_DIR, create_app, normalise_rasa_url
from tests.processes import stop_process

REPO_ROOT = PROJECT_ROOT
RASA_URL = "http://127.0.0.1:5999"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 5.0):
    """(status, headers, body bytes) for a GET, HTTP errors included."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def start_server(rasa_url: str, port: int) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               SHOP_SESSION_KEY="web-server-test-key")
    return subprocess.Popen(
        [sys.executable, "-m", "bot.web.server", "--host", "127.0.0.1", "--port", str(port), "--rasa-url", rasa_url],
        cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


def wait_healthy(proc: subprocess.Popen, base: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise RuntimeError(f"web server exited with {proc.returncode}:\n{out}")
        try:
            if get(base + "/health", timeout=1.0)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"web server at {base} not healthy after {timeout}s")


@pytest.fixture(scope="module")
def base_url():
    port = free_port()
    proc = start_server(RASA_URL + "/", port)  # trailing slash on purpose: it is normalised away
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(proc, base)
        yield base
    finally:
        stop_process(proc)


# ------------------------------------------------------------------ routes


def test_health(base_url):
    status, headers, body = get(base_url + "/health")
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(body) == {"status": "ok"}


def test_config_points_at_rasa(base_url):
    status, headers, body = get(base_url + "/config.json")
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(body) == {"socketUrl": RASA_URL, "socketPath": "/socket.io/"}
    assert "no-cache" in headers.get("Cache-Control", "")


def test_index_page(base_url):
    status, headers, body = get(base_url + "/")
    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    html = body.decode("utf-8")
    assert "<title>小店客服</title>" in html
    for element_id in ("messages", "input", "send", "status-banner", "new-chat", "counter"):
        assert f'id="{element_id}"' in html, element_id
    assert 'maxlength="500"' in html
    csp = headers.get("Content-Security-Policy", "")
    assert "script-src 'self'" in csp
    assert headers.get("X-Content-Type-Options") == "nosniff"


def test_index_references_existing_assets(base_url):
    html = get(base_url + "/")[2].decode("utf-8")
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert "/static/app.js" in assets
    assert "/static/style.css" in assets
    assert "/static/vendor/socket.io.min.js" in assets
    for asset in assets:
        status, _, body = get(base_url + asset)
        assert status == 200, asset
        assert body, asset


@pytest.mark.parametrize(
    "path, content_type",
    [
        ("/static/app.js", "javascript"),
        ("/static/style.css", "text/css"),
        ("/static/vendor/socket.io.min.js", "javascript"),
    ],
)
def test_static_content_types(base_url, path, content_type):
    status, headers, _ = get(base_url + path)
    assert status == 200
    assert content_type in headers["Content-Type"]


def test_unknown_paths_are_404(base_url):
    assert get(base_url + "/nope")[0] == 404
    assert get(base_url + "/static/nope.js")[0] == 404


def test_static_does_not_escape_its_folder(base_url):
    for path in ("/static/../server.py", "/static/%2e%2e/server.py", "/static/..%2fserver.py"):
        status, _, body = get(base_url + path)
        assert status in (400, 403, 404), path
        assert b"create_app" not in body


# ---------------------------------------------------------------- in-process


def test_create_app_names_are_unique_and_routes_registered():
    a = create_app("http://localhost:5005")
    b = create_app("http://localhost:5005")
    assert a.name != b.name
    uris = {route.uri if route.uri.startswith("/") else "/" + route.uri for route in a.router.routes}
    assert {"/", "/config.json", "/health"} <= uris
    assert any(uri.startswith("/static") for uri in uris)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("http://localhost:5005", "http://localhost:5005"),
        ("http://localhost:5005/", "http://localhost:5005"),
        ("  https://shop.example.com/rasa/ ", "https://shop.example.com/rasa"),
    ],
)
def test_normalise_rasa_url(raw, expected):
    assert normalise_rasa_url(raw) == expected


@pytest.mark.parametrize("raw", ["", "localhost:5005", "ftp://x", "http://", "ws://localhost:5005"])
def test_bad_rasa_url_rejected(raw):
    with pytest.raises(ValueError):
        create_app(raw)


def test_cli_rejects_bad_rasa_url():
    proc = subprocess.run(
        [sys.executable, "-m", "bot.web.server", "--port", str(free_port()), "--rasa-url", "not-a-url"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
        env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
    )
    assert proc.returncode == 2
    assert "rasa_url" in proc.stderr


# ------------------------------------------------------------ static files


def test_vendored_socketio_client_is_v4_with_licence():
    js = (STATIC_DIR / "vendor" / "socket.io.min.js").read_text(encoding="utf-8")
    assert re.search(r"Socket\.IO v4\.\d+\.\d+", js), "socket.io client must be v4 (Engine.IO v4)"
    assert (STATIC_DIR / "vendor" / "socket.io-client.LICENSE").is_file()


def test_page_script_never_writes_html():
    """Message text must reach the DOM as text only."""
    js = (STATIC_DIR / "app.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in js, sink


@pytest.mark.parametrize("path", ["/", "/config.json", "/static/app.js", "/health", "/no-such-page"])
def test_every_response_forbids_framing_and_foreign_scripts(base_url, path):
    _, headers, _ = get(base_url + path)
    csp = headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, path
    assert headers.get("X-Frame-Options") == "DENY", path


def test_session_tokens_are_issued_and_renewed(base_url):
    def post(payload: bytes) -> dict:
        request = urllib.request.Request(base_url + "/session", data=payload,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            return json.loads(resp.read())

    first = post(b"{}")
    assert len(first["sessionId"]) == 32 and first["token"]
    assert post(json.dumps({"token": first["token"]}).encode())["sessionId"] == first["sessionId"]
    assert post(b'{"token": "forged"}')["sessionId"] != first["sessionId"]
    assert post(b"not json")["sessionId"] != first["sessionId"]
