"""Builds the demo shop: products, customers, orders, promotions and coupons in SQLite.

Everything is deterministic for a given `seed`. Products do not depend on time at all
(the NLU asset generator calls `generate_products()` to build lookup tables); orders,
promotions and coupons are laid out relative to `reference_time` (default: now), so a
freshly seeded shop always has orders delivered yesterday, last week and last month.

Run:
    python -m bot.shop.seed --if-missing                 # SHOP_DB (default .state/shop.db), unless it exists
    python -m bot.shop.seed --db .state/shop.db          # refuses to overwrite an existing file
    python -m bot.shop.seed --db .state/shop.db --force  # rebuilds from scratch
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import sqlite3
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Optional, Sequence

from bot.shop import policy
from bot.shop.catalog import ProductLine, product_lines
from bot.shop.db_time import to_db_time
from bot.shop.models import (
    Coupon,
    LogisticsEvent,
    Order,
    OrderItem,
    OrderStatus,
    Product,
    Promotion,
    Variant,
)

SCHEMA_PATH = Path(__file__).with_name("schema.sql")
DEFAULT_SEED = 7
ORDER_COUNT = 2400
ORDER_DAYS = 120
CUSTOMER_COUNT = 900
PAYMENT_TIMEOUT = timedelta(hours=24)  # unpaid orders are cancelled after this
AUTO_CONFIRM = timedelta(days=10)  # delivered orders complete automatically after this
CARRIERS = ("顺丰速运", "中通快递", "圆通速递", "京东物流", "韵达快递")


# --------------------------------------------------------------------------- products

PREMIUM_BRANDS = frozenset({"戴森", "兰蔻", "雅诗兰黛", "耐克", "阿迪达斯", "华为", "双立人", "波司登", "罗技"})
BUDGET_BRANDS = frozenset({"得力", "海澜之家", "九阳", "良品铺子", "迪卡侬", "完美日记", "小米"})


def _shop_price(rng: random.Random, low: int, high: int, brand: str) -> int:
    """A list price in [low, high] that ends in 9 (in 99 above 1000 yuan), nudged by the brand's tier."""
    mid = (low + high) // 2
    if brand in PREMIUM_BRANDS:
        low = mid
    elif brand in BUDGET_BRANDS:
        high = max(mid, low)
    raw = rng.randint(low, high)
    step = 100 if raw >= 1000 else 10
    price = raw // step * step + step - 1
    while price > high and price - step >= low:
        price -= step
    return max(min(price, high), low)


def _norm_size(text: str) -> str:
    return text.lower().removesuffix("码").removesuffix("床")


def _sizes_for(line: ProductLine) -> tuple[str, ...]:
    """The type's sizes, narrowed to the one the model names ("小黑瓶 50ml" only comes in 50ml)."""
    tokens = {_norm_size(t) for t in line.model.split()}
    named = tuple(s for s in line.type.sizes if _norm_size(s) in tokens)
    return named or line.type.sizes


def _specs_for(line: ProductLine, rng: random.Random, sizes: Sequence[str]) -> dict[str, str]:
    specs: dict[str, str] = {"品牌": line.brand, "型号": line.model}
    for key, choices in TYPE_SPECS[line.type.name].items():
        specs[key] = rng.choice(choices).format(model=line.model, size=" / ".join(sizes))
    if "长白山" in line.model:
        specs["水源地"] = "吉林长白山"
    chart = SIZE_CHARTS.get((line.category.name, line.type.sizes[0]))
    if chart is not None and len(sizes) > 1:
        specs["尺码表"] = chart
    if len(sizes) > 1 and chart is None:
        specs["可选规格"] = " / ".join(sizes)
    specs["保修"] = f"{line.type.warranty_months}个月" if line.type.warranty_months else "不提供保修，质量问题签收15天内可退换"
    specs[f"{policy.NO_REASON_RETURN_DAYS}天无理由退货"] = "支持（商品未使用、不影响二次销售）" if line.type.returnable else "不支持"
    return specs


def _stock(rng: random.Random, price: int) -> int:
    """Units in stock for one variant: about one in eight sold out, one in ten nearly."""
    roll = rng.random()
    if roll < 0.12:
        return 0
    if roll < 0.22:
        return rng.randint(1, 5)
    return rng.randint(6, 500 if price < 100 else 200 if price < 1000 else 60)


def generate_products(seed: int = DEFAULT_SEED) -> list[Product]:
    """Every product of the catalog with price, variants, stock, specs and usage text.

    Needs no database and no clock: the same seed gives the same products, names and ids.
    """
    rng = random.Random(seed)
    products: list[Product] = []
    for product_id, line in enumerate(product_lines(), start=1):
        price = _shop_price(rng, *line.type.price_range, line.brand)
        sizes = _sizes_for(line)
        sold_out = rng.random() < 0.05
        variants = tuple(
            Variant(
                sku=f"{product_id:04d}-{ci + 1:02d}-{line.type.sizes.index(size) + 1:02d}",
                product_id=product_id,
                colour=colour,
                size=size,
                stock=0 if sold_out else _stock(rng, price),
            )
            for ci, colour in enumerate(line.type.colours)
            for size in sizes
        )
        products.append(Product(
            id=product_id,
            name=line.name,
            brand=line.brand,
            category=line.category.name,
            type_name=line.type.name,
            price=float(price),
            specs=_specs_for(line, rng, sizes),
            usage=TYPE_USAGE[line.type.name],
            warranty_months=line.type.warranty_months,
            returnable=line.type.returnable,
            variants=variants,
            model=line.model,
        ))
    return products


# --------------------------------------------------------------------------- customers

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN_CHARS = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬鑫宇浩然子涵欣怡梓轩一诺雨桐"
    "思远嘉怡晨曦俊杰佳琪文博雅婷志强海燕建国丹丹晓东慧敏浩宇梦瑶子豪"
)
PHONE_PREFIXES = (
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151", "152", "153", "155",
    "156", "157", "158", "159", "166", "173", "175", "176", "177", "178", "180", "181", "182", "183", "185",
    "186", "187", "188", "189", "191", "198", "199",
)
# (province, city, districts); municipalities have no province prefix.
REGIONS = (
    ("", "北京市", ("朝阳区", "海淀区", "丰台区", "西城区", "通州区")),
    ("", "上海市", ("浦东新区", "徐汇区", "闵行区", "静安区", "杨浦区")),
    ("", "天津市", ("南开区", "和平区", "河西区")),
    ("", "重庆市", ("渝北区", "江北区", "九龙坡区")),
    ("广东省", "广州市", ("天河区", "海珠区", "番禺区", "白云区")),
    ("广东省", "深圳市", ("南山区", "福田区", "宝安区", "龙岗区")),
    ("广东省", "东莞市", ("南城街道", "东城街道", "松山湖街道")),
    ("浙江省", "杭州市", ("西湖区", "滨江区", "余杭区", "拱墅区")),
    ("浙江省", "宁波市", ("鄞州区", "海曙区")),
    ("江苏省", "南京市", ("鼓楼区", "玄武区", "江宁区")),
    ("江苏省", "苏州市", ("姑苏区", "工业园区", "吴中区")),
    ("四川省", "成都市", ("武侯区", "锦江区", "高新区", "双流区")),
    ("湖北省", "武汉市", ("洪山区", "武昌区", "江汉区")),
    ("湖南省", "长沙市", ("岳麓区", "雨花区", "开福区")),
    ("陕西省", "西安市", ("雁塔区", "碑林区", "未央区")),
    ("山东省", "济南市", ("历下区", "市中区")),
    ("山东省", "青岛市", ("市南区", "崂山区", "黄岛区")),
    ("河南省", "郑州市", ("金水区", "二七区", "郑东新区")),
    ("福建省", "厦门市", ("思明区", "湖里区")),
    ("辽宁省", "沈阳市", ("和平区", "浑南区")),
    ("安徽省", "合肥市", ("蜀山区", "包河区")),
    ("云南省", "昆明市", ("五华区", "盘龙区")),
)
STREETS = (
    "人民路", "解放路", "中山路", "建设路", "文三路", "学院路", "长江路", "和平大街", "科技园路", "新华街",
    "望京街", "金融街", "滨江大道", "南京路", "天府大道", "光谷大道", "花园路", "青年路", "湖滨路", "东风路",
)
COMMUNITIES = (
    "阳光花园", "翠苑小区", "金色家园", "万科城", "保利花园", "碧桂园", "绿城桂花苑", "龙湖春江郦城", "世纪新城",
    "锦绣江南", "东方明珠苑", "幸福里", "和谐家园", "香樟园", "融创壹号院", "中海国际社区",
)
# Warehouses products ship from.
WAREHOUSE_CITIES = ("杭州市", "广州市", "上海市", "北京市", "武汉市", "成都市", "苏州市", "东莞市")


