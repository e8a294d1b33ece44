"""Who may try to open an order: failed phone checks counted per order and per client, in Redis.

A conversation's own counter (`verify_failures`) is gone with a new sender id or a
restart, so it cannot stop a guesser. Here every failed check of an order's phone
digits is recorded in Redis under the order number and under the client (its IP
or authenticated session), in a sliding window, whatever the conversation. Past
either limit the order (or the client) is locked for a while: every further
attempt is refused without checking the digits, and the lock is logged for
agents (`LOCK_LOG`, newest first, and the process log).

    guard = OrderAccessGuard.from_settings()
    if (refusal := guard.refusal(order_no, client)) is not None: ...  # locked: do not check
    ... digits wrong -> guard.record_failure(order_no, client)
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from functools import cache
from typing import Optional

import redis

from bot.config import Settings, load_settings
from bot.guard.windows import SlidingWindows

logger = logging.getLogger(__name__)

PREFIX = "shop:guard"
LOCK_LOG = f"{PREFIX}:locks"  # a Redis list of JSON lock records for agents, newest first
LOCK_LOG_LENGTH = 1000


@dataclass(frozen=True)
class Limits:
    failures_per_order: int  # wrong digits for one order, from anyone, within the window
    failures_per_client: int  # wrong digits from one client, on any orders, within the window
    window_seconds: int
    lock_seconds: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(settings.verify_failures_per_order, settings.verify_failures_per_client,
                   settings.verify_window_seconds, settings.order_lock_seconds)


@dataclass(frozen=True)
class Refusal:
    """Why an attempt is refused without checking: what is locked and for how long."""

    scope: str  # "order" or "client"
    seconds_left: int


def _key(kind: str, name: str, value: str) -> str:
    return f"{PREFIX}:{kind}:{name}:{value}"


class OrderAccessGuard:
    def __init__(self, client: redis.Redis, limits: Limits) -> None:
        self.redis = client
        self.limits = limits
        self._windows = SlidingWindows(client)

    @classmethod
    def from_settings(cls, settings: Optional[Settings] = None) -> OrderAccessGuard:
        settings = settings or load_settings()
        if not settings.redis_url:
            raise RuntimeError("the order access guard needs Redis (REDIS_URL); make run sets it")
        client = redis.Redis.from_url(settings.redis_url, decode_responses=True, socket_timeout=5,
                                      socket_connect_timeout=5)
        return cls(client, Limits.from_settings(settings))

    def refusal(self, order_no: str, client_id: Optional[str]) -> Optional[Refusal]:
        """A refusal while the order or the client is locked; None when an attempt may be checked."""
        keys = [("order", _key("lock", "order", order_no))]
        if client_id:
            keys.append(("client", _key("lock", "client", client_id)))
        for scope, key in keys:
            left = self.redis.ttl(key)
            if left and left > 0:
                return Refusal(scope, int(left))
        return None

    def record_failure(self, order_no: str, client_id: Optional[str]) -> Optional[Refusal]:
        """Count a wrong check; a refusal when it locked the order or the client."""
        window = self.limits.window_seconds
        keys = [_key("failures", "order", order_no)] + ([_key("failures", "client", client_id)] if client_id else [])
        counts = self._windows.add_each(keys, window)  # one round trip for both windows
        order_failures, client_failures = counts[0], counts[1] if client_id else 0
        if order_failures >= self.limits.failures_per_order:
            return self._lock("order", order_no, order_no, client_id, order_failures)
        if client_id and client_failures >= self.limits.failures_per_client:
            return self._lock("client", client_id, order_no, client_id, client_failures)
        return None

    def _lock(self, scope: str, value: str, order_no: str, client_id: Optional[str], failures: int) -> Refusal:
        self.redis.set(_key("lock", scope, value), "1", ex=self.limits.lock_seconds)
        record = {"at": int(time.time()), "scope": scope, "order_no": order_no, "client": client_id,
                  "failures": failures, "window_seconds": self.limits.window_seconds,
                  "lock_seconds": self.limits.lock_seconds}
        pipe = self.redis.pipeline()
        pipe.lpush(LOCK_LOG, json.dumps(record, ensure_ascii=False))
        pipe.ltrim(LOCK_LOG, 0, LOCK_LOG_LENGTH - 1)
        pipe.execute()
        logger.warning("locked %s %s for %d s after %d failed phone checks (order %s, client %s)",
                       scope, value, self.limits.lock_seconds, failures, order_no, client_id)
        return Refusal(scope, self.limits.lock_seconds)

    def unlock(self, order_no: str) -> None:
        """Lift an order's lock and forget its failures (an agent who verified the shopper otherwise)."""
        self.redis.delete(_key("lock", "order", order_no), _key("failures", "order", order_no))

    def unlock_client(self, client_id: str) -> None:
        """Lift a client's lock and forget its failures."""
        self.redis.delete(_key("lock", "client", client_id), _key("failures", "client", client_id))

    def recent_locks(self, count: int = 50) -> list[dict[str, object]]:
        """The latest locks, newest first, for agents."""
        return [json.loads(raw) for raw in self.redis.lrange(LOCK_LOG, 0, count - 1)]


@cache
def order_access_guard() -> OrderAccessGuard:
    """The process-wide guard over the configured Redis."""
    return OrderAccessGuard.from_settings()
