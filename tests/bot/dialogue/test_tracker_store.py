"""The append-only Redis tracker store, on a real Redis (embedded, free port).

What matters: a conversation reads back exactly as Rasa's own store would give
it (latest session, slots), a turn writes only its new events, two Rasa
processes sharing the Redis see each other's turns, and trackers the store did
not hand out (created, replaced through the API) are merged as Rasa merges them.
"""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Iterator

import pytest
import redis
from rasa.core.tracker_store import RedisTrackerStore
from rasa.shared.core.constants import ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.config import load_settings
from bot.dialogue.tracker_store import ShopRedisTrackerStore, connect
from bot.runtime.redis_service import RedisServer, start_embedded

DOMAIN = Domain.from_yaml(
    """
version: "3.1"
intents: [greet, inquire_price]
slots:
  current_product_id:
    type: float
    influence_conversation: false
    mappings: [{type: custom}]
responses:
  utter_greet: [{text: 您好}]
"""
)


def run(coro):  # the store's API is async, as Rasa calls it
    return asyncio.run(coro)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_embedded(tmp_path_factory.mktemp("redis"), persist=False)
    yield server
    server.stop()


@pytest.fixture()
def store(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> ShopRedisTrackerStore:
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    redis.Redis.from_url(redis_server.url).flushdb()
    return ShopRedisTrackerStore(DOMAIN, key_prefix="test")


def user_turn(tracker: DialogueStateTracker, text: str, intent: str = "greet") -> None:
    tracker.update(UserUttered(text, {"name": intent, "confidence": 0.9}))
    tracker.update(ActionExecuted("utter_greet"))
    tracker.update(BotUttered("您好"))
    tracker.update(ActionExecuted(ACTION_LISTEN_NAME))


def stored_length(store: ShopRedisTrackerStore, sender_id: str) -> int:
    return store.red.llen(store.events_key(sender_id))


def test_a_conversation_reads_back_with_its_events_and_slots(store: ShopRedisTrackerStore) -> None:
    tracker = run(store.get_or_create_tracker("shopper-1"))
    user_turn(tracker, "你好")
    tracker.update(SlotSet("current_product_id", 42.0))
    run(store.save(tracker))

    fresh = ShopRedisTrackerStore(DOMAIN, key_prefix="test")  # no cache: parses from Redis
    again = run(fresh.retrieve("shopper-1"))
    assert again is not None
    assert [e.as_dict() for e in again.events] == [e.as_dict() for e in tracker.events]
    assert again.get_slot("current_product_id") == 42.0
    assert again.latest_message.text == "你好"


def test_a_turn_appends_only_its_new_events(store: ShopRedisTrackerStore) -> None:
    tracker = run(store.get_or_create_tracker("shopper-2"))
    run(store.save(tracker))
    before = stored_length(store, "shopper-2")
    for turn in range(5):
        tracker = run(store.retrieve("shopper-2"))
        user_turn(tracker, f"第{turn}次")
        run(store.save(tracker))
        run(store.save(tracker))  # saving the same tracker twice adds nothing
    assert stored_length(store, "shopper-2") == before + 5 * 4
    texts = [e.text for e in run(store.retrieve("shopper-2")).events if isinstance(e, UserUttered)]
    assert texts == [f"第{turn}次" for turn in range(5)]


def test_retrieve_gives_the_latest_session_like_rasas_store(store: ShopRedisTrackerStore,
                                                             redis_server: RedisServer) -> None:
    tracker = run(store.get_or_create_tracker("shopper-3"))
    user_turn(tracker, "第一次会话")
    for event in (ActionExecuted(ACTION_SESSION_START_NAME), SessionStarted(), SlotSet("current_product_id", 7.0),
                  ActionExecuted(ACTION_LISTEN_NAME)):
        tracker.update(event)
    user_turn(tracker, "第二次会话")
    run(store.save(tracker))

    rasa_store = RedisTrackerStore(DOMAIN, host="127.0.0.1", port=int(redis_server.url.rsplit(":", 1)[1].split("/")[0]),
                                   key_prefix="reference")
    run(rasa_store.save(tracker))
    ours, theirs = run(store.retrieve("shopper-3")), run(rasa_store.retrieve("shopper-3"))
    assert [e.as_dict() for e in ours.events] == [e.as_dict() for e in theirs.events]
    assert ours.events[0] == ActionExecuted(ACTION_SESSION_START_NAME)
    assert ours.get_slot("current_product_id") == 7.0
    full = run(store.retrieve_full_tracker("shopper-3"))
    assert len(full.events) == len(tracker.events)

    # A turn in the latest session appends after both sessions, leaving the first intact.
    user_turn(ours, "还是第二次")
    run(store.save(ours))
    full = run(ShopRedisTrackerStore(DOMAIN, key_prefix="test").retrieve_full_tracker("shopper-3"))
    texts = [e.text for e in full.events if isinstance(e, UserUttered)]
    assert texts == ["第一次会话", "第二次会话", "还是第二次"]


def test_two_processes_sharing_redis_see_each_others_turns(store: ShopRedisTrackerStore) -> None:
    other = ShopRedisTrackerStore(DOMAIN, key_prefix="test")  # a second Rasa instance
    tracker = run(store.get_or_create_tracker("shopper-4"))
    user_turn(tracker, "在A上")
    run(store.save(tracker))

    on_b = run(other.retrieve("shopper-4"))
    user_turn(on_b, "在B上")
    run(other.save(on_b))

    on_a = run(store.retrieve("shopper-4"))  # A's cache is stale; it reads only B's new events
    assert [e.text for e in on_a.events if isinstance(e, UserUttered)] == ["在A上", "在B上"]
    user_turn(on_a, "又回到A")
    run(store.save(on_a))
    assert [e.text for e in run(other.retrieve("shopper-4")).events if isinstance(e, UserUttered)] == [
        "在A上", "在B上", "又回到A"]


def test_a_stale_tracker_is_merged_not_lost(store: ShopRedisTrackerStore) -> None:
    """Two writers on one old copy (no lock store): the second write merges instead of appending blindly."""
    other = ShopRedisTrackerStore(DOMAIN, key_prefix="test")
    run(store.save(run(store.get_or_create_tracker("shopper-5"))))
    first, second = run(store.retrieve("shopper-5")), run(other.retrieve("shopper-5"))
    user_turn(first, "先到")
    run(store.save(first))
    user_turn(second, "后到")
    run(other.save(second))
    texts = [e.text for e in run(store.retrieve("shopper-5")).events if isinstance(e, UserUttered)]
    assert texts == ["先到", "后到"]


def test_a_tracker_replaced_through_the_api_is_merged(store: ShopRedisTrackerStore) -> None:
    tracker = run(store.get_or_create_tracker("shopper-6"))
    user_turn(tracker, "原来的")
    run(store.save(tracker))
    replacement = DialogueStateTracker.from_events("shopper-6", list(tracker.events), DOMAIN.slots)
    user_turn(replacement, "新加的")
    run(store.save(replacement))  # not handed out by the store: Rasa's merge rules apply
    texts = [e.text for e in run(store.retrieve("shopper-6")).events if isinstance(e, UserUttered)]
    assert texts == ["原来的", "新加的"]


def test_keys_delete_and_expiry(store: ShopRedisTrackerStore, redis_server: RedisServer,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    for sender in ("a", "b"):
        run(store.save(run(store.get_or_create_tracker(sender))))
    assert sorted(run(store.keys())) == ["a", "b"]
    assert run(store.exists("a"))
    assert run(store.delete("a")) is True
    assert run(store.retrieve("a")) is None and not run(store.exists("a"))
    assert run(store.delete("a")) is False

    expiring = ShopRedisTrackerStore(DOMAIN, key_prefix="test", record_exp=60)
    tracker = run(expiring.get_or_create_tracker("c"))
    user_turn(tracker, "会过期")
    run(expiring.save(tracker))
    assert 0 < expiring.red.ttl(expiring.events_key("c")) <= 60


def test_conversations_expire_after_the_retention_by_default(store: ShopRedisTrackerStore) -> None:
    tracker = run(store.get_or_create_tracker("kept-a-while"))
    user_turn(tracker, "我的手机号是13812345678")
    run(store.save(tracker))
    retention = load_settings().retention_seconds
    assert retention == 30 * 24 * 3600  # the documented default
    for key in (store.events_key("kept-a-while"), store.epoch_key("kept-a-while")):
        assert retention - 60 < store.red.ttl(key) <= retention


def test_unknown_stored_events_are_skipped(store: ShopRedisTrackerStore) -> None:
    tracker = run(store.get_or_create_tracker("shopper-7"))
    run(store.save(tracker))
    store.red.rpush(store.events_key("shopper-7"), '{"event": "no_such_event", "timestamp": 1}')
    fresh = ShopRedisTrackerStore(DOMAIN, key_prefix="test")
    assert len(run(fresh.retrieve("shopper-7")).events) == len(tracker.events)


class RestartableRedis:
    """A Redis with an append-only file that a test stops and starts again on the same port."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.server = start_embedded(data_dir, persist=True)
        self.port = int(self.server.url.rsplit(":", 1)[1].split("/")[0])

    def stop(self) -> None:
        self.server.stop()

    def start_again(self) -> None:
        self.server = start_embedded(self.data_dir, port=self.port, persist=True)


@pytest.fixture()
def outage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[RestartableRedis, ShopRedisTrackerStore]]:
    redis_server = RestartableRedis(tmp_path / "redis")
    monkeypatch.setenv("REDIS_URL", redis_server.server.url)
    yield redis_server, ShopRedisTrackerStore(DOMAIN, key_prefix="outage", socket_timeout=1.0)
    redis_server.stop()


def test_a_redis_outage_loses_no_event(outage: tuple[RestartableRedis, ShopRedisTrackerStore]) -> None:
    """Redis stops mid-conversation and comes back (same port, its append-only file)."""
    server, store = outage
    tracker = run(store.get_or_create_tracker("shopper-8"))
    user_turn(tracker, "停之前")
    run(store.save(tracker))
    server.stop()

    during = run(store.retrieve("shopper-8"))  # from this process's memory
    assert [e.text for e in during.events if isinstance(e, UserUttered)] == ["停之前"]
    user_turn(during, "停的时候")
    run(store.save(during))  # kept in memory, no exception for Rasa to swallow
    with pytest.raises(redis.ConnectionError):
        run(store.retrieve("never-seen"))  # Rasa's fail-safe store starts this one afresh

    server.start_again()
    after = run(store.retrieve("shopper-8"))
    user_turn(after, "恢复以后")
    run(store.save(after))
    fresh = ShopRedisTrackerStore(DOMAIN, key_prefix="outage")
    texts = [e.text for e in run(fresh.retrieve("shopper-8")).events if isinstance(e, UserUttered)]
    assert texts == ["停之前", "停的时候", "恢复以后"]


def test_events_kept_in_an_outage_reach_redis_with_any_later_save(
        outage: tuple[RestartableRedis, ShopRedisTrackerStore]) -> None:
    server, store = outage
    quiet = run(store.get_or_create_tracker("goes-quiet"))
    run(store.save(quiet))
    server.stop()
    quiet = run(store.retrieve("goes-quiet"))
    user_turn(quiet, "最后一句")
    run(store.save(quiet))  # this shopper never writes again
    server.start_again()
    other = run(store.get_or_create_tracker("someone-else"))
    user_turn(other, "别的会话")
    run(store.save(other))  # any successful save flushes what was kept
    fresh = ShopRedisTrackerStore(DOMAIN, key_prefix="outage")
    texts = [e.text for e in run(fresh.retrieve("goes-quiet")).events if isinstance(e, UserUttered)]
    assert texts == ["最后一句"]


def test_endpoints_password_reaches_a_redis_that_requires_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """endpoints.yml's `password` (and `username`) are honoured when the URL carries none."""
    server = start_embedded(tmp_path / "locked", persist=False, password="s3cret")
    try:
        monkeypatch.delenv("REDIS_URL", raising=False)
        bare_url = server.url.replace(":s3cret@", "")
        without = ShopRedisTrackerStore(DOMAIN, url=bare_url, key_prefix="auth")
        with pytest.raises(redis.AuthenticationError):
            without.red.ping()
        store = ShopRedisTrackerStore(DOMAIN, url=bare_url, password="s3cret", key_prefix="auth")
        tracker = run(store.get_or_create_tracker("with-password"))
        user_turn(tracker, "你好")
        run(store.save(tracker))
        assert stored_length(store, "with-password") > 0
    finally:
        server.stop()


def test_use_ssl_asks_for_tls() -> None:
    client = connect("redis://127.0.0.1:6399/0", use_ssl=True)
    assert client.connection_pool.connection_class.__name__ == "SSLConnection"
    assert connect("redis://127.0.0.1:6399/0").connection_pool.connection_class.__name__ == "Connection"
