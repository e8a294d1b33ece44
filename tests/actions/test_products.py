"""Product actions: price, details, stock, usage, search with a budget, comparison."""
from __future__ import annotations

import re
from typing import Any, Callable

import pytest
from rasa_sdk import Action

from actions.products import (
    ASK_WHICH_PRODUCT,
    ActionCompareProducts,
    ActionProductDetails,
    ActionProductPrice,
    ActionProductStock,
    ActionProductUsage,
    ActionSearchProducts,
)
from bot.shop.formatting import yuan
from bot.shop.models import Product
from bot.shop.policy import NO_REASON_RETURN_DAYS
from bot.shop.sqlite_backend import SqliteShopBackend
from tests.actions.conftest import Result, Turn, entity, run_action


def resolved(shop: SqliteShopBackend, mention: str) -> Product:
    product = shop.resolve_product(mention)
    assert product is not None, mention
    return product


def find_product(shop: SqliteShopBackend, where: Callable[[Product], bool]) -> Product:
    for product_id in range(1, 400):
        product = shop.get_product(product_id)
        if product is not None and where(product):
            return product
    raise LookupError("no seeded product like that")


def context_of(r: Result) -> Any:
    return r.slots().get("current_product_id")


# --- price ---------------------------------------------------------------------------------------
def test_price_names_the_product_and_its_price(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    band = resolved(shop, "小米手环")
    r = run_action(ActionProductPrice(), Turn(text="小米手环多少钱", entities=[entity("product", "小米手环")]), domain)
    assert r.text.split("\n")[0] == f"{band.name}：{yuan(band.price)}"
    promos = shop.active_promotions(category=band.category)
    assert promos, "the seeded shop runs a shop-wide campaign"
    assert f"现在有活动：{promos[0].title}" in r.text
    assert context_of(r) == float(band.id)


def test_price_of_two_products(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    xiaomi, huawei = resolved(shop, "小米手环"), resolved(shop, "华为手环")
    turn = Turn(text="小米手环和华为手环多少钱", entities=[entity("product", "小米手环"), entity("product", "华为手环")])
    r = run_action(ActionProductPrice(), turn, domain)
    assert f"{xiaomi.name}：{yuan(xiaomi.price)}" in r.text and f"{huawei.name}：{yuan(huawei.price)}" in r.text
    assert context_of(r) == float(xiaomi.id)  # the first one named is the one under discussion


def test_price_of_the_product_under_discussion(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    shoe = resolved(shop, "耐克跑鞋")
    r = run_action(ActionProductPrice(), Turn(text="这个多少钱", slots={"current_product_id": float(shoe.id)}), domain)
    assert f"{shoe.name}：{yuan(shoe.price)}" in r.text


def test_price_of_a_product_with_cents_uses_the_shop_format() -> None:
    assert yuan(199.5) == "¥199.50" and yuan(169.0) == "¥169"


@pytest.mark.parametrize("action", [ActionProductPrice(), ActionProductDetails(), ActionProductStock(),
                                    ActionProductUsage()], ids=lambda a: a.name())
def test_unknown_product_asks_which_one(shop: SqliteShopBackend, domain: dict[str, Any], action: Action) -> None:
    r = run_action(action, Turn(text="这个多少钱，有货吗"), domain)
    assert r.text == ASK_WHICH_PRODUCT
    assert r.events == []


def test_a_brand_alone_is_not_a_product(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    r = run_action(ActionProductPrice(), Turn(text="华为的多少钱", entities=[entity("brand", "华为")]), domain)
    assert r.text == ASK_WHICH_PRODUCT


# --- details and usage ---------------------------------------------------------------------------
def test_details_of_a_returnable_product(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    shoe = resolved(shop, "耐克跑鞋")
    r = run_action(ActionProductDetails(), Turn(text="耐克跑鞋怎么样", entities=[entity("product", "耐克跑鞋")]), domain)
    assert r.text.startswith(f"{shoe.name}（{shoe.category}）\n价格：{yuan(shoe.price)}\n")
    for key, value in shoe.specs.items():
        assert f"· {key}：{value}" in r.text
    assert shoe.warranty_months == 0 and shoe.returnable
    assert r.text.endswith(f"无保修服务，支持{NO_REASON_RETURN_DAYS}天无理由退货。")
    assert context_of(r) == float(shoe.id)


def test_details_of_a_product_without_no_reason_return(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    serum = resolved(shop, "小黑瓶")
    r = run_action(ActionProductDetails(), Turn(text="小黑瓶怎么样", entities=[entity("product", "小黑瓶")]), domain)
    assert not serum.returnable
    assert f"价格：{yuan(serum.price)}" in r.text
    assert r.text.endswith(f"不支持{NO_REASON_RETURN_DAYS}天无理由退货。")


def test_details_state_the_warranty(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    laptop = find_product(shop, lambda p: p.warranty_months >= 24)
    r = run_action(ActionProductDetails(), Turn(text="详细参数", slots={"current_product_id": float(laptop.id)}), domain)
    assert laptop.name in r.text and f"保修 {laptop.warranty_months} 个月" in r.text


def test_usage_of_a_product(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    fryer = resolved(shop, "空气炸锅")
    r = run_action(ActionProductUsage(), Turn(text="空气炸锅怎么用", entities=[entity("product", "空气炸锅")]), domain)
    assert r.text == f"{fryer.name}的使用和保养说明：\n{fryer.usage}"


# --- stock ---------------------------------------------------------------------------------------
def test_stock_of_a_colour_and_size(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    shoe = resolved(shop, "耐克跑鞋")
    stock = shoe.stock_of("黑色", "41")
    assert stock > 0
    turn = Turn(text="耐克跑鞋黑色41码有货吗",
                entities=[entity("product", "耐克跑鞋"), entity("color", "黑色"), entity("size", "41码")])
    r = run_action(ActionProductStock(), turn, domain)
    assert r.text.startswith(f"{shoe.name}（黑色 41）有货，库存 {stock} 件")


def test_sold_out_variant_offers_what_is_in_stock(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    product = find_product(shop, lambda p: len(p.variants) > 2 and any(v.stock == 0 for v in p.variants)
                           and any(v.stock > 0 for v in p.variants))
    gone = next(v for v in product.variants if v.stock == 0)
    turn = Turn(text=f"{gone.colour}{gone.size}有吗", entities=[entity("color", gone.colour), entity("size", gone.size)],
                slots={"current_product_id": float(product.id)})
    r = run_action(ActionProductStock(), turn, domain)
    assert f"抱歉，{product.name}（{gone.colour} {gone.size}）暂时缺货" in r.text
    first_in_stock = next(v for v in product.variants if v.stock > 0)
    assert f"{first_in_stock.colour} {first_in_stock.size}" in r.text


def test_colour_the_product_does_not_come_in(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    shoe = resolved(shop, "耐克跑鞋")
    turn = Turn(text="有紫色吗", entities=[entity("color", "紫色")], slots={"current_product_id": float(shoe.id)})
    r = run_action(ActionProductStock(), turn, domain)
    assert r.text == f"{shoe.name}没有紫色哦，可选颜色：{'、'.join(sorted(shoe.colours))}。"
    assert context_of(r) == float(shoe.id)


def test_size_the_product_does_not_come_in(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    shoe = resolved(shop, "耐克跑鞋")
    turn = Turn(text="有50码吗", entities=[entity("size", "50码")], slots={"current_product_id": float(shoe.id)})
    r = run_action(ActionProductStock(), turn, domain)
    assert r.text.startswith(f"{shoe.name}没有50码这个规格")


def test_clothing_sizes_are_matched_whatever_the_case(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    shirt = find_product(shop, lambda p: "XL" in p.sizes and p.stock_of(None, "XL") > 0)
    turn = Turn(text="xl的有吗", entities=[entity("size", "xl")], slots={"current_product_id": float(shirt.id)})
    r = run_action(ActionProductStock(), turn, domain)
    assert f"{shirt.name}（XL）有货，库存 {shirt.stock_of(None, 'XL')} 件" in r.text


def test_stock_listing_of_the_product_under_discussion(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    shoe = resolved(shop, "耐克跑鞋")
    r = run_action(ActionProductStock(), Turn(text="有货吗", slots={"current_product_id": float(shoe.id)}), domain)
    in_stock = [v for v in shoe.variants if v.stock > 0]
    assert r.text.split("\n")[0] == f"{shoe.name}有货的规格："
    assert r.text.split("\n")[1:] == [f"· {v.colour} {v.size}：{v.stock}件" for v in in_stock[:8]]


def test_sold_out_product(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    product = find_product(shop, lambda p: bool(p.variants) and p.stock_of() == 0)
    r = run_action(ActionProductStock(), Turn(text="有货吗", slots={"current_product_id": float(product.id)}), domain)
    assert r.text == f"抱歉，{product.name}目前全部售罄，补货后会第一时间上架。"


# --- search --------------------------------------------------------------------------------------
LISTED = re.compile(r"^\d+\. (.+) (¥[\d.]+)$", re.M)


def test_search_with_a_budget_lists_only_products_within_it(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    turn = Turn(text="300块以内的手环", entities=[entity("product", "手环"), entity("amount", "300块")])
    r = run_action(ActionSearchProducts(), turn, domain)
    listed = LISTED.findall(r.text)
    assert listed and r.text.startswith("为您找到这些：")
    by_name = {p.name: p for p in shop.find_products("手环", limit=100)}
    for name, price in listed:
        assert by_name[name].price <= 300 and price == yuan(by_name[name].price)
    within = {p.name for p in by_name.values() if p.price <= 300}
    assert {name for name, _ in listed} == within  # every band under budget, and no other
    buttons = r.messages[-1]["buttons"]
    assert [b["title"] for b in buttons] == [name for name, _ in listed][:3]
    assert context_of(r) == float(by_name[listed[0][0]].id)


def test_search_without_anything_within_budget_says_so(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    assert shop.find_products("跑鞋", max_price=300) == []
    turn = Turn(text="300块以内的跑鞋", entities=[entity("product", "跑鞋"), entity("amount", "300块")])
    r = run_action(ActionSearchProducts(), turn, domain)
    assert r.messages[0]["text"] == f"{yuan(300)}以内暂时没有合适的，看看这些："
    assert LISTED.findall(r.text)


def test_search_by_brand_and_category(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    turn = Turn(text="华为的耳机", entities=[entity("brand", "华为"), entity("product", "耳机")])
    r = run_action(ActionSearchProducts(), turn, domain)
    names = [name for name, _ in LISTED.findall(r.text)]
    assert names and all(name.startswith("华为") and "耳机" in name for name in names)


def test_search_that_finds_nothing(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    r = run_action(ActionSearchProducts(), Turn(text="有没有火箭", entities=[entity("product", "火箭")]), domain)
    assert r.text.startswith("没找到符合条件的商品")
    assert r.events == []


# --- comparison ----------------------------------------------------------------------------------
def test_comparison_of_two_products(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    xiaomi, huawei = resolved(shop, "小米手环"), resolved(shop, "华为手环")
    turn = Turn(text="小米手环和华为手环哪个好", entities=[entity("product", "小米手环"), entity("product", "华为手环")])
    r = run_action(ActionCompareProducts(), turn, domain)
    assert r.text.startswith(f"{xiaomi.name} 对比 {huawei.name}：")
    assert f"· 价格：{yuan(xiaomi.price)} vs {yuan(huawei.price)}" in r.text
    assert f"· 保修：{xiaomi.warranty_months}个月 vs {huawei.warranty_months}个月" in r.text
    cheaper = min((xiaomi, huawei), key=lambda p: p.price)
    assert f"预算有限选{cheaper.name}更划算" in r.text
    assert context_of(r) == float(xiaomi.id)


def test_comparison_with_the_product_under_discussion(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    xiaomi, huawei = resolved(shop, "小米手环"), resolved(shop, "华为手环")
    turn = Turn(text="和华为手环比呢", entities=[entity("product", "华为手环")],
                slots={"current_product_id": float(xiaomi.id)})
    r = run_action(ActionCompareProducts(), turn, domain)
    assert r.text.startswith(f"{huawei.name} 对比 {xiaomi.name}：")


def test_comparison_needs_two_products(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    r = run_action(ActionCompareProducts(), Turn(text="小米手环好不好", entities=[entity("product", "小米手环")]), domain)
    assert r.text.startswith("请告诉我想对比的两款商品")
    assert r.events == []