@dataclass(frozen=True)
class Customer:
    id: int
    name: str
    phone: str
    address: str
    city: str


def _chinese_name(rng: random.Random) -> str:
    given = "".join(rng.choice(GIVEN_CHARS) for _ in range(rng.choice((1, 2, 2))))
    return rng.choice(SURNAMES) + given


def _address(rng: random.Random) -> tuple[str, str]:
    province, city, districts = rng.choice(REGIONS)
    text = (
        f"{province}{city}{rng.choice(districts)}{rng.choice(STREETS)}{rng.randint(1, 999)}号"
        f"{rng.choice(COMMUNITIES)}{rng.randint(1, 30)}栋{rng.randint(1, 4)}单元"
        f"{rng.randint(1, 32)}{rng.randint(1, 4):02d}室"
    )
    return text, city


def generate_customers(rng: random.Random, count: int = CUSTOMER_COUNT) -> list[Customer]:
    customers: list[Customer] = []
    phones: set[str] = set()
    while len(customers) < count:
        phone = rng.choice(PHONE_PREFIXES) + f"{rng.randrange(10**8):08d}"
        if phone in phones:
            continue
        phones.add(phone)
        address, city = _address(rng)
        customers.append(Customer(len(customers) + 1, _chinese_name(rng), phone, address, city))
    return customers


# --------------------------------------------------------------------------- promotions, coupons


def _day_start(ref: datetime, days: int) -> datetime:
    return (ref + timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)


def _day_end(ref: datetime, days: int) -> datetime:
    return (ref + timedelta(days=days)).replace(hour=23, minute=59, second=59, microsecond=0)


def generate_promotions(ref: datetime) -> list[Promotion]:
    """Campaigns around `ref`: five running, three over, two still to come."""
    rows = (
        # title, description, start day, end day, kind, threshold, discount, category
        ("冬季焕新 全场满300减40", "全场商品实付满300元立减40元，可与店铺优惠券叠加使用。", -5, 9, "threshold", 300, 40, None),
        ("鞋靴专场 满500减80", "鞋靴类商品满500元立减80元。", -2, 5, "threshold", 500, 80, "鞋靴"),
        ("美妆节 全场9折", "美妆护肤类商品一律9折，限时特惠。", -10, 20, "percent", 0, 0.9, "美妆护肤"),
        ("零食节 满99减10", "食品饮料满99元减10元，囤货好时机。", -30, 30, "threshold", 99, 10, "食品饮料"),
        ("母婴囤货季 满299送湿巾", "母婴用品满299元赠送婴儿湿巾80抽×3包，赠品随订单发出。", -3, 10, "gift", 299, 0,
         "母婴用品"),
        ("家电焕新 满1000减150", "家用电器满1000元立减150元。", -60, -45, "threshold", 1000, 150, "家用电器"),
        ("开学季 全场满199减20", "全场满199元减20元。", -100, -86, "threshold", 199, 20, None),
        ("户外运动节 8折", "运动户外类商品8折。", -40, -33, "percent", 0, 0.8, "运动户外"),
        ("女装上新 85折", "女装新品85折，提前加购。", 7, 21, "percent", 0, 0.85, "女装"),
        ("年货节 全场满400减50", "年货节全场满400元减50元，每单限用一次。", 15, 30, "threshold", 400, 50, None),
    )
    return [
        Promotion(i, title, desc, _day_start(ref, start), _day_end(ref, end), kind, float(threshold),
                  float(discount), category)
        for i, (title, desc, start, end, kind, threshold, discount, category) in enumerate(rows, start=1)
    ]


def generate_coupons(ref: datetime) -> list[Coupon]:
    """Coupon codes around `ref`: most usable now, two expired, one not started yet."""
    rows = (
        # code, title, threshold, amount, start day, end day, category, brand
        ("NEW20", "新人专享券 满99减20", 99, 20, -90, 90, None, None),
        ("SHOE50", "鞋靴券 满399减50", 399, 50, -20, 10, "鞋靴", None),
        ("BEAUTY30", "美妆护肤券 满299减30", 299, 30, -15, 15, "美妆护肤", None),
        ("NIKE100", "耐克品牌券 满999减100", 999, 100, -10, 20, None, "耐克"),
        ("DIGI100", "数码券 满1000减100", 1000, 100, -30, 30, "手机数码", None),
        ("HOME15", "家居厨具券 满149减15", 149, 15, -7, 23, "家居厨具", None),
        ("FOOD10", "零食券 满59减10", 59, 10, -45, 45, "食品饮料", None),
        ("BABY30", "母婴券 满299减30", 299, 30, -5, 25, "母婴用品", None),
        ("VIP50", "会员券 满500减50", 500, 50, -60, 60, None, None),
        ("WINTER80", "男装冬季券 满599减80", 599, 80, -10, 20, "男装", None),
        ("SUMMER30", "夏日券 满199减30", 199, 30, -120, -60, None, None),
        ("OUTDOOR40", "户外券 满300减40", 300, 40, -50, -20, "运动户外", None),
        ("DYSON200", "戴森品牌券 满2000减200", 2000, 200, 5, 35, None, "戴森"),
    )
    return [
        Coupon(code, title, float(threshold), float(amount), _day_start(ref, start), _day_end(ref, end), category,
               brand)
        for code, title, threshold, amount, start, end, category, brand in rows
    ]


# --------------------------------------------------------------------------- orders

DELIVERY_SLOTS = (None, None, None, "不限时间", "工作日 9:00-18:00", "周末及节假日", "晚上 18:00-21:00")
BUYER_CANCEL_REASONS = ("拍错了/多拍了", "不想要了", "地址填写错误，重新下单", "商品降价了，重新下单", "付款方式有问题")
PAID_CANCEL_REASONS = ("不想要了", "拍错规格了", "发货太慢", "重复下单")
RETURN_REASONS = ("尺码不合适", "七天无理由退货", "商品有质量问题", "与描述不符", "收到商品破损", "发错货了")
COURIER_SURNAMES = "王李张刘陈杨黄赵吴周"
SIGNERS = ("本人", "本人", "家门口", "快递柜", "门卫代收", "前台代收", "家人代收")


def _digits(rng: random.Random, n: int) -> str:
    return f"{rng.randrange(10**n):0{n}d}"


TRACKING_PREFIXES = {"顺丰速运": ("SF", 13), "中通快递": ("78", 13), "圆通速递": ("YT", 13), "京东物流": ("JDX", 12),
                     "韵达快递": ("43", 13)}


def _tracking_no(rng: random.Random, carrier: str) -> str:
    prefix, length = TRACKING_PREFIXES[carrier]
    return prefix + _digits(rng, length)


