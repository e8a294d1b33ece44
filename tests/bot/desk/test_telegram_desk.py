"""The Telegram desk end to end: the real python-telegram-bot Application polling the Bot API stand-in, a real
Redis, the real AgentDesk, and a stand-in of Rasa's tracker endpoints recording what is appended."""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Iterator, Optional

import pytest
import redis
from aiohttp import web

from bot.config import PROJECT_ROOT, Settings, load_settings
from bot.desk.telegram_desk import TelegramDesk, claim_data, create_desk
from bot.handoff import keys
from bot.handoff.desk import RATING_QUESTION
from bot.handoff.outbound import Outbound
from bot.handoff.presence import Status, heartbeat, status_of
from bot.handoff.queue import AgentProfile, Escalation, HandoffQueue
from bot.runtime.redis_service import RedisServer, start_embedded
from bot.shop import open_backend
from bot.shop.sqlite_backend import SqliteShopBackend
from tests.fakes.telegram_api import Call, TelegramApiStandIn, TgChat, TgUser, buttons_of

TOKEN = "5550001:desk-one"
TOKEN_2 = "5550002:desk-two"
RASA_TOKEN = "rasa-api-secret"
DESK_CHAT = TgChat.group(-1001500, "小店客服台")
WANG = TgUser(1001, "小王", "wang_cs")
LI = TgUser(1002, "小李", "li_cs")
STRANGER = TgUser(2001, "路人甲", "passerby")
PHONE, PHONE_MASKED = "13812345678", "138****5678"
ADDRESS = "杭州市西湖区文三路123号5栋2单元301室"


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_embedded(tmp_path_factory.mktemp("desk-redis"), persist=False, password="desk-test")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> SqliteShopBackend:
    shop = open_backend(tmp_path_factory.mktemp("desk-shop") / "shop.db")
    assert isinstance(shop, SqliteShopBackend)
    return shop


@pytest.fixture()
def telegram() -> Iterator[TelegramApiStandIn]:
    with TelegramApiStandIn() as server:
        server.add_bot(TOKEN, username="ShopDeskBot")
        server.add_bot(TOKEN_2, username="ShopDesk2Bot")
        for token in (TOKEN, TOKEN_2):
            server.add_chat(token, DESK_CHAT)  # both bots are members of the agents' group
        yield server


@dataclasses.dataclass
class World:
    telegram: TelegramApiStandIn
    redis_url: str
    redis: redis.Redis
    queue: HandoffQueue
    outbound: Outbound
    backend: SqliteShopBackend
    rasa: RasaStandIn

    def settings(self, token: str = TOKEN) -> Settings:
        return dataclasses.replace(
            load_settings(), telegram_desk_token=token, telegram_desk_chat=str(DESK_CHAT.id),
            telegram_agents=(str(WANG.id), str(LI.id)), telegram_api_url=self.telegram.url,
            rasa_port=self.rasa.port, rasa_api_token=RASA_TOKEN, agent_chat_limit=2, handoff_grace_seconds=20,
            handoff_sweep_seconds=1)


@pytest.fixture()
def world(telegram: TelegramApiStandIn, redis_server: RedisServer, backend: SqliteShopBackend) -> World:
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    queue = HandoffQueue(client)
    return World(telegram, redis_server.url, client, queue, Outbound(client, 3600), backend, RasaStandIn())


class RasaStandIn:
    """Rasa's `GET /conversations/<id>/tracker` and `POST .../tracker/events` (token checked), in memory."""

    def __init__(self) -> None:
        self.trackers: dict[str, dict[str, Any]] = {}
        self.appended: dict[str, list[dict[str, Any]]] = {}
        self.port = 0
        self._runner: Optional[web.AppRunner] = None

    def tracker(self, conversation: str) -> dict[str, Any]:
        return self.trackers.setdefault(conversation, {"sender_id": conversation, "slots": {}, "events": [],
                                                       "latest_input_channel": "socketio"})

    async def _get(self, request: web.Request) -> web.Response:
        if request.query.get("token") != RASA_TOKEN:
            return web.json_response({"status": "failure", "reason": "NotAuthenticated"}, status=401)
        return web.json_response(self.tracker(request.match_info["conv"]))

    async def _post(self, request: web.Request) -> web.Response:
        if request.query.get("token") != RASA_TOKEN:
            return web.json_response({"status": "failure", "reason": "NotAuthenticated"}, status=401)
        conversation = request.match_info["conv"]
        body = await request.json()
        events = body if isinstance(body, list) else [body]
        self.appended.setdefault(conversation, []).extend(events)
        self.tracker(conversation)["events"].extend(events)
        return web.json_response(self.tracker(conversation))

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[RasaStandIn]:
        app = web.Application()
        app.router.add_get("/conversations/{conv}/tracker", self._get)
        app.router.add_post("/conversations/{conv}/tracker/events", self._post)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        try:
            yield self
        finally:
            await self._runner.cleanup()


