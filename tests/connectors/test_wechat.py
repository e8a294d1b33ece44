"""The WeChat Official Account channel (connectors.wechat).

Server-level: the channel's real Sanic blueprint on a real server, a real Redis, the WeChat stand-in
(tests/fakes/wechat_server.py) signing, encrypting and POSTing callbacks and serving the API, and a small echo
bot with a controllable delay in place of Rasa. Stack (mark `stack`): the whole assistant with the channel
enabled through a temporary credentials file, the stand-in playing WeChat against the real Rasa.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import threading
import time
import urllib.parse
import urllib.request
import uuid
from typing import Any, AsyncIterator, Iterator, Optional

import pytest
import redis
from rasa.core.channels.channel import UserMessage
from sanic import Sanic

from bot.config import load_settings
from bot.handoff import keys
from bot.handoff.outbound import Outbound
from bot.runtime.redis_service import RedisServer, free_port, start_embedded
from bot.runtime.runner import Stack
from bot.shop import ensure_database
from connectors.wechat import (
    CHOOSE_HINT,
    MAX_TEXT_BYTES,
    PLEASE_TYPE_REPLY,
    WELCOME,
    Refused,
    ShopWeChatInput,
    check_message,
    choice_of,
    parse_xml,
    render,
    split_text,
)
from tests.conftest import MODEL
from tests.fakes.wechat_server import (
    WeChatServerStandIn,
    credentials_with_wechat,
    event_xml,
    sign,
    signed_params,
    text_xml,
    wechat_env,
)

AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeChat's console makes them
MENU = {"ORDER_STATUS": "查订单", "PROMOTIONS": "最近有什么优惠活动"}


def new_openid() -> str:
    return "o" + uuid.uuid4().hex[:27]  # 28 characters like a real OpenID


# -- units -------------------------------------------------------------------------------------------------
def test_buttons_become_numbered_options_and_a_number_picks_its_payload() -> None:
    texts, payloads = render([{"text": "请问有什么可以帮您？", "buttons": [
        {"title": "查订单", "payload": "/inquire_order_status"}, {"title": "查物流", "payload": "/inquire_logistics"}]},
        {"text": "或者看看", "buttons": [{"title": "官网", "url": "https://shop.example.com"},
                                         {"title": "优惠", "payload": "/inquire_promotion"}]}])
    assert texts == ["请问有什么可以帮您？\n1. 查订单\n2. 查物流\n\n或者看看\n官网：https://shop.example.com\n3. 优惠"
                     f"\n\n{CHOOSE_HINT}"]
    assert payloads == ["/inquire_order_status", "/inquire_logistics", "/inquire_promotion"]
    assert choice_of("2", payloads) == "/inquire_logistics"
    assert choice_of(" ３ ", payloads) == "/inquire_promotion"  # full-width digits, spaces
    assert choice_of("4", payloads) is None and choice_of("0", payloads) is None and choice_of("2个", payloads) is None
    assert render([{"image": "https://x/1.jpg"}])[0] == ["[图片] https://x/1.jpg"]
    assert render([{"text": "好的", "from": "agent", "agent": "小李"}])[0] == ["【人工客服·小李】\n好的"]


def test_long_answers_are_split_within_wechats_byte_limit() -> None:
    text = "\n".join(f"第{i}行：" + "很长的说明。" * 30 for i in range(30)) + "\n" + "字" * 3000
    pieces = split_text(text)
    assert all(len(p.encode()) <= MAX_TEXT_BYTES for p in pieces) and len(pieces) > 3
    assert "".join(pieces).replace("\n", "") == text.replace("\n", "")


@pytest.mark.parametrize("body, reason", [
    ("<xml><MsgType>text</MsgType", "malformed"), ("", "malformed"), ("<other>1</other>", "<xml>"),
    ("<xml>plain</xml>", "<xml>"),
    ('<!DOCTYPE x [<!ENTITY a "aaaa">]><xml><Content>&a;</Content></xml>', "DOCTYPE"),
])
def test_unreadable_xml_is_refused_with_a_reason(body: str, reason: str) -> None:
    with pytest.raises(Refused) as refused:
        parse_xml(body)
    assert refused.value.status == 400 and reason in str(refused.value)


def test_messages_need_the_common_fields() -> None:
    good = parse_xml(text_xml("o_abc", "你好"))
    check_message(good)
    for name in ("ToUserName", "FromUserName", "CreateTime", "MsgType"):
        with pytest.raises(Refused, match=name):
            check_message({k: v for k, v in good.items() if k != name})
    with pytest.raises(Refused, match="OpenID"):
        check_message({**good, "FromUserName": "<script>"})


def test_without_settings_the_channel_is_off_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    settings = dataclasses.replace(load_settings(), wechat_app_id=None, wechat_app_secret=None, wechat_token=None,
                                   redis_url="redis://127.0.0.1:1/0")
    channel = ShopWeChatInput(settings=settings)
    assert not channel.configured
    assert "WECHAT_APP_ID, WECHAT_APP_SECRET, WECHAT_TOKEN" in caplog.text


# -- server-level harness -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_embedded(tmp_path_factory.mktemp("wechat-redis"), persist=False, password="wx-test")
    try:
        yield server
    finally:
        server.stop()


class EchoBot:
    """Rasa's place: answers "你说：<text>", after `delay` seconds for texts starting with "慢"."""

    def __init__(self, delay: float = 6.0) -> None:
        self.received: list[UserMessage] = []
        self.delay = delay

    async def __call__(self, message: UserMessage) -> None:
        self.received.append(message)
        if str(message.text).startswith("慢"):
            await asyncio.sleep(self.delay)
        await message.output_channel.send_response(message.sender_id, {"text": f"你说：{message.text}"})

    def texts(self) -> list[str]:
        return [str(m.text) for m in self.received]


