"""The hand-off queue on a real Redis: rank, priority, groups, atomic claims within limits, at-least-once."""
from __future__ import annotations

import contextlib
import threading
from collections import Counter

import pytest

from bot.handoff import keys
from bot.handoff.presence import Status, heartbeat
from bot.handoff.queue import AgentProfile, ClaimRefused, Escalation, HandoffQueue, score


def agent(queue: HandoffQueue, agent_id: str, groups: tuple[str, ...] = ("orders",), limit: int = 2,
          present: bool = True) -> None:
    queue.register(AgentProfile(agent_id, agent_id.title(), groups, limit))
    if present:
        heartbeat(queue.redis, agent_id, Status.ONLINE, grace_seconds=30)


def escalate(queue: HandoffQueue, conversation: str, group: str = "orders", priority: int = 0, at: int = 1_000):
    return queue.enqueue(Escalation(conversation, group, "shopper_request", priority), now_ms=at)


def test_first_come_first_served_within_a_priority_and_a_true_rank(queue: HandoffQueue) -> None:
    assert escalate(queue, "a", at=1_000).position == 1
    assert escalate(queue, "b", at=2_000).position == 2
    assert escalate(queue, "other-group", group="aftersales", at=2_500).position == 1  # its own queue
    assert escalate(queue, "vip", priority=5, at=3_000).position == 1  # jumps the line
    assert queue.waiting("orders") == ["vip", "a", "b"]
    assert [queue.position(c) for c in ("vip", "a", "b")] == [1, 2, 3]
    assert queue.redis.get(keys.owner("a")) == b"queued"


def test_an_escalation_is_queued_once(queue: HandoffQueue) -> None:
    escalate(queue, "a")
    again = escalate(queue, "a", at=9_000)
    assert not again.queued and again.state == "queued" and again.position == 1
    assert queue.queue_length("orders") == 1


def test_a_claim_takes_the_best_waiting_conversation_of_the_agents_groups(queue: HandoffQueue) -> None:
    agent(queue, "li", groups=("orders", "complaints"), limit=3)
    escalate(queue, "order-question", at=1_000)
    escalate(queue, "angry", group="complaints", priority=3, at=5_000)
    escalate(queue, "presales", group="presales", at=500)  # not Li's group
    assert queue.claim("li") == "angry"
    assert queue.claim("li") == "order-question"
    with pytest.raises(ClaimRefused, match="none"):
        queue.claim("li")
    assert queue.chats_of("li") == ["angry", "order-question"]
    assert queue.redis.get(keys.owner("angry")) == b"agent:li"
    assert queue.escalation("angry")["state"] == "assigned"


def test_a_claim_respects_the_limit_presence_and_a_named_conversation(queue: HandoffQueue) -> None:
    agent(queue, "wang", limit=1)
    agent(queue, "absent", present=False)
    escalate(queue, "a", at=1)
    escalate(queue, "b", at=2)
    with pytest.raises(ClaimRefused, match="offline"):
        queue.claim("absent")
    assert queue.claim("wang", "b") == "b"  # a named conversation, not the head
    with pytest.raises(ClaimRefused, match="full"):
        queue.claim("wang")
    with pytest.raises(ClaimRefused, match="unknown_agent"):
        queue.claim("nobody")
    assert queue.waiting("orders") == ["a"]


