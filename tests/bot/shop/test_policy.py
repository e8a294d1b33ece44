"""Every text that states a shop rule agrees with the rule.

The numbers live in `bot.shop.policy` (and the catalog for warranties and
return exclusions). The bot's own sentences are built from them; the fixed
answers in `domain.yml` are checked here, phrase by phrase, so a rule changed
in one place fails until its texts follow.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot.config import PROJECT_ROOT
from bot.shop import policy
from bot.shop.catalog import CATEGORIES, product_type
from bot.shop.formatting import yuan
from bot.shop.policy import exclusions_text, no_reason_return_exclusions, shipping_fee


def _responses() -> dict[str, str]:
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
    return {name: "\n".join(v.get("text", "") for v in variants) for name, variants in domain["responses"].items()}


RESPONSES = _responses()
ALL_TEXT = "\n".join(RESPONSES.values())


def _numbers(pattern: str, text: str = ALL_TEXT) -> list[str]:
    return re.findall(pattern, text)


# (phrase with one number, the number it must be). Each phrase must occur at least once.
STATED = [
    (r"(\d+)天无理由", policy.NO_REASON_RETURN_DAYS),
    (r"签收后(\d+)天内、商品未使用", policy.NO_REASON_RETURN_DAYS),
    (r"(\d+)天价保", policy.PRICE_PROTECTION_DAYS),
    (r"下单后(\d+)天内，如果同一商品", policy.PRICE_PROTECTION_DAYS),
    (r"满(\d+)元包邮", policy.FREE_SHIPPING_THRESHOLD),
    (r"不满(\d+)元", policy.FREE_SHIPPING_THRESHOLD),
    (r"凑单满(\d+)元", policy.FREE_SHIPPING_THRESHOLD),
    (r"收取(\d+)元运费", policy.SHIPPING_FEE),
    (r"付款后(\d+)小时内发货", policy.SHIP_WITHIN_HOURS),
    (r"下单后(\d+)天内联系客服", policy.VAT_INVOICE_DAYS),
    (r"每消费1元得(\d+)积分", policy.POINTS_PER_YUAN),
    (r"每(\d+)积分可抵扣1元", policy.POINTS_PER_YUAN_OFF),
]


@pytest.mark.parametrize("pattern, expected", STATED, ids=[p for p, _ in STATED])
def test_domain_states_the_policy_numbers(pattern: str, expected: float) -> None:
    found = _numbers(pattern)
    assert found, f"no response says {pattern!r} any more: update this test with the new wording"
    assert {float(n) for n in found} == {float(expected)}, f"{pattern!r}: {found} in domain.yml, policy says {expected}"


def test_transit_days_match() -> None:
    assert f"一般{policy.TRANSIT_DAYS}天送达" in RESPONSES["utter_faq/delivery_time"]


def test_return_policy_lists_exactly_the_excluded_goods() -> None:
    text = RESPONSES["utter_faq/return_policy"]
    assert f"不支持{policy.NO_REASON_RETURN_DAYS}天无理由：{exclusions_text()}。" in text


def test_exclusions_come_from_the_catalog() -> None:
    excluded = set(no_reason_return_exclusions())
    for category in CATEGORIES:
        for ptype in category.types:
            if not ptype.returnable:
                assert ptype.name in excluded or category.name in excluded
            else:
                assert ptype.name not in excluded and category.name not in excluded


def test_warranty_answer_matches_the_catalog() -> None:
    text = RESPONSES["utter_faq/warranty"]
    stated = re.findall(r"([\u4e00-\u9fff]+?)(?:整机)?(\d+)(个月|年)", text)
    checked = 0
    for name, number, unit in stated:
        ptype = product_type(name[-3:]) or product_type(name[-2:]) or product_type(name)
        if ptype is None:
            continue  # a group ("电子数码类商品大多为"), not one product type
        months = int(number) * (12 if unit == "年" else 1)
        assert ptype.warranty_months == months, f"{name}: domain says {number}{unit}, catalog {ptype.warranty_months} months"
        checked += 1
    assert checked >= 3, stated


def test_shipping_fee_rule() -> None:
    assert shipping_fee(policy.FREE_SHIPPING_THRESHOLD) == 0
    assert shipping_fee(policy.FREE_SHIPPING_THRESHOLD - 0.01) == policy.SHIPPING_FEE


# Python modules may state a policy number only through bot.shop.policy.
LITERAL_POLICY = re.compile(r"\d+\s*(?:天无理由|天内寄回|天价保|小时内发|个工作日|元包邮)")
SOURCES = [p for folder in ("actions", "bot", "connectors") for p in (PROJECT_ROOT / folder).rglob("*.py")]


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(PROJECT_ROOT)) for p in SOURCES])
def test_no_module_writes_a_policy_number_itself(path: Path) -> None:
    if path == PROJECT_ROOT / "bot" / "shop" / "policy.py":
        return
    found = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
             if LITERAL_POLICY.search(line) and not line.lstrip().startswith("#")]
    assert not found, f"{path.name} writes policy numbers itself: {found}"


def test_money_is_written_one_way() -> None:
    assert yuan(199) == "¥199" and yuan(199.0) == "¥199" and yuan(199.5) == "¥199.50" and yuan(0.1 + 0.2) == "¥0.30"
