"""`ShopBackend` over the demo shop's SQLite file (see `bot.shop.seed` and `schema.sql`).

One connection is shared by all threads behind a lock; every call is a handful of
indexed, parameterised queries, short enough to call from the async action server.
Product search is a small in-memory scorer over names, brands, models, types and their
aliases from `bot.shop.catalog`; no search engine is needed for a few hundred products.

    backend = SqliteShopBackend(".state/shop.db")
    backend.resolve_product("耐克跑鞋")      # -> Product "耐克 Air Zoom 跑步鞋"
    backend.verify_order("2612...", "1234")  # -> Order, or None when the digits do not match
"""
from __future__ import annotations

import hmac
import json
import re
import sqlite3
import threading
import unicodedata
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

from bot.privacy.masking import mask_value
from bot.shop.catalog import BRAND_ALIASES, CATEGORIES, OTHER_BRANDS, canonical_brand, category_of
from bot.shop.db_time import from_db_time, to_db_time
from bot.shop.identifiers import MOBILE_PHONE, ORDER_NO
from bot.shop.models import (
    Coupon,
    CouponCheck,
    LogisticsEvent,
    Order,
    OrderItem,
    OrderStatus,
    Product,
    Promotion,
    Ticket,
    TicketKind,
    Variant,
)
from bot.shop.promotions import coupon_check

MAX_QUERY_CHARS = 500  # product mentions are looked for in the first 500 characters only
MAX_LIMIT = 100


FORGOTTEN = "已删除"  # what a purged shopper's name, phone and address become


class OrderNotFound(LookupError):
    """No order has this number."""


def _normalize(text: str) -> str:
    """Full-width to half-width, lower case, runs of whitespace to one space."""
    text = unicodedata.normalize("NFKC", text[:MAX_QUERY_CHARS]).lower()
    return re.sub(r"\s+", " ", text).strip()


def _compact(text: str) -> str:
    return _normalize(text).replace(" ", "")


def _time(value: str) -> datetime:
    """A NOT NULL time column."""
    parsed = from_db_time(value)
    assert parsed is not None
    return parsed


# --------------------------------------------------------------------------- product search

# Field weights: a term found in the text adds its field's weight to each product it belongs to.
W_NAME, W_MODEL, W_MODEL_TOKEN, W_BRAND, W_TYPE, W_CATEGORY, W_WEAK_MODEL = 12.0, 7.0, 5.0, 4.0, 4.0, 1.5, 2.5
SIZE_LIKE = re.compile(r"^[\d.+*]+(ml|g|kg|l|mm|cm|m|mah|w|人|件套|支装|寸|英寸|匹|段|码|包|瓶|盒|桶)?.*$")


def _is_weak(term: str) -> bool:
    """Numbers and one- or two-letter codes ("14", "8", "v8") only count next to a brand or type."""
    return term.isdigit() or (len(term) <= 2 and term.isascii())


def _needs_boundary(term: str) -> bool:
    """Short ASCII terms must stand alone: "kt9" in "买kt9" but not "hla" in "hlatest"."""
    return term.isascii() and len(term) <= 4


def _model_tokens(model: str, taken: set[str]) -> list[str]:
    """Parts of a model a shopper may say alone: "小黑瓶" of "小黑瓶 50ml", "y9000p" of "拯救者 Y9000P"."""
    tokens = []
    for raw in model.split():
        token = _compact(raw)
        cjk = sum(1 for ch in token if "\u4e00" <= ch <= "\u9fff")
        letters = sum(1 for ch in token if ch.isascii() and ch.isalpha())
        if token in taken or (SIZE_LIKE.match(token) and cjk < 2):
            continue
        if cjk >= 2 or letters >= 4 or (letters and len(token) >= 4):
            tokens.append(token)
    return tokens


@dataclass(frozen=True)
class _Entry:
    product_id: int
    brand: str
    category: str
    price: float


