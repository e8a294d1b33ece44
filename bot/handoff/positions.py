"""Tell waiting shoppers their new place in the queue as it changes, not only when they write.

After anything that moves a queue (a dispatch round, the sweep, a shopper leaving
a message instead), `announce_positions` asks the queue which waiting shoppers
now stand better than the position they were last told (`HandoffQueue.due_positions`,
one Lua step that also marks them told, so two processes never send the same
update), and sends each the new position and estimated wait through `Outbound`,
so it reaches them on whatever channel they wait on. The caller adds what was
sent to each conversation's Rasa tracker (`position_event`), so the transcript an
agent reads shows what the shopper was told. The throttle lives in
`triggers.yml` (`queue.position_update_seconds`): at most one update per shopper
in that time, except "you are next", and never one saying they fell back.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Iterable, Optional

from bot.config import load_settings
from bot.handoff.escalation import QueueRules, escalation_rules, estimated_wait, queue_rules, queue_status_text
from bot.handoff.outbound import Outbound
from bot.handoff.queue import HandoffQueue

logger = logging.getLogger(__name__)

UPDATE_PREFIX = "排队进度更新："
POSITION_METADATA = "queue_position"


@dataclass(frozen=True)
class PositionUpdate:
    conversation: str
    group: str
    position: int
    wait_seconds: float
    text: str


def announce_positions(queue: HandoffQueue, outbound: Optional[Outbound] = None,
                       groups: Optional[Iterable[str]] = None, now_ms: Optional[int] = None,
                       rules: Optional[QueueRules] = None,
                       default_handling_seconds: Optional[float] = None) -> list[PositionUpdate]:
    """Push the new position and wait to every shopper of `groups` (default: all) who moved up; what was sent."""
    if outbound is None or default_handling_seconds is None:
        settings = load_settings()
        outbound = outbound or Outbound(queue.redis, settings.retention_seconds)
        if default_handling_seconds is None:
            default_handling_seconds = float(settings.handoff_default_handling_seconds)
    rules = rules or queue_rules()
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    sent: list[PositionUpdate] = []
    for group in escalation_rules().groups if groups is None else groups:
        due = queue.due_positions(group, rules.position_update_seconds, now_ms)
        if not due:
            continue
        per_place = estimated_wait(queue, group, 1, default_handling_seconds)  # the same for the whole group
        for conversation, position in due:
            wait = position * per_place
            text = UPDATE_PREFIX + queue_status_text(position, wait)
            try:
                outbound.send(conversation, {"text": text, "from": "bot"})
            except Exception:  # one shopper's update must not keep the others' (or the dispatch) from going on
                logger.warning("could not send conversation %s its queue position", conversation, exc_info=True)
                continue
            sent.append(PositionUpdate(conversation, group, position, wait, text))
    return sent


def position_event(update: PositionUpdate) -> dict[str, Any]:
    """The tracker event (as JSON) for an update that was sent: the bot's turn, marked with the position told."""
    return {"event": "bot", "text": update.text, "data": {},
            "metadata": {POSITION_METADATA: update.position, "group": update.group}}
