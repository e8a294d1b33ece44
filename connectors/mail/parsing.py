"""Reading a shopper's mail: who wrote, in which thread, what they wrote this time, and whether to answer at all.

`read_mail(raw, service_address)` gives an `Inbound`: the sender's address, the
subject, the threading headers, the new text with quoted history and signature
cut off (plain text preferred; HTML-only mail is turned into text with the
standard library's html.parser, quotes inside <blockquote> and the usual quote
containers dropped), the attachments' names, and `automatic`: why the mail must
not be answered (an auto-reply, a bounce, a list, our own address), else "".
A mail without a usable sender, or whose text cannot be decoded, raises
`Malformed`.
"""
from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.utils import getaddresses, parseaddr
from functools import lru_cache
from html.parser import HTMLParser
from typing import Optional

MAX_REFERENCES = 20  # ids kept from a References header (the first is the thread's root)
_MESSAGE_ID = re.compile(r"<[^<>\s]{1,900}>")
_NO_REPLY_LOCALS = frozenset({"mailer-daemon", "postmaster", "noreply", "no-reply", "no_reply", "donotreply",
                              "do-not-reply", "do_not_reply", "bounce", "bounces"})
_BULK_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply"})
_AUTOREPLY_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Reply")
_REPLY_PREFIX = re.compile(r"^\s*(?:(?:re|fw|fwd|aw|sv|答复|回复|转发)\s*(?:\[\d+\])?\s*[:：]\s*)+", re.IGNORECASE)


@lru_cache(maxsize=2048)
def _parsed_header(name: str, value: str) -> str:
    return email.policy.default.header_fetch_parse(name, value)


# Headers read here as plain text (ids by regex, the address by getaddresses, the date quoted as written): the
# header registry's parse of a From alone took 0.1 ms, on every shopper's wait.
_PLAIN_HEADERS = frozenset({"from", "message-id", "in-reply-to", "references", "date"})
_FOLD = re.compile(r"\r?\n(?=[ \t])")


class _ReadPolicy(email.policy.EmailPolicy):
    """`email.policy.default`, except that a header value is parsed once (the message looks headers up again and
    again: a plain mail's Content-Type nine times while its body is found; header objects are immutable strings,
    so one parse serves every lookup), and the headers read as plain text are not parsed at all (unless they
    hold raw non-ASCII bytes: the registry decodes those)."""

    def header_fetch_parse(self, name: str, value: str) -> str:
        if hasattr(value, "name"):
            return value
        if name.lower() in _PLAIN_HEADERS and _is_text(value):
            return _FOLD.sub("", value)
        return _parsed_header(name, value)


