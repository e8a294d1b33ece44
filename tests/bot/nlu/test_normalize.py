from __future__ import annotations

import pytest

from bot.guard.screening import EMPTY_REPLY, BadRequest, check_sender, screen_message
from bot.nlu.normalize import MAX_NLU_CHARS, keeps_offsets, normalize_text


@pytest.mark.parametrize("raw, expected", [
    ("請問這件有貨嗎", "请问这件有货吗"),
    ("ＸＬ碼還有嗎？？？", "XL码还有吗?"),
    ("后四位１２３４", "后四位1234"),
    ("在吗!!!!!!", "在吗!"),
    ("太贵了吧。。。", "太贵了吧。"),
    ("  订单\t\t2611\n在吗  ", "订单 2611 在吗"),
    ("abc\x00\x07def", "abc def"),
    ("", ""),
])
def test_normalize(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_normalize_is_idempotent_and_bounded() -> None:
    text = "請問ＸＬ碼？？" * 1000
    once = normalize_text(text)
    assert normalize_text(once) == once
    assert len(once) <= MAX_NLU_CHARS


def test_traditional_and_simplified_forms_meet() -> None:
    assert normalize_text("請問這件有貨嗎") == normalize_text("请问这件有货吗")


def test_keeps_offsets() -> None:
    assert keeps_offsets("ＸＬ", "XL")
    assert not keeps_offsets("a  b", "a b")


def test_screen_message() -> None:
    assert screen_message("你好", 500).reply is None
    assert screen_message("  ", 500).reply == EMPTY_REPLY
    assert screen_message(None, 500).reply == EMPTY_REPLY
    long = screen_message("好" * 501, 500)
    assert long.reply and "501" in long.reply
    with pytest.raises(BadRequest):
        screen_message(123, 500)


def test_check_sender() -> None:
    assert check_sender("abc") == "abc"
    for bad in ("", "  ", None, 5, "x" * 129):
        with pytest.raises(BadRequest):
            check_sender(bad)
