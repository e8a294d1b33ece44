"""Personal values a flow needs for a moment, kept out of the transcript.

When a shopper changes an order's phone or address, the new value must reach the
shop, but a slot would store it in the conversation for the whole retention. The
form puts it here instead (Redis, expiring after `PENDING_SECONDS`) and keeps only
a masked version in its slot; the submitting action takes it out again.
"""
from __future__ import annotations

from functools import cache
from typing import Optional

import redis

from bot.config import load_settings

PREFIX = "shop:pending"
PENDING_SECONDS = 30 * 60  # a form left this long asks again


class PendingValues:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    def _key(self, conversation: str, name: str) -> str:
        return f"{PREFIX}:{conversation}:{name}"

    def put(self, conversation: str, name: str, value: str) -> None:
        self.redis.set(self._key(conversation, name), value, ex=PENDING_SECONDS)

    def take(self, conversation: str, name: str) -> Optional[str]:
        """The value, removed from the store; None when it expired or was never put."""
        value = self.redis.getdel(self._key(conversation, name))
        return value.decode() if isinstance(value, bytes) else value

    def forget_conversation(self, conversation: str) -> int:
        """Delete every pending value of a conversation (purge); how many there were."""
        keys = list(self.redis.scan_iter(match=f"{PREFIX}:{conversation}:*", count=500))
        return int(self.redis.delete(*keys)) if keys else 0


@cache
def pending_values() -> PendingValues:
    settings = load_settings()
    if not settings.redis_url:
        raise RuntimeError("pending values need Redis (REDIS_URL); make run sets it")
    return PendingValues(redis.Redis.from_url(settings.redis_url, decode_responses=True, socket_timeout=5))
