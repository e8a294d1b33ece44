"""The hand-off on the running stack (Rasa, action server, Redis, the agents' console): a shopper asks for a
human or gets angry, waits in the queue, an agent comes online and the console's dispatch gives them the
chat, the bot stays quiet (`/restart` included), messages flow both ways through the REST outbox, and closing
hands back to the bot, which records the rating."""
from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
import urllib.request
from typing import Any, Callable, Iterator

import pytest
import redis

from bot.handoff import keys
from bot.handoff.desk import RATING_QUESTION, AgentDesk
from bot.handoff.escalation import escalation_rules
from bot.handoff.outbound import Outbound
from bot.handoff.presence import Status, heartbeat
from bot.handoff.queue import AgentProfile, HandoffQueue
from bot.handoff.transcript import RasaTranscript
from tests.conftest import RunningStack, new_sender

pytestmark = pytest.mark.stack

ALL_GROUPS = ("presales", "orders", "aftersales", "complaints")
AGENT = "stack-agent"


@pytest.fixture()
def desk(stack: RunningStack) -> Iterator[AgentDesk]:
    """An agent (registered, not yet online) and the desk operations their console would call."""
    assert stack.stack.redis is not None
    client = redis.Redis.from_url(stack.stack.redis.url)
    queue = HandoffQueue(client)
    queue.register(AgentProfile(AGENT, "小李", ALL_GROUPS, 50))  # room for whatever other tests left waiting
    agent_desk = AgentDesk(queue, Outbound(client, 3600), RasaTranscript(stack.rasa_url, stack.stack.api_token),
                           stack.backend)
    yield agent_desk
    for conversation in queue.chats_of(AGENT):
        asyncio.run(agent_desk.close(AGENT, conversation, "solved"))
    client.delete(keys.alive(AGENT))


