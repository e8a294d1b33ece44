"""The Redis tracker store, configured by `REDIS_URL` instead of fixed host/port.

`endpoints.yml` names this class so that the same file works for `make run`
(which points `REDIS_URL` at the Redis it found or started), for tests (their own
Redis on a free port) and for a production deployment. When Redis goes away,
Rasa's fail-safe wrapper keeps the conversation going in memory and logs it.
"""
from __future__ import annotations

import os
from typing import Any, Optional
from urllib.parse import urlparse

from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import RedisTrackerStore
from rasa.shared.core.domain import Domain

DEFAULT_URL = "redis://localhost:6379/0"


class ShopRedisTrackerStore(RedisTrackerStore):
    """RedisTrackerStore whose connection comes from a URL (env `REDIS_URL` first)."""

    def __init__(
        self,
        domain: Domain,
        url: Optional[str] = None,
        event_broker: Optional[EventBroker] = None,
        record_exp: Optional[float] = None,
        key_prefix: Optional[str] = None,
        **kwargs: Any,
    ) -> None:
        parsed = urlparse(os.environ.get("REDIS_URL") or url or DEFAULT_URL)
        db = int(parsed.path.lstrip("/") or 0)
        for ignored in ("host", "port", "db", "password", "username"):
            kwargs.pop(ignored, None)
        super().__init__(
            domain,
            host=parsed.hostname or "localhost",
            port=parsed.port or 6379,
            db=db,
            username=parsed.username,
            password=parsed.password,
            event_broker=event_broker,
            record_exp=record_exp,
            key_prefix=key_prefix,
            use_ssl=parsed.scheme == "rediss",
            **kwargs,
        )
