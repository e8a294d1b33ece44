"""The order details a shopper may change: one vocabulary for the form, the rules and the texts."""
from __future__ import annotations

from typing import Optional

import pytest
import yaml

from bot.config import PROJECT_ROOT
from bot.shop.order_fields import FIELD_LABELS, canonical_field


@pytest.mark.parametrize("text, expected", [
    ("address", "address"), ("改收货地址", "address"), ("手机号填错了", "phone"), ("周末送", "delivery_time"),
    ("配送时间", "delivery_time"), ("送货时间", "delivery_time"), ("delivery_slot", "delivery_time"), ("随便", None),
])
def test_order_field(text: str, expected: Optional[str]) -> None:
    assert canonical_field(text) == expected


def test_every_label_names_its_own_field() -> None:
    for key, label in FIELD_LABELS.items():
        assert canonical_field(label) == key


def test_nlu_synonyms_map_to_the_same_keys() -> None:
    synonyms = yaml.safe_load((PROJECT_ROOT / "data" / "nlu" / "synonyms.yml").read_text(encoding="utf-8"))["nlu"]
    keys = {item["synonym"] for item in synonyms if item.get("synonym") in FIELD_LABELS}
    assert keys == set(FIELD_LABELS)
