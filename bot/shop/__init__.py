"""The shop the assistant serves: catalog, data records, backend interface and after-sales rules.

Actions get a backend with `open_backend()` and never touch SQL:

    from bot.shop import open_backend
    shop = open_backend()            # SHOP_DB (bot.config), default .state/shop.db, seeded on first use
    order = shop.verify_order("2612345678901234", "1234")
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Optional

from bot.shop.backend import ShopBackend

__all__ = ["ShopBackend", "ensure_database", "open_backend"]


def ensure_database(path: Optional[str | Path] = None) -> Path:
    """The shop database file at `path` (default: the configured `SHOP_DB`), seeded if missing.

    An existing file is used as it is, with whatever orders and tickets it holds.
    """
    from bot.config import load_settings
    from bot.shop.seed import seed_database

    db = Path(path) if path is not None else load_settings().shop_db
    if not db.exists():
        with contextlib.suppress(FileExistsError):  # another process seeded it in the meantime
            seed_database(db)
    return db


def open_backend(path: Optional[str | Path] = None) -> ShopBackend:
    """The shop backend over the SQLite file at `path` or `SHOP_DB`, seeding it on first use."""
    from bot.shop.sqlite_backend import SqliteShopBackend

    return SqliteShopBackend(ensure_database(path))
