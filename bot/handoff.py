"""Hand-off to human agents: the hook the bot calls when it is out of its depth.

For now a hand-off files a callback ticket that agents work through in service
hours; the Redis queue to live agents (web console, Telegram) plugs in here
without changing the actions that call `request_handoff`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import Optional
from zoneinfo import ZoneInfo

from bot.shop.backend import ShopBackend
from bot.shop.models import Ticket, TicketKind

SHOP_TZ = ZoneInfo("Asia/Shanghai")
SERVICE_HOURS_TEXT = "工作日 9:00-18:00，周五延长到 20:00"


def agents_on_duty(at: Optional[datetime] = None) -> bool:
    """Agents work weekdays 9:00-18:00, Friday until 20:00 (shop time)."""
    at = (at or datetime.now(SHOP_TZ)).astimezone(SHOP_TZ)
    if at.weekday() >= 5:
        return False
    closing = time(20) if at.weekday() == 4 else time(18)
    return time(9) <= at.time() < closing


@dataclass(frozen=True)
class Handoff:
    ticket: Ticket
    on_duty: bool


def request_handoff(backend: ShopBackend, sender_id: str, reason: str, channel: Optional[str],
                    last_message: str = "", order_no: Optional[str] = None) -> Handoff:
    """Record that this conversation needs a human, and how soon one can answer."""
    ticket = backend.create_ticket(
        TicketKind.CALLBACK, order_no=order_no,
        details={"sender_id": sender_id, "reason": reason, "channel": channel, "last_message": last_message[:500]},
    )
    return Handoff(ticket, agents_on_duty())