def _short(city: str) -> str:
    return city.removesuffix("市")


def _route(rng: random.Random, carrier: str, origin: str, dest: str, address: str, shipped_at: datetime,
           delivered_at: datetime) -> list[LogisticsEvent]:
    """Every logistics event from pick-up to signature; callers cut it at the reference time."""
    transit = delivered_at - shipped_at
    district = re.search(r"市(.+?(?:区|县|街道))", address)
    station = f"{_short(dest)}{district.group(1) if district else ''}营业部"
    courier = f"{rng.choice(COURIER_SURNAMES)}师傅"
    courier_phone = rng.choice(PHONE_PREFIXES) + f"{rng.randrange(10**8):08d}"
    events = [
        LogisticsEvent(shipped_at, origin, f"已揽收：{carrier}【{_short(origin)}仓储中心】已揽件，准备发往转运中心"),
        LogisticsEvent(shipped_at + transit * 0.12, origin, f"运输中：快件已到达【{_short(origin)}转运中心】"),
    ]
    if origin != dest:
        events.append(LogisticsEvent(shipped_at + transit * 0.2, origin,
                                     f"运输中：快件已从【{_short(origin)}转运中心】发出，下一站【{_short(dest)}转运中心】"))
        events.append(LogisticsEvent(shipped_at + transit * 0.7, dest, f"运输中：快件已到达【{_short(dest)}转运中心】"))
    out_for_delivery = delivered_at - min(timedelta(minutes=rng.randint(60, 300)), transit * 0.2)
    events.append(LogisticsEvent(out_for_delivery, dest,
                                 f"派送中：【{station}】快递员{courier}（电话 {courier_phone}）正在为您派送，请保持电话畅通"))
    events.append(LogisticsEvent(delivered_at, dest,
                                 f"已签收：您的快件已签收，签收人：{rng.choice(SIGNERS)}。感谢使用{carrier}，期待再次为您服务"))
    return [LogisticsEvent(e.at.replace(microsecond=0), e.location, e.description) for e in events]


@dataclass
class _Cart:
    product: Product
    variant: Variant
    quantity: int

    @property
    def list_total(self) -> float:
        return self.product.price * self.quantity


def _allocate(carts: list[_Cart], eligible: list[int], amount: float, offs: list[float]) -> None:
    base = sum(carts[i].list_total for i in eligible)
    for i in eligible:
        offs[i] += amount * carts[i].list_total / base


def _promotion_off(promotion: Promotion, carts: list[_Cart]) -> tuple[float, list[int]]:
    eligible = [i for i, c in enumerate(carts) if promotion.category in (None, c.product.category)]
    base = sum(carts[i].list_total for i in eligible)
    if not eligible or base < promotion.threshold:
        return 0.0, eligible
    if promotion.kind == "threshold":
        return promotion.discount, eligible
    if promotion.kind == "percent":
        return round(base * (1 - promotion.discount), 2), eligible
    return 0.0, eligible


def _price(rng: random.Random, carts: list[_Cart], at: datetime, promotions: Sequence[Promotion],
           coupons: Sequence[Coupon]) -> tuple[list[float], Optional[str]]:
    """Unit prices actually paid after the best running promotion and, sometimes, a coupon."""
    offs = [0.0] * len(carts)
    best = max(((_promotion_off(p, carts), p) for p in promotions if p.starts_at <= at <= p.ends_at),
               key=lambda pair: pair[0][0], default=None)
    if best is not None and best[0][0] > 0:
        (amount, eligible), _ = best
        _allocate(carts, eligible, amount, offs)
    coupon_code = None
    if rng.random() < 0.18:
        usable = []
        for coupon in coupons:
            if not coupon.starts_at <= at <= coupon.ends_at:
                continue
            eligible = [i for i, c in enumerate(carts)
                        if coupon.category in (None, c.product.category) and coupon.brand in (None, c.product.brand)]
            if eligible and sum(carts[i].list_total - offs[i] for i in eligible) >= coupon.threshold:
                usable.append((coupon, eligible))
        if usable:
            coupon, eligible = rng.choice(usable)
            _allocate(carts, eligible, coupon.amount, offs)
            coupon_code = coupon.code
    units = [max(0.01, round(c.product.price - offs[i] / c.quantity, 2)) for i, c in enumerate(carts)]
    return units, coupon_code


@dataclass
class _Timeline:
    status: OrderStatus
    paid_at: Optional[datetime] = None
    shipped_at: Optional[datetime] = None
    delivered_at: Optional[datetime] = None
    completed_at: Optional[datetime] = None
    cancelled_at: Optional[datetime] = None
    cancel_reason: Optional[str] = None
    events: list[LogisticsEvent] = field(default_factory=list)
    carrier: Optional[str] = None
    tracking_no: Optional[str] = None


