"""Order verification shared by every form that touches an order.

A shopper proves an order is theirs with the order number plus the last four
digits of the phone on it. Until then nothing about the order is shown. Each
flow's validator subclasses `OrderFormValidation` and adds its own checks in
`on_verified` (may this order be cancelled, returned, ...?). A flow that cannot
go on sets `flow_blocked`; the form then has no slots left and ends.
"""
from __future__ import annotations

import re
import time
from abc import ABC, abstractmethod
from typing import Any, Optional

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction

from actions.common import backend, order_items_text
from bot.config import load_settings
from bot.guard.order_access import Refusal, order_access_guard
from bot.guard.screening import CLIENT_KEY
from bot.shop.identifiers import DIGIT_GROUP_GAP, MOBILE_PHONE, ORDER_NO_FORMAT, PHONE_LAST4, find_order_no
from bot.shop.models import Order

VERIFIED = "verified"  # phone_last4 value once checked: the digits themselves are not kept
MAX_VERIFY_FAILURES = 3
_DIGITS = re.compile(r"\d{5,}")

# Slots every order flow clears when it ends; the verified order stays, so a
# follow-up question about the same order needs no second check.
FLOW_SLOTS = (
    "order_item", "item_condition", "return_reason", "exchange_target", "refund_reason",
    "fault_description", "order_field", "new_value", "cancel_confirm", "flow_blocked",
    "complaint_detail", "requested_slot", "form_misses",
)
MISSES_BEFORE_WAY_OUT = 2  # answers in a row that fill nothing before the form offers to stop or get a human
WAY_OUT_TEXT = "好像一直没对上😥 可以换个说法再试，也可以先不办了，或者转人工客服帮您处理："
WAY_OUT_BUTTONS = [{"title": "先不办了", "payload": "/stop"}, {"title": "转人工客服", "payload": "/request_human"}]


def reset_flow() -> list[EventType]:
    return [SlotSet(slot, None) for slot in FLOW_SLOTS]


def parse_order_no(value: Any) -> tuple[Optional[str], str]:
    """(order number, problem): the number when well-formed, else a hint in Chinese."""
    text = str(value or "")
    found = find_order_no(text)
    if found:
        return found, ""
    digits = _DIGITS.search(text)
    if digits:
        return None, f"「{digits.group(0)}」不是有效的订单号哦：订单号是{ORDER_NO_FORMAT}，可以在「我的订单」→订单详情里复制。"
    return None, f"没有识别到订单号～订单号是{ORDER_NO_FORMAT}，可以在「我的订单」→订单详情里复制。"


def parse_last4(value: Any) -> Optional[str]:
    text = str(value or "")
    phone = MOBILE_PHONE.search(text) or MOBILE_PHONE.search(DIGIT_GROUP_GAP.sub("", text))
    if phone:
        return phone.group(0)[-4:]
    found = PHONE_LAST4.search(text)
    return found.group(1) if found else None


def client_of(tracker: Tracker) -> Optional[str]:
    """Who is asking, as the channel saw it (IP or session; set by the server, never by the shopper)."""
    metadata = tracker.latest_message.get("metadata") or {}
    client = metadata.get(CLIENT_KEY) if isinstance(metadata, dict) else None
    return client if isinstance(client, str) and client else None


def locked_reply(refusal: Refusal) -> str:
    minutes = max(1, round(refusal.seconds_left / 60))
    return (f"为保护订单信息，这个订单的手机尾号核对失败次数太多，已暂时锁定，约{minutes}分钟后可以再试。"
            "如果这是您的订单，可以转人工客服帮您核实身份。")