def wait_for(check: Callable[[], Any], timeout: float = 30) -> Any:
    """Poll `check` until it returns something true (the console's sweep runs every few seconds)."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)
    return result


def poll(stack: RunningStack, sender: str, after: str = "0", wait: float = 0) -> dict[str, Any]:
    """What waits in the conversation's outbox, as a REST client reads it."""
    query = urllib.parse.urlencode({"sender": sender, "after": after, "wait": wait})
    request = urllib.request.Request(f"{stack.rasa_url}/webhooks/rest/outbox?{query}",
                                     headers={"Authorization": f"Bearer {stack.stack.api_key}"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def user_texts(stack: RunningStack, sender: str) -> list[str]:
    return [e.get("text") for e in stack.tracker(sender)["events"] if e.get("event") == "user"]


def test_a_shopper_waits_an_agent_answers_and_the_bot_resumes(stack: RunningStack, desk: AgentDesk) -> None:
    sender = new_sender()
    assert "正在为您转接" in stack.chat(sender, "转人工")
    assert desk.queue.redis.get(keys.owner(sender)) == b"queued"
    waiting = stack.chat(sender, "还要等多久啊")
    assert "人工客服接入后会第一时间看到您的消息" in waiting and "位" in waiting

    heartbeat(desk.queue.redis, AGENT, Status.ONLINE, grace_seconds=120)  # the agent comes online
    wait_for(lambda: desk.queue.redis.get(keys.owner(sender)) == f"agent:{AGENT}".encode())
    greeting = wait_for(lambda: poll(stack, sender)["messages"] and poll(stack, sender))
    assert [m["from"] for m in greeting["messages"]] == ["agent"] and "小李" in greeting["messages"][0]["text"]

    # The shopper's messages reach the agent, not the bot: no bot answer, no NLU, even for /restart.
    assert stack.say(sender, "我的订单一直没发货") == []
    assert stack.say(sender, "/restart") == []
    assert desk.queue.redis.get(keys.owner(sender)) == f"agent:{AGENT}".encode()
    assert user_texts(stack, sender)[-2:] == ["我的订单一直没发货", "／restart"]
    shopper_events = [f for _, f in desk.queue.redis.xrange(keys.EVENTS) if f.get(b"conv") == sender.encode()
                      and f.get(b"type") == b"shopper_message"]
    assert [f[b"text"].decode() for f in shopper_events][-2:] == ["我的订单一直没发货", "／restart"]

    entry = asyncio.run(desk.send(AGENT, "小李", sender, "帮您查了，今天下午发出"))
    later = poll(stack, sender, after=greeting["last_id"])
    assert [(m["outbox_id"], m["text"]) for m in later["messages"]] == [(entry, "帮您查了，今天下午发出")]
    assert poll(stack, sender, after=later["last_id"], wait=1)["messages"] == []  # nothing twice
    agent_turns = [e for e in stack.tracker(sender)["events"] if e.get("event") == "bot"
                   and (e.get("metadata") or {}).get("agent") == AGENT]
    assert [e["text"] for e in agent_turns][-1] == "帮您查了，今天下午发出"

    assert asyncio.run(desk.close(AGENT, sender, "solved"))
    closing = poll(stack, sender, after=later["last_id"])["messages"]
    assert closing[0]["text"] == RATING_QUESTION and len(closing[0]["buttons"]) == 5
    assert desk.queue.redis.get(keys.owner(sender)) is None
    assert "感谢您的五星好评" in stack.chat(sender, '/rate_service{"rating": "5"}')
    rating = [f for _, f in desk.queue.redis.xrange(keys.RATINGS) if f[b"conv"] == sender.encode()]
    assert rating and rating[-1][b"agent"] == AGENT.encode() and rating[-1][b"rating"] == b"5"
    assert "¥" in stack.chat(sender, "小米手环多少钱")  # the bot answers again


def test_an_angry_shopper_is_handed_over_after_the_bot_answers(stack: RunningStack, desk: AgentDesk) -> None:
    sender = new_sender()
    stack.chat(sender, "我的快递到哪了")
    answer = stack.say(sender, "服了，问了半天都没用！！！")
    assert "非常抱歉给您带来不好的体验" in answer[-1]["text"] and "正在为您转接" in answer[-1]["text"]
    escalation = desk.queue.escalation(sender)
    assert escalation["reason"] == "frustration" and float(escalation["frustration"]) >= 1.5
    assert escalation["group"] in ("orders", "complaints")  # the conversation's topic picks the group
    waiting = stack.chat(sender, "人呢")  # queued now: the gate answers with the position, not the bot
    assert "人工客服接入后会第一时间看到您的消息" in waiting and (desk.queue.position(sender) or 0) >= 1


def test_a_serious_complaint_files_its_ticket_then_goes_to_a_person(stack: RunningStack, desk: AgentDesk) -> None:
    sender = new_sender()
    answer = stack.chat(sender, "什么垃圾服务！！！快递丢了也没人管，我要投诉到12315")
    assert "工单号" in answer and "正在为您转接投诉人工客服" in answer
    assert desk.queue.escalation(sender)["reason"] == "complaint_high"  # the bot's rule came first


def test_a_rest_poll_needs_credentials_for_that_conversation(stack: RunningStack) -> None:
    request = urllib.request.Request(f"{stack.rasa_url}/webhooks/rest/outbox?sender=someone")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 401


def test_queue_places_pushed_to_waiting_shoppers_are_kept_in_their_transcripts(stack: RunningStack,
                                                                              desk: AgentDesk) -> None:
    """Three shoppers wait with agents slow today, so each is offered to leave a message. The first does: the
    Rasa gate tells the second they are next. An agent with room for one comes online: the console's dispatch
    gives them the second and tells the third. Each update reaches the shopper's outbox and their transcript."""
    first, second, third = new_sender(), new_sender(), new_sender()
    queue, helper = desk.queue, "stack-agent-one"

    def told(sender: str) -> list[str]:
        return [e["text"] for e in stack.tracker(sender)["events"] if e.get("event") == "bot"
                and "queue_position" in (e.get("metadata") or {})]

    group = escalation_rules().group_for("request_human")
    handled, earlier = keys.handled(group), queue.redis.lrange(keys.handled(group), 0, -1)
    try:
        for waiting in queue.waiting(group):  # what other tests left waiting would stand in front
            queue.withdraw(waiting, "test_reset")
        queue.redis.delete(handled)
        queue.redis.lpush(handled, "3600")  # an hour a chat lately: every wait is long
        for sender in (first, second, third):
            answer = stack.chat(sender, "转人工")
            assert "正在为您转接" in answer and "留言，客服稍后回复" in answer
        assert [queue.position(s) for s in (first, second, third)] == [1, 2, 3]

        assert "工单" in stack.chat(first, "/leave_message")  # the button the gate offered with the place
        assert told(second) == ["排队进度更新：您是下一位，预计等待约 60 分钟。"]
        assert [m["text"] for m in poll(stack, second)["messages"]] == told(second)

        queue.register(AgentProfile(helper, "小王", (group,), 1))
        heartbeat(queue.redis, helper, Status.ONLINE, grace_seconds=120)
        wait_for(lambda: queue.redis.get(keys.owner(second)) == f"agent:{helper}".encode())
        wait_for(lambda: told(third))
        assert told(third)[-1].startswith("排队进度更新：您是下一位")
        assert [m["text"] for m in poll(stack, third)["messages"]] == told(third)
        assert told(second) == ["排队进度更新：您是下一位，预计等待约 60 分钟。"]  # with an agent now: no more
    finally:
        for conversation in queue.chats_of(helper):
            asyncio.run(desk.close(helper, conversation, "solved"))
        queue.redis.delete(keys.alive(helper), handled)
        if earlier:
            queue.redis.rpush(handled, *earlier)
        for sender in (first, second, third):
            queue.withdraw(sender, "test_done")
