from bot.shop.complaint_triage import triage


def test_logistics_high() -> None:
    result = triage("快递员把包裹弄丢了，我要去12315投诉")
    assert (result.category, result.severity) == ("logistics", "high")


def test_quality_medium() -> None:
    result = triage("衣服开线还掉色，质量太差了")
    assert (result.category, result.severity) == ("product_quality", "medium")


def test_unknown_low() -> None:
    assert triage("有点不满意") .severity == "low"
    assert triage("嗯") .category == "other"
