"""Fixtures for fast action tests: the real actions over a seeded temporary shop, no servers.

`run_action` runs an action (or a form validation) the way the action server
does, with rasa_sdk's `Tracker` and `CollectingDispatcher`, and returns what it
said and the events it returned.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest
import redis
import yaml
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

import actions.common
from bot.config import PROJECT_ROOT
from bot.guard.order_access import order_access_guard
from bot.handoff import service as handoff_service
from bot.privacy.pending import pending_values
from bot.runtime.redis_service import RedisServer, start_embedded
from bot.shop.seed import seed_database
from bot.shop.sqlite_backend import SqliteShopBackend


@pytest.fixture(scope="session")
def shop_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("actions-shop") / "shop.db"
    seed_database(path)
    return path


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real Redis (with a password, as make run starts it) for the order access guard."""
    server = start_embedded(tmp_path_factory.mktemp("actions-redis"), persist=False, password="actions-test")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def shop(shop_db: Path, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[SqliteShopBackend]:
    """The backend the actions use, over the seeded test database (SHOP_DB, as the action server reads it),
    and a clean Redis for the order access guard (REDIS_URL)."""
    monkeypatch.setenv("SHOP_DB", str(shop_db))
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    redis.Redis.from_url(redis_server.url).flushdb()
    actions.common.backend.cache_clear()
    order_access_guard.cache_clear()
    pending_values.cache_clear()
    for cached in (handoff_service.handoff_queue, handoff_service.outbound, handoff_service.ownership_gate):
        cached.cache_clear()
    try:
        backend = actions.common.backend()
        assert isinstance(backend, SqliteShopBackend)
        yield backend
    finally:
        actions.common.backend.cache_clear()
        order_access_guard.cache_clear()


@pytest.fixture(scope="session")
def domain() -> dict[str, Any]:
    return yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))


@dataclass
class Result:
    """What an action said (texts, buttons, responses) and the events it returned."""

    messages: list[dict[str, Any]]
    events: list[dict[str, Any]]

    @property
    def text(self) -> str:
        return "\n".join(m.get("text") or "" for m in self.messages)

    @property
    def responses(self) -> list[str]:
        return [m["response"] for m in self.messages if m.get("response")]

    def slots(self) -> dict[str, Any]:
        return {e["name"]: e["value"] for e in self.events if e.get("event") == "slot"}


@dataclass
class Turn:
    """The latest shopper message and the conversation state an action sees."""

    text: str = ""
    intent: str = "inform"
    entities: list[dict[str, Any]] = field(default_factory=list)
    slots: dict[str, Any] = field(default_factory=dict)
    sender_id: str = "action-test"
    active_loop: Optional[str] = None
    events: list[dict[str, Any]] = field(default_factory=list)
    intent_ranking: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)  # what the channel recorded (e.g. the client)

    def tracker(self) -> Tracker:
        latest = {"text": self.text, "intent": {"name": self.intent, "confidence": 1.0},
                  "entities": self.entities, "intent_ranking": self.intent_ranking, "metadata": self.metadata}
        user = {"event": "user", "text": self.text, "parse_data": latest, "input_channel": "rest"}
        return Tracker(self.sender_id, dict(self.slots), latest, [*self.events, user], False, None,
                       {"name": self.active_loop} if self.active_loop else {}, "action_listen")


def run_action(action: Action, turn: Turn, domain: dict[str, Any]) -> Result:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, turn.tracker(), domain))
    return Result(dispatcher.messages, [dict(e) for e in events or []])


def entity(name: str, value: str) -> dict[str, Any]:
    return {"entity": name, "value": value}
