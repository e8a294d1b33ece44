"""When human agents work: weekday hours, mainland China's public holidays and make-up working days.

The hours are defined here once; every text that states them is built from
`hours_text()` (the bot's answers) or checked against it (`domain.yml`, by
`tests/bot/handoff/test_hours.py`). Holidays and the weekends that become working
days (调休) come from the `chinese_calendar` package; for a year it has no data
for yet, plain weekdays are working days.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Optional
from zoneinfo import ZoneInfo

import chinese_calendar

logger = logging.getLogger(__name__)

SHOP_TZ = ZoneInfo("Asia/Shanghai")

# Opening and closing time by weekday (Monday = 0). A make-up working weekend day
# keeps the hours of Monday to Thursday.
WEEKDAY_HOURS: dict[int, tuple[time, time]] = {
    0: (time(9), time(18)), 1: (time(9), time(18)), 2: (time(9), time(18)), 3: (time(9), time(18)),
    4: (time(9), time(20)),
}
MAKEUP_DAY_HOURS = WEEKDAY_HOURS[0]
_DAY_NAMES = "一二三四五六日"


def is_working_day(day: date) -> bool:
    """A day agents work: a weekday that is not a public holiday, or a make-up working weekend day."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        _warn_no_calendar(day.year)
        return day.weekday() in WEEKDAY_HOURS


@cache
def _warn_no_calendar(year: int) -> None:
    logger.warning("chinese_calendar has no holidays for %d yet: plain weekdays count as working days "
                   "until the package is updated", year)


def hours_on(day: date) -> Optional[tuple[time, time]]:
    """(opening, closing) on `day`, or None when agents do not work that day."""
    if not is_working_day(day):
        return None
    return WEEKDAY_HOURS.get(day.weekday(), MAKEUP_DAY_HOURS)


def _shop_time(at: Optional[datetime]) -> datetime:
    return (at or datetime.now(SHOP_TZ)).astimezone(SHOP_TZ)


def agents_on_duty(at: Optional[datetime] = None) -> bool:
    """Whether agents are working at `at` (default now; naive times are read as the machine's local time)."""
    local = _shop_time(at)
    hours = hours_on(local.date())
    return hours is not None and hours[0] <= local.time() < hours[1]


def next_opening(at: Optional[datetime] = None) -> datetime:
    """When agents next start work after `at` (shop time); `at` itself's day when before opening."""
    local = _shop_time(at)
    for offset in range(0, 60):  # the longest break (Spring Festival) is about nine days
        day = local.date() + timedelta(days=offset)
        hours = hours_on(day)
        if hours is None:
            continue
        opening = datetime.combine(day, hours[0], tzinfo=SHOP_TZ)
        if opening > local:
            return opening
    raise RuntimeError("no working day within 60 days: check the holiday calendar")


def _span(hours: tuple[time, time]) -> str:
    return f"{hours[0].hour}:{hours[0]:%M}-{hours[1].hour}:{hours[1]:%M}"


def hours_text() -> str:
    """The working hours as shoppers read them: 周一到周四 9:00-18:00、周五 9:00-20:00."""
    groups: list[tuple[list[int], tuple[time, time]]] = []
    for weekday, hours in sorted(WEEKDAY_HOURS.items()):
        if groups and groups[-1][1] == hours and groups[-1][0][-1] == weekday - 1:
            groups[-1][0].append(weekday)
        else:
            groups.append(([weekday], hours))
    parts = []
    for days, hours in groups:
        names = f"周{_DAY_NAMES[days[0]]}" + (f"到周{_DAY_NAMES[days[-1]]}" if len(days) > 1 else "")
        parts.append(f"{names} {_span(hours)}")
    return "、".join(parts)


def next_opening_text(at: Optional[datetime] = None) -> str:
    """When an agent will answer, for a shopper: 今天 9:00 / 明天 9:00 / 12月1日（周一）9:00."""
    local = _shop_time(at)
    opening = next_opening(local)
    days = (opening.date() - local.date()).days
    when = {0: "今天", 1: "明天", 2: "后天"}.get(days, f"{opening.month}月{opening.day}日（周{_DAY_NAMES[opening.weekday()]}）")
    return f"{when} {opening.hour}:{opening:%M}"
