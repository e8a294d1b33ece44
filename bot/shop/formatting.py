"""How the shop writes money and dates for shoppers: one format everywhere."""
from __future__ import annotations

from datetime import datetime


def yuan(amount: float) -> str:
    """¥199 or ¥199.50: whole yuan without decimals, as shops print prices."""
    value = round(float(amount), 2)
    return f"¥{value:.0f}" if value.is_integer() else f"¥{value:.2f}"


def day(when: datetime) -> str:
    """11月3日."""
    return f"{when.month}月{when.day}日"


def full_day(when: datetime) -> str:
    """2026年11月3日."""
    return f"{when.year}年{when.month}月{when.day}日"


def day_time(when: datetime) -> str:
    """11月3日 14:05."""
    return f"{day(when)} {when:%H:%M}"
