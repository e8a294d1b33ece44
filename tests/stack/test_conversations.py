"""Whole conversations over REST against the running assistant and a real shop database."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Callable

import pytest

from bot.shop.models import Order, OrderStatus, TicketKind
from tests.conftest import RunningStack, new_sender

pytestmark = pytest.mark.stack


def find_order(stack: RunningStack, status: OrderStatus, where: Callable[[Order], bool] = lambda o: True,
               exclude: tuple[str, ...] = ()) -> Order:
    for order in stack.backend.find_orders(status, limit=500):
        if order.order_no not in exclude and where(order):
            return order
    pytest.skip(f"seed has no {status.value} order matching the test's condition")


def single_item(order: Order) -> bool:
    return len(order.items) == 1


def delivered_days_ago(order: Order, low: float, high: float) -> bool:
    if order.delivered_at is None:
        return False
    age = datetime.now() - order.delivered_at
    return timedelta(days=low) <= age <= timedelta(days=high)


def verify(stack: RunningStack, sender: str, opening: str, order: Order) -> str:
    """Open a flow, give the order number and the phone's last four digits; return the last answer."""
    assert "订单号" in stack.chat(sender, opening)
    assert "后四位" in stack.chat(sender, order.order_no)
    return stack.chat(sender, order.phone[-4:])


def tickets(stack: RunningStack, order: Order, kind: TicketKind) -> list:
    return [t for t in stack.backend.tickets_for_order(order.order_no) if t.kind == kind]


def test_greeting_offers_quick_replies(stack: RunningStack) -> None:
    messages = stack.say(new_sender(), "你好")
    assert messages and messages[0].get("buttons")


def test_price_question_answers_from_catalog(stack: RunningStack) -> None:
    product = stack.backend.find_products("空气炸锅", limit=1)[0]
    answer = stack.chat(new_sender(), f"{product.brand}的空气炸锅多少钱")
    assert "¥" in answer and "空气炸锅" in answer


def test_traditional_and_full_width_are_understood(stack: RunningStack) -> None:
    sender = new_sender()
    assert "¥" in stack.chat(sender, "請問小米的手環多少錢？？？")


def test_order_status_needs_the_right_phone(stack: RunningStack) -> None:
    order = find_order(stack, OrderStatus.SHIPPED)
    sender = new_sender()
    assert "订单号" in stack.chat(sender, "帮我查下订单")
    assert "后四位" in stack.chat(sender, order.order_no)
    wrong = "0000" if order.phone[-4:] != "0000" else "1111"
    answer = stack.chat(sender, wrong)
    assert "对不上" in answer and order.items[0].product_name not in answer
    answer = stack.chat(sender, order.phone[-4:])
    assert order.status.label in answer and order.items[0].product_name in answer


def test_order_lookup_late_in_a_long_conversation(stack: RunningStack) -> None:
    """The tracker sent to the action server outgrows any shopper-message size limit."""
    sender = new_sender()
    for text in ["你好", "华为Mate 60多少钱", "12+256G 黑色的有货吗", "包邮吗", "能开发票吗", "好的谢谢"] * 3:
        stack.say(sender, text)
    assert "订单号" in stack.chat(sender, "帮我查下订单")


def test_logistics_timeline(stack: RunningStack) -> None:
    order = find_order(stack, OrderStatus.SHIPPED, lambda o: bool(o.events))
    answer = verify(stack, new_sender(), "我的快递到哪了", order)
    assert order.events[-1].description in answer and (order.carrier or "") in answer



def test_order_number_with_bye_digits_is_an_answer(stack: RunningStack) -> None:
    """88/886 mean "bye" to shoppers; inside an order number they are just digits."""
    order = find_order(stack, OrderStatus.SHIPPED, lambda o: "88" in o.order_no and bool(o.events))
    sender = new_sender()
    assert "订单号" in stack.chat(sender, "物流到哪了")
    answer = stack.chat(sender, order.order_no)
    assert "后四位" in answer and "再见" not in answer
    grouped = " ".join(order.order_no[i:i + 4] for i in range(0, 16, 4))
    other = new_sender()
    stack.chat(other, "查下快递")
    answer = stack.chat(other, grouped)
    assert "后四位" in answer and "再见" not in answer
    assert order.events[-1].description in stack.chat(other, order.phone[-4:])
    assert "再见" in stack.chat(other, "886")  # and on its own, 886 still means bye


