"""The shop's number formats: one pattern each, used by the actions, the NLU and the backend."""
from __future__ import annotations

from typing import Optional

import pytest

from bot.shop.identifiers import DIGITS_ONLY, MOBILE_PHONE, ORDER_NO, ORDER_NO_FORMAT, PHONE_LAST4, find_order_no


@pytest.mark.parametrize("text, expected", [
    ("2611038862104557", "2611038862104557"),
    ("订单2611038862104557到哪了", "2611038862104557"),
    ("2611 0388 6210 4557", "2611038862104557"),
    ("2611-0388-6210-4557", "2611038862104557"),
    ("1611038862104557", None),  # wrong prefix
    ("26110388621045570", None),  # 17 digits
    ("", None),
    (None, None),
])
def test_find_order_no(text: Optional[str], expected: Optional[str]) -> None:
    assert find_order_no(text) == expected


def test_order_number_format_text_matches_the_pattern() -> None:
    assert ORDER_NO_FORMAT == "以26开头的16位数字"
    assert ORDER_NO.fullmatch("26" + "0" * 14) and not ORDER_NO.fullmatch("26" + "0" * 13)


def test_phone_patterns() -> None:
    assert MOBILE_PHONE.search("我的新号码13812345678谢谢")
    assert not MOBILE_PHONE.search("123812345678")  # 12 digits
    assert not MOBILE_PHONE.search("12812345678")  # 12x is no mobile prefix
    assert PHONE_LAST4.search("尾号1234").group(1) == "1234"
    assert not PHONE_LAST4.search("12345")


def test_digits_only() -> None:
    assert DIGITS_ONLY.fullmatch("2611 0388，6210。4557")
    assert not DIGITS_ONLY.fullmatch("42码")
