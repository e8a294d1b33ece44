"""The agents' console server (bot/desk/console/server.py) for real: `python -m bot.desk.console.server` on a free
port, a real embedded Redis, and a small stand-in for Rasa's tracker API (GET .../tracker, POST .../tracker/events)
that records what the console appended. Agents talk to it as the page does: POST /login, then the websocket."""
from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import pytest
import redis
from aiohttp import web
from websockets.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from bot.config import PROJECT_ROOT
from bot.desk.accounts import Account, AccountStore
from bot.desk.console.server import SESSION_KEY_PREFIX
from bot.handoff import keys
from bot.handoff.desk import RATING_QUESTION
from bot.handoff.outbound import Outbound
from bot.handoff.presence import Status, status_of
from bot.handoff.queue import Escalation, HandoffQueue
from bot.runtime.redis_service import RedisServer, free_port, start_embedded
from bot.shop import open_backend
from bot.shop.models import OrderStatus
from tests.processes import stop_process

RASA_TOKEN = "console-test-rasa-token"
PASSWORD = "desk-password-1"
GRACE_SECONDS = 3
SWEEP_SECONDS = 1
TIMEOUT = 15.0


# ------------------------------------------------------------------ a stand-in for Rasa's tracker API


class FakeRasa:
    """Rasa's `/conversations/<id>/tracker` and `/tracker/events`, with the API token, in a thread."""

    def __init__(self) -> None:
        self.port = free_port()
        self.trackers: dict[str, dict[str, Any]] = {}
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.ready = threading.Event()

    def tracker(self, conversation: str) -> dict[str, Any]:
        return self.trackers.setdefault(conversation, {"sender_id": conversation, "slots": {}, "events": [],
                                                       "latest_input_channel": "socketio"})

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()

        def authorised(request: web.Request) -> None:
            if request.query.get("token") != RASA_TOKEN:
                raise web.HTTPUnauthorized()

        async def get_tracker(request: web.Request) -> web.Response:
            authorised(request)
            return web.json_response(self.tracker(request.match_info["conv"]))

        async def post_events(request: web.Request) -> web.Response:
            authorised(request)
            tracker = self.tracker(request.match_info["conv"])
            tracker["events"].extend(await request.json())
            return web.json_response(tracker)

        app.router.add_get("/conversations/{conv}/tracker", get_tracker)
        app.router.add_post("/conversations/{conv}/tracker/events", post_events)
        runner = web.AppRunner(app)
        self.loop.run_until_complete(runner.setup())
        self.loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self.ready.set()
        self.loop.run_forever()

    def start(self) -> FakeRasa:
        self.thread.start()
        self.ready.wait(10)
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


# ------------------------------------------------------------------ the console process


class Console:
    def __init__(self, base: str, client: redis.Redis, rasa: FakeRasa, order_no: str, state: Path) -> None:
        self.base = base
        self.redis = client
        self.queue = HandoffQueue(client)
        self.outbound = Outbound(client, 3600)
        self.rasa = rasa
        self.order_no = order_no
        self.state = state

    @property
    def ws_url(self) -> str:
        return self.base.replace("http://", "ws://") + "/ws"

    def escalate(self, conversation: str, group: str = "orders", text: str = "我的快递怎么还没到", reason: str = "shopper_request"
                 ) -> None:
        """A shopper who talked to the bot (the stand-in's tracker) and then asked for a human."""
        self.rasa.trackers[conversation] = {
            "sender_id": conversation, "latest_input_channel": "socketio",
            "slots": {"verified_order": self.order_no, "order_id": self.order_no, "requested_slot": None},
            "events": [
                {"event": "user", "text": text, "timestamp": time.time() - 60,
                 "parse_data": {"intent": {"name": "inquire_logistics", "confidence": 0.91},
                                "entities": [{"entity": "order_id", "value": self.order_no}]}},
                {"event": "bot", "text": "您的包裹正在派送中。", "timestamp": time.time() - 59},
                {"event": "user", "text": "转人工", "timestamp": time.time() - 30,
                 "parse_data": {"intent": {"name": "human_handoff", "confidence": 0.88}, "entities": []}},
            ],
        }
        placement = self.queue.enqueue(Escalation(conversation, group, reason, 1, "socketio", 1.5,
                                                  {"last_message": text, "order_no": self.order_no}))
        assert placement.queued


