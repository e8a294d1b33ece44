"""Whether an agent is there: one heartbeat key per agent in Redis that expires, the only source of truth.

A console or desk calls `heartbeat` every few seconds while its agent is
connected. When the connection drops the key simply runs out after the grace
period; the sweep (`bot.handoff.dispatch`) then puts the agent's chats back at the
front of the queue. `away` keeps the chats but takes no new ones; `offline`
(logging out) hands the chats back at once.
"""
from __future__ import annotations

from enum import Enum

import redis

from bot.handoff import keys
from bot.handoff.queue import HandoffQueue


class Status(str, Enum):
    ONLINE = "online"  # takes new chats
    AWAY = "away"  # keeps their chats, takes no new ones
    OFFLINE = "offline"


def heartbeat(client: redis.Redis, agent_id: str, status: Status, grace_seconds: float) -> None:
    """The agent is connected: keep them present for `grace_seconds` more."""
    pipe = client.pipeline()
    pipe.set(keys.alive(agent_id), status.value, px=int(grace_seconds * 1000))
    pipe.hset(keys.agent(agent_id), "status", status.value)
    pipe.execute()


def status_of(client: redis.Redis, agent_id: str) -> Status:
    """ONLINE or AWAY while the heartbeat lasts, else OFFLINE."""
    value = client.get(keys.alive(agent_id))
    if value is None:
        return Status.OFFLINE
    return Status(value.decode() if isinstance(value, bytes) else value)


def go_offline(queue: HandoffQueue, agent_id: str) -> int:
    """The agent logs out: presence ends now and their chats go back to the front of the queue."""
    queue.redis.delete(keys.alive(agent_id))
    queue.redis.hset(keys.agent(agent_id), "status", Status.OFFLINE.value)
    return queue.requeue_agent(agent_id, force=True)
