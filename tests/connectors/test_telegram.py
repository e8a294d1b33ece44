"""The shoppers' Telegram channel (connectors.telegram).

Server-level: the channel's real Sanic blueprint on a real server, the real python-telegram-bot Bot talking to
the Bot API stand-in (tests/fakes/telegram_api.py), a real Redis, and a small echo bot in place of Rasa.
Stack (mark `stack`): the whole assistant with the channel enabled through a temporary credentials file, the
stand-in posting updates to Rasa's webhook like Telegram does.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any, AsyncIterator, Callable, Iterator, Optional

import pytest
import redis
import yaml
from rasa.core.channels.channel import UserMessage
from sanic import Sanic
from telegram import Bot
from telegram.error import NetworkError

from bot.config import PROJECT_ROOT, Settings, load_settings
from bot.handoff import keys
from bot.handoff.desk import AgentDesk
from bot.handoff.outbound import Outbound
from bot.handoff.presence import Status, heartbeat
from bot.handoff.queue import AgentProfile, HandoffQueue
from bot.handoff.transcript import RasaTranscript
from bot.runtime.redis_service import RedisServer, free_port, start_embedded
from bot.runtime.runner import Stack
from bot.shop import ensure_database
from connectors.telegram import (
    EDITED_REPLY,
    EXPIRED_BUTTON,
    HASHED,
    MAX_TEXT,
    UNSUPPORTED_REPLY,
    AiohttpRequest,
    OutboxCourier,
    ShopTelegramInput,
    TelegramOutput,
    callback_data,
    chat_of,
    delivered_key,
    keyboard,
    payload_of,
    split_text,
)
from tests.conftest import MODEL
from tests.fakes.telegram_api import SECRET_HEADER, Call, TelegramApiStandIn, TgChat, TgUser, buttons_of

TOKEN = "6660001:shop-bot"
SECRET = "hook-secret_0123456789"
ALICE = TgUser(7001, "阿丽", "alice")
BOB = TgUser(7002, "小博", "bob")
LONG_PAYLOAD = '/inquire_stock{"product": "华为Mate 60 Pro 12+256G 雅丹黑 官方标配版"}'  # over 64 bytes
BUTTONS = [{"title": "查订单", "payload": "/inquire_order_status"}, {"title": "问库存", "payload": LONG_PAYLOAD},
           {"title": "随便看看", "payload": "随便看看"}]


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 90))


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# -- units -------------------------------------------------------------------------------------------
def test_long_text_is_split_below_the_limit_at_line_and_sentence_ends() -> None:
    text = "\n".join(f"第{i}行：" + "很长的说明。" * 40 for i in range(40))
    pieces = split_text(text)
    assert len(pieces) > 1 and all(0 < utf16(p) <= MAX_TEXT for p in pieces)
    assert "\n".join(pieces) == text  # cut at line ends: nothing lost, nothing added
    emoji = "😀" * 5000  # two UTF-16 units each, as Telegram counts them
    assert [utf16(p) for p in split_text(emoji)] == [4096, 4096, 1808]
    assert "".join(split_text(emoji)) == emoji
    one_line = "我" * 9000
    assert "".join(split_text(one_line)) == one_line and max(utf16(p) for p in split_text(one_line)) <= MAX_TEXT
    assert split_text("短消息") == ["短消息"] and split_text("\n\n") == []


def test_button_data_fits_64_bytes_and_resolves_only_to_offered_payloads() -> None:
    assert callback_data("/inquire_order_status") == "/inquire_order_status"
    long = callback_data(LONG_PAYLOAD)
    assert long.startswith(HASHED) and len(long.encode()) <= 64
    assert payload_of(long, {LONG_PAYLOAD, "x"}) == LONG_PAYLOAD
    assert payload_of(long, {"x"}) is None  # not offered (any more): nothing
    assert payload_of(HASHED + "0" * 32, {LONG_PAYLOAD}) is None
    assert callback_data(HASHED + "abc").startswith(HASHED) and payload_of(callback_data(HASHED + "abc"),
                                                                           {HASHED + "abc"}) == HASHED + "abc"
    assert payload_of("随便看看", set()) == "随便看看"  # short data is the payload; deliver() screens commands
    markup = keyboard(BUTTONS + [{"title": "官网", "url": "https://shop.example.com"}])
    assert markup is not None
    flat = [b for row in markup.inline_keyboard for b in row]
    assert [b.callback_data for b in flat[:3]] == ["/inquire_order_status", long, "随便看看"]
    assert flat[3].url == "https://shop.example.com" and len(markup.inline_keyboard) == 2
    assert chat_of("telegram:-1001") == -1001 and chat_of("telegram:x") is None and chat_of("rest:1") is None


def test_the_aiohttp_transport_sends_uploads_and_reports_failures(telegram: TelegramApiStandIn) -> None:
    telegram.add_chat(TOKEN, TgChat.private(ALICE))

    async def scenario() -> None:
        async with Bot(TOKEN, base_url=telegram.base_url, request=AiohttpRequest()) as bot:
            assert bot.username == "ShopBot"
            text = await bot.send_message(ALICE.id, "你好 <b>x</b>")
            assert text.text == "你好 <b>x</b>"
            photo = await bot.send_photo(ALICE.id, b"\x89PNG\r\n" + b"0" * 2000, caption="图")
            assert photo.photo and photo.caption == "图"
        with pytest.raises(NetworkError):
            async with Bot(TOKEN, base_url=f"http://127.0.0.1:{free_port()}/bot", request=AiohttpRequest()):
                pass

    run(scenario())
    upload = telegram.calls("sendPhoto")[0]
    assert upload.params["photo"]["size"] == 2006


# -- server-level harness ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_embedded(tmp_path_factory.mktemp("telegram-redis"), persist=False, password="tg-test")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def telegram() -> Iterator[TelegramApiStandIn]:
    with TelegramApiStandIn() as server:
        server.add_bot(TOKEN, username="ShopBot", first_name="小店客服")
        yield server


@pytest.fixture()
def redis_url(redis_server: RedisServer) -> str:
    redis.Redis.from_url(redis_server.url).flushdb()
    return redis_server.url


class EchoBot:
    """Rasa's place: records what it is handed and answers through the message's output channel."""

    def __init__(self) -> None:
        self.received: list[UserMessage] = []
        self.offered: dict[str, list[dict[str, Any]]] = {}  # what the "tracker" shows the bot offered

    async def __call__(self, message: UserMessage) -> None:
        self.received.append(message)
        sender, text, out = message.sender_id, message.text, message.output_channel
        self.offered.pop(sender, None)  # the shopper wrote: earlier buttons are no longer on offer
        if text == "buttons":
            self.offered[sender] = BUTTONS
            await out.send_response(sender, {"text": "您想做什么？", "buttons": [dict(b) for b in BUTTONS]})
        elif text == "long":
            await out.send_response(sender, {"text": "\n".join(f"第{i}条：" + "说明" * 60 for i in range(80))})
        elif text == "image":
            await out.send_response(sender, {"image": "https://shop.example.com/p/1.jpg"})
        else:
            await out.send_response(sender, {"text": f"你说：{text}"})

    def agent(self) -> Any:
        """What deliver.offered_to reads: app.ctx.agent.tracker_store.retrieve(sender).events."""
        bot = self

        class Store:
            async def retrieve(self, sender: str) -> Any:
                events = [SimpleNamespace(type_name="bot", data={"buttons": bot.offered[sender]})] \
                    if sender in bot.offered else []
                return SimpleNamespace(events=events)

        return SimpleNamespace(tracker_store=Store())


def settings_for(telegram: TelegramApiStandIn, redis_url: Optional[str], public_url: Optional[str],
                 **changes: Any) -> Settings:
    values: dict[str, Any] = {"telegram_token": TOKEN, "telegram_webhook_secret": SECRET,
                              "telegram_public_url": public_url, "telegram_api_url": telegram.url,
                              "redis_url": redis_url}
    return dataclasses.replace(load_settings(), **{**values, **changes})


@dataclasses.dataclass
class Served:
    url: str
    channel: ShopTelegramInput
    bot: EchoBot

    @property
    def webhook(self) -> str:
        return f"{self.url}/webhooks/telegram/webhook"


@contextlib.asynccontextmanager
async def serving(telegram: TelegramApiStandIn, redis_url: Optional[str], webhook: bool = True,
                  echo: Optional[EchoBot] = None, **changes: Any) -> AsyncIterator[Served]:
    """The channel's blueprint on a real Sanic server, with its start and stop listeners."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    channel = ShopTelegramInput(poll_timeout=1, settings=settings_for(telegram, redis_url, url if webhook else None,
                                                                      **changes))
    echo = echo or EchoBot()
    Sanic.test_mode = True  # Sanic rewrites its class methods at each start; in test mode from the originals
    app = Sanic(f"telegram_test_{uuid.uuid4().hex[:8]}")
    app.ctx.agent = echo.agent()
    app.blueprint(channel.blueprint(echo), url_prefix="/webhooks/telegram")
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
    assert server is not None
    await server.startup()  # create_server has bound the port already; now the listeners
    await server.before_start()
    await server.after_start()
    try:
        yield Served(url, channel, echo)
    finally:
        await server.before_stop()
        closing = server.close()
        if closing is not None:
            await closing
        await server.after_stop()