def _minutes(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(seconds=int(rng.uniform(low, high) * 60))


def _lifecycle(rng: random.Random, created: datetime, ref: datetime, customer: Customer) -> _Timeline:
    """Plays an order forward from `created` and stops at `ref`: what has happened so far."""
    roll = rng.random()
    if roll < 0.08:  # never paid: the buyer cancels, or the system does after 24 hours
        if rng.random() < 0.4:
            cancelled = created + _minutes(rng, 5, 6 * 60)
            reason = rng.choice(BUYER_CANCEL_REASONS)
        else:
            cancelled, reason = created + PAYMENT_TIMEOUT, "超时未付款，系统自动取消"
        if cancelled <= ref:
            return _Timeline(OrderStatus.CANCELLED, cancelled_at=cancelled, cancel_reason=reason)
        return _Timeline(OrderStatus.PENDING_PAYMENT)
    paid = created + (_minutes(rng, 1, 40) if roll < 0.88 else _minutes(rng, 40, 12 * 60))  # most pay at once
    if paid > ref:
        return _Timeline(OrderStatus.PENDING_PAYMENT)
    shipped = paid + _minutes(rng, 3 * 60, 48 * 60)
    if rng.random() < 0.04:  # cancelled after payment, before shipping: refunded
        requested = paid + _minutes(rng, 10, min(20 * 60, (shipped - paid).total_seconds() / 60 - 1))
        refunded = requested + _minutes(rng, 30, 36 * 60)
        if requested <= ref:
            status = OrderStatus.REFUNDED if refunded <= ref else OrderStatus.REFUNDING
            return _Timeline(status, paid_at=paid, cancelled_at=requested,
                             cancel_reason=rng.choice(PAID_CANCEL_REASONS))
    if shipped > ref:
        return _Timeline(OrderStatus.PAID, paid_at=paid)
    carrier = rng.choice(CARRIERS)
    fast = carrier in ("顺丰速运", "京东物流")
    delivered = shipped + _minutes(rng, 18 * 60, (50 if fast else 110) * 60)
    origin = rng.choice(WAREHOUSE_CITIES)
    events = _route(rng, carrier, origin, customer.city, customer.address, shipped, delivered)
    timeline = _Timeline(OrderStatus.SHIPPED, paid_at=paid, shipped_at=shipped, carrier=carrier,
                         tracking_no=_tracking_no(rng, carrier), events=[e for e in events if e.at <= ref])
    if delivered > ref:
        return timeline
    timeline.delivered_at = delivered
    confirmed = delivered + (_minutes(rng, 3 * 60, 6 * 24 * 60) if rng.random() < 0.45 else AUTO_CONFIRM)
    if rng.random() < 0.08:  # returned after delivery: refunded once the parcel is back and checked
        requested = delivered + _minutes(rng, 6 * 60, 6.5 * 24 * 60)
        refunded = requested + _minutes(rng, 2 * 24 * 60, 8 * 24 * 60)
        if requested <= ref:
            timeline.status = OrderStatus.REFUNDED if refunded <= ref else OrderStatus.REFUNDING
            timeline.cancelled_at, timeline.cancel_reason = requested, rng.choice(RETURN_REASONS)
            return timeline
    if confirmed <= ref:
        timeline.status, timeline.completed_at = OrderStatus.COMPLETED, confirmed
    else:
        timeline.status = OrderStatus.DELIVERED
    return timeline


def generate_orders(products: Sequence[Product], customers: Sequence[Customer], promotions: Sequence[Promotion],
                    coupons: Sequence[Coupon], ref: datetime, rng: random.Random,
                    count: int = ORDER_COUNT) -> list[Order]:
    """`count` orders created over the `ORDER_DAYS` days before `ref`, oldest first, each as far along as by `ref`."""
    popularity = [rng.lognormvariate(0, 1) for _ in products]
    numbers: set[str] = set()
    created_times = []
    for _ in range(count):  # steady sales over the period, plus a busy last three days
        days = rng.uniform(0, 3) if rng.random() < 0.15 else rng.uniform(0, ORDER_DAYS)
        created_times.append((ref - timedelta(days=days)).replace(microsecond=0))
    created_times.sort()
    orders: list[Order] = []
    for created in created_times:
        order_no = "26" + _digits(rng, 14)
        while order_no in numbers:
            order_no = "26" + _digits(rng, 14)
        numbers.add(order_no)
        customer = rng.choice(customers)
        picked: dict[int, Product] = {}
        for product in rng.choices(products, weights=popularity, k=rng.choices((1, 2, 3), (65, 25, 10))[0]):
            picked.setdefault(product.id, product)
        carts = []
        for product in picked.values():
            variant = rng.choice(product.variants)
            quantity = rng.choices((1, 2, 3), (60, 30, 10))[0] if product.price < 100 else 1
            carts.append(_Cart(product, variant, quantity))
        units, coupon_code = _price(rng, carts, created, promotions, coupons)
        goods = round(sum(u * c.quantity for u, c in zip(units, carts)), 2)
        discount = round(sum(c.list_total for c in carts) - goods, 2)
        shipping = policy.shipping_fee(goods)
        timeline = _lifecycle(rng, created, ref, customer)
        address = customer.address
        orders.append(Order(
            order_no=order_no,
            customer_id=customer.id,
            phone=customer.phone,
            address=address,
            status=timeline.status,
            created_at=created,
            paid_at=timeline.paid_at,
            shipped_at=timeline.shipped_at,
            delivered_at=timeline.delivered_at,
            items=tuple(
                OrderItem(c.variant.sku, c.product.id, c.product.name, c.variant.colour, c.variant.size, c.quantity,
                          unit, c.product.price)
                for c, unit in zip(carts, units)
            ),
            shipping_fee=shipping,
            discount=discount,
            total_paid=round(goods + shipping, 2),
            carrier=timeline.carrier,
            tracking_no=timeline.tracking_no,
            delivery_slot=rng.choice(DELIVERY_SLOTS),
            events=tuple(timeline.events),
            customer_name=customer.name,
            completed_at=timeline.completed_at,
            cancelled_at=timeline.cancelled_at,
            cancel_reason=timeline.cancel_reason,
            coupon_code=coupon_code,
        ))
    return orders


# --------------------------------------------------------------------------- database


@dataclass(frozen=True)
class Shop:
    """A whole generated shop, before it is written to SQLite."""

    reference_time: datetime
    seed: int
    products: list[Product]
    customers: list[Customer]
    promotions: list[Promotion]
    coupons: list[Coupon]
    orders: list[Order]


def generate_shop(reference_time: Optional[datetime] = None, seed: int = DEFAULT_SEED) -> Shop:
    """The complete demo shop in memory; orders and campaigns are laid out relative to `reference_time`."""
    ref = (reference_time or datetime.now()).replace(microsecond=0)
    products = generate_products(seed)
    rng = random.Random(seed * 7919 + 1)
    customers = generate_customers(rng)
    promotions = generate_promotions(ref)
    coupons = generate_coupons(ref)
    orders = generate_orders(products, customers, promotions, coupons, ref, rng)
    return Shop(ref, seed, products, customers, promotions, coupons, orders)


def write_shop(conn: sqlite3.Connection, shop: Shop) -> None:
    """Creates the schema in an empty database and inserts the shop."""
    conn.executescript(SCHEMA_PATH.read_text(encoding="utf-8"))
    t = to_db_time
    with conn:
        conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", [
            ("reference_time", t(shop.reference_time)),
            ("seed", str(shop.seed)),
            ("seeded_at", t(datetime.now())),
        ])
        conn.executemany(
            "INSERT INTO products (id, name, brand, model, category, type_name, price, specs, usage, warranty_months,"
            " returnable) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(p.id, p.name, p.brand, p.model, p.category, p.type_name, p.price, json.dumps(p.specs, ensure_ascii=False),
              p.usage, p.warranty_months, int(p.returnable)) for p in shop.products],
        )
        conn.executemany(
            "INSERT INTO variants (sku, product_id, colour, size, stock) VALUES (?, ?, ?, ?, ?)",
            [(v.sku, v.product_id, v.colour, v.size, v.stock) for p in shop.products for v in p.variants],
        )
        conn.executemany("INSERT INTO customers (id, name, phone, address) VALUES (?, ?, ?, ?)",
                         [(c.id, c.name, c.phone, c.address) for c in shop.customers])
        conn.executemany(
            "INSERT INTO orders (order_no, customer_id, customer_name, phone, address, status, created_at, paid_at,"
            " shipped_at, delivered_at, completed_at, cancelled_at, cancel_reason, shipping_fee, discount, total_paid,"
            " coupon_code, carrier, tracking_no, delivery_slot, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(o.order_no, o.customer_id, o.customer_name, o.phone, o.address, o.status.value, t(o.created_at),
              t(o.paid_at), t(o.shipped_at), t(o.delivered_at), t(o.completed_at), t(o.cancelled_at), o.cancel_reason,
              o.shipping_fee, o.discount, o.total_paid, o.coupon_code, o.carrier, o.tracking_no, o.delivery_slot,
              t(max(d for d in (o.created_at, o.paid_at, o.shipped_at, o.delivered_at, o.completed_at, o.cancelled_at)
                    if d is not None)))
             for o in shop.orders],
        )
        conn.executemany(
            "INSERT INTO order_items (order_no, line_no, sku, product_id, product_name, colour, size, quantity,"
            " list_price, unit_price) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(o.order_no, n, i.sku, i.product_id, i.product_name, i.colour, i.size, i.quantity, i.list_price,
              i.unit_price) for o in shop.orders for n, i in enumerate(o.items, start=1)],
        )
        conn.executemany(
            "INSERT INTO logistics_events (order_no, seq, at, location, description) VALUES (?, ?, ?, ?, ?)",
            [(o.order_no, n, t(e.at), e.location, e.description) for o in shop.orders
             for n, e in enumerate(o.events, start=1)],
        )
        conn.executemany(
            "INSERT INTO promotions (id, title, description, starts_at, ends_at, kind, threshold, discount, category)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(p.id, p.title, p.description, t(p.starts_at), t(p.ends_at), p.kind, p.threshold, p.discount, p.category)
             for p in shop.promotions],
        )
        conn.executemany(
            "INSERT INTO coupons (code, title, threshold, amount, starts_at, ends_at, category, brand)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(c.code, c.title, c.threshold, c.amount, t(c.starts_at), t(c.ends_at), c.category, c.brand)
             for c in shop.coupons],
        )


COUNTED_TABLES = ("products", "variants", "customers", "orders", "order_items", "logistics_events", "promotions",
                  "coupons", "tickets")


