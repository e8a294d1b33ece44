"""The demo shop generator: products without a database, a seeded SQLite shop and its invariants."""
from __future__ import annotations

import re
import sqlite3
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.shop import catalog
from bot.shop.catalog import CATEGORIES, product_lines
from bot.shop.models import Order, OrderStatus
from bot.shop.policy import FREE_SHIPPING_THRESHOLD, SHIPPING_FEE
from bot.shop.seed import (
    CARRIERS,
    ORDER_DAYS,
    generate_coupons,
    generate_products,
    generate_promotions,
    generate_shop,
    main,
    seed_database,
)
from bot.shop.sqlite_backend import SqliteShopBackend

REF = datetime(2026, 11, 25, 9, 0, 0)
TYPES = {(c.name, t.name): t for c in CATEGORIES for t in c.types}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int], float]:
    path = tmp_path_factory.mktemp("shop") / "shop.db"
    started = time.perf_counter()
    counts = seed_database(path, reference_time=REF)
    return path, counts, time.perf_counter() - started


@pytest.fixture(scope="module")
def orders(seeded: tuple[Path, dict[str, int], float]) -> list[Order]:
    with SqliteShopBackend(seeded[0], clock=lambda: REF) as shop:
        return shop.find_orders(limit=100_000)


# --------------------------------------------------------------------------- catalog and products


def test_catalog_brands_only_make_their_own_types() -> None:
    makers = {(line.brand, line.type.name) for line in product_lines()}
    assert ("罗技", "笔记本电脑") not in makers
    assert {t for b, t in makers if b == "得力"} == {"签字笔"}
    assert {b for b, t in makers if t == "跑步鞋" and "Air Zoom" in t} <= {"耐克"}
    assert [line.brand for line in product_lines() if line.model == "Air Zoom"] == ["耐克"]
    for cat in CATEGORIES:
        for ptype in cat.types:
            assert set(ptype.brands) <= set(cat.brands), ptype.name
            for model, brands in ptype.model_brands:
                assert model in ptype.models and set(brands) <= set(cat.brands), (ptype.name, model)


def test_catalog_helpers() -> None:
    assert catalog.canonical_brand("Nike") == "耐克"
    assert catalog.canonical_brand(" 阿迪 ") == "阿迪达斯"
    assert catalog.canonical_brand("苹果") is None
    assert catalog.category_of("家电").name == "家用电器"
    assert catalog.category_of("不存在") is None


def test_products_are_deterministic_and_need_no_database() -> None:
    first, second = generate_products(), generate_products()
    assert [(p.id, p.name, p.price, p.variants) for p in first] == [(p.id, p.name, p.price, p.variants) for p in second]
    other_seed = generate_products(seed=8)
    assert [p.name for p in other_seed] == [p.name for p in first]  # names never depend on the seed
    assert [p.price for p in other_seed] != [p.price for p in first]


def test_products_cover_the_catalog() -> None:
    products = generate_products()
    assert len(products) >= 300
    per_category = Counter(p.category for p in products)
    assert set(per_category) == {c.name for c in CATEGORIES}
    assert min(per_category.values()) >= 20, per_category
    assert len({p.name for p in products}) == len(products)
    assert [p.id for p in products] == list(range(1, len(products) + 1))


def test_products_are_plausible() -> None:
    products = generate_products()
    for p in products:
        ptype = TYPES[(p.category, p.type_name)]
        assert p.name == f"{p.brand} {p.model} {p.type_name}"
        low, high = ptype.price_range
        assert low <= p.price <= high and int(p.price) % 10 == 9, (p.name, p.price)
        assert (p.warranty_months, p.returnable) == (ptype.warranty_months, ptype.returnable)
        assert p.variants and all(v.stock >= 0 and v.product_id == p.id for v in p.variants)
        assert {v.colour for v in p.variants} == set(ptype.colours)
        assert {v.size for v in p.variants} <= set(ptype.sizes)
        assert len({v.sku for v in p.variants}) == len(p.variants)
        assert p.specs["品牌"] == p.brand and len(p.specs) >= 5
        assert len(p.usage) >= 20
    by_name = {p.name: p for p in products}
    assert "洗护说明" in by_name["优衣库 轻薄款 羽绒服"].usage
    assert "尺码表" in by_name["优衣库 轻薄款 羽绒服"].specs
    assert "使用方法" in by_name["美的 5L 空气炸锅"].usage
    assert "保质期" in by_name["伊利 250ml*24盒 纯牛奶"].usage
    assert "保质期" in by_name["伊利 250ml*24盒 纯牛奶"].specs
    assert "电池" in by_name["小米 14 手机"].specs
    assert by_name["兰蔻 小黑瓶 50ml 精华液"].sizes == ("50ml",)  # the model names its size
    assert by_name["耐克 Air Zoom 跑步鞋"].sizes == catalog.SHOE_SIZES
    variants = [v for p in products for v in p.variants]
    assert any(v.stock == 0 for v in variants) and any(v.stock > 0 for v in variants)
    assert any(p.stock_of() == 0 for p in products)  # some products sold out entirely