async def post(url: str, body: Any, secret: Optional[str] = SECRET, raw: Optional[bytes] = None
               ) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers[SECRET_HEADER] = secret
    data = raw if raw is not None else json.dumps(body).encode()

    def call() -> tuple[int, Any]:
        request = urllib.request.Request(url, data=data, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as reply:
                status, text = reply.status, reply.read()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read()
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text.decode(errors="replace")

    return await asyncio.to_thread(call)


def sent_to(telegram: TelegramApiStandIn, chat_id: int, since: int = 0, method: str = "sendMessage") -> list[Call]:
    return [c for c in telegram.calls(method, since=since) if c.chat_id == chat_id and c.ok]


def text_is(text: str) -> Callable[[Call], bool]:
    return lambda call: call.text == text


async def webhook_set(telegram: TelegramApiStandIn) -> Call:
    return await telegram.await_call("setWebhook", timeout=15)


async def settle(seconds: float = 0.3) -> None:
    await asyncio.sleep(seconds)


# -- webhook -------------------------------------------------------------------------------------------
def test_webhook_refuses_requests_without_the_secret(telegram: TelegramApiStandIn, redis_url: str) -> None:
    async def scenario() -> None:
        async with serving(telegram, redis_url) as served:
            registered = await webhook_set(telegram)
            assert registered.params["url"] == served.webhook and registered.params["secret_token"] == SECRET
            assert set(registered.params["allowed_updates"]) == {"message", "edited_message", "callback_query"}
            update = {"update_id": 1, "message": {"message_id": 1, "date": 0, "text": "你好",
                                                  "chat": TgChat.private(ALICE).to_dict(), "from": ALICE.to_dict()}}
            for secret in (None, "", "wrong", SECRET + "x", SECRET[:-1]):
                status, answer = await post(served.webhook, update, secret=secret)
                assert status == 403 and answer["error"] == "forbidden", secret
            assert served.bot.received == []
            assert (await post(served.webhook, update))[0] == 200
            assert [m.text for m in served.bot.received] == ["你好"]

    run(scenario())


def test_a_text_turn_goes_to_the_bot_and_its_answer_comes_back(telegram: TelegramApiStandIn, redis_url: str
                                                                ) -> None:
    async def scenario() -> None:
        async with serving(telegram, redis_url) as served:
            await webhook_set(telegram)
            mark = telegram.mark()
            telegram.send_text(TOKEN, ALICE, TgChat.private(ALICE), "小米手环多少钱")
            answer = await telegram.await_call("sendMessage", lambda c: c.chat_id == ALICE.id, since=mark)
            assert answer.text == "你说：小米手环多少钱" and "parse_mode" not in answer.params
            [message] = served.bot.received
            assert message.sender_id == f"telegram:{ALICE.id}" and message.input_channel == "telegram"
            assert message.metadata["telegram_user_id"] == ALICE.id
            assert message.metadata["shop_client"] == f"telegram:{ALICE.id}"
            telegram.send_text(TOKEN, ALICE, TgChat.private(ALICE), "/start")  # a greeting
            await telegram.await_call("sendMessage", lambda c: c.text == "你说：你好", since=mark)
            await wait_until(lambda: telegram.pending_updates(TOKEN) == [])  # every update was acknowledged

    run(scenario())


def test_markdown_and_html_in_shopper_text_show_literally(telegram: TelegramApiStandIn, redis_url: str) -> None:
    typed = "<b>粗体</b> *星号* _下划线_ `代码` [链接](http://x.y) &amp; <script>alert(1)</script>"

    async def scenario() -> None:
        async with serving(telegram, redis_url) as served:
            await webhook_set(telegram)
            telegram.send_text(TOKEN, ALICE, TgChat.private(ALICE), typed)
            answer = await telegram.await_call("sendMessage", lambda c: c.chat_id == ALICE.id)
            assert served.bot.received[0].text == typed  # to the bot as typed
            assert answer.text == f"你说：{typed}" and "parse_mode" not in answer.params
            shown = telegram.message(TOKEN, ALICE.id, answer.result["message_id"])
            assert shown["text"] == f"你说：{typed}" and "entities" not in shown

    run(scenario())


def test_buttons_become_an_inline_keyboard_and_a_press_continues(telegram: TelegramApiStandIn, redis_url: str
                                                                  ) -> None:
    async def scenario() -> None:
        async with serving(telegram, redis_url) as served:
            await webhook_set(telegram)
            chat = TgChat.private(ALICE)
            telegram.send_text(TOKEN, ALICE, chat, "buttons")
            offer = await telegram.await_call("sendMessage", lambda c: bool(c.params.get("reply_markup")))
            shown = buttons_of(offer.result)
            assert [b["text"] for b in shown] == ["查订单", "问库存", "随便看看"]
            assert all(len(b["callback_data"].encode()) <= 64 for b in shown)

            for label, expected in (("问库存", LONG_PAYLOAD), ("查订单", "/inquire_order_status")):
                telegram.send_text(TOKEN, ALICE, chat, "buttons")  # offered again for each press
                offer = await telegram.await_call("sendMessage", lambda c: bool(c.params.get("reply_markup")),
                                                  since=telegram.mark() - 1)
                mark = telegram.mark()
                press = telegram.press_button(TOKEN, ALICE, offer.result, text=label)
                answered = await telegram.await_call("answerCallbackQuery", since=mark)
                assert answered.params["callback_query_id"] == press["callback_query"]["id"]
                await telegram.await_call("sendMessage", text_is(f"你说：{expected}"), since=mark)
                assert served.bot.received[-1].text == expected and served.bot.received[-1].sender_id == \
                    f"telegram:{ALICE.id}"

            # The long payload's button after the shopper wrote something else: no longer on offer.
            received = len(served.bot.received)
            telegram.send_text(TOKEN, ALICE, chat, "算了")
            await telegram.await_call("sendMessage", lambda c: c.text == "你说：算了")
            mark = telegram.mark()
            telegram.press_button(TOKEN, ALICE, offer.result, text="问库存")
            expired = await telegram.await_call("answerCallbackQuery", since=mark)
            assert expired.params["text"] == EXPIRED_BUTTON
            await settle()
            assert len(served.bot.received) == received + 1  # only "算了"

            # Forged callback data naming a command the bot did not offer is read as text.
            telegram.feed(TOKEN, {"callback_query": {"id": "forged-1", "from": ALICE.to_dict(),
                                                     "message": offer.result, "chat_instance": "1",
                                                     "data": "/restart"}})
            await telegram.await_call("sendMessage", lambda c: c.text == "你说：／restart", ok=None)

    run(scenario())


def test_a_long_answer_is_split_and_images_go_as_photos(telegram: TelegramApiStandIn, redis_url: str) -> None:
    async def scenario() -> None:
        async with serving(telegram, redis_url) as served:
            await webhook_set(telegram)
            telegram.send_text(TOKEN, ALICE, TgChat.private(ALICE), "long")
            await wait_until(lambda: len(served.bot.received) == 1)
            await settle(0.5)
            pieces = [c.text for c in sent_to(telegram, ALICE.id)]
            assert len(pieces) >= 2 and all(utf16(p) <= MAX_TEXT for p in pieces)
            assert "\n".join(pieces) == "\n".join(f"第{i}条：" + "说明" * 60 for i in range(80))
            telegram.send_text(TOKEN, ALICE, TgChat.private(ALICE), "image")
            photo = await telegram.await_call("sendPhoto", lambda c: c.chat_id == ALICE.id)
            assert photo.params["photo"] == "https://shop.example.com/p/1.jpg"

    run(scenario())


async def wait_until(check: Callable[[], Any], timeout: float = 15) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
    return value


def test_bad_input_is_refused_cleanly_and_odd_updates_answered(telegram: TelegramApiStandIn, redis_url: str
                                                                ) -> None:
    private = TgChat.private(BOB).to_dict()

    def message(**content: Any) -> dict[str, Any]:
        return {"message_id": 5, "date": 0, "chat": private, "from": BOB.to_dict(), **content}

    async def scenario() -> None:
        async with serving(telegram, redis_url) as served:
            await webhook_set(telegram)
            for raw in (b"{not json", b"", b"[1, 2]", b'"hi"', b"null", b"\xff\xfe", b'{"message": {}}',
                        b'{"update_id": "7"}', b'{"update_id": true}', b"[" * 100_000):
                status, answer = await post(served.webhook, None, raw=raw)
                assert status == 400 and answer["error"] == "bad_request" and answer["message"], raw[:20]
            for broken in ({"update_id": 8, "message": "text"}, {"update_id": 9, "message": {"text": "x"}},
                           {"update_id": 10, "callback_query": {"id": 1}}):
                status, answer = await post(served.webhook, broken)
                assert status == 400 and answer["error"] == "bad_request", broken
            mark = telegram.mark()
            ignored = [
                {"update_id": 20, "channel_post": {"message_id": 1, "date": 0, "text": "频道消息",
                                                   "chat": {"id": -100777, "type": "channel", "title": "c"}}},
                {"update_id": 21, "my_chat_member": {"chat": private, "from": BOB.to_dict(), "date": 0,
                                                     "old_chat_member": {"status": "member", "user": BOB.to_dict()},
                                                     "new_chat_member": {"status": "kicked", "user": BOB.to_dict(),
                                                                         "until_date": 0}}},
                {"update_id": 22, "inline_query": {"id": "q1", "from": BOB.to_dict(), "query": "手环", "offset": ""}},
                {"update_id": 23, "something_new": {"x": 1}},
                {"update_id": 24, "message": {"message_id": 2, "date": 0, "text": "群里的话", "from": BOB.to_dict(),
                                              "chat": {"id": -100555, "type": "group", "title": "g"}}},
            ]
            for update in ignored:
                assert (await post(served.webhook, update))[0] == 200, update
            polite = [
                ({"update_id": 30, "message": message(sticker={
                    "file_id": "s", "file_unique_id": "s", "type": "regular", "width": 1, "height": 1,
                    "is_animated": False, "is_video": False})}, UNSUPPORTED_REPLY),
                ({"update_id": 31, "message": message(photo=[{"file_id": "p", "file_unique_id": "p", "width": 1,
                                                              "height": 1}], caption="看图")}, UNSUPPORTED_REPLY),
                ({"update_id": 32, "edited_message": message(text="改过的", edit_date=1)}, EDITED_REPLY),
                ({"update_id": 33, "message": message(text="我" * 5000)}, "请精简到"),
                ({"update_id": 34, "message": message(text="\u200b\u200b")}, "有什么可以帮您"),
            ]
            telegram.add_chat(TOKEN, TgChat.private(BOB))
            for update, reply in polite:
                assert (await post(served.webhook, update))[0] == 200
                answer = sent_to(telegram, BOB.id, since=mark)[-1]
                assert reply in answer.text, update
            assert served.bot.received == []  # none of it reached the bot
            # The same update twice (Telegram retrying) is handled once.
            again = {"update_id": 40, "message": message(text="只算一次")}
            assert (await post(served.webhook, again))[0] == 200
            assert (await post(served.webhook, again))[0] == 200
            assert [m.text for m in served.bot.received] == ["只算一次"]
            assert len([c for c in sent_to(telegram, BOB.id, since=mark) if c.text == "你说：只算一次"]) == 1

    run(scenario())


def test_missing_settings_leave_the_channel_off_with_one_warning(telegram: TelegramApiStandIn, redis_url: str,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        with caplog.at_level(logging.WARNING, logger="connectors.telegram"):
            async with serving(telegram, redis_url, telegram_token=None) as served:
                assert (await post(served.webhook, {"update_id": 1}, secret=None))[0] == 403
                status, answer = await post(served.webhook, {"update_id": 1})
                assert status == 503 and answer["error"] == "unavailable"
            async with serving(telegram, redis_url, telegram_webhook_secret=None) as served:
                assert (await post(served.webhook, {"update_id": 1}, secret=""))[0] == 403
        warnings = [r.getMessage() for r in caplog.records if r.name == "connectors.telegram"]
        assert len(warnings) == 2 and "TELEGRAM_TOKEN" in warnings[0] and "TELEGRAM_WEBHOOK_SECRET" in warnings[1]
        assert telegram.calls() == []  # it did nothing

    run(scenario())


# -- polling -------------------------------------------------------------------------------------------
def test_polling_when_there_is_no_public_url(telegram: TelegramApiStandIn, redis_url: str) -> None:
    async def scenario() -> None:
        async with stale_webhook(telegram):
            pass
        async with serving(telegram, redis_url, webhook=False) as served:
            await telegram.await_call("deleteWebhook", timeout=15)  # a stale webhook would stop getUpdates
            chat = TgChat.private(ALICE)
            for text in ("一", "二", "三"):
                telegram.send_text(TOKEN, ALICE, chat, text)
            await wait_until(lambda: len(sent_to(telegram, ALICE.id)) == 3)
            assert [c.text for c in sent_to(telegram, ALICE.id)] == ["你说：一", "你说：二", "你说：三"]
            assert [m.text for m in served.bot.received] == ["一", "二", "三"]
            await wait_until(lambda: telegram.pending_updates(TOKEN) == [])  # confirmed by the next offset
        assert [c.params["url"] for c in telegram.calls("setWebhook")] == ["http://127.0.0.1:9/old"]

    run(scenario())


@contextlib.asynccontextmanager
async def stale_webhook(telegram: TelegramApiStandIn) -> AsyncIterator[None]:
    """A webhook left over from an earlier deployment."""
    async with Bot(TOKEN, base_url=telegram.base_url) as bot:
        await bot.set_webhook("http://127.0.0.1:9/old")
    yield


# -- hand-off messages -----------------------------------------------------------------------------------
def test_agent_messages_reach_the_shopper_once_also_across_restarts(telegram: TelegramApiStandIn, redis_url: str
                                                                     ) -> None:
    client = redis.Redis.from_url(redis_url)
    outbound = Outbound(client, 3600)
    conversation = f"telegram:{ALICE.id}"
    telegram.add_chat(TOKEN, TgChat.private(ALICE))

    async def scenario() -> None:
        async with serving(telegram, redis_url) as served:
            await webhook_set(telegram)
            await wait_until(lambda: client.pubsub_numsub(keys.OUTBOUND_CHANNEL)[0][1] >= 1)
            outbound.send(conversation, {"text": "您好，我是人工客服小王", "from": "agent", "agent": "小王"})
            outbound.send("rest-shopper", {"text": "别的渠道", "from": "agent", "agent": "小王"})
            outbound.send(conversation, {"text": "<b>已发货</b> *今天*", "from": "agent", "agent": "小王"})
            await wait_until(lambda: len(sent_to(telegram, ALICE.id)) == 2)
            assert served.channel.courier is not None
        texts = [c.text for c in sent_to(telegram, ALICE.id)]
        assert texts == ["人工客服小王：\n您好，我是人工客服小王", "人工客服小王：\n<b>已发货</b> *今天*"]
        assert all("parse_mode" not in c.params for c in sent_to(telegram, ALICE.id))

        # While no channel runs: sent, not lost.
        outbound.send(conversation, {"text": "在吗？", "from": "agent", "agent": "小王"})
        outbound.send(conversation, {"text": "请为本次服务评分", "from": "bot",
                                     "buttons": [{"title": "5 分", "payload": '/rate_service{"rating": "5"}'}]})
        async with serving(telegram, redis_url):
            await wait_until(lambda: len(sent_to(telegram, ALICE.id)) == 4)
            await settle(0.5)
        async with serving(telegram, redis_url):  # and a third start sends nothing again
            await settle(1.0)
        texts = [c.text for c in sent_to(telegram, ALICE.id)]
        assert texts[2:] == ["人工客服小王：\n在吗？", "请为本次服务评分"]
        assert buttons_of(sent_to(telegram, ALICE.id)[3].result)[0]["callback_data"] == '/rate_service{"rating": "5"}'
        last = outbound.since(conversation)[-1][0]
        assert client.get(delivered_key(conversation)) == last.encode()

    run(scenario())


def test_two_processes_send_each_message_once_and_in_order(telegram: TelegramApiStandIn, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    outbound = Outbound(client, 3600)
    chats = [TgChat.private(TgUser(8000 + i, f"顾客{i}")) for i in range(4)]
    for chat in chats:
        telegram.add_chat(TOKEN, chat)

    async def scenario() -> None:
        async with serving(telegram, redis_url), serving(telegram, redis_url):
            await wait_until(lambda: client.pubsub_numsub(keys.OUTBOUND_CHANNEL)[0][1] >= 2)
            for n in range(10):
                for chat in chats:
                    outbound.send(f"telegram:{chat.id}", {"text": f"消息{n}", "from": "agent", "agent": "小王"})
            await wait_until(lambda: sum(len(sent_to(telegram, c.id)) for c in chats) == 40)
            await settle(1.0)
        for chat in chats:
            assert [c.text.split("\n")[-1] for c in sent_to(telegram, chat.id)] == [f"消息{n}" for n in range(10)]

    run(scenario())


def test_a_send_that_did_not_reach_telegram_is_retried_not_doubled(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    outbound = Outbound(client, 3600)

    class Flaky(TelegramOutput):
        def __init__(self) -> None:
            self.sent: list[str] = []
            self.failures = 1

        async def send_outbox_message(self, chat_id: int, message: dict[str, Any]) -> None:
            if self.failures:
                self.failures -= 1
                raise NetworkError("connection refused")
            self.sent.append(message["text"])

    async def scenario() -> None:
        import redis.asyncio as aioredis

        import connectors.telegram as module

        module.RETRY_SECONDS, saved = 0.2, module.RETRY_SECONDS
        async_client = aioredis.Redis.from_url(redis_url)
        output = Flaky()
        courier = OutboxCourier(async_client, output, 3600)
        try:
            outbound.send("telegram:9", {"text": "一"})
            outbound.send("telegram:9", {"text": "二"})
            await courier.deliver("telegram:9")
            assert output.sent == []  # the first failed: nothing after it went ahead of it
            await wait_until(lambda: output.sent == ["一", "二"], timeout=5)
            await courier.deliver("telegram:9")
            await courier.catch_up()
            assert output.sent == ["一", "二"]
        finally:
            module.RETRY_SECONDS = saved
            await courier.close()
            await async_client.close()

    run(scenario())


# -- on the running stack ------------------------------------------------------------------------------
STACK_TOKEN = "6660099:stack-shop-bot"


@dataclasses.dataclass
class TelegramStack:
    stack: Stack
    telegram: TelegramApiStandIn

    @property
    def webhook(self) -> str:
        return f"http://127.0.0.1:{self.stack.rasa_port}/webhooks/telegram/webhook"

    def post(self, body: bytes, secret: Optional[str] = SECRET) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json", **({SECRET_HEADER: secret} if secret is not None else {})}
        request = urllib.request.Request(self.webhook, data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as reply:
                status, raw = reply.status, reply.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def say(self, user: TgUser, text: str, timeout: float = 60) -> list[Call]:
        """The shopper writes; every sendMessage/sendPhoto of the bot's answer (the webhook waits for it)."""
        mark = self.telegram.mark()
        update = self.telegram.send_text(STACK_TOKEN, user, TgChat.private(user), text)
        self.telegram.wait_for_delivery(lambda d: d.update_id == update["update_id"] and d.token == STACK_TOKEN,
                                        timeout=timeout)
        return [c for c in self.telegram.calls(since=mark) if c.chat_id == user.id
                and c.method in ("sendMessage", "sendPhoto")]


def credentials_with_telegram(path: Path) -> Path:
    credentials = yaml.safe_load((PROJECT_ROOT / "credentials.yml").read_text(encoding="utf-8")) or {}
    credentials["connectors.telegram.ShopTelegramInput"] = None
    path.write_text(yaml.safe_dump(credentials, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def telegram_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TelegramStack]:
    if not MODEL.exists():
        pytest.fail(f"no trained model at {MODEL}: run `make model` (make test does)")
    state = tmp_path_factory.mktemp("telegram-state")
    with TelegramApiStandIn() as telegram:
        telegram.add_bot(STACK_TOKEN, username="ShopBot", first_name="小店客服")
        stack = Stack.from_settings(load_settings(), MODEL, free_ports=True, web=False)
        stack.state_dir, stack.shop_db, stack.redis_url = state, state / "shop.db", None
        stack.handoff_hours = "always"
        stack.credentials_file = credentials_with_telegram(state / "credentials.yml")
        stack.extra_env = {"TELEGRAM_TOKEN": STACK_TOKEN, "TELEGRAM_WEBHOOK_SECRET": SECRET,
                           "TELEGRAM_PUBLIC_URL": f"http://127.0.0.1:{stack.rasa_port}",
                           "TELEGRAM_API_URL": telegram.url}
        ensure_database(stack.shop_db)
        with stack:
            telegram.wait_for_call("setWebhook", timeout=120)
            yield TelegramStack(stack, telegram)


def new_shopper() -> TgUser:
    return TgUser(int(uuid.uuid4().int % 10**9) + 10**9, "顾客")


@pytest.mark.stack
def test_stack_refuses_without_the_secret_and_bad_updates(telegram_stack: TelegramStack) -> None:
    user = new_shopper()
    update = json.dumps({"update_id": 999_001, "message": {"message_id": 1, "date": 0, "text": "你好",
                                                           "chat": TgChat.private(user).to_dict(),
                                                           "from": user.to_dict()}}).encode()
    assert telegram_stack.post(update, secret=None)[0] == 403
    assert telegram_stack.post(update, secret="wrong")[0] == 403
    for body in (b"{not json", b"[]", b'{"update_id": 999002, "message": "x"}'):
        status, answer = telegram_stack.post(body)
        assert status == 400 and answer["error"] == "bad_request"
    status, _ = telegram_stack.post(json.dumps({"update_id": 999_003, "channel_post": {
        "message_id": 1, "date": 0, "text": "x", "chat": {"id": -100999, "type": "channel", "title": "c"}}}).encode())
    assert status == 200
    assert not [c for c in telegram_stack.telegram.calls("sendMessage") if c.chat_id in (user.id, -100999)]


@pytest.mark.stack
def test_stack_a_turn_buttons_and_a_press(telegram_stack: TelegramStack) -> None:
    user, telegram = new_shopper(), telegram_stack.telegram
    greeting = telegram_stack.say(user, "/start")
    assert greeting and "小蜜" in greeting[0].text and "parse_mode" not in greeting[0].params
    offer = next(c for c in greeting if c.params.get("reply_markup"))
    assert "查订单" in [b["text"] for b in buttons_of(offer.result)]
    mark = telegram.mark()
    press = telegram.press_button(STACK_TOKEN, user, offer.result, text="查订单")
    answered = telegram.wait_for_call("answerCallbackQuery", since=mark, timeout=60)
    assert answered.params["callback_query_id"] == press["callback_query"]["id"]
    asked = telegram.wait_for_call("sendMessage", lambda c: c.chat_id == user.id, since=mark, timeout=60)
    assert "订单号" in asked.text
    price = telegram_stack.say(user, "小米手环多少钱")
    assert any("¥" in c.text for c in price)


@pytest.mark.stack
def test_stack_shopper_markup_is_text(telegram_stack: TelegramStack) -> None:
    user = new_shopper()
    typed = "<b>小米手环</b> *多少钱*"
    answer = telegram_stack.say(user, typed)
    assert answer and all("parse_mode" not in c.params for c in answer)
    query = urllib.parse.urlencode({"token": telegram_stack.stack.api_token})
    with urllib.request.urlopen(f"{telegram_stack.stack.rasa_url}/conversations/telegram:{user.id}/tracker?{query}",
                                timeout=60) as reply:
        tracker = json.loads(reply.read())
    said = [e for e in tracker["events"] if e.get("event") == "user"]
    assert said[-1]["text"] == typed and said[-1]["input_channel"] == "telegram"
    assert said[-1]["metadata"]["telegram_user_id"] == user.id


@pytest.mark.stack
def test_stack_hand_off_agent_messages_arrive_once_and_the_bot_keeps_quiet(telegram_stack: TelegramStack) -> None:
    user, telegram, stack = new_shopper(), telegram_stack.telegram, telegram_stack.stack
    conversation = f"telegram:{user.id}"
    assert stack.redis is not None
    client = redis.Redis.from_url(stack.redis.url)
    queue = HandoffQueue(client)
    agent = f"tg-test-{user.id}"
    queue.register(AgentProfile(agent, "小王", ("presales", "orders", "aftersales", "complaints"), 50))
    heartbeat(client, agent, Status.ONLINE, grace_seconds=300)
    desk = AgentDesk(queue, Outbound(client, 3600), RasaTranscript(stack.rasa_url, stack.api_token),
                     load_backend(stack))
    try:
        queued = telegram_stack.say(user, "转人工")
        assert any("转接" in c.text for c in queued)
        mark = telegram.mark()
        asyncio.run(desk.claim(agent, "小王", conversation))
        greeting = telegram.wait_for_call("sendMessage", lambda c: c.chat_id == user.id, since=mark, timeout=30)
        assert greeting.text.startswith("人工客服小王：") and "很高兴为您服务" in greeting.text
        assert telegram_stack.say(user, "我的订单一直没发货") == []  # an agent holds it: the bot says nothing
        long_text = "\n".join(f"第{i}步：" + "请按以下方式操作。" * 30 for i in range(30))
        mark = telegram.mark()
        asyncio.run(desk.send(agent, "小王", conversation, "<b>今天</b> *发货*"))
        asyncio.run(desk.send(agent, "小王", conversation, long_text))
        time.sleep(3)
        sent = [c for c in telegram.calls("sendMessage", since=mark) if c.chat_id == user.id]
        assert sent[0].text == "人工客服小王：\n<b>今天</b> *发货*" and "parse_mode" not in sent[0].params
        assert len(sent) >= 3 and all(utf16(c.text) <= MAX_TEXT for c in sent)
        assert "\n".join(c.text for c in sent[1:]) == f"人工客服小王：\n{long_text}"
        assert client.get(delivered_key(conversation)) == Outbound(client, 3600).since(conversation)[-1][0].encode()
    finally:
        for held in queue.chats_of(agent):
            asyncio.run(desk.close(agent, held, "solved"))
        client.delete(keys.alive(agent))


def load_backend(stack: Stack) -> Any:
    from bot.shop import open_backend

    return open_backend(stack.shop_db)
