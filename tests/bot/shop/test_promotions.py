"""Coupon rules as a pure function: the clock and the coupon are passed in."""
from __future__ import annotations

from datetime import datetime

from bot.shop.models import Coupon, Product
from bot.shop.promotions import coupon_check

NOW = datetime(2026, 11, 30, 12, 0)
SHOES = Coupon("SHOE50", "鞋靴券 满399减50", 399, 50, datetime(2026, 11, 1), datetime(2026, 12, 31), category="鞋靴")


def product(category: str, brand: str = "耐克") -> Product:
    return Product(1, f"{brand} 测试商品", brand, category, "跑步鞋", 499.0, {}, "", 0, True)


def test_applies_with_the_discount_in_yuan() -> None:
    check = coupon_check(SHOES, "shoe50", 450, product("鞋靴"), NOW)
    assert check.applies and check.discount == 50
    assert "立减¥50" in check.reason and "优惠后¥400" in check.reason


def test_short_of_the_threshold_says_by_how_much() -> None:
    check = coupon_check(SHOES, "SHOE50", 350.5, None, NOW)
    assert not check.applies and "满¥399" in check.reason and "还差¥48.50" in check.reason


def test_wrong_category_unknown_code_expired_and_bad_amount() -> None:
    assert "食品饮料" in coupon_check(SHOES, "SHOE50", 450, product("食品饮料"), NOW).reason
    assert "没有找到优惠券码「NOPE」" in coupon_check(None, " NOPE ", 450, None, NOW).reason
    assert "过期" in coupon_check(SHOES, "SHOE50", 450, None, datetime(2027, 1, 2)).reason
    assert "还没开始" in coupon_check(SHOES, "SHOE50", 450, None, datetime(2026, 10, 1)).reason
    assert not coupon_check(SHOES, "SHOE50", "abc", None, NOW).applies
    assert not coupon_check(SHOES, "SHOE50", -5, None, NOW).applies
