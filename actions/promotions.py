"""Promotions and coupons: what runs now, and whether a coupon applies to a product or amount."""
from __future__ import annotations

from typing import Any, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    amount_mentioned,
    backend,
    current_product,
    entity_values,
    first_entity,
    latest_text,
    product_context,
    yuan,
)
from bot.shop.formatting import day
from bot.shop.identifiers import COUPON_CODE


def _coupon_code(tracker: Tracker) -> Optional[str]:
    codes = entity_values(tracker, "coupon_code")
    if codes:
        return codes[0].upper()
    match = COUPON_CODE.search(latest_text(tracker))
    return match.group(0).upper() if match else None


class ActionPromotions(Action):
    def name(self) -> str:
        return "action_promotions"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        shop = backend()
        code = _coupon_code(tracker)
        product = current_product(tracker) if (entity_values(tracker, "product") or code) else None
        events = product_context(product) if product else []
        if code:
            amount = amount_mentioned(tracker) or (product.price if product else None)
            if amount is None:
                coupon = shop.get_coupon(code)
                if coupon is None:
                    dispatcher.utter_message(text=f"没有找到优惠券 {code}，请核对一下券码哦。")
                else:
                    dispatcher.utter_message(
                        text=f"{coupon.code}：{coupon.title}，满{yuan(coupon.threshold)}减{yuan(coupon.amount)}，"
                        f"有效期至{day(coupon.ends_at)}。告诉我商品或金额，我帮您算能不能用～"
                    )
                return events
            check = shop.check_coupon(code, amount, product=product)
            verdict = "可以使用✅" if check.applies else "不能使用❌"
            extra = f"，可减{yuan(check.discount)}" if check.applies and check.discount else ""
            dispatcher.utter_message(text=f"优惠券 {code} 用于{yuan(amount)}的订单{verdict}{extra}。{check.reason}")
            return events
        category = product.category if product else first_entity(tracker, "category")
        promotions = shop.active_promotions(category=category)
        # Coupons for the category asked about first, then shop-wide ones; none for other categories.
        coupons = sorted((c for c in shop.active_coupons() if c.category in (None, category)),
                         key=lambda c: c.category is None) if category else shop.active_coupons()
        if not promotions and not coupons:
            dispatcher.utter_message(text="目前没有进行中的活动，关注店铺可以第一时间收到活动通知哦～")
            return events
        lines = [f"· {p.title}（至{day(p.ends_at)}）：{p.description}" for p in promotions[:5]]
        if coupons:
            lines.append("可领优惠券：" + "、".join(f"{c.code}（{c.title}）" for c in coupons[:5]))
        head = f"{category}正在进行的活动：" if category else "店铺正在进行的活动："
        dispatcher.utter_message(text=head + "\n" + "\n".join(lines))
        return events
