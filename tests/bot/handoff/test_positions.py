"""Queue positions pushed to waiting shoppers as they improve, on a real Redis: right numbers, throttled, never twice."""
from __future__ import annotations

from typing import Any

from bot.handoff import keys
from bot.handoff.dispatch import Round, dispatch, sweep
from bot.handoff.escalation import queue_rules
from bot.handoff.outbound import Outbound
from bot.handoff.positions import announce_positions
from bot.handoff.presence import Status, heartbeat
from bot.handoff.queue import AgentProfile, Escalation, HandoffQueue

SECOND = 1_000
T0 = 1_000_000_000  # ms, the test's clock


def agent(queue: HandoffQueue, agent_id: str, limit: int = 1) -> None:
    queue.register(AgentProfile(agent_id, agent_id.title(), ("orders",), limit))
    heartbeat(queue.redis, agent_id, Status.ONLINE, grace_seconds=30)


def escalate(queue: HandoffQueue, conversation: str, at: int, priority: int = 0) -> int:
    placement = queue.enqueue(Escalation(conversation, "orders", "shopper_request", priority), now_ms=at)
    assert placement.position is not None
    return placement.position


def pushed(queue: HandoffQueue, conversation: str) -> list[dict[str, Any]]:
    return [message for _, message in Outbound(queue.redis, 3600).since(conversation)]


def test_a_claim_pushes_their_new_place_to_the_shoppers_still_waiting(queue: HandoffQueue) -> None:
    queue.redis.lpush(keys.handled("orders"), "120")  # two minutes a chat lately
    agent(queue, "li")
    assert [escalate(queue, c, T0 + i) for i, c in enumerate(("a", "b", "c"))] == [1, 2, 3]  # what they were told
    assert announce_positions(queue, now_ms=T0 + 60 * SECOND) == []  # nothing changed: nothing sent
    done = dispatch(queue, now_ms=T0 + 60 * SECOND)
    assert [a.conversation for a in done.assigned] == ["a"]
    assert [(u.conversation, u.position) for u in done.told] == [("b", 1), ("c", 2)]  # for their transcripts
    assert pushed(queue, "a") == []  # has an agent now: the desk greets them
    assert pushed(queue, "b") == [{"text": "排队进度更新：您是下一位，预计等待约 2 分钟。", "from": "bot"}]
    assert pushed(queue, "c") == [{"text": "排队进度更新：您前面还有 1 位，预计等待约 4 分钟。", "from": "bot"}]
    # nothing changed since: a sweep sends nothing more
    assert sweep(queue, now_ms=T0 + 70 * SECOND) == Round()
    assert len(pushed(queue, "b")) == 1 and len(pushed(queue, "c")) == 1


def test_updates_to_one_shopper_are_throttled_except_you_are_next(queue: HandoffQueue) -> None:
    gap = int(queue_rules().position_update_seconds * SECOND)
    agent(queue, "li", limit=5)
    for index, conversation in enumerate(("a", "b", "c", "d")):
        escalate(queue, conversation, T0 + index)
    first = T0 + gap + 10  # an interval after they were told their places at enqueue
    queue.claim("li", now_ms=first)
    assert {u.conversation: u.position for u in announce_positions(queue, now_ms=first)} == {"b": 1, "c": 2, "d": 3}
    queue.claim("li", now_ms=first + SECOND)  # moments later: only the one now next hears of it
    assert [(u.conversation, u.position) for u in announce_positions(queue, now_ms=first + SECOND)] == [("c", 1)]
    late = first + gap  # an interval on, d is told, once
    assert [(u.conversation, u.position) for u in announce_positions(queue, now_ms=late)] == [("d", 2)]
    assert announce_positions(queue, now_ms=late) == []
    assert [m["text"].split("，")[0] for m in pushed(queue, "d")] == ["排队进度更新：您前面还有 2 位", "排队进度更新：您前面还有 1 位"]


def test_falling_back_is_not_pushed_and_a_reply_counts_as_told(queue: HandoffQueue) -> None:
    escalate(queue, "a", T0)
    escalate(queue, "vip", T0 + SECOND, priority=5)  # goes ahead of a
    assert queue.position("a") == 2
    assert announce_positions(queue, now_ms=T0 + 600 * SECOND) == []  # no "you fell back" message
    queue.told("a", 2, now_ms=T0 + 600 * SECOND)  # the shopper wrote and the gate told them 2
    queue.withdraw("vip", "left_message")
    assert [(u.conversation, u.position) for u in announce_positions(queue, now_ms=T0 + 601 * SECOND)] == [("a", 1)]


def test_a_chat_back_in_the_queue_is_told_its_place_and_the_told_position_ends_with_the_escalation(
        queue: HandoffQueue) -> None:
    agent(queue, "li")
    escalate(queue, "a", T0)
    escalate(queue, "b", T0 + 1)
    assert queue.claim("li", now_ms=T0 + 2) == "a"
    assert not queue.redis.exists(keys.told("a"))  # claimed: no place to be told
    queue.redis.delete(keys.alive("li"))  # Li's console died; the sweep puts a back at the front
    done = sweep(queue, now_ms=T0 + 3, assign=False)  # as the Telegram desk sweeps
    assert done.requeued == 1 and done.assigned == [] and [u.conversation for u in done.told] == ["a"]
    assert [m["text"].split("，")[0] for m in pushed(queue, "a")] == ["排队进度更新：您是下一位"]
    assert pushed(queue, "b") == []  # fell back to 2: not pushed
    queue.withdraw("b", "left_message")
    assert not queue.redis.exists(keys.told("b"))
    queue.forget("a")
    assert not queue.redis.exists(keys.told("a"))
