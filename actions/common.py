"""Helpers shared by the action modules: the shop backend, product context, formatting."""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable, Optional

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet

from bot.shop import open_backend
from bot.shop.backend import ShopBackend
from bot.shop.models import ORDER_NO, Order, OrderItem, Product
DIGIT_RUN = re.compile(r"\d+")


@lru_cache(maxsize=1)
def backend() -> ShopBackend:
    """The process-wide shop backend (SQLite by default, see bot.shop.open_backend)."""
    return open_backend()


def yuan(amount: float) -> str:
    """¥199 or ¥199.50: whole yuan without decimals, as shops print prices."""
    return f"¥{amount:.0f}" if float(amount).is_integer() else f"¥{amount:.2f}"


def entity_values(tracker: Tracker, entity: str) -> list[str]:
    """Distinct values of an entity in the latest message, in order of appearance."""
    seen: list[str] = []
    for ent in tracker.latest_message.get("entities", []):
        value = ent.get("value")
        if ent.get("entity") == entity and isinstance(value, str) and value not in seen:
            seen.append(value)
    return seen


def latest_text(tracker: Tracker) -> str:
    return tracker.latest_message.get("text") or ""


def current_product(tracker: Tracker) -> Optional[Product]:
    """The product the shopper means now: named in this message, else the one under discussion."""
    products = mentioned_products(tracker)
    if products:
        return products[0]
    product_id = tracker.get_slot("current_product_id")
    if product_id is not None:
        return backend().get_product(int(product_id))
    return None


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


def product_context(product: Product) -> list[EventType]:
    """Events that remember `product` as the one under discussion."""
    return [SlotSet("current_product_id", float(product.id))]


def find_order_no(text: str) -> Optional[str]:
    match = ORDER_NO.search(text or "")
    return match.group(0) if match else None


def order_items_text(items: Iterable[OrderItem]) -> str:
    return "\n".join(
        f"{i}. {item.product_name}（{item.colour} {item.size}）×{item.quantity}" for i, item in enumerate(items, 1)
    )


def item_by_sku(order: Order, sku: Optional[str]) -> Optional[OrderItem]:
    return next((item for item in order.items if item.sku == sku), None)
