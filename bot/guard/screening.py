"""Checks every incoming shopper message before it reaches Rasa.

Channels call `screen_message`; it decides whether a message goes on to the
assistant or is answered right away (empty, far too long). Answers are polite and
in Chinese: the shopper should always know what to do next.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

MAX_SENDER_CHARS = 128


class BadRequest(ValueError):
    """The request itself is malformed (not the shopper's fault, a client bug)."""


@dataclass(frozen=True)
class Screened:
    """`text` goes on to Rasa when `reply` is None; otherwise send `reply` back instead."""

    text: str
    reply: Optional[str] = None


def too_long_reply(length: int, limit: int) -> str:
    return f"亲，您的消息有点长（{length}字），请精简到{limit}字以内再发一次，或者分几条发送，我马上帮您处理～"


EMPTY_REPLY = "亲，我没有收到文字内容哦～请问有什么可以帮您？"


def screen_message(text: Any, max_chars: int) -> Screened:
    """Decide what to do with a message text from any channel."""
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise BadRequest("'message' must be a string")
    if not text.strip():
        return Screened(text="", reply=EMPTY_REPLY)
    if len(text) > max_chars:
        return Screened(text=text, reply=too_long_reply(len(text), max_chars))
    return Screened(text=text)


def check_sender(sender: Any) -> str:
    """A usable conversation id, or BadRequest."""
    if not isinstance(sender, str) or not sender.strip():
        raise BadRequest("'sender' must be a non-empty string")
    if len(sender) > MAX_SENDER_CHARS:
        raise BadRequest(f"'sender' must be at most {MAX_SENDER_CHARS} characters")
    return sender
