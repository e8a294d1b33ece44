"""Which conversations were purged on request, so the web page that held one forgets it too."""
from __future__ import annotations

import redis

PURGED_PREFIX = "shop:purged"


def mark_purged(client: redis.Redis, conversation: str, remember_seconds: int) -> None:
    client.set(f"{PURGED_PREFIX}:{conversation}", "1", ex=remember_seconds)


def was_purged(client: redis.Redis, conversation: str) -> bool:
    return bool(client.exists(f"{PURGED_PREFIX}:{conversation}"))