class _ProductIndex:
    """Which vocabulary terms point at which products, and how strongly."""

    def __init__(self, rows: Iterable[sqlite3.Row]) -> None:
        self.entries: dict[int, _Entry] = {}
        self.terms: dict[str, list[tuple[int, str]]] = defaultdict(list)  # term -> [(product id, field)]
        type_aliases = {(c.name, t.name): t.aliases for c in CATEGORIES for t in c.types}
        vocabulary = {_compact(a) for c in CATEGORIES for t in c.types for a in (t.name, *t.aliases)}
        vocabulary |= {_compact(b) for b in BRAND_ALIASES} | {_compact(a) for al in BRAND_ALIASES.values() for a in al}
        for row in rows:
            pid = row["id"]
            self.entries[pid] = _Entry(pid, row["brand"], row["category"], row["price"])
            cat = category_of(row["category"])
            self._add(row["name"], pid, "name")
            self._add(row["model"], pid, "model")
            for token in _model_tokens(row["model"], vocabulary | {_compact(row["model"])}):
                self._add(token, pid, "model_token")
            for brand_term in (row["brand"], *BRAND_ALIASES.get(row["brand"], ())):
                self._add(brand_term, pid, "brand")
            for type_term in (row["type_name"], *type_aliases.get((row["category"], row["type_name"]), ())):
                self._add(type_term, pid, "type")
            for cat_term in (row["category"], *(cat.aliases if cat else ())):
                self._add(cat_term, pid, "category")
        self._boundary = {t: re.compile(rf"(?<![a-z0-9]){re.escape(t)}(?![a-z0-9])") for t in self.terms
                          if _needs_boundary(t)}
        self._other_brands = [re.compile(rf"(?<![a-z0-9]){re.escape(_compact(b))}(?![a-z0-9])") for b in OTHER_BRANDS]

    def names_other_brand(self, text: str) -> bool:
        """Whether the text names a brand the shop does not sell ("苹果手机", "sony 耳机")."""
        compact = _compact(text)
        return any(p.search(compact) for p in self._other_brands)

    def _add(self, term: str, pid: int, field: str) -> None:
        key = _compact(term)
        if key and (pid, field) not in self.terms[key]:
            self.terms[key].append((pid, field))

    def _matches(self, text: str) -> set[str]:
        """Terms found in `text`, without those that only occur inside a longer found term."""
        spaced = _normalize(text)
        compact = spaced.replace(" ", "")
        to_compact = [0] * (len(spaced) + 1)  # index in `spaced` -> index in `compact`
        for i, ch in enumerate(spaced):
            to_compact[i + 1] = to_compact[i] + (ch != " ")
        spans: list[tuple[int, int, str]] = []
        for term in self.terms:
            pattern = self._boundary.get(term)
            if pattern is not None:
                spans.extend((to_compact[m.start()], to_compact[m.end()], term) for m in pattern.finditer(spaced))
                continue
            start = compact.find(term)
            while start != -1:
                spans.append((start, start + len(term), term))
                start = compact.find(term, start + 1)
        found: set[str] = set()
        for start, end, term in spans:
            inside_longer = any(s <= start and end <= e and e - s > end - start for s, e, t in spans if t != term)
            if not inside_longer:
                found.add(term)
        return found

    def score(self, text: str) -> dict[int, tuple[float, set[str]]]:
        """Product id -> (score, matched fields) for every product the text mentions."""
        fields: dict[int, dict[str, float]] = defaultdict(dict)
        for term in self._matches(text):
            for pid, field in self.terms[term]:
                if field == "model" and _is_weak(term):
                    field = "weak_model"
                weight = {
                    "name": W_NAME, "model": W_MODEL + 0.2 * len(term), "model_token": W_MODEL_TOKEN,
                    "brand": W_BRAND, "type": W_TYPE + 0.1 * len(term), "category": W_CATEGORY,
                    "weak_model": W_WEAK_MODEL,
                }[field]
                fields[pid][field] = max(fields[pid].get(field, 0.0), weight)
        scores = {}
        for pid, hit in fields.items():
            if "weak_model" in hit and not ({"brand", "type"} & hit.keys()):
                del hit["weak_model"]
            if hit:
                scores[pid] = (sum(hit.values()), set(hit))
        return scores


