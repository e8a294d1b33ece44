"""Checks every incoming shopper message before it reaches Rasa.

Channels call `screen_message`; it decides whether a message goes on to the
assistant or is answered right away (empty, far too long). Answers are polite and
in Chinese: the shopper should always know what to do next.
"""
from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from typing import Any, Optional

MAX_SENDER_CHARS = 128
# The metadata key under which a channel records who sent a message (IP or session).
# Set by the server on every message, replacing whatever a client sent under that name.
CLIENT_KEY = "shop_client"
MAX_METADATA_BYTES = 4096  # channel metadata as JSON; more is a client bug or an attack
MAX_METADATA_DEPTH = 8  # nesting of objects and lists in metadata
# Characters that show nothing: controls, format characters (zero-width space, BOM,
# direction marks), separators, unassigned and surrogate code points.
_INVISIBLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})


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


def _without_lone_surrogates(text: str) -> str:
    """Lone UTF-16 surrogates (valid JSON escapes, invalid text) become U+FFFD, so the text can be stored."""
    return text.encode("utf-8", "replace").decode("utf-8") if any(0xD800 <= ord(c) <= 0xDFFF for c in text) else text


def has_visible_text(text: str) -> bool:
    """Whether anything in `text` shows on screen."""
    return any(unicodedata.category(ch) not in _INVISIBLE for ch in text)


def screen_message(text: Any, max_chars: int) -> Screened:
    """Decide what to do with a message text from any channel."""
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise BadRequest("'message' must be a string")
    if len(text) > max_chars:
        return Screened(text="", reply=too_long_reply(len(text), max_chars))
    text = _without_lone_surrogates(text)
    if not has_visible_text(text):
        return Screened(text="", reply=EMPTY_REPLY)
    return Screened(text=text)


VIP_KEY = "vip"  # metadata an app backend (API key) sets for its VIP members; nobody else may claim it


def without_claims(metadata: dict[str, Any]) -> dict[str, Any]:
    """Metadata from a caller who may not vouch for the shopper (a web page): VIP status removed."""
    return {k: v for k, v in metadata.items() if k != VIP_KEY}


def check_metadata(metadata: Any) -> dict[str, Any]:
    """Channel metadata: a small JSON object (or none), or BadRequest."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise BadRequest("'metadata' must be a JSON object")
    try:
        size = len(json.dumps(metadata, ensure_ascii=False).encode("utf-8", "replace"))
    except (TypeError, ValueError, RecursionError):
        raise BadRequest("'metadata' must be plain JSON") from None
    if size > MAX_METADATA_BYTES:
        raise BadRequest(f"'metadata' must be at most {MAX_METADATA_BYTES} bytes of JSON")
    if _depth(metadata) > MAX_METADATA_DEPTH:
        raise BadRequest(f"'metadata' must be nested at most {MAX_METADATA_DEPTH} levels deep")
    return metadata


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def check_sender(sender: Any) -> str:
    """A usable conversation id, or BadRequest."""
    if not isinstance(sender, str) or not sender.strip():
        raise BadRequest("'sender' must be a non-empty string")
    if len(sender) > MAX_SENDER_CHARS:
        raise BadRequest(f"'sender' must be at most {MAX_SENDER_CHARS} characters")
    if not sender.isprintable() or any(0xD800 <= ord(c) <= 0xDFFF for c in sender):
        raise BadRequest("'sender' must be printable text")
    return sender
