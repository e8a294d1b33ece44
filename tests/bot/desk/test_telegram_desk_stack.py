"""The Telegram desk on the running assistant (issue 14): the real desk process (`python -m bot.desk.telegram_desk`,
started by `Stack.start_telegram_desk` exactly as `make run` starts it) polls the local Bot API stand-in and works
on the session's stack: Rasa with the ownership gate, the action server, Redis and the agents' web console (whose
sweep dispatches to Telegram agents too).

A shopper talks REST; agents are Telegram users pressing buttons and writing in their private chats with the desk
bot. What the shopper gets is read as an app's backend reads it, from the outbox long poll
(`GET /webhooks/rest/outbox`), and the transcript from Rasa's tracker.

Earlier tests of the session may have left agents present or shoppers waiting: the console would hand those
shoppers to our agents (or ours to theirs) as soon as anyone is online. The fixture takes every agent offline and
the waiting shoppers out of the queue first, and takes our agents offline afterwards for the tests that follow."""
from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import redis

from bot.desk.telegram_desk import REFUSED_CLAIM
from bot.handoff import keys
from bot.handoff.desk import AUDIT, RATING_QUESTION
from bot.handoff.escalation import escalation_rules
from bot.handoff.presence import Status, go_offline, status_of
from bot.handoff.queue import HandoffQueue
from tests.conftest import RunningStack, new_sender
from tests.fakes.telegram_api import Call, TelegramApiStandIn, TgChat, TgUser, buttons_of
from tests.processes import stop_process

pytestmark = pytest.mark.stack

DESK_TOKEN = "5550301:stack-desk"
DESK_CHAT = TgChat.group(-1002700301, "小店客服台")
WANG = TgUser(3001, "小王", "wang_cs")
LI = TgUser(3002, "小李", "li_cs")
STRANGER = TgUser(3999, "路人甲", "passerby")
PHONE, PHONE_MASKED = "13812345678", "138****5678"
OTHER_PHONE, OTHER_PHONE_MASKED = "13987654321", "139****4321"
TIMEOUT = 30.0  # anything a busy machine's Rasa has to do


@dataclass
class Desk:
    telegram: TelegramApiStandIn
    queue: HandoffQueue
    log: Path

    def said_to(self, user: TgUser, contains: str, since: int = 0, timeout: float = TIMEOUT) -> Call:
        """The desk bot's message to `user`'s private chat containing `contains`."""
        return self.wait("sendMessage", lambda c: c.chat_id == user.id and contains in c.text, since, timeout)

    def wait(self, method: str, where: Callable[[Call], bool], since: int = 0, timeout: float = TIMEOUT) -> Call:
        try:
            return self.telegram.wait_for_call(method, lambda c: c.token == DESK_TOKEN and where(c),
                                               timeout=timeout, since=since)
        except TimeoutError as error:
            tail = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise AssertionError(f"{error}\n--- desk log {self.log}:\n{tail}") from None


def private(user: TgUser) -> TgChat:
    return TgChat.private(user)


@pytest.fixture(scope="module")
def desk(stack: RunningStack) -> Iterator[Desk]:
    inner = stack.stack
    assert inner.redis is not None
    queue = HandoffQueue(redis.Redis.from_url(inner.redis.url))
    for agent_id in queue.agent_ids():  # nobody of an earlier test takes our shopper, nor holds chats
        if status_of(queue.redis, agent_id) is not Status.OFFLINE or queue.chats_of(agent_id):
            go_offline(queue, agent_id)
    for group in escalation_rules().groups:  # and nobody of theirs waits to be dispatched to our agents
        for conversation in queue.waiting(group, 10_000):
            queue.withdraw(conversation, "an earlier test's shopper")
    with TelegramApiStandIn() as telegram:
        telegram.add_bot(DESK_TOKEN, username="ShopDeskBot")
        telegram.add_chat(DESK_TOKEN, DESK_CHAT)  # the bot is a member of the agents' group
        process, log = inner.start_telegram_desk({
            "TELEGRAM_DESK_TOKEN": DESK_TOKEN, "TELEGRAM_DESK_CHAT": str(DESK_CHAT.id),
            "TELEGRAM_AGENTS": f"{WANG.id},{LI.id}", "TELEGRAM_API_URL": telegram.url,
        })
        running = Desk(telegram, queue, log)
        try:
            deadline = time.monotonic() + TIMEOUT
            while not telegram.calls("getUpdates", DESK_TOKEN):  # started: it follows the events, then polls
                assert process.poll() is None, f"the desk exited with {process.returncode}:\n{log.read_text()}"
                assert time.monotonic() < deadline, f"the desk did not start:\n{log.read_text()}"
                time.sleep(0.1)
            yield running
        finally:
            stop_process(process)
            inner.processes.pop("telegram_desk", None)
            for user in (WANG, LI):  # present for another grace otherwise: the console would dispatch to them
                go_offline(queue, f"tg:{user.id}")
            queue.redis.close()


