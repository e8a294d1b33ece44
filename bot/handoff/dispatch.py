"""Give waiting conversations to agents with room: whenever capacity changes, and on a periodic sweep.

Every step is one of the queue's atomic claims, so several consoles (or a
console and the Telegram desk) may dispatch at the same moment without an agent
going over their limit or a chat being taken twice. Both end by telling the
shoppers still waiting their new place (`positions`), so every caller does; the
sweep also catches what moved a queue elsewhere (a claim or close from the
Telegram desk, a transfer) within one sweep period. Each returns what it told
whom (`Round.told`), for the caller to keep in the transcripts.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from bot.handoff.escalation import escalation_rules, queue_rules
from bot.handoff.positions import PositionUpdate, announce_positions
from bot.handoff.presence import Status, status_of
from bot.handoff.queue import ClaimRefused, HandoffQueue


@dataclass(frozen=True)
class Assignment:
    conversation: str
    agent_id: str


@dataclass(frozen=True)
class Round:
    """What one dispatch or sweep did: chats given to agents, shoppers told their new place, chats requeued."""
    assigned: list[Assignment] = field(default_factory=list)
    told: list[PositionUpdate] = field(default_factory=list)
    requeued: int = 0


def dispatch(queue: HandoffQueue, now_ms: Optional[int] = None) -> Round:
    """Assign waiting conversations to online agents, in rounds of at most one each, least busy first, until a
    round assigns nothing: a conversation queued meanwhile still goes to whoever is least busy. The shoppers
    behind those assigned hear their new place."""
    assigned: list[Assignment] = []
    while True:
        ready = [a for a in queue.agent_ids() if status_of(queue.redis, a) is Status.ONLINE]
        ready.sort(key=lambda a: len(queue.chats_of(a)))
        round_assigned = 0
        for agent_id in ready:
            try:
                assigned.append(Assignment(queue.claim(agent_id, now_ms=now_ms), agent_id))
                round_assigned += 1
            except ClaimRefused:
                continue  # full, gone, or nothing waits in their groups
        if not round_assigned:
            break
    if not assigned:  # nobody moved up (a dispatch runs on every new escalation: keep that path cheap)
        return Round()
    return Round(assigned, announce_positions(queue, now_ms=now_ms))


def tidy(queue: HandoffQueue, now_ms: Optional[int] = None) -> int:
    """Requeue the chats of agents whose presence ran out and age the waiting conversations: chats requeued.
    Safe to run from several processes at once (each step is atomic)."""
    requeued = sum(queue.requeue_agent(agent_id) for agent_id in queue.agent_ids()
                   if queue.chats_of(agent_id) and status_of(queue.redis, agent_id) is Status.OFFLINE)
    rules = queue_rules()
    for group in escalation_rules().groups:
        queue.age(group, rules.priority_aging_minutes, rules.priority_aging_max, now_ms)
    return requeued


def sweep(queue: HandoffQueue, now_ms: Optional[int] = None, assign: bool = True) -> Round:
    """Tidy the queue, dispatch (unless `assign` is false: a desk whose agents claim for themselves), and tell
    every shopper who moved up meanwhile, by whatever means."""
    requeued = tidy(queue, now_ms)
    done = dispatch(queue, now_ms) if assign else Round()
    told = done.told if done.assigned else announce_positions(queue, now_ms=now_ms)  # dispatch told them already
    return Round(done.assigned, told, requeued)