def _is_text(value: str) -> bool:
    """False for a header with raw non-ASCII bytes (RFC 6532 UTF-8, or a legacy charset), which the parser keeps
    as surrogates: the registry decodes those."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_READ_POLICY = _ReadPolicy()


class Malformed(ValueError):
    """A mail that cannot be answered: no sender address, or text that cannot be decoded."""


@dataclass(frozen=True)
class Inbound:
    sender: str  # the From address, lower case
    subject: str  # as written, Re:/Fwd: included
    message_id: str  # "<...>", or "" when the mail has none
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    text: str  # what the shopper wrote this time: quotes and signature cut, subject used when the body is empty
    attachments: tuple[str, ...] = ()
    automatic: str = ""  # why this mail must not be answered; "" for a person's mail
    date: str = ""
    size: int = 0
    headers_only: bool = False  # read from the header only (an oversized mail)

    @property
    def topic(self) -> str:
        """The subject without Re:/Fwd: prefixes."""
        return thread_subject(self.subject)


def thread_subject(subject: str) -> str:
    return _REPLY_PREFIX.sub("", subject or "").strip()


def reply_subject(subject: str) -> str:
    """Re: <the subject>, never Re: Re: ..."""
    topic = thread_subject(subject)
    return f"Re: {topic}" if topic else "Re: 您的咨询"


def message_ids(value: Optional[str]) -> tuple[str, ...]:
    """The <id> tokens of a Message-ID, In-Reply-To or References header."""
    return tuple(_MESSAGE_ID.findall(str(value or "")))


def address_of(value: Optional[str]) -> str:
    """The bare address of a From header, lower case; "" when there is none."""
    addresses = getaddresses([str(value or "")])
    candidate = (addresses[0][1] if addresses else "") or parseaddr(str(value or ""))[1]
    candidate = candidate.strip().lower()
    if not re.fullmatch(r"[^@\s<>\"]{1,64}@[^@\s<>\"]{1,255}\.[^@\s<>\".]{1,63}", candidate):
        return ""
    return candidate


def automatic_reason(message: Message, sender: str, service_address: str) -> str:
    """Why `message` must not be answered (RFC 3834 and the usual vendor headers); "" for a person's mail."""
    if sender and sender == service_address.lower():
        return "from our own address"
    auto = str(message.get("Auto-Submitted", "") or "").split(";")[0].strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    if str(message.get("Precedence", "") or "").strip().lower() in _BULK_PRECEDENCE:
        return f"Precedence: {message.get('Precedence')}"
    for name in _AUTOREPLY_HEADERS:
        if message.get(name) is not None:
            return name
    if str(message.get("X-Auto-Response-Suppress", "") or "").strip().lower() in {"all", "oof"} and \
            str(message.get("X-MS-Exchange-Generated-Message-Source", "") or ""):
        return "Exchange-generated"
    if message.get("List-Id") is not None or message.get("List-Unsubscribe") is not None:
        return "mailing list"
    if sender.split("@")[0] in _NO_REPLY_LOCALS:
        return f"From {sender.split('@')[0]}"
    return_path = message.get("Return-Path")
    if return_path is not None and str(return_path).strip() == "<>":
        return "empty Return-Path"
    if message.get_content_type() == "multipart/report":
        return "delivery report"
    return ""


# -- bodies ----------------------------------------------------------------------------------------------------
_CHARSET_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030",
                    "ks_c_5601-1987": "cp949", "unknown-8bit": "utf-8"}


def _decode(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = (part.get_content_charset() or "utf-8").lower()
    charset = _CHARSET_ALIASES.get(charset, charset)
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:  # a charset Python does not know
        return payload.decode("utf-8", errors="replace")


def _undecodable(text: str) -> bool:
    return len(text) >= 8 and text.count("\ufffd") > len(text) * 0.3


class _TextFromHtml(HTMLParser):
    """Visible text of an HTML mail, with line breaks where blocks end; quoted history left out."""

    BLOCKS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol",
                        "section", "article", "header", "footer", "pre", "hr"})
    VOID = frozenset({"br", "hr", "img", "meta", "link", "input", "col", "area", "base", "wbr", "source"})
    HIDDEN = frozenset({"script", "style", "head", "title", "template", "noscript"})
    QUOTE_MARKERS = ("gmail_quote", "yahoo_quoted", "moz-cite-prefix", "divrplyfwdmsg", "mail-quote",
                     "qmquote", "ntes-mailmaster-quote", "appendonsend", "gmail_signature")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping: list[str] = []  # the stack of open elements whose content is left out

    def _skip(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> bool:
        if tag in self.HIDDEN or tag == "blockquote":
            return True
        marks = " ".join((value or "") for name, value in attrs if name in ("class", "id")).lower()
        return any(marker in marks for marker in self.QUOTE_MARKERS)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> None:
        if tag in self.VOID:
            if tag in self.BLOCKS and not self.skipping:
                self.parts.append("\n")
            return
        if self.skipping:
            self.skipping.append(tag)
            return
        if self._skip(tag, attrs):
            self.skipping.append(tag)
            return
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> None:
        if tag in self.BLOCKS and not self.skipping:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self.skipping:
            if tag in self.skipping:
                while self.skipping and self.skipping.pop() != tag:
                    pass
            return
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(re.sub(r"[ \t\r\n\f]+", " ", data))


def html_to_text(html: str) -> str:
    parser = _TextFromHtml()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).replace("\xa0", " ").split("\n")]
    return re.sub(r"\n{2,}", "\n", "\n".join(lines)).strip()


