"""Complaints: what happened is collected, triaged by bot.shop.complaint_triage and filed as a ticket."""
from __future__ import annotations

from typing import Any

import pytest

from actions.complaints import MIN_DETAIL_CHARS, SEVERITY_LABELS, ActionSubmitComplaint, ValidateComplaintForm
from actions.verification import FLOW_SLOTS
from bot.shop.complaint_triage import triage
from bot.shop.models import OrderStatus, TicketKind
from bot.shop.sqlite_backend import SqliteShopBackend
from tests.actions.conftest import Turn, run_action
from tests.actions.helpers import FormTurn, pick_order, ticket_no, verified_slots

COMPLAIN = [{"name": "complain", "confidence": 0.97}]  # rasa_sdk reads the intent from the ranking


def test_the_opening_message_already_says_what_happened(domain: dict[str, Any]) -> None:
    text = "买的羽绒服跑绒严重，客服一直不回复"
    assert len(text) >= MIN_DETAIL_CHARS
    turn = Turn(text=text, intent="complain", intent_ranking=COMPLAIN, active_loop="complaint_form")
    r = run_action(ValidateComplaintForm(), turn, domain)
    assert r.slots()["complaint_detail"] == text


def test_a_bare_request_to_complain_asks_what_happened(domain: dict[str, Any]) -> None:
    turn = Turn(text="我要投诉", intent="complain", intent_ranking=COMPLAIN, active_loop="complaint_form")
    r = run_action(ValidateComplaintForm(), turn, domain)
    assert "complaint_detail" not in r.slots()


def test_only_a_complaint_opens_with_its_detail(domain: dict[str, Any]) -> None:
    turn = Turn(text="这件羽绒服有没有黑色的XL码", intent="inquire_stock",
                intent_ranking=[{"name": "inquire_stock", "confidence": 0.9}], active_loop="complaint_form")
    r = run_action(ValidateComplaintForm(), turn, domain)
    assert "complaint_detail" not in r.slots()


def test_the_answer_to_what_happened_is_kept(domain: dict[str, Any]) -> None:
    text = "  快递把箱子压坏了  "
    turn = FormTurn(text=text, intent="inform", active_loop="complaint_form",
                    slots={"requested_slot": "complaint_detail"}, extracted={"complaint_detail": text})
    r = run_action(ValidateComplaintForm(), turn, domain)
    assert r.slots()["complaint_detail"] == text.strip()


def test_an_overlong_complaint_is_cut(domain: dict[str, Any]) -> None:
    text = "质量太差" * 300
    turn = FormTurn(text=text, active_loop="complaint_form", slots={"requested_slot": "complaint_detail"},
                    extracted={"complaint_detail": text})
    r = run_action(ValidateComplaintForm(), turn, domain)
    assert r.slots()["complaint_detail"] == text[:1000]


@pytest.mark.parametrize("detail, category, severity, promise", [
    ("快递太慢了，一个星期还没收到，我要去12315投诉", "logistics", "high", "正在为您转接投诉人工客服"),
    ("客服态度太差了，问什么都敷衍", "service", "medium", "客服会在24小时内给您答复"),
    ("收到的衣服和图片不一样，颜色差很多", "false_advertising", "low", "客服会在24小时内给您答复"),
])
def test_complaint_ticket_carries_the_triage(shop: SqliteShopBackend, domain: dict[str, Any], detail: str,
                                             category: str, severity: str, promise: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A high-severity complaint also goes to a person at once (bot/handoff/triggers.yml)."""
    monkeypatch.setenv("HANDOFF_HOURS", "always")
    assert triage(detail).category == category and triage(detail).severity == severity
    r = run_action(ActionSubmitComplaint(), Turn(slots={"complaint_detail": detail}, sender_id="complainer"), domain)
    ticket = shop.get_ticket(ticket_no(r.text))
    assert ticket is not None and ticket.kind == TicketKind.COMPLAINT
    assert (ticket.category, ticket.severity) == (category, severity)
    assert ticket.details["text"] == detail and ticket.details["sender_id"] == "complainer"
    assert f"（优先级：{SEVERITY_LABELS[severity]}）" in r.text and promise in r.text
    assert all(r.slots()[name] is None for name in FLOW_SLOTS)


def test_an_unverified_order_number_is_not_attached(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    """Anyone can type someone else's order number; it stays the shopper's claim, not the ticket's order."""
    order = pick_order(shop, OrderStatus.COMPLETED, skip=3)
    detail = f"订单{order.order_no}的锅用了两天就掉涂层，质量太差"
    r = run_action(ActionSubmitComplaint(), Turn(slots={"complaint_detail": detail}), domain)
    ticket = shop.get_ticket(ticket_no(r.text))
    assert ticket is not None and ticket.order_no is None
    assert ticket.details["mentioned_order_unverified"] == order.order_no
    assert ticket not in shop.tickets_for_order(order.order_no)
    assert ticket.category == "product_quality"


def test_a_verified_order_mentioned_in_the_complaint_is_attached(shop: SqliteShopBackend,
                                                                  domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.COMPLETED, skip=5)
    detail = f"订单{order.order_no}的锅用了两天就掉涂层"
    r = run_action(ActionSubmitComplaint(), Turn(slots=verified_slots(order, complaint_detail=detail)), domain)
    ticket = shop.get_ticket(ticket_no(r.text))
    assert ticket is not None and ticket.order_no == order.order_no
    assert "mentioned_order_unverified" not in ticket.details


def test_complaint_falls_back_to_the_verified_order(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.COMPLETED, skip=4)
    r = run_action(ActionSubmitComplaint(), Turn(slots=verified_slots(order, complaint_detail="发货太慢了")), domain)
    ticket = shop.get_ticket(ticket_no(r.text))
    assert ticket is not None and ticket.order_no == order.order_no
    assert ticket in shop.tickets_for_order(order.order_no)


def test_no_complaint_no_ticket(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    r = run_action(ActionSubmitComplaint(), Turn(slots={}), domain)
    assert r.messages == []
    assert all(r.slots()[name] is None for name in FLOW_SLOTS)
