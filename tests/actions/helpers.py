"""Helpers for the action tests: form turns, seeded orders picked by what a test needs, ticket numbers.

The seeded shop database is shared by every test of the folder (session scope) and some tests
change it (cancel an order, change its phone, file tickets). A test that changes an order picks
one no other test changes: by status and a predicate, and `skip` to take a later one.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Optional

from rasa_sdk import Tracker

from actions.verification import VERIFIED
from bot.shop.backend import ShopBackend
from bot.shop.models import Order, OrderStatus
from tests.actions.conftest import Turn

TICKET_NO = re.compile(r"T\d{12}")


@dataclass
class FormTurn(Turn):
    """A turn inside a form: `extracted` are the slot candidates Rasa's form extracted from this message.

    Rasa sends them to the validation action already set on the tracker and as `slot` events after
    the user message; rasa_sdk validates exactly those trailing events (`Tracker.slots_to_validate`).
    """

    extracted: dict[str, Any] = field(default_factory=dict)

    def tracker(self) -> Tracker:
        tracker = super().tracker()
        for name, value in self.extracted.items():
            tracker.slots[name] = value
            tracker.events.append({"event": "slot", "name": name, "value": value, "timestamp": None})
        return tracker


def last4(order: Order) -> str:
    return order.phone[-4:]


def wrong_last4(order: Order) -> str:
    """Four digits that are not the end of the order's phone."""
    return f"{(int(last4(order)) + 1) % 10000:04d}"


def verified_slots(order: Order, **more: Any) -> dict[str, Any]:
    """The slots of a conversation in which the shopper has proved `order` is theirs."""
    return {"order_id": order.order_no, "verified_order": order.order_no, "phone_last4": VERIFIED,
            "verified_at": time.time(), **more}


def pick_order(shop: ShopBackend, status: OrderStatus, where: Callable[[Order], bool] = lambda o: True,
               skip: int = 0, limit: int = 300) -> Order:
    """The (skip+1)-th seeded order with `status` for which `where` holds."""
    matching = [o for o in shop.find_orders(status=status, limit=limit) if where(o)]
    if len(matching) <= skip:
        raise LookupError(f"the seeded shop has no {skip + 1} {status.value} orders like that")
    return matching[skip]


def delivered_within(days_min: float, days_max: float) -> Callable[[Order], bool]:
    """Orders delivered between `days_min` and `days_max` days before now (the rules' clock)."""
    def check(order: Order) -> bool:
        if order.delivered_at is None:
            return False
        age = datetime.now() - order.delivered_at
        return timedelta(days=days_min) <= age <= timedelta(days=days_max)
    return check


def ticket_no(text: str) -> str:
    """The ticket number the shopper was told."""
    found = TICKET_NO.search(text)
    assert found, f"no ticket number in {text!r}"
    return found.group(0)


def slot_events(result_events: list[dict[str, Any]], name: str) -> list[Optional[Any]]:
    """Every value a result set `name` to, in order."""
    return [e["value"] for e in result_events if e.get("event") == "slot" and e.get("name") == name]
