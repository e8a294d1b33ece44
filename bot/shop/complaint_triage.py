"""Sorts a complaint into a category and a severity, from its words.

Keyword rules rather than a model: they are predictable, easy for trainers to
read and extend, and the categories feed the weekly reports.
"""
from __future__ import annotations

from dataclasses import dataclass

CATEGORIES: dict[str, tuple[str, ...]] = {
    "product_quality": ("质量", "坏", "破", "瑕疵", "假货", "假的", "劣质", "做工", "开线", "掉色", "异味", "过期", "变质"),
    "logistics": ("快递", "物流", "配送", "送货", "派送", "丢件", "没收到", "太慢", "延迟", "快递员"),
    "service": ("客服", "态度", "不理", "不回", "敷衍", "推脱", "骂"),
    "false_advertising": ("虚假", "宣传", "描述不符", "不一样", "货不对板", "图片", "骗"),
    "price": ("价格", "降价", "差价", "贵", "价保", "优惠", "乱收费", "多扣"),
    "after_sales": ("退款", "退货", "换货", "维修", "售后", "不给退", "拖"),
}
HIGH = ("投诉", "12315", "315", "消协", "曝光", "律师", "起诉", "举报", "工商", "媒体", "受伤", "着火", "爆炸", "过敏")
MEDIUM = ("生气", "气死", "太差", "垃圾", "失望", "恶心", "再也不", "差评", "离谱", "坑", "！", "!")


@dataclass(frozen=True)
class Triage:
    category: str
    severity: str  # "low", "medium", "high"


def triage(text: str) -> Triage:
    """Category with the most keyword hits (else "other") and a severity from escalation words."""
    scores = {name: sum(word in text for word in words) for name, words in CATEGORIES.items()}
    best = max(scores, key=lambda name: scores[name])
    category = best if scores[best] > 0 else "other"
    if any(word in text for word in HIGH):
        severity = "high"
    elif sum(word in text for word in MEDIUM) >= 1:
        severity = "medium"
    else:
        severity = "low"
    return Triage(category, severity)
