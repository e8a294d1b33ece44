"""Message rate limits in a real Redis: per conversation, per address, per API key, new sessions per address."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import redis

from bot.guard.rate_limit import RateLimiter, RateLimits
from bot.runtime.redis_service import RedisServer, start_embedded

LIMITS = RateLimits(per_conversation=3, per_ip=5, per_api_key=7, sessions_per_ip=2)


@pytest.fixture()
def limiter(tmp_path: Path) -> Iterator[RateLimiter]:
    server: RedisServer = start_embedded(tmp_path, persist=False)
    try:
        yield RateLimiter(redis.Redis.from_url(server.url), LIMITS)
    finally:
        server.stop()


def test_a_conversation_gets_its_limit(limiter: RateLimiter) -> None:
    assert [limiter.allow_message("c1", ip="a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow_message("c2", ip="a")  # another conversation from the same address


def test_an_address_gets_its_limit_across_conversations(limiter: RateLimiter) -> None:
    allowed = [limiter.allow_message(f"c{i}", ip="1.2.3.4") for i in range(6)]
    assert allowed == [True] * 5 + [False]
    assert limiter.allow_message("c9", ip="5.6.7.8")


def test_an_api_key_counts_all_its_users_together(limiter: RateLimiter) -> None:
    allowed = [limiter.allow_message("same-user", ip="10.0.0.1", api_key="key1") for _ in range(8)]
    assert allowed == [True] * 7 + [False]  # the per-conversation limit does not apply to an app backend


def test_new_sessions_per_address(limiter: RateLimiter) -> None:
    assert [limiter.allow_new_session("a") for _ in range(3)] == [True, True, False]


def test_without_redis_nothing_is_limited() -> None:
    limiter = RateLimiter(None, LIMITS)
    assert all(limiter.allow_message("c", ip="a") for _ in range(50))
