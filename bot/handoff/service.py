"""The hand-off parts a process uses, built once from the settings (None where no Redis is configured)."""
from __future__ import annotations

import logging
from functools import cache
from typing import TYPE_CHECKING, Optional

from bot.config import load_settings
from bot.handoff.outbound import Outbound
from bot.handoff.queue import HandoffQueue
from bot.runtime.redis_clients import shared_redis

if TYPE_CHECKING:  # the gate needs Rasa; the action server, which imports this module, does not
    from bot.handoff.gate import OwnershipGate

logger = logging.getLogger(__name__)


@cache
def handoff_queue() -> Optional[HandoffQueue]:
    settings = load_settings()
    if not settings.redis_url:
        logger.warning("no REDIS_URL: conversations cannot be handed to agents (tickets only)")
        return None
    return HandoffQueue(shared_redis(settings.redis_url))


@cache
def outbound() -> Optional[Outbound]:
    queue = handoff_queue()
    return Outbound(queue.redis, load_settings().retention_seconds) if queue else None


@cache
def ownership_gate() -> Optional[OwnershipGate]:
    from bot.handoff.gate import OwnershipGate
    from bot.shop import open_backend

    queue = handoff_queue()
    if queue is None:
        return None
    settings = load_settings()
    return OwnershipGate(queue, open_backend(), settings.handoff_max_wait_seconds,
                         settings.handoff_default_handling_seconds, settings.handoff_hours)