@dataclasses.dataclass
class Served:
    url: str
    channel: ShopWeChatInput
    bot: EchoBot


@contextlib.asynccontextmanager
async def serving(wechat: WeChatServerStandIn, redis_url: str, budget: float = 2.0) -> AsyncIterator[Served]:
    """The channel's blueprint on a real Sanic server, with its start and stop listeners."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = dataclasses.replace(load_settings(), redis_url=redis_url, wechat_app_id=wechat.app_id,
                                   wechat_app_secret=wechat.secret, wechat_token=wechat.token,
                                   wechat_aes_key=wechat.aes_key, wechat_api_url=wechat.base_url)
    channel = ShopWeChatInput(reply_budget_seconds=budget, menu=MENU, settings=settings)
    bot = EchoBot()
    # Sanic 21.12 rewrites its class methods for each app it starts ("touch-up"); in test mode it starts
    # from the originals each time, so a second app in this process works.
    test_mode, Sanic.test_mode = Sanic.test_mode, True
    app = Sanic(f"wechat_test_{uuid.uuid4().hex[:8]}")
    app.blueprint(channel.blueprint(bot), url_prefix="/webhooks/wechat")
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.after_start()
    wechat.callback_url = f"{url}/webhooks/wechat/webhook"
    try:
        yield Served(url, channel, bot)
    finally:
        await server.before_stop()
        closing = server.close()
        if closing is not None:
            await closing
        await server.after_stop()
        Sanic.test_mode = test_mode


def served_test(aes_key: Optional[str] = None, budget: float = 2.0):
    """Run `test(wechat, served)` with a fresh stand-in and Redis, the channel served in this thread's loop."""
    def decorate(test):
        def run(redis_server: RedisServer) -> None:
            redis.Redis.from_url(redis_server.url).flushdb()
            with WeChatServerStandIn(aes_key=aes_key) as wechat:
                async def main() -> None:
                    async with serving(wechat, redis_server.url, budget) as served:
                        await asyncio.wait_for(test(wechat, served), 120)
                asyncio.run(main())
        run.__name__ = test.__name__
        run.__doc__ = test.__doc__
        return run
    return decorate


def in_thread(function: Any, *args: Any) -> Any:
    """Run a blocking stand-in call off the event loop that serves the channel."""
    return asyncio.to_thread(function, *args)


