"""One Redis client (connection pool) per URL per process, shared by every part that needs one."""
from __future__ import annotations

from functools import cache

import redis
import redis.asyncio as aioredis


@cache
def shared_redis(url: str) -> redis.Redis:
    """The process's blocking client for `url` (short timeouts: a slow Redis must not hang a turn)."""
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2, health_check_interval=30)


def new_async_redis(url: str) -> aioredis.Redis:
    """An asyncio client for `url`, for one event loop (long polls and pub/sub block, so no read timeout)."""
    return aioredis.Redis.from_url(url, socket_connect_timeout=2, health_check_interval=30)
