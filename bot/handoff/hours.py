"""When human agents work, per channel: weekday hours, mainland China's public holidays and make-up working days.

The hours are defined here once, per channel (`CHANNEL_HOURS`, keyed by Rasa's
input channel name; any other channel gets `DEFAULT_HOURS`). Every text that
states them is built from `hours_text(channel)` (the bot's answers) or checked
against it (`domain.yml`, by `tests/bot/handoff/test_hours.py`, for every channel).
They live in Python rather than `triggers.yml` because they are part of the
service contract: changing them means changing the texts that state them, which
the test above makes one reviewed change, and a typo in a time fails at import
instead of at the first escalation. Holidays and the weekends that become working
days (调休) come from the `chinese_calendar` package; for a year it has no data
for yet, plain weekdays are working days.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Mapping, Optional
from zoneinfo import ZoneInfo

import chinese_calendar

logger = logging.getLogger(__name__)

SHOP_TZ = ZoneInfo("Asia/Shanghai")

# The contract's hours: opening and closing time by weekday (Monday = 0), Friday until 20:00.
WEEKDAY_HOURS: dict[int, tuple[time, time]] = {
    0: (time(9), time(18)), 1: (time(9), time(18)), 2: (time(9), time(18)), 3: (time(9), time(18)),
    4: (time(9), time(20)),
}
# A make-up working weekend day (调休) keeps the hours of Monday to Thursday.
MAKEUP_DAY_HOURS = WEEKDAY_HOURS[0]
_DAY_NAMES = "一二三四五六日"


@dataclass(frozen=True)
class Schedule:
    """One channel's working hours: (opening, closing) by weekday, Monday = 0 to Friday = 4 (a weekday left out
    is closed), and the hours of a make-up working weekend day (None: closed on those too)."""

    weekdays: Mapping[int, tuple[time, time]]
    makeup_day: Optional[tuple[time, time]]


DEFAULT_HOURS = Schedule(WEEKDAY_HOURS, MAKEUP_DAY_HOURS)
# Rasa's input channel names. The web chat and the app talk Socket.IO (`socketio`); the app's backend and
# scripts REST (`rest`). Give a channel its own Schedule here; every text stating hours follows.
CHANNEL_HOURS: dict[str, Schedule] = {
    "socketio": DEFAULT_HOURS, "rest": DEFAULT_HOURS, "telegram": DEFAULT_HOURS, "wechat": DEFAULT_HOURS,
    "email": DEFAULT_HOURS,
}


def schedule_for(channel: Optional[str]) -> Schedule:
    """The hours agents answer `channel` in (the default hours for an unknown or missing channel)."""
    return CHANNEL_HOURS.get(channel or "", DEFAULT_HOURS)


def is_working_day(day: date) -> bool:
    """A day agents work: a weekday that is not a public holiday, or a make-up working weekend day."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        _warn_no_calendar(day.year)
        return day.weekday() < 5


@cache
def _warn_no_calendar(year: int) -> None:
    logger.warning("chinese_calendar has no holidays for %d yet: plain weekdays count as working days "
                   "until the package is updated", year)


def hours_on(day: date, channel: Optional[str] = None) -> Optional[tuple[time, time]]:
    """(opening, closing) on `day` for `channel`, or None when its agents do not work that day."""
    if not is_working_day(day):
        return None
    schedule = schedule_for(channel)
    return schedule.weekdays.get(day.weekday()) if day.weekday() < 5 else schedule.makeup_day


def _shop_time(at: Optional[datetime]) -> datetime:
    return (at or datetime.now(SHOP_TZ)).astimezone(SHOP_TZ)


def agents_on_duty(at: Optional[datetime] = None, channel: Optional[str] = None) -> bool:
    """Whether agents answer `channel` at `at` (default now; naive times are read as the machine's local time)."""
    local = _shop_time(at)
    hours = hours_on(local.date(), channel)
    return hours is not None and hours[0] <= local.time() < hours[1]


def next_opening(at: Optional[datetime] = None, channel: Optional[str] = None) -> datetime:
    """When agents of `channel` next start work after `at` (shop time); `at` itself's day when before opening."""
    local = _shop_time(at)
    for offset in range(0, 60):  # the longest break (Spring Festival) is about nine days
        day = local.date() + timedelta(days=offset)
        hours = hours_on(day, channel)
        if hours is None:
            continue
        opening = datetime.combine(day, hours[0], tzinfo=SHOP_TZ)
        if opening > local:
            return opening
    raise RuntimeError("no working day within 60 days: check the holiday calendar")


def _span(hours: tuple[time, time]) -> str:
    return f"{hours[0].hour}:{hours[0]:%M}-{hours[1].hour}:{hours[1]:%M}"


def hours_text(channel: Optional[str] = None) -> str:
    """`channel`'s working hours as shoppers read them: 周一到周四 9:00-18:00、周五 9:00-20:00."""
    groups: list[tuple[list[int], tuple[time, time]]] = []
    for weekday, hours in sorted(schedule_for(channel).weekdays.items()):
        if groups and groups[-1][1] == hours and groups[-1][0][-1] == weekday - 1:
            groups[-1][0].append(weekday)
        else:
            groups.append(([weekday], hours))
    parts = []
    for days, hours in groups:
        names = f"周{_DAY_NAMES[days[0]]}" + (f"到周{_DAY_NAMES[days[-1]]}" if len(days) > 1 else "")
        parts.append(f"{names} {_span(hours)}")
    return "、".join(parts)


def next_opening_text(at: Optional[datetime] = None, channel: Optional[str] = None) -> str:
    """When an agent will answer `channel`, for a shopper: 今天 9:00 / 明天 9:00 / 12月1日（周一）9:00."""
    local = _shop_time(at)
    opening = next_opening(local, channel)
    days = (opening.date() - local.date()).days
    when = {0: "今天", 1: "明天", 2: "后天"}.get(days, f"{opening.month}月{opening.day}日（周{_DAY_NAMES[opening.weekday()]}）")
    return f"{when} {opening.hour}:{opening:%M}"