@served_test(aes_key=AES_KEY)
async def test_safe_mode_decrypts_and_answers_encrypted(wechat: WeChatServerStandIn, served: Served) -> None:
    openid = new_openid()
    reply = await in_thread(wechat.send_text, openid, "你好，加密")
    assert reply.status == 200 and reply.passive and reply.text == "你说：你好，加密"
    assert reply.reply and reply.reply["ToUserName"] == openid
    assert reply.attempts[0].body.startswith("<xml>") and "<Encrypt>" in reply.attempts[0].body  # encrypted
    assert served.bot.received[0].sender_id == f"wechat:{openid}"
    # A plain message to an account in safe mode is refused: its signature does not cover the body.
    plain = await in_thread(wechat.send_text, openid, "明文", None, False)
    assert plain.status == 403 and served.bot.texts() == ["你好，加密"]
    # The ciphertext signed with a wrong msg_signature, or altered: refused.
    params = {**signed_params(wechat.token), "encrypt_type": "aes", "msg_signature": "0" * 40}
    assert (await in_thread(wechat.post_raw, b"<xml><Encrypt>abc</Encrypt></xml>", params, False))[0] == 403
    status, body = await in_thread(wechat.handshake, "echo-123")
    assert (status, body) == (200, "echo-123")


@served_test(budget=1.0)
async def test_a_slow_answer_goes_through_the_api_and_a_retry_gets_a_ready_one(
        wechat: WeChatServerStandIn, served: Served) -> None:
    served.bot.delay = 2.0
    openid = new_openid()
    started = time.monotonic()
    first = await in_thread(wechat.send_text, openid, "慢慢来")
    assert first.status == 200 and not first.passive and time.monotonic() - started < 1.9  # "success" in time
    assert await in_thread(wechat.wait_for_sent, openid, 1, 10) == ["你说：慢慢来"]
    assert wechat.token_calls == 1

    # WeChat repeats a message whose answer it did not get: the bot is not run again, and the answer, sent
    # by the API already, is not sent twice.
    again = await in_thread(wechat.deliver_again, first)
    assert again.status == 200 and not again.passive
    await asyncio.sleep(0.5)
    assert served.bot.texts() == ["慢慢来"] and wechat.sent_to(openid) == ["你说：慢慢来"]

    # A repeat that arrives while the turn runs waits for it; the answer ready in its own window goes back
    # passively, once, and not through the API.
    served.bot.delay = 1.6
    second = await in_thread(wechat.send_text, openid, "慢一点")
    assert not second.passive
    retry = await in_thread(wechat.deliver_again, second)
    assert retry.passive and retry.text == "你说：慢一点"
    await asyncio.sleep(1.5)
    assert served.bot.texts() == ["慢慢来", "慢一点"] and wechat.sent_to(openid) == ["你说：慢慢来"]


@served_test(budget=2.0)
async def test_a_quick_answer_is_passive_and_repeated_to_a_retry(wechat: WeChatServerStandIn,
                                                                 served: Served) -> None:
    openid = new_openid()
    first = await in_thread(wechat.send_text, openid, "你好")
    assert first.passive and first.text == "你说：你好"
    again = await in_thread(wechat.deliver_again, first)  # our answer was lost on the way: WeChat asks again
    assert again.passive and again.text == "你说：你好"
    assert served.bot.texts() == ["你好"] and wechat.sent_to(openid) == [] and wechat.token_calls == 0


# -- the whole assistant ----------------------------------------------------------------------------------
@dataclasses.dataclass
class WeChatStack:
    stack: Stack
    wechat: WeChatServerStandIn
    redis: redis.Redis

    def tracker_events(self, openid: str) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode({"token": self.stack.api_token})
        sender = urllib.parse.quote(f"wechat:{openid}", safe=":")
        with urllib.request.urlopen(f"{self.stack.rasa_url}/conversations/{sender}/tracker?{query}",
                                    timeout=60) as response:
            return json.loads(response.read())["events"]

    def user_texts(self, openid: str) -> list[str]:
        return [e["text"] for e in self.tracker_events(openid) if e.get("event") == "user"]

    @contextlib.contextmanager
    def actions_paused(self, seconds: float) -> Iterator[None]:
        """The action server stops for `seconds` (a stalled dependency): turns needing an action wait."""
        pid = self.stack.processes["actions"].pid
        os.kill(pid, signal.SIGSTOP)
        resume = threading.Timer(seconds, os.kill, (pid, signal.SIGCONT))
        resume.start()
        try:
            yield
        finally:
            resume.join()
            os.kill(pid, signal.SIGCONT)


