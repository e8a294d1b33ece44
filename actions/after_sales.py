"""After-sales forms: return, exchange, refund and repair, each ending in a real ticket.

The rules themselves (7-day no-reason return, warranty, refund amount) live in
`bot.shop.after_sales`; this module asks the questions, checks each answer
against the shop data and files the ticket.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import backend, entity_values, product_of, yuan
from actions.handoff import hand_over
from actions.verification import OrderFormValidation, block, describe_order, reset_flow
from bot.handoff.escalation import escalation_rules
from bot.shop import after_sales
from bot.shop.models import Order, OrderItem, OrderStatus, TicketKind
from bot.shop.policy import REFUND_WORKING_DAYS, REPAIR_PICKUP_WORKING_DAYS, SEND_BACK_DAYS, SHIP_WITHIN_HOURS

AFTER_DELIVERY = {OrderStatus.DELIVERED, OrderStatus.COMPLETED}
_ORDINAL = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_INDEX = re.compile(r"第?\s*([1-9一二两三四五])\s*(?:个|件|款|项)?")
MAX_TEXT = 200

CONDITION_LABELS = {
    after_sales.UNUSED: "未拆封/未使用", after_sales.USED: "已拆封或使用过", after_sales.QUALITY: "有质量问题",
}


def now() -> datetime:
    return datetime.now()


def condition_of(text: str) -> Optional[str]:
    """The form's item_condition code (after_sales.QUALITY, USED, UNUSED) for free text, None when unclear."""
    return after_sales.detect_condition(text)


def pick_item(order: Order, value: Any) -> Optional[OrderItem]:
    """The order line a shopper means: SKU from a button, "第2件", or part of the product name."""
    text = str(value or "").strip()
    item = order.item_by_sku(text)
    if item:
        return item
    index = _INDEX.fullmatch(text) or _INDEX.search(text)
    if index:
        raw = index.group(1)
        number = int(raw) if raw.isdigit() else _ORDINAL[raw]
        if 1 <= number <= len(order.items):
            return order.items[number - 1]
    if len(text) < 2:
        return None
    # The line whose name says most: its full name, then its product type, then only its brand.
    scored = []
    for line in order.items:
        product = product_of(line)
        words = ((3, line.product_name), (2, product.type_name), (1, product.brand))
        score = max((weight for weight, word in words if word and (word in text or text in word)), default=0)
        if score:
            scored.append((score, line))
    if not scored:
        return None
    best = max(score for score, _ in scored)
    lines = [line for score, line in scored if score == best]
    return lines[0] if len(lines) == 1 else None


def _verified(tracker: Tracker) -> Optional[Order]:
    order_no = tracker.get_slot("verified_order")
    if not order_no or order_no != tracker.get_slot("order_id"):
        return None
    return backend().get_order(order_no)


def _short_text(slot: str, slot_value: Any, dispatcher: CollectingDispatcher) -> dict[str, Any]:
    text = str(slot_value or "").strip()
    if not text:
        return {slot: None}
    if len(text) > MAX_TEXT:
        dispatcher.utter_message(text=f"内容有点长，请精简到{MAX_TEXT}字以内～")
        return {slot: None}
    return {slot: text}