# -- quoted history and signatures ------------------------------------------------------------------------------
_HISTORY_STARTS = [
    re.compile(r"^-{2,}\s*原始邮件\s*-{2,}\s*$"),
    re.compile(r"^-{2,}\s*(?:original message|forwarded message|reply message)\s*-{2,}\s*$", re.IGNORECASE),
    re.compile(r"^-{2,}\s*(?:转发邮件信息|转发的邮件|回复的原邮件)\s*-{2,}\s*$"),
    re.compile(r"^_{10,}\s*$"),  # Outlook's line above "From: ... Sent: ..."
    re.compile(r"^在.{0,200}写道\s*[:：]\s*$"),
    re.compile(r"^于.{0,200}写道\s*[:：]\s*$"),
    re.compile(r"^On\b.{0,300}\bwrote\s*:\s*$", re.IGNORECASE | re.DOTALL),
    re.compile(r"^Am\b.{0,300}\bschrieb\b.{0,100}:\s*$", re.DOTALL),
]
_HEADER_BLOCK_FIRST = re.compile(r"^\s*\**(?:from|发件人|寄件者)\s*\**\s*[:：]", re.IGNORECASE)
_HEADER_BLOCK_NEXT = re.compile(r"^\s*\**(?:sent|date|to|subject|发送时间|时间|日期|收件人|主题|寄件日期)\s*\**\s*[:：]",
                                re.IGNORECASE)
_SIGNATURE_STARTS = [
    re.compile(r"^--\s*$"),
    re.compile(r"^发自我的\s*\S{0,20}\s*$"),
    re.compile(r"^发自\s*\S{1,20}\s*(?:邮箱|邮件|客户端|app).{0,20}$", re.IGNORECASE),
    re.compile(r"^(?:sent|envoyé) from my\b.{0,60}$", re.IGNORECASE),
    re.compile(r"^sent from (?:outlook|mail|yahoo|gmail|samsung|my).{0,60}$", re.IGNORECASE),
    re.compile(r"^get outlook for\b.{0,40}$", re.IGNORECASE),
    re.compile(r"^从\s*\S{0,30}\s*(?:版)?邮件发送\s*$"),
]


def _history_starts(lines: list[str], index: int) -> bool:
    line = lines[index].strip()
    if any(pattern.match(line) for pattern in _HISTORY_STARTS):
        return True
    # "On Mon, 1 Jan 2024, Someone <a@b.c>" / "wrote:" wrapped over two lines
    if index + 1 < len(lines) and re.match(r"^(?:On|在)\b", line) and any(
            pattern.match(f"{line} {lines[index + 1].strip()}") for pattern in _HISTORY_STARTS):
        return True
    if _HEADER_BLOCK_FIRST.match(line):  # From: ... followed by Sent:/Date:/To:/Subject: within a few lines
        return any(_HEADER_BLOCK_NEXT.match(following) for following in lines[index + 1:index + 4])
    return False