@contextlib.asynccontextmanager
async def running_desk(world: World, token: str = TOKEN) -> AsyncIterator[TelegramDesk]:
    desk = create_desk(world.settings(token), world.redis_url, world.backend, poll_timeout=1, heartbeat_seconds=0.5)
    await desk.start()
    try:
        yield desk
    finally:
        await desk.stop()
        await desk.events.close()
        desk.redis.close()


@contextlib.asynccontextmanager
async def started(world: World, *tokens: str) -> AsyncIterator[list[TelegramDesk]]:
    async with world.rasa.running(), contextlib.AsyncExitStack() as stack:
        yield [await stack.enter_async_context(running_desk(world, token)) for token in tokens or (TOKEN,)]


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 90))


async def eventually(check: Callable[[], Any], timeout: float = 10, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what or check}")
        await asyncio.sleep(0.05)


def escalate(world: World, conversation: str, *, text: str = f"快递三天没动了，我电话{PHONE}，快帮我查查",
             group: str = "orders", verified: bool = True) -> str:
    """A conversation that the bot hands over: its tracker in the Rasa stand-in, its escalation queued."""
    order = world.backend.find_orders(limit=1)[0]
    tracker = world.rasa.tracker(conversation)
    tracker["slots"] = {"verified_order": order.order_no, "order_id": order.order_no} if verified else {}
    tracker["events"] = [
        {"event": "user", "text": text, "timestamp": 1.0,
         "parse_data": {"intent": {"name": "inquire_logistics", "confidence": 0.93}, "entities": []}},
        {"event": "bot", "text": "正在为您转接订单物流人工客服，您是下一位。", "timestamp": 2.0},
    ]
    world.queue.enqueue(Escalation(conversation, group, "frustration", 2, "socketio", 1.8,
                                   {"last_message": text, "order_no": order.order_no}))
    return order.order_no


def desk_post(telegram: TelegramApiStandIn, conversation: str, token: str = TOKEN, since: int = 0,
              timeout: float = 10) -> Call:
    return telegram.wait_for_call("sendMessage", lambda c: c.chat_id == DESK_CHAT.id and c.token == token
                                  and f"会话 {conversation}\n" in c.text and bool(c.params.get("reply_markup")),
                                  since=since, timeout=timeout)


def outbox_texts(world: World, conversation: str) -> list[str]:
    return [m["text"] for _, m in world.outbound.since(conversation)]


def agent_events(world: World, conversation: str) -> list[dict[str, Any]]:
    return [e for e in world.rasa.appended.get(conversation, []) if e.get("event") == "bot"]


def answer_to(user: TgUser, words: str) -> Callable[[Call], bool]:
    return lambda call: call.chat_id == user.id and words in call.text


def private(user: TgUser) -> TgChat:
    return TgChat.private(user)