# --------------------------------------------------------------------------- the seeded database


def test_seeding_is_fast_and_counted(seeded: tuple[Path, dict[str, int], float]) -> None:
    path, counts, seconds = seeded
    assert seconds < 10
    assert counts["products"] >= 300
    assert counts["orders"] >= 2000
    assert counts["promotions"] >= 6
    assert counts["coupons"] >= 10
    assert counts["tickets"] == 0
    for status in OrderStatus:
        assert counts.get(f"orders.{status.value}", 0) >= 3, status
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(DISTINCT category) FROM products").fetchone()[0] >= 8
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        stored = conn.execute("SELECT value FROM meta WHERE key = 'reference_time'").fetchone()[0]
        assert stored == "2026-11-25 09:00:00"


def test_status_ratios_are_realistic(orders: list[Order]) -> None:
    share = Counter(o.status for o in orders)
    assert share[OrderStatus.COMPLETED] > len(orders) / 2
    assert share[OrderStatus.COMPLETED] > share[OrderStatus.DELIVERED] > share[OrderStatus.PENDING_PAYMENT]
    assert share[OrderStatus.REFUNDED] + share[OrderStatus.CANCELLED] < len(orders) / 4


def test_orders_are_well_formed(orders: list[Order]) -> None:
    assert len({o.order_no for o in orders}) == len(orders)
    for o in orders:
        assert re.fullmatch(r"26\d{14}", o.order_no)
        assert re.fullmatch(r"1[3-9]\d{9}", o.phone)
        assert o.customer_name and re.fullmatch(r"[\u4e00-\u9fff]{2,3}", o.customer_name)
        assert re.search(r"市.+(区|街道).+号.+室$", o.address), o.address
        assert 1 <= len(o.items) <= 3
        assert REF - timedelta(days=ORDER_DAYS) <= o.created_at <= REF
        goods = round(sum(i.unit_price * i.quantity for i in o.items), 2)
        listed = round(sum((i.list_price or 0) * i.quantity for i in o.items), 2)
        assert o.shipping_fee == (0 if goods >= FREE_SHIPPING_THRESHOLD else SHIPPING_FEE)
        assert o.total_paid == pytest.approx(goods + o.shipping_fee)
        assert o.discount == pytest.approx(listed - goods, abs=0.011)
        assert all(0 < i.unit_price <= i.list_price for i in o.items)
    assert any(o.discount > 0 for o in orders) and any(o.coupon_code for o in orders)
    assert any(o.shipping_fee > 0 for o in orders) and any(o.shipping_fee == 0 for o in orders)


def test_timestamps_follow_the_status(orders: list[Order]) -> None:
    for o in orders:
        stamps = [t for t in (o.created_at, o.paid_at, o.shipped_at, o.delivered_at, o.completed_at) if t]
        assert stamps == sorted(stamps) and stamps[-1] <= REF, o.order_no
        paid, shipped, delivered = o.paid_at is not None, o.shipped_at is not None, o.delivered_at is not None
        if o.status == OrderStatus.PENDING_PAYMENT:
            assert not paid and REF - o.created_at < timedelta(hours=24)
        elif o.status == OrderStatus.PAID:
            assert paid and not shipped
        elif o.status == OrderStatus.SHIPPED:
            assert shipped and not delivered
        elif o.status == OrderStatus.DELIVERED:
            assert delivered and o.completed_at is None
        elif o.status == OrderStatus.COMPLETED:
            assert delivered and o.completed_at is not None
        elif o.status == OrderStatus.CANCELLED:
            assert not paid and o.cancel_reason and o.cancelled_at
        else:  # refunding / refunded: cancelled after payment, or returned after delivery
            assert paid and o.cancel_reason and o.cancelled_at
            assert not shipped or delivered


