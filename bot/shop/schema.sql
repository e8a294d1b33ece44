-- The demo shop's SQLite schema. `bot.shop.seed` creates it and fills it;
-- `bot.shop.sqlite_backend` reads and updates it. Times are local ISO strings
-- ("2026-11-25 08:30:00"), money is yuan as REAL rounded to cents.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE products (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    brand           TEXT NOT NULL,
    model           TEXT NOT NULL,
    category        TEXT NOT NULL,
    type_name       TEXT NOT NULL,
    price           REAL NOT NULL,
    specs           TEXT NOT NULL,  -- JSON object
    usage           TEXT NOT NULL,
    warranty_months INTEGER NOT NULL,
    returnable      INTEGER NOT NULL  -- 1: 7-day no-reason return allowed
);
CREATE INDEX products_category ON products (category);
CREATE INDEX products_brand ON products (brand);

CREATE TABLE variants (
    sku        TEXT PRIMARY KEY,
    product_id INTEGER NOT NULL REFERENCES products (id),
    colour     TEXT NOT NULL,
    size       TEXT NOT NULL,
    stock      INTEGER NOT NULL CHECK (stock >= 0),
    UNIQUE (product_id, colour, size)
);

CREATE TABLE customers (
    id      INTEGER PRIMARY KEY,
    name    TEXT NOT NULL,
    phone   TEXT NOT NULL UNIQUE,
    address TEXT NOT NULL
);

CREATE TABLE orders (
    order_no      TEXT PRIMARY KEY,
    customer_id   INTEGER NOT NULL REFERENCES customers (id),
    customer_name TEXT,
    phone         TEXT NOT NULL,
    address       TEXT NOT NULL,
    status        TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    paid_at       TEXT,
    shipped_at    TEXT,
    delivered_at  TEXT,
    completed_at  TEXT,
    cancelled_at  TEXT,
    cancel_reason TEXT,
    shipping_fee  REAL NOT NULL,
    discount      REAL NOT NULL,
    total_paid    REAL NOT NULL,
    coupon_code   TEXT,
    carrier       TEXT,
    tracking_no   TEXT,
    delivery_slot TEXT,
    updated_at    TEXT NOT NULL
);
CREATE INDEX orders_status_created ON orders (status, created_at);
CREATE INDEX orders_created ON orders (created_at);

CREATE TABLE order_items (
    order_no     TEXT NOT NULL REFERENCES orders (order_no),
    line_no      INTEGER NOT NULL,
    sku          TEXT NOT NULL REFERENCES variants (sku),
    product_id   INTEGER NOT NULL REFERENCES products (id),
    product_name TEXT NOT NULL,
    colour       TEXT NOT NULL,
    size         TEXT NOT NULL,
    quantity     INTEGER NOT NULL CHECK (quantity > 0),
    list_price   REAL NOT NULL,
    unit_price   REAL NOT NULL,
    PRIMARY KEY (order_no, line_no)
);

CREATE TABLE logistics_events (
    order_no    TEXT NOT NULL REFERENCES orders (order_no),
    seq         INTEGER NOT NULL,
    at          TEXT NOT NULL,
    location    TEXT NOT NULL,
    description TEXT NOT NULL,
    PRIMARY KEY (order_no, seq)
);

CREATE TABLE promotions (
    id          INTEGER PRIMARY KEY,
    title       TEXT NOT NULL,
    description TEXT NOT NULL,
    starts_at   TEXT NOT NULL,
    ends_at     TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('threshold', 'percent', 'gift')),
    threshold   REAL NOT NULL,
    discount    REAL NOT NULL,
    category    TEXT
);

CREATE TABLE coupons (
    code      TEXT PRIMARY KEY COLLATE NOCASE,
    title     TEXT NOT NULL,
    threshold REAL NOT NULL,
    amount    REAL NOT NULL,
    starts_at TEXT NOT NULL,
    ends_at   TEXT NOT NULL,
    category  TEXT,
    brand     TEXT
);

CREATE TABLE tickets (
    ticket_no  TEXT PRIMARY KEY,  -- 'T' + yyyymmdd + 4-digit sequence of that day
    kind       TEXT NOT NULL,
    status     TEXT NOT NULL DEFAULT 'open',
    order_no   TEXT,
    details    TEXT NOT NULL,  -- JSON object
    category   TEXT,
    severity   TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX tickets_order ON tickets (order_no, created_at);
