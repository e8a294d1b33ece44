"""The shop backend interface that actions use.

Actions never touch SQL: they call a `ShopBackend`. The default implementation is
`bot.shop.sqlite_backend.SqliteShopBackend`; a real shop plugs its own API in by
implementing this protocol. After-sales *rules* (7-day return, warranty, refund
amount) live in `bot.shop.after_sales`, not here: this is data access only.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional, Protocol, Sequence

from bot.shop.models import Coupon, CouponCheck, Order, OrderStatus, Product, Promotion, Ticket, TicketKind


class ShopBackend(Protocol):
    # --- products -------------------------------------------------------
    def get_product(self, product_id: int) -> Optional[Product]:
        """The product with its variants, or None."""

    def find_products(
        self,
        text: Optional[str] = None,
        *,
        brand: Optional[str] = None,
        category: Optional[str] = None,
        min_price: Optional[float] = None,
        max_price: Optional[float] = None,
        limit: int = 5,
    ) -> list[Product]:
        """Products matching free text (name, model, type, aliases) and filters, best match first."""

    def resolve_product(self, mention: str, brand: Optional[str] = None) -> Optional[Product]:
        """The single product a shopper most likely means by `mention`, or None when nothing fits."""

    # --- orders ---------------------------------------------------------
    def get_order(self, order_no: str) -> Optional[Order]:
        """The order with items and logistics events, or None."""

    def verify_order(self, order_no: str, phone_last4: str) -> Optional[Order]:
        """The order only when `phone_last4` matches the phone on it; None otherwise."""

    def find_orders(self, status: Optional[OrderStatus] = None, limit: int = 10) -> list[Order]:
        """Orders by status, newest first (for tools and tests, not for shoppers)."""

    def cancel_order(self, order_no: str, reason: str) -> Order:
        """Set the order to cancelled. Callers check `after_sales.can_cancel` first."""

    def update_order(self, order_no: str, *, address: Optional[str] = None, phone: Optional[str] = None,
                     delivery_slot: Optional[str] = None) -> Order:
        """Change contact/delivery details. Callers check `after_sales.can_modify` first."""

    # --- promotions -----------------------------------------------------
    def active_promotions(self, at: Optional[datetime] = None, category: Optional[str] = None) -> list[Promotion]:
        """Campaigns running at `at` (default now), optionally those that cover a category."""

    def get_coupon(self, code: str) -> Optional[Coupon]:
        """A coupon by its code (case-insensitive)."""

    def active_coupons(self, at: Optional[datetime] = None) -> list[Coupon]:
        """Coupons a shopper can claim now."""

    def check_coupon(self, code: str, amount: float, product: Optional[Product] = None,
                     at: Optional[datetime] = None) -> CouponCheck:
        """Whether coupon `code` applies to an order of `amount` yuan (of `product`), and why."""

    # --- tickets --------------------------------------------------------
    def create_ticket(self, kind: TicketKind, *, order_no: Optional[str], details: dict[str, Any],
                      category: Optional[str] = None, severity: Optional[str] = None) -> Ticket:
        """File a ticket and return it with its number."""

    def get_ticket(self, ticket_no: str) -> Optional[Ticket]:
        """A ticket by number."""

    def tickets_for_order(self, order_no: str) -> Sequence[Ticket]:
        """All tickets filed on an order, oldest first."""

    # --- a shopper's data, on request ---------------------------------------
    def orders_of_phone(self, phone: str) -> list[str]:
        """Numbers of the orders placed with this phone number."""

    def forget_customer(self, order_nos: Sequence[str], conversation_ids: Sequence[str]) -> dict[str, int]:
        """Delete the tickets of these orders or conversations and blank the customers' name, phone and
        address on the orders (the orders themselves stay: the shop's accounts need them); counts by kind."""
