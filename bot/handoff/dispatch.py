"""Give waiting conversations to agents with room: whenever capacity changes, and on a periodic sweep.

Every step is one of the queue's atomic claims, so several consoles (or a
console and the Telegram desk) may dispatch at the same moment without an agent
going over their limit or a chat being taken twice. Both end by telling the
shoppers still waiting their new place (`positions`), so every caller does; the
sweep also catches what moved a queue elsewhere (a claim or close from the
Telegram desk, a transfer) within one sweep period.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from bot.handoff.escalation import escalation_rules, queue_rules
from bot.handoff.positions import announce_positions
from bot.handoff.presence import Status, status_of
from bot.handoff.queue import ClaimRefused, HandoffQueue


@dataclass(frozen=True)
class Assignment:
    conversation: str
    agent_id: str


def dispatch(queue: HandoffQueue, now_ms: Optional[int] = None) -> list[Assignment]:
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
    if assigned:  # nobody moved up otherwise (a dispatch runs on every new escalation: keep that path cheap)
        announce_positions(queue, now_ms=now_ms)
    return assigned


def sweep(queue: HandoffQueue, now_ms: Optional[int] = None) -> tuple[int, list[Assignment]]:
    """Requeue the chats of agents whose presence ran out, age the waiting conversations, dispatch, and tell
    every shopper who moved up meanwhile (by whatever means): (chats requeued, new assignments)."""
    requeued = sum(queue.requeue_agent(agent_id) for agent_id in queue.agent_ids()
                   if queue.chats_of(agent_id) and status_of(queue.redis, agent_id) is Status.OFFLINE)
    rules = queue_rules()
    for group in escalation_rules().groups:
        queue.age(group, rules.priority_aging_minutes, rules.priority_aging_max, now_ms)
    assigned = dispatch(queue, now_ms)
    if not assigned:  # dispatch told them already otherwise
        announce_positions(queue, now_ms=now_ms)
    return requeued, assigned
