"""Shared fixtures. `stack` runs the real assistant (Redis, action server, Rasa, web page)
on free ports with its own shop database, exactly as `make run` does."""
from __future__ import annotations

import json
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Iterator, Optional

import pytest

from bot.config import PROJECT_ROOT, load_settings
from bot.runtime.runner import Stack
from bot.shop import ensure_database
from bot.shop.models import Order, OrderStatus
from bot.shop.sqlite_backend import SqliteShopBackend
from bot.tools.train import model_path

MODEL = model_path(PROJECT_ROOT / "models")


@dataclass(frozen=True)
class SampleOrder:
    order_no: str
    phone_last4: str
    status_label: str


@dataclass
class RunningStack:
    stack: Stack
    backend: SqliteShopBackend
    sample_order: SampleOrder

    @property
    def rasa_url(self) -> str:
        return self.stack.rasa_url

    @property
    def rest_url(self) -> str:
        return self.stack.rest_url

    @property
    def web_url(self) -> Optional[str]:
        return self.stack.web_url

    def post(self, body: bytes, content_type: str = "application/json",
             authorization: Optional[str] = "api_key") -> tuple[int, object]:
        """Raw POST to the REST webhook, as the app's backend (its API key) unless `authorization` says
        otherwise (a whole header value, or None for none): (status, decoded JSON or text)."""
        headers = {"Content-Type": content_type}
        if authorization == "api_key":
            headers["Authorization"] = f"Bearer {self.stack.api_key}"
        elif authorization is not None:
            headers["Authorization"] = authorization
        request = urllib.request.Request(self.rest_url, data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def tracker(self, sender: str) -> dict:
        """The conversation as Rasa stores it, read through its HTTP API with the API token."""
        query = urllib.parse.urlencode({"token": self.stack.api_token})
        url = f"{self.rasa_url}/conversations/{urllib.parse.quote(sender, safe=':')}/tracker?{query}"
        with urllib.request.urlopen(url, timeout=60) as response:
            return json.loads(response.read())

    def say(self, sender: str, text: str) -> list[dict]:
        status, messages = self.post(json.dumps({"sender": sender, "message": text}).encode())
        assert status == 200, messages
        return messages  # type: ignore[return-value]

    def chat(self, sender: str, text: str) -> str:
        """The bot's answers to `text` as one string (buttons' titles included)."""
        parts = []
        for message in self.say(sender, text):
            parts.append(message.get("text", ""))
            parts += [button.get("title", "") for button in message.get("buttons", [])]
        return "\n".join(parts)


def new_sender() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    if not MODEL.exists():
        pytest.fail(f"no trained model at {MODEL}: run `make model` (make test does)")
    state = tmp_path_factory.mktemp("state")
    settings = load_settings()
    stack = Stack.from_settings(settings, MODEL, free_ports=True, web=True)
    stack.state_dir, stack.shop_db, stack.redis_url = state, state / "shop.db", None
    stack.handoff_hours = "always"  # hand-off tests need the live queue whatever the hour; tickets: tests/actions
    # A developer's own channel and desk secrets must never make the test stack talk to Telegram, WeChat or mail.
    stack.extra_env.update(dict.fromkeys(("TELEGRAM_TOKEN", "TELEGRAM_DESK_TOKEN", "WECHAT_APP_ID", "WECHAT_TOKEN",
                                          "MAIL_ADDRESS", "MAIL_IMAP_HOST"), ""))
    stack.telegram_desk = False
    ensure_database(stack.shop_db)
    backend = SqliteShopBackend(stack.shop_db)
    shipped: Order = backend.find_orders(OrderStatus.SHIPPED, limit=1)[0]
    sample = SampleOrder(shipped.order_no, shipped.phone[-4:], shipped.status.label)
    with stack:
        yield RunningStack(stack, backend, sample)