def test_logistics_match_the_status(orders: list[Order]) -> None:
    for o in orders:
        if o.shipped_at is None:
            assert not o.events and o.carrier is None and o.tracking_no is None, o.order_no
            continue
        assert o.carrier in CARRIERS and o.tracking_no
        times = [e.at for e in o.events]
        assert times == sorted(times) and times[-1] <= REF
        assert o.events[0].at == o.shipped_at and "揽收" in o.events[0].description
        signed = [e for e in o.events if "已签收" in e.description]
        if o.delivered_at is None:
            assert not signed, o.order_no
        else:
            assert signed == [o.events[-1]] and o.events[-1].at == o.delivered_at
            assert any("运输中" in e.description for e in o.events)
            assert any("派送中" in e.description for e in o.events)
    in_transit = [o for o in orders if o.status == OrderStatus.SHIPPED]
    assert any(len(o.events) == 1 for o in in_transit) and any(len(o.events) > 2 for o in in_transit)
    assert {o.carrier for o in orders if o.carrier} == set(CARRIERS)


def test_delivered_orders_straddle_the_return_window(orders: list[Order]) -> None:
    delivered = [o for o in orders if o.status in (OrderStatus.DELIVERED, OrderStatus.COMPLETED)]
    ages = [REF - o.delivered_at for o in delivered if o.delivered_at]
    assert sum(age <= timedelta(days=7) for age in ages) >= 20
    assert sum(timedelta(days=7) < age <= timedelta(days=15) for age in ages) >= 20
    assert sum(age > timedelta(days=30) for age in ages) >= 100
    assert any(o.status == OrderStatus.DELIVERED and REF - o.delivered_at > timedelta(days=7)
               for o in delivered if o.delivered_at)


def test_campaigns_run_now_ended_and_upcoming() -> None:
    promotions, coupons = generate_promotions(REF), generate_coupons(REF)
    assert any(p.starts_at <= REF <= p.ends_at for p in promotions)
    assert any(p.ends_at < REF for p in promotions)
    assert any(p.starts_at > REF for p in promotions)
    assert {p.kind for p in promotions} >= {"threshold", "percent"}
    assert any(p.category is None for p in promotions) and any(p.category for p in promotions)
    assert any(c.ends_at < REF for c in coupons) and any(c.starts_at > REF for c in coupons)
    assert any(c.category for c in coupons) and any(c.brand for c in coupons)
    assert {"NEW20", "SHOE50"} <= {c.code for c in coupons}


def test_the_shop_is_deterministic_for_a_reference_time(orders: list[Order]) -> None:
    again = generate_shop(REF)
    assert sorted(again.orders, key=lambda o: o.order_no) == sorted(orders, key=lambda o: o.order_no)  # and round-trips
    later = generate_shop(REF + timedelta(days=3))
    assert [o.order_no for o in later.orders] == [o.order_no for o in again.orders]
    assert later.orders[0].created_at == again.orders[0].created_at + timedelta(days=3)


def test_seed_database_refuses_then_rebuilds(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "shop.db"
    seed_database(path, reference_time=REF)
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM orders WHERE status = 'paid'")
    with pytest.raises(FileExistsError):
        seed_database(path, reference_time=REF)
    counts = seed_database(path, reference_time=REF, overwrite=True)
    assert counts["orders.paid"] > 0
    assert not list(tmp_path.glob("nested/*.partial"))


def test_cli_prints_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cli.db"
    assert main(["--db", str(path), "--reference-time", "2026-11-25T09:00:00"]) == 0
    out = capsys.readouterr().out
    assert "orders" in out and "products" in out and "orders.shipped" in out
    assert main(["--db", str(path)]) == 1  # refuses without --force
    assert main(["--db", str(path), "--if-missing"]) == 0
    assert "left as it is" in capsys.readouterr().out