# --------------------------------------------------------------------------- the backend


class SqliteShopBackend:
    """The demo shop, stored in one SQLite file created by `bot.shop.seed.seed_database`."""

    def __init__(self, path: str | Path, *, clock: Callable[[], datetime] = datetime.now) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no shop database at {self.path}; create it with python -m bot.shop.seed")
        self._clock = clock
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=5.0)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA foreign_keys = ON")
        with self._read() as conn:
            self._index = _ProductIndex(conn.execute("SELECT id, name, brand, model, category, type_name, price"
                                                     " FROM products ORDER BY id").fetchall())

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SqliteShopBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several SELECTs."""
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                yield self._conn
            finally:
                self._conn.execute("COMMIT")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that holds the database's write lock from the start."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @property
    def reference_time(self) -> Optional[datetime]:
        """The 'now' the shop's orders were generated around (see `bot.shop.seed`)."""
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE key = 'reference_time'").fetchone()
        return from_db_time(row["value"]) if row else None

    def now(self) -> datetime:
        """The backend's clock, used for tickets, cancellations and 'active' campaigns."""
        return self._clock()

    # --- products -------------------------------------------------------

    def _products(self, conn: sqlite3.Connection, ids: Sequence[int]) -> list[Product]:
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = {r["id"]: r for r in conn.execute(f"SELECT * FROM products WHERE id IN ({marks})", tuple(ids))}
        variants: dict[int, list[Variant]] = defaultdict(list)
        for v in conn.execute(f"SELECT * FROM variants WHERE product_id IN ({marks}) ORDER BY sku", tuple(ids)):
            variants[v["product_id"]].append(Variant(v["sku"], v["product_id"], v["colour"], v["size"], v["stock"]))
        return [
            Product(
                id=r["id"], name=r["name"], brand=r["brand"], category=r["category"], type_name=r["type_name"],
                price=r["price"], specs=json.loads(r["specs"]), usage=r["usage"],
                warranty_months=r["warranty_months"], returnable=bool(r["returnable"]),
                variants=tuple(variants[r["id"]]), model=r["model"],
            )
            for r in (rows.get(i) for i in ids) if r is not None
        ]

    def get_product(self, product_id: int) -> Optional[Product]:
        """The product with its variants, or None."""
        if isinstance(product_id, bool) or not isinstance(product_id, int):
            return None
        with self._read() as conn:
            found = self._products(conn, [product_id])
        return found[0] if found else None

    def _ranked(self, text: Optional[str], brand: Optional[str], category: Optional[str],
                min_price: Optional[float], max_price: Optional[float]) -> list[tuple[int, float, set[str]]]:
        brand_name = (canonical_brand(brand) or brand) if brand else None
        cat = category_of(category) if category else None
        category_name = cat.name if cat else category

        def keep(entry: _Entry) -> bool:
            return ((brand_name is None or entry.brand == brand_name)
                    and (category_name is None or entry.category == category_name)
                    and (min_price is None or entry.price >= min_price)
                    and (max_price is None or entry.price <= max_price))

        if text is None or not isinstance(text, str) or not text.strip():
            return [(pid, 0.0, set()) for pid, e in self._index.entries.items() if keep(e)]
        scored = self._index.score(text)
        ranked = [(pid, s, hit) for pid, (s, hit) in scored.items() if keep(self._index.entries[pid])]
        ranked.sort(key=lambda r: (-r[1], r[0]))
        return ranked

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
        """Products matching free text (name, model, type, aliases) and filters, best match first.

        Without text (None or blank) every product passing the filters counts, in id order;
        text that names nothing in the shop gives []. At most 100 products are returned.
        """
        limit = max(0, min(int(limit), MAX_LIMIT))
        ids = [pid for pid, _, _ in self._ranked(text, brand, category, min_price, max_price)[:limit]]
        with self._read() as conn:
            return self._products(conn, ids)

    def resolve_product(self, mention: str, brand: Optional[str] = None) -> Optional[Product]:
        """The single product a shopper most likely means by `mention`, or None when nothing fits.

        The mention must name a model or a product type ("小黑瓶", "耐克跑鞋", "尿不湿"); a brand or
        category alone ("华为", "鞋子") is too vague and gives None.
        """
        if not isinstance(mention, str) or not mention.strip():
            return None
        ranked = self._ranked(mention, brand, None, None, None)
        if not ranked or not ({"name", "model", "model_token", "type", "weak_model"} & ranked[0][2]):
            return None
        if "brand" not in ranked[0][2] and not brand and self._index.names_other_brand(mention):
            return None  # "苹果手机": we sell phones, but not that one
        return self.get_product(ranked[0][0])

    # --- orders ---------------------------------------------------------

    @staticmethod
    def _clean_order_no(order_no: object) -> Optional[str]:
        if not isinstance(order_no, str):
            return None
        cleaned = re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", order_no[:64]))
        return cleaned if ORDER_NO.fullmatch(cleaned) else None

    def _orders(self, conn: sqlite3.Connection, order_nos: Sequence[str]) -> list[Order]:
        if not order_nos:
            return []
        marks = ",".join("?" * len(order_nos))
        args = tuple(order_nos)
        rows = {r["order_no"]: r for r in conn.execute(f"SELECT * FROM orders WHERE order_no IN ({marks})", args)}
        items: dict[str, list[OrderItem]] = defaultdict(list)
        for i in conn.execute(f"SELECT * FROM order_items WHERE order_no IN ({marks}) ORDER BY order_no, line_no",
                              args):
            items[i["order_no"]].append(OrderItem(i["sku"], i["product_id"], i["product_name"], i["colour"], i["size"],
                                                  i["quantity"], i["unit_price"], i["list_price"]))
        events: dict[str, list[LogisticsEvent]] = defaultdict(list)
        for e in conn.execute(f"SELECT * FROM logistics_events WHERE order_no IN ({marks}) ORDER BY order_no, seq",
                              args):
            events[e["order_no"]].append(LogisticsEvent(_time(e["at"]), e["location"], e["description"]))
        t = from_db_time
        return [
            Order(
                order_no=r["order_no"], customer_id=r["customer_id"], phone=r["phone"], address=r["address"],
                status=OrderStatus(r["status"]), created_at=_time(r["created_at"]), paid_at=t(r["paid_at"]),
                shipped_at=t(r["shipped_at"]), delivered_at=t(r["delivered_at"]), items=tuple(items[r["order_no"]]),
                shipping_fee=r["shipping_fee"], discount=r["discount"], total_paid=r["total_paid"],
                carrier=r["carrier"], tracking_no=r["tracking_no"], delivery_slot=r["delivery_slot"],
                events=tuple(events[r["order_no"]]), customer_name=r["customer_name"],
                completed_at=t(r["completed_at"]), cancelled_at=t(r["cancelled_at"]),
                cancel_reason=r["cancel_reason"], coupon_code=r["coupon_code"],
            )
            for r in (rows.get(n) for n in order_nos) if r is not None
        ]

    def get_order(self, order_no: str) -> Optional[Order]:
        """The order with items and logistics events, or None."""
        cleaned = self._clean_order_no(order_no)
        if cleaned is None:
            return None
        with self._read() as conn:
            found = self._orders(conn, [cleaned])
        return found[0] if found else None

    def verify_order(self, order_no: str, phone_last4: str) -> Optional[Order]:
        """The order only when `phone_last4` matches the phone on it; None otherwise."""
        if not isinstance(phone_last4, str):
            return None
        digits = unicodedata.normalize("NFKC", phone_last4[:16]).strip()
        if not re.fullmatch(r"\d{4}", digits):
            return None
        order = self.get_order(order_no)
        if order is None or not hmac.compare_digest(order.phone[-4:].encode(), digits.encode()):
            return None
        return order

    def find_orders(self, status: Optional[OrderStatus] = None, limit: int = 10) -> list[Order]:
        """Orders by status, newest first (for tools and tests, not for shoppers)."""
        limit = max(0, int(limit))
        with self._read() as conn:
            if status is None:
                rows = conn.execute("SELECT order_no FROM orders ORDER BY created_at DESC, order_no LIMIT ?", (limit,))
            else:
                rows = conn.execute("SELECT order_no FROM orders WHERE status = ? ORDER BY created_at DESC, order_no"
                                    " LIMIT ?", (OrderStatus(status).value, limit))
            numbers = [r["order_no"] for r in rows]
            found: list[Order] = []
            for start in range(0, len(numbers), 500):  # stay under SQLite's bound-parameter limit
                found.extend(self._orders(conn, numbers[start:start + 500]))
        return found

    def _require_order(self, conn: sqlite3.Connection, order_no: str) -> tuple[str, sqlite3.Row]:
        cleaned = self._clean_order_no(order_no)
        row = conn.execute("SELECT * FROM orders WHERE order_no = ?", (cleaned,)).fetchone() if cleaned else None
        if row is None:
            raise OrderNotFound(f"no order {order_no!r}")
        return row["order_no"], row

    def cancel_order(self, order_no: str, reason: str) -> Order:
        """Set the order to cancelled. Callers check `after_sales.can_cancel` first.

        Stock of an order that had not shipped goes back on the shelf.
        """
        now = to_db_time(self.now())
        with self._write() as conn:
            number, row = self._require_order(conn, order_no)
            conn.execute("UPDATE orders SET status = ?, cancelled_at = ?, cancel_reason = ?, updated_at = ?"
                         " WHERE order_no = ?", (OrderStatus.CANCELLED.value, now, str(reason)[:200], now, number))
            if row["status"] in (OrderStatus.PENDING_PAYMENT.value, OrderStatus.PAID.value):
                conn.execute("UPDATE variants SET stock = stock + (SELECT SUM(quantity) FROM order_items i"
                             " WHERE i.order_no = ? AND i.sku = variants.sku)"
                             " WHERE sku IN (SELECT sku FROM order_items WHERE order_no = ?)", (number, number))
            return self._orders(conn, [number])[0]

    def update_order(self, order_no: str, *, address: Optional[str] = None, phone: Optional[str] = None,
                     delivery_slot: Optional[str] = None) -> Order:
        """Change contact/delivery details. Callers check `after_sales.can_modify` first.

        Raises ValueError for a phone that is not an 11-digit mainland mobile number or an
        empty or overlong address.
        """
        changes: dict[str, str] = {}
        if address is not None:
            address = address.strip()
            if not 5 <= len(address) <= 200:
                raise ValueError("收货地址需要 5 到 200 个字")
            changes["address"] = address
        if phone is not None:
            phone = re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", phone))
            if not MOBILE_PHONE.fullmatch(phone):
                raise ValueError("手机号需要是 11 位数字")
            changes["phone"] = phone
        if delivery_slot is not None:
            if not 0 < len(delivery_slot.strip()) <= 50:
                raise ValueError("配送时间描述需要 1 到 50 个字")
            changes["delivery_slot"] = delivery_slot.strip()
        with self._write() as conn:
            number, _ = self._require_order(conn, order_no)
            for column, value in changes.items():  # column names come from the fixed keys above, never from input
                conn.execute(f"UPDATE orders SET {column} = ? WHERE order_no = ?", (value, number))
            if changes:
                conn.execute("UPDATE orders SET updated_at = ? WHERE order_no = ?", (to_db_time(self.now()), number))
            return self._orders(conn, [number])[0]

    # --- promotions -----------------------------------------------------

    @staticmethod
    def _promotion(r: sqlite3.Row) -> Promotion:
        return Promotion(r["id"], r["title"], r["description"], _time(r["starts_at"]), _time(r["ends_at"]), r["kind"],
                         r["threshold"], r["discount"], r["category"])

    @staticmethod
    def _coupon(r: sqlite3.Row) -> Coupon:
        return Coupon(r["code"], r["title"], r["threshold"], r["amount"], _time(r["starts_at"]), _time(r["ends_at"]),
                      r["category"], r["brand"])

    def active_promotions(self, at: Optional[datetime] = None, category: Optional[str] = None) -> list[Promotion]:
        """Campaigns running at `at` (default now), optionally those that cover a category."""
        when = to_db_time(at or self.now())
        cat = category_of(category) if category else None
        category_name = cat.name if cat else category
        with self._read() as conn:
            rows = conn.execute(
                "SELECT * FROM promotions WHERE starts_at <= ? AND ends_at >= ?"
                " AND (? IS NULL OR category IS NULL OR category = ?) ORDER BY ends_at, id",
                (when, when, category_name, category_name),
            ).fetchall()
        return [self._promotion(r) for r in rows]

    def promotions(self) -> list[Promotion]:
        """Every campaign, past, running and future, by start time."""
        with self._read() as conn:
            return [self._promotion(r) for r in conn.execute("SELECT * FROM promotions ORDER BY starts_at, id")]

    @staticmethod
    def _clean_code(code: object) -> Optional[str]:
        if not isinstance(code, str):
            return None
        cleaned = unicodedata.normalize("NFKC", code[:64]).strip().upper()
        return cleaned if re.fullmatch(r"[A-Z0-9]{2,32}", cleaned) else None

    def get_coupon(self, code: str) -> Optional[Coupon]:
        """A coupon by its code (case-insensitive)."""
        cleaned = self._clean_code(code)
        if cleaned is None:
            return None
        with self._read() as conn:
            row = conn.execute("SELECT * FROM coupons WHERE code = ?", (cleaned,)).fetchone()
        return self._coupon(row) if row else None

    def active_coupons(self, at: Optional[datetime] = None) -> list[Coupon]:
        """Coupons a shopper can claim now."""
        when = to_db_time(at or self.now())
        with self._read() as conn:
            rows = conn.execute("SELECT * FROM coupons WHERE starts_at <= ? AND ends_at >= ? ORDER BY threshold, code",
                                (when, when)).fetchall()
        return [self._coupon(r) for r in rows]

    def check_coupon(self, code: str, amount: float, product: Optional[Product] = None,
                     at: Optional[datetime] = None) -> CouponCheck:
        """Whether coupon `code` applies to an order of `amount` yuan (of `product`), and why."""
        return coupon_check(self.get_coupon(code), code, amount, product, at or self.now())

    # --- tickets --------------------------------------------------------

    @staticmethod
    def _ticket(r: sqlite3.Row) -> Ticket:
        return Ticket(r["ticket_no"], TicketKind(r["kind"]), r["status"], r["order_no"], _time(r["created_at"]),
                      json.loads(r["details"]), r["category"], r["severity"])

    def create_ticket(self, kind: TicketKind | str, *, order_no: Optional[str], details: dict[str, Any],
                      category: Optional[str] = None, severity: Optional[str] = None) -> Ticket:
        """File a ticket and return it with its number, 'T' + date + the day's 4-digit sequence."""
        ticket_kind = TicketKind(kind)
        if severity is not None and severity not in ("low", "medium", "high"):
            raise ValueError(f"severity must be low, medium or high, not {severity!r}")
        number = self._clean_order_no(order_no) if order_no is not None else None
        if order_no is not None and number is None:
            raise ValueError(f"not an order number: {order_no!r}")
        created = self.now().replace(microsecond=0)
        prefix = f"T{created:%Y%m%d}"
        # Tickets keep what shoppers wrote for as long as agents need it: phone, ID and card
        # numbers and street addresses in it are masked (bot.privacy.masking).
        body = json.dumps(mask_value(details or {}), ensure_ascii=False, default=str)
        with self._write() as conn:
            last = conn.execute("SELECT MAX(CAST(substr(ticket_no, 10) AS INTEGER)) FROM tickets"
                                " WHERE substr(ticket_no, 1, 9) = ?", (prefix,)).fetchone()[0]
            ticket_no = f"{prefix}{(last or 0) + 1:04d}"
            conn.execute(
                "INSERT INTO tickets (ticket_no, kind, status, order_no, details, category, severity, created_at,"
                " updated_at) VALUES (?, ?, 'open', ?, ?, ?, ?, ?, ?)",
                (ticket_no, ticket_kind.value, number, body, category, severity, to_db_time(created),
                 to_db_time(created)),
            )
            return self._ticket(conn.execute("SELECT * FROM tickets WHERE ticket_no = ?", (ticket_no,)).fetchone())

    def get_ticket(self, ticket_no: str) -> Optional[Ticket]:
        """A ticket by number."""
        if not isinstance(ticket_no, str):
            return None
        cleaned = unicodedata.normalize("NFKC", ticket_no[:32]).strip().upper()
        if not re.fullmatch(r"T\d{12,}", cleaned):
            return None
        with self._read() as conn:
            row = conn.execute("SELECT * FROM tickets WHERE ticket_no = ?", (cleaned,)).fetchone()
        return self._ticket(row) if row else None

    def orders_of_phone(self, phone: str) -> list[str]:
        """Numbers of the orders placed with this phone number."""
        cleaned = re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", phone or ""))
        if not MOBILE_PHONE.fullmatch(cleaned):
            return []
        with self._read() as conn:
            return [r[0] for r in conn.execute("SELECT order_no FROM orders WHERE phone = ? ORDER BY order_no",
                                               (cleaned,))]

    def forget_customer(self, order_nos: Sequence[str], conversation_ids: Sequence[str]) -> dict[str, int]:
        """Delete the tickets of these orders or conversations and blank the customers' name, phone and
        address on the orders (the orders stay for the shop's accounts); counts by kind."""
        numbers = sorted({n for n in map(self._clean_order_no, order_nos) if n})
        senders = sorted(set(conversation_ids))
        removed = {"tickets": 0, "orders_anonymised": 0, "customers_anonymised": 0}
        with self._write() as conn:
            doomed = set()
            for number in numbers:
                doomed |= {r[0] for r in conn.execute("SELECT ticket_no FROM tickets WHERE order_no = ?", (number,))}
            for row in conn.execute("SELECT ticket_no, details FROM tickets"):
                details = json.loads(row[1] or "{}")
                if details.get("sender_id") in senders or any(n in row[1] for n in numbers):
                    doomed.add(row[0])
            for ticket_no in doomed:
                conn.execute("DELETE FROM tickets WHERE ticket_no = ?", (ticket_no,))
            removed["tickets"] = len(doomed)
            for number in numbers:
                row = conn.execute("SELECT customer_id FROM orders WHERE order_no = ?", (number,)).fetchone()
                if row is None:
                    continue
                removed["orders_anonymised"] += conn.execute(
                    "UPDATE orders SET customer_name = ?, phone = ?, address = ?, updated_at = ? WHERE order_no = ?",
                    (FORGOTTEN, FORGOTTEN, FORGOTTEN, to_db_time(self.now()), number)).rowcount
                removed["customers_anonymised"] += conn.execute(
                    "UPDATE customers SET name = ?, phone = ?, address = ? WHERE id = ? AND name != ?",
                    (FORGOTTEN, f"{FORGOTTEN}-{row[0]}", FORGOTTEN, row[0], FORGOTTEN)).rowcount
        return removed

    def tickets_for_order(self, order_no: str) -> Sequence[Ticket]:
        """All tickets filed on an order, oldest first."""
        cleaned = self._clean_order_no(order_no)
        if cleaned is None:
            return []
        with self._read() as conn:
            rows = conn.execute("SELECT * FROM tickets WHERE order_no = ? ORDER BY created_at, ticket_no",
                                (cleaned,)).fetchall()
        return [self._ticket(r) for r in rows]
