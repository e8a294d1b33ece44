"""Promotions and coupons: what runs now, and whether a coupon applies to an amount or a product."""
from __future__ import annotations

from typing import Any

from actions.promotions import ActionPromotions
from bot.shop.formatting import day, yuan
from bot.shop.sqlite_backend import SqliteShopBackend
from tests.actions.conftest import Turn, entity, run_action


def test_active_promotions_and_coupons_are_listed(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    r = run_action(ActionPromotions(), Turn(text="最近有什么活动", intent="inquire_promotion"), domain)
    promotions, coupons = shop.active_promotions(), shop.active_coupons()
    assert promotions and coupons
    assert r.text.startswith("店铺正在进行的活动：")
    for p in promotions[:5]:
        assert f"· {p.title}（至{day(p.ends_at)}）：{p.description}" in r.text
    for c in coupons[:5]:
        assert f"{c.code}（{c.title}）" in r.text
    assert r.events == []


def test_promotions_of_a_category(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    r = run_action(ActionPromotions(), Turn(text="鞋子有活动吗", entities=[entity("category", "鞋靴")]), domain)
    assert r.text.startswith("鞋靴正在进行的活动：")
    shoes = shop.active_promotions(category="鞋靴")
    for p in shoes:
        assert p.title in r.text
    others = [p for p in shop.active_promotions() if p not in shoes]
    assert others and not any(p.title in r.text for p in others)


def test_promotions_of_the_product_named(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    serum = shop.resolve_product("小黑瓶")
    assert serum is not None
    r = run_action(ActionPromotions(), Turn(text="小黑瓶有优惠吗", entities=[entity("product", "小黑瓶")]), domain)
    assert r.text.startswith(f"{serum.category}正在进行的活动：")
    assert r.slots()["current_product_id"] == float(serum.id)


def test_coupons_listed_for_a_category_are_usable_in_it(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    r = run_action(ActionPromotions(), Turn(text="鞋子有活动吗", entities=[entity("category", "鞋靴")]), domain)
    assert "SHOE50" in r.text
    elsewhere = [c.code for c in shop.active_coupons() if c.category not in (None, "鞋靴")]
    assert not [code for code in elsewhere if code in r.text]


def test_coupon_that_applies_to_the_amount(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    coupon = shop.get_coupon("NEW20")
    assert coupon is not None and coupon.category is None and coupon.threshold < 300
    turn = Turn(text="NEW20 300块能用吗", entities=[entity("coupon_code", "new20"), entity("amount", "300块")])
    r = run_action(ActionPromotions(), turn, domain)
    assert r.text.startswith(f"优惠券 NEW20 用于{yuan(300)}的订单可以使用✅，可减{yuan(coupon.amount)}。")
    assert f"优惠后{yuan(300 - coupon.amount)}" in r.text


def test_coupon_short_of_its_threshold_says_by_how_much(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    coupon = shop.get_coupon("VIP50")
    assert coupon is not None and coupon.threshold > 200
    turn = Turn(text="VIP50 200块能用吗", entities=[entity("coupon_code", "VIP50"), entity("amount", "200块")])
    r = run_action(ActionPromotions(), turn, domain)
    assert f"优惠券 VIP50 用于{yuan(200)}的订单不能使用❌" in r.text
    assert f"需要满{yuan(coupon.threshold)}才能用" in r.text and f"还差{yuan(coupon.threshold - 200)}" in r.text


def test_coupon_of_another_category(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    coupon, band = shop.get_coupon("SHOE50"), shop.resolve_product("小米手环")
    assert coupon is not None and band is not None and coupon.category != band.category
    turn = Turn(text="SHOE50能买小米手环吗", entities=[entity("coupon_code", "SHOE50"), entity("product", "小米手环")])
    r = run_action(ActionPromotions(), turn, domain)
    assert f"用于{yuan(band.price)}的订单不能使用❌" in r.text  # no amount said: the product's price
    assert f"仅限{coupon.category}商品使用，{band.name}属于{band.category}" in r.text
    assert r.slots()["current_product_id"] == float(band.id)


def test_coupon_without_amount_describes_it(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    coupon = shop.get_coupon("NEW20")
    assert coupon is not None
    r = run_action(ActionPromotions(), Turn(text="NEW20怎么用", entities=[entity("coupon_code", "NEW20")]), domain)
    assert r.text.startswith(f"NEW20：{coupon.title}，满{yuan(coupon.threshold)}减{yuan(coupon.amount)}")
    assert "告诉我商品或金额" in r.text


def test_unknown_coupon(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    assert shop.get_coupon("XYZ99") is None
    r = run_action(ActionPromotions(), Turn(text="XYZ99怎么用", entities=[entity("coupon_code", "XYZ99")]), domain)
    assert r.text == "没有找到优惠券 XYZ99，请核对一下券码哦。"


def test_coupon_code_found_in_text_without_an_entity(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    turn = Turn(text="用 NEW20 买300块的东西", entities=[entity("amount", "300块")])
    r = run_action(ActionPromotions(), turn, domain)
    assert r.text.startswith("优惠券 NEW20 用于¥300的订单可以使用✅")


def test_coupon_code_glued_to_chinese_is_found(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    r = run_action(ActionPromotions(), Turn(text="NEW20能用吗", entities=[]), domain)
    assert r.text.startswith("NEW20：")
