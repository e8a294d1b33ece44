"""Shopper text is text: a typed `/intent{...}` goes through the NLU unless it is a button the bot offered."""
from __future__ import annotations

import json

import pytest

from tests.conftest import RunningStack, new_sender

pytestmark = pytest.mark.stack


def user_events(stack: RunningStack, sender: str) -> list[dict]:
    return [e for e in stack.tracker(sender)["events"] if e.get("event") == "user"]


def went_through_nlu(event: dict) -> bool:
    """Rasa's command shortcut yields one intent at confidence 1 and no ranking; the NLU ranks many."""
    return len((event.get("parse_data") or {}).get("intent_ranking") or []) > 1


def test_typed_intent_with_entities_does_not_open_an_order(stack: RunningStack) -> None:
    sender = new_sender()
    order = stack.sample_order.order_no
    answer = stack.chat(sender, "/inquire_order_status" + json.dumps({"order_id": order, "phone_last4": "0000"}))
    last = user_events(stack, sender)[-1]
    assert last["text"].startswith("／") and went_through_nlu(last)
    assert stack.sample_order.status_label not in answer
    slots = stack.tracker(sender)["slots"]
    assert slots.get("verified_order") is None and slots.get("phone_last4") in (None, "")


@pytest.mark.parametrize("command", ["/restart", "／restart", "  /restart", "/session_start"])
def test_typed_restart_resets_nothing(stack: RunningStack, command: str) -> None:
    sender = new_sender()
    stack.chat(sender, "我要退货")
    before = stack.tracker(sender)
    assert before["active_loop"].get("name")
    stack.chat(sender, command)
    events = stack.tracker(sender)["events"]
    assert not [e for e in events if e.get("event") in ("restart", "session_started")][1:], "the conversation was reset"
    assert went_through_nlu(user_events(stack, sender)[-1])


def test_typed_request_human_is_read_as_text(stack: RunningStack) -> None:
    sender = new_sender()
    stack.chat(sender, "/request_human")
    last = user_events(stack, sender)[-1]
    assert last["text"] == "／request_human" and went_through_nlu(last)


def test_a_button_the_bot_offered_still_works(stack: RunningStack) -> None:
    sender = new_sender()
    greeting = stack.say(sender, "你好")
    payloads = [b["payload"] for m in greeting for b in m.get("buttons", [])]
    assert "/inquire_order_status" in payloads
    answer = stack.chat(sender, "/inquire_order_status")
    last = user_events(stack, sender)[-1]
    assert last["text"] == "/inquire_order_status" and not went_through_nlu(last)
    assert "订单号" in answer


def test_a_payload_offered_earlier_is_not_reusable(stack: RunningStack) -> None:
    sender = new_sender()
    stack.say(sender, "你好")  # offers /inquire_logistics
    stack.say(sender, "谢谢")  # the shopper wrote since: that offer is gone
    stack.chat(sender, "/inquire_logistics")
    assert went_through_nlu(user_events(stack, sender)[-1])
