"""Leaving a message for the agents: a callback ticket, and when an agent will answer."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from bot.handoff.hours import SHOP_TZ
from bot.handoff.leave_message import request_handoff
from bot.shop.models import TicketKind
from bot.shop.seed import seed_database
from bot.shop.sqlite_backend import SqliteShopBackend


def test_a_callback_ticket_with_what_agents_need(tmp_path: Path) -> None:
    seed_database(tmp_path / "shop.db")
    shop = SqliteShopBackend(tmp_path / "shop.db")
    order = shop.find_orders(limit=1)[0]
    saturday = datetime(2026, 12, 5, 10, tzinfo=SHOP_TZ)
    handoff = request_handoff(shop, "conv-1", reason="shopper_request", channel="rest",
                              last_message="我要人工", order_no=order.order_no, at=saturday)
    assert not handoff.on_duty and handoff.next_opening == "后天 9:00"
    ticket = shop.get_ticket(handoff.ticket.ticket_no)
    assert ticket is not None and ticket.kind == TicketKind.CALLBACK and ticket.order_no == order.order_no
    assert ticket.details == {"sender_id": "conv-1", "reason": "shopper_request", "channel": "rest",
                              "last_message": "我要人工"}

    monday = datetime(2026, 11, 30, 10, tzinfo=SHOP_TZ)
    assert request_handoff(shop, "conv-2", "shopper_request", None, at=monday).on_duty
