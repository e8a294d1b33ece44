"""How the shop's numbers look: order numbers, mobile phones, the phone's last four digits.

Every module that finds or checks one of these imports it from here, and the
shopper-facing description of an order number is built from the same constants.
"""
from __future__ import annotations

import re

ORDER_NO_PREFIX = "26"
ORDER_NO_LENGTH = 16
# An order number as shoppers paste it, found inside other text. Lookarounds
# instead of \b: it is usually glued to Chinese.
ORDER_NO = re.compile(rf"(?<!\d){ORDER_NO_PREFIX}\d{{{ORDER_NO_LENGTH - len(ORDER_NO_PREFIX)}}}(?!\d)")
ORDER_NO_FORMAT = f"以{ORDER_NO_PREFIX}开头的{ORDER_NO_LENGTH}位数字"

# A mainland mobile number (11 digits, 13x-19x).
MOBILE_PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
# Four digits standing alone: the phone's last four as a shopper types them.
PHONE_LAST4 = re.compile(r"(?<!\d)(\d{4})(?!\d)")

# A coupon code as shoppers type it (NEW20, shoe50), also glued to Chinese text ("NEW20能用吗").
COUPON_CODE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2,10}\d{1,4}(?![A-Za-z0-9])")

# Spaces or dashes between digit groups, as people copy numbers ("2611 0388 6210 4557").
DIGIT_GROUP_GAP = re.compile(r"(?<=\d)[ \-]+(?=\d)")
# A message of digits and the separators people type between groups, nothing else.
DIGITS_ONLY = re.compile(r"[\d\s\-,.，。、]+")


def find_order_no(text: str | None) -> str | None:
    """The first order number in `text`, also when typed in groups; None when there is none."""
    text = text or ""
    found = ORDER_NO.search(text) or ORDER_NO.search(DIGIT_GROUP_GAP.sub("", text))
    return found.group(0) if found else None
