"""Shopper text is text: a typed `/intent{...}` is not obeyed unless it is a button the bot offered.

Rasa reads a message that starts with "/" as an intent with entities, skipping
the NLU (`/restart` wipes the conversation, `/inquire_order_status{"order_id": ...}`
injects an entity). Buttons legitimately send such payloads, so a message that is
exactly the payload of a button in the bot's latest message goes through; any
other text starting with a slash (also the full-width ／ that normalisation
would turn into one) has its slash replaced by "／", which Rasa does not read
as a command and the NLU still sees as "/".
"""
from __future__ import annotations

import unicodedata
from typing import Any, Iterable

COMMAND_PREFIX = "/"
TEXT_SLASH = "／"  # FULLWIDTH SOLIDUS: what a shopper's slash becomes


def looks_like_command(text: str) -> bool:
    """Whether Rasa (or our normaliser, then Rasa) would read `text` as a command."""
    return unicodedata.normalize("NFKC", text.lstrip()[:1]) == COMMAND_PREFIX


def as_text(text: str, offered_payloads: Iterable[str]) -> str:
    """`text` unchanged when it is not a command or is exactly an offered payload; else with its slash neutralised."""
    if not looks_like_command(text) or text.strip() in set(offered_payloads):
        return text
    stripped = text.lstrip()
    return text[: len(text) - len(stripped)] + TEXT_SLASH + stripped[1:]


def offered_payloads(events: Iterable[Any]) -> set[str]:
    """The button and quick-reply payloads the bot offered since the shopper last wrote (Rasa events)."""
    offered: set[str] = set()
    for event in reversed(list(events)):
        kind = getattr(event, "type_name", None)
        if kind == "user":
            break
        if kind != "bot":
            continue
        data = getattr(event, "data", None) or {}
        buttons = list(data.get("buttons") or []) + list(data.get("quick_replies") or [])
        offered |= {str(b.get("payload")) for b in buttons if isinstance(b, dict) and b.get("payload")}
    return offered
