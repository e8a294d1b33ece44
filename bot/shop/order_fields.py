"""The order details a shopper may change, their names, and the words shoppers use for them.

The order form, the rules (`after_sales.can_modify`) and every text that names a
field use these; the NLU's synonyms (`data/nlu/synonyms.yml`) map to the same keys.
"""
from __future__ import annotations

from typing import Optional

FIELD_LABELS = {"address": "收货地址", "phone": "联系电话", "delivery_time": "配送时间"}

# Words in free text that point at a field, checked in this order.
FIELD_WORDS = {
    "address": ("地址", "收货", "收件", "address"),
    "phone": ("电话", "手机", "号码", "phone"),
    "delivery_time": ("时间", "送货", "配送", "派送", "周末", "晚上", "上午", "下午", "delivery"),
}


def canonical_field(value: object) -> Optional[str]:
    """address / phone / delivery_time from a key, a label or free text; None when it names none."""
    text = str(value or "").strip().lower()
    if text in FIELD_LABELS:
        return text
    if text == "delivery_slot":
        return "delivery_time"
    for field, words in FIELD_WORDS.items():
        if any(word in text for word in words):
            return field
    return None