@pytest.fixture(scope="module")
def wechat_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WeChatStack]:
    if not MODEL.exists():
        pytest.fail(f"no trained model at {MODEL}: run `make model` (make test does)")
    state = tmp_path_factory.mktemp("wechat-state")
    with WeChatServerStandIn() as wechat:
        stack = Stack.from_settings(load_settings(), MODEL, free_ports=True, web=False)
        stack.state_dir, stack.shop_db, stack.redis_url = state, state / "shop.db", None
        stack.handoff_hours = "always"
        stack.credentials_file = credentials_with_wechat(state / "credentials.yml", {"menu": MENU})
        stack.extra_env = wechat_env(wechat)
        ensure_database(stack.shop_db)
        with stack:
            wechat.callback_url = f"{stack.rasa_url}/webhooks/wechat/webhook"
            assert stack.redis is not None
            yield WeChatStack(stack, wechat, redis.Redis.from_url(stack.redis.url))


@pytest.mark.stack
def test_handshake_echoes_only_with_the_right_signature(wechat_stack: WeChatStack) -> None:
    assert wechat_stack.wechat.handshake("1234567890123456789") == (200, "1234567890123456789")
    status, _ = wechat_stack.wechat.handshake("1234567890123456789", wrong_signature=True)
    assert status == 403


@pytest.mark.stack
def test_a_wrong_or_stale_signature_is_refused(wechat_stack: WeChatStack) -> None:
    wechat, openid = wechat_stack.wechat, new_openid()
    body = text_xml(openid, "你好").encode()
    assert wechat.post_raw(body, {"signature": "f" * 40})[0] == 403
    assert wechat.post_raw(body, signed=False)[0] == 403
    stale = int(time.time()) - 3600
    params = {"timestamp": str(stale), "nonce": "1", "signature": ""}
    params["signature"] = sign(wechat.token, str(stale), "1")
    assert wechat.post_raw(body, params, signed=False)[0] == 403
    assert wechat_stack.user_texts(openid) == []


@pytest.mark.stack
def test_a_text_turn_is_answered_passively_with_numbered_options(wechat_stack: WeChatStack) -> None:
    wechat, openid = wechat_stack.wechat, new_openid()
    reply = wechat.send_text(openid, "你好")
    assert reply.status == 200 and reply.passive, reply.attempts
    assert "1. 查订单" in reply.text and CHOOSE_HINT in reply.text
    assert reply.reply and reply.reply["ToUserName"] == openid and reply.reply["MsgType"] == "text"
    events = wechat_stack.tracker_events(openid)
    user = [e for e in events if e.get("event") == "user"]
    assert [e["text"] for e in user] == ["你好"] and user[0]["input_channel"] == "wechat"
    # "1" picks the first option: the bot gets its payload and asks for the order number.
    picked = wechat.send_text(openid, "1")
    assert picked.passive and "订单" in picked.text
    assert wechat_stack.user_texts(openid)[-1] == "/inquire_order_status"
    # Another "1" now is just text: the numbers held for one message.
    wechat.send_text(openid, "1")
    assert wechat_stack.user_texts(openid)[-1] == "1"


@pytest.mark.stack
def test_a_slow_turn_is_answered_through_the_customer_service_api(wechat_stack: WeChatStack) -> None:
    wechat, openid = wechat_stack.wechat, new_openid()
    with wechat_stack.actions_paused(7):
        started = time.monotonic()
        reply = wechat.send_text(openid, "帮我查一下订单 2611050012345678 的物流")
        assert reply.status == 200 and not reply.passive and time.monotonic() - started < 5
        assert len(reply.attempts) == 1  # answered within WeChat's 5 s: no retry
        sent = wechat.wait_for_sent(openid, 1, timeout=30)
    assert sent and sent[0]
    assert wechat_stack.user_texts(openid) == ["帮我查一下订单 2611050012345678 的物流"]


