"""How fast a shopper may write: per conversation, per IP and per API key, counted in Redis.

Every accepted message is counted under each of its keys in a one-minute sliding
window shared by all processes (`bot.guard.windows`). A web chat conversation and
the address it comes from have small limits (a person types a few messages a
minute); an API key, which carries an app backend's many users, has a large one.
Past a limit the message is not handed to the bot and the shopper gets
`SLOW_DOWN_REPLY`. Without Redis configured nothing is limited (logged once).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cache
from typing import Optional

import redis

from bot.config import Settings, load_settings
from bot.guard.windows import SlidingWindows

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60
PREFIX = "shop:rate"
SLOW_DOWN_REPLY = "亲，您发消息太快啦～请稍等一会儿再发，我会一条条认真回复您的。"


@dataclass(frozen=True)
class RateLimits:
    per_conversation: int  # messages a minute in one web chat conversation
    per_ip: int  # messages a minute from one address (web chat)
    per_api_key: int  # messages a minute through one API key (all of an app backend's users)
    sessions_per_ip: int  # new web chat sessions a minute from one address

    @classmethod
    def from_settings(cls, settings: Settings) -> RateLimits:
        return cls(settings.rate_conversation_per_minute, settings.rate_ip_per_minute,
                   settings.rate_api_key_per_minute, settings.rate_sessions_per_ip_per_minute)


class RateLimiter:
    def __init__(self, client: Optional[redis.Redis], limits: RateLimits) -> None:
        self.limits = limits
        self._windows = SlidingWindows(client) if client is not None else None

    @classmethod
    def from_settings(cls, settings: Optional[Settings] = None) -> RateLimiter:
        settings = settings or load_settings()
        if not settings.redis_url:
            logger.warning("no REDIS_URL: messages are not rate-limited")
            return cls(None, RateLimits.from_settings(settings))
        client = redis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
        return cls(client, RateLimits.from_settings(settings))

    def _within(self, counted: list[tuple[str, int]]) -> bool:
        if self._windows is None:
            return True
        try:
            # Every key is counted, even past the first one over its limit: each window sees all traffic.
            counts = self._windows.add_each([f"{PREFIX}:{key}" for key, _ in counted], WINDOW_SECONDS)
            over = [count > limit for count, (_, limit) in zip(counts, counted)]
        except redis.RedisError:
            logger.exception("rate limiter unavailable; letting the message through")
            return True
        return not any(over)

    def allow_message(self, conversation: str, ip: Optional[str] = None, api_key: Optional[str] = None) -> bool:
        """Count one message; False when it is over a limit and must not reach the bot."""
        counted = []
        if api_key:
            counted.append((f"key:{api_key}", self.limits.per_api_key))
        else:
            counted.append((f"conv:{conversation}", self.limits.per_conversation))
            if ip:
                counted.append((f"ip:{ip}", self.limits.per_ip))
        return self._within(counted)

    def allow_new_session(self, ip: str) -> bool:
        """Count one new web chat session from `ip`; False past the limit."""
        return self._within([(f"session-ip:{ip}", self.limits.sessions_per_ip)])


@cache
def rate_limiter() -> RateLimiter:
    """The process-wide limiter over the configured Redis."""
    return RateLimiter.from_settings()
