"""Money and dates as shoppers read them."""
from __future__ import annotations

from datetime import datetime

from bot.shop.formatting import day, day_time, full_day, yuan


def test_yuan() -> None:
    assert [yuan(v) for v in (199, 199.0, 199.5, 12.25, 0, 0.1 + 0.2)] == ["¥199", "¥199", "¥199.50", "¥12.25", "¥0", "¥0.30"]


def test_dates() -> None:
    when = datetime(2026, 3, 5, 14, 5)
    assert (day(when), full_day(when), day_time(when)) == ("3月5日", "2026年3月5日", "3月5日 14:05")
