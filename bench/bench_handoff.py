#!/usr/bin/env python
"""Hand-off figures: queue throughput with 1,000 simultaneous conversations, and the two latencies agents and
shoppers feel, each printed beside a baseline measured in the same run.

    python bench/bench_handoff.py            # queue throughput + latencies on the running stack
    python bench/bench_handoff.py --quick    # fewer samples

1. Queue throughput: 1,000 conversations escalate at once (20 threads), then 50 agents claim and close
   them; escalations enqueued and claimed per second. Baseline: the same number of plain Redis
   round trips (SET) on the same server, the floor any Redis design pays.
2. Trigger to console: a shopper's "转人工" over REST on the real stack (Rasa, action server, Redis)
   until the escalation appears on the hand-off events stream a console reads (XREAD BLOCK);
   baseline: an ordinary REST turn of the same bot.
3. Agent to shopper: `AgentDesk.send` until the shopper's waiting long poll (`/webhooks/rest/outbox`)
   returns it; baseline: a Redis PUBLISH seen by a subscriber.
Targets (issue 14): p99 under 200 ms for both latencies, and at least 1,000 escalations a second.
Not a test: it prints figures and writes .state/bench/handoff.json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import aiohttp  # noqa: E402
import redis  # noqa: E402

from bench.common import percentile  # noqa: E402
from bot.config import load_settings  # noqa: E402
from bot.handoff import keys  # noqa: E402
from bot.handoff.desk import AgentDesk  # noqa: E402
from bot.handoff.outbound import Outbound  # noqa: E402
from bot.handoff.presence import Status, heartbeat  # noqa: E402
from bot.handoff.queue import AgentProfile, ClaimRefused, Escalation, HandoffQueue  # noqa: E402
from bot.handoff.transcript import RasaTranscript  # noqa: E402
from bot.runtime.redis_service import start_embedded  # noqa: E402
from bot.runtime.runner import Stack  # noqa: E402
from bot.tools.train import model_path  # noqa: E402

GROUPS = ("presales", "orders", "aftersales", "complaints")


def describe(values_ms: list[float]) -> str:
    return (f"p50 {percentile(values_ms, 0.5):7.1f} ms   p99 {percentile(values_ms, 0.99):7.1f} ms   "
            f"mean {statistics.fmean(values_ms):7.1f} ms   n={len(values_ms)}")


def in_threads(count: int, work: Callable[[int], Any]) -> float:
    """Run work(0..count-1) split over 20 threads; seconds taken."""

    def share(first: int) -> None:
        for index in range(first, count, 20):
            work(index)

    threads = [threading.Thread(target=share, args=(k,)) for k in range(20)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def queue_throughput(conversations: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        server = start_embedded(Path(tmp), persist=True, password="bench")  # AOF on, as make run starts it
        try:
            client = redis.Redis.from_url(server.url, max_connections=64)
            queue = HandoffQueue(client)
            baseline = in_threads(conversations * 2, lambda i: client.set(f"bench:{i}", i))
            enqueue = in_threads(conversations, lambda i: queue.enqueue(
                Escalation(f"bench-{i}", GROUPS[i % 4], "shopper_request", priority=i % 3)))
            agents = [f"agent-{n}" for n in range(50)]
            for agent_id in agents:
                queue.register(AgentProfile(agent_id, agent_id, GROUPS, 20))
                heartbeat(client, agent_id, Status.ONLINE, grace_seconds=600)
            claimed: list[str] = []

            def claim_and_close(n: int) -> None:
                agent_id = agents[n % len(agents)]
                try:
                    conversation = queue.claim(agent_id)
                except ClaimRefused:
                    return
                claimed.append(conversation)
                queue.close(agent_id, conversation, "solved")

            claim = in_threads(conversations, claim_and_close)
            assert len(claimed) == len(set(claimed)) == conversations, "every escalation claimed exactly once"
        finally:
            server.stop()
    return {"baseline_round_trips_per_s": conversations * 2 / baseline, "enqueued_per_s": conversations / enqueue,
            "claimed_and_closed_per_s": conversations / claim}


async def trigger_latencies(stack: Stack, samples: int) -> tuple[list[float], list[float]]:
    """(REST turn ms, "转人工" -> escalation on the events stream ms)."""
    assert stack.redis is not None
    reader = redis.asyncio.Redis.from_url(stack.redis.url)
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    plain, escalated = [], []
    async with aiohttp.ClientSession(headers=headers) as http:
        for _ in range(samples):
            sender = f"bench-{uuid.uuid4().hex[:10]}"
            started = time.perf_counter()
            async with http.post(stack.rest_url, json={"sender": sender, "message": "小米手环多少钱"}) as reply:
                await reply.read()
            plain.append((time.perf_counter() - started) * 1000)
            last = (await reader.xrevrange(keys.EVENTS, count=1) or [(b"0-0", {})])[0][0]
            started = time.perf_counter()
            post = asyncio.create_task(http.post(stack.rest_url, json={"sender": sender, "message": "转人工"}))
            seen = False
            while not seen:
                reply_events = await reader.xread({keys.EVENTS: last}, block=5000)
                if not reply_events:
                    raise RuntimeError("no escalation within 5 s")
                for entry_id, fields in reply_events[0][1]:
                    last = entry_id
                    if fields.get(b"type") == b"escalated" and fields.get(b"conv") == sender.encode():
                        seen = True
            escalated.append((time.perf_counter() - started) * 1000)
            (await post).release()
    await reader.close()
    return plain, escalated


async def delivery_latencies(stack: Stack, samples: int) -> tuple[list[float], list[float]]:
    """(PUBLISH -> subscriber ms, AgentDesk.send -> the shopper's long poll returns ms)."""
    assert stack.redis is not None and stack.secrets is not None
    client = redis.Redis.from_url(stack.redis.url)
    queue = HandoffQueue(client)
    queue.register(AgentProfile("bench-agent", "压测坐席", GROUPS, samples + 5))
    heartbeat(client, "bench-agent", Status.ONLINE, grace_seconds=600)
    from bot.shop import open_backend

    desk = AgentDesk(queue, Outbound(client, 3600), RasaTranscript(stack.rasa_url, stack.api_token),
                     open_backend(stack.shop_db))
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    published, delivered = [], []
    subscriber = redis.asyncio.Redis.from_url(stack.redis.url)
    async with aiohttp.ClientSession(headers=headers) as http, subscriber.pubsub() as pubsub:
        await pubsub.subscribe("bench:ping")
        await pubsub.get_message(timeout=1)
        for _ in range(samples):
            started = time.perf_counter()
            client.publish("bench:ping", "x")
            while (await pubsub.get_message(timeout=5)) is None:
                pass
            published.append((time.perf_counter() - started) * 1000)

            sender = f"bench-{uuid.uuid4().hex[:10]}"
            queue.enqueue(Escalation(sender, "orders", "shopper_request"))
            await desk.claim("bench-agent", "压测坐席", sender)
            after = Outbound(client, 3600).since(sender)[-1][0]
            query = urllib.parse.urlencode({"sender": sender, "after": after, "wait": 10})
            poll = asyncio.create_task(http.get(f"{stack.rasa_url}/webhooks/rest/outbox?{query}"))
            await asyncio.sleep(0.05)  # the poll is waiting in Redis before the agent writes
            started = time.perf_counter()
            await desk.send("bench-agent", "压测坐席", sender, "您好，已为您查到")
            reply = await poll
            body = await reply.json()
            delivered.append((time.perf_counter() - started) * 1000)
            assert body["messages"][0]["text"] == "您好，已为您查到"
            await desk.close("bench-agent", sender, "solved")
    return published, delivered


def main() -> int:
    parser = argparse.ArgumentParser(description="hand-off throughput and latency")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    samples = 30 if args.quick else 200
    print("== queue throughput, 1,000 simultaneous conversations (Redis with AOF everysec)")
    throughput = queue_throughput(1000)
    print(f"   baseline: plain Redis round trips   {throughput['baseline_round_trips_per_s']:9.0f} /s")
    print(f"   escalations enqueued                {throughput['enqueued_per_s']:9.0f} /s   (target >= 1,000)")
    print(f"   escalations claimed and closed      {throughput['claimed_and_closed_per_s']:9.0f} /s   (target >= 1,000)")
    settings = load_settings()
    with tempfile.TemporaryDirectory() as state:
        stack = Stack.from_settings(settings, model_path(settings.models_dir), free_ports=True, web=False)
        stack.state_dir, stack.shop_db, stack.redis_url = Path(state), Path(state) / "shop.db", None
        stack.handoff_hours = "always"
        with stack:
            plain, escalated = asyncio.run(trigger_latencies(stack, samples))
            published, delivered = asyncio.run(delivery_latencies(stack, samples))
    print("== shopper's trigger -> escalation on the agents' event stream")
    print(f"   baseline: an ordinary REST turn     {describe(plain)}")
    print(f"   '转人工' -> escalated event          {describe(escalated)}   (target p99 < 200 ms)")
    print("== agent -> shopper")
    print(f"   baseline: Redis PUBLISH -> SUBSCRIBE {describe(published)}")
    print(f"   AgentDesk.send -> REST long poll     {describe(delivered)}   (target p99 < 200 ms)")
    figures: dict[str, Any] = {
        "throughput": throughput,
        "trigger_ms": {"p50": percentile(escalated, 0.5), "p99": percentile(escalated, 0.99)},
        "rest_turn_ms": {"p50": percentile(plain, 0.5), "p99": percentile(plain, 0.99)},
        "delivery_ms": {"p50": percentile(delivered, 0.5), "p99": percentile(delivered, 0.99)},
        "publish_ms": {"p50": percentile(published, 0.5), "p99": percentile(published, 0.99)},
    }
    out = settings.state_dir / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "handoff.json").write_text(json.dumps(figures, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
