"""A form never traps a shopper: thanks, an acknowledgement or another request lets it go, and two answers
that fill nothing offer a way out. Patterns from real shoppers' sessions (issue 13), on the running stack."""
from __future__ import annotations

import pytest

from actions.fallback import LEFT_FORM_TEXT
from actions.verification import WAY_OUT_BUTTONS
from tests.conftest import RunningStack, new_sender

pytestmark = pytest.mark.stack

ASKS_ORDER_NO = "订单号"


def open_order_form(stack: RunningStack, opener: str = "帮我查下订单") -> str:
    sender = new_sender()
    assert ASKS_ORDER_NO in stack.chat(sender, opener)
    return sender


@pytest.mark.parametrize("reply", ["行吧", "好的", "谢了", "谢谢亲"])
def test_an_acknowledgement_lets_the_order_form_go(stack: RunningStack, reply: str) -> None:
    sender = open_order_form(stack)
    answer = stack.chat(sender, reply)
    assert LEFT_FORM_TEXT in answer and "没有识别到订单号" not in answer
    assert not stack.tracker(sender)["active_loop"].get("name")
    assert "¥" in stack.chat(sender, "小米的手环多少钱")  # and the conversation goes on


def test_goodbye_inside_a_return_form_says_goodbye(stack: RunningStack) -> None:
    sender = open_order_form(stack, "我要退货")
    answer = stack.chat(sender, "先这样吧 拜拜")
    assert "再见" in answer and ASKS_ORDER_NO not in answer
    assert not stack.tracker(sender)["active_loop"].get("name")


def test_two_unknown_order_numbers_offer_a_way_out(stack: RunningStack) -> None:
    sender = open_order_form(stack)
    first = stack.chat(sender, "2699999999999999")
    assert "没有查到订单" in first
    second = stack.say(sender, "2698888888888888")
    titles = [b["title"] for m in second for b in m.get("buttons", [])]
    assert titles == [b["title"] for b in WAY_OUT_BUTTONS]
    answer = stack.chat(sender, "/stop")  # the button the bot offered
    assert not stack.tracker(sender)["active_loop"].get("name"), answer


def test_a_logistics_question_inside_the_return_form_is_not_an_order_number(stack: RunningStack) -> None:
    sender = open_order_form(stack, "我要退货")
    answer = stack.chat(sender, "后天能到不")
    assert "没有识别到订单号" not in answer and "不是有效的订单号" not in answer
