"""Promotion rules: whether a coupon applies to an amount (and product), and why.

A pure function over a `Coupon`, like the after-sales rules: the backend only
fetches the coupon, the clock is passed in, the reason is ready for the shopper.
"""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from bot.shop.formatting import day_time, yuan
from bot.shop.models import Coupon, CouponCheck, Product


def coupon_check(coupon: Optional[Coupon], code: object, amount: object, product: Optional[Product],
                 when: datetime) -> CouponCheck:
    """Whether `coupon` (looked up by `code`) applies to an order of `amount` yuan of `product` at `when`."""
    if coupon is None:
        shown = code.strip()[:32] if isinstance(code, str) else ""
        return CouponCheck(False, f"没有找到优惠券码「{shown}」，请核对一下是否输错了（字母不区分大小写）。")
    if when < coupon.starts_at:
        return CouponCheck(False, f"{coupon.title}（{coupon.code}）还没开始，{day_time(coupon.starts_at)}起才能使用哦。")
    if when > coupon.ends_at:
        return CouponCheck(False, f"{coupon.title}（{coupon.code}）已在{day_time(coupon.ends_at)}过期，不能再使用了。")
    scope = f"仅限{coupon.brand or coupon.category}商品" if coupon.category or coupon.brand else ""
    if product is not None and coupon.category and product.category != coupon.category:
        return CouponCheck(False, f"{coupon.title}仅限{coupon.category}商品使用，{product.name}属于{product.category}，"
                                  "这张券用不了。")
    if product is not None and coupon.brand and product.brand != coupon.brand:
        return CouponCheck(False, f"{coupon.title}仅限{coupon.brand}品牌商品使用，{product.name}不是{coupon.brand}的，"
                                  "这张券用不了。")
    try:
        value = float(amount)  # type: ignore[arg-type]  # whatever the caller got from the shopper
    except (TypeError, ValueError):
        value = float("nan")
    if not value >= 0:
        return CouponCheck(False, "订单金额不对，请告诉我商品的实际金额。")
    if value < coupon.threshold:
        short = coupon.threshold - value
        return CouponCheck(False, f"{coupon.title}需要满{yuan(coupon.threshold)}才能用，目前{yuan(value)}，"
                                  f"还差{yuan(short)}。")
    note = f"（{scope}）" if scope and product is None else ""
    return CouponCheck(True, f"可以使用{coupon.title}{note}，立减{yuan(coupon.amount)}，"
                             f"优惠后{yuan(max(value - coupon.amount, 0))}。", coupon.amount)
