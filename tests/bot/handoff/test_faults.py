"""Faults in the middle of hand-offs: an agent's process killed while holding chats, Redis restarted with its
append-only file. By the end every escalation is answered exactly once and nothing is lost."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from bot.handoff import keys
from bot.handoff.dispatch import sweep
from bot.handoff.presence import Status, heartbeat
from bot.handoff.queue import AgentProfile, Escalation, HandoffQueue
from bot.runtime.redis_service import free_port, start_embedded

GROUPS = ("orders",)

# An agent's desk in its own process: present, takes two chats, then keeps beating until killed.
AGENT_PROCESS = """
import sys, time, redis
from bot.handoff.presence import Status, heartbeat
from bot.handoff.queue import HandoffQueue
client = redis.Redis.from_url(sys.argv[1])
queue = HandoffQueue(client)
heartbeat(client, "doomed", Status.ONLINE, grace_seconds=1)
print(queue.claim("doomed"), queue.claim("doomed"), flush=True)
while True:
    heartbeat(client, "doomed", Status.ONLINE, grace_seconds=1)
    time.sleep(0.2)
"""


def answer_all(queue: HandoffQueue, agent_id: str, answered: list[str]) -> None:
    """The agent takes and closes conversations until none waits."""
    heartbeat(queue.redis, agent_id, Status.ONLINE, grace_seconds=30)
    while True:
        mine = [a.conversation for a in sweep(queue).assigned if a.agent_id == agent_id]
        if not mine:
            break
        for conversation in mine:
            assert queue.close(agent_id, conversation, "solved") is not None
            answered.append(conversation)


def test_an_agent_process_killed_while_holding_chats_loses_none(queue: HandoffQueue,
                                                                handoff_redis: redis.Redis) -> None:
    queue.register(AgentProfile("doomed", "会崩溃的坐席", GROUPS, 2))
    queue.register(AgentProfile("steady", "稳定坐席", GROUPS, 5))
    for index in range(4):
        queue.enqueue(Escalation(f"conv-{index}", "orders", "shopper_request"), now_ms=1_000 + index)
    url = handoff_redis.connection_pool.connection_kwargs
    redis_url = f"redis://:{url['password']}@{url['host']}:{url['port']}/0"
    agent = subprocess.Popen([sys.executable, "-c", AGENT_PROCESS, redis_url], stdout=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parents[3], env={**os.environ, "PYTHONPATH": "."})
    try:
        held = agent.stdout.readline().split() if agent.stdout else []
    finally:
        time.sleep(0.3)
        agent.send_signal(signal.SIGKILL)
        agent.wait()
    assert held == ["conv-0", "conv-1"]
    assert queue.waiting("orders") == ["conv-2", "conv-3"]
    time.sleep(1.3)  # the killed desk's heartbeat runs out after its grace
    answered: list[str] = []
    answer_all(queue, "steady", answered)
    assert sorted(answered) == [f"conv-{i}" for i in range(4)] and len(answered) == len(set(answered))
    assert answered[:2] == ["conv-0", "conv-1"]  # the requeued chats went back to the front


def test_redis_restarted_in_the_middle_keeps_every_escalation(tmp_path: Path) -> None:
    port = free_port()
    server = start_embedded(tmp_path, port=port, persist=True, password="restart-test")
    try:
        queue = HandoffQueue(redis.Redis.from_url(server.url))
        queue.register(AgentProfile("a", "坐席A", GROUPS, 3))
        heartbeat(queue.redis, "a", Status.ONLINE, grace_seconds=60)
        for index in range(10):
            queue.enqueue(Escalation(f"c{index}", "orders", "shopper_request"), now_ms=1_000 + index)
        claimed = [queue.claim("a") for _ in range(3)]
        queue.close("a", claimed[0], "solved")
        time.sleep(1.2)  # appendfsync everysec: what a crash could lose is at most the last second
        server.stop()
        server = start_embedded(tmp_path, port=port, persist=True, password="restart-test")
        queue = HandoffQueue(redis.Redis.from_url(server.url))
        assert queue.chats_of("a") == claimed[1:]
        assert queue.waiting("orders") == [f"c{i}" for i in range(3, 10)]
        assert queue.redis.get(keys.owner(claimed[0])) is None
        answered = [claimed[0]]
        for conversation in claimed[1:]:
            queue.close("a", conversation, "solved")
            answered.append(conversation)
        answer_all(queue, "a", answered)
        assert sorted(answered) == sorted(f"c{i}" for i in range(10)) and len(set(answered)) == 10
    finally:
        server.stop()
