"""Masks phone numbers, ID-card numbers, bank-card numbers and street addresses in free text.

Applied where text leaves the flow that needs it: stored transcripts (the tracker
store), tickets, logs, and texts shown to shoppers or agents that quote third
parties (a courier's phone). Order numbers (`bot.shop.identifiers.ORDER_NO`) are
not personal and stay readable, agents need them.

    mask_text("我的新号码13812345678，地址杭州市西湖区文三路123号5栋2单元301室")
    -> "我的新号码138****5678，地址杭州市西湖区****"
"""
from __future__ import annotations

import re
from typing import Any

from bot.shop.identifiers import ORDER_NO

MASK = "****"

# An 18-character mainland ID-card number (17 digits and a digit or X).
_ID_CARD = re.compile(r"(?<![\dA-Za-z])(\d{6})\d{8}(\d{3}[\dXx])(?![\dA-Za-z])")
# A mobile number, also typed in groups ("138 1234 5678", "138-1234-5678").
_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)[ \-]?\d{4}[ \-]?(\d{4})(?!\d)")
# A bank-card number: 15 to 19 digits, maybe in groups of four.
_CARD = re.compile(r"(?<!\d)\d(?:[ \-]?\d){14,18}(?!\d)")
# A street address after the district: street + number, then building, unit, room.
_STREET = re.compile(
    r"[^\s省市区县旗，。,；;：:！!？?、]{1,10}(?:路|街|大道|大街|巷|弄|胡同|村)\s*\d{1,5}\s*号"
    r"[^\s，。,；;！!？?]{0,30}?(?:\d+\s*(?:栋|幢|座|号楼|单元|层|楼|室|号)[^\s，。,；;！!？?]{0,10}?)*"
    r"(?=$|[\s，。,；;！!？?])"
)


def _mask_card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    if ORDER_NO.fullmatch(digits) or not 15 <= len(digits) <= 19:
        return match.group(0)  # an order number, or not a card length
    return f"{MASK}{digits[-4:]}"


def mask_text(text: str) -> str:
    """`text` with personal numbers and street addresses masked."""
    if not text or not any(ch.isdigit() for ch in text):
        return text
    text = _ID_CARD.sub(lambda m: f"{m.group(1)}{'*' * 8}{m.group(2)}", text)
    text = _MOBILE.sub(lambda m: f"{m.group(1)}{MASK}{m.group(2)}", text)
    text = _CARD.sub(_mask_card, text)
    return _STREET.sub(MASK, text)


def mask_phone(phone: str) -> str:
    """138****5678 for a mobile number; other numbers keep only their last four digits."""
    digits = re.sub(r"\D", "", phone or "")
    if re.fullmatch(r"1[3-9]\d{9}", digits):
        return f"{digits[:3]}{MASK}{digits[-4:]}"
    return f"{MASK}{digits[-4:]}" if len(digits) > 4 else MASK


def mask_address(address: str) -> str:
    """An address with its street part masked; one no pattern recognises keeps only its first six characters."""
    masked = mask_text(address)
    return masked if masked != address else address[:6] + MASK


def mask_value(value: Any) -> Any:
    """Strings masked, lists and dicts masked inside; other values as they are."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, list):
        return [mask_value(v) for v in value]
    if isinstance(value, dict):
        return {k: mask_value(v) for k, v in value.items()}
    return value
