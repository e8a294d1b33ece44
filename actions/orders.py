"""Orders: status and logistics look-ups, cancelling and changing an order."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.common import backend, order_items_text, yuan
from actions.verification import OrderFormValidation, block, reset_flow
from bot.privacy.masking import mask_address, mask_phone, mask_text
from bot.privacy.pending import pending_values
from bot.shop import after_sales
from bot.shop.identifiers import MOBILE_PHONE
from bot.shop.models import Order
from bot.shop.order_fields import FIELD_LABELS, canonical_field
from bot.shop.policy import REFUND_WORKING_DAYS, SHIP_WITHIN_HOURS

# A verified order that vanished from the shop between two turns (deleted by the shop).
ORDER_GONE = after_sales.Decision(False, "订单暂时查不到了，请稍后再试。")

def order_summary(order: Order) -> str:
    lines = [f"订单 {order.order_no} 当前状态：{order.status.label}", order_items_text(order.items),
             f"实付：{yuan(order.total_paid)}（运费 {yuan(order.shipping_fee)}）"]
    if order.carrier and order.tracking_no:
        lines.append(f"快递：{order.carrier} {order.tracking_no}")
    if order.events:
        latest = order.events[-1]
        lines.append(f"最新物流：{latest.at:%m-%d %H:%M} {latest.location} {mask_text(latest.description)}")
    return "\n".join(lines)


def logistics_timeline(order: Order) -> str:
    if not order.events:
        if order.status.value in ("pending_payment", "paid"):
            return f"订单 {order.order_no} 还没有发货（{order.status.label}），一般付款后{SHIP_WITHIN_HOURS}小时内发出，发货后就能看到物流啦。"
        return f"订单 {order.order_no}（{order.status.label}）暂时没有物流信息。"
    # Couriers' phone numbers in the events are someone's personal data too: shown masked.
    rows = [f"{e.at:%m-%d %H:%M} {e.location} {mask_text(e.description)}" for e in reversed(order.events)]
    head = f"订单 {order.order_no} 的物流（{order.carrier} {order.tracking_no}，{order.status.label}）："
    return head + "\n" + "\n".join(rows[:8])


class ValidateOrderLookupForm(OrderFormValidation):
    def name(self) -> str:
        return "validate_order_lookup_form"


class ActionHandleOrder(Action):
    """After the look-up form: show status or the logistics timeline of the verified order."""

    def name(self) -> str:
        return "action_handle_order"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        order_no = tracker.get_slot("verified_order")
        if tracker.get_slot("flow_blocked") or not order_no or order_no != tracker.get_slot("order_id"):
            return reset_flow()
        order = backend().get_order(order_no)
        if order is None:
            dispatcher.utter_message(text="订单暂时查不到了，请稍后再试。")
            return reset_flow()
        if tracker.get_slot("order_goal") == "logistics":
            dispatcher.utter_message(text=logistics_timeline(order))
        else:
            dispatcher.utter_message(text=order_summary(order))
        return reset_flow()


class ValidateCancelOrderForm(OrderFormValidation):
    reuse_verification = False  # changing an order asks for the digits again

    def name(self) -> str:
        return "validate_cancel_order_form"

    def on_verified(self, order: Order, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        decision = after_sales.can_cancel(order)
        if not decision.allowed:
            return block(dispatcher, decision.reason, "cancel_not_allowed")
        dispatcher.utter_message(text=f"订单 {order.order_no}：\n{order_items_text(order.items)}\n实付 {yuan(order.total_paid)}")
        return []


class ActionSubmitCancelOrder(Action):
    def name(self) -> str:
        return "action_submit_cancel_order"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        order_no = tracker.get_slot("verified_order")
        if tracker.get_slot("flow_blocked") or not order_no:
            return reset_flow()
        if tracker.get_slot("cancel_confirm") is not True:
            dispatcher.utter_message(response="utter_cancel_kept")
            return reset_flow()
        order = backend().get_order(order_no)
        decision = after_sales.can_cancel(order) if order else ORDER_GONE
        if order is None or not decision.allowed:
            dispatcher.utter_message(text=decision.reason)
            return reset_flow()
        backend().cancel_order(order_no, reason="shopper request via chat")
        paid = order.paid_at is not None
        refund = f"，{yuan(order.total_paid)}会在{REFUND_WORKING_DAYS}个工作日内原路退回" if paid else ""
        dispatcher.utter_message(text=f"订单 {order_no} 已取消{refund}。")
        return reset_flow()


class ValidateModifyOrderForm(OrderFormValidation):
    reuse_verification = False  # changing an order asks for the digits again

    def name(self) -> str:
        return "validate_modify_order_form"

    def on_verified(self, order: Order, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        field = tracker.get_slot("order_field")
        if field in FIELD_LABELS:
            return self._check(order, field, dispatcher)
        if order.status.value not in ("pending_payment", "paid", "shipped"):
            return block(dispatcher, f"订单 {order.order_no} 已{order.status.label}，不能再修改了。", "modify_not_allowed")
        return []

    @staticmethod
    def _check(order: Order, field: str, dispatcher: CollectingDispatcher) -> list[EventType]:
        decision = after_sales.can_modify(order, field)
        if not decision.allowed:
            return block(dispatcher, decision.reason, "modify_not_allowed")
        return []

    def validate_order_field(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        field = canonical_field(slot_value)
        if field is None:
            dispatcher.utter_message(text="可以修改的是收货地址、联系电话或送货时间，您想改哪一项？")
            return {"order_field": None}
        order = backend().get_order(tracker.get_slot("verified_order") or "")
        if order is not None and tracker.get_slot("phone_last4"):
            blocked = self._check(order, field, dispatcher)
            if blocked:
                return {"order_field": field, "flow_blocked": "modify_not_allowed"}
        return {"order_field": field}

    def validate_new_value(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        text = str(slot_value or "").strip()
        field = tracker.get_slot("order_field")
        if field == "phone":
            match = MOBILE_PHONE.search(text)
            if not match:
                dispatcher.utter_message(text="手机号好像不对，请发11位的手机号码。")
                return {"new_value": None}
            return {"new_value": self._keep_out_of_transcript(tracker, match.group(0), mask_phone(match.group(0)))}
        if field == "address" and len(text) < 8:
            dispatcher.utter_message(text="地址太短啦，请写完整：省市区 + 街道门牌号。")
            return {"new_value": None}
        if len(text) > 200:
            dispatcher.utter_message(text="内容太长啦，请精简到200字以内。")
            return {"new_value": None}
        if field == "address":
            return {"new_value": self._keep_out_of_transcript(tracker, text, mask_address(text))}
        return {"new_value": text}

    @staticmethod
    def _keep_out_of_transcript(tracker: Tracker, value: str, masked: str) -> str:
        """Hold the new phone or address for the submit action (bot.privacy.pending); the slot gets `masked`."""
        pending_values().put(tracker.sender_id, "new_value", value)
        return masked


class ActionSubmitModifyOrder(Action):
    def name(self) -> str:
        return "action_submit_modify_order"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        order_no, field, value = (tracker.get_slot(s) for s in ("verified_order", "order_field", "new_value"))
        if tracker.get_slot("flow_blocked") or not order_no or field not in FIELD_LABELS or not value:
            return reset_flow()
        order = backend().get_order(order_no)
        decision = after_sales.can_modify(order, field) if order else ORDER_GONE
        if order is None or not decision.allowed:
            dispatcher.utter_message(text=decision.reason)
            return reset_flow()
        if field in ("phone", "address"):  # the slot holds a masked copy; the value waits outside the transcript
            value = pending_values().take(tracker.sender_id, "new_value")
            if not value:
                dispatcher.utter_message(text=f"新的{FIELD_LABELS[field]}等待时间太久已失效，请重新发起修改～")
                return reset_flow()
        changes = {"address": {"address": value}, "phone": {"phone": value},
                   "delivery_time": {"delivery_slot": value}}[field]
        backend().update_order(order_no, **changes)
        shown = mask_phone(value) if field == "phone" else value
        dispatcher.utter_message(text=f"已将订单 {order_no} 的{FIELD_LABELS[field]}改为：{shown}")
        return reset_flow()
