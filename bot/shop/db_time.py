"""How times are stored in the shop database: naive shop-local text, sortable as strings."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def to_db_time(value: Optional[datetime]) -> Optional[str]:
    return value.strftime(TIME_FORMAT) if value is not None else None


def from_db_time(value: Optional[str]) -> Optional[datetime]:
    return datetime.strptime(value, TIME_FORMAT) if value else None
