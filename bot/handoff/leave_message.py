"""Leave a message for the agents: a callback ticket they answer in working hours.

The bot calls `request_handoff` when a shopper asks for a human or it is out of
its depth. Until live agents take conversations from the queue, every such
request becomes a callback ticket, and the shopper is told when an agent will
answer on the shopper's channel (`bot.handoff.hours`).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from bot.handoff.hours import agents_on_duty, next_opening_text
from bot.shop.backend import ShopBackend
from bot.shop.models import Ticket, TicketKind


@dataclass(frozen=True)
class Handoff:
    ticket: Ticket
    on_duty: bool
    next_opening: str  # when an agent will answer, for the shopper ("明天 9:00"); "" while on duty


def request_handoff(backend: ShopBackend, sender_id: str, reason: str, channel: Optional[str],
                    last_message: str = "", order_no: Optional[str] = None,
                    at: Optional[datetime] = None) -> Handoff:
    """Record that this conversation needs a human, and how soon one can answer on its channel."""
    ticket = backend.create_ticket(
        TicketKind.CALLBACK, order_no=order_no,
        details={"sender_id": sender_id, "reason": reason, "channel": channel, "last_message": last_message},
    )
    on_duty = agents_on_duty(at, channel)
    return Handoff(ticket, on_duty, "" if on_duty else next_opening_text(at, channel))
