"""The reference app client (clients/python/shop_chat_client.py) against the running stack.

Socket.IO (session token from the web chat server, Rasa's Socket.IO channel): a product question, a
button answered with its payload; the offline guarantee: a shopper asks for a human and disconnects, an
agent takes the chat, writes and closes it while the app is away, and the app, coming back with the same
session, gets every missed message once and in order, also after a second (abrupt) disconnect; then it
answers the rating question with a button. REST with the API key: replies and the outbox long poll.
The Socket.IO client uses the polling transport, as the other Socket.IO tests here do."""
from __future__ import annotations

import asyncio
import time
from typing import Any, Callable, Iterator

import pytest
import redis

from bot.handoff import keys
from bot.handoff.desk import RATING_QUESTION, AgentDesk
from bot.handoff.outbound import Outbound
from bot.handoff.presence import Status, heartbeat
from bot.handoff.queue import AgentProfile, HandoffQueue
from bot.handoff.transcript import RasaTranscript
from clients.python.shop_chat_client import Button, ChatError, ChatMessage, RestChat, SessionState, SocketChat
from tests.conftest import RunningStack, new_sender

ALL_GROUPS = ("presales", "orders", "aftersales", "complaints")
AGENT, AGENT_NAME = "app-client-agent", "小周"
ANSWER_SECONDS = 60.0  # the shared CPU can make a first answer slow
ASKS_ORDER_NO = ("订单号", "订单编号", "单号")


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def collect(chat: SocketChat, until: Callable[[list[ChatMessage]], bool],
                  timeout: float = ANSWER_SECONDS) -> list[ChatMessage]:
    """Messages from the client until `until(messages so far)` holds."""
    received: list[ChatMessage] = []
    deadline = time.monotonic() + timeout
    while not until(received):
        left = deadline - time.monotonic()
        assert left > 0, f"timed out; received {[str(m) for m in received]}"
        try:
            received.append(await chat.next_message(timeout=left))
        except asyncio.TimeoutError:
            continue
    return received


async def drain(chat: SocketChat, quiet: float = 2.0) -> list[ChatMessage]:
    """Whatever else arrives within `quiet` seconds."""
    extra = []
    while True:
        try:
            extra.append(await chat.next_message(timeout=quiet))
        except asyncio.TimeoutError:
            return extra


def mentions(*needles: str) -> Callable[[list[ChatMessage]], bool]:
    return lambda messages: any(n in m.text for m in messages for n in needles)


def new_chat(stack: RunningStack, state: SessionState | None = None) -> SocketChat:
    assert stack.web_url
    return SocketChat(stack.web_url, state=state, transports=("polling",), reconnection=False)


def wait_until(check: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)
    return result


@pytest.fixture()
def desk(stack: RunningStack) -> Iterator[AgentDesk]:
    """An agent (registered, not online yet) and the desk operations their console would call."""
    assert stack.stack.redis is not None
    client = redis.Redis.from_url(stack.stack.redis.url)
    queue = HandoffQueue(client)
    queue.register(AgentProfile(AGENT, AGENT_NAME, ALL_GROUPS, 50))  # room for whatever other tests left waiting
    agent_desk = AgentDesk(queue, Outbound(client, 3600), RasaTranscript(stack.rasa_url, stack.stack.api_token),
                           stack.backend)
    yield agent_desk
    client.delete(keys.alive(AGENT))
    for conversation in queue.chats_of(AGENT):
        run(agent_desk.close(AGENT, conversation, "solved"))


@pytest.mark.stack
def test_socketio_product_question_and_a_button(stack: RunningStack) -> None:
    async def scenario() -> None:
        chat = new_chat(stack)
        try:
            await chat.connect()
            assert chat.state.token and chat.state.session_id
            await chat.send("小米手环多少钱")
            answer = await collect(chat, mentions("¥"))
            assert all(m.sender == "bot" and m.outbox_id is None for m in answer)

            await chat.send("你好")
            greeting = await collect(chat, lambda ms: any(m.buttons for m in ms))
            buttons = next(m.buttons for m in greeting if m.buttons)
            order_button = next(b for b in buttons if b.title == "查订单")
            assert order_button.payload == "/inquire_order_status"
            await chat.press(order_button)
            await collect(chat, mentions(*ASKS_ORDER_NO))
            assert chat.errors == []
        finally:
            await chat.close()

    run(scenario())


