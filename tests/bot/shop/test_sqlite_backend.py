"""SqliteShopBackend against a real seeded SQLite file: search, orders, campaigns, coupons, tickets."""
from __future__ import annotations

import shutil
import sqlite3
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Iterator

import pytest

from bot.shop import ensure_database, open_backend
from bot.shop.models import Order, OrderStatus, TicketKind
from bot.shop.seed import seed_database
from bot.shop.sqlite_backend import OrderNotFound, SqliteShopBackend

REF = datetime(2026, 11, 25, 9, 0, 0)
INJECTIONS = (
    "'; DROP TABLE products; --",
    "1' OR '1'='1",
    "\" OR 1=1 --",
    "2612345678901234'; DELETE FROM orders; --",
    "x'); UPDATE variants SET stock = 0; --",
)
GARBAGE = ("😀😀😀", "🛒🔥💯", "?!@#$%^&*()", "\x00\x01\x02", "   ", "", "a" * 10_000, "买" * 10_000, "%_%", "\\")


@pytest.fixture(scope="module")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("shop") / "shop.db"
    seed_database(path, reference_time=REF)
    return path


@pytest.fixture(scope="module")
def shop(seeded_db: Path) -> Iterator[SqliteShopBackend]:
    """Read-only use: tests that change data take `fresh_shop`."""
    with SqliteShopBackend(seeded_db, clock=lambda: REF) as backend:
        yield backend


@pytest.fixture
def fresh_shop(seeded_db: Path, tmp_path: Path) -> Iterator[SqliteShopBackend]:
    """A private copy of the seeded shop for tests that write."""
    copy = tmp_path / "shop.db"
    shutil.copy(seeded_db, copy)
    with SqliteShopBackend(copy, clock=lambda: REF) as backend:
        yield backend


def first_order(shop: SqliteShopBackend, status: OrderStatus, where: Callable[[Order], bool] = lambda o: True) -> Order:
    """The newest order in `status` that satisfies `where`."""
    for order in shop.find_orders(status, limit=5000):
        if where(order):
            return order
    raise AssertionError(f"the seeded shop has no {status.value} order like that")


def table_counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("products", "variants", "orders", "order_items", "coupons", "promotions", "tickets")}


# --------------------------------------------------------------------------- products


@pytest.mark.parametrize("mention, expected", [
    ("耐克跑鞋", "耐克 Air Zoom 跑步鞋"),
    ("我想买双耐克的跑鞋，42码", "耐克 Air Zoom 跑步鞋"),
    ("nike 跑鞋", "耐克 Air Zoom 跑步鞋"),
    ("小黑瓶", "兰蔻 小黑瓶 50ml 精华液"),
    ("Air Zoom", "耐克 Air Zoom 跑步鞋"),
    ("  air   ZOOM ", "耐克 Air Zoom 跑步鞋"),
    ("ＡＩＲ　ＺＯＯＭ", "耐克 Air Zoom 跑步鞋"),  # full-width
    ("AirZoom", "耐克 Air Zoom 跑步鞋"),
    ("Ultraboost", "阿迪达斯 Ultraboost 跑步鞋"),
    ("华为手机", "华为 Mate 60 手机"),
    ("mate60", "华为 Mate 60 手机"),
    ("小米14", "小米 14 手机"),
    ("戴森吹风机", "戴森 HD15 吹风机"),
    ("KT9", "安踏 KT9 篮球鞋"),
    ("特仑苏", "蒙牛 特仑苏 250ml*12盒 纯牛奶"),
    ("雅诗兰黛小棕瓶", "雅诗兰黛 小棕瓶 50ml 精华液"),
    ("空气炸锅", "美的 5L 空气炸锅"),
    ("thinkpad", "联想 ThinkPad X1 Carbon 笔记本电脑"),
])
def test_resolve_product_understands_colloquial_mentions(shop: SqliteShopBackend, mention: str,
                                                         expected: str) -> None:
    product = shop.resolve_product(mention)
    assert product is not None and product.name == expected


@pytest.mark.parametrize("mention, type_name", [
    ("尿不湿", "纸尿裤"), ("手环", "智能手环"), ("电吹风", "吹风机"), ("跑鞋", "跑步鞋"), ("移动电源", "充电宝"),
    ("毛衣", "针织衫"), ("推车", "婴儿推车"), ("锅", "不粘锅"),
])
def test_resolve_product_by_type_alias(shop: SqliteShopBackend, mention: str, type_name: str) -> None:
    product = shop.resolve_product(mention)
    assert product is not None and product.type_name == type_name