def table_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Rows per table, plus orders per status as "orders.<status>"."""
    counts = {name: conn.execute(f"SELECT COUNT(*) FROM {name}").fetchone()[0] for name in COUNTED_TABLES}
    for status, n in conn.execute("SELECT status, COUNT(*) FROM orders GROUP BY status ORDER BY status"):
        counts[f"orders.{status}"] = n
    return counts


def seed_database(path: str | os.PathLike[str], reference_time: Optional[datetime] = None, seed: int = DEFAULT_SEED,
                  *, overwrite: bool = False) -> dict[str, int]:
    """Creates the shop database at `path` from scratch and returns its table counts.

    An existing file is left alone (FileExistsError) unless `overwrite` is set, in which
    case it is replaced whole (stop the bot first: open connections keep the old file).
    The file is built beside the target and moved into place in one step, so a reader
    never sees a half-written shop.
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} already exists; pass overwrite=True (--force) to rebuild it")
    target.parent.mkdir(parents=True, exist_ok=True)
    shop = generate_shop(reference_time, seed)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    partial.unlink(missing_ok=True)
    conn = sqlite3.connect(partial)
    try:
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        write_shop(conn, shop)
        counts = table_counts(conn)
        conn.execute("PRAGMA journal_mode = WAL")
    except BaseException:
        conn.close()
        partial.unlink(missing_ok=True)
        raise
    conn.close()
    if not overwrite:
        try:  # fails if another process created the file meanwhile: never clobber it
            os.link(partial, target)
        finally:
            partial.unlink()
        return counts
    for suffix in ("-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    os.replace(partial, target)
    return counts


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.shop.seed", description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="SQLite file to create (default: SHOP_DB, see bot.config)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--force", action="store_true", help="replace the file if it exists")
    mode.add_argument("--if-missing", action="store_true", help="do nothing, successfully, if the file exists")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--reference-time", type=datetime.fromisoformat, default=None,
                        help="'now' of the generated shop, ISO format (default: the current time)")
    args = parser.parse_args(argv)
    if args.db is None:
        from bot.config import load_settings

        args.db = str(load_settings().shop_db)
    if args.if_missing and Path(args.db).exists():
        print(f"{args.db} exists, left as it is")
        return 0
    try:
        counts = seed_database(args.db, args.reference_time, args.seed, overwrite=args.force)
    except FileExistsError as exc:
        if args.if_missing:  # another process created it meanwhile
            return 0
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"seeded {args.db}")
    for name, n in counts.items():
        print(f"  {name:<28} {n:>6}")
    return 0


# --------------------------------------------------------------------------- texts
SpecChoices = dict[str, tuple[str, ...]]