class AfterDeliveryValidation(OrderFormValidation):
    """Flows that start once the parcel has arrived: return, exchange, repair."""

    flow_label = "售后"

    def on_verified(self, order: Order, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        if order.status not in AFTER_DELIVERY:
            hint = {
                OrderStatus.PENDING_PAYMENT: "订单还没付款，不需要的话直接取消就好。",
                OrderStatus.PAID: "订单还没发货，不想要的话可以直接取消订单，款项原路退回。",
                OrderStatus.SHIPPED: "包裹还在路上，签收后才能申请哦；不想要的话可以拒收，退款会在商家收到退件后处理。",
            }.get(order.status, f"订单当前状态是「{order.status.label}」，不能办理{self.flow_label}。")
            return block(dispatcher, f"订单 {order.order_no}：{hint}", "wrong_status")
        dispatcher.utter_message(text=f"好的，为您办理{self.flow_label}。{describe_order(order)}")
        if len(order.items) == 1:
            return [SlotSet("order_item", order.items[0].sku)]
        return []

    def validate_order_item(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        order = _verified(tracker)
        if order is None:
            return {"order_item": None}
        item = pick_item(order, slot_value)
        if item is None:
            dispatcher.utter_message(text="没对上是哪件商品，请点下面的按钮选一下，或者说「第1件」。")
            return {"order_item": None}
        return {"order_item": item.sku, **self.check_item(order, item, dispatcher, tracker)}

    def check_item(self, order: Order, item: OrderItem, dispatcher: CollectingDispatcher,
                   tracker: Tracker) -> dict[str, Any]:
        """Flow-specific check once the item is known; return {"flow_blocked": ...} to stop."""
        return {}


class ActionAskOrderItem(Action):
    """Asks which item of the order the shopper means, one button per order line."""

    def name(self) -> str:
        return "action_ask_order_item"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        order = _verified(tracker)
        if order is None:
            return []
        buttons = [
            {"title": f"{i}. {item.product_name} {item.colour} {item.size}",
             "payload": f'/inform{{"order_item": "{item.sku}"}}'}
            for i, item in enumerate(order.items, 1)
        ]
        dispatcher.utter_message(text="是订单里的哪件商品呢？", buttons=buttons)
        return []


# --- return --------------------------------------------------------------------
class ValidateReturnForm(AfterDeliveryValidation):
    flow_label = "退货"

    def name(self) -> str:
        return "validate_return_form"

    def validate_item_condition(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        condition = slot_value if slot_value in CONDITION_LABELS else condition_of(str(slot_value or ""))
        if condition is None:
            dispatcher.utter_message(text="商品是没拆封、已经用过，还是有质量问题呢？点下面的按钮选一下就好。")
            return {"item_condition": None}
        order = _verified(tracker)
        item = order.item_by_sku(tracker.get_slot("order_item")) if order else None
        if order is None or item is None:
            return {"item_condition": condition}
        product = product_of(item)
        decision = after_sales.can_return(order, item, product, now(), condition)
        if not decision.allowed:
            dispatcher.utter_message(text=decision.reason)
            return {"item_condition": condition, "flow_blocked": "return_not_allowed"}
        return {"item_condition": condition}

    def validate_return_reason(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        return _short_text("return_reason", slot_value, dispatcher)


class ActionSubmitReturn(Action):
    def name(self) -> str:
        return "action_submit_return"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        order = _verified(tracker)
        item = order.item_by_sku(tracker.get_slot("order_item")) if order else None
        if tracker.get_slot("flow_blocked") or order is None or item is None:
            return reset_flow()
        condition = tracker.get_slot("item_condition")
        reason = tracker.get_slot("return_reason")
        refund = after_sales.refund_amount(order, item, reason=condition if condition == after_sales.QUALITY else reason or "")
        ticket = backend().create_ticket(
            TicketKind.RETURN, order_no=order.order_no,
            details={"sku": item.sku, "product": item.product_name, "condition": condition, "reason": reason,
                     "refund_amount": refund.amount, "channel": tracker.get_latest_input_channel()},
        )
        who_pays = "商家承担退货运费" if condition == after_sales.QUALITY else "退货运费由您承担（有运费险的会自动理赔）"
        dispatcher.utter_message(
            text=f"退货申请已提交✅ 工单号：{ticket.ticket_no}，状态：待审核。\n"
            f"商品：{item.product_name}（{item.colour} {item.size}）\n预计退款：{yuan(refund.amount)}（{refund.explanation}）\n"
            f"请在{SEND_BACK_DAYS}天内寄回，{who_pays}。审核通过后{REFUND_WORKING_DAYS}个工作日原路退款。"
        )
        hand_over_large_refund(dispatcher, tracker, refund.amount, ticket.ticket_no)
        return reset_flow()


# --- exchange ------------------------------------------------------------------
class ValidateExchangeForm(AfterDeliveryValidation):
    flow_label = "换货"

    def name(self) -> str:
        return "validate_exchange_form"

    def validate_exchange_target(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        order = _verified(tracker)
        item = order.item_by_sku(tracker.get_slot("order_item")) if order else None
        if order is None or item is None:
            return {"exchange_target": None}
        product = product_of(item)
        text = str(slot_value or "")
        colours = sorted({v.colour for v in product.variants})
        sizes = sorted({v.size for v in product.variants})
        colour = next((c for c in entity_values(tracker, "color") if c in colours), None) or next(
            (c for c in colours if c in text or c.rstrip("色") in text), None)
        size = next((s for s in sizes if re.search(rf"(?<![\dA-Za-z+]){re.escape(s)}(?![\dA-Za-z+])", text, re.I)), None)
        if colour is None and size is None:
            dispatcher.utter_message(
                text=f"没听清要换的规格～可选颜色：{'、'.join(colours)}；可选尺码：{'、'.join(sizes)}。")
            return {"exchange_target": None}
        colour, size = colour or item.colour, size or item.size
        if (colour, size) == (item.colour, item.size):
            dispatcher.utter_message(text=f"这就是您现在的规格（{colour} {size}）哦，想换成哪个？")
            return {"exchange_target": None}
        decision = after_sales.can_exchange(order, item, product, colour, size, now())
        if not decision.allowed:
            in_stock = [v for v in product.variants if v.stock > 0 and (v.colour, v.size) != (item.colour, item.size)]
            if product.stock_of(colour, size) <= 0 and in_stock:
                hint = "、".join(f"{v.colour} {v.size}" for v in in_stock[:6])
                dispatcher.utter_message(text=f"{colour} {size} 暂时缺货😥 有货的规格：{hint}。换成哪个呢？")
                return {"exchange_target": None}
            dispatcher.utter_message(text=decision.reason)
            return {"exchange_target": f"{colour}|{size}", "flow_blocked": "exchange_not_allowed"}
        return {"exchange_target": f"{colour}|{size}"}


class ActionSubmitExchange(Action):
    def name(self) -> str:
        return "action_submit_exchange"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        order = _verified(tracker)
        item = order.item_by_sku(tracker.get_slot("order_item")) if order else None
        target = tracker.get_slot("exchange_target") or ""
        if tracker.get_slot("flow_blocked") or order is None or item is None or "|" not in target:
            return reset_flow()
        colour, size = target.split("|", 1)
        ticket = backend().create_ticket(
            TicketKind.EXCHANGE, order_no=order.order_no,
            details={"sku": item.sku, "product": item.product_name, "from": f"{item.colour} {item.size}",
                     "to": f"{colour} {size}", "channel": tracker.get_latest_input_channel()},
        )
        dispatcher.utter_message(
            text=f"换货申请已提交✅ 工单号：{ticket.ticket_no}，状态：待审核。\n"
            f"{item.product_name}：{item.colour} {item.size} → {colour} {size}\n"
            f"请把原商品寄回（保持吊牌完好），仓库收到后{SHIP_WITHIN_HOURS}小时内发出新商品。"
        )
        return reset_flow()


def hand_over_large_refund(dispatcher: CollectingDispatcher, tracker: Tracker, amount: float, ticket_no: str) -> None:
    """A refund above the configured amount is checked by a person as well (bot/handoff/triggers.yml)."""
    if amount > escalation_rules().refund_amount_over:
        hand_over(dispatcher, tracker, "refund_large", intro="金额较大，我请人工客服帮您跟进审核。",
                  extra={"ticket_no": ticket_no, "refund_amount": amount}, intent="request_refund")


# --- refund --------------------------------------------------------------------
class ValidateRefundForm(OrderFormValidation):
    def name(self) -> str:
        return "validate_refund_form"

    def on_verified(self, order: Order, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        hints = {
            OrderStatus.PENDING_PAYMENT: "订单还没付款，不会扣钱的，不想要直接取消就行。",
            OrderStatus.CANCELLED: f"订单已经取消了，如已付款，款项会在{REFUND_WORKING_DAYS}个工作日原路退回。",
            OrderStatus.REFUNDING: f"这个订单正在退款中，一般{REFUND_WORKING_DAYS}个工作日到账，请耐心等一下。",
            OrderStatus.REFUNDED: "这个订单已经退款完成，请查看原支付账户（银行卡可能有1-2天延迟）。",
            OrderStatus.SHIPPED: "包裹已经发出，可以拒收；商家收到退件后会为您退款。签收后也可以申请退货退款。",
        }
        if order.status in hints:
            return block(dispatcher, f"订单 {order.order_no}：{hints[order.status]}", "wrong_status")
        dispatcher.utter_message(text=f"好的，为您办理退款。{describe_order(order)}")
        return []

    def validate_refund_reason(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        return _short_text("refund_reason", slot_value, dispatcher)


class ActionSubmitRefund(Action):
    def name(self) -> str:
        return "action_submit_refund"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        order = _verified(tracker)
        if tracker.get_slot("flow_blocked") or order is None:
            return reset_flow()
        reason = tracker.get_slot("refund_reason") or ""
        refund = after_sales.refund_amount(order, None, reason=reason)
        ticket = backend().create_ticket(
            TicketKind.REFUND, order_no=order.order_no,
            details={"reason": reason, "refund_amount": refund.amount, "status_at_request": order.status.value,
                     "channel": tracker.get_latest_input_channel()},
        )
        dispatcher.utter_message(
            text=f"退款申请已提交✅ 工单号：{ticket.ticket_no}，状态：待审核。\n"
            f"退款金额：{yuan(refund.amount)}（{refund.explanation}）\n审核通过后{REFUND_WORKING_DAYS}个工作日原路退回。"
        )
        hand_over_large_refund(dispatcher, tracker, refund.amount, ticket.ticket_no)
        return reset_flow()


# --- repair --------------------------------------------------------------------
class ValidateRepairForm(AfterDeliveryValidation):
    flow_label = "维修"

    def name(self) -> str:
        return "validate_repair_form"

    def check_item(self, order: Order, item: OrderItem, dispatcher: CollectingDispatcher,
                   tracker: Tracker) -> dict[str, Any]:
        decision = after_sales.can_repair(order, item, product_of(item), now())
        if not decision.allowed:
            dispatcher.utter_message(text=decision.reason)
            return {"flow_blocked": "repair_not_allowed"}
        return {}

    def on_verified(self, order: Order, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        events = super().on_verified(order, dispatcher, tracker)
        single = next((e for e in events if e.get("name") == "order_item"), None)
        item = order.item_by_sku(single["value"]) if single else None
        if item is not None:
            blocked = self.check_item(order, item, dispatcher, tracker)
            events += [SlotSet(k, v) for k, v in blocked.items()]
        return events

    def validate_fault_description(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        return _short_text("fault_description", slot_value, dispatcher)


class ActionSubmitRepair(Action):
    def name(self) -> str:
        return "action_submit_repair"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        order = _verified(tracker)
        item = order.item_by_sku(tracker.get_slot("order_item")) if order else None
        if tracker.get_slot("flow_blocked") or order is None or item is None:
            return reset_flow()
        fault = tracker.get_slot("fault_description")
        ticket = backend().create_ticket(
            TicketKind.REPAIR, order_no=order.order_no,
            details={"sku": item.sku, "product": item.product_name, "fault": fault,
                     "channel": tracker.get_latest_input_channel()},
        )
        dispatcher.utter_message(
            text=f"维修申请已提交✅ 工单号：{ticket.ticket_no}，状态：待处理。\n商品：{item.product_name}\n故障：{fault}\n"
            f"保修期内免费维修，售后会在{REPAIR_PICKUP_WORKING_DAYS}个工作日内联系您安排上门取件。"
        )
        return reset_flow()
