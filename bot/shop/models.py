"""Plain data records the shop backend hands to actions. No behaviour, no I/O."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Optional


class OrderStatus(str, Enum):
    PENDING_PAYMENT = "pending_payment"  # 待付款
    PAID = "paid"  # 待发货
    SHIPPED = "shipped"  # 已发货 / 运输中
    DELIVERED = "delivered"  # 已签收
    COMPLETED = "completed"  # 已完成 (确认收货后)
    CANCELLED = "cancelled"  # 已取消
    REFUNDING = "refunding"  # 退款中
    REFUNDED = "refunded"  # 已退款

    @property
    def label(self) -> str:
        return ORDER_STATUS_LABELS[self]


ORDER_STATUS_LABELS = {
    OrderStatus.PENDING_PAYMENT: "待付款",
    OrderStatus.PAID: "待发货",
    OrderStatus.SHIPPED: "运输中",
    OrderStatus.DELIVERED: "已签收",
    OrderStatus.COMPLETED: "已完成",
    OrderStatus.CANCELLED: "已取消",
    OrderStatus.REFUNDING: "退款中",
    OrderStatus.REFUNDED: "已退款",
}


class TicketKind(str, Enum):
    RETURN = "return"
    EXCHANGE = "exchange"
    REFUND = "refund"
    REPAIR = "repair"
    COMPLAINT = "complaint"
    CALLBACK = "callback"


@dataclass(frozen=True)
class Variant:
    sku: str
    product_id: int
    colour: str
    size: str
    stock: int


@dataclass(frozen=True)
class Product:
    id: int
    name: str  # e.g. "耐克 Air Zoom 跑步鞋"
    brand: str
    category: str
    type_name: str  # e.g. "跑步鞋"
    price: float  # list price, yuan
    specs: dict[str, str]
    usage: str  # usage and care text
    warranty_months: int
    returnable: bool  # 7-day no-reason return allowed
    variants: tuple[Variant, ...] = ()
    model: str = ""  # e.g. "Air Zoom"; the catalog model the name was built from

    def variant(self, colour: Optional[str] = None, size: Optional[str] = None) -> Optional[Variant]:
        """The variant with this colour and size (None matches any), in-stock ones first, or None."""
        matching = [
            v for v in self.variants
            if (colour is None or v.colour == colour) and (size is None or v.size == size)
        ]
        matching.sort(key=lambda v: v.stock <= 0)
        return matching[0] if matching else None

    @property
    def colours(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(v.colour for v in self.variants))

    @property
    def sizes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(v.size for v in self.variants))

    def stock_of(self, colour: Optional[str] = None, size: Optional[str] = None) -> int:
        """Units in stock over the variants matching the given colour and/or size."""
        return sum(
            v.stock
            for v in self.variants
            if (colour is None or v.colour == colour) and (size is None or v.size == size)
        )


@dataclass(frozen=True)
class OrderItem:
    sku: str
    product_id: int
    product_name: str
    colour: str
    size: str
    quantity: int
    unit_price: float  # price actually paid per unit, after discounts
    list_price: Optional[float] = None  # the product's list price when ordered


@dataclass(frozen=True)
class LogisticsEvent:
    at: datetime
    location: str
    description: str


@dataclass(frozen=True)
class Order:
    order_no: str  # 16 digits
    customer_id: int
    phone: str  # full phone number; never shown, only its last four digits are checked
    address: str
    status: OrderStatus
    created_at: datetime
    paid_at: Optional[datetime]
    shipped_at: Optional[datetime]
    delivered_at: Optional[datetime]
    items: tuple[OrderItem, ...]
    shipping_fee: float
    discount: float
    total_paid: float
    carrier: Optional[str] = None
    tracking_no: Optional[str] = None
    delivery_slot: Optional[str] = None  # preferred delivery time, e.g. "工作日 9:00-18:00"
    events: tuple[LogisticsEvent, ...] = ()
    customer_name: Optional[str] = None
    completed_at: Optional[datetime] = None  # buyer confirmed receipt (or auto-confirmed)
    cancelled_at: Optional[datetime] = None  # cancelled, or the refund was requested
    cancel_reason: Optional[str] = None  # why it was cancelled or refunded
    coupon_code: Optional[str] = None

    @property
    def goods_amount(self) -> float:
        """What the shopper paid for the goods, without shipping."""
        return round(sum(i.unit_price * i.quantity for i in self.items), 2)

    def item_by_sku(self, sku: Optional[str]) -> Optional[OrderItem]:
        """The order line with this SKU, or None."""
        return next((i for i in self.items if i.sku == sku), None)


@dataclass(frozen=True)
class Promotion:
    id: int
    title: str  # e.g. "双12 满300减40"
    description: str
    starts_at: datetime
    ends_at: datetime
    kind: str  # "threshold" (满减), "percent" (折扣), "gift"
    threshold: float  # minimum order amount, 0 for none
    discount: float  # yuan off for threshold, fraction (0.9 = 九折) for percent
    category: Optional[str] = None  # None: every category


@dataclass(frozen=True)
class Coupon:
    code: str
    title: str
    threshold: float
    amount: float
    starts_at: datetime
    ends_at: datetime
    category: Optional[str] = None
    brand: Optional[str] = None


@dataclass(frozen=True)
class CouponCheck:
    """Whether a coupon applies, with the rule that decided it in shopper-facing Chinese."""

    applies: bool
    reason: str
    discount: float = 0.0


@dataclass(frozen=True)
class Ticket:
    ticket_no: str  # e.g. "T202611250001"
    kind: TicketKind
    status: str  # "open", "processing", "closed"
    order_no: Optional[str]
    created_at: datetime
    details: dict[str, Any] = field(default_factory=dict)
    category: Optional[str] = None
    severity: Optional[str] = None  # complaints: "low", "medium", "high"
