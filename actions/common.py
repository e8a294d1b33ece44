"""Helpers shared by the action modules: the shop backend, product context, formatting."""
from __future__ import annotations

import re
from functools import cache
from typing import Iterable, Optional

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet

from bot.shop import open_backend
from bot.shop.backend import ShopBackend
from bot.shop.formatting import yuan
from bot.shop.models import OrderItem, Product

__all__ = ["yuan"]  # re-exported: actions format money the shop's way


@cache
def backend() -> ShopBackend:
    """The process-wide shop backend (SQLite by default, see bot.shop.open_backend)."""
    return open_backend()


def entity_values(tracker: Tracker, entity: str) -> list[str]:
    """Distinct values of an entity in the latest message, in order of appearance."""
    seen: list[str] = []
    for ent in tracker.latest_message.get("entities", []):
        value = ent.get("value")
        if ent.get("entity") == entity and isinstance(value, str) and value not in seen:
            seen.append(value)
    return seen


def first_entity(tracker: Tracker, entity: str) -> Optional[str]:
    """The first value of an entity in the latest message, or None."""
    values = entity_values(tracker, entity)
    return values[0] if values else None


# A number as shoppers write an amount: 300, 1,500, 99.9, with 千/万/k after it (2千, 1.5万, 3k).
_AMOUNT = re.compile(r"(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?\s*([千万kKwW])?")
_MULTIPLIER = {"千": 1_000, "k": 1_000, "K": 1_000, "万": 10_000, "w": 10_000, "W": 10_000}


def parse_amount(text: str) -> Optional[float]:
    """The first money amount in `text`, in yuan ("2千" is 2000, "1,500元" is 1500); None when there is none."""
    match = _AMOUNT.search(text)
    if not match:
        return None
    whole, fraction, unit = match.groups()
    value = float(whole.replace(",", "") + (fraction or ""))
    return value * _MULTIPLIER.get(unit or "", 1)


def amount_mentioned(tracker: Tracker) -> Optional[float]:
    """The first money amount (an `amount` entity such as "300块") in the latest message, in yuan."""
    for mention in entity_values(tracker, "amount"):
        value = parse_amount(mention)
        if value is not None:
            return value
    return None


def latest_text(tracker: Tracker) -> str:
    """What the shopper wrote last, as they wrote it: the NLU may have read less (a pasted order card is set
    aside, bot.nlu.order_card), so the user event's own text, not the parse's."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            return str(event.get("text") or "")
    return tracker.latest_message.get("text") or ""


def current_product(tracker: Tracker) -> Optional[Product]:
    """The product the shopper means now: named in this message, else the one under discussion."""
    products = mentioned_products(tracker)
    return products[0] if products else discussed_product(tracker)


def discussed_product(tracker: Tracker) -> Optional[Product]:
    """The product the conversation was about before this message (slot current_product_id)."""
    product_id = tracker.get_slot("current_product_id")
    return backend().get_product(int(product_id)) if product_id is not None else None


def mentioned_products(tracker: Tracker) -> list[Product]:
    """Products named in the latest message (by entity, else by free-text match)."""
    brands = entity_values(tracker, "brand")
    brand = brands[0] if brands else None
    found: list[Product] = []
    for mention in entity_values(tracker, "product"):
        product = backend().resolve_product(mention, brand=brand)
        if product and product.id not in {p.id for p in found}:
            found.append(product)
    if not found:
        text = latest_text(tracker)
        if text:
            product = backend().resolve_product(text)
            if product:
                found.append(product)
    return found


def product_of(item: OrderItem) -> Product:
    """The catalog product of an order line (the shop keeps every product it ever sold)."""
    product = backend().get_product(item.product_id)
    if product is None:
        raise LookupError(f"product {item.product_id} of order line {item.sku} is not in the shop")
    return product


def product_context(product: Product) -> list[EventType]:
    """Events that remember `product` as the one under discussion."""
    return [SlotSet("current_product_id", float(product.id))]


def order_items_text(items: Iterable[OrderItem]) -> str:
    return "\n".join(
        f"{i}. {item.product_name}（{item.colour} {item.size}）×{item.quantity}" for i, item in enumerate(items, 1)
    )