TYPE_SPECS: dict[str, SpecChoices] = {
    # 手机数码
    "手机": {
        "屏幕": ("6.36英寸 OLED 120Hz", "6.67英寸 AMOLED 120Hz", "6.78英寸 LTPO OLED 1-120Hz"),
        "处理器": ("骁龙8 Gen3", "天玑9300", "麒麟9000S", "骁龙7 Gen3"),
        "电池": ("4610mAh", "5000mAh", "5400mAh", "5800mAh"),
        "快充": ("66W有线快充", "90W有线快充", "120W有线快充 + 50W无线快充"),
        "重量": ("约190g", "约205g", "约221g"),
        "网络": ("5G全网通",),
        "防水": ("IP68", "IP54"),
    },
    "智能手环": {
        "屏幕": ("1.62英寸 AMOLED", "1.47英寸 AMOLED"),
        "续航": ("典型使用14天", "典型使用16天", "典型使用10天"),
        "防水": ("5ATM，可游泳佩戴",),
        "功能": ("心率、血氧、睡眠监测，150+运动模式", "全天候心率、压力监测，NFC 公交卡"),
        "重量": ("约27g（不含表带）", "约23g（不含表带）"),
        "兼容系统": ("Android 8.0 及以上 / iOS 12.0 及以上",),
    },
    "蓝牙耳机": {
        "续航": ("单次约6小时，配合充电盒约30小时", "单次约8小时，配合充电盒约36小时"),
        "蓝牙版本": ("蓝牙 5.3", "蓝牙 5.4"),
        "降噪": ("主动降噪，最高 -48dB", "双麦克风通话降噪", "自适应主动降噪"),
        "防水等级": ("IP54", "IP55"),
        "单耳重量": ("约4.5g", "约5.2g"),
        "充电接口": ("USB-C，支持无线充电", "USB-C"),
    },
    "充电宝": {
        "容量": ("{model}",),
        "输出功率": ("最大22.5W", "最大33W", "最大65W"),
        "接口": ("USB-C 输入/输出 + USB-A 输出", "双 USB-C + USB-A"),
        "重量": ("约218g", "约360g", "约420g"),
        "能否带上飞机": ("可以（额定能量低于100Wh）",),
    },
    # 电脑办公
    "笔记本电脑": {
        "屏幕": ("14英寸 2.8K 120Hz", "16英寸 2.5K 165Hz", "14.2英寸 3.1K 触控屏"),
        "处理器": ("Intel 酷睿 Ultra 5 125H", "Intel 酷睿 Ultra 7 155H", "AMD 锐龙7 8845H"),
        "显卡": ("集成显卡", "RTX 4060 8G 独立显卡"),
        "电池": ("75Wh", "84Wh", "99.9Wh"),
        "重量": ("约1.39kg", "约1.46kg", "约2.5kg"),
        "系统": ("Windows 11 家庭中文版",),
        "接口": ("2×USB-C（雷电4）、1×USB-A、HDMI、耳机孔",),
    },
    "无线鼠标": {
        "连接方式": ("2.4G 无线 + 蓝牙双模", "蓝牙"),
        "DPI": ("1000", "1000-4000 可调", "200-8000 可调"),
        "电池": ("1节AA电池，约18个月", "内置充电电池，充满约70天"),
        "重量": ("约91g", "约100g", "约141g"),
        "静音": ("静音按键", "普通按键"),
    },
    "机械键盘": {
        "轴体": ("青轴", "红轴", "茶轴"),
        "连接方式": ("有线 USB", "三模（有线/2.4G/蓝牙）"),
        "背光": ("RGB 背光", "白色背光", "无背光"),
        "键帽材质": ("ABS 双色注塑", "PBT"),
        "线长": ("1.8m",),
    },
    "显示器": {
        "尺寸/分辨率": ("{model}",),
        "刷新率": ("75Hz", "100Hz", "165Hz"),
        "面板": ("IPS", "VA"),
        "接口": ("HDMI ×2、DP ×1", "HDMI、DP、USB-C 65W"),
        "色域": ("99% sRGB", "95% DCI-P3"),
        "支架": ("可升降旋转", "可俯仰调节"),
    },
    "签字笔": {
        "规格": ("{model}",),
        "书写长度": ("约600米", "约500米"),
        "笔杆材质": ("ABS 塑料",),
        "墨水": ("速干中性墨水",),
    },
    # 家用电器
    "空气炸锅": {
        "容量": ("{model}",),
        "额定功率": ("1500W", "1700W"),
        "温度范围": ("80-200°C",),
        "定时": ("0-60分钟",),
        "内胆材质": ("不粘涂层内胆，可拆洗",),
        "电源": ("220V/50Hz",),
    },
    "吹风机": {
        "额定功率": ("1200W", "1600W", "1800W"),
        "风速档位": ("3档风速，4档温度",),
        "负离子": ("有，高浓度负离子护发",),
        "重量": ("约320g", "约480g", "约550g"),
        "电源线长": ("约1.8m", "约2.6m"),
        "电源": ("220V/50Hz",),
    },
    "电饭煲": {
        "容量": ("{model}",),
        "加热方式": ("IH 电磁加热", "底盘加热"),
        "额定功率": ("860W", "1200W"),
        "内胆": ("粉体涂层内胆", "不锈钢内胆"),
        "预约": ("24小时预约",),
        "电源": ("220V/50Hz",),
    },
    "扫地机器人": {
        "吸力": ("6000Pa", "8000Pa", "12000Pa"),
        "续航": ("约180分钟", "约150分钟"),
        "导航": ("LDS 激光导航 + 结构光避障", "3D 视觉导航"),
        "尘盒容量": ("300ml（基站自动集尘）", "400ml"),
        "功能": ("扫拖一体、自动集尘、拖布热水清洗", "扫拖一体、APP 分区清扫"),
    },
    "豆浆机": {
        "容量": ("1.2L",),
        "额定功率": ("1000W", "1200W"),
        "电机转速": ("约35000转/分钟",),
        "预约": ("8小时预约",),
        "电源": ("220V/50Hz",),
    },
    "空调": {
        "匹数": ("{model}",),
        "能效等级": ("新一级能效",),
        "制冷量": ("3500W", "7260W"),
        "适用面积": ("15-22㎡", "32-46㎡"),
        "安装": ("含基础安装（3米铜管），超出部分按标准收费",),
        "电源": ("220V/50Hz",),
    },
    # 服装
    "羽绒服": {
        "面料": ("100% 锦纶", "聚酯纤维，防泼水处理"),
        "填充物": ("90% 白鸭绒", "90% 白鹅绒"),
        "充绒量": ("约150g（M码）", "约220g（M码）"),
        "版型": ("常规版型", "宽松版型"),
        "厚度": ("常规", "加厚"),
    },
    "卫衣": {
        "面料": ("棉 80% 聚酯纤维 20%", "100% 棉"),
        "克重": ("约320g", "约380g"),
        "版型": ("宽松版型", "常规版型"),
        "内里": ("毛圈", "加绒"),
    },
    "T恤": {
        "面料": ("100% 棉", "聚酯纤维 90% 氨纶 10%（速干）"),
        "克重": ("约180g", "约220g"),
        "版型": ("常规版型", "修身版型"),
    },
    "牛仔裤": {
        "面料": ("棉 98% 氨纶 2%",),
        "弹力": ("微弹", "无弹"),
        "裤长": ("长裤",),
        "版型": ("{model}",),
    },
    "男士内裤": {
        "面料": ("莫代尔 92% 氨纶 8%",),
        "数量": ("3条装",),
        "款式": ("平角",),
    },
    "连衣裙": {
        "面料": ("聚酯纤维 100%", "棉 70% 聚酯纤维 30%", "羊毛混纺针织"),
        "裙长": ("中长款", "过膝长裙"),
        "袖长": ("长袖", "短袖"),
        "版型": ("收腰版型", "宽松版型"),
    },
    "针织衫": {
        "面料": ("羊毛 30% 腈纶 70%", "100% 美利奴羊毛"),
        "厚度": ("常规", "加厚"),
        "版型": ("宽松版型", "常规版型"),
    },
    "大衣": {
        "面料": ("羊毛 90% 羊绒 10%（双面呢）", "羊毛 60% 聚酯纤维 40%"),
        "衣长": ("中长款", "长款"),
        "版型": ("廓形", "收腰版型"),
    },
    "阔腿裤": {
        "面料": ("聚酯纤维 95% 氨纶 5%",),
        "腰型": ("高腰",),
        "裤长": ("九分", "长裤"),
    },
    # 鞋靴
    "跑步鞋": {
        "鞋面材质": ("工程网布", "针织鞋面"),
        "中底": ("轻量缓震中底", "碳板竞速中底"),
        "鞋底材质": ("耐磨橡胶",),
        "重量": ("约230g（42码单只）", "约280g（42码单只）"),
        "适用场景": ("日常慢跑、训练", "竞速、马拉松"),
    },
    "板鞋": {
        "鞋面材质": ("头层牛皮", "超纤皮革"),
        "鞋底材质": ("橡胶",),
        "闭合方式": ("系带",),
        "重量": ("约380g（42码单只）",),
    },
    "篮球鞋": {
        "鞋面材质": ("合成革 + 网布",),
        "中底": ("全掌缓震",),
        "鞋帮高度": ("中帮", "高帮"),
        "重量": ("约410g（42码单只）", "约450g（42码单只）"),
    },
    "雪地靴": {
        "鞋面材质": ("翻毛牛皮", "PU 皮"),
        "内里": ("加厚绒毛", "羊毛混纺绒"),
        "鞋底": ("防滑 TPR 鞋底",),
        "靴筒高度": ("约15cm", "约20cm"),
    },
    # 美妆护肤
    "精华液": {
        "净含量": ("{size}",),
        "适用肤质": ("所有肤质", "干性及混合性肌肤"),
        "主要成分": ("二裂酵母发酵产物溶胞物", "A醇、胜肽", "维生素C、麦角硫因", "烟酰胺、透明质酸"),
        "功效": ("修护、保湿", "抗初老、紧致", "提亮肤色"),
        "保质期": ("3年（开封后12个月内用完）",),
    },
    "面霜": {
        "净含量": ("{size}",),
        "适用肤质": ("所有肤质", "干性肌肤"),
        "主要成分": ("玻色因、透明质酸", "胜肽、神经酰胺"),
        "功效": ("保湿滋润、紧致", "修护屏障"),
        "保质期": ("3年（开封后12个月内用完）",),
    },
    "口红": {
        "净含量": ("3.4g", "3.5g", "2.5ml"),
        "质地": ("丝绒哑光", "滋润", "水光"),
        "保质期": ("3年（开封后24个月内用完）",),
    },
    "防晒霜": {
        "净含量": ("{size}",),
        "防晒指数": ("SPF50+ PA++++",),
        "适用肤质": ("所有肤质",),
        "防水": ("防水防汗",),
        "保质期": ("3年（开封后12个月内用完）",),
    },
    # 食品饮料
    "坚果礼盒": {
        "规格": ("{model}",),
        "配料": ("腰果、巴旦木、榛子仁、核桃仁、蔓越莓干、蓝莓干", "夏威夷果、碧根果、开心果、腰果"),
        "保质期": ("180天",),
        "储存方法": ("置于阴凉干燥处，开袋后请尽快食用",),
        "产地": ("安徽芜湖", "湖北武汉"),
    },
    "纯牛奶": {
        "规格": ("{model}",),
        "蛋白质含量": ("3.2g/100ml", "3.6g/100ml"),
        "保质期": ("6个月",),
        "储存方法": ("常温避光保存，开启后请冷藏并尽快饮用",),
        "产地": ("内蒙古呼和浩特",),
    },
    "矿泉水": {
        "规格": ("{model}",),
        "水源地": ("浙江千岛湖", "湖北丹江口", "广东万绿湖"),
        "保质期": ("12个月",),
        "储存方法": ("避免阳光直射，请勿与有毒、有异味物品一起存放",),
    },
    "牛肉干": {
        "规格": ("{model}",),
        "配料": ("牛肉、白砂糖、食用盐、辣椒、香辛料",),
        "保质期": ("9个月",),
        "储存方法": ("置于阴凉干燥处，开袋后请密封并尽快食用",),
        "产地": ("内蒙古锡林郭勒", "四川成都"),
    },
    # 母婴用品
    "纸尿裤": {
        "规格": ("{model}",),
        "片数": ("{size}码 每包约50片", "{size}码 每包约40片"),
        "表层": ("柔软无纺布，弱酸亲肤",),
        "吸收层": ("高分子吸水树脂 + 绒毛浆",),
        "保质期": ("3年",),
    },
    "婴儿奶粉": {
        "规格": ("{model}",),
        "适用年龄": ("0-6个月（1段）/ 6-12个月（2段）/ 12-36个月（3段）",),
        "配方": ("含 OPO 结构脂、乳铁蛋白、DHA",),
        "保质期": ("24个月",),
        "储存方法": ("开罐后请盖紧，置于阴凉干燥处，4周内用完",),
    },
    "婴儿推车": {
        "车重": ("约5.8kg", "约7.5kg", "约10.2kg"),
        "折叠": ("一键收车，可登机", "单手折叠"),
        "适用年龄": ("0-36个月",),
        "最大承重": ("25kg",),
        "座椅": ("可坐可躺，靠背多档调节",),
    },
    "儿童羽绒服": {
        "面料": ("100% 锦纶，防泼水",),
        "填充物": ("90% 白鸭绒",),
        "充绒量": ("约80g（110码）", "约110g（110码）"),
    },
    # 运动户外
    "瑜伽垫": {
        "材质": ("TPE 环保材质", "NBR 高密度"),
        "尺寸": ("183×61cm", "185×80cm"),
        "厚度": ("6mm", "10mm"),
        "重量": ("约0.9kg", "约1.2kg"),
    },
    "冲锋衣": {
        "面料": ("聚酯纤维，2.5层防水透气膜", "锦纶，3层压胶"),
        "防水指数": ("10000mm", "20000mm"),
        "透气指数": ("8000g/㎡/24h", "10000g/㎡/24h"),
        "内胆": ("抓绒内胆（三合一可拆）", "无内胆"),
    },
    "帐篷": {
        "适用人数": ("3-4人", "2人"),
        "防水指数": ("PU3000mm", "PU2000mm"),
        "重量": ("约3.2kg", "约1.8kg"),
        "展开尺寸": ("210×210×135cm", "210×130×110cm"),
        "搭建方式": ("自动速开", "双杆交叉"),
    },
    "哑铃": {
        "规格": ("{model}",),
        "材质": ("铸铁包胶", "钢制 + 尼龙调节座"),
        "适用场景": ("家庭力量训练",),
    },
    "登山包": {
        "容量": ("{model}",),
        "背负系统": ("可调节背长，透气背板",),
        "面料": ("420D 尼龙，防泼水",),
        "重量": ("约1.3kg", "约1.6kg"),
        "配件": ("附防雨罩",),
    },
    # 家居厨具
    "不粘锅": {
        "规格": ("{model}",),
        "材质": ("铝合金锅身 + 不粘涂层", "不锈钢复底 + 蜂窝不粘"),
        "适用炉具": ("燃气灶、电磁炉通用",),
        "锅盖": ("可视玻璃盖",),
        "重量": ("约1.6kg", "约1.9kg"),
    },
    "保温杯": {
        "容量": ("{model}",),
        "材质": ("316 不锈钢内胆", "304 不锈钢内胆"),
        "保温时长": ("约12小时（95°C 热水 6小时后 ≥ 70°C）", "约24小时"),
        "杯盖": ("弹跳盖", "旋盖带滤网"),
    },
    "四件套": {
        "规格": ("{model}",),
        "面料": ("100% 纯棉 40支", "水洗棉", "天丝（莱赛尔）", "磨毛棉"),
        "包含": ("被套 ×1、床单 ×1、枕套 ×2",),
        "被套尺寸": ("200×230cm（1.5m床）/ 220×240cm（1.8m床）",),
    },
    "刀具套装": {
        "包含": ("中式菜刀、多用刀、水果刀、剪刀、磨刀棒、刀座（7件）",),
        "材质": ("德国不锈钢 X50CrMoV15", "复合钢"),
        "硬度": ("约 57 HRC",),
    },
    "保鲜盒": {
        "规格": ("{model}",),
        "材质": ("PP（食品级）", "耐热玻璃 + PP 盖"),
        "微波炉": ("盒身可微波加热（请取下盖子）",),
        "耐温": ("-20°C ~ 120°C",),
    },
}

