"""After-sales rules: may this order be cancelled, changed, returned, exchanged, repaired, and for how much.

Pure functions over `Order`, `OrderItem` and `Product`: no I/O, no clock (callers pass
`now`). Each answers with a `Decision` whose `reason` is ready to show the shopper.

The shop's policy (its numbers live in `bot.shop.policy`):
- cancel: before shipping (待付款, 待发货);
- change address or phone: before shipping; change delivery time: until delivered;
- return without reason: within NO_REASON_RETURN_DAYS of delivery, product returnable, unused;
- return for a quality problem: within QUALITY_RETURN_DAYS of delivery, any product;
- exchange colour/size: within EXCHANGE_DAYS of delivery, the new variant must be in stock;
- refund: what was paid for the goods; shipping too when nothing shipped yet or for a quality problem;
- repair: within the product's warranty months from delivery.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from dateutil.relativedelta import relativedelta

from bot.shop.catalog import product_type
from bot.shop.formatting import day, full_day, yuan
from bot.shop.models import Order, OrderItem, OrderStatus, Product
from bot.shop.order_fields import FIELD_LABELS, canonical_field
from bot.shop.policy import (
    EXCHANGE_DAYS,
    NO_REASON_RETURN_DAYS,
    QUALITY_RETURN_DAYS,
    REFUND_WORKING_DAYS,
    SEND_BACK_DAYS,
)

UNUSED, USED, QUALITY = "unused", "used", "quality"

_QUALITY_WORDS = (
    "质量", "坏", "破", "瑕疵", "故障", "漏", "开线", "开胶", "脱胶", "起球", "发错", "错发", "少件", "缺件",
    "不能用", "用不了", "无法开机", "开不了机", "不工作", "过期", "变质", "异味", "假货", "掉色", "裂", "quality",
    "defect", "broken", "damaged", "faulty",
)
_UNUSED_WORDS = (
    "未拆封", "未使用", "没拆", "未拆", "没开封", "未开封", "没用过", "没有用过", "没用", "没使用", "没穿", "未穿", "没动",
    "全新", "吊牌还在", "吊牌没剪", "unused", "unopened",
)
_USED_WORDS = ("已使用", "用过", "用了", "穿过", "穿了", "试过", "已拆封", "拆", "洗过", "剪了吊牌", "used", "opened",
               "worn")


@dataclass(frozen=True)
class Decision:
    """Whether the shopper may do something, and why, in shopper-facing Chinese."""

    allowed: bool
    reason: str


@dataclass(frozen=True)
class RefundQuote:
    """How much would be refunded, and how that amount is made up."""

    amount: float
    explanation: str
    goods: float = 0.0
    shipping: float = 0.0


def detect_condition(text: Optional[str]) -> Optional[str]:
    """What a shopper says about the goods, as QUALITY, USED or UNUSED; None when the text does not say.

    Takes free text ("鞋底开胶了", "吊牌还在") or the form's codes QUALITY, USED, UNUSED.
    Quality words win over the others ("没用几天就坏了" is a quality problem), and "not used"
    words are checked before "used" ones because they contain them (没拆 / 拆).
    """
    lowered = (text or "").strip().lower()
    if lowered in (QUALITY, UNUSED, USED):
        return lowered
    for condition, words in ((QUALITY, _QUALITY_WORDS), (UNUSED, _UNUSED_WORDS), (USED, _USED_WORDS)):
        if any(word in lowered for word in words):
            return condition
    return None


def classify_condition(text: Optional[str]) -> str:
    """`detect_condition`, with UNUSED when the text does not say (the shopper's claim stands)."""
    return detect_condition(text) or UNUSED


def add_months(when: datetime, months: int) -> datetime:
    """The same day `months` later, clamped to the month's last day (1月31日 + 1 month = 2月28/29日)."""
    return when + relativedelta(months=months)


def _not_returnable_why(product: Product) -> str:
    """Why a product has no 7-day no-reason return, in a few words (from its catalog type)."""
    ptype = product_type(product.type_name)
    return (ptype.no_return_reason if ptype else "") or "这类商品"


def _status_blocks(order: Order, action: str) -> Optional[Decision]:
    """A refusal when the order is not (or no longer) delivered; None when it is."""
    status = order.status
    if status == OrderStatus.PENDING_PAYMENT:
        return Decision(False, f"订单还没付款，不需要{action}，直接取消订单就可以了。")
    if status == OrderStatus.PAID:
        return Decision(False, f"订单还没发货，不用走{action}流程，可以直接取消订单，货款会原路退回。")
    if status == OrderStatus.SHIPPED:
        return Decision(False, f"包裹还在路上，签收后才能申请{action}；如果不想要了，派送时也可以直接拒收。")
    if status == OrderStatus.CANCELLED:
        return Decision(False, f"这个订单已经取消了，不需要{action}。")
    if status == OrderStatus.REFUNDING:
        return Decision(False, f"这个订单已经在退款中了，请耐心等待处理结果，一般{REFUND_WORKING_DAYS}个工作日内完成。")
    if status == OrderStatus.REFUNDED:
        return Decision(False, "这个订单已经退款完成了，款项已原路退回。")
    if order.delivered_at is None:
        return Decision(False, f"订单还没有签收记录，签收后才能申请{action}。")
    return None


def _check_item(order: Order, item: OrderItem, product: Optional[Product] = None) -> Optional[Decision]:
    if order.item_by_sku(item.sku) is None:
        return Decision(False, f"{item.product_name}不在订单 {order.order_no} 里，请核对一下订单号。")
    if product is not None and product.id != item.product_id:
        raise ValueError(f"product {product.id} is not the product of item {item.sku}")
    return None


def _days_since(start: datetime, now: datetime) -> int:
    return max(0, (now - start).days)


# --------------------------------------------------------------------------- rules


def can_cancel(order: Order) -> Decision:
    """Cancel only before shipping: 待付款 and 待发货."""
    status = order.status
    if status == OrderStatus.PENDING_PAYMENT:
        return Decision(True, "订单还没付款，可以直接取消。")
    if status == OrderStatus.PAID:
        return Decision(True, f"订单还没发货，可以取消，货款会在{REFUND_WORKING_DAYS}个工作日内原路退回。")
    if status == OrderStatus.SHIPPED:
        return Decision(False, "订单已经发货了，不能直接取消。可以在派送时拒收，或者签收后申请退货退款。")
    if status in (OrderStatus.DELIVERED, OrderStatus.COMPLETED):
        return Decision(False, "订单已经签收了，不能取消，可以申请退货退款。")
    if status == OrderStatus.CANCELLED:
        return Decision(False, "这个订单已经取消了，不需要再取消。")
    if status == OrderStatus.REFUNDING:
        return Decision(False, "这个订单正在退款中，不需要再取消，请耐心等待退款到账。")
    return Decision(False, "这个订单已经退款完成了，不需要再取消。")


def can_modify(order: Order, field: str) -> Decision:
    """Address and phone can change before shipping; the delivery time until the parcel is delivered."""
    key = canonical_field(field)
    if key is None:
        return Decision(False, f"目前只能修改{'、'.join(FIELD_LABELS.values())}哦。")
    label = FIELD_LABELS[key]
    status = order.status
    if status in (OrderStatus.CANCELLED, OrderStatus.REFUNDING, OrderStatus.REFUNDED):
        return Decision(False, f"这个订单已经{status.label}，不能再修改{label}了。")
    if status in (OrderStatus.DELIVERED, OrderStatus.COMPLETED):
        return Decision(False, f"订单已经签收了，{label}不能再修改了。")
    if status == OrderStatus.SHIPPED:
        if key == "delivery_time":
            return Decision(True, "包裹正在运输中，可以修改配送时间，我们会通知快递员按您的时间派送。")
        return Decision(False, f"订单已经发货了，{label}没办法在系统里修改了。可以联系{order.carrier or '快递公司'}"
                               f"（运单号 {order.tracking_no or '见物流信息'}）申请改派，或者派送时拒收后重新下单。")
    return Decision(True, f"订单还没发货，可以修改{label}。")


def can_return(order: Order, item: OrderItem, product: Product, now: datetime, condition: str = "未使用") -> Decision:
    """7-day no-reason return for unused returnable goods; 15 days for quality problems on any goods."""
    blocked = _check_item(order, item, product) or _status_blocks(order, "退货")
    if blocked is not None:
        return blocked
    assert order.delivered_at is not None
    kind = classify_condition(condition)
    elapsed = now - order.delivered_at
    signed = f"{day(order.delivered_at)}签收，已经过去{_days_since(order.delivered_at, now)}天"
    if kind == QUALITY:
        if elapsed <= timedelta(days=QUALITY_RETURN_DAYS):
            return Decision(True, f"质量问题在签收后{QUALITY_RETURN_DAYS}天内可以退货，退回的运费由我们承担。"
                                  "请拍几张问题部位的照片，仓库收到退货检测后全额退款。")
        repair = "，商品还在保修期内，可以申请免费维修" if _in_warranty(order, product, now) else ""
        return Decision(False, f"已经超过签收后{QUALITY_RETURN_DAYS}天的质量问题退货期了（{signed}）{repair}。"
                               "需要的话我可以帮您转人工客服再看看。")
    if not product.returnable:
        return Decision(False, f"{_not_returnable_why(product)}，{product.name}不支持{NO_REASON_RETURN_DAYS}天无理由退货。"
                               f"如果有质量问题，签收后{QUALITY_RETURN_DAYS}天内可以申请退货。")
    if kind == USED:
        return Decision(False, f"{NO_REASON_RETURN_DAYS}天无理由退货需要商品未使用、不影响二次销售，已经使用或拆封的商品没法无理由退货。"
                               f"如果是质量问题，签收后{QUALITY_RETURN_DAYS}天内可以申请退货。")
    if elapsed > timedelta(days=NO_REASON_RETURN_DAYS):
        also = (f"如果有质量问题，签收后{QUALITY_RETURN_DAYS}天内仍可申请退货。"
                if elapsed <= timedelta(days=QUALITY_RETURN_DAYS) else "")
        return Decision(False, f"已经超过签收后{NO_REASON_RETURN_DAYS}天的无理由退货期了（{signed}）。{also}")
    deadline = order.delivered_at + timedelta(days=NO_REASON_RETURN_DAYS)
    return Decision(True, f"签收{NO_REASON_RETURN_DAYS}天内且商品未使用，可以{NO_REASON_RETURN_DAYS}天无理由退货（{day(deadline)} {deadline:%H:%M}前申请）。"
                          "请保持商品、吊牌和包装完好，退回运费由您承担，买了运费险的会自动理赔。")


def can_exchange(order: Order, item: OrderItem, product: Product, colour: Optional[str], size: Optional[str],
                 now: datetime, condition: str = "未使用") -> Decision:
    """Exchange for another colour/size within 15 days of delivery, when that variant is in stock."""
    blocked = _check_item(order, item, product) or _status_blocks(order, "换货")
    if blocked is not None:
        return blocked
    assert order.delivered_at is not None
    kind = classify_condition(condition)
    if now - order.delivered_at > timedelta(days=EXCHANGE_DAYS):
        return Decision(False, f"已经超过签收后{EXCHANGE_DAYS}天的换货期了（{day(order.delivered_at)}签收）。"
                               "如果是质量问题，可以联系人工客服帮您处理。")
    if kind != QUALITY and not product.returnable:
        return Decision(False, f"{_not_returnable_why(product)}，{product.name}没有质量问题的话不支持换货。")
    if kind == USED:
        return Decision(False, "换货需要商品未使用、吊牌和包装完好，已经使用过的商品不能换货；质量问题除外。")
    target_colour, target_size = colour or item.colour, size or item.size
    if (target_colour, target_size) == (item.colour, item.size) and kind != QUALITY:
        return Decision(False, "您选的颜色和尺码和原来的一样哦，想换成什么颜色或尺码呢？"
                               f"可选颜色：{'、'.join(product.colours)}；可选尺码：{'、'.join(product.sizes)}。")
    if target_colour not in product.colours:
        return Decision(False, f"{product.name}没有{target_colour}，可选颜色：{'、'.join(product.colours)}。")
    if target_size not in product.sizes:
        return Decision(False, f"{product.name}没有{target_size}这个尺码，可选尺码：{'、'.join(product.sizes)}。")
    variant = product.variant(target_colour, target_size)
    wanted = f"「{target_colour} {target_size}」" if len(product.sizes) > 1 else f"「{target_colour}」"
    if variant is None:
        return Decision(False, f"{product.name}没有{wanted}这个款式。")
    if variant.stock <= 0:
        in_stock = [f"{v.colour} {v.size}" if len(product.sizes) > 1 else v.colour
                    for v in product.variants if v.stock > 0][:4]
        others = f"目前有货的有：{'、'.join(in_stock)}。" if in_stock else "这款其他规格也都暂时缺货。"
        return Decision(False, f"{wanted}暂时缺货了，换不了。{others}也可以选择退货退款。")
    postage = "来回运费由我们承担" if kind == QUALITY else "寄回的运费由您承担，新商品我们包邮寄出"
    return Decision(True, f"可以换成{wanted}，目前有货。请在{SEND_BACK_DAYS}天内把原商品寄回，仓库收到后会尽快发出新商品，{postage}。")


def refund_amount(order: Order, item: Optional[OrderItem] = None, reason: str = "") -> RefundQuote:
    """What would be refunded for one item, or for the whole order when `item` is None.

    The amount is what was actually paid (unit price after discounts × quantity). The
    shipping fee comes back too when the order has not shipped or for a quality problem;
    for a single item only when it is the order's only item.
    """
    if order.status == OrderStatus.PENDING_PAYMENT or (order.status == OrderStatus.CANCELLED and order.paid_at is None):
        return RefundQuote(0.0, "订单还没有付款，取消后不会产生任何扣款，不需要退款。")
    if order.status == OrderStatus.REFUNDED:
        return RefundQuote(0.0, "这个订单已经退款完成了，款项已原路退回，不会重复退款。")
    if item is not None:
        blocked = _check_item(order, item)
        if blocked is not None:
            return RefundQuote(0.0, blocked.reason)
    quality = classify_condition(reason) == QUALITY
    shipped = order.shipped_at is not None
    whole = item is None or len(order.items) == 1
    goods = order.goods_amount if item is None else round(item.unit_price * item.quantity, 2)
    refund_shipping = order.shipping_fee > 0 and whole and (not shipped or quality)
    shipping = order.shipping_fee if refund_shipping else 0.0
    amount = round(goods + shipping, 2)
    if item is None:
        parts = [f"订单商品实付 {yuan(goods)}"]
    else:
        parts = [f"{item.product_name} 实付 {yuan(item.unit_price)} × {item.quantity} 件 = {yuan(goods)}"]
    if refund_shipping:
        parts.append(f"运费 {yuan(shipping)}（{'订单还没发货' if not shipped else '质量问题'}，运费一并退还）")
    elif order.shipping_fee > 0 and not whole:
        parts.append("运费在整单退款时再退还")
    elif order.shipping_fee > 0:
        parts.append(f"已发货的订单运费 {yuan(order.shipping_fee)} 不退")
    if order.discount > 0:
        parts.append("下单时的优惠已按比例扣除")
    return RefundQuote(amount, f"可退 {yuan(amount)}：" + "；".join(parts) + f"。款项原路退回，一般{REFUND_WORKING_DAYS}个工作日到账。",
                       goods, shipping)


def _in_warranty(order: Order, product: Product, now: datetime) -> bool:
    return (product.warranty_months > 0 and order.delivered_at is not None
            and now <= add_months(order.delivered_at, product.warranty_months))


def can_repair(order: Order, item: OrderItem, product: Product, now: datetime) -> Decision:
    """Free repair within the product's warranty months from delivery."""
    blocked = _check_item(order, item, product)
    if blocked is not None:
        return blocked
    if product.warranty_months <= 0:
        within = order.delivered_at is not None and now - order.delivered_at <= timedelta(days=QUALITY_RETURN_DAYS)
        hint = (f"现在还在签收后{QUALITY_RETURN_DAYS}天内，有质量问题可以直接申请退换货。" if within
                else "如果有质量问题，可以联系人工客服帮您看看。")
        return Decision(False, f"{product.name}不提供保修服务。{hint}")
    if order.status in (OrderStatus.REFUNDING, OrderStatus.REFUNDED):
        return Decision(False, "这个订单已经退货退款了，不能再申请保修。")
    if order.delivered_at is None:
        return Decision(False, "商品还没签收，签收后使用中遇到问题再申请保修。")
    expiry = add_months(order.delivered_at, product.warranty_months)
    if now <= expiry:
        return Decision(True, f"商品在{product.warranty_months}个月保修期内（保修到{full_day(expiry)}），可以免费维修。"
                              "请描述一下故障情况，我们会安排寄修或上门检测。")
    return Decision(False, f"商品已经超过{product.warranty_months}个月的保修期（{full_day(expiry)}到期），不能免费维修了，"
                           "可以申请付费维修，检测后会先报价，您确认后再修。")