def outbox(stack: RunningStack, sender: str, after: str = "0", wait: float = 0) -> dict[str, Any]:
    """What waits in the conversation's outbox after `after`, read as the app's backend does (REST long poll)."""
    query = urllib.parse.urlencode({"sender": sender, "after": after, "wait": wait})
    request = urllib.request.Request(f"{stack.rasa_url}/webhooks/rest/outbox?{query}",
                                     headers={"Authorization": f"Bearer {stack.stack.api_key}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def next_messages(stack: RunningStack, sender: str, after: str) -> tuple[list[dict[str, Any]], str]:
    """The outbox messages after `after` (long-polling until there is at least one) and the new cursor."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        got = outbox(stack, sender, after, wait=5)
        if got["messages"]:
            return got["messages"], got["last_id"]
        assert time.monotonic() < deadline, f"nothing reached the shopper's outbox after {after}"


def agent_turns(stack: RunningStack, sender: str) -> list[tuple[str, str]]:
    """(agent id, text) of every agent message in Rasa's tracker."""
    return [(e["metadata"]["agent"], e["text"]) for e in stack.tracker(sender)["events"]
            if e.get("event") == "bot" and (e.get("metadata") or {}).get("agent")]


def in_tracker(stack: RunningStack, sender: str, agent_id: str, text: str) -> None:
    """Wait until Rasa's tracker ends with the agent's message (the desk writes the outbox first, then the tracker)."""
    deadline = time.monotonic() + TIMEOUT
    while (turns := agent_turns(stack, sender))[-1:] != [(agent_id, text)]:
        assert time.monotonic() < deadline, f"not the tracker's last agent turn: {(agent_id, text)}; {turns}"
        time.sleep(0.1)


def test_a_shopper_is_answered_from_telegram_and_the_bot_resumes(stack: RunningStack, desk: Desk) -> None:
    telegram, queue = desk.telegram, desk.queue
    for user in (WANG, LI):  # each agent opens their private chat with the desk bot once
        telegram.send_text(DESK_TOKEN, user, private(user), "/start")
        desk.said_to(user, f"客服编号是 tg:{user.id}")

    # A shopper over REST gives a phone number, then asks for a person.
    sender = new_sender()
    stack.chat(sender, f"我的快递到哪了，手机号{PHONE}")
    mark = telegram.mark()
    assert "正在为您转接" in stack.chat(sender, "转人工")
    assert queue.redis.get(keys.owner(sender)) == b"queued"

    # The escalation appears in the agents' chat: a masked summary and a Claim button.
    post = desk.wait("sendMessage", lambda c: c.chat_id == DESK_CHAT.id and f"会话 {sender}\n" in c.text, mark)
    summary = post.text
    assert "顾客要求人工（shopper_request）" in summary and "转人工" in summary
    assert PHONE_MASKED in summary and PHONE not in summary
    assert [(b["text"], b["callback_data"]) for b in buttons_of(post.result)] == [("接入 Claim", f"claim:{sender}")]

    # Someone in the group who is not a configured agent presses Claim: refused, nothing changes.
    mark = telegram.mark()
    telegram.press_button(DESK_TOKEN, STRANGER, post.result, text="接入")
    refused = desk.wait("answerCallbackQuery", lambda c: True, mark)
    assert refused.params.get("show_alert") and refused.params["text"] == REFUSED_CLAIM
    assert queue.escalation(sender)["state"] == "queued" and queue.redis.get(keys.owner(sender)) == b"queued"
    assert queue.profile(f"tg:{STRANGER.id}") is None and status_of(queue.redis, f"tg:{STRANGER.id}") is Status.OFFLINE
    assert buttons_of(telegram.message(DESK_TOKEN, DESK_CHAT.id, post.result["message_id"]))  # still claimable

    # Wang presses Claim: the chat is his, the button goes, he gets the context in his private chat.
    mark = telegram.mark()
    telegram.press_button(DESK_TOKEN, WANG, post.result, text="接入")
    answer = desk.wait("answerCallbackQuery", lambda c: True, mark)
    assert not answer.params.get("show_alert") and "已接入" in answer.params["text"]
    assert queue.redis.get(keys.owner(sender)) == b"agent:tg:3001" and queue.chats_of("tg:3001") == [sender]
    context = desk.said_to(WANG, "您已接入", mark)
    assert context.text.startswith(f"💬 会话 {sender} · 您已接入")
    assert "顾客要求人工" in context.text and "最近对话：" in context.text
    assert f"顾客：我的快递到哪了，手机号{PHONE_MASKED}" in context.text and "顾客：转人工" in context.text
    assert PHONE not in context.text
    edited = telegram.message(DESK_TOKEN, DESK_CHAT.id, post.result["message_id"])
    assert not buttons_of(edited) and "已由 小王 接入" in edited["text"]
    greeting, last = next_messages(stack, sender, "0")
    assert [(m["from"], m.get("agent")) for m in greeting] == [("agent", "小王")]
    assert "人工客服小王" in greeting[0]["text"]

    # Wang writes in his private chat: the shopper gets it, and it is in Rasa's tracker, marked as his.
    telegram.send_text(DESK_TOKEN, WANG, private(WANG), "您好，我马上帮您查一下物流")
    said, last = next_messages(stack, sender, last)
    assert [(m["from"], m["text"]) for m in said] == [("agent", "您好，我马上帮您查一下物流")]
    in_tracker(stack, sender, "tg:3001", "您好，我马上帮您查一下物流")
    assert any(e.get("event") == "pause" for e in stack.tracker(sender)["events"])

    # The shopper answers: no bot reply, the message reaches Wang's Telegram chat, masked.
    mark = telegram.mark()
    assert stack.say(sender, f"好的，换这个号码联系我：{OTHER_PHONE}") == []
    forwarded = desk.said_to(WANG, "顾客：", mark)
    assert forwarded.text == f"💬 会话 {sender} · 顾客：\n好的，换这个号码联系我：{OTHER_PHONE_MASKED}"

    # /transfer to Li (online): Li gets the context, Wang lets go, the shopper's messages now go to Li.
    telegram.send_text(DESK_TOKEN, LI, private(LI), "/online")
    desk.said_to(LI, "在线", mark)
    mark = telegram.mark()
    telegram.send_text(DESK_TOKEN, WANG, private(WANG), "/transfer @tg:3002")
    desk.said_to(WANG, "已转给 小李", mark)
    handed = desk.said_to(LI, "由 小王 转给您", mark)
    assert handed.text.startswith(f"💬 会话 {sender} · 由 小王 转给您")
    assert OTHER_PHONE_MASKED in handed.text and OTHER_PHONE not in handed.text and PHONE not in handed.text
    told = [c.text for c in telegram.calls("sendMessage", DESK_TOKEN, mark) if c.chat_id == WANG.id]
    assert told == [f"会话 {sender} 已转给 小李。"]  # once: the transfer's event does not repeat the answer
    assert queue.redis.get(keys.owner(sender)) == b"agent:tg:3002"
    assert queue.chats_of("tg:3002") == [sender] and queue.chats_of("tg:3001") == []
    mark = telegram.mark()
    assert stack.say(sender, "还在吗") == []
    to_li = desk.said_to(LI, "顾客：\n还在吗", mark)
    assert not [c for c in telegram.calls("sendMessage", DESK_TOKEN, mark) if c.chat_id == WANG.id]
    telegram.send_text(DESK_TOKEN, LI, private(LI), "在的，我是小李，接着为您处理", reply_to=to_li.result["message_id"])
    said, last = next_messages(stack, sender, last)
    assert [(m["from"], m.get("agent"), m["text"]) for m in said] == [("agent", "小李", "在的，我是小李，接着为您处理")]
    in_tracker(stack, sender, "tg:3002", "在的，我是小李，接着为您处理")

    # /close: the bot takes over again and asks for a rating; the shopper rates and the bot answers questions.
    mark = telegram.mark()
    telegram.send_text(DESK_TOKEN, LI, private(LI), "/close")
    desk.said_to(LI, "已结束（已解决），已请顾客评分", mark)
    assert queue.redis.get(keys.owner(sender)) is None and queue.escalation(sender) == {}
    closing, last = next_messages(stack, sender, last)
    assert [(m["from"], m["text"]) for m in closing] == [("bot", RATING_QUESTION)]
    assert [b["title"] for b in closing[0]["buttons"]] == ["5 分", "4 分", "3 分", "2 分", "1 分"]
    deadline = time.monotonic() + TIMEOUT  # the desk writes the outbox first, then the tracker
    while not any(e.get("event") == "resume" for e in stack.tracker(sender)["events"]):
        assert time.monotonic() < deadline, "the bot was not resumed in Rasa's tracker"
        time.sleep(0.1)
    assert "感谢您的五星好评" in stack.chat(sender, closing[0]["buttons"][0]["payload"])
    rating = [f for _, f in queue.redis.xrange(keys.RATINGS) if f[b"conv"] == sender.encode()]
    assert [(f[b"agent"], f[b"rating"]) for f in rating] == [(b"tg:3002", b"5")]
    assert "¥" in stack.chat(sender, "小米手环多少钱")  # the bot answers again

    # Nothing the desk put on Telegram carried a phone number in clear, and the masked ones did reach it.
    shown = [c.text for c in telegram.calls(token=DESK_TOKEN) if c.method in ("sendMessage", "editMessageText")]
    assert not [t for t in shown if PHONE in t or OTHER_PHONE in t]
    assert sum(PHONE_MASKED in t for t in shown) >= 3 and sum(OTHER_PHONE_MASKED in t for t in shown) >= 2

    audit = {(f[b"agent"].decode(), f[b"action"].decode()) for _, f in queue.redis.xrange(AUDIT)
             if f[b"conv"] == sender.encode()}
    assert {("tg:3001", "claim"), ("tg:3001", "message"), ("tg:3001", "transfer"), ("tg:3002", "view"),
            ("tg:3002", "message"), ("tg:3002", "close")} <= audit
    assert not [a for a in audit if a[0] == f"tg:{STRANGER.id}"]
