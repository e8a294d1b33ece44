"""Faults in the middle of hand-offs, with the real processes (issue 14): a console process SIGKILLed while its
agent holds chats, an agent's websocket dropped without a logout, Redis (with its append-only file) restarted
while shoppers and an agent keep writing. By the end every escalation is answered exactly once, and no message of
either side is lost.

Every test runs against one stack of this module's own (Rasa with the ownership gate, the action server and an
embedded Redis; no web page, no console of its own) and starts its own console processes
(`python -m bot.desk.console.server`) with short timings. Shoppers talk to Rasa over REST ("转人工"), agents log in
to a console and work over its websocket, as the page does. What happened is read back from the hand-off event
stream (`shop:handoff:events`: escalated / claimed / requeued / closed, in order), Rasa's trackers and the
shoppers' outboxes (`GET /webhooks/rest/outbox`, with the outbox ids a client de-duplicates by)."""
from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import pytest
import redis
from websockets.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from bot.config import PROJECT_ROOT, load_settings
from bot.desk.accounts import Account, AccountStore
from bot.handoff import keys
from bot.handoff.desk import RATING_QUESTION, event_fields
from bot.handoff.presence import Status, go_offline, status_of
from bot.handoff.queue import HandoffQueue
from bot.runtime.redis_service import free_port, start_embedded
from bot.runtime.runner import Stack
from bot.shop import ensure_database
from bot.shop.models import Order, OrderStatus
from bot.shop.sqlite_backend import SqliteShopBackend
from tests.bot.desk.console.test_server import get, post
from tests.conftest import MODEL, RunningStack, SampleOrder, new_sender
from tests.processes import stop_process

pytestmark = pytest.mark.stack

PASSWORD = "fault-desk-password"
ALL_GROUPS = ("presales", "orders", "aftersales", "complaints")
HANDOFF_TEXT = "转人工"
QUEUED_REPLY = "正在为您转接"
TIMEOUT = 30.0  # for anything a busy machine's Rasa or console has to do
LIFECYCLE = ("escalated", "claimed", "requeued", "transferred", "closed", "withdrawn")


# ------------------------------------------------------------------ the stack, consoles, shoppers, agents


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """Rasa, the action server and an embedded, persistent Redis of this module's own (test 3 restarts it)."""
    if not MODEL.exists():
        pytest.fail(f"no trained model at {MODEL}: run `make model` (make test does)")
    state = tmp_path_factory.mktemp("fault-state")
    stack = Stack.from_settings(load_settings(), MODEL, free_ports=True, web=False)  # web=False: no console either
    stack.state_dir, stack.shop_db, stack.redis_url = state, state / "shop.db", None
    stack.handoff_hours = "always"
    ensure_database(stack.shop_db)
    backend = SqliteShopBackend(stack.shop_db)
    shipped: Order = backend.find_orders(OrderStatus.SHIPPED, limit=1)[0]
    with stack:
        yield RunningStack(stack, backend, SampleOrder(shipped.order_no, shipped.phone[-4:], shipped.status.label))


def handoff_client(stack: RunningStack) -> redis.Redis:
    assert stack.stack.redis is not None
    return redis.Redis.from_url(stack.stack.redis.url, socket_timeout=10, socket_connect_timeout=5)


def add_agents(stack: RunningStack, *agents: tuple[str, str, int]) -> None:
    """Console accounts (login, name, limit of simultaneous chats) in every skill group."""
    store = AccountStore.in_state_dir(stack.stack.state_dir)
    for login_name, name, limit in agents:
        store.add(Account.new(login_name, name, PASSWORD, groups=list(ALL_GROUPS), limit=limit))