# -- the tests -----------------------------------------------------------------------------------
def test_claim_answer_forward_and_close(world: World) -> None:
    telegram = world.telegram

    async def scenario() -> None:
        async with started(world):
            telegram.send_text(TOKEN, WANG, private(WANG), "/start")
            await telegram.await_call("sendMessage", lambda c: c.chat_id == WANG.id and "tg:1001" in c.text)

            order_no = escalate(world, "conv-1")
            post = await asyncio.to_thread(desk_post, telegram, "conv-1")
            assert PHONE_MASKED in post.text and PHONE not in post.text
            assert "订单物流" in post.text and order_no in post.text and "情绪分：1.80" in post.text
            assert "排队：第 1 位" in post.text and "socketio" in post.text
            assert [b["text"] for b in buttons_of(post.result)] == ["接入 Claim"]
            assert buttons_of(post.result)[0]["callback_data"] == claim_data("conv-1")

            # Someone in the group who is not an agent: refused, nothing changes.
            telegram.press_button(TOKEN, STRANGER, post.result, text="接入")
            refusal = await telegram.await_call("answerCallbackQuery", lambda c: bool(c.params.get("show_alert")))
            assert "只有本店客服" in refusal.params["text"]
            assert world.queue.escalation("conv-1")["state"] == "queued"
            assert buttons_of(telegram.message(TOKEN, DESK_CHAT.id, post.result["message_id"]))

            # An agent: claims; the button goes; the context comes privately, masked.
            mark = telegram.mark()
            telegram.press_button(TOKEN, WANG, post.result, text="接入")
            answer = await telegram.await_call("answerCallbackQuery", since=mark)
            assert "已接入" in answer.params["text"] and not answer.params.get("show_alert")
            assert world.redis.get(keys.owner("conv-1")) == b"agent:tg:1001"
            assert world.queue.chats_of("tg:1001") == ["conv-1"]
            context = await telegram.await_call("sendMessage", lambda c: c.chat_id == WANG.id and "您已接入" in c.text,
                                                since=mark)
            assert context.text.startswith("💬 会话 conv-1")
            assert PHONE_MASKED in context.text and PHONE not in context.text and order_no in context.text
            await eventually(lambda: not buttons_of(telegram.message(TOKEN, DESK_CHAT.id, post.result["message_id"])),
                             what="the Claim button is removed")
            assert "已由 小王 接入" in telegram.message(TOKEN, DESK_CHAT.id, post.result["message_id"])["text"]
            assert world.rasa.appended["conv-1"][0] == {"event": "pause"}
            assert "人工客服小王" in outbox_texts(world, "conv-1")[0]

            # The agent writes in the private chat (they hold one chat): it reaches the shopper and the tracker.
            telegram.send_text(TOKEN, WANG, private(WANG), "您好，我马上帮您查一下物流")
            await eventually(lambda: "您好，我马上帮您查一下物流" in outbox_texts(world, "conv-1"), what="outbox")
            said = agent_events(world, "conv-1")[-1]
            assert said["text"] == "您好，我马上帮您查一下物流" and said["metadata"]["agent"] == "tg:1001"
            assert world.outbound.since("conv-1")[-1][1]["from"] == "agent"

            # The shopper answers (the ownership gate writes a shopper_message event): forwarded, masked.
            world.redis.xadd(keys.EVENTS, {"type": "shopper_message", "conv": "conv-1",
                                           "text": f"顺便改下地址：{ADDRESS}，电话{PHONE}"})
            forwarded = await telegram.await_call("sendMessage", lambda c: c.chat_id == WANG.id and "顾客：" in c.text)
            assert forwarded.text.startswith("💬 会话 conv-1")
            assert PHONE_MASKED in forwarded.text and PHONE not in forwarded.text and "文三路123号" not in forwarded.text

            # A reply to the forwarded message goes to that conversation too.
            telegram.send_text(TOKEN, WANG, private(WANG), "地址已帮您备注", reply_to=forwarded.result["message_id"])
            await eventually(lambda: "地址已帮您备注" in outbox_texts(world, "conv-1"), what="reply reaches the shopper")

            # /close: the queue lets go, the bot asks for a rating.
            mark = telegram.mark()
            telegram.send_text(TOKEN, WANG, private(WANG), "/close solved")
            done = await telegram.await_call("sendMessage", lambda c: c.chat_id == WANG.id, since=mark)
            assert "已结束（已解决）" in done.text
            assert world.queue.escalation("conv-1") == {} and world.queue.chats_of("tg:1001") == []
            assert world.redis.get(keys.owner("conv-1")) is None
            last = world.outbound.since("conv-1")[-1][1]
            assert last["text"] == RATING_QUESTION and len(last["buttons"]) == 5
            assert {"event": "resume"} in world.rasa.appended["conv-1"]

            # Nothing held any more: a message says so instead of going anywhere.
            telegram.send_text(TOKEN, WANG, private(WANG), "还在吗")
            nothing = await telegram.await_call("sendMessage", lambda c: c.chat_id == WANG.id and "没有接待中" in c.text)
            assert nothing.ok

    run(scenario())
    audit = [(f[b"agent"], f[b"action"]) for _, f in world.redis.xrange("shop:audit")]
    assert (b"tg:1001", b"claim") in audit and (b"tg:1001", b"message") in audit and (b"tg:1001", b"close") in audit


