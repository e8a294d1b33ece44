"""Sliding-window counters in Redis, shared by every process: how many things happened lately."""
from __future__ import annotations

import time
import uuid

import redis

# Add one event to each window and count them: KEYS the windows; ARGV: now (ms), window (ms), a unique member.
# Returns the events in each window, this one included.
_ADD_AND_COUNT = """
local counts = {}
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
  redis.call('ZADD', key, ARGV[1], ARGV[3])
  redis.call('PEXPIRE', key, ARGV[2])
  counts[i] = redis.call('ZCARD', key)
end
return counts
"""


class SlidingWindows:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        self._add_and_count = client.register_script(_ADD_AND_COUNT)

    def add(self, key: str, window_seconds: float) -> int:
        """Record one event under `key`; the events of the last `window_seconds`, this one included."""
        return self.add_each([key], window_seconds)[0]

    def add_each(self, keys: list[str], window_seconds: float) -> list[int]:
        """`add` under each of `keys`, in one round trip (a message is counted under several keys, on every
        shopper's wait)."""
        if not keys:
            return []
        now_ms = int(time.time() * 1000)
        counts = self._add_and_count(keys=keys, args=[now_ms, int(window_seconds * 1000), uuid.uuid4().hex])
        return [int(count) for count in counts]
