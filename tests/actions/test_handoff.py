"""Handing over from the actions: asked for, lost twice, lost on a sensitive topic; and the rating afterwards."""
from __future__ import annotations

from typing import Any

import pytest
import redis

from actions.fallback import ActionFallbackRephrase
from actions.handoff import ActionRecordRating, ActionRequestHuman
from bot.handoff import keys
from bot.handoff.hours import hours_text
from bot.shop.models import OrderStatus, TicketKind
from bot.shop.sqlite_backend import SqliteShopBackend
from tests.actions.conftest import Result, Turn, run_action
from tests.actions.helpers import pick_order, ticket_no, verified_slots


def user(text: str, intent: str) -> dict[str, Any]:
    return {"event": "user", "text": text, "parse_data": {"intent": {"name": intent, "confidence": 0.9}}}


def ask_for_human(domain: dict[str, Any], events: list[dict[str, Any]] | None = None, **slots: Any) -> Result:
    turn = Turn(text="转人工", intent="request_human", slots=slots, sender_id="wants-a-human", events=events or [])
    return run_action(ActionRequestHuman(), turn, domain)


def shop_redis() -> redis.Redis:
    from bot.handoff.service import handoff_queue

    queue = handoff_queue()
    assert queue is not None
    return queue.redis


def test_in_working_hours_the_shopper_joins_the_queue_of_the_flows_group(
        shop: SqliteShopBackend, domain: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDOFF_HOURS", "always")
    r = ask_for_human(domain, events=[user("我的快递到哪了", "inquire_logistics")])
    assert "正在为您转接订单物流人工客服" in r.text and "您是下一位" in r.text
    client = shop_redis()
    assert client.get(keys.owner("wants-a-human")) == b"queued"
    escalation = client.hgetall(keys.escalation("wants-a-human"))
    assert escalation[b"group"] == b"orders" and escalation[b"reason"] == b"shopper_request"
    assert "转人工" in escalation[b"details"].decode()


def test_asking_twice_keeps_one_place_in_the_queue(shop: SqliteShopBackend, domain: dict[str, Any],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDOFF_HOURS", "always")
    ask_for_human(domain)
    ask_for_human(domain)
    assert shop_redis().zcard(keys.waiting("presales")) == 1


def test_inside_a_form_the_form_is_dropped(shop: SqliteShopBackend, domain: dict[str, Any],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDOFF_HOURS", "always")
    turn = Turn(text="人工", intent="request_human", active_loop="order_lookup_form",
                slots={"requested_slot": "order_id"})
    r = run_action(ActionRequestHuman(), turn, domain)
    assert r.events[0] == {"event": "active_loop", "timestamp": None, "name": None}


def test_outside_working_hours_a_ticket_says_when_agents_answer(shop: SqliteShopBackend, domain: dict[str, Any],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.handoff.escalation import Outcome

    text = Outcome(False, "orders", ticket_no="T1", next_opening="明天 9:00").shopper_text()
    assert f"人工客服{hours_text()}" in text and "客服明天 9:00上班后第一时间回复您" in text
    monkeypatch.setenv("HANDOFF_HOURS", "never")
    order = pick_order(shop, OrderStatus.SHIPPED, skip=4)
    r = ask_for_human(domain, **verified_slots(order))
    ticket = shop.get_ticket(ticket_no(r.text))
    assert ticket is not None and ticket.kind == TicketKind.CALLBACK and ticket.order_no == order.order_no
    assert ticket.details["last_message"] == "转人工" and shop_redis().get(keys.owner("wants-a-human")) is None


def test_one_misunderstanding_in_a_complaint_goes_to_a_human(shop: SqliteShopBackend, domain: dict[str, Any],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDOFF_HOURS", "always")
    turn = Turn(text="你们这个那个反正就是不行", intent="nlu_fallback", sender_id="complainer",
                events=[user("我要投诉你们", "complain"), {"event": "bot", "text": "请说说发生了什么"}])
    r = run_action(ActionFallbackRephrase(), turn, domain)
    assert "正在为您转接投诉人工客服" in r.text
    assert shop_redis().hget(keys.escalation("complainer"), "reason") == b"fallback"


@pytest.mark.parametrize("rating", ["5", "五", "4"])
def test_a_good_rating_is_recorded_with_the_agent(shop: SqliteShopBackend, domain: dict[str, Any], rating: str) -> None:
    turn = Turn(text=f"{rating}分", intent="rate_service", entities=[{"entity": "rating", "value": rating}],
                slots={"rated_agent": "li"}, sender_id="rated")
    r = run_action(ActionRecordRating(), turn, domain)
    assert "感谢您" in r.text
    (_, fields), = shop_redis().xrange(keys.RATINGS)
    assert fields[b"agent"] == b"li" and fields[b"rating"] in (b"5", b"4") and fields[b"conv"] == b"rated"
    assert r.slots()["rated_agent"] is None


def test_a_low_rating_after_a_bot_only_chat_opens_a_follow_up(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    turn = Turn(text="1分", intent="rate_service", entities=[{"entity": "rating", "value": "1"}], sender_id="unhappy")
    r = run_action(ActionRecordRating(), turn, domain)
    ticket = shop.get_ticket(ticket_no(r.text))
    assert ticket is not None and ticket.details["reason"] == "low_rating" and ticket.details["bot_only"] is True


def test_a_rating_out_of_range_is_asked_again(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    turn = Turn(text="9分", intent="rate_service", entities=[{"entity": "rating", "value": "9"}])
    r = run_action(ActionRecordRating(), turn, domain)
    assert "1 到 5 分" in r.text and shop_redis().xlen(keys.RATINGS) == 0