def test_resolve_product_with_brand_hint(shop: SqliteShopBackend) -> None:
    assert shop.resolve_product("跑鞋", brand="李宁").name == "李宁 赤兔6 跑步鞋"
    assert shop.resolve_product("手环", brand="huawei").brand == "华为"
    assert shop.resolve_product("手环", brand="戴森") is None


@pytest.mark.parametrize("mention", ["华为", "鞋子", "家电", "苹果手机", "iPhone 15", "随便看看", "你好"])
def test_resolve_product_refuses_vague_or_unsold(shop: SqliteShopBackend, mention: str) -> None:
    assert shop.resolve_product(mention) is None


@pytest.mark.parametrize("garbage", GARBAGE + INJECTIONS)
def test_garbage_finds_nothing(shop: SqliteShopBackend, garbage: str) -> None:
    assert shop.resolve_product(garbage) is None
    if garbage.strip():
        assert shop.find_products(garbage) == []


def test_non_strings_are_rejected_quietly(shop: SqliteShopBackend) -> None:
    assert shop.resolve_product(None) is None  # type: ignore[arg-type]
    assert shop.get_product("1") is None  # type: ignore[arg-type]
    assert shop.get_order(2612345678901234) is None  # type: ignore[arg-type]
    assert shop.verify_order("2612345678901234", 1234) is None  # type: ignore[arg-type]
    assert shop.get_coupon(None) is None  # type: ignore[arg-type]


def test_find_products_ranks_and_filters(shop: SqliteShopBackend) -> None:
    shoes = shop.find_products("耐克跑鞋", limit=3)
    assert [p.name for p in shoes[:2]] == ["耐克 Air Zoom 跑步鞋", "耐克 Pegasus 41 跑步鞋"]
    assert all(p.type_name == "跑步鞋" for p in shoes)
    assert len(shop.find_products("鞋", limit=50)) == 25
    assert {p.brand for p in shop.find_products("跑鞋", brand="nike", limit=20)} == {"耐克"}
    assert {p.category for p in shop.find_products(category="家电", limit=100)} == {"家用电器"}
    cheap = shop.find_products("羽绒服", max_price=800, limit=50)
    assert cheap and all(p.price <= 800 and "羽绒服" in p.type_name for p in cheap)
    assert all(p.price >= 5000 for p in shop.find_products(min_price=5000, limit=100))
    assert len(shop.find_products(limit=1000)) == 100  # capped
    assert shop.find_products("手机", limit=0) == []


def test_get_product_has_variants_and_stock(shop: SqliteShopBackend) -> None:
    product = shop.resolve_product("Air Zoom")
    assert product is not None
    again = shop.get_product(product.id)
    assert again == product
    assert len(product.variants) == len(product.colours) * len(product.sizes) == 27
    assert product.stock_of() == sum(v.stock for v in product.variants)
    assert product.variant("黑色", "42") is not None and product.variant("紫色", "42") is None
    assert product.specs["品牌"] == "耐克" and "保养" in product.usage
    assert shop.get_product(999_999) is None


# --------------------------------------------------------------------------- orders


def test_verify_order(shop: SqliteShopBackend) -> None:
    order = first_order(shop, OrderStatus.SHIPPED)
    last4 = order.phone[-4:]
    wrong = f"{(int(last4) + 1) % 10000:04d}"
    assert shop.verify_order(order.order_no, last4) == order
    assert shop.verify_order(f" {order.order_no[:8]} {order.order_no[8:]} ", f" {last4} ") == order
    assert shop.verify_order(order.order_no, wrong) is None
    assert shop.verify_order(order.order_no, order.phone) is None  # the whole number is not the last four
    assert shop.verify_order(order.order_no, last4[:3]) is None
    assert shop.verify_order("2600000000000000", last4) is None
    assert shop.verify_order("26000", last4) is None
    for attack in INJECTIONS:
        assert shop.verify_order(order.order_no, attack) is None
        assert shop.verify_order(attack, last4) is None


def test_get_order_loads_items_and_events(shop: SqliteShopBackend) -> None:
    order = first_order(shop, OrderStatus.COMPLETED, lambda o: len(o.items) > 1)
    loaded = shop.get_order(order.order_no)
    assert loaded == order
    assert loaded.items[0].product_name and loaded.events[-1].description.startswith("已签收")
    assert shop.get_order("2600000000000000") is None
    assert shop.get_order("") is None


def test_find_orders_by_status_newest_first(shop: SqliteShopBackend) -> None:
    for status in OrderStatus:
        found = shop.find_orders(status, limit=5)
        assert 0 < len(found) <= 5 and all(o.status == status for o in found)
        assert [o.created_at for o in found] == sorted((o.created_at for o in found), reverse=True)
    newest = shop.find_orders(limit=3)
    assert len(newest) == 3 and newest[0].created_at >= newest[-1].created_at


