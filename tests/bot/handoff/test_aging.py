"""Waiting raises priority (issue 14: "Priority (VIP, complaint severity, waiting time)"), on a real Redis."""
from __future__ import annotations

from bot.handoff import keys
from bot.handoff.dispatch import sweep
from bot.handoff.escalation import queue_rules
from bot.handoff.outbound import Outbound
from bot.handoff.presence import Status, heartbeat
from bot.handoff.queue import AgentProfile, Escalation, HandoffQueue

MINUTE = 60_000
T0 = 1_000_000_000  # ms, the test's clock


def escalate(queue: HandoffQueue, conversation: str, priority: int, at: int) -> None:
    queue.enqueue(Escalation(conversation, "orders", "shopper_request", priority), now_ms=at)


def test_an_old_escalation_overtakes_a_fresh_one_a_band_higher_after_the_aging_step_not_before(
        queue: HandoffQueue) -> None:
    escalate(queue, "old", 0, T0)
    escalate(queue, "fresh", 1, T0 + 4 * MINUTE)
    assert queue.age("orders", step_minutes=5, max_priority=3, now_ms=T0 + 5 * MINUTE - 1) == 0
    assert queue.waiting("orders") == ["fresh", "old"]
    assert queue.age("orders", step_minutes=5, max_priority=3, now_ms=T0 + 5 * MINUTE) == 1
    assert queue.waiting("orders") == ["old", "fresh"]  # same band now: the earlier first
    assert queue.position("old") == 1  # the rank a shopper is told includes the aging
    assert queue.age("orders", step_minutes=5, max_priority=3, now_ms=T0 + 5 * MINUTE) == 0  # idempotent


def test_aging_is_capped_and_keeps_first_come_first_served_and_the_front(queue: HandoffQueue) -> None:
    escalate(queue, "a", 0, T0)
    escalate(queue, "b", 0, T0 + MINUTE)
    escalate(queue, "c", 1, T0 + 2 * MINUTE)
    escalate(queue, "complaint", 4, T0 + 59 * MINUTE)
    queue.register(AgentProfile("li", "Li", ("orders",), 1))
    heartbeat(queue.redis, "li", Status.ONLINE, grace_seconds=30)
    escalate(queue, "held", 0, T0 + 30 * MINUTE)
    assert queue.claim("li", "held", now_ms=T0 + 31 * MINUTE) == "held"
    queue.redis.delete(keys.alive("li"))
    assert queue.requeue_agent("li") == 1  # back at the front of its (unaged) band
    assert queue.age("orders", step_minutes=5, max_priority=3, now_ms=T0 + 60 * MINUTE) == 4
    # all four at the cap (3): the requeued one first, then by escalation time; a priority above the cap stays ahead
    assert queue.waiting("orders") == ["complaint", "held", "a", "b", "c"]


def test_the_sweep_ages_with_the_configured_step_and_tells_who_moved_up(queue: HandoffQueue) -> None:
    step = int(queue_rules().priority_aging_minutes * MINUTE)
    assert step > 0 and queue_rules().priority_aging_max >= 1
    escalate(queue, "old", 0, T0)
    escalate(queue, "fresh", 1, T0 + step - MINUTE)
    sweep(queue, now_ms=T0 + step - 1)
    assert queue.waiting("orders") == ["fresh", "old"]
    queue.told("old", 2, now_ms=T0 + step - 1)  # the shopper asked; the gate told them 2
    sweep(queue, now_ms=T0 + step)
    assert queue.waiting("orders") == ["old", "fresh"]
    texts = [m["text"] for _, m in Outbound(queue.redis, 3600).since("old")]
    assert len(texts) == 1 and texts[0].startswith("排队进度更新：您是下一位")
    assert Outbound(queue.redis, 3600).since("fresh") == []  # fell back: not pushed
