"""Masking personal data in free text: phones, ID cards, bank cards, street addresses; order numbers stay."""
from __future__ import annotations

import logging

import pytest

from bot.privacy.logs import install_masking
from bot.privacy.masking import mask_address, mask_phone, mask_text, mask_value


@pytest.mark.parametrize("text, expected", [
    ("我的新号码13812345678", "我的新号码138****5678"),
    ("电话 138 1234 5678 谢谢", "电话 138****5678 谢谢"),
    ("电话138-1234-5678", "电话138****5678"),
    ("身份证110101199003071234", "身份证110101********1234"),
    ("身份证号11010119900307123X。", "身份证号110101********123X。"),
    ("卡号6222 0212 3456 7890 123", "卡号****0123"),
    ("退到6222021234567890", "退到****7890"),
    ("地址浙江省杭州市西湖区文三路123号翠苑小区5栋2单元301室", "地址浙江省杭州市西湖区****"),
    ("北京市朝阳区望京街12号阳光花园3栋1单元1201室，电话13800001111", "北京市朝阳区****，电话138****1111"),
    ("上海市浦东新区南京路88号", "上海市浦东新区****"),
])
def test_personal_data_is_masked(text: str, expected: str) -> None:
    assert mask_text(text) == expected


@pytest.mark.parametrize("text", [
    "订单2611038862104557到哪了", "2611 0388 6210 4557", "尾号1234", "价格299元", "42码有货吗", "小米14 12+256G",
    "满300减40", "",
])
def test_what_is_not_personal_stays(text: str) -> None:
    assert mask_text(text) == text


def test_helpers() -> None:
    assert mask_phone("13812345678") == "138****5678" and mask_phone("010-12345678") == "****5678"
    assert mask_address("北京市朝阳区望京街12号") == "北京市朝阳区****"
    assert mask_address("北京朝阳那个小区") == "北京朝阳那个****"
    assert mask_value({"a": ["13812345678", 5], "b": None}) == {"a": ["138****5678", 5], "b": None}


def test_log_records_are_masked(caplog: pytest.LogCaptureFixture) -> None:
    install_masking()
    with caplog.at_level(logging.INFO):
        logging.getLogger("some.library").info("user said %s", "我的电话13812345678")
        logging.getLogger("some.library").info("address 北京市朝阳区望京街12号1201室")
    assert "13812345678" not in caplog.text and "138****5678" in caplog.text
    assert "望京街" not in caplog.text