def test_injection_strings_leave_the_data_intact(fresh_shop: SqliteShopBackend) -> None:
    before = table_counts(fresh_shop.path)
    order = first_order(fresh_shop, OrderStatus.PAID)
    for attack in INJECTIONS:
        fresh_shop.find_products(attack, brand=attack, category=attack)
        fresh_shop.resolve_product(attack, brand=attack)
        fresh_shop.get_order(attack)
        fresh_shop.get_coupon(attack)
        fresh_shop.check_coupon(attack, 100.0)
        fresh_shop.active_promotions(category=attack)
        fresh_shop.get_ticket(attack)
        fresh_shop.tickets_for_order(attack)
    fresh_shop.update_order(order.order_no, address="北京市朝阳区'; DROP TABLE orders; -- 1号")
    ticket = fresh_shop.create_ticket(TicketKind.COMPLAINT, order_no=order.order_no,
                                      details={"text": INJECTIONS[0]}, severity="low")
    assert fresh_shop.get_order(order.order_no).address == "北京市朝阳区'; DROP TABLE orders; -- 1号"
    assert fresh_shop.get_ticket(ticket.ticket_no).details == {"text": INJECTIONS[0]}
    after = table_counts(fresh_shop.path)
    assert after == {**before, "tickets": before["tickets"] + 1}


def test_cancel_order_puts_stock_back(fresh_shop: SqliteShopBackend) -> None:
    order = first_order(fresh_shop, OrderStatus.PAID)
    item = order.items[0]
    stock_before = fresh_shop.get_product(item.product_id).variant(item.colour, item.size).stock
    cancelled = fresh_shop.cancel_order(order.order_no, "不想要了")
    assert cancelled.status == OrderStatus.CANCELLED
    assert cancelled.cancel_reason == "不想要了" and cancelled.cancelled_at == REF
    assert fresh_shop.get_order(order.order_no).status == OrderStatus.CANCELLED
    stock_after = fresh_shop.get_product(item.product_id).variant(item.colour, item.size).stock
    assert stock_after == stock_before + sum(i.quantity for i in order.items if i.sku == item.sku)
    with pytest.raises(OrderNotFound):
        fresh_shop.cancel_order("2600000000000000", "x")


def test_update_order_contact_details(fresh_shop: SqliteShopBackend) -> None:
    order = first_order(fresh_shop, OrderStatus.PAID)
    updated = fresh_shop.update_order(order.order_no, address="上海市浦东新区世纪大道100号 2栋301室",
                                      phone="139 1234 5678", delivery_slot="周末")
    assert (updated.address, updated.phone, updated.delivery_slot) == (
        "上海市浦东新区世纪大道100号 2栋301室", "13912345678", "周末")
    assert fresh_shop.verify_order(order.order_no, "5678") == updated
    with pytest.raises(ValueError):
        fresh_shop.update_order(order.order_no, phone="12345")
    with pytest.raises(ValueError):
        fresh_shop.update_order(order.order_no, address="")
    with pytest.raises(OrderNotFound):
        fresh_shop.update_order("2600000000000000", delivery_slot="周末")
    assert fresh_shop.get_order(order.order_no) == updated  # failed updates changed nothing


# --------------------------------------------------------------------------- promotions and coupons


def test_active_promotions(shop: SqliteShopBackend) -> None:
    running = shop.active_promotions()
    assert running and all(p.starts_at <= REF <= p.ends_at for p in running)
    everything = shop.promotions()
    assert len(everything) > len(running)
    shoes = shop.active_promotions(category="鞋靴")
    assert {p.category for p in shoes} == {None, "鞋靴"}
    assert {p.category for p in shop.active_promotions(category="鞋子")} == {None, "鞋靴"}  # alias
    later = shop.active_promotions(at=REF + timedelta(days=16))
    assert any(p.title.startswith("年货节") for p in later)
    assert not any(p.title.startswith("年货节") for p in running)


def test_coupons(shop: SqliteShopBackend) -> None:
    assert shop.get_coupon("new20") == shop.get_coupon(" NEW20 ") != None  # noqa: E711
    assert shop.get_coupon("NOPE99") is None
    codes = {c.code for c in shop.active_coupons()}
    assert {"NEW20", "SHOE50", "NIKE100"} <= codes
    assert not {"SUMMER30", "OUTDOOR40", "DYSON200"} & codes


