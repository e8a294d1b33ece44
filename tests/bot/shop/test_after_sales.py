"""After-sales rules on real seeded orders (and a few edited copies for the edge cases)."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Iterator

import pytest

from bot.shop import after_sales as rules
from bot.shop.after_sales import Decision, add_months, classify_condition
from bot.shop.models import Order, OrderItem, OrderStatus, Product, Variant
from bot.shop.seed import seed_database
from bot.shop.sqlite_backend import SqliteShopBackend

REF = datetime(2026, 11, 25, 9, 0, 0)
AFTER_DELIVERY = (OrderStatus.DELIVERED, OrderStatus.COMPLETED)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqliteShopBackend]:
    path: Path = tmp_path_factory.mktemp("shop") / "shop.db"
    seed_database(path, reference_time=REF)
    with SqliteShopBackend(path, clock=lambda: REF) as backend:
        yield backend
    _orders.clear()
    _products.clear()


Line = tuple[Order, OrderItem, Product]


_orders: dict[OrderStatus, list[Order]] = {}
_products: dict[int, Product] = {}


def find_line(shop: SqliteShopBackend, statuses: tuple[OrderStatus, ...],
              where: Callable[[Order, OrderItem, Product], bool] = lambda o, i, p: True) -> Line:
    """The newest (order, item, product) in one of `statuses` that satisfies `where`.

    Orders come from `shop.find_orders(status)`; these tests never change them, so they
    and their products are loaded once.
    """
    for status in statuses:
        if status not in _orders:
            _orders[status] = shop.find_orders(status, limit=5000)
        for order in _orders[status]:
            for item in order.items:
                if item.product_id not in _products:
                    _products[item.product_id] = shop.get_product(item.product_id)  # type: ignore[assignment]
                product = _products[item.product_id]
                if product is not None and where(order, item, product):
                    return order, item, product
    raise AssertionError("the seeded shop has no such order line")


def delivered_days_ago(low: float, high: float) -> Callable[[Order, OrderItem, Product], bool]:
    return lambda o, i, p: o.delivered_at is not None and (
        timedelta(days=low) < REF - o.delivered_at <= timedelta(days=high))


def returnable(o: Order, i: OrderItem, p: Product) -> bool:
    return p.returnable


def both(*checks: Callable[[Order, OrderItem, Product], bool]) -> Callable[[Order, OrderItem, Product], bool]:
    return lambda o, i, p: all(check(o, i, p) for check in checks)


def allowed(decision: Decision, *words: str) -> None:
    assert decision.allowed, decision.reason
    assert all(w in decision.reason for w in words), decision.reason


def refused(decision: Decision, *words: str) -> None:
    assert not decision.allowed, decision.reason
    assert decision.reason and all(w in decision.reason for w in words), decision.reason


# --------------------------------------------------------------------------- helpers


@pytest.mark.parametrize("text, kind", [
    ("未拆封", "unused"), ("未使用", "unused"), ("unused", "unused"), ("吊牌还在，没穿过", "unused"), (None, "unused"),
    ("已经穿过了", "used"), ("used", "used"), ("拆封了", "used"),
    ("质量问题", "quality"), ("鞋底开胶了", "quality"), ("全新的但是坏了", "quality"),
])
def test_classify_condition(text: str, kind: str) -> None:
    assert classify_condition(text) == kind


def test_add_months_clamps_to_month_end() -> None:
    assert add_months(datetime(2026, 1, 31, 10), 1) == datetime(2026, 2, 28, 10)
    assert add_months(datetime(2026, 11, 25), 12) == datetime(2027, 11, 25)
    assert add_months(datetime(2026, 3, 15), 72) == datetime(2032, 3, 15)


def test_a_refusal_is_still_a_decision() -> None:
    assert (Decision(False, "no") or Decision(True, "yes")).allowed is False  # no truthiness tricks


# --------------------------------------------------------------------------- cancel and modify


@pytest.mark.parametrize("status, ok", [
    (OrderStatus.PENDING_PAYMENT, True), (OrderStatus.PAID, True), (OrderStatus.SHIPPED, False),
    (OrderStatus.DELIVERED, False), (OrderStatus.COMPLETED, False), (OrderStatus.CANCELLED, False),
    (OrderStatus.REFUNDING, False), (OrderStatus.REFUNDED, False),
])
def test_can_cancel(shop: SqliteShopBackend, status: OrderStatus, ok: bool) -> None:
    order = shop.find_orders(status, limit=1)[0]
    decision = rules.can_cancel(order)
    assert decision.allowed is ok and decision.reason
    if status == OrderStatus.SHIPPED:
        assert "拒收" in decision.reason


@pytest.mark.parametrize("status, field, ok", [
    (OrderStatus.PENDING_PAYMENT, "address", True),
    (OrderStatus.PAID, "address", True),
    (OrderStatus.PAID, "phone", True),
    (OrderStatus.PAID, "delivery_time", True),
    (OrderStatus.SHIPPED, "address", False),
    (OrderStatus.SHIPPED, "phone", False),
    (OrderStatus.SHIPPED, "delivery_time", True),
    (OrderStatus.DELIVERED, "delivery_time", False),
    (OrderStatus.COMPLETED, "address", False),
    (OrderStatus.CANCELLED, "address", False),
    (OrderStatus.REFUNDED, "delivery_time", False),
])
def test_can_modify(shop: SqliteShopBackend, status: OrderStatus, field: str, ok: bool) -> None:
    order = shop.find_orders(status, limit=1)[0]
    decision = rules.can_modify(order, field)
    assert decision.allowed is ok, decision.reason
    if status == OrderStatus.SHIPPED and not ok:
        assert order.carrier in decision.reason


def test_can_modify_other_fields(shop: SqliteShopBackend) -> None:
    order = shop.find_orders(OrderStatus.PAID, limit=1)[0]
    refused(rules.can_modify(order, "price"), "收货地址")
    allowed(rules.can_modify(order, "收货地址"), "收货地址")


# --------------------------------------------------------------------------- return


def test_return_within_7_days_unused(shop: SqliteShopBackend) -> None:
    order, item, product = find_line(shop, AFTER_DELIVERY, both(delivered_days_ago(0.5, 6), returnable))
    for condition in ("未拆封", "未使用", "unused"):
        allowed(rules.can_return(order, item, product, REF, condition), "7天无理由")


def test_return_after_7_days_is_refused_but_quality_still_allowed(shop: SqliteShopBackend) -> None:
    order, item, product = find_line(shop, AFTER_DELIVERY, both(delivered_days_ago(8, 14), returnable))
    refused(rules.can_return(order, item, product, REF, "未拆封"), "超过签收后7天", "质量问题")
    allowed(rules.can_return(order, item, product, REF, "质量问题"), "15天")


def test_return_boundary_is_exactly_7_days(shop: SqliteShopBackend) -> None:
    order, item, product = find_line(shop, AFTER_DELIVERY, lambda o, i, p: p.returnable)
    assert order.delivered_at is not None
    at_deadline = order.delivered_at + timedelta(days=7)
    assert rules.can_return(order, item, product, at_deadline, "未使用").allowed
    assert not rules.can_return(order, item, product, at_deadline + timedelta(seconds=1), "未使用").allowed


def test_used_goods_have_no_no_reason_return(shop: SqliteShopBackend) -> None:
    order, item, product = find_line(shop, AFTER_DELIVERY, both(delivered_days_ago(0.5, 6), returnable))
    refused(rules.can_return(order, item, product, REF, "已经穿过了"), "未使用")


def test_non_returnable_goods_only_for_quality(shop: SqliteShopBackend) -> None:
    order, item, product = find_line(shop, AFTER_DELIVERY,
                                     both(delivered_days_ago(0.5, 6), lambda o, i, p: not p.returnable))
    refused(rules.can_return(order, item, product, REF, "未拆封"), "不支持7天无理由退货", product.name)
    allowed(rules.can_return(order, item, product, REF, "收到就是坏的"), "质量问题")


def test_quality_return_ends_after_15_days(shop: SqliteShopBackend) -> None:
    order, item, product = find_line(shop, AFTER_DELIVERY,
                                     both(delivered_days_ago(16, 60), lambda o, i, p: p.warranty_months > 0))
    refused(rules.can_return(order, item, product, REF, "质量问题"), "15天", "保修期")


@pytest.mark.parametrize("status, words", [
    (OrderStatus.PENDING_PAYMENT, "取消订单"), (OrderStatus.PAID, "取消订单"), (OrderStatus.SHIPPED, "拒收"),
    (OrderStatus.CANCELLED, "取消"), (OrderStatus.REFUNDING, "退款中"), (OrderStatus.REFUNDED, "退款完成"),
])
def test_return_needs_a_delivered_order(shop: SqliteShopBackend, status: OrderStatus, words: str) -> None:
    order, item, product = find_line(shop, (status,))
    refused(rules.can_return(order, item, product, REF, "未使用"), words)


def test_return_of_an_item_from_another_order(shop: SqliteShopBackend) -> None:
    order, _, _ = find_line(shop, AFTER_DELIVERY)
    _, other_item, other_product = find_line(shop, AFTER_DELIVERY, lambda o, i, p: o.order_no != order.order_no
                                             and order.item_by_sku(i.sku) is None)
    refused(rules.can_return(order, other_item, other_product, REF, "未使用"), "不在订单")


# --------------------------------------------------------------------------- exchange


def sized_line(shop: SqliteShopBackend, days: tuple[float, float]) -> Line:
    return find_line(shop, AFTER_DELIVERY, both(
        delivered_days_ago(*days), lambda o, i, p: p.returnable and len(p.sizes) > 1 and len(p.colours) > 1))


def test_exchange_to_a_size_in_stock(shop: SqliteShopBackend) -> None:
    order, item, product = sized_line(shop, (0.5, 14))
    target = next(v for v in product.variants if v.stock > 0 and v.size != item.size)
    allowed(rules.can_exchange(order, item, product, target.colour, target.size, REF), "可以换成", "有货")


def test_exchange_to_a_sold_out_variant(shop: SqliteShopBackend) -> None:
    order, item, product = sized_line(shop, (0.5, 14))
    target = next(v for v in product.variants if (v.colour, v.size) != (item.colour, item.size))
    sold_out = replace(product, variants=tuple(replace(v, stock=0) if v.sku == target.sku else v
                                               for v in product.variants))
    refused(rules.can_exchange(order, item, sold_out, target.colour, target.size, REF), "缺货")


def test_exchange_to_a_variant_that_does_not_exist(shop: SqliteShopBackend) -> None:
    order, item, product = sized_line(shop, (0.5, 14))
    refused(rules.can_exchange(order, item, product, "荧光紫", None, REF), "没有荧光紫", "可选颜色")
    refused(rules.can_exchange(order, item, product, None, "XXXXL", REF), "没有XXXXL", "可选尺码")
    refused(rules.can_exchange(order, item, product, item.colour, item.size, REF), "一样")


def test_exchange_after_15_days(shop: SqliteShopBackend) -> None:
    order, item, product = sized_line(shop, (16, 100))
    target = next(v for v in product.variants if v.size != item.size)
    refused(rules.can_exchange(order, item, product, target.colour, target.size, REF), "15天")


def test_exchange_of_a_shipped_order(shop: SqliteShopBackend) -> None:
    order, item, product = find_line(shop, (OrderStatus.SHIPPED,))
    refused(rules.can_exchange(order, item, product, None, None, REF), "签收后")


def test_exchange_of_non_returnable_goods_needs_a_quality_problem(shop: SqliteShopBackend) -> None:
    order, item, product = find_line(shop, AFTER_DELIVERY, both(
        delivered_days_ago(0.5, 14), lambda o, i, p: not p.returnable and len(p.variants) > 1))
    other = next(v for v in product.variants if (v.colour, v.size) != (item.colour, item.size))
    refused(rules.can_exchange(order, item, product, other.colour, other.size, REF), "不支持换货")
    in_stock = replace(product, variants=tuple(replace(v, stock=max(v.stock, 1)) for v in product.variants))
    allowed(rules.can_exchange(order, item, in_stock, other.colour, other.size, REF, "质量问题"), "运费由我们承担")


# --------------------------------------------------------------------------- refund


def test_refund_of_one_item_after_shipping(shop: SqliteShopBackend) -> None:
    order, item, _ = find_line(shop, AFTER_DELIVERY, lambda o, i, p: o.shipping_fee > 0 and len(o.items) == 1)
    quote = rules.refund_amount(order, item, "七天无理由")
    assert quote.amount == pytest.approx(item.unit_price * item.quantity)
    assert quote.shipping == 0 and "运费" in quote.explanation and "不退" in quote.explanation
    quality = rules.refund_amount(order, item, "质量问题")
    assert quality.amount == pytest.approx(item.unit_price * item.quantity + order.shipping_fee)


def test_refund_uses_the_price_actually_paid(shop: SqliteShopBackend) -> None:
    order, item, _ = find_line(shop, AFTER_DELIVERY, lambda o, i, p: i.unit_price < (i.list_price or 0))
    quote = rules.refund_amount(order, item, "")
    assert quote.amount == pytest.approx(item.unit_price * item.quantity)
    assert quote.amount < (item.list_price or 0) * item.quantity
    assert "优惠" in quote.explanation


def test_refund_of_a_whole_order_not_yet_shipped(shop: SqliteShopBackend) -> None:
    order, _, _ = find_line(shop, (OrderStatus.PAID,), lambda o, i, p: o.shipping_fee > 0)
    quote = rules.refund_amount(order, None, "不想要了")
    assert quote.amount == pytest.approx(order.total_paid) and quote.shipping == order.shipping_fee
    assert "还没发货" in quote.explanation


def test_refund_of_part_of_a_multi_item_order(shop: SqliteShopBackend) -> None:
    order, item, _ = find_line(shop, (OrderStatus.PAID,), lambda o, i, p: len(o.items) > 1)
    order = replace(order, shipping_fee=10.0, total_paid=order.goods_amount + 10.0)
    quote = rules.refund_amount(order, item, "不想要了")
    assert quote.amount == pytest.approx(item.unit_price * item.quantity) and "整单" in quote.explanation
    whole = rules.refund_amount(order, None, "不想要了")
    assert whole.amount == pytest.approx(order.total_paid)


@pytest.mark.parametrize("status", [OrderStatus.PENDING_PAYMENT, OrderStatus.REFUNDED])
def test_nothing_to_refund(shop: SqliteShopBackend, status: OrderStatus) -> None:
    order = shop.find_orders(status, limit=1)[0]
    quote = rules.refund_amount(order)
    assert quote.amount == 0 and quote.explanation


# --------------------------------------------------------------------------- repair


def test_repair_within_warranty(shop: SqliteShopBackend) -> None:
    order, item, product = find_line(shop, AFTER_DELIVERY, lambda o, i, p: p.warranty_months > 0)
    allowed(rules.can_repair(order, item, product, REF), "保修期内", "免费维修")


def test_repair_out_of_warranty(shop: SqliteShopBackend) -> None:
    order, item, product = find_line(shop, AFTER_DELIVERY, lambda o, i, p: p.warranty_months == 12)
    assert order.delivered_at is not None
    expiry = add_months(order.delivered_at, 12)
    assert rules.can_repair(order, item, product, expiry).allowed
    refused(rules.can_repair(order, item, product, expiry + timedelta(days=1)), "超过12个月的保修期", "付费维修")


def test_repair_of_goods_without_warranty(shop: SqliteShopBackend) -> None:
    order, item, product = find_line(shop, AFTER_DELIVERY, both(delivered_days_ago(0.5, 10),
                                                                lambda o, i, p: p.warranty_months == 0))
    refused(rules.can_repair(order, item, product, REF), "不提供保修", "退换货")


def test_repair_before_delivery(shop: SqliteShopBackend) -> None:
    order, item, product = find_line(shop, (OrderStatus.SHIPPED,), lambda o, i, p: p.warranty_months > 0)
    refused(rules.can_repair(order, item, product, REF), "还没签收")


def test_rules_reject_a_product_that_is_not_the_item(shop: SqliteShopBackend) -> None:
    order, item, product = find_line(shop, AFTER_DELIVERY)
    stranger = replace(product, id=product.id + 1, variants=(Variant("x", product.id + 1, "黑色", "均码", 1),))
    with pytest.raises(ValueError):
        rules.can_return(order, item, stranger, REF)
