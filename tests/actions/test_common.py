"""Helpers shared by the actions: entities, amounts, the product under discussion, order lines."""
from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk.events import SlotSet

from actions.common import (
    amount_mentioned,
    current_product,
    entity_values,
    first_entity,
    latest_text,
    mentioned_products,
    order_items_text,
    product_context,
    product_of,
)
from bot.shop.models import OrderItem, OrderStatus
from bot.shop.sqlite_backend import SqliteShopBackend
from tests.actions.conftest import Turn, entity
from tests.actions.helpers import pick_order


def test_entity_values_are_distinct_and_in_order() -> None:
    turn = Turn(entities=[entity("product", "手环"), entity("color", "黑色"), entity("product", "耳机"),
                          entity("product", "手环"), {"entity": "product", "value": 42}])
    tracker = turn.tracker()
    assert entity_values(tracker, "product") == ["手环", "耳机"]  # non-text values are ignored
    assert first_entity(tracker, "color") == "黑色"
    assert first_entity(tracker, "size") is None


@pytest.mark.parametrize("mention, expected", [
    ("300块", 300.0), ("99.5元", 99.5), ("预算2000", 2000.0), ("几百块", None),
])
def test_amount_mentioned(mention: str, expected: Any) -> None:
    assert amount_mentioned(Turn(entities=[entity("amount", mention)]).tracker()) == expected


@pytest.mark.parametrize("mention, expected", [("2千", 2000.0), ("1,500元", 1500.0)])
def test_amount_with_a_unit_or_thousands_separator(mention: str, expected: float) -> None:
    assert amount_mentioned(Turn(entities=[entity("amount", mention)]).tracker()) == expected


def test_first_amount_with_digits_counts() -> None:
    turn = Turn(entities=[entity("amount", "几百"), entity("amount", "500块"), entity("amount", "80")])
    assert amount_mentioned(turn.tracker()) == 500.0
    assert amount_mentioned(Turn(text="300以内").tracker()) is None  # only the amount entity counts


def test_latest_text() -> None:
    assert latest_text(Turn(text="在吗").tracker()) == "在吗"
    assert latest_text(Turn().tracker()) == ""


def test_product_named_in_the_message_wins_over_the_one_under_discussion(shop: SqliteShopBackend) -> None:
    band, shoe = shop.resolve_product("小米手环"), shop.resolve_product("耐克跑鞋")
    assert band is not None and shoe is not None
    turn = Turn(text="小米手环呢", entities=[entity("product", "小米手环")], slots={"current_product_id": float(shoe.id)})
    assert current_product(turn.tracker()) == band
    assert current_product(Turn(text="这个呢", slots={"current_product_id": float(shoe.id)}).tracker()) == shoe
    assert current_product(Turn(text="这个呢").tracker()) is None


def test_products_found_in_free_text_without_entities(shop: SqliteShopBackend) -> None:
    found = mentioned_products(Turn(text="小黑瓶还有吗").tracker())
    assert [p.name for p in found] == ["兰蔻 小黑瓶 50ml 精华液"]


def test_brand_entity_narrows_the_product(shop: SqliteShopBackend) -> None:
    turn = Turn(text="华为的手环", entities=[entity("brand", "华为"), entity("product", "手环")])
    found = mentioned_products(turn.tracker())
    assert len(found) == 1 and found[0].brand == "华为" and found[0].type_name == "智能手环"


def test_same_product_named_twice_counts_once(shop: SqliteShopBackend) -> None:
    turn = Turn(text="小米手环 小米8手环", entities=[entity("product", "小米手环"), entity("product", "小米8手环")])
    assert len(mentioned_products(turn.tracker())) == 1


def test_product_context_remembers_the_product(shop: SqliteShopBackend) -> None:
    band = shop.resolve_product("小米手环")
    assert band is not None
    assert product_context(band) == [SlotSet("current_product_id", float(band.id))]


def test_product_of_an_order_line(shop: SqliteShopBackend) -> None:
    order = pick_order(shop, OrderStatus.COMPLETED)
    item = order.items[0]
    assert product_of(item).id == item.product_id


def test_product_of_an_unknown_line_raises(shop: SqliteShopBackend) -> None:
    ghost = OrderItem("9999-01-01", 9999, "不存在的商品", "黑色", "均码", 1, 1.0)
    with pytest.raises(LookupError, match="9999"):
        product_of(ghost)


def test_order_items_text() -> None:
    items = [OrderItem("0013-01-01", 13, "小米 8 智能手环", "黑色", "均码", 2, 159.0),
             OrderItem("0163-01-06", 163, "耐克 Air Zoom 跑步鞋", "黑色", "41", 1, 1099.0)]
    assert order_items_text(items) == "1. 小米 8 智能手环（黑色 均码）×2\n2. 耐克 Air Zoom 跑步鞋（黑色 41）×1"
