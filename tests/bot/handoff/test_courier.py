"""The shared outbox courier (bot.handoff.courier) against a real Redis: each outbox entry once, in order."""
from __future__ import annotations

import asyncio
import json
from typing import Any, Awaitable, Callable, Optional

import pytest
import redis
import redis.asyncio as aioredis

from bot.handoff import keys
from bot.handoff.courier import DELIVERED, HOLD, RETRY, OutboxCourier, Outcome, cursor_key, lock_key
from bot.handoff.outbound import Outbound, listen
from bot.runtime.redis_service import RedisServer

CONV = "chat:1"


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


async def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


class Recorder:
    """A channel's send: records texts; `script` says what to answer (in order) before answering DELIVERED."""

    def __init__(self, script: Optional[list[Any]] = None, delay: float = 0.0) -> None:
        self.sent: list[tuple[str, str]] = []
        self.script = list(script or [])
        self.delay = delay
        self.calls = 0

    async def __call__(self, conversation: str, entry_id: str, message: dict[str, Any]) -> Outcome:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.script:
            outcome = self.script.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
            if outcome is not DELIVERED:
                return outcome
        self.sent.append((conversation, message["text"]))
        return DELIVERED

    def texts(self, conversation: str = CONV) -> list[str]:
        return [text for conv, text in self.sent if conv == conversation]


@pytest.fixture()
def url(handoff_redis: redis.Redis, handoff_redis_server: RedisServer) -> str:
    return handoff_redis_server.url


@pytest.fixture()
def outbound(handoff_redis: redis.Redis) -> Outbound:
    return Outbound(handoff_redis, 3600)


def courier(client: aioredis.Redis, send: Any, **options: Any) -> OutboxCourier:
    return OutboxCourier(client, "chat", "chat:", send, retention_seconds=3600, **options)


def test_keys_are_per_channel_and_conversation() -> None:
    assert cursor_key("wechat", "wechat:o1") == "shop:channel:wechat:delivered:wechat:o1"
    assert lock_key("wechat", "wechat:o1") == "shop:channel:wechat:sending:wechat:o1"
    # Telegram's cursor kept its name: no message is sent again after the upgrade.
    assert cursor_key("telegram", "telegram:7") == "shop:channel:telegram:delivered:telegram:7"


def test_entries_go_out_once_in_order_and_the_cursor_follows(url: str, outbound: Outbound,
                                                             handoff_redis: redis.Redis) -> None:
    ids = [outbound.send(CONV, {"text": f"m{n}"}) for n in range(3)]

    async def scenario() -> None:
        client = aioredis.Redis.from_url(url)
        send = Recorder()
        c = courier(client, send)
        try:
            assert await c.deliver(CONV)
            assert await c.deliver(CONV)  # nothing new: nothing sent again
            assert send.texts() == ["m0", "m1", "m2"]
            assert await c.cursor(CONV) == ids[-1]
            outbound.send(CONV, {"text": "m3"})
            assert await c.deliver(CONV) and send.texts() == ["m0", "m1", "m2", "m3"]
            assert not handoff_redis.exists(lock_key("chat", CONV))  # released
            assert 0 < handoff_redis.ttl(cursor_key("chat", CONV)) <= 3600
        finally:
            await c.close()
            await client.close()

    run(scenario())


def test_a_failed_send_is_retried_and_nothing_goes_ahead_of_it(url: str, outbound: Outbound) -> None:
    outbound.send(CONV, {"text": "一"})
    outbound.send(CONV, {"text": "二"})

    async def scenario() -> None:
        client = aioredis.Redis.from_url(url)
        send = Recorder([RETRY, RuntimeError("a bug in the channel")])
        c = courier(client, send, retry_seconds=0.2)
        try:
            assert not await c.deliver(CONV)
            assert send.texts() == [] and await c.cursor(CONV) == "0"
            await wait_until(lambda: send.texts() == ["一", "二"])  # two retries: the RETRY, then the exception
            assert send.calls == 4
            await c.deliver(CONV)
            await c.catch_up()
            assert send.texts() == ["一", "二"] and send.calls == 4
        finally:
            await c.close()
            await client.close()

    run(scenario())


def test_a_held_entry_waits_for_the_next_kick(url: str, outbound: Outbound) -> None:
    outbound.send(CONV, {"text": "退款已处理"})

    async def scenario() -> None:
        client = aioredis.Redis.from_url(url)
        send = Recorder([HOLD])
        c = courier(client, send, retry_seconds=0.05)
        try:
            assert not await c.deliver(CONV)
            await asyncio.sleep(0.3)
            assert send.texts() == [] and send.calls == 1  # no timed retry
            c.kick(CONV)  # e.g. the shopper wrote again
            await wait_until(lambda: send.texts() == ["退款已处理"])
        finally:
            await c.close()
            await client.close()

    run(scenario())


def test_two_processes_send_each_entry_once_and_in_order(url: str, outbound: Outbound) -> None:
    conversations = [f"chat:{n}" for n in range(4)]

    async def scenario() -> None:
        clients = [aioredis.Redis.from_url(url) for _ in range(2)]
        send = Recorder(delay=0.005)
        couriers = [courier(client, send) for client in clients]
        tasks = [asyncio.create_task(listen(client, c.notified, c.subscribed))
                 for client, c in zip(clients, couriers)]
        try:
            await wait_until(lambda: outbound.redis.pubsub_numsub(keys.OUTBOUND_CHANNEL)[0][1] >= 2)
            for n in range(10):
                for conversation in conversations:
                    outbound.send(conversation, {"text": f"消息{n}"})
            await wait_until(lambda: len(send.sent) == 40, timeout=20)
            await asyncio.gather(*(c.deliver(conversation) for c in couriers for conversation in conversations))
            await asyncio.sleep(0.2)
            for conversation in conversations:
                assert send.texts(conversation) == [f"消息{n}" for n in range(10)]
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for c in couriers:
                await c.close()
            for client in clients:
                await client.close()

    run(scenario())