def test_check_coupon_explains_itself(shop: SqliteShopBackend) -> None:
    air_zoom = shop.resolve_product("Air Zoom")
    ultraboost = shop.resolve_product("Ultraboost")
    milk = shop.resolve_product("特仑苏")

    ok = shop.check_coupon("shoe50", 450, product=air_zoom)
    assert ok.applies and ok.discount == 50 and "立减¥50" in ok.reason and "¥400" in ok.reason

    short = shop.check_coupon("SHOE50", 350.5, product=air_zoom)
    assert not short.applies and "还差¥48.50" in short.reason

    wrong_category = shop.check_coupon("SHOE50", 450, product=milk)
    assert not wrong_category.applies and "鞋靴" in wrong_category.reason and "食品饮料" in wrong_category.reason

    wrong_brand = shop.check_coupon("NIKE100", 1200, product=ultraboost)
    assert not wrong_brand.applies and "耐克" in wrong_brand.reason
    assert shop.check_coupon("NIKE100", 1200, product=air_zoom).applies

    expired = shop.check_coupon("SUMMER30", 500)
    assert not expired.applies and "过期" in expired.reason
    not_started = shop.check_coupon("DYSON200", 3000)
    assert not not_started.applies and "还没开始" in not_started.reason

    unknown = shop.check_coupon("NOPE99", 500)
    assert not unknown.applies and "没有找到" in unknown.reason and "NOPE99" in unknown.reason

    no_product = shop.check_coupon("SHOE50", 450)
    assert no_product.applies and "仅限鞋靴商品" in no_product.reason
    assert not shop.check_coupon("NEW20", -5).applies


# --------------------------------------------------------------------------- tickets


def test_ticket_numbers_count_per_day(seeded_db: Path, tmp_path: Path) -> None:
    copy = tmp_path / "tickets.db"
    shutil.copy(seeded_db, copy)
    clock = {"now": REF}
    with SqliteShopBackend(copy, clock=lambda: clock["now"]) as shop:
        order = first_order(shop, OrderStatus.DELIVERED)
        first = shop.create_ticket(TicketKind.RETURN, order_no=order.order_no, details={"sku": order.items[0].sku})
        second = shop.create_ticket("complaint", order_no=None, details={"text": "客服太慢"}, category="服务",
                                    severity="high")
        assert (first.ticket_no, second.ticket_no) == ("T202611250001", "T202611250002")
        assert first.kind == TicketKind.RETURN and first.status == "open" and first.created_at == REF
        assert second.kind == TicketKind.COMPLAINT and second.severity == "high" and second.order_no is None
        clock["now"] = REF + timedelta(days=1)
        third = shop.create_ticket(TicketKind.REPAIR, order_no=order.order_no, details={})
        assert third.ticket_no == "T202611260001"
        assert shop.get_ticket("t202611250002") == second
        assert shop.get_ticket("T209901010001") is None
        assert [t.ticket_no for t in shop.tickets_for_order(order.order_no)] == ["T202611250001", "T202611260001"]
        assert shop.tickets_for_order("2600000000000000") == []
        with pytest.raises(ValueError):
            shop.create_ticket("nonsense", order_no=None, details={})
        with pytest.raises(ValueError):
            shop.create_ticket(TicketKind.COMPLAINT, order_no=None, details={}, severity="urgent")


def test_tickets_from_many_threads_get_distinct_numbers(fresh_shop: SqliteShopBackend) -> None:
    numbers: list[str] = []

    def file_tickets() -> None:
        for _ in range(10):
            numbers.append(fresh_shop.create_ticket(TicketKind.CALLBACK, order_no=None, details={}).ticket_no)

    threads = [threading.Thread(target=file_tickets) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(numbers) == [f"T20261125{n:04d}" for n in range(1, 81)]


def test_tickets_from_two_processes_worth_of_connections(seeded_db: Path, tmp_path: Path) -> None:
    """Two backends on one file (like the action server and a tool) share the day's sequence."""
    copy = tmp_path / "shared.db"
    shutil.copy(seeded_db, copy)
    with SqliteShopBackend(copy, clock=lambda: REF) as a, SqliteShopBackend(copy, clock=lambda: REF) as b:
        numbers = [x.create_ticket(TicketKind.CALLBACK, order_no=None, details={}).ticket_no for x in (a, b, a, b)]
    assert numbers == [f"T20261125{n:04d}" for n in range(1, 5)]


# --------------------------------------------------------------------------- opening


def test_open_backend_seeds_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "state" / "shop.db"
    backend = open_backend(path)
    try:
        assert path.exists() and backend.find_orders(limit=1)
        assert backend.reference_time is not None  # type: ignore[attr-defined]
    finally:
        backend.close()  # type: ignore[attr-defined]
    stamp = path.stat().st_mtime_ns
    assert ensure_database(path) == path and path.stat().st_mtime_ns == stamp  # existing file left alone


def test_missing_file_is_an_error_not_an_empty_shop(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        SqliteShopBackend(tmp_path / "nothing.db")
    assert not (tmp_path / "nothing.db").exists()
