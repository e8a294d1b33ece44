"""Pure helpers the actions rely on: parsing what shoppers type."""
from __future__ import annotations

import pytest

from actions.after_sales import condition_of
from actions.orders import field_of
from actions.verification import parse_last4, parse_order_no


@pytest.mark.parametrize("text, expected", [
    ("2611203345678901", "2611203345678901"),
    ("订单编号：2611203345678901 下单时间：2026-11-20 15:32:11", "2611203345678901"),
    ("单号2611203345678901。", "2611203345678901"),
])
def test_order_numbers_are_found_in_pasted_text(text: str, expected: str) -> None:
    assert parse_order_no(text) == (expected, "")


@pytest.mark.parametrize("text", ["12345678", "26112033456789012345", "1611203345678901"])
def test_malformed_order_numbers_get_a_hint(text: str) -> None:
    number, hint = parse_order_no(text)
    assert number is None and "16位" in hint and text in hint


def test_no_digits_get_a_hint() -> None:
    number, hint = parse_order_no("我忘了")
    assert number is None and "16位" in hint


@pytest.mark.parametrize("text, expected", [
    ("1234", "1234"), ("尾号5678", "5678"), ("手机13812345678", "5678"), ("后四位是 0090 哦", "0090"),
    ("不记得了", None), ("12345", None),
])
def test_phone_last_four(text: str, expected) -> None:
    assert parse_last4(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("没拆封", "unused"), ("吊牌还在没穿过", "unused"), ("鞋底开胶了", "defective"), ("穿过一次", "used"),
    ("嗯嗯", None),
])
def test_item_condition(text: str, expected) -> None:
    assert condition_of(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("address", "address"), ("改收货地址", "address"), ("手机号填错了", "phone"), ("周末送", "delivery_time"),
    ("随便", None),
])
def test_order_field(text: str, expected) -> None:
    assert field_of(text, None) == expected