def strip_history(text: str) -> str:
    """The new part of a mail: quoted lines ("> "), the quoted history after "On ... wrote:", "在…写道：",
    "-----原始邮件-----", "From: … Sent: …", and the signature ("-- ", "发自我的iPhone", "Sent from my …") cut off."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for index, raw_line in enumerate(lines):
        line = raw_line.rstrip()
        if _history_starts(lines, index):
            break
        if any(pattern.match(line.strip()) for pattern in _SIGNATURE_STARTS):
            break
        if line.lstrip().startswith((">", "＞")):
            continue
        kept.append(line)
    cleaned = "\n".join(kept).strip()
    return re.sub(r"\n{3,}", "\n\n", cleaned)


# -- whole mails --------------------------------------------------------------------------------------------------
def _attachments(message: EmailMessage) -> tuple[str, ...]:
    names = []
    for part in message.walk():
        if part.is_multipart():
            continue
        disposition = part.get_content_disposition()
        filename = part.get_filename()
        if disposition == "attachment" or (filename and disposition == "inline"
                                           and not part.get_content_type().startswith("text/")):
            names.append(str(filename or part.get_content_type()).strip()[:100] or "附件")
        elif filename is None and disposition is None and part.get_content_maintype() in ("image", "application",
                                                                                             "audio", "video"):
            names.append(part.get_content_type())
    return tuple(names)


def _body_text(message: EmailMessage) -> str:
    """The mail's text: its text/plain body, else its text/html body as text, else ""."""
    plain = message.get_body(preferencelist=("plain",))
    if plain is not None and plain.get_content_disposition() != "attachment":
        text = _decode(plain)
        if _undecodable(text):
            raise Malformed("the text body cannot be decoded")
        return text
    html = message.get_body(preferencelist=("html",))
    if html is not None and html.get_content_disposition() != "attachment":
        text = _decode(html)
        if _undecodable(text):
            raise Malformed("the HTML body cannot be decoded")
        return html_to_text(text)
    return ""


def _header(message: Message, name: str) -> str:
    try:
        value = message.get(name)
    except (ValueError, TypeError, IndexError, AttributeError):  # a header the parser cannot make sense of
        return ""
    return re.sub(r"\s+", " ", str(value or "")).strip()


def header_of(mail: bytes) -> bytes:
    """A mail's header with the blank line after it (as IMAP's BODY[HEADER]); all of it when there is no body."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        at = mail.find(separator)
        if at >= 0:
            return mail[:at + len(separator)]
    return mail


def read_mail(raw: bytes, service_address: str, headers_only: bool = False, size: int = 0) -> Inbound:
    """What a raw RFC 5322 mail says (see the module docstring); `headers_only`: `raw` is the header alone."""
    try:
        message = email.message_from_bytes(raw, policy=_READ_POLICY)
    except Exception as error:  # noqa: BLE001 - the parser is lenient; anything it still raises is malformed mail
        raise Malformed(f"not a mail: {error}") from None
    assert isinstance(message, EmailMessage)
    sender = address_of(_header(message, "From"))
    if not sender:
        raise Malformed("no usable From address")
    subject = _header(message, "Subject")
    if _undecodable(subject):
        subject = ""
    automatic = automatic_reason(message, sender, service_address)
    text = ""
    attachments: tuple[str, ...] = ()
    if not headers_only and not automatic:
        try:
            text = strip_history(_body_text(message))
            attachments = _attachments(message)
        except Malformed:
            raise
        except Exception as error:  # noqa: BLE001 - a broken MIME structure
            raise Malformed(f"the body cannot be read: {error}") from None
        if not text and not message_ids(_header(message, "In-Reply-To")):
            text = thread_subject(subject)  # "订单查询" in the subject and nothing in the body
    own_id = message_ids(_header(message, "Message-ID"))
    references = message_ids(_header(message, "References"))
    if len(references) > MAX_REFERENCES:
        references = (references[0], *references[-(MAX_REFERENCES - 1):])
    return Inbound(sender=sender, subject=subject, message_id=own_id[0] if own_id else "",
                   in_reply_to=message_ids(_header(message, "In-Reply-To")), references=references,
                   text=text, attachments=attachments, automatic=automatic, date=_header(message, "Date"),
                   size=size or len(raw), headers_only=headers_only)


def domain_of(address: str) -> str:
    try:
        return Address(addr_spec=address).domain or "localhost"
    except (ValueError, IndexError, TypeError):
        return address.rpartition("@")[2] or "localhost"