def test_simultaneous_claims_never_take_a_chat_twice_or_exceed_a_limit(queue: HandoffQueue) -> None:
    for index in range(40):
        escalate(queue, f"c{index}", at=index)
    for name in ("a1", "a2", "a3", "a4"):
        agent(queue, name, limit=7)
    taken: list[tuple[str, str]] = []

    def grab(name: str) -> None:
        from bot.handoff.queue import HandoffQueue as Q

        mine = Q(queue.redis.__class__(connection_pool=queue.redis.connection_pool))
        for _ in range(15):
            with contextlib.suppress(ClaimRefused):
                taken.append((name, mine.claim(name)))

    threads = [threading.Thread(target=grab, args=(n,)) for n in ("a1", "a2", "a3", "a4") for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    conversations = [c for _, c in taken]
    assert len(conversations) == len(set(conversations)) == 28  # 4 agents x 7, each chat once
    assert all(count == 7 for count in Counter(a for a, _ in taken).values())
    assert queue.waiting("orders") == [f"c{i}" for i in range(28, 40)]  # the oldest went first


def test_a_lost_agents_chats_go_back_to_the_front_in_their_old_order(queue: HandoffQueue) -> None:
    agent(queue, "zhao", limit=2)
    for index, conversation in enumerate(("first", "second", "third")):
        escalate(queue, conversation, at=1_000 + index)
    queue.claim("zhao")
    queue.claim("zhao")
    escalate(queue, "newer", at=9_000)
    assert queue.requeue_agent("zhao") == 0  # still present: the sweep leaves them be
    queue.redis.delete(keys.alive("zhao"))  # the heartbeat ran out
    assert queue.requeue_agent("zhao") == 2
    assert queue.waiting("orders") == ["first", "second", "third", "newer"]
    assert queue.chats_of("zhao") == []
    assert queue.escalation("first")["requeued"] == "1" and queue.redis.get(keys.owner("first")) == b"queued"


def test_transfer_to_a_group_or_an_agent(queue: HandoffQueue) -> None:
    agent(queue, "a", groups=("orders",), limit=1)
    agent(queue, "b", groups=("orders",), limit=1)
    agent(queue, "c", groups=("aftersales",), limit=2)
    escalate(queue, "x", at=1)
    escalate(queue, "y", at=2)
    assert queue.claim("a") == "x" and queue.claim("b") == "y"
    assert queue.transfer_to_agent("a", "x", "b") == "full"
    assert queue.transfer_to_agent("b", "x", "c") == "not_yours"
    assert queue.transfer_to_agent("a", "x", "c") == "ok"
    assert queue.chats_of("c") == ["x"] and queue.redis.get(keys.owner("x")) == b"agent:c"
    assert queue.transfer_to_group("c", "x", "orders")
    assert queue.waiting("orders") == ["x"] and queue.escalation("x")["group"] == "orders"
    assert not queue.transfer_to_group("c", "x")  # no longer theirs


def test_close_hands_back_to_the_bot_and_feeds_the_wait_estimate(queue: HandoffQueue) -> None:
    agent(queue, "a")
    escalate(queue, "x", at=1_000)
    queue.claim("a", now_ms=10_000)
    assert queue.close("b", "x", "solved") is None
    fields = queue.close("a", "x", "solved", now_ms=70_000)
    assert fields is not None and fields["reason"] == "shopper_request"
    assert queue.redis.get(keys.owner("x")) is None and queue.escalation("x") == {}
    assert queue.mean_handling_seconds("orders", default=99) == 60.0
    assert escalate(queue, "x", at=80_000).queued  # a later escalation starts afresh
    kinds = [fields[b"type"].decode() for _, fields in queue.redis.xrange(keys.EVENTS)]
    assert kinds == ["escalated", "claimed", "closed", "escalated"]


def test_withdraw_a_waiting_conversation(queue: HandoffQueue) -> None:
    escalate(queue, "x")
    assert queue.withdraw("x", "left_message")
    assert queue.waiting("orders") == [] and queue.redis.get(keys.owner("x")) is None
    assert not queue.withdraw("x", "again")


def test_scores_order_priority_then_front_then_time() -> None:
    assert score(9, 5) < score(0, 1)
    assert score(0, 10, front=True) < score(0, 1)
    assert score(0, 1) < score(0, 2)


def test_forget_removes_everything_about_a_conversation(queue: HandoffQueue) -> None:
    agent(queue, "a")
    escalate(queue, "held")
    escalate(queue, "waiting", at=2_000)
    queue.claim("a", "held")
    queue.redis.xadd(keys.outbox("held"), {"m": "{}"})
    queue.redis.xadd(keys.RATINGS, {"conv": "held", "rating": 5})
    assert queue.forget("held") >= 3 and queue.forget("waiting") >= 2
    assert queue.chats_of("a") == [] and queue.waiting("orders") == []
    assert not queue.redis.exists(keys.owner("held"), keys.outbox("held"), keys.escalation("waiting"))
    assert all(f[b"conv"] not in (b"held", b"waiting") for _, f in queue.redis.xrange(keys.EVENTS))
    assert queue.redis.xlen(keys.RATINGS) == 0


def test_an_away_agent_keeps_chats_but_takes_no_new_one(queue: HandoffQueue) -> None:
    agent(queue, "a")
    escalate(queue, "x")
    escalate(queue, "y", at=2_000)
    queue.claim("a")
    heartbeat(queue.redis, "a", Status.AWAY, grace_seconds=30)
    with pytest.raises(ClaimRefused, match="away"):
        queue.claim("a")
    assert queue.chats_of("a") == ["x"] and queue.requeue_agent("a") == 0


def test_dispatch_spreads_chats_to_the_least_busy_agents(queue: HandoffQueue) -> None:
    from bot.handoff.dispatch import dispatch

    agent(queue, "busy", limit=5)
    agent(queue, "idle", limit=5)
    escalate(queue, "old", at=1)
    queue.claim("busy")
    for index in range(3):
        escalate(queue, f"new-{index}", at=10 + index)
    assigned = dispatch(queue).assigned
    assert [a.conversation for a in assigned] == ["new-0", "new-1", "new-2"]
    assert len(queue.chats_of("idle")) == 2 and len(queue.chats_of("busy")) == 2
    assert dispatch(queue).assigned == []