@dataclass
class ConsoleProcess:
    name: str
    proc: subprocess.Popen
    base: str
    log: Path

    @property
    def ws_url(self) -> str:
        return self.base.replace("http://", "ws://") + "/ws"

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, no logout, no requeue; the heartbeats just stop."""
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        stop_process(self.proc)


def start_console(stack: RunningStack, name: str, grace: float, sweep: float) -> ConsoleProcess:
    """`python -m bot.desk.console.server` on a free port, against the stack's Redis and Rasa, as `make run` starts
    it (accounts in the stack's state directory)."""
    inner = stack.stack
    assert inner.redis is not None and inner.secrets is not None
    port = free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
               **inner.secrets.env(inner.configured_api_keys), REDIS_URL=inner.redis.url,
               RASA_PORT=str(inner.rasa_port), SHOP_STATE_DIR=str(inner.state_dir), SHOP_DB=str(inner.shop_db),
               HANDOFF_HOURS="always", HANDOFF_GRACE_SECONDS=str(grace), HANDOFF_SWEEP_SECONDS=str(sweep))
    log = inner.state_dir / "logs" / f"console-{name}.{port}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as output:  # a file, not a pipe nobody reads
        proc = subprocess.Popen([sys.executable, "-m", "bot.desk.console.server", "--host", "127.0.0.1", "--port",
                                 str(port)], cwd=PROJECT_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    console = ConsoleProcess(name, proc, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"console {name} exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            if get(console.base + "/health")[0] == 200:
                return console
        except OSError:
            pass
        if time.monotonic() > deadline:
            console.stop()
            raise RuntimeError(f"console {name} did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.2)


def login(console: ConsoleProcess, user: str) -> str:
    status, headers, body = post(console.base + "/login", {"login": user, "password": PASSWORD})
    assert status == 200, body
    return str(headers["Set-Cookie"].split(";", 1)[0])


@dataclass
class Tab:
    """A console tab: its websocket, what it received and did not consume yet."""

    console: ConsoleProcess
    user: str
    cookie: str
    seen: list[dict[str, Any]] = field(default_factory=list)
    ws: Any = None

    async def open(self) -> Tab:
        self.seen.clear()
        self.ws = await ws_connect(self.console.ws_url, origin=self.console.base,  # type: ignore[arg-type]
                                   extra_headers=[("Cookie", self.cookie)])
        await self.expect("hello")
        return self

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    def abort(self) -> None:
        """The network went away: the TCP connection ends without a close frame (no logout either)."""
        self.ws.transport.abort()

    async def act(self, **message: Any) -> None:
        await self.ws.send(json.dumps(message, ensure_ascii=False))

    async def expect(self, kind: str, where: Callable[[dict[str, Any]], bool] = lambda m: True,
                     timeout: float = TIMEOUT) -> dict[str, Any]:
        """The first message of `kind` (already received or coming) that satisfies `where`."""
        return await self.expect_any(lambda m: m["type"] == kind and where(m), timeout, kind)

    async def expect_any(self, wanted: Callable[[dict[str, Any]], bool], timeout: float = TIMEOUT,
                         what: str = "wanted") -> dict[str, Any]:
        """The first message (already received or coming) that is `wanted`."""
        for message in self.seen:
            if wanted(message):
                self.seen.remove(message)
                return message
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.user}: no {what} message within {timeout}s; got {self.seen[-8:]}")
            try:
                message = json.loads(await asyncio.wait_for(self.ws.recv(), left))
            except asyncio.TimeoutError:
                continue
            if wanted(message):
                return message
            self.seen.append(message)

    async def send_text(self, conversation: str, text: str) -> None:
        """An agent's message to the shopper; done when the console echoes it back (it is in the outbox then)."""
        await self.act(type="send", conv=conversation, text=text)
        await self.expect("message", lambda m: m["from"] == "agent" and m["conv"] == conversation and m["text"] == text)

    async def close_chat(self, conversation: str) -> None:
        await self.act(type="close", conv=conversation, resolution="solved")
        await self.expect("released", lambda m: m["conv"] == conversation and m["why"] == "closed")


def say(stack: RunningStack, sender: str, text: str, retry_seconds: float = 0.0) -> list[dict[str, Any]]:
    """A shopper's message over REST; with `retry_seconds`, retried (as a client would) until Rasa accepts it."""
    deadline = time.monotonic() + retry_seconds
    while True:
        try:
            status, body = stack.post(json.dumps({"sender": sender, "message": text}).encode())
        except OSError as error:  # refused, reset, timed out
            status, body = 0, str(error)
        if status == 200:
            assert isinstance(body, list)
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"{sender}: {text!r} not accepted ({status}): {body}")
        time.sleep(0.5)


def escalate(stack: RunningStack, sender: str) -> None:
    replies = say(stack, sender, HANDOFF_TEXT)
    assert any(QUEUED_REPLY in (r.get("text") or "") for r in replies), replies


def outbox(stack: RunningStack, sender: str, after: str = "0") -> list[dict[str, Any]]:
    """What the shopper's REST client reads from their outbox after `after` (each with its outbox_id)."""
    import urllib.parse
    import urllib.request

    query = urllib.parse.urlencode({"sender": sender, "after": after, "wait": 0})
    request = urllib.request.Request(f"{stack.rasa_url}/webhooks/rest/outbox?{query}",
                                     headers={"Authorization": f"Bearer {stack.stack.api_key}"})
    with urllib.request.urlopen(request, timeout=60) as reply:
        messages: list[dict[str, Any]] = json.loads(reply.read())["messages"]
        return messages


class Reader:
    """A shopper's REST client that polls its outbox now and then, passing the last id it has (never twice)."""

    def __init__(self, stack: RunningStack, sender: str) -> None:
        self.stack, self.sender, self.last = stack, sender, "0"
        self.got: list[dict[str, Any]] = []

    def read(self) -> list[dict[str, Any]]:
        new = outbox(self.stack, self.sender, self.last)
        if new:
            self.last = new[-1]["outbox_id"]
        self.got += new
        return new


def check_outbox(stack: RunningStack, reader: Reader, agent_texts: list[str]) -> None:
    """Everything the shopper's client received: each message once (ids strictly increasing), the whole outbox,
    each of the agents' `agent_texts` exactly once, and the rating question at the end."""
    reader.read()
    ids = [m["outbox_id"] for m in reader.got]
    assert ids == sorted(ids, key=lambda i: tuple(int(p) for p in i.split("-"))) and len(ids) == len(set(ids))
    assert [m["outbox_id"] for m in outbox(stack, reader.sender)] == ids  # the polls missed nothing
    texts = [m["text"] for m in reader.got]
    for text in agent_texts:
        assert texts.count(text) == 1, (text, texts)
    assert texts.count(RATING_QUESTION) == 1 and texts[-1] == RATING_QUESTION


def shopper_texts(stack: RunningStack, sender: str) -> list[str]:
    return [str(e.get("text")) for e in stack.tracker(sender)["events"] if e.get("event") == "user"]


def agent_texts(stack: RunningStack, sender: str) -> list[tuple[str, str]]:
    """(agent id, text) of everything agents said in the conversation's tracker."""
    return [((e.get("metadata") or {})["agent"], str(e.get("text"))) for e in stack.tracker(sender)["events"]
            if e.get("event") == "bot" and (e.get("metadata") or {}).get("agent")]


def shopper_events(client: redis.Redis, conversation: str) -> list[str]:
    """What the gate put on the hand-off event stream for the desks: the shopper's messages to an agent."""
    return [event["text"] for event in (event_fields(raw) for _, raw in client.xrange(keys.EVENTS))
            if event.get("type") == "shopper_message" and event.get("conv") == conversation]


def retire_earlier_agents(queue: HandoffQueue) -> None:
    """Agents of an earlier test in this module may still be present for their grace period: a dispatch
    would hand them this test's shoppers. Take them offline and out of the agents' list first."""
    for agent_id in queue.agent_ids():
        go_offline(queue, agent_id)
        queue.redis.srem(keys.AGENTS, agent_id)


def lifecycle(client: redis.Redis, conversations: list[str]) -> dict[str, list[tuple[str, str]]]:
    """Each conversation's hand-off steps, in stream order: (type, agent)."""
    steps: dict[str, list[tuple[str, str]]] = {c: [] for c in conversations}
    for _, raw in client.xrange(keys.EVENTS):
        event = event_fields(raw)
        if event.get("conv") in steps and event.get("type") in LIFECYCLE:
            steps[event["conv"]].append((event["type"], event.get("agent", "")))
    return steps


def assert_answered_once(steps: dict[str, list[tuple[str, str]]], by: str) -> None:
    """Every conversation escalated once, never held by two agents at a time, closed exactly once, by `by`."""
    for conversation, history in steps.items():
        holder: Optional[str] = None
        open_, closed = False, []
        for kind, agent in history:
            if kind == "escalated":
                assert not open_, (conversation, history)
                open_ = True
            elif kind == "claimed":
                assert open_ and holder is None, (conversation, history)  # never two agents at once
                holder = agent
            elif kind in ("requeued", "transferred"):
                assert holder == agent, (conversation, history)
                holder = None
            elif kind == "closed":
                assert holder == agent, (conversation, history)
                closed.append(agent)
                holder, open_ = None, False
            else:
                raise AssertionError(f"{conversation} withdrawn: {history}")
        assert closed == [by], (conversation, history)


def about(conversation: str) -> Callable[[dict[str, Any]], bool]:
    """Matches a console message about `conversation`."""
    return lambda message: message.get("conv") == conversation


def greeted(stack: RunningStack, sender: str, agent_name: str) -> bool:
    return any(agent_name in m["text"] for m in outbox(stack, sender))


def wait_until(check: Callable[[], Any], timeout: float = TIMEOUT, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what or check}"
        time.sleep(0.2)
    return result


async def until(check: Callable[[], Any], timeout: float = TIMEOUT, what: str = "") -> Any:
    return await asyncio.to_thread(wait_until, check, timeout, what)


def run(scenario: Any) -> None:
    asyncio.run(asyncio.wait_for(scenario, 240))


# ------------------------------------------------------------------ 1. a console killed while holding chats


def test_a_console_killed_while_holding_chats_loses_none(own_stack: RunningStack) -> None:
    """Agent A (limit 2) on console 1 holds two chats, a third waits; console 1 is SIGKILLed. The shoppers keep
    writing. Console 2's sweep requeues A's chats at the front, in order, once A's presence has run out; agent B
    logs in there, takes all three in that order, sees what the shoppers wrote meanwhile, answers and closes."""
    stack, client = own_stack, handoff_client(own_stack)
    queue = HandoffQueue(client)
    retire_earlier_agents(queue)
    add_agents(stack, ("kill-a", "小安", 2), ("kill-b", "小博", 5))
    first = start_console(stack, "killed", grace=2, sweep=1)
    second = start_console(stack, "survivor", grace=2, sweep=1)
    shoppers = [new_sender() for _ in range(3)]
    readers = {s: Reader(stack, s) for s in shoppers}

    async def scenario() -> None:
        a = await Tab(first, "kill-a", login(first, "kill-a")).open()
        await a.expect("board", lambda b: b["status"] == "online")
        for shopper in shoppers:
            await asyncio.to_thread(escalate, stack, shopper)
        held, waiting = shoppers[:2], shoppers[2:]
        await until(lambda: queue.chats_of("kill-a") == sorted(held), what="A holds the first two")
        assert queue.waiting("presales") == waiting
        for shopper in held:  # greeted (by whichever console dispatched), and A has answered before the crash
            await until(functools.partial(greeted, stack, shopper, "小安"), what="the greeting")
            await a.send_text(shopper, f"您好，我先帮您查一下（{shopper[-4:]}）")
            await asyncio.to_thread(readers[shopper].read)

        first.kill()
        assert queue.chats_of("kill-a") == sorted(held)  # nothing moves at once: A may be back within the grace
        with pytest.raises(ConnectionClosed):
            await a.expect("never", timeout=10)
        # The shoppers keep writing while nobody's console shows their chats: the gate keeps it for the agent.
        for shopper in held:
            assert await asyncio.to_thread(say, stack, shopper, f"人呢？还在吗（{shopper[-4:]}）") == []

        await until(lambda: not queue.chats_of("kill-a"), timeout=20, what="the sweep requeues A's chats")
        assert status_of(client, "kill-a") is Status.OFFLINE
        assert queue.waiting("presales") == held + waiting  # back at the front, in their order
        assert [queue.escalation(s)["requeued"] for s in held] == ["1", "1"]

        b = await Tab(second, "kill-b", login(second, "kill-b")).open()
        for shopper in shoppers:
            await b.expect("assigned", about(shopper))
            context = (await b.expect("context", about(shopper)))["context"]
            said = [(t["who"], t["text"]) for t in context["transcript"]]
            assert ("shopper", HANDOFF_TEXT) in said
            if shopper in held:  # what was said while the console was dead reaches B, with A's answer
                assert ("shopper", f"人呢？还在吗（{shopper[-4:]}）") in said
                assert ("agent", f"您好，我先帮您查一下（{shopper[-4:]}）") in said
        b_order = [event_fields(raw)["conv"] for _, raw in client.xrange(keys.EVENTS)
                   if event_fields(raw).get("type") == "claimed" and event_fields(raw).get("agent") == "kill-b"]
        assert b_order == shoppers  # the requeued chats first, in order, then the one that waited

        # The shopper writes again: it reaches B's tab at once.
        await asyncio.to_thread(say, stack, shoppers[0], "好的，谢谢")
        heard = await b.expect("message", lambda m: m["from"] == "shopper" and m["conv"] == shoppers[0])
        assert heard["text"] == "好的，谢谢"
        for shopper in shoppers:
            await asyncio.to_thread(readers[shopper].read)
            await b.send_text(shopper, f"已为您处理好（{shopper[-4:]}）")
            await b.close_chat(shopper)
        await b.close()

    try:
        run(scenario())
        assert_answered_once(lifecycle(client, shoppers), by="kill-b")
        for shopper in shoppers[:2]:  # the desks' copy of what was said while the console was dead: once
            assert shopper_events(client, shopper).count(f"人呢？还在吗（{shopper[-4:]}）") == 1
        for shopper in shoppers:
            a_said = [f"您好，我先帮您查一下（{shopper[-4:]}）"] if shopper in shoppers[:2] else []
            check_outbox(stack, readers[shopper], [*a_said, f"已为您处理好（{shopper[-4:]}）"])
            said = agent_texts(stack, shopper)
            for text in a_said:
                assert said.count(("kill-a", text)) == 1
            assert said.count(("kill-b", f"已为您处理好（{shopper[-4:]}）")) == 1
            expected = [HANDOFF_TEXT, f"人呢？还在吗（{shopper[-4:]}）"] if shopper in shoppers[:2] else [HANDOFF_TEXT]
            if shopper == shoppers[0]:
                expected.append("好的，谢谢")
            assert shopper_texts(stack, shopper) == expected
            assert client.get(keys.owner(shopper)) is None  # back with the bot
        assert queue.chats_of("kill-a") == [] and queue.chats_of("kill-b") == []
    finally:
        second.stop()
        first.stop()
        client.close()


# ------------------------------------------------------------------ 2. an agent's websocket dropped


def test_a_dropped_socket_keeps_the_chats_within_the_grace_and_hands_them_on_after(own_stack: RunningStack) -> None:
    """Agent A's socket is cut (no close frame, no logout) while A holds two chats: a reconnect within the grace
    finds them again and keeps them past it. Cut again and not back: after the grace they are requeued and the
    other agent online takes them. What A said before each drop reached the shopper exactly once."""
    grace = 3
    stack, client = own_stack, handoff_client(own_stack)
    queue = HandoffQueue(client)
    retire_earlier_agents(queue)
    add_agents(stack, ("drop-a", "小德", 2), ("drop-b", "小贝", 5))
    console = start_console(stack, "dropped", grace=grace, sweep=1)
    shoppers = [new_sender() for _ in range(2)]
    readers = {s: Reader(stack, s) for s in shoppers}

    def requeues() -> list[tuple[str, str]]:
        return [(t, a) for s in shoppers for t, a in lifecycle(client, shoppers)[s] if t == "requeued"]

    async def scenario() -> None:
        b = await Tab(console, "drop-b", login(console, "drop-b")).open()
        await b.act(type="status", status="away")
        await b.expect("board", lambda m: m["status"] == "away")
        cookie = login(console, "drop-a")
        a = await Tab(console, "drop-a", cookie).open()
        for shopper in shoppers:
            await asyncio.to_thread(escalate, stack, shopper)
            await a.expect("assigned", about(shopper))
        for shopper in shoppers:
            await a.send_text(shopper, f"收到，马上处理（{shopper[-4:]}）")
            await asyncio.to_thread(readers[shopper].read)

        a.abort()  # the first drop: back within the grace
        assert queue.chats_of("drop-a") == sorted(shoppers) and status_of(client, "drop-a") is Status.ONLINE
        await asyncio.sleep(0.5)
        a = await Tab(console, "drop-a", cookie).open()
        shown = {(await a.expect("context"))["conv"] for _ in shoppers}
        assert shown == set(shoppers)  # the reconnected tab shows its chats again
        await asyncio.sleep(grace + 3)
        assert queue.chats_of("drop-a") == sorted(shoppers) and requeues() == []
        for shopper in shoppers:
            await a.send_text(shopper, f"还在为您查（{shopper[-4:]}）")

        await b.act(type="status", status="online")
        await b.expect("board", lambda m: m["status"] == "online")
        a.abort()  # the second drop: gone for good
        assert queue.chats_of("drop-a") == sorted(shoppers)  # still A's within the grace
        await asyncio.to_thread(say, stack, shoppers[0], "是不是掉线了？")
        for shopper in shoppers:
            await b.expect("assigned", about(shopper), timeout=grace + 20)
            context = (await b.expect("context", about(shopper)))["context"]
            said = [(t["who"], t["text"]) for t in context["transcript"]]
            assert ("agent", f"还在为您查（{shopper[-4:]}）") in said
            if shopper == shoppers[0] and ("shopper", "是不是掉线了？") not in said:
                # written after B's context was read (a slow turn): then it comes to B's tab as it arrives
                await b.expect("message", lambda m: m["from"] == "shopper" and m["text"] == "是不是掉线了？")
        assert sorted(requeues()) == [("requeued", "drop-a")] * 2
        assert queue.chats_of("drop-a") == [] and queue.chats_of("drop-b") == sorted(shoppers)
        for shopper in shoppers:
            await asyncio.to_thread(readers[shopper].read)
            await b.send_text(shopper, f"换我来为您处理（{shopper[-4:]}）")
            await b.close_chat(shopper)
        await b.close()

    try:
        run(scenario())
        assert_answered_once(lifecycle(client, shoppers), by="drop-b")
        for shopper in shoppers:
            history = lifecycle(client, shoppers)[shopper]
            assert history == [("escalated", ""), ("claimed", "drop-a"), ("requeued", "drop-a"),
                               ("claimed", "drop-b"), ("closed", "drop-b")]
            a_texts = [f"收到，马上处理（{shopper[-4:]}）", f"还在为您查（{shopper[-4:]}）"]
            check_outbox(stack, readers[shopper], [*a_texts, f"换我来为您处理（{shopper[-4:]}）"])
            said = agent_texts(stack, shopper)
            assert [t for a, t in said if a == "drop-a" and t in a_texts] == a_texts  # once each, in order
            assert said.count(("drop-b", f"换我来为您处理（{shopper[-4:]}）")) == 1
    finally:
        console.stop()
        client.close()


# ------------------------------------------------------------------ 3. Redis restarted in the middle


def test_redis_restarted_in_the_middle_loses_no_escalation_and_no_message(own_stack: RunningStack) -> None:
    """Redis (append-only file) stops while a chat is open and comes back on the same port and directory. Before,
    during (every request retried until it goes through, as a client would) and after it, shoppers escalate and
    write and the agent answers. Rasa, its outbound listener and the console reconnect by themselves; every
    escalation is answered exactly once and every message is in the tracker and the outbox once."""
    stack, inner = own_stack, own_stack.stack
    assert inner.redis is not None and inner.secrets is not None
    port = int(inner.redis.url.rsplit(":", 1)[1].split("/", 1)[0])
    data_dir = inner.state_dir / "redis"
    client = handoff_client(stack)
    queue = HandoffQueue(client)
    retire_earlier_agents(queue)
    add_agents(stack, ("restart-a", "小瑞", 10))
    console = start_console(stack, "restart", grace=30, sweep=1)  # a grace longer than the outage
    s1, s2, s3, s4 = (new_sender() for _ in range(4))
    shoppers = [s1, s2, s3, s4]
    readers = {s: Reader(stack, s) for s in shoppers}
    cookie = login(console, "restart-a")
    down = threading.Event()

    def subscribers() -> int:
        return int(dict(client.pubsub_numsub(keys.OUTBOUND_CHANNEL))[keys.OUTBOUND_CHANNEL.encode()])

    async def agent_send(tab: Tab, conversation: str, text: str, retry_seconds: float) -> Tab:
        """Send until the console confirms, reconnecting the tab when it closes (a Redis error ends the socket)."""
        deadline = time.monotonic() + retry_seconds
        while True:
            try:
                if tab.ws is None or tab.ws.closed:
                    tab = await Tab(console, tab.user, cookie).open()
                await tab.act(type="send", conv=conversation, text=text)
                reply = await tab.expect_any(
                    lambda m: (m["type"] == "message" and m.get("from") == "agent" and m.get("text") == text)
                    or m["type"] == "error", timeout=15)
                if reply["type"] == "message":
                    return tab
            except (ConnectionClosed, InvalidHandshake, OSError, asyncio.TimeoutError):
                pass
            assert time.monotonic() < deadline, f"{text!r} never went through"
            await asyncio.sleep(0.5)

    async def scenario() -> None:
        a = await Tab(console, "restart-a", cookie).open()
        await a.expect("board", lambda m: m["status"] == "online")
        # before
        for shopper in (s1, s2):
            await asyncio.to_thread(escalate, stack, shopper)
            await a.expect("assigned", about(shopper))
        await a.send_text(s1, "已处理好（重启前）")
        await a.close_chat(s1)
        await a.send_text(s2, "正在查（重启前）")
        await asyncio.to_thread(say, stack, s2, "好的我等着（重启前）")
        await a.expect("message", lambda m: m["from"] == "shopper" and m["text"] == "好的我等着（重启前）")
        await asyncio.to_thread(readers[s2].read)
        await until(lambda: subscribers() >= 1, what="Rasa's outbound listener")
        await asyncio.sleep(1.2)  # appendfsync everysec (a clean stop writes everything anyway)

        # during: Redis stops; a shopper writes, another asks for a person, the agent answers; all retried
        inner.redis.stop()
        down.set()
        during = [asyncio.create_task(asyncio.to_thread(say, stack, s2, "还没好吗（重启期间）", 90)),
                  asyncio.create_task(asyncio.to_thread(say, stack, s3, HANDOFF_TEXT, 90))]
        sending = asyncio.create_task(agent_send(a, s2, "马上就好（重启期间）", 90))
        await asyncio.sleep(5)
        assert not any(t.done() for t in [*during, sending]), "something went through while Redis was down"
        inner.redis = start_embedded(data_dir, port=port, persist=True, password=inner.secrets.redis_password)
        down.clear()
        replies = await asyncio.gather(*during)
        assert any(QUEUED_REPLY in (r.get("text") or "") for r in replies[1]), replies[1]
        a = await sending

        # after: the console still follows the event stream (the shopper's words reach the tab) and dispatches
        await until(lambda: subscribers() >= 1, what="Rasa's outbound listener subscribes again")
        await asyncio.to_thread(say, stack, s2, "好的（重启后）")
        await a.expect("message", lambda m: m["from"] == "shopper" and m["text"] == "好的（重启后）")
        await until(lambda: s3 in queue.chats_of("restart-a"), what="the escalation made during the outage")
        await asyncio.to_thread(escalate, stack, s4)
        await until(lambda: s4 in queue.chats_of("restart-a"), what="an escalation after the restart")
        for shopper in (s2, s3, s4):
            await a.send_text(shopper, f"已处理好（重启后 {shopper[-4:]}）")
            await a.close_chat(shopper)
        await a.close()

    try:
        run(scenario())
        assert_answered_once(lifecycle(client, shoppers), by="restart-a")
        assert shopper_texts(stack, s1) == [HANDOFF_TEXT]
        assert shopper_texts(stack, s2) == [HANDOFF_TEXT, "好的我等着（重启前）", "还没好吗（重启期间）", "好的（重启后）"]
        assert shopper_texts(stack, s3) == [HANDOFF_TEXT] and shopper_texts(stack, s4) == [HANDOFF_TEXT]
        assert shopper_events(client, s2) == ["好的我等着（重启前）", "还没好吗（重启期间）", "好的（重启后）"]
        expected = {s1: ["已处理好（重启前）"],
                    s2: ["正在查（重启前）", "马上就好（重启期间）", f"已处理好（重启后 {s2[-4:]}）"],
                    s3: [f"已处理好（重启后 {s3[-4:]}）"], s4: [f"已处理好（重启后 {s4[-4:]}）"]}
        for shopper, texts in expected.items():
            check_outbox(stack, readers[shopper], texts)
            said = [t for a, t in agent_texts(stack, shopper) if a == "restart-a" and t in texts]
            assert said == texts  # in the transcript once each, in order
    finally:
        if down.is_set() or inner.redis is None or not inner.redis.process or inner.redis.process.poll() is not None:
            inner.redis = start_embedded(data_dir, port=port, persist=True, password=inner.secrets.redis_password)
        console.stop()
        client.close()
