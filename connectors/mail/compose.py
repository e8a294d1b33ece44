"""Writing the bot's (or an agent's) answer as one mail in the shopper's thread.

A turn's several messages become one plain-text mail; buttons become a list the
shopper answers by typing its number ("1"), mapped back to the button's payload
by `choice_of`. Buttons whose titles are already numbers (a 1-5 rating: "5 分")
are listed as they are and the number typed is the title's own number.
"""
from __future__ import annotations

import base64
import re
import unicodedata
from datetime import datetime, timezone
from email.header import Header
from email.utils import format_datetime, formataddr
from typing import Any, Iterable, Optional

from connectors.mail.parsing import reply_subject

BOT_NAME = "小店智能客服"
AGENT_NAME = "小店人工客服"
FOOTER = "——\n直接回复本邮件即可继续咨询，请保留邮件主题。"
CHOOSE_HINT = "（回复对应的数字即可选择，例如回复“{example}”）"
_LEADING_NUMBER = re.compile(r"^\s*(\d{1,2})(?!\d)")

Buttons = list[tuple[str, str]]  # (what the shopper types, payload)


def _buttons(messages: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for m in messages for b in (m.get("buttons") or []) if isinstance(b, dict) and b.get("payload")]


def number_buttons(messages: Iterable[dict[str, Any]]) -> tuple[Buttons, bool]:
    """The keys shoppers type for all buttons of these messages, in order; True when the keys are the titles' own
    leading numbers (the titles are listed as they are), False when the buttons are numbered 1, 2, ..."""
    buttons = _buttons(messages)
    leading = [_LEADING_NUMBER.match(str(b.get("title", ""))) for b in buttons]
    if buttons and all(leading) and len({m.group(1) for m in leading if m}) == len(buttons):
        return [(m.group(1), str(b["payload"])) for m, b in zip(leading, buttons) if m], True
    return [(str(i), str(b["payload"])) for i, b in enumerate(buttons, 1)], False


def render(messages: list[dict[str, Any]], before: Iterable[str] = (), after: Iterable[str] = ()
           ) -> tuple[str, Buttons]:
    """The body of one mail for a turn's messages (texts, buttons as a list, images as links), and its buttons."""
    numbered, titled = number_buttons(messages)
    keys = iter(numbered)
    blocks = [line for line in before if line]
    offered: Buttons = []
    for message in messages:
        lines = []
        if message.get("text"):
            lines.append(str(message["text"]).strip())
        if message.get("image"):
            lines.append(f"图片：{message['image']}")
        if message.get("attachment"):
            lines.append(f"附件：{message['attachment']}")
        for button in message.get("buttons") or []:
            if not isinstance(button, dict) or not button.get("payload"):
                continue
            key, payload = next(keys)
            offered.append((key, payload))
            title = str(button.get("title") or payload)
            lines.append(f"- {title}" if titled else f"{key}. {title}")
        if lines:
            blocks.append("\n".join(lines))
    if offered:
        blocks.append(CHOOSE_HINT.format(example=offered[0][0]))
    blocks += [line for line in after if line]
    return "\n\n".join(blocks), offered


def choice_of(text: str, buttons: Iterable[tuple[str, str]]) -> Optional[str]:
    """The payload of the button a shopper chose by typing its number ("1", "１", "1.", "选1"), else None."""
    typed = unicodedata.normalize("NFKC", text).strip()
    typed = re.sub(r"^(?:选|选择|第)?\s*(\d{1,2})\s*(?:个|项|号|分)?\s*[.。、)）]?$", r"\1", typed)
    for key, payload in buttons:
        if typed == key:
            return payload
    return None


def quote(text: str, sender: str, date: str) -> str:
    """The shopper's words below the answer, as mail clients quote (our own reading strips it again)."""
    lines = "\n".join(f"> {line}" if line else ">" for line in text.splitlines()[:40])
    return f"在 {date or '您来信时'}，{sender} 写道：\n{lines}"


_MAX_LINE = 78  # RFC 5322 2.1.1: lines SHOULD be at most 78 characters


def _folded(name: str, value: str) -> str:
    """`Name: value`, folded at spaces before the line would pass 78 characters (RFC 5322 2.2.3)."""
    lines, line = [], f"{name}:"
    for word in value.split():
        if len(line) + 1 + len(word) > _MAX_LINE and line.strip() != f"{name}:":
            lines.append(line)
            line = ""
        line += f" {word}"
    return "\r\n".join([*lines, line])


def _header(name: str, value: str) -> str:
    """One header: ASCII as it is, anything else as RFC 2047 encoded words (UTF-8), folded."""
    if value.isascii():
        return _folded(name, value)
    return f"{name}: " + Header(value, "utf-8", header_name=name).encode(linesep="\r\n")


def build(*, service_address: str, to: str, subject: str, body: str, message_id: str, in_reply_to: str,
          references: Iterable[str], automatic: bool, from_agent: Optional[str] = None, quoted: str = ""
          ) -> bytes:
    """One answer in the shopper's thread, as it goes over SMTP (CRLF, folded headers, UTF-8 text in base64):
    Re: subject, In-Reply-To and References, from the service address; `Auto-Submitted: auto-replied` unless a
    person (an agent) wrote it (RFC 3834). Written by hand: the email package took ten times as long (on every
    shopper's wait), for a plain-text mail whose every header is known here."""
    name = f"{AGENT_NAME} {from_agent}".strip() if from_agent is not None else BOT_NAME
    headers = [_folded("From", formataddr((name, service_address), charset="utf-8")),
               _folded("To", to),  # an address, never encoded words (RFC 2047 5); UTF-8 as it is (RFC 6532)
               _header("Subject", reply_subject(subject)),
               _folded("Date", format_datetime(datetime.now(timezone.utc))), _folded("Message-ID", message_id)]
    if in_reply_to:
        headers.append(_folded("In-Reply-To", in_reply_to))
    refs = " ".join(references)
    if refs:
        headers.append(_folded("References", refs))
    if automatic:
        headers.append("Auto-Submitted: auto-replied")
        headers.append("X-Auto-Response-Suppress: All")  # Exchange: no out-of-office answers to the bot's mails
    headers += ["MIME-Version: 1.0", 'Content-Type: text/plain; charset="utf-8"', "Content-Transfer-Encoding: base64"]
    text = f"{body}\n\n{FOOTER}\n" + (f"\n{quoted}\n" if quoted else "")
    # Headers in UTF-8 where an id came so (RFC 6532); everything else here is ASCII.
    return ("\r\n".join(headers) + "\r\n\r\n").encode("utf-8") + \
        base64.encodebytes(text.encode("utf-8")).replace(b"\n", b"\r\n")
