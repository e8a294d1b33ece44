"""Typed commands are text unless they are exactly a payload the bot offered."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from bot.guard.commands import TEXT_SLASH, as_text, looks_like_command, offered_payloads
from bot.nlu.normalize import normalize_text


@pytest.mark.parametrize("text, command", [
    ("/restart", True), ("／restart", True), ("  /restart", True), ("你好/再见", False), ("", False), ("a/b", False),
])
def test_looks_like_command(text: str, command: bool) -> None:
    assert looks_like_command(text) is command


@pytest.mark.parametrize("text, expected", [
    ("/restart", "／restart"), ("／restart", "／restart"), ("  /restart", "  ／restart"),
    ('/inquire_order_status{"order_id": "2611038862104557"}', '／inquire_order_status{"order_id": "2611038862104557"}'),
    ("/request_human", "/request_human"),  # offered below
    (" /request_human ", " /request_human "),
    ("/request_human{}", "／request_human{}"),  # not exactly the payload
    ("查订单", "查订单"),
])
def test_as_text(text: str, expected: str) -> None:
    assert as_text(text, {"/request_human"}) == expected


def test_what_the_normaliser_makes_of_a_neutralised_command_is_no_command() -> None:
    for typed in ("/restart", "／restart", "/affirm{\"x\": 1}"):
        assert normalize_text(as_text(typed, set())).startswith(TEXT_SLASH)
    assert normalize_text("/inquire_order_status") == "/inquire_order_status"  # a clicked button


def bot(*payloads: str, quick: bool = False) -> SimpleNamespace:
    buttons = [{"title": p, "payload": p} for p in payloads]
    return SimpleNamespace(type_name="bot", data={"quick_replies" if quick else "buttons": buttons})


def test_offered_payloads_are_those_since_the_shopper_last_wrote() -> None:
    user = SimpleNamespace(type_name="user")
    events = [bot("/old"), user, bot("/a", "/b"), SimpleNamespace(type_name="action"), bot("/c", quick=True)]
    assert offered_payloads(events) == {"/a", "/b", "/c"}
    assert offered_payloads([bot("/old"), user]) == set()
    assert offered_payloads([]) == set()