@pytest.mark.stack
def test_missed_messages_arrive_once_and_in_order_after_reconnecting(stack: RunningStack, desk: AgentDesk) -> None:
    outbox = desk.outbound

    async def scenario() -> None:
        chat = new_chat(stack)
        await chat.connect()
        conversation = chat.state.session_id
        assert conversation
        await chat.send("转人工")
        await collect(chat, mentions("正在为您转接"))
        await chat.close()  # the app goes away; it keeps its SessionState
        saved = chat.state.to_json()

        # While the app is away an agent comes online, the console's dispatch hands them the chat (greeting),
        # the agent writes twice and closes the chat: the bot asks for a rating.
        heartbeat(desk.queue.redis, AGENT, Status.ONLINE, grace_seconds=120)
        await asyncio.to_thread(wait_until, lambda: desk.queue.redis.get(keys.owner(conversation))
                                == f"agent:{AGENT}".encode())
        # The console greets the shopper just after the dispatch makes the chat the agent's, and shows it to the
        # agent only then: an agent cannot write before the greeting, this test could.
        await asyncio.to_thread(wait_until, lambda: any(AGENT_NAME in m.get("text", "")
                                                        for _, m in outbox.since(conversation)))
        await desk.send(AGENT, AGENT_NAME, conversation, "您好，我帮您看一下订单")
        await desk.send(AGENT, AGENT_NAME, conversation, "已经帮您催发货了")
        assert await desk.close(AGENT, conversation, "solved")
        missed = outbox.since(conversation)
        assert [m["from"] for _, m in missed] == ["agent", "agent", "agent", "bot"]

        # The app comes back (a new process: only the saved state) and gets all four, once, in order.
        back = new_chat(stack, SessionState.from_json(saved))
        try:
            await back.connect()
            assert back.state.session_id == conversation and not back.conversation_changed
            got = await collect(back, lambda ms: len(ms) >= len(missed))
            got += await drain(back)
            assert [(m.outbox_id, m.text) for m in got] == [(i, m["text"]) for i, m in missed]
            assert [(m.sender, m.agent) for m in got] == [("agent", AGENT_NAME)] * 3 + [("bot", None)]
            assert AGENT_NAME in got[0].text
            rating = got[-1]
            assert rating.text == RATING_QUESTION and [b.title for b in rating.buttons][0] == "5 分"
            assert back.state.last_outbox_id == missed[-1][0]

            # The network drops (no goodbye to the server); two more messages wait; the same client
            # reconnects and gets exactly those two.
            await back.sio.eio.disconnect(abort=True)
            later = [outbox.send(conversation, {"text": f"补充说明 {n}", "from": "agent", "agent": AGENT_NAME})
                     for n in (1, 2)]
            await back.connect()
            again = await collect(back, lambda ms: len(ms) >= 2)
            again += await drain(back)
            assert [(m.outbox_id, m.text) for m in again] == [(later[0], "补充说明 1"), (later[1], "补充说明 2")]

            # A third connect with nothing new: nothing comes (no repeats).
            await back.disconnect()
            await back.connect()
            assert await drain(back) == []

            # The rating buttons are still the latest offer: tapping one sends its payload and is honoured.
            await back.press(rating.buttons[0])
            await collect(back, mentions("感谢您的五星好评"))
        finally:
            await back.close()

    run(scenario())


@pytest.mark.stack
def test_rest_with_the_api_key_and_the_outbox_long_poll(stack: RunningStack) -> None:
    sender = new_sender()
    outbox = Outbound(redis.Redis.from_url(stack.stack.redis.url), 3600)

    async def scenario() -> None:
        chat = RestChat(stack.rasa_url, stack.stack.api_key, sender)
        try:
            answer = await chat.send("小米手环多少钱")
            assert any("¥" in m.text for m in answer)
            greeting = await chat.send("你好")
            button = next(b for m in greeting for b in m.buttons if b.title == "查订单")
            assert any(n in m.text for m in await chat.send(button.payload) for n in ASKS_ORDER_NO)
            assert await chat.poll(wait=0) == [] and chat.last_outbox_id is None

            # A long poll holds until a message is sent, then returns it at once.
            started = time.monotonic()
            waiting = asyncio.ensure_future(chat.poll(wait=20))
            await asyncio.sleep(1.0)
            first = await asyncio.to_thread(outbox.send, sender, {"text": "人工客服消息", "from": "agent", "agent": "小周"})
            messages = await waiting
            assert time.monotonic() - started < 15
            assert [(m.outbox_id, m.text, m.sender, m.agent) for m in messages] == [(first, "人工客服消息", "agent", "小周")]
            assert chat.last_outbox_id == first

            second = await asyncio.to_thread(outbox.send, sender, {"text": "第二条", "from": "agent", "agent": "小周"})
            assert [m.outbox_id for m in await chat.poll(wait=5)] == [second]
            assert await chat.poll(wait=1) == []  # nothing twice

            # A backend that restarts with its stored id continues from there.
            again = RestChat(stack.rasa_url, stack.stack.api_key, sender, last_outbox_id=first)
            try:
                assert [m.outbox_id for m in await again.poll(wait=0)] == [second]
            finally:
                await again.close()
        finally:
            await chat.close()

        wrong = RestChat(stack.rasa_url, "not-the-key", sender)
        try:
            with pytest.raises(ChatError) as refused:
                await wrong.send("你好")
            assert refused.value.status == 401
        finally:
            await wrong.close()

    run(scenario())


def test_message_shapes_are_read_from_both_button_formats() -> None:
    """Socket.IO replies carry `quick_replies`, outbox messages and REST replies `buttons`: one ChatMessage."""
    live = ChatMessage.parse({"text": "请选择", "quick_replies": [
        {"content_type": "text", "title": "查订单", "payload": "/inquire_order_status"}]})
    queued = ChatMessage.parse({"text": "请打分", "buttons": [{"title": "5 分", "payload": '/rate_service{"rating": "5"}'}],
                                "from": "bot", "outbox_id": "1700000000000-0"})
    image = ChatMessage.parse({"attachment": {"type": "image", "payload": {"src": "https://x.example/a.png"}}})
    assert live.buttons == (Button("查订单", "/inquire_order_status"),)
    assert queued.buttons == (Button("5 分", '/rate_service{"rating": "5"}'),) and queued.outbox_id == "1700000000000-0"
    assert image.image == "https://x.example/a.png" and image.attachment is None
    agent = ChatMessage.parse({"text": "您好", "from": "agent", "agent": "小李", "outbox_id": "1-0"})
    assert (agent.sender, agent.agent) == ("agent", "小李")