def test_an_agent_who_never_started_the_bot_works_in_the_desk_chat_and_can_transfer(world: World) -> None:
    telegram = world.telegram
    long_id = "telegram-" + "7" * 30 + "-" + "abcdef" * 5  # too long for button data: hashed

    async def scenario() -> None:
        async with started(world):
            escalate(world, long_id, verified=False)
            post = await asyncio.to_thread(desk_post, telegram, long_id)
            assert buttons_of(post.result)[0]["callback_data"].startswith("claim#")
            assert "订单号（未验证）" in post.text

            mark = telegram.mark()
            telegram.press_button(TOKEN, LI, post.result, text="接入")
            # Li never wrote to the bot: the private message is refused, the context comes in the group.
            context = await telegram.await_call("sendMessage", lambda c: c.chat_id == DESK_CHAT.id
                                                and "您已接入" in c.text, since=mark)
            assert context.params.get("parse_mode") == "HTML" and "tg://user?id=1002" in context.params["text"]
            assert context.result["text"].startswith(f"💬 会话 {long_id}") and PHONE not in context.text
            assert world.queue.chats_of("tg:1002") == [long_id]

            # Li answers by replying to it in the group; a chat message that replies to nothing is ignored.
            telegram.send_text(TOKEN, LI, DESK_CHAT, "大家好，我先接这个")
            telegram.send_text(TOKEN, LI, DESK_CHAT, "您好，请问订单号是多少？", reply_to=context.result["message_id"])
            await eventually(lambda: "您好，请问订单号是多少？" in outbox_texts(world, long_id), what="group reply")
            assert "大家好，我先接这个" not in outbox_texts(world, long_id)

            # A stranger's command in the group is refused politely; Wang cannot answer Li's chat.
            mark = telegram.mark()
            telegram.send_text(TOKEN, STRANGER, DESK_CHAT, "/online")
            refused = await telegram.await_call("sendMessage", lambda c: c.chat_id == DESK_CHAT.id, since=mark)
            assert "只供本店客服使用" in refused.text and status_of(world.redis, "tg:2001") is Status.OFFLINE
            telegram.send_text(TOKEN, WANG, DESK_CHAT, "我来回答", reply_to=context.result["message_id"])
            await telegram.await_call("sendMessage", lambda c: "不在您手上" in c.text, since=mark)
            assert "我来回答" not in outbox_texts(world, long_id)

            # A note, then a transfer to another group: the chat waits again, with a new Claim message.
            telegram.send_text(TOKEN, LI, DESK_CHAT, "/note 顾客要求改地址", reply_to=context.result["message_id"])
            await telegram.await_call("sendMessage", lambda c: "记下备注" in c.text)
            notes = [f for _, f in world.redis.xrange(keys.EVENTS) if f.get(b"type") == b"note"]
            assert notes[-1][b"text"].decode() == "顾客要求改地址"
            mark = telegram.mark()
            telegram.send_text(TOKEN, LI, DESK_CHAT, "/transfer aftersales", reply_to=context.result["message_id"])
            await telegram.await_call("sendMessage", lambda c: "已转到 售后" in c.text, since=mark)
            assert world.queue.escalation(long_id)["state"] == "queued"
            assert world.queue.waiting("aftersales") == [long_id]
            again = await asyncio.to_thread(desk_post, telegram, long_id, since=mark)
            assert "售后" in again.text

    run(scenario())


