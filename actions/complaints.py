"""Complaints: collect what happened, triage it, and file a ticket."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction

from actions.common import backend, latest_text
from actions.handoff import hand_over
from actions.verification import reset_flow
from bot.handoff.escalation import escalation_rules
from bot.shop.complaint_triage import triage
from bot.shop.identifiers import find_order_no
from bot.shop.models import TicketKind

# A complaint this short ("我要投诉") says nothing yet about what went wrong.
MIN_DETAIL_CHARS = 8
SEVERITY_LABELS = {"high": "紧急", "medium": "较高", "low": "一般"}


class ValidateComplaintForm(FormValidationAction):
    def name(self) -> str:
        return "validate_complaint_form"

    async def extract_complaint_detail(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        # The message that opened the complaint often already says what happened.
        if tracker.get_slot("requested_slot") is None and tracker.get_intent_of_latest_message() == "complain":
            text = latest_text(tracker)
            if len(text) >= MIN_DETAIL_CHARS:
                return {"complaint_detail": text}
        return {}

    def validate_complaint_detail(
        self, slot_value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> dict[str, Any]:
        text = str(slot_value or "").strip()
        if not text:
            return {"complaint_detail": None}
        return {"complaint_detail": text[:1000]}


class ActionSubmitComplaint(Action):
    def name(self) -> str:
        return "action_submit_complaint"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        detail = tracker.get_slot("complaint_detail")
        if not detail:
            return reset_flow()
        result = triage(detail)
        # Only an order the shopper proved is theirs is attached; a number typed in the complaint is
        # kept as their claim for the agent, so nobody files complaints onto other people's orders.
        verified = tracker.get_slot("verified_order")
        mentioned = find_order_no(detail)
        details = {"text": detail, "sender_id": tracker.sender_id, "channel": tracker.get_latest_input_channel()}
        if mentioned and mentioned != verified:
            details["mentioned_order_unverified"] = mentioned
        ticket = backend().create_ticket(
            TicketKind.COMPLAINT, order_no=verified, category=result.category, severity=result.severity,
            details=details,
        )
        urgent = result.severity in escalation_rules().complaint_severities
        promise = "专员会在2小时内联系您" if result.severity == "high" else "客服会在24小时内给您答复"
        dispatcher.utter_message(
            text=f"您的投诉已记录，工单号：{ticket.ticket_no}（优先级：{SEVERITY_LABELS[result.severity]}）。"
            + ("给您添麻烦了，真的很抱歉🙏" if urgent else f"{promise}，给您添麻烦了，真的很抱歉🙏")
        )
        if urgent:  # a serious complaint goes to a person now, not only to the ticket queue
            hand_over(dispatcher, tracker, "complaint_high", extra={"ticket_no": ticket.ticket_no}, intent="complain")
        return reset_flow()
