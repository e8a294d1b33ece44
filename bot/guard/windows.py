"""Sliding-window counters in Redis, shared by every process: how many things happened lately."""
from __future__ import annotations

import time
import uuid

import redis

# Add one event to a window and count the window: KEYS[1] the window; ARGV: now (ms),
# window (ms), a unique member. Returns the events in the window, this one included.
_ADD_AND_COUNT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return redis.call('ZCARD', KEYS[1])
"""


class SlidingWindows:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._add_and_count = client.register_script(_ADD_AND_COUNT)

    def add(self, key: str, window_seconds: float) -> int:
        """Record one event under `key`; the events of the last `window_seconds`, this one included."""
        now_ms = int(time.time() * 1000)
        return int(self._add_and_count(keys=[key], args=[now_ms, int(window_seconds * 1000), uuid.uuid4().hex]))