# Size charts by the sizes a type uses (key: the first size of the type).
SIZE_CHARTS: dict[tuple[str, str], str] = {
    ("男装", "S"): "S(165/84A) M(170/88A) L(175/92A) XL(180/96A) XXL(185/100A)",
    ("女装", "S"): "S(155/80A) M(160/84A) L(165/88A) XL(170/92A) XXL(175/96A)",
    ("运动户外", "S"): "S(160/84A) M(165/88A) L(170/92A) XL(175/96A) XXL(180/100A)",
    ("男装", "29"): "29(腰围2尺2) 30(2尺3) 31(2尺4) 32(2尺5) 33(2尺6) 34(2尺7)",
    ("鞋靴", "36"): "36(225mm) 37(230mm) 38(235mm) 39(240mm) 40(250mm) 41(255mm) 42(260mm) 43(265mm) 44(270mm)",
    ("母婴用品", "90"): "90(身高80-90cm) 100(90-100cm) 110(100-110cm) 120(110-120cm) 130(120-130cm)",
    ("母婴用品", "S"): "S(4-8kg) M(6-11kg) L(9-14kg) XL(12-17kg)",
}

# Usage (使用方法 / 洗护说明 / 保质期与储存 ...) per product type.
TYPE_USAGE: dict[str, str] = {
    "手机": "使用方法：首次开机按提示登录账号并完成激活，建议使用原装充电器充电。保养：避免长时间在高温环境下充电，屏幕请用干燥软布清洁。",
    "智能手环": "使用方法：下载对应运动健康 App，打开蓝牙后按提示绑定手环。保养：佩戴时保持表带清洁，汗水较多后用清水冲洗并擦干；请勿佩戴洗热水澡或蒸桑拿。",
    "蓝牙耳机": "使用方法：打开充电盒盖，长按功能键进入配对模式，在手机蓝牙列表中选择耳机即可连接。保养：耳机和充电盒请保持干燥，定期用软布清洁耳塞。",
    "充电宝": "使用方法：用 USB-C 线连接手机即可充电，长按按键查看剩余电量。注意：请勿摔打、拆解或在高温环境中使用；长期不用时每3个月充一次电。",
    "笔记本电脑": "使用方法：首次开机请连接电源，按提示完成 Windows 设置，建议先进行系统更新。保养：避免在床上或被子上长时间运行以免影响散热，清洁屏幕请用专用清洁布。",
    "无线鼠标": "使用方法：装入电池或充满电后，将接收器插入电脑 USB 口即可使用；蓝牙模式按底部按键配对。保养：用微湿软布擦拭，避免液体进入。",
    "机械键盘": "使用方法：有线模式插入 USB 即用；无线模式按 Fn+对应键切换 2.4G/蓝牙并配对。保养：定期用毛刷或气吹清理键帽缝隙，拔键帽请使用附带的拔键器。",
    "显示器": "使用方法：安装底座后用 HDMI 或 DP 线连接电脑，在系统显示设置中选择推荐分辨率和刷新率。保养：断电后用干燥的软布擦拭屏幕，请勿按压面板。",
    "签字笔": "使用方法：取下笔帽或按动笔尾即可书写，首次使用可在纸上轻划几下出墨。储存：用后盖好笔帽，笔尖朝下存放，避免高温暴晒。",
    "空气炸锅": "使用方法：首次使用前清洗炸篮，空锅 200°C 运行 10 分钟去除异味；食材不超过炸篮的 2/3，中途翻面受热更均匀。保养：炸篮冷却后用软布或海绵清洗，勿用钢丝球。",
    "吹风机": "使用方法：插电后选择风速和温度档位，距离头发约 15cm 吹干；冷风档可定型。保养：定期取下后盖清理进风口的毛发和灰尘，使用后待冷却再收纳，勿缠绕电源线。",
    "电饭煲": "使用方法：按刻度线加米加水，选择对应功能键启动；可预约 24 小时内的完成时间。保养：内胆请用软布清洗，勿用硬物刮擦涂层；内胆外壁擦干后再放入。",
    "扫地机器人": "使用方法：将基站靠墙放置，连接 App 完成配网，首次清扫会自动建图，之后可分区、定时清扫。保养：每周清理主刷和边刷缠绕的毛发，滤网每 3 个月更换一次。",
    "豆浆机": "使用方法：按水位线加水和食材，选择功能键启动，约 25 分钟完成；可预约。保养：使用后及时加清水启动清洗功能，再用软布擦干，勿将主机浸水。",
    "空调": "使用方法：下单后会有安装师傅在 48 小时内联系预约上门安装；使用遥控器选择制冷/制热模式，建议夏季设置 26°C。保养：过滤网每 2-4 周清洗一次，换季时可预约专业清洗。",
    "羽绒服": "洗护说明：建议手洗或专业干洗，水温不超过 30°C，使用中性洗涤剂，不可漂白、不可拧干、不可熨烫；平铺晾干后轻拍恢复蓬松。",
    "卫衣": "洗护说明：可机洗，水温不超过 30°C，深浅色分开洗涤，反面洗涤晾晒，不可漂白，低温熨烫。",
    "T恤": "洗护说明：可机洗，水温不超过 30°C，深浅色分开洗涤，不可漂白，反面阴凉处晾干，低温熨烫。",
    "牛仔裤": "洗护说明：首次洗涤可能轻微掉色，建议单独反面冷水洗涤，不可漂白，不可暴晒，低温熨烫。",
    "男士内裤": "洗护说明：建议单独手洗，水温不超过 30°C，使用中性洗涤剂，阴凉处晾干。贴身衣物拆封后不支持无理由退货。",
    "连衣裙": "洗护说明：建议手洗或轻柔机洗，水温不超过 30°C，不可漂白，平铺或挂起阴干，中温熨烫。",
    "针织衫": "洗护说明：建议手洗或干洗，使用羊毛专用洗涤剂，水温不超过 30°C，不可拧干、不可悬挂晾晒，请平铺晾干以免变形。",
    "大衣": "洗护说明：建议专业干洗，不可水洗、不可漂白，低温熨烫，收纳时用衣架挂起并套防尘罩。",
    "阔腿裤": "洗护说明：可机洗，水温不超过 30°C，不可漂白，挂起晾干，中温熨烫。",
    "跑步鞋": "保养：请勿机洗和暴晒，鞋面脏污可用软毛刷蘸清水轻刷，鞋垫取出单独晾干；建议两双鞋交替穿着延长寿命。",
    "板鞋": "保养：皮面可用湿布或专用清洁剂擦拭，避免浸水和暴晒，收纳时塞入鞋撑保持鞋型。",
    "篮球鞋": "保养：请勿机洗，鞋面用软刷清洁，运动后取出鞋垫通风晾干，避免暴晒导致开胶。",
    "雪地靴": "保养：请勿水洗，防水性能有限，雨雪天气后用干布吸干水分、阴凉处自然晾干；可使用翻毛皮专用清洁刷打理。",
    "精华液": "使用方法：洁面、爽肤水后取 2-3 滴于掌心，轻拍于全脸至吸收，早晚使用。储存：避光阴凉处保存，开封后 12 个月内用完。美妆护肤品拆封后不支持无理由退货。",
    "面霜": "使用方法：在精华之后取适量点涂于额头、两颊、下巴，由内向外轻柔涂抹至吸收。储存：避光阴凉处保存，开封后 12 个月内用完。",
    "口红": "使用方法：先用润唇膏打底，再从唇峰向两侧涂抹；可用纸巾轻抿后再涂一层更持久。储存：用后盖紧，避免高温，开封后 24 个月内用完。",
    "防晒霜": "使用方法：出门前 15-30 分钟取一元硬币大小均匀涂抹于面部及暴露部位，户外活动每 2-3 小时补涂一次；使用卸妆产品清洁。储存：避免高温暴晒。",
    "坚果礼盒": "保质期：180 天，生产日期见包装。储存：置于阴凉干燥处，避免阳光直射；开袋后请尽快食用，未吃完请密封保存。",
    "纯牛奶": "保质期：6 个月，生产日期见盒身。储存：常温避光保存，开启后请冷藏并于 24 小时内饮用完。",
    "矿泉水": "保质期：12 个月。储存：避免阳光直射和高温，请勿与有毒、有异味物品一起存放；开瓶后请尽快饮用。",
    "牛肉干": "保质期：9 个月，生产日期见包装。储存：置于阴凉干燥处，开袋后请密封并尽快食用。",
    "纸尿裤": "使用方法：展开纸尿裤，将有魔术贴的一侧放在宝宝身后，拉起前片后贴好两侧腰贴，检查腿部褶边翻出防侧漏；拉拉裤直接像内裤一样穿上。储存：置于干燥处，拆封后不支持无理由退货。",
    "婴儿奶粉": "冲调方法：洗净双手和奶瓶，先加入约 40-50°C 的温开水，再按罐内量勺加入奶粉，摇匀后尽快喂食。储存：开罐后盖紧置于阴凉干燥处，4 周内用完。保质期：24 个月。",
    "婴儿推车": "使用方法：打开推车后确认锁扣卡紧再放入宝宝，系好五点式安全带；停车时请踩下刹车。保养：布套可拆洗，轮轴定期清理并滴少量润滑油。",
    "儿童羽绒服": "洗护说明：建议手洗，水温不超过 30°C，使用中性洗涤剂，不可拧干、不可熨烫；平铺晾干后轻拍恢复蓬松。",
    "瑜伽垫": "使用方法：首次使用前展开平放 24 小时，纹理面朝上使用。保养：使用后用湿布擦拭并晾干，避免暴晒，卷起收纳。",
    "冲锋衣": "洗护说明：用中性洗涤剂冷水手洗或轻柔机洗，不可使用柔顺剂和漂白剂，不可干洗，洗后低温烘干或熨烫可恢复防泼水性能。",
    "帐篷": "使用方法：选择平整地面，展开帐篷后拉起顶部拉绳自动撑开，四角用地钉固定，大风天气请拉好防风绳。保养：收纳前务必晾干，避免发霉。",
    "哑铃": "使用方法：训练前检查锁扣是否拧紧，选择合适重量，动作标准、循序渐进。保养：放置在干燥处，避免磕碰地面，可铺瑜伽垫使用。",
    "登山包": "使用方法：根据身高调整背长，重物靠近背部放置，先扣好腰带再收紧肩带。保养：可用湿布擦拭或冷水手洗，阴凉处晾干，不可机洗。",
    "不粘锅": "使用方法：首次使用前清洗后涂一层食用油开锅，中小火烹饪，建议使用木铲或硅胶铲。保养：锅冷却后再清洗，勿用钢丝球，勿空烧。",
    "保温杯": "使用方法：首次使用前用温水加少量洗洁精清洗，使用前先用热水预热 1 分钟保温效果更好。注意：请勿装碳酸饮料、牛奶等久放，勿放入微波炉和洗碗机。",
    "四件套": "洗护说明：首次使用前建议清水洗涤一次，水温不超过 40°C，深浅色分开洗涤，不可漂白，反面晾晒。床上用品拆封后不支持无理由退货。",
    "刀具套装": "使用方法：不同刀具按用途使用，切骨头请用砍骨刀，勿用刀尖撬硬物。保养：用后及时洗净擦干，不建议放入洗碗机，定期用磨刀棒打磨。",
    "保鲜盒": "使用方法：食材冷却后再装盒密封，可冷藏冷冻；微波加热请取下盖子。保养：可用洗洁精清洗，勿用钢丝球。",
}


if __name__ == "__main__":
    sys.exit(main())
