"""Give waiting conversations to agents with room: whenever capacity changes, and on a periodic sweep.

Every step is one of the queue's atomic claims, so several consoles (or a
console and the Telegram desk) may dispatch at the same moment without an agent
going over their limit or a chat being taken twice.
"""
from __future__ import annotations

from dataclasses import dataclass

from bot.handoff.presence import Status, status_of
from bot.handoff.queue import ClaimRefused, HandoffQueue


@dataclass(frozen=True)
class Assignment:
    conversation: str
    agent_id: str


def dispatch(queue: HandoffQueue) -> list[Assignment]:
    """Assign waiting conversations to online agents, in rounds of at most one each, least busy first, until a
    round assigns nothing: a conversation queued meanwhile still goes to whoever is least busy."""
    assigned: list[Assignment] = []
    while True:
        ready = [a for a in queue.agent_ids() if status_of(queue.redis, a) is Status.ONLINE]
        ready.sort(key=lambda a: len(queue.chats_of(a)))
        round_assigned = 0
        for agent_id in ready:
            try:
                assigned.append(Assignment(queue.claim(agent_id), agent_id))
                round_assigned += 1
            except ClaimRefused:
                continue  # full, gone, or nothing waits in their groups
        if not round_assigned:
            return assigned


def sweep(queue: HandoffQueue) -> tuple[int, list[Assignment]]:
    """Requeue the chats of agents whose presence ran out, then dispatch: (chats requeued, new assignments)."""
    requeued = sum(queue.requeue_agent(agent_id) for agent_id in queue.agent_ids()
                   if queue.chats_of(agent_id) and status_of(queue.redis, agent_id) is Status.OFFLINE)
    return requeued, dispatch(queue)
