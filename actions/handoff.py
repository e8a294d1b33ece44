"""Handing the conversation to a human from inside a flow: the shopper asks, the bot is lost, or a rule says so.

The queue, the hours and every threshold live in bot.handoff (triggers.yml);
these actions only say why. A satisfaction rating after the chat is recorded
here too, and a low one after a bot-only conversation leaves a follow-up ticket.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import backend, latest_text
from bot.config import load_settings
from bot.guard.screening import VIP_KEY
from bot.handoff import keys
from bot.handoff.escalation import GENERIC_INTENTS, Outcome, escalate, escalation_rules
from bot.handoff.hours import agents_on_duty, next_opening_text
from bot.handoff.leave_message import request_handoff
from bot.handoff.service import handoff_queue
from bot.privacy.masking import mask_text
from bot.shop.models import TicketKind

logger = logging.getLogger(__name__)

RATING_THANKS = {5: "感谢您的五星好评🌟 祝您生活愉快！", 4: "感谢您的评价，我们会继续努力～",
                 3: "感谢您的评价，我们会努力做得更好。"}
RATING_WORDS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
LOW_RATING_TEXT = "非常抱歉这次没能让您满意😔 已为您登记回访，客服会在{when}联系您，了解情况并改进。"


def flow_intent(tracker: Tracker) -> Optional[str]:
    """The intent whose skill group should take the conversation: the flow's, else the latest understood one."""
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        name = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        if name and name not in GENERIC_INTENTS:
            return str(name)
    return None


def hand_over(dispatcher: CollectingDispatcher, tracker: Tracker, reason: str, intro: str = "",
              extra: Optional[dict[str, Any]] = None, intent: Optional[str] = None) -> Outcome:
    """Escalate this conversation (queue in working hours, else a ticket) and tell the shopper what happens.

    `intent` names the topic whose skill group takes it; by default the flow's latest understood intent."""
    settings = load_settings()
    queue = handoff_queue()
    details = {"last_message": mask_text(latest_text(tracker)), "order_no": tracker.get_slot("verified_order"),
               **(extra or {})}
    channel = tracker.get_latest_input_channel() or ""
    if queue is None:  # no Redis: agents cannot take live chats, a ticket is the way
        handoff = request_handoff(backend(), tracker.sender_id, reason=reason, channel=channel,
                                  last_message=details["last_message"], order_no=details["order_no"])
        outcome = Outcome(False, escalation_rules().default_group, ticket_no=handoff.ticket.ticket_no,
                          next_opening=handoff.next_opening)
    else:
        vip = is_vip(tracker)
        outcome = escalate(queue, backend(), tracker.sender_id, reason, intent=intent or flow_intent(tracker), channel=channel,
                           vip=vip, details=details, max_wait_seconds=settings.handoff_max_wait_seconds,
                           default_handling_seconds=settings.handoff_default_handling_seconds,
                           hours=settings.handoff_hours)
    dispatcher.utter_message(text=f"{intro}{outcome.shopper_text()}", buttons=outcome.buttons() or None)
    logger.info("conversation %s handed over (%s): %s", tracker.sender_id, reason,
                "queued" if outcome.queued else f"ticket {outcome.ticket_no}")
    return outcome


def is_vip(tracker: Tracker) -> bool:
    """The app's backend marks its VIP members (`metadata: {"vip": true}`, API-key callers only)."""
    return bool((tracker.latest_message.get("metadata") or {}).get(VIP_KEY))


def leave_flow(tracker: Tracker) -> list[EventType]:
    """An open form is dropped when the conversation goes to a human: the agent takes it from here."""
    return [ActiveLoop(None)] if tracker.active_loop.get("name") else []


class ActionRequestHuman(Action):
    """The shopper asked for a person (转人工, 找客服 ...), at any point, also inside a form."""

    def name(self) -> str:
        return "action_request_human"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        hand_over(dispatcher, tracker, "shopper_request")
        return leave_flow(tracker)


class ActionRecordRating(Action):
    """A 1-5 satisfaction rating from the buttons the bot offers after a chat (or after a bot-only flow)."""

    def name(self) -> str:
        return "action_record_rating"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        raw = next((e.get("value") for e in tracker.latest_message.get("entities") or [] if e.get("entity") == "rating"),
                   None)
        rating = RATING_WORDS.get(str(raw), 0) or (int(str(raw)) if str(raw).isdigit() else 0)
        if not 1 <= rating <= 5:
            dispatcher.utter_message(text="请点选 1 到 5 分为本次服务打分～")
            return []
        agent = tracker.get_slot("rated_agent")
        queue = handoff_queue()
        if queue is not None:
            queue.redis.xadd(keys.RATINGS, {"conv": tracker.sender_id, "rating": rating, "agent": agent or "",
                                            "channel": tracker.get_latest_input_channel() or "",
                                            "at": f"{time.time():.3f}"})
        if rating <= escalation_rules().low_rating_at_most:
            follow_up(dispatcher, tracker, rating, bot_only=not agent)
        else:
            dispatcher.utter_message(text=RATING_THANKS.get(rating, RATING_THANKS[3]))
        return [SlotSet("rated_agent", None)]


def follow_up(dispatcher: CollectingDispatcher, tracker: Tracker, rating: int, bot_only: bool) -> None:
    """A low rating: an agent calls back (a follow-up ticket), whether or not an agent had the chat."""
    channel = tracker.get_latest_input_channel()
    ticket = backend().create_ticket(TicketKind.CALLBACK, order_no=tracker.get_slot("verified_order"), details={
        "sender_id": tracker.sender_id, "reason": "low_rating", "rating": rating, "bot_only": bot_only,
        "channel": channel,
    })
    when = "今天工作时间内" if agents_on_duty(channel=channel) else next_opening_text(channel=channel)
    dispatcher.utter_message(text=LOW_RATING_TEXT.format(when=when) + f"（工单号：{ticket.ticket_no}）")