class OrderFormValidation(FormValidationAction, ABC):
    """Validates order_id and phone_last4, then hands the verified order to `on_verified`.

    A verification is reused by later flows of the same conversation for
    `VERIFICATION_TTL_SECONDS`; flows that change the order (cancel, change the
    phone or address) set `reuse_verification = False` and always ask for the digits.
    """

    reuse_verification = True

    @abstractmethod
    def name(self) -> str:
        """validate_<form name>; abstract so rasa_sdk does not register this base class."""

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[str]:
        if tracker.get_slot("flow_blocked"):
            return []
        return domain_slots

    def validate_order_id(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        order_no, problem = parse_order_no(slot_value)
        if order_no is None:
            dispatcher.utter_message(text=problem)
            return {"order_id": None}
        if backend().get_order(order_no) is None:
            dispatcher.utter_message(text=f"没有查到订单 {order_no}，请核对一下订单号，或者在「我的订单」里直接复制～")
            return {"order_id": None}
        if order_no == tracker.get_slot("verified_order") and self._verification_fresh(tracker):
            return {"order_id": order_no, "phone_last4": VERIFIED}
        if "phone_last4" in tracker.slots_to_validate():
            return {"order_id": order_no}
        return {"order_id": order_no, "phone_last4": None}

    def validate_phone_last4(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        if slot_value == VERIFIED:
            ok = (tracker.get_slot("verified_order") and tracker.get_slot("verified_order") == tracker.get_slot("order_id")
                  and self._verification_fresh(tracker))
            return {"phone_last4": VERIFIED if ok else None}
        digits = parse_last4(slot_value)
        if digits is None:
            dispatcher.utter_message(text="请发下单手机号的后四位数字哦，比如「1234」。")
            return {"phone_last4": None}
        return {"phone_last4": digits}

    async def get_validation_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        requested = tracker.get_slot("requested_slot")
        # Only an answer the form took and could not use is a miss. A message it did not take
        # (thanks, another request) must leave the events alone, so that Rasa rejects the form
        # and the rules for that message run.
        answered = requested in tracker.slots_to_validate()
        events = await self._checked_events(dispatcher, tracker, domain)
        if not requested or not answered or tracker.get_slot("flow_blocked"):
            return events
        filled = any(e.get("event") == "slot" and e.get("name") == requested and e.get("value") is not None
                     for e in events)
        misses = 0 if filled else int(tracker.get_slot("form_misses") or 0) + 1
        if misses >= MISSES_BEFORE_WAY_OUT:
            dispatcher.utter_message(text=WAY_OUT_TEXT, buttons=WAY_OUT_BUTTONS)
        return [*events, SlotSet("form_misses", float(misses))]

    async def _checked_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        """The validated slots, with the order verified (or refused) once number and digits are known."""
        events = await super().get_validation_events(dispatcher, tracker, domain)
        tracker.add_slots(events)
        touched = {e["name"] for e in events if e.get("event") == "slot"}
        if not touched & {"order_id", "phone_last4"}:
            return events
        order_no, last4 = tracker.get_slot("order_id"), tracker.get_slot("phone_last4")
        if not order_no or not last4:
            return events
        if last4 == VERIFIED:
            order = backend().get_order(order_no)
        else:
            # The digits are checked now and never stored: the slot ends as VERIFIED or empty.
            events = [e for e in events if not (e.get("event") == "slot" and e.get("name") == "phone_last4")]
            guard, client = order_access_guard(), client_of(tracker)
            refusal = guard.refusal(order_no, client)
            if refusal is not None:  # locked: the digits are not even checked
                return events + self._locked(dispatcher, refusal)
            order = backend().verify_order(order_no, last4)
            if order is None:
                refusal = guard.record_failure(order_no, client)
                if refusal is not None:
                    return events + self._locked(dispatcher, refusal)
                return events + self._verification_failed(dispatcher, tracker)
            events += [SlotSet("verified_order", order_no), SlotSet("phone_last4", VERIFIED),
                       SlotSet("verify_failures", 0.0), SlotSet("verified_at", time.time())]
        if order is None:
            return events
        more = self.on_verified(order, dispatcher, tracker)
        tracker.add_slots(more)
        return events + more

    def _verification_fresh(self, tracker: Tracker) -> bool:
        """Whether this flow may reuse the conversation's verified order without new digits."""
        verified_at = tracker.get_slot("verified_at")
        return (self.reuse_verification and isinstance(verified_at, (int, float))
                and time.time() - float(verified_at) < load_settings().verification_ttl_seconds)

    @staticmethod
    def _locked(dispatcher: CollectingDispatcher, refusal: Refusal) -> list[EventType]:
        dispatcher.utter_message(text=locked_reply(refusal),
                                 buttons=[{"title": "转人工客服", "payload": "/request_human"}])
        return [SlotSet("phone_last4", None), SlotSet("flow_blocked", "order_locked")]

    @staticmethod
    def _verification_failed(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        failures = int(tracker.get_slot("verify_failures") or 0) + 1
        if failures >= MAX_VERIFY_FAILURES:
            dispatcher.utter_message(
                text="手机尾号多次核对不一致，为保护订单信息，暂时不能继续查询。请确认下单手机号后再试，或转人工客服处理。"
            )
            return [SlotSet("verify_failures", float(failures)), SlotSet("phone_last4", None),
                    SlotSet("flow_blocked", "verification_failed")]
        dispatcher.utter_message(text="订单号和手机尾号对不上😥 请核对后重新发一下下单手机号的后四位。")
        return [SlotSet("verify_failures", float(failures)), SlotSet("phone_last4", None)]

    def on_verified(self, order: Order, dispatcher: CollectingDispatcher, tracker: Tracker) -> list[EventType]:
        """Flow-specific checks once the order is proven to be the shopper's. Default: none."""
        return []


def describe_order(order: Order) -> str:
    return f"订单 {order.order_no}（{order.status.label}）：\n{order_items_text(order.items)}"


def block(dispatcher: CollectingDispatcher, reason: str, why: str) -> list[EventType]:
    """Tell the shopper why the flow stops here and end the form."""
    dispatcher.utter_message(text=reason)
    return [SlotSet("flow_blocked", why)]