@pytest.mark.parametrize("number", ["42", "2", "110"])
def test_a_bare_size_or_quantity_is_not_a_goodbye(stack: RunningStack, number: str) -> None:
    answer = stack.chat(new_sender(), number)
    assert answer and "再见" not in answer

def test_malformed_and_unknown_order_numbers_get_help(stack: RunningStack) -> None:
    sender = new_sender()
    stack.chat(sender, "查订单")
    assert "16位" in stack.chat(sender, "12345678")
    assert "没有查到" in stack.chat(sender, "2699999999999999")


def test_return_within_seven_days_files_a_ticket(stack: RunningStack) -> None:
    order = find_order(stack, OrderStatus.DELIVERED, lambda o: single_item(o) and delivered_days_ago(o, 0.5, 5)
                       and stack.backend.get_product(o.items[0].product_id).returnable)
    sender = new_sender()
    answer = verify(stack, sender, "我要退货", order)
    assert "状态" in answer  # the flow goes on to the item's condition
    stack.chat(sender, "没拆封")
    answer = stack.chat(sender, "尺码不合适")
    assert "工单号" in answer
    assert tickets(stack, order, TicketKind.RETURN)


def test_return_after_seven_days_is_explained(stack: RunningStack) -> None:
    order = find_order(stack, OrderStatus.COMPLETED, lambda o: single_item(o) and delivered_days_ago(o, 20, 60))
    sender = new_sender()
    verify(stack, sender, "想退货", order)
    answer = stack.chat(sender, "已经拆封用过了")
    assert "7天" in answer or "15天" in answer or "不支持" in answer
    assert not tickets(stack, order, TicketKind.RETURN)


def test_side_question_inside_a_form_then_continue(stack: RunningStack) -> None:
    sender = new_sender()
    assert "订单号" in stack.chat(sender, "我要退款")
    answer = stack.chat(sender, "运费怎么算的")
    assert "99" in answer and "订单号" in answer  # FAQ answered, then the form asks again


def test_stop_leaves_the_flow(stack: RunningStack) -> None:
    sender = new_sender()
    stack.chat(sender, "我要换货")
    assert "取消" in stack.chat(sender, "算了不换了")
    assert "订单号" not in stack.chat(sender, "谢谢")


def test_cancel_paid_order(stack: RunningStack) -> None:
    order = find_order(stack, OrderStatus.PAID)
    sender = new_sender()
    answer = verify(stack, sender, "帮我取消订单", order)
    assert "确认" in answer
    assert "已取消" in stack.chat(sender, "/affirm")
    assert stack.backend.get_order(order.order_no).status == OrderStatus.CANCELLED


def test_cancel_shipped_order_is_refused_with_the_rule(stack: RunningStack) -> None:
    order = find_order(stack, OrderStatus.SHIPPED, exclude=(stack.sample_order.order_no,))
    answer = verify(stack, new_sender(), "取消订单", order)
    assert "发货" in answer
    assert stack.backend.get_order(order.order_no).status == OrderStatus.SHIPPED


def test_modify_address_before_shipping(stack: RunningStack) -> None:
    order = find_order(stack, OrderStatus.PAID, exclude=tuple(
        o.order_no for o in stack.backend.find_orders(OrderStatus.CANCELLED, limit=50)))
    sender = new_sender()
    verify(stack, sender, "我想改一下收货地址", order)
    new_address = "浙江省杭州市西湖区文三路100号2单元301"
    answer = stack.chat(sender, new_address)
    assert "已将订单" in answer
    assert stack.backend.get_order(order.order_no).address == new_address


def test_complaint_gets_category_and_severity(stack: RunningStack) -> None:
    sender = new_sender()
    answer = stack.chat(sender, "快递员态度太差了还把我的包裹弄丢了，我要投诉到12315！")
    assert "工单号" in answer
    ticket_no = answer.split("工单号：")[1][:13]
    ticket = stack.backend.get_ticket(ticket_no)
    assert ticket.kind == TicketKind.COMPLAINT and ticket.severity == "high" and ticket.category == "logistics"


def test_faq_answers(stack: RunningStack) -> None:
    sender = new_sender()
    assert "发票" in stack.chat(sender, "能开发票吗")
    assert "7天" in stack.chat(sender, "七天无理由怎么算")


def test_request_human_joins_the_agents_queue(stack: RunningStack) -> None:
    """The test stack runs the live queue at any hour (HANDOFF_HOURS=always); tickets: tests/actions."""
    answer = stack.chat(new_sender(), "转人工")
    assert "正在为您转接" in answer and "预计等待" in answer