@pytest.mark.stack
def test_a_retry_does_not_run_the_bot_twice(wechat_stack: WeChatStack) -> None:
    wechat, openid = wechat_stack.wechat, new_openid()
    first = wechat.send_text(openid, "你们有什么优惠活动")
    again = wechat.deliver_again(first)
    assert first.passive and again.passive and again.text == first.text
    # While the first attempt still runs (the action server stalled), WeChat's retries wait for it.
    with wechat_stack.actions_paused(6):
        slow = wechat.send_text(openid, "查订单 2611050012345678")
        retry = wechat.deliver_again(slow)
    time.sleep(2)
    answers = ([retry.text] if retry.passive else []) + wechat.sent_to(openid)
    assert len(answers) == 1 and answers[0], (retry, wechat.sent_to(openid))
    assert wechat_stack.user_texts(openid) == ["你们有什么优惠活动", "查订单 2611050012345678"]


@pytest.mark.stack
def test_subscribe_click_and_unsubscribe_events(wechat_stack: WeChatStack) -> None:
    wechat, openid = wechat_stack.wechat, new_openid()
    welcome = wechat.send_event(openid, "subscribe")
    assert welcome.passive and welcome.text == WELCOME
    click = wechat.send_event(openid, "CLICK", "PROMOTIONS")
    assert click.passive and click.text
    assert wechat_stack.user_texts(openid) == [MENU["PROMOTIONS"]]
    unknown = wechat.send_event(openid, "CLICK", "NOT_IN_THE_MENU")
    assert unknown.passive and unknown.text == PLEASE_TYPE_REPLY
    for event in ("unsubscribe", "VIEW", "LOCATION"):
        quiet = wechat.send_event(openid, event, "https://shop.example.com" if event == "VIEW" else None)
        assert quiet.status == 200 and not quiet.passive and quiet.attempts[-1].body == "success"
    assert wechat_stack.user_texts(openid) == [MENU["PROMOTIONS"]]
    # A repeated event (same FromUserName and CreateTime) runs once.
    xml = event_xml(openid, "CLICK", "ORDER_STATUS", create_time=int(time.time()))
    wechat.deliver(xml)
    wechat.deliver(xml)
    assert wechat_stack.user_texts(openid) == [MENU["PROMOTIONS"], MENU["ORDER_STATUS"]]


@pytest.mark.stack
def test_other_message_types_get_a_polite_answer(wechat_stack: WeChatStack) -> None:
    wechat, openid = wechat_stack.wechat, new_openid()
    for msg_type, fields in [("image", {"PicUrl": "http://mmbiz.qpic.cn/x", "MediaId": "m1"}),
                             ("voice", {"MediaId": "m2", "Format": "amr"}),
                             ("location", {"Location_X": "23.1", "Location_Y": "113.3", "Scale": "20",
                                           "Label": "广州"}),
                             ("link", {"Title": "t", "Description": "d", "Url": "https://x"}),
                             ("hologram", {"Data": "?"})]:
        reply = wechat.send_message(openid, msg_type, fields)
        assert reply.status == 200 and reply.text == PLEASE_TYPE_REPLY, msg_type
    voice = wechat.send_message(openid, "voice", {"MediaId": "m3", "Format": "amr", "Recognition": "你好"})
    assert voice.passive and "查订单" in voice.text  # WeChat's speech recognition is read as text
    assert wechat_stack.user_texts(openid) == ["你好"]


@pytest.mark.stack
@pytest.mark.parametrize("body, status", [
    (b"<xml><ToUserName>gh</ToUserName", 400),
    (b"not xml at all", 400),
    (b"", 400),
    (b"\xff\xfe<xml/>", 400),
    (b"<xml><ToUserName>gh</ToUserName><MsgType>text</MsgType><Content>hi</Content></xml>", 400),
    (b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY e "x">]><xml><FromUserName>&e;</FromUserName></xml>', 400),
    (b"<xml><Content>" + b"a" * 20_000 + b"</Content></xml>", 413),
    (b"<xml>" + b"<a>" * 100_000 + b"</xml>", 413),
])
def test_bad_bodies_are_refused_cleanly(wechat_stack: WeChatStack, body: bytes, status: int) -> None:
    assert wechat_stack.wechat.post_raw(body)[0] == status