def test_two_agents_pressing_claim_at_once_exactly_one_gets_it(world: World) -> None:
    telegram = world.telegram

    async def scenario() -> None:
        async with started(world, TOKEN, TOKEN_2):
            for user in (WANG, LI):
                for token in (TOKEN, TOKEN_2):
                    telegram.send_text(token, user, private(user), "/start")

            # In one desk: both presses arrive in the same batch of updates.
            escalate(world, "race-1")
            post = await asyncio.to_thread(desk_post, telegram, "race-1")
            mark = telegram.mark()
            telegram.press_button(TOKEN, WANG, post.result, text="接入")
            telegram.press_button(TOKEN, LI, post.result, text="接入")
            await eventually(lambda: len(telegram.calls("answerCallbackQuery", TOKEN, since=mark)) == 2)
            answers = {_query_user(telegram, c): c for c in telegram.calls("answerCallbackQuery", TOKEN, since=mark)}
            assert set(answers) == {WANG.id, LI.id}
            winners = [user for user in (WANG, LI) if not answers[user.id].params.get("show_alert")]
            assert len(winners) == 1 and "已接入" in answers[winners[0].id].params["text"]
            assert world.redis.get(keys.owner("race-1")) == f"agent:tg:{winners[0].id}".encode()
            assert sum(world.queue.chats_of(f"tg:{u.id}") == ["race-1"] for u in (WANG, LI)) == 1

            # Across two desk processes (two bots on the same Redis): the queue's atomic claim decides.
            escalate(world, "race-2")
            post_1 = await asyncio.to_thread(desk_post, telegram, "race-2", TOKEN)
            post_2 = await asyncio.to_thread(desk_post, telegram, "race-2", TOKEN_2)
            mark = telegram.mark()
            telegram.press_button(TOKEN, LI, post_1.result, text="接入")
            telegram.press_button(TOKEN_2, WANG, post_2.result, text="接入")
            answer_1 = await telegram.await_call("answerCallbackQuery", lambda c: c.token == TOKEN, since=mark)
            answer_2 = await telegram.await_call("answerCallbackQuery", lambda c: c.token == TOKEN_2, since=mark)
            assert sorted([bool(answer_1.params.get("show_alert")), bool(answer_2.params.get("show_alert"))]) \
                == [False, True]
            refused = answer_1 if answer_1.params.get("show_alert") else answer_2
            assert "已被其他客服接入" in refused.params["text"]
            holders = [u for u in (WANG, LI) if "race-2" in world.queue.chats_of(f"tg:{u.id}")]
            assert len(holders) == 1
            assert world.redis.get(keys.owner("race-2")) == f"agent:tg:{holders[0].id}".encode()
            # The other desk's Claim message is updated from the events stream as well.
            loser_token, loser_post = (TOKEN_2, post_2) if holders[0] is LI else (TOKEN, post_1)
            await eventually(lambda: not buttons_of(telegram.message(loser_token, DESK_CHAT.id,
                                                                     loser_post.result["message_id"])))
            greetings = [t for t in outbox_texts(world, "race-2") if "人工客服" in t]
            assert len(greetings) == 1

    run(scenario())


def _query_user(telegram: TelegramApiStandIn, call: Call) -> Optional[int]:
    """The user whose button press an answerCallbackQuery answers."""
    for update in [u for c in telegram.calls("getUpdates") if c.ok for u in c.result]:
        query = update.get("callback_query")
        if query and query["id"] == call.params.get("callback_query_id"):
            return int(query["from"]["id"])
    return None


def test_presence_commands_and_going_offline_hands_the_chats_back(world: World) -> None:
    telegram = world.telegram

    async def scenario() -> None:
        async with started(world):
            telegram.send_text(TOKEN, WANG, private(WANG), "/online")
            await telegram.await_call("sendMessage", lambda c: c.chat_id == WANG.id and "在线" in c.text)
            assert status_of(world.redis, "tg:1001") is Status.ONLINE
            profile = world.queue.profile("tg:1001")
            assert profile is not None and profile.desk == "telegram" and profile.limit == 2
            assert set(profile.groups) == {"aftersales", "complaints", "orders", "presales"}
            ttl = world.redis.pttl(keys.alive("tg:1001"))
            await asyncio.sleep(1.2)  # the desk keeps the heartbeat going
            assert world.redis.pttl(keys.alive("tg:1001")) >= ttl - 600

            telegram.send_text(TOKEN, WANG, private(WANG), "/away")
            await telegram.await_call("sendMessage", lambda c: c.chat_id == WANG.id and "离开" in c.text)
            assert status_of(world.redis, "tg:1001") is Status.AWAY
            escalate(world, "conv-away")
            post = await asyncio.to_thread(desk_post, telegram, "conv-away")
            mark = telegram.mark()
            telegram.press_button(TOKEN, WANG, post.result, text="接入")
            refused = await telegram.await_call("answerCallbackQuery", since=mark)
            assert refused.params.get("show_alert") and "/online" in refused.params["text"]
            assert world.queue.escalation("conv-away")["state"] == "queued"

            telegram.send_text(TOKEN, WANG, private(WANG), "/online")
            await telegram.await_call("sendMessage", lambda c: c.chat_id == WANG.id and "在线" in c.text, since=mark)
            telegram.press_button(TOKEN, WANG, post.result, text="接入")
            await eventually(lambda: world.queue.chats_of("tg:1001") == ["conv-away"])

            mark = telegram.mark()
            telegram.send_text(TOKEN, WANG, private(WANG), "/offline")
            bye = await telegram.await_call("sendMessage", lambda c: c.chat_id == WANG.id and "离线" in c.text,
                                            since=mark)
            assert "1 个会话已退回排队" in bye.text
            assert status_of(world.redis, "tg:1001") is Status.OFFLINE
            assert world.queue.escalation("conv-away")["state"] == "queued"
            await asyncio.to_thread(desk_post, telegram, "conv-away", since=mark)  # claimable again
            await asyncio.sleep(1.2)
            assert status_of(world.redis, "tg:1001") is Status.OFFLINE  # no heartbeat after /offline

    run(scenario())


