"""Fallback actions: rephrase with suggestions, a human after repeated misunderstanding, stopping a flow."""
from __future__ import annotations

from typing import Any

import pytest

from actions.fallback import (
    LEFT_FORM_TEXT,
    SUGGESTIONS,
    ActionAcknowledge,
    ActionFallbackRephrase,
    ActionStopFlow,
    recent_fallbacks,
)
from actions.verification import FLOW_SLOTS
from bot.handoff.escalation import escalation_rules
from bot.shop.sqlite_backend import SqliteShopBackend
from tests.actions.conftest import Result, Turn, run_action

RANKING = [
    {"name": "nlu_fallback", "confidence": 0.7},
    {"name": "inquire_price", "confidence": 0.31},
    {"name": "greet", "confidence": 0.2},  # no suggestion for small talk
    {"name": "request_return", "confidence": 0.18},
    {"name": "inquire_logistics", "confidence": 0.1},
    {"name": "complain", "confidence": 0.05},
]


def user(text: str, intent: str) -> dict[str, Any]:
    return {"event": "user", "text": text, "parse_data": {"intent": {"name": intent, "confidence": 0.5}}}


def rephrased() -> list[dict[str, Any]]:
    """A misunderstood message and what the fallback made of it, as they stay in the tracker's events."""
    return [user("？？", "nlu_fallback"), {"event": "bot", "text": "抱歉，没太明白"},
            {"event": "action", "name": "action_fallback_rephrase"}, {"event": "rewind"}]


def fallback(domain: dict[str, Any], events: list[dict[str, Any]]) -> Result:
    turn = Turn(text="嗯那个东西", intent="nlu_fallback", intent_ranking=RANKING, events=events)
    return run_action(ActionFallbackRephrase(), turn, domain)


def test_first_fallback_asks_to_rephrase_with_suggestions(domain: dict[str, Any]) -> None:
    r = fallback(domain, [user("你好", "greet"), {"event": "bot", "text": "您好"}])
    assert r.text.startswith("抱歉，没太明白您的意思，能换个说法吗？")
    buttons = r.messages[0]["buttons"]
    expected = ["inquire_price", "request_return", "inquire_logistics"]  # the first three the bot can suggest
    assert buttons == [{"title": SUGGESTIONS[name], "payload": f"/{name}"} for name in expected]
    assert "转人工客服" not in [b["title"] for b in buttons]
    assert r.events == [{"event": "rewind", "timestamp": None}]  # the unclear message is forgotten


def test_a_second_fallback_in_a_row_hands_over_to_a_human(shop: SqliteShopBackend, domain: dict[str, Any],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDOFF_HOURS", "never")  # the ticket path; the queue path is in test_handoff.py
    events = [user("你好", "greet"), *rephrased()]
    turn = Turn(text="嗯那个东西", intent="nlu_fallback", intent_ranking=RANKING, events=events)
    assert recent_fallbacks(turn.tracker()) == escalation_rules().fallbacks_in_a_row
    r = fallback(domain, events)
    assert r.text.startswith("抱歉，我还是没理解您的意思") and "工单号" in r.text
    assert r.events == []  # the message stays: the agent reads it


def test_an_understood_message_starts_the_count_again(domain: dict[str, Any]) -> None:
    events = [*rephrased(), user("查物流", "inquire_logistics"), {"event": "bot", "text": "请发订单号"}]
    r = fallback(domain, events)
    assert "转人工客服" not in [b["title"] for b in r.messages[0]["buttons"]]


def test_fallback_without_a_ranking_still_asks_to_rephrase(domain: dict[str, Any]) -> None:
    r = run_action(ActionFallbackRephrase(), Turn(text="？", intent="nlu_fallback"), domain)
    assert r.text.startswith("抱歉，没太明白") and r.messages[0]["buttons"] == []


# --- stopping --------------------------------------------------------------------------------------
def test_stop_ends_the_active_form_and_clears_it(domain: dict[str, Any]) -> None:
    turn = Turn(text="不办了", intent="stop", active_loop="return_form", slots={"order_item": "0082-01-01"})
    r = run_action(ActionStopFlow(), turn, domain)
    assert r.responses == ["utter_flow_stopped"]
    assert r.events[0] == {"event": "active_loop", "timestamp": None, "name": None}
    assert all(r.slots()[name] is None for name in FLOW_SLOTS)


def test_stop_without_a_form_just_acknowledges(domain: dict[str, Any]) -> None:
    r = run_action(ActionStopFlow(), Turn(text="算了", intent="stop"), domain)
    assert r.responses == ["utter_ok"]
    assert r.events == []


# --- letting a flow go ----------------------------------------------------------------------------------

@pytest.mark.parametrize("intent, response", [("thank", "utter_you_are_welcome"), ("goodbye", "utter_goodbye"),
                                              ("affirm", "utter_ok"), ("deny", "utter_ok")])
def test_acknowledgement_inside_a_form_lets_it_go(domain: dict[str, Any], intent: str, response: str) -> None:
    turn = Turn(text="行吧", intent=intent, active_loop="order_lookup_form",
                slots={"requested_slot": "order_id", "form_misses": 1.0})
    r = run_action(ActionAcknowledge(), turn, domain)
    assert r.responses == [response]
    assert {"event": "active_loop", "name": None} in [{k: e.get(k) for k in ("event", "name")} for e in r.events]
    assert r.slots()["requested_slot"] is None and r.slots()["form_misses"] is None
    assert (LEFT_FORM_TEXT in r.text) is (intent != "goodbye")


def test_acknowledgement_outside_a_form_just_answers(domain: dict[str, Any]) -> None:
    r = run_action(ActionAcknowledge(), Turn(text="谢谢", intent="thank"), domain)
    assert r.responses == ["utter_you_are_welcome"] and r.events == []
