"""Screening a message before Rasa: malformed requests are refused, odd messages answered politely."""
from __future__ import annotations

import pytest

from bot.guard.screening import EMPTY_REPLY, MAX_SENDER_CHARS, BadRequest, check_sender, screen_message


def test_a_normal_message_goes_on() -> None:
    screened = screen_message("小米手环多少钱", 500)
    assert screened.reply is None and screened.text == "小米手环多少钱"


@pytest.mark.parametrize("text", [None, "", "   ", "\n\t"])
def test_empty_messages_get_a_prompt(text: object) -> None:
    assert screen_message(text, 500).reply == EMPTY_REPLY


def test_too_long_is_answered_with_the_limit() -> None:
    reply = screen_message("好" * 501, 500).reply
    assert reply is not None and "501字" in reply and "500字以内" in reply
    assert screen_message("好" * 500, 500).reply is None


@pytest.mark.parametrize("text", [42, ["a"], {"a": 1}, 1.5, True])
def test_non_text_is_a_bad_request(text: object) -> None:
    with pytest.raises(BadRequest):
        screen_message(text, 500)


@pytest.mark.parametrize("sender", [None, "", "  ", 7, "x" * (MAX_SENDER_CHARS + 1)])
def test_bad_senders(sender: object) -> None:
    with pytest.raises(BadRequest):
        check_sender(sender)


def test_good_sender() -> None:
    assert check_sender("x" * MAX_SENDER_CHARS) == "x" * MAX_SENDER_CHARS