@pytest.mark.stack
def test_an_encrypted_message_without_a_key_is_refused(wechat_stack: WeChatStack) -> None:
    params = {"encrypt_type": "aes", "msg_signature": "0" * 40}
    assert wechat_stack.wechat.post_raw(b"<xml><Encrypt>abc</Encrypt></xml>", params)[0] == 400


@pytest.mark.stack
def test_the_access_token_is_cached_and_replaced_when_refused(wechat_stack: WeChatStack) -> None:
    wechat, openid = wechat_stack.wechat, new_openid()
    outbound = Outbound(wechat_stack.redis, 3600)
    conversation = f"wechat:{openid}"
    calls = wechat.token_calls
    outbound.send(conversation, {"text": "第一条", "from": "bot"})
    outbound.send(conversation, {"text": "第二条", "from": "bot"})
    assert wechat.wait_for_sent(openid, 2) == ["第一条", "第二条"]
    assert wechat.token_calls <= max(calls, 1)  # at most the first fetch, then the cached token
    before = wechat.token_calls
    wechat.revoke_tokens(40001)
    outbound.send(conversation, {"text": "第三条", "from": "bot"})
    assert wechat.wait_for_sent(openid, 3)[-1] == "第三条"
    assert wechat.token_calls == before + 1 and 40001 in wechat.token_errors()
    wechat.expire_tokens()
    outbound.send(conversation, {"text": "第四条", "from": "bot"})
    assert wechat.wait_for_sent(openid, 4)[-1] == "第四条"
    assert wechat.token_calls == before + 2 and 42001 in wechat.token_errors()


@pytest.mark.stack
def test_an_agents_message_reaches_the_shopper_exactly_once(wechat_stack: WeChatStack) -> None:
    wechat, openid = wechat_stack.wechat, new_openid()
    wechat.send_text(openid, "你好")
    Outbound(wechat_stack.redis, 3600).send(f"wechat:{openid}", {"text": "您好，我是小李", "from": "agent",
                                                                 "agent": "小李"})
    assert wechat.wait_for_sent(openid, 1) == ["【人工客服·小李】\n您好，我是小李"]
    time.sleep(1.5)
    assert len(wechat.sent_to(openid)) == 1


@pytest.mark.stack
def test_a_refused_message_waits_for_the_shoppers_next_message(wechat_stack: WeChatStack) -> None:
    wechat, openid = wechat_stack.wechat, new_openid()
    wechat.refuse_sends(openid, 45015)  # the shopper last wrote more than 48 h ago
    Outbound(wechat_stack.redis, 3600).send(f"wechat:{openid}", {"text": "您的退款已处理", "from": "agent",
                                                                 "agent": "小王"})
    deadline = time.monotonic() + 10
    while 45015 not in [code for _, code in wechat.api_calls] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert wechat.sent_to(openid) == []
    wechat.allow_sends(openid)
    reply = wechat.send_text(openid, "在吗")  # the shopper writes: the window opens, the message goes out
    assert reply.status == 200
    assert wechat.wait_for_sent(openid, 1) == ["【人工客服·小王】\n您的退款已处理"]
    time.sleep(1)
    assert len(wechat.sent_to(openid)) == 1


@pytest.mark.stack
def test_messages_sent_while_the_listener_was_away_are_caught_up(wechat_stack: WeChatStack) -> None:
    wechat, openid = wechat_stack.wechat, new_openid()
    client = wechat_stack.redis
    # Written to the outbox without the pub/sub note, as when a Rasa process was down or lost Redis...
    client.xadd(keys.outbox(f"wechat:{openid}"), {"m": json.dumps({"text": "排队更新：前面还有 1 位",
                                                                     "from": "bot"}, ensure_ascii=False)})
    time.sleep(0.5)
    assert wechat.sent_to(openid) == []
    # ...then the listener's connection drops: it subscribes again and catches up.
    client.client_kill_filter(_type="pubsub")
    assert wechat.wait_for_sent(openid, 1, timeout=15) == ["排队更新：前面还有 1 位"]
    client.client_kill_filter(_type="pubsub")  # and again: nothing is sent twice
    time.sleep(3)
    assert wechat.sent_to(openid) == ["排队更新：前面还有 1 位"]