def test_a_conversation_another_process_holds_is_tried_again_later(url: str, outbound: Outbound,
                                                                   handoff_redis: redis.Redis) -> None:
    outbound.send(CONV, {"text": "稍等"})
    handoff_redis.set(lock_key("chat", CONV), "someone-else", px=60_000)

    async def scenario() -> None:
        client = aioredis.Redis.from_url(url)
        send = Recorder()
        c = courier(client, send, wait_seconds=0.3, retry_seconds=0.3)
        try:
            assert not await c.deliver(CONV)
            assert send.texts() == []
            handoff_redis.delete(lock_key("chat", CONV))  # the other process finished (without sending it)
            await wait_until(lambda: send.texts() == ["稍等"])
        finally:
            await c.close()
            await client.close()

    run(scenario())


def test_catch_up_walks_only_this_channels_addressable_outboxes(url: str, outbound: Outbound) -> None:
    outbound.send("chat:1", {"text": "a"})
    outbound.send("chat:bad", {"text": "b"})
    outbound.send("other:1", {"text": "c"})
    outbound.send("chat:2", {"text": "d"})

    async def scenario() -> None:
        client = aioredis.Redis.from_url(url)
        send = Recorder()
        c = courier(client, send, accepts=lambda conversation: conversation[5:].isdigit())
        try:
            await c.catch_up()
            assert sorted(send.sent) == [("chat:1", "a"), ("chat:2", "d")]
            await c.catch_up()
            assert len(send.sent) == 2
            await c.notified("other:1", "0-0", {})  # not this channel's
            await asyncio.sleep(0.1)
            assert len(send.sent) == 2
        finally:
            await c.close()
            await client.close()

    run(scenario())


def test_an_older_versions_cursor_is_taken_over(url: str, outbound: Outbound, handoff_redis: redis.Redis) -> None:
    first = outbound.send(CONV, {"text": "已送达过"})
    outbound.send(CONV, {"text": "新的"})
    handoff_redis.set("legacy:" + CONV, first)

    async def legacy(conversation: str) -> Optional[str]:
        value = await client.get("legacy:" + conversation)
        return value.decode() if value else None

    async def scenario() -> None:
        send = Recorder()
        c = courier(client, send, legacy_cursor=legacy)
        try:
            assert await c.deliver(CONV)
            assert send.texts() == ["新的"]
        finally:
            await c.close()

    client = aioredis.Redis.from_url(url)
    try:
        run(scenario())
    finally:
        asyncio.run(client.close())


def test_a_message_that_is_not_json_is_skipped(url: str, outbound: Outbound, handoff_redis: redis.Redis) -> None:
    handoff_redis.xadd(keys.outbox(CONV), {"m": "{not json"})
    outbound.send(CONV, {"text": "之后的"})

    async def scenario() -> None:
        client = aioredis.Redis.from_url(url)
        send = Recorder()
        c = courier(client, send)
        try:
            assert await c.deliver(CONV) and send.texts() == ["之后的"]
        finally:
            await c.close()
            await client.close()

    run(scenario())


def test_drain_lets_the_send_under_way_finish_and_starts_no_other(url: str, outbound: Outbound) -> None:
    for n in range(3):
        outbound.send(CONV, {"text": f"m{n}"})

    async def scenario() -> None:
        client = aioredis.Redis.from_url(url)
        send = Recorder(delay=0.3)
        c = courier(client, send)
        try:
            delivering = asyncio.create_task(c.deliver(CONV))
            await wait_until(lambda: send.calls == 1)
            await c.drain(timeout=5)
            assert c.sending == 0
            assert not await delivering
            assert send.texts() == ["m0"]
            resent = Recorder()
            second = courier(client, resent)  # after the restart: on from the cursor
            assert await second.deliver(CONV)
            assert resent.texts() == ["m1", "m2"]
            await second.close()
        finally:
            await c.close()
            await client.close()

    run(scenario())


def test_channels_keep_cursors_of_their_own(url: str, outbound: Outbound, handoff_redis: redis.Redis) -> None:
    entry = outbound.send(CONV, {"text": "x"})

    async def scenario() -> None:
        client = aioredis.Redis.from_url(url)
        one, other = Recorder(), Recorder()
        a = OutboxCourier(client, "a", "chat:", one, retention_seconds=3600)
        b = OutboxCourier(client, "b", "chat:", other, retention_seconds=3600)
        try:
            await a.deliver(CONV)
            await b.deliver(CONV)
            assert one.texts() == other.texts() == ["x"]
        finally:
            await a.close()
            await b.close()
            await client.close()

    run(scenario())
    assert handoff_redis.get(cursor_key("a", CONV)) == handoff_redis.get(cursor_key("b", CONV)) == entry.encode()
    assert json.loads(handoff_redis.xrange(keys.outbox(CONV))[0][1][b"m"]) == {"text": "x"}
