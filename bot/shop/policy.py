"""The shop's service policy: every number a rule uses and a shopper reads, defined once.

Rules (`bot.shop.after_sales`, `bot.shop.promotions`), the seed, the actions and
the texts that state a rule (`domain.yml` responses included, checked by
`tests/bot/shop/test_policy.py`) take their numbers from here. Which goods have no
no-reason return is a property of the product type (`bot.shop.catalog`).
"""
from __future__ import annotations

from functools import cache

from bot.shop.catalog import CATEGORIES

NO_REASON_RETURN_DAYS = 7  # after delivery, unused returnable goods
QUALITY_RETURN_DAYS = 15  # after delivery, any goods with a quality problem
EXCHANGE_DAYS = 15  # after delivery, another colour or size
SEND_BACK_DAYS = 7  # an approved return or exchange is sent back within this many days
PRICE_PROTECTION_DAYS = 7  # after ordering, a price drop of the same item is refunded
FREE_SHIPPING_THRESHOLD = 99.0  # goods amount from which shipping is free
SHIPPING_FEE = 10.0  # below the threshold
SHIP_WITHIN_HOURS = 48  # after payment
REFUND_WORKING_DAYS = "1-3"  # until a refund is back on the original payment method
REPAIR_PICKUP_WORKING_DAYS = 1  # after a repair request, after-sales calls to arrange the pick-up
TRANSIT_DAYS = "2-5"  # usual days from shipping to delivery
VAT_INVOICE_DAYS = 30  # after ordering, a VAT special invoice can still be requested
POINTS_PER_YUAN = 1  # points earned per yuan spent
POINTS_PER_YUAN_OFF = 100  # points that take one yuan off an order


def shipping_fee(goods_amount: float) -> float:
    """Shipping for an order of `goods_amount` yuan of goods."""
    return 0.0 if goods_amount >= FREE_SHIPPING_THRESHOLD else SHIPPING_FEE


@cache
def no_reason_return_exclusions() -> tuple[str, ...]:
    """What has no 7-day no-reason return: whole categories by name, else the product types."""
    excluded: list[str] = []
    for category in CATEGORIES:
        types = [t for t in category.types if not t.returnable]
        if types and len(types) == len(category.types):
            excluded.append(category.name)
        else:
            excluded.extend(t.name for t in types)
    return tuple(excluded)


def exclusions_text() -> str:
    """The exclusions as a shopper reads them: 食品饮料、美妆护肤、…"""
    return "、".join(no_reason_return_exclusions())
