"""When the bot is unsure or the shopper moves on: ask to rephrase with suggestions, let a flow go, or ask for a human."""
from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher

from actions.handoff import hand_over, leave_flow
from actions.verification import reset_flow
from bot.handoff.escalation import escalation_rules

# What a suggestion button says for an intent the classifier thought possible.
SUGGESTIONS = {
    "inquire_order_status": "查订单状态", "inquire_logistics": "查物流", "inquire_price": "问价格",
    "inquire_stock": "问库存", "inquire_product": "问商品详情", "inquire_usage": "问使用方法",
    "search_product": "找商品", "compare_products": "对比商品", "inquire_promotion": "优惠活动",
    "request_return": "我要退货", "request_exchange": "我要换货", "request_refund": "我要退款",
    "request_repair": "申请维修", "cancel_order": "取消订单", "modify_order": "修改订单", "complain": "我要投诉",
    "faq": "常见问题",
}
LOST_INTRO = "抱歉，我还是没理解您的意思😣 "


def recent_fallbacks(tracker: Tracker) -> int:
    """How many of the shopper's latest messages in a row the bot did not understand."""
    count = 0
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        if (event.get("parse_data") or {}).get("intent", {}).get("name") != "nlu_fallback":
            break
        count += 1
    return count


def previous_intent(tracker: Tracker) -> str | None:
    """The intent of the shopper's message before this one (the topic the bot just lost the thread of)."""
    users = [e for e in tracker.events if e.get("event") == "user"]
    if len(users) < 2:
        return None
    name = ((users[-2].get("parse_data") or {}).get("intent") or {}).get("name")
    return str(name) if name else None


class ActionFallbackRephrase(Action):
    def name(self) -> str:
        return "action_fallback_rephrase"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        rules = escalation_rules()
        if recent_fallbacks(tracker) >= rules.fallbacks_in_a_row or previous_intent(tracker) in rules.sensitive_intents:
            # Lost twice in a row, or once where a mistake costs the shopper (a complaint, a refund):
            # a person takes over.
            hand_over(dispatcher, tracker, "fallback", intro=LOST_INTRO)
            return leave_flow(tracker)
        ranking = tracker.latest_message.get("intent_ranking") or []
        guesses = [r["name"] for r in ranking if r.get("name") in SUGGESTIONS][:3]
        buttons = [{"title": SUGGESTIONS[name], "payload": f"/{name}"} for name in guesses]
        dispatcher.utter_message(text="抱歉，没太明白您的意思，能换个说法吗？您是想问：", buttons=buttons)
        # Forget the unclear message so the conversation (and any open form) goes on as before it.
        return [UserUtteranceReverted()]


# What a short reply that fills nothing gets, by intent.
ACKNOWLEDGEMENTS = {"thank": "utter_you_are_welcome", "goodbye": "utter_goodbye",
                    "affirm": "utter_ok", "deny": "utter_ok"}
LEFT_FORM_TEXT = "这个先放一放～需要继续办理时，随时发订单号给我就行。"


class ActionAcknowledge(Action):
    """Thanks, goodbye, 行吧 or 不用 that answers nothing: reply in kind, and let an open form go.

    Inside a form such a message is not an answer to the form's question (its
    slots do not take these intents), so asking the same question again would trap
    the shopper; the form ends, and the shopper is told how to pick it up again.
    """

    def name(self) -> str:
        return "action_acknowledge"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        dispatcher.utter_message(response=ACKNOWLEDGEMENTS.get(str(intent), "utter_ok"))
        if not tracker.active_loop.get("name"):
            return []
        if intent != "goodbye":
            dispatcher.utter_message(text=LEFT_FORM_TEXT)
        return [ActiveLoop(None)] + reset_flow()


class ActionStopFlow(Action):
    def name(self) -> str:
        return "action_stop_flow"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        if tracker.active_loop.get("name"):
            dispatcher.utter_message(response="utter_flow_stopped")
            return [ActiveLoop(None)] + reset_flow()
        dispatcher.utter_message(response="utter_ok")
        return []