def test_without_a_console_the_desk_sweeps_the_queue_and_keeps_the_places_it_tells(world: World) -> None:
    """Only the Telegram desk runs: a web agent's console dies holding a chat; the desk's own sweep puts the
    chat back at the front (claimable here), and the shopper waiting behind, then in front, is told their new
    place on their channel and in their transcript."""
    telegram = world.telegram

    async def scenario() -> None:
        async with started(world):
            world.queue.register(AgentProfile("web-li", "小李", ("orders",), 2))
            heartbeat(world.redis, "web-li", Status.ONLINE, grace_seconds=30)
            escalate(world, "conv-held")
            await asyncio.sleep(0.01)  # a later millisecond: the same score would rank them by name
            escalate(world, "conv-behind")
            assert world.queue.claim("web-li", "conv-held") == "conv-held"

            def told(conversation: str) -> list[str]:
                return [e["text"] for e in agent_events(world, conversation)
                        if "queue_position" in (e.get("metadata") or {})]

            await eventually(lambda: told("conv-behind"), what="the place of the shopper now next")
            assert told("conv-behind")[0].startswith("排队进度更新：您是下一位")
            assert outbox_texts(world, "conv-behind") == told("conv-behind")

            mark = telegram.mark()
            world.redis.delete(keys.alive("web-li"))  # the console died; nobody else sweeps
            await eventually(lambda: world.queue.escalation("conv-held").get("state") == "queued",
                             what="the held chat back in the queue")
            assert world.queue.waiting("orders") == ["conv-held", "conv-behind"]
            await asyncio.to_thread(desk_post, telegram, "conv-held", since=mark)  # claimable here again
            await eventually(lambda: told("conv-held"), what="the requeued shopper told they are next")
            assert told("conv-held")[0].startswith("排队进度更新：您是下一位")
            assert len(told("conv-behind")) == 1  # fell back to second: not pushed

    run(scenario())


def test_a_transfer_to_another_telegram_agent_sends_them_the_context(world: World) -> None:
    telegram = world.telegram

    async def scenario() -> None:
        async with started(world):
            for user in (WANG, LI):
                telegram.send_text(TOKEN, user, private(user), "/online")
                await telegram.await_call("sendMessage", answer_to(user, "在线"))
            escalate(world, "conv-t")
            post = await asyncio.to_thread(desk_post, telegram, "conv-t")
            telegram.press_button(TOKEN, WANG, post.result, text="接入")
            await telegram.await_call("sendMessage", lambda c: c.chat_id == WANG.id and "您已接入" in c.text)

            telegram.send_text(TOKEN, WANG, private(WANG), "/transfer @tg:1002")
            await telegram.await_call("sendMessage", lambda c: c.chat_id == WANG.id and "已转给 小李" in c.text)
            handed = await telegram.await_call("sendMessage", lambda c: c.chat_id == LI.id and "由 小王 转给您" in c.text)
            assert handed.text.startswith("💬 会话 conv-t") and PHONE not in handed.text
            assert world.queue.chats_of("tg:1002") == ["conv-t"] and world.queue.chats_of("tg:1001") == []
            assert world.redis.get(keys.owner("conv-t")) == b"agent:tg:1002"

            # From now on the shopper's messages go to Li, and Li's words to the shopper.
            world.redis.xadd(keys.EVENTS, {"type": "shopper_message", "conv": "conv-t", "text": "换人了吗"})
            await telegram.await_call("sendMessage", lambda c: c.chat_id == LI.id and "换人了吗" in c.text)
            telegram.send_text(TOKEN, LI, private(LI), "/to conv-t 您好，我是小李，接着为您处理")
            await eventually(lambda: "您好，我是小李，接着为您处理" in outbox_texts(world, "conv-t"))
            assert agent_events(world, "conv-t")[-1]["metadata"]["agent"] == "tg:1002"

    run(scenario())


def test_the_desk_exits_with_a_clear_message_without_its_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TELEGRAM_")}
    env["SHOP_STATE_DIR"] = str(tmp_path)
    done = subprocess.run([sys.executable, "-m", "bot.desk.telegram_desk"], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "TELEGRAM_DESK_TOKEN" in done.stderr and "TELEGRAM_DESK_CHAT" in done.stderr
