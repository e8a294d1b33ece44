"""Agents' working hours per channel: weekdays, Friday's late close, public holidays and make-up working days."""
from __future__ import annotations

import re
from datetime import date, datetime, time
from pathlib import Path

import pytest
import yaml

from bot.config import PROJECT_ROOT
from bot.handoff.escalation import escalate
from bot.handoff.hours import (
    CHANNEL_HOURS,
    DEFAULT_HOURS,
    SHOP_TZ,
    WEEKDAY_HOURS,
    Schedule,
    agents_on_duty,
    hours_text,
    is_working_day,
    next_opening,
    next_opening_text,
)
from bot.handoff.leave_message import request_handoff
from bot.handoff.queue import HandoffQueue
from bot.shop.seed import seed_database
from bot.shop.sqlite_backend import SqliteShopBackend

# A channel answered on shorter hours, for the tests that configure one.
SHORT = Schedule({day: (time(10), time(17)) for day in range(5)}, makeup_day=None)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHOP_TZ)


@pytest.mark.parametrize("when, on_duty", [
    ("2026-11-30 08:59", False), ("2026-11-30 09:00", True), ("2026-11-30 17:59", True),
    ("2026-11-30 18:00", False),  # Monday closes at 18:00
    ("2026-12-04 19:59", True), ("2026-12-04 20:00", False),  # Friday until 20:00
    ("2026-12-05 10:00", False), ("2026-12-06 10:00", False),  # weekend
    ("2026-10-01 10:00", False), ("2026-10-07 10:00", False),  # National Day holiday, on weekdays
    ("2026-01-01 10:00", False),  # New Year's Day
    ("2026-02-14 10:00", True),  # a Saturday made a working day for the Spring Festival (调休)
    ("2026-02-17 10:00", False),  # Spring Festival
])
def test_agents_on_duty(when: str, on_duty: bool) -> None:
    assert agents_on_duty(at(when)) is on_duty


def test_time_zone_is_the_shops() -> None:
    # 02:00 UTC on a Monday is 10:00 in Shanghai
    assert agents_on_duty(datetime.fromisoformat("2026-11-30T02:00:00+00:00"))


def test_make_up_day_keeps_ordinary_hours() -> None:
    assert not agents_on_duty(at("2026-02-14 18:30"))


def test_next_opening_skips_weekends_and_holidays() -> None:
    assert next_opening(at("2026-11-30 08:00")) == at("2026-11-30 09:00")
    assert next_opening(at("2026-12-04 20:30")) == at("2026-12-07 09:00")
    assert next_opening(at("2026-09-30 19:00")) == at("2026-10-08 09:00")
    assert next_opening(at("2026-02-13 21:00")) == at("2026-02-14 09:00")


def test_next_opening_text_says_when() -> None:
    assert next_opening_text(at("2026-11-30 08:00")) == "今天 9:00"
    assert next_opening_text(at("2026-11-30 19:00")) == "明天 9:00"
    assert next_opening_text(at("2026-12-04 20:30")) == "12月7日（周一） 9:00"


def test_a_year_without_calendar_data_falls_back_to_weekdays() -> None:
    assert is_working_day(date(2099, 6, 1))  # a Monday
    assert not is_working_day(date(2099, 6, 6))  # a Saturday


def test_hours_text_is_built_from_the_hours() -> None:
    assert hours_text() == "周一到周四 9:00-18:00、周五 9:00-20:00"
    assert set(WEEKDAY_HOURS) == {0, 1, 2, 3, 4}


def test_every_domain_text_that_states_hours_states_these() -> None:
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
    texts = [v.get("text", "") for variants in domain["responses"].values() for v in variants]
    stating = [t for t in texts if re.search(r"\d{1,2}:\d\d", t) and ("客服" in t or "人工" in t)]
    assert stating, "no response states the agents' hours any more: update this test"
    # domain responses go to every channel: they must be true for each (give a channel other hours, and
    # these texts have to stop stating them or be generated per channel)
    for channel in (None, *CHANNEL_HOURS):
        for text in stating:
            assert hours_text(channel) in text, (channel, text)


def test_every_channel_has_the_contracts_hours_by_default() -> None:
    assert set(CHANNEL_HOURS) >= {"socketio", "rest", "telegram", "wechat", "email"}
    assert all(schedule == DEFAULT_HOURS for schedule in CHANNEL_HOURS.values())
    assert hours_text("no-such-channel") == hours_text() == "周一到周四 9:00-18:00、周五 9:00-20:00"


def test_a_channel_with_its_own_hours_is_off_duty_while_another_is_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(CHANNEL_HOURS, "wechat", SHORT)
    evening = at("2026-11-30 17:30")  # a Monday
    assert agents_on_duty(evening, "socketio") and not agents_on_duty(evening, "wechat")
    assert agents_on_duty(evening, "some-new-channel")  # the default hours
    assert next_opening(evening, "wechat") == at("2026-12-01 10:00")
    assert next_opening_text(evening, "wechat") == "明天 10:00"
    assert hours_text("wechat") == "周一到周五 10:00-17:00"
    # a make-up working Saturday: the web chat's agents work it, this channel's do not
    makeup = at("2026-02-14 11:00")
    assert agents_on_duty(makeup, "socketio") and not agents_on_duty(makeup, "wechat")
    assert next_opening(makeup, "wechat") == at("2026-02-24 10:00")  # after the Spring Festival


def test_escalation_and_leaving_a_message_follow_the_conversations_channel(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, queue: HandoffQueue) -> None:
    monkeypatch.setitem(CHANNEL_HOURS, "wechat", SHORT)
    seed_database(tmp_path / "shop.db")
    shop = SqliteShopBackend(tmp_path / "shop.db")
    evening = at("2026-11-30 17:30")
    web = escalate(queue, shop, "web-1", "shopper_request", channel="socketio", at=evening)
    assert web.queued and queue.position("web-1") == 1
    wechat = escalate(queue, shop, "wx-1", "shopper_request", channel="wechat", at=evening)
    assert not wechat.queued and queue.position("wx-1") is None and wechat.next_opening == "明天 10:00"
    assert "人工客服周一到周五 10:00-17:00" in wechat.shopper_text() and "明天 10:00上班后" in wechat.shopper_text()
    left = request_handoff(shop, "wx-2", "left_message_in_queue", "wechat", at=evening)
    assert not left.on_duty and left.next_opening == "明天 10:00"
    assert request_handoff(shop, "web-2", "left_message_in_queue", "socketio", at=evening).on_duty
