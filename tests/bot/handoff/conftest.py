"""A real Redis for the hand-off tests, emptied before each test."""
from __future__ import annotations

from typing import Iterator

import pytest
import redis

from bot.handoff.queue import HandoffQueue
from bot.runtime.redis_service import RedisServer, start_embedded


@pytest.fixture(scope="session")
def handoff_redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_embedded(tmp_path_factory.mktemp("handoff-redis"), persist=False, password="handoff-test")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def handoff_redis(handoff_redis_server: RedisServer) -> redis.Redis:
    client = redis.Redis.from_url(handoff_redis_server.url)
    client.flushdb()
    return client


@pytest.fixture()
def queue(handoff_redis: redis.Redis) -> HandoffQueue:
    return HandoffQueue(handoff_redis)