def post(url: str, body: Optional[dict] = None, origin: Optional[str] = "same", cookie: Optional[str] = None
         ) -> tuple[int, Any, dict]:
    """(status, headers, JSON body) of a POST as the page sends it (Origin of the console unless told)."""
    base = url.split("/", 3)
    headers = {"Content-Type": "application/json"}
    if origin == "same":
        headers["Origin"] = f"{base[0]}//{base[2]}"
    elif origin is not None:
        headers["Origin"] = origin
    if cookie:
        headers["Cookie"] = cookie
    request = urllib.request.Request(url, data=json.dumps(body or {}).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, reply.headers, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read())


def get(url: str, cookie: Optional[str] = None) -> tuple[int, Any, bytes]:
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, reply.headers, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def login(console: Console, user: str, password: str = PASSWORD) -> str:
    status, headers, body = post(console.base + "/login", {"login": user, "password": password})
    assert status == 200, body
    return headers["Set-Cookie"].split(";", 1)[0]


class Agent:
    """A console tab: the websocket, and every message it received."""

    def __init__(self, console: Console, user: str, cookie: Optional[str] = None) -> None:
        self.console = console
        self.user = user
        self.cookie = cookie or login(console, user)
        self.seen: list[dict[str, Any]] = []
        self.ws: Any = None

    async def __aenter__(self) -> Agent:
        origin = self.console.base
        self.ws = await ws_connect(self.console.ws_url, origin=origin,  # type: ignore[arg-type]
                                   extra_headers=[("Cookie", self.cookie)])
        await self.expect("hello")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()

    async def act(self, **message: Any) -> None:
        await self.ws.send(json.dumps(message, ensure_ascii=False))

    async def expect(self, kind: str, where: Callable[[dict[str, Any]], bool] = lambda m: True,
                     timeout: float = TIMEOUT) -> dict[str, Any]:
        """The first message of `kind` (already received or coming) that satisfies `where`."""
        for message in self.seen:
            if message["type"] == kind and where(message):
                self.seen.remove(message)
                return message
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.user}: no {kind} message within {timeout}s; got {self.seen[-8:]}")
            try:
                message = json.loads(await asyncio.wait_for(self.ws.recv(), left))
            except asyncio.TimeoutError:
                continue  # the deadline check above says what was received instead
            if message["type"] == kind and where(message):
                return message
            self.seen.append(message)

    async def board(self, where: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        return await self.expect("board", where)

    def mine(self) -> list[str]:
        return self.console.queue.chats_of(self.user)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_embedded(tmp_path_factory.mktemp("console-redis"), persist=False, password="console-test")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def fake_rasa() -> Iterator[FakeRasa]:
    rasa = FakeRasa().start()
    try:
        yield rasa
    finally:
        rasa.stop()


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer, fake_rasa: FakeRasa
            ) -> Iterator[tuple[str, Path, str]]:
    state = tmp_path_factory.mktemp("console-state")
    store = AccountStore.in_state_dir(state)
    store.add(Account.new("wang", "小王", PASSWORD, groups=["orders", "aftersales"], limit=2))
    store.add(Account.new("li", "小李", PASSWORD, groups=["orders"], limit=2))
    store.add(Account.new("boss", "主管老张", PASSWORD, role="supervisor"))
    store.add(Account.new("locked", "小锁", PASSWORD))
    db = state / "shop.db"
    order_no = open_backend(db).find_orders(OrderStatus.SHIPPED, limit=1)[0].order_no
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               REDIS_URL=redis_server.url, RASA_PORT=str(fake_rasa.port), SHOP_RASA_API_TOKEN=RASA_TOKEN,
               SHOP_DB=str(db), SHOP_STATE_DIR=str(state), SHOP_SESSION_KEY="console-test-session-key",
               HANDOFF_GRACE_SECONDS=str(GRACE_SECONDS), HANDOFF_SWEEP_SECONDS=str(SWEEP_SECONDS))
    log = state / "console.log"
    with open(log, "wb") as output:  # a file, not a pipe nobody reads: the server never blocks on its log
        proc = subprocess.Popen([sys.executable, "-m", "bot.desk.console.server", "--host", "127.0.0.1", "--port",
                                 str(port)], cwd=PROJECT_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"console exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
            try:
                if get(base + "/health")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("console did not start")
            time.sleep(0.2)
        yield base, state, order_no
    finally:
        stop_process(proc)


@pytest.fixture()
def console(running: tuple[str, Path, str], redis_server: RedisServer, fake_rasa: FakeRasa) -> Iterator[Console]:
    base, state, order_no = running
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()  # a fresh queue (and no sessions) for every test
    fake_rasa.trackers.clear()
    yield Console(base, client, fake_rasa, order_no, state)
    client.close()


def run(scenario: Any) -> None:
    asyncio.run(asyncio.wait_for(scenario, 90))


# ------------------------------------------------------------------ pages and login


def test_health_page_and_strict_headers(console: Console) -> None:
    status, _, body = get(console.base + "/health")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    status, headers, body = get(console.base + "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert headers["X-Frame-Options"] == "DENY" and headers["X-Content-Type-Options"] == "nosniff"
    html = body.decode()
    assert "<title>小店客服 · 客服工作台</title>" in html
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sorted(assets) == ["/static/console.css", "/static/console.js"]  # nothing from elsewhere
    for asset in assets:
        status, headers, content = get(console.base + asset)
        assert status == 200 and content and "Content-Security-Policy" in headers
        assert b"http://" not in content and b"https://" not in content


def test_login_refused_with_a_wrong_password(console: Console) -> None:
    for user, password in (("wang", "not-the-password"), ("nobody", PASSWORD), ("wang", "")):
        status, headers, body = post(console.base + "/login", {"login": user, "password": password})
        assert status == 401 and body["message"] == "登录名或密码错误"
        assert "Set-Cookie" not in headers
    assert get(console.base + "/me")[0] == 401


def test_login_sets_a_strict_http_only_cookie(console: Console) -> None:
    status, headers, _ = post(console.base + "/login", {"login": "wang", "password": PASSWORD})
    assert status == 200
    cookie = headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    status, _, body = get(console.base + "/me", cookie.split(";", 1)[0])
    assert status == 200 and json.loads(body)["name"] == "小王"
    assert get(console.base + "/me", "desk_session=forged.value.here")[0] == 401


def test_login_and_logout_need_this_origin(console: Console) -> None:
    for origin in (None, "http://evil.example", "null"):
        status, headers, _ = post(console.base + "/login", {"login": "wang", "password": PASSWORD}, origin=origin)
        assert status == 403 and "Set-Cookie" not in headers
    cookie = login(console, "wang")
    assert post(console.base + "/logout", origin="http://evil.example", cookie=cookie)[0] == 403
    assert get(console.base + "/me", cookie)[0] == 200  # still logged in


def test_repeated_failures_lock_the_login_for_a_while(console: Console) -> None:
    for _ in range(5):
        assert post(console.base + "/login", {"login": "locked", "password": "wrong-wrong"})[0] == 401
    status, _, body = post(console.base + "/login", {"login": "locked", "password": PASSWORD})
    assert status == 429 and "5 分钟" in body["message"]


def test_the_socket_needs_a_login_and_this_origin(console: Console) -> None:
    cookie = login(console, "wang")

    async def closed_with(origin: str, headers: list[tuple[str, str]]) -> int:
        async with ws_connect(console.ws_url, origin=origin, extra_headers=headers) as ws:  # type: ignore[arg-type]
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
            return ws.close_code or 0

    async def scenario() -> None:
        assert await closed_with(console.base, []) == 4401
        assert await closed_with("http://evil.example", [("Cookie", cookie)]) == 4401

    run(scenario())
    assert status_of(console.redis, "wang") is Status.OFFLINE


# ------------------------------------------------------------------ the queue and the chats


def test_two_agents_each_get_a_different_conversation_with_its_context(console: Console) -> None:
    async def scenario() -> None:
        async with Agent(console, "wang") as wang, Agent(console, "li") as li:
            await wang.board(lambda b: b["status"] == "online")
            await li.board(lambda b: b["status"] == "online")
            console.escalate("shopper-a")
            # One at a time: a dispatch pass (bot.handoff.dispatch) that found nothing for li, then gave wang the
            # first, claims again for wang alone, and would take the second too if it came during that pass.
            while console.queue.waiting("orders"):
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)
            console.escalate("shopper-b")
            got_wang, got_li = await wang.expect("assigned"), await li.expect("assigned")
            assert {got_wang["conv"], got_li["conv"]} == {"shopper-a", "shopper-b"}
            assert wang.mine() == [got_wang["conv"]] and li.mine() == [got_li["conv"]]

            context = (await wang.expect("context", lambda m: m["conv"] == got_wang["conv"]))["context"]
            assert context["escalation"]["reason"] == "shopper_request" and context["channel"] == "socketio"
            assert context["escalation"]["frustration"] == "1.50"
            first = context["transcript"][0]
            assert (first["who"], first["intent"], first["confidence"]) == ("shopper", "inquire_logistics", 0.91)
            assert first["entities"] == [["order_id", console.order_no]]
            assert context["slots"] == {"verified_order": console.order_no, "order_id": console.order_no}
            order = context["order"]
            assert order["order_no"] == console.order_no and order["items"] and order["total_paid"] > 0
            assert order["carrier"] and "logistics" in order
            assert isinstance(context["tickets"], list)
            # the bot is paused and the shopper greeted, on their channel and in the transcript
            events = console.rasa.trackers[got_wang["conv"]]["events"]
            assert {"event": "pause"} in events
            greeting = console.outbound.since(got_wang["conv"])[-1][1]
            assert greeting["from"] == "agent" and "小王" in greeting["text"]

    run(scenario())


def test_agent_message_reaches_the_shopper_and_shopper_messages_reach_the_agent(console: Console) -> None:
    async def scenario() -> None:
        async with Agent(console, "wang") as wang, Agent(console, "li") as li:
            await li.act(type="status", status="away")
            await li.board(lambda b: b["status"] == "away")
            console.escalate("shopper-c")
            conv = (await wang.expect("assigned"))["conv"]
            assert conv == "shopper-c"

            await wang.act(type="send", conv=conv, text="您好，包裹明天送到，请留意电话～")
            echo = await wang.expect("message", lambda m: m["from"] == "agent")
            assert echo["text"] == "您好，包裹明天送到，请留意电话～" and echo["agent"] == "小王"
            sent = console.outbound.since(conv)[-1][1]
            assert sent == {"text": "您好，包裹明天送到，请留意电话～", "from": "agent", "agent": "小王"}
            said = console.rasa.trackers[conv]["events"][-1]
            assert said["event"] == "bot" and said["metadata"] == {"agent": "wang", "agent_name": "小王"}

            payload = '<img src=x onerror="window.__pwned=1">还没到？'
            console.redis.xadd(keys.EVENTS, {"type": "shopper_message", "conv": conv, "text": payload})
            heard = await wang.expect("message", lambda m: m["from"] == "shopper")
            assert heard["text"] == payload and heard["conv"] == conv  # as it was typed; the page shows it as text

            await wang.act(type="note", conv=conv, text="顾客急用，已催快递")
            note = await wang.expect("message", lambda m: m["from"] == "note")
            assert note["text"] == "顾客急用，已催快递" and note["agent"] == "wang"
            assert [m for m in console.outbound.since(conv) if "催快递" in m[1]["text"]] == []  # notes stay inside

            await li.act(type="send", conv=conv, text="不是我的会话")
            refused = await li.expect("error")
            assert "不在您名下" in refused["message"]
            await wang.act(type="send", conv=conv, text="   ")
            assert "不能为空" in (await wang.expect("error"))["message"]

    run(scenario())


def test_transfer_to_another_agent_then_to_a_group(console: Console) -> None:
    async def scenario() -> None:
        async with Agent(console, "wang") as wang, Agent(console, "li") as li:
            await li.act(type="status", status="away")
            await li.board(lambda b: b["status"] == "away")
            console.escalate("shopper-d")
            conv = (await wang.expect("assigned"))["conv"]

            await wang.act(type="transfer", conv=conv, agent="li")
            assert (await wang.expect("released"))["why"] == "transferred"
            assert (await li.expect("assigned", lambda m: m["conv"] == conv))["from"] == "小王"
            await li.expect("context", lambda m: m["conv"] == conv)
            assert li.mine() == [conv] and wang.mine() == []

            await li.act(type="transfer", conv=conv, agent="wang")  # wang is online with room
            await li.expect("released")
            await li.act(type="transfer", conv="someone-else", group="complaints")
            assert "不在您名下" in (await li.expect("error"))["message"]

            await wang.act(type="transfer", conv=conv, group="complaints")  # nobody of complaints is here
            await wang.expect("released")
            board = await wang.board(lambda b: not b["mine"])
            assert "complaints" not in board["waiting"]  # not one of wang's groups
            assert console.queue.waiting("complaints") == [conv]
            assert console.queue.escalation(conv)["group"] == "complaints"

    run(scenario())


def test_close_hands_the_conversation_back_and_asks_for_a_rating(console: Console) -> None:
    async def scenario() -> None:
        async with Agent(console, "wang") as wang:
            console.escalate("shopper-e")
            conv = (await wang.expect("assigned"))["conv"]
            await wang.act(type="close", conv=conv, resolution="maybe")
            assert "结束原因" in (await wang.expect("error"))["message"]
            await wang.act(type="close", conv=conv, resolution="solved")
            assert (await wang.expect("released"))["why"] == "closed"
            assert wang.mine() == [] and console.queue.escalation(conv) == {}
            last = console.outbound.since(conv)[-1][1]
            assert last["text"] == RATING_QUESTION and len(last["buttons"]) == 5
            events = console.rasa.trackers[conv]["events"]
            assert {"event": "resume"} in events
            assert {"event": "slot", "name": "rated_agent", "value": "wang"} in events
            await wang.act(type="close", conv=conv, resolution="solved")
            assert "不在您名下" in (await wang.expect("error"))["message"]

    run(scenario())


def test_away_takes_no_new_chats_until_online_again(console: Console) -> None:
    async def scenario() -> None:
        async with Agent(console, "wang") as wang:
            await wang.act(type="status", status="away")
            await wang.board(lambda b: b["status"] == "away")
            console.escalate("shopper-f")
            waiting = await wang.board(lambda b: [w["conv"] for w in b["waiting"]["orders"]] == ["shopper-f"])
            item = waiting["waiting"]["orders"][0]
            assert item["position"] == 1 and item["reason"] == "shopper_request" and item["channel"] == "socketio"
            assert item["preview"] == "我的快递怎么还没到" and item["enqueued_ms"] > 0
            await asyncio.sleep(SWEEP_SECONDS * 2)
            assert wang.mine() == []
            await wang.act(type="status", status="offline")
            assert "退出登录" in (await wang.expect("error"))["message"]
            await wang.act(type="status", status="online")
            assert (await wang.expect("assigned"))["conv"] == "shopper-f"

    run(scenario())


def test_claims_are_refused_while_away_and_past_the_limit(console: Console) -> None:
    async def scenario() -> None:
        async with Agent(console, "wang") as wang:
            await wang.act(type="status", status="away")
            await wang.board(lambda b: b["status"] == "away")
            console.escalate("shopper-g")
            console.escalate("shopper-h")
            await wang.act(type="claim", conv="shopper-h")
            assert "离开" in (await wang.expect("error"))["message"]
            await wang.act(type="status", status="online")  # dispatch fills the limit of 2
            taken = {(await wang.expect("assigned"))["conv"], (await wang.expect("assigned"))["conv"]}
            assert taken == {"shopper-g", "shopper-h"}
            console.escalate("shopper-i")
            await wang.act(type="claim")
            assert "上限" in (await wang.expect("error"))["message"]
            assert console.queue.waiting("orders") == ["shopper-i"]

    run(scenario())


def test_supervisor_sees_queue_lengths_waiting_times_and_every_agent(console: Console) -> None:
    async def scenario() -> None:
        async with Agent(console, "boss") as boss, Agent(console, "li") as li:
            await boss.act(type="status", status="away")
            await li.act(type="status", status="online")  # whatever an earlier test left
            await boss.board(lambda b: b["status"] == "away")
            await li.board(lambda b: b["status"] == "online")
            console.escalate("shopper-j")  # li takes it
            console.escalate("shopper-k", group="complaints", reason="complaint_high")
            await li.expect("assigned")

            def ready(board: dict) -> bool:
                agents = {a["id"]: a for a in board.get("supervisor", {}).get("agents", [])}
                return "li" in agents and len(agents["li"]["chats"]) == 1 and "boss" in agents

            board = await boss.board(ready)
            groups = {g["group"]: g for g in board["supervisor"]["groups"]}
            assert groups["complaints"]["length"] == 1 and groups["complaints"]["longest_ms"] >= 0
            assert groups["orders"]["length"] == 0
            agents = {a["id"]: a for a in board["supervisor"]["agents"]}
            assert agents["li"]["status"] == "online" and agents["li"]["chats"][0]["conv"] == "shopper-j"
            assert agents["boss"]["status"] == "away"
            assert set(board["waiting"]) == {"presales", "orders", "aftersales", "complaints"}
            # an agent sees neither other groups' queues nor who holds what
            li_board = await li.board(lambda b: True)
            assert "supervisor" not in li_board and set(li_board["waiting"]) == {"orders"}
            assert all("chats" not in a for a in li_board["agents"])

    run(scenario())


def test_a_dropped_socket_keeps_the_chats_until_the_grace_runs_out(console: Console) -> None:
    async def scenario() -> None:
        async with Agent(console, "wang") as wang:
            console.escalate("shopper-l")
            conv = (await wang.expect("assigned"))["conv"]
        # the socket is gone, not logged out: nothing is requeued at once
        assert console.queue.chats_of("wang") == [conv]
        assert status_of(console.redis, "wang") is Status.ONLINE
        await asyncio.sleep(GRACE_SECONDS + SWEEP_SECONDS * 3)
        assert status_of(console.redis, "wang") is Status.OFFLINE
        assert console.queue.chats_of("wang") == []
        assert console.queue.waiting("orders") == [conv]  # back at the front
        assert console.queue.escalation(conv)["requeued"] == "1"

    run(scenario())


def test_a_reconnect_within_the_grace_keeps_the_chat_and_shows_it_again(console: Console) -> None:
    async def scenario() -> None:
        cookie = login(console, "wang")
        async with Agent(console, "wang", cookie) as wang:
            console.escalate("shopper-m")
            conv = (await wang.expect("assigned"))["conv"]
        async with Agent(console, "wang", cookie) as again:
            assert (await again.expect("context"))["conv"] == conv
            await asyncio.sleep(GRACE_SECONDS + SWEEP_SECONDS)
            assert again.mine() == [conv]

    run(scenario())


def test_logout_hands_the_chats_back_at_once_and_ends_the_session(console: Console) -> None:
    cookie = login(console, "wang")

    async def scenario() -> None:
        async with Agent(console, "wang", cookie) as wang:
            console.escalate("shopper-n")
            conv = (await wang.expect("assigned"))["conv"]
            status, headers, _ = await asyncio.to_thread(post, console.base + "/logout", None, "same", cookie)
            assert status == 200 and "Max-Age=0" in headers["Set-Cookie"]
            with pytest.raises(ConnectionClosed):
                while True:
                    await asyncio.wait_for(wang.ws.recv(), 10)
            assert wang.ws.close_code == 4401
        assert console.queue.chats_of("wang") == [] and console.queue.waiting("orders") == [conv]
        assert status_of(console.redis, "wang") is Status.OFFLINE

    run(scenario())
    assert get(console.base + "/me", cookie)[0] == 401
    assert not console.redis.keys(f"{SESSION_KEY_PREFIX}:*")
