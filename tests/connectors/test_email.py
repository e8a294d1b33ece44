"""The e-mail channel: reading mail (units); the mailbox watch (IMAP IDLE, polling, a dropped connection) with the
channel's MailService in this process and a stand-in bot; and whole conversations by mail through real protocols
against a real Rasa. The channel's imaplib client talks to the IMAP stand-in (tests/fakes/imap_server.py) over
loopback, which records every command so the tests can check what the channel asks, and where it matters most
(the mailbox client itself, IDLE, mail arriving together, a dropped connection) to a real Dovecot as well
(tests/dovecot.py); its smtplib client to an aiosmtpd server that records every mail."""
from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import imaplib
import json
import os
import signal
import smtplib
import subprocess
import threading
import time
import urllib.parse
import urllib.request
import uuid
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parsedate_to_datetime
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator, Optional, Union

import pytest
import redis
import yaml
from rasa.core.channels.channel import UserMessage

from bot.config import PROJECT_ROOT, load_settings
from bot.handoff import keys as handoff_keys
from bot.handoff.courier import cursor_key
from bot.handoff.hours import SHOP_TZ, agents_on_duty, next_opening_text
from bot.handoff.outbound import Outbound
from bot.runtime.redis_service import RedisServer, start_embedded
from bot.runtime.runner import Stack, wait_http
from bot.shop import ensure_database
from bot.shop.models import Order, OrderStatus
from bot.shop.sqlite_backend import SqliteShopBackend
from connectors import email as channel
from connectors.mail import compose, transport
from connectors.mail.parsing import Malformed, automatic_reason, html_to_text, read_mail, strip_history
from connectors.mail.threads import conversation_in_id, conversation_of_root
from tests.conftest import MODEL, RunningStack, SampleOrder
from tests.dovecot import Dovecot
from tests.fakes.imap_server import ImapStandIn, SentMail, SmtpSink
from tests.fakes.tls import make_certificates

SERVICE = "service@shop.test"
IMAP_USER, IMAP_PASSWORD = "service@shop.test", "imap-secret"
MAX_MAIL_BYTES = 600_000  # above channel.FIRST_BYTES: a mail between the two is fetched in two steps


# -- building mails ----------------------------------------------------------------------------------------------
def shopper() -> str:
    return f"shopper-{uuid.uuid4().hex[:10]}@example.com"


def make_mail(sender: Optional[str], subject: str, body: Optional[str] = None, *, html: Optional[str] = None,
              in_reply_to: Optional[str] = None, references: tuple[str, ...] = (),
              attachments: tuple[tuple[str, bytes], ...] = (), headers: Optional[dict[str, str]] = None,
              message_id: Optional[str] = None) -> tuple[bytes, str]:
    """(raw mail, its Message-ID) as a shopper's client writes it."""
    mail = EmailMessage()
    if sender:
        mail["From"] = f"顾客 <{sender}>"
    mail["To"] = f"小店客服 <{SERVICE}>"
    mail["Subject"] = subject
    mail["Date"] = format_datetime(datetime.now(timezone.utc))
    mid = message_id or make_msgid(domain="example.com")
    mail["Message-ID"] = mid
    if in_reply_to:
        mail["In-Reply-To"] = in_reply_to
    if references:
        mail["References"] = " ".join(references)
    for name, value in (headers or {}).items():
        mail[name] = value
    if body is not None:
        mail.set_content(body)
        if html is not None:
            mail.add_alternative(html, subtype="html")
    elif html is not None:
        mail.set_content(html, subtype="html")
    for filename, data in attachments:
        mail.add_attachment(data, maintype="image", subtype="jpeg", filename=filename)
    return bytes(mail), mid


def reply_to(answer: SentMail, sender: str, text: str, signature: str = "发自我的iPhone") -> tuple[bytes, str]:
    """The shopper's reply to one of our mails, the way mail apps write it: the whole answer quoted below."""
    quoted = "\n".join(f"> {line}" for line in answer.text.splitlines())
    body = f"{text}\n\n{signature}\n\n在 2025年3月3日 10:00，小店智能客服 <{SERVICE}> 写道：\n{quoted}\n"
    references = tuple(answer["References"].split()) + (answer["Message-ID"],)
    return make_mail(sender, f"Re: {answer['Subject'].removeprefix('Re: ')}", body,
                     in_reply_to=answer["Message-ID"], references=references)


# -- units: reading mail -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("body", [
    "请问运费多少？\n\n> 上一封邮件\n> 更早的内容",
    "请问运费多少？\n\n在 2025年3月1日 周六 10:00，小店客服 <service@shop.test> 写道：\n上一封邮件",
    "请问运费多少？\n\nOn Sat, 1 Mar 2025 at 10:00, Shop <service@shop.test> wrote:\n> earlier",
    "请问运费多少？\n\nOn Sat, 1 Mar 2025 at 10:00, Shop Service <service@shop.test>\nwrote:\n> earlier",
    "请问运费多少？\n\n------------------ 原始邮件 ------------------\n发件人: 小店客服\n发送时间: 2025年3月1日\n",
    "请问运费多少？\n-----原始邮件-----\n发件人: service@shop.test\n",
    "请问运费多少？\n\nFrom: Shop <service@shop.test>\nSent: Saturday, March 1, 2025 10:00 AM\nTo: me\nSubject: Re",
    "请问运费多少？\n________________________________\n发件人: Shop\n发送时间: 2025年3月1日\n",
    "请问运费多少？\n\n-- \n张三\n电话 138 0000 0000",
    "请问运费多少？\n\n发自我的iPhone",
    "请问运费多少？\n\nSent from my Huawei phone\n\n> earlier",
])
def test_quoted_history_and_signatures_are_cut(body: str) -> None:
    assert strip_history(body) == "请问运费多少？"


def test_a_from_line_in_the_text_itself_is_kept() -> None:
    assert strip_history("From: 杭州发货的那单\n还没到") == "From: 杭州发货的那单\n还没到"


def test_html_only_mail_becomes_text_without_its_quote() -> None:
    html = ("<html><head><style>p{color:red}</style></head><body><div>你好，<b>请问</b>运费&amp;税费怎么算？</div>"
            "<p>谢谢</p><div class='gmail_quote'>On ... wrote:<blockquote>旧邮件</blockquote></div>"
            "<script>alert(1)</script></body></html>")
    assert html_to_text(html) == "你好，请问运费&税费怎么算？\n谢谢"
    raw, _ = make_mail("a@example.com", "运费", html=html)
    assert read_mail(raw, SERVICE).text == "你好，请问运费&税费怎么算？\n谢谢"


def test_gbk_mail_and_subject_only_mail_are_read() -> None:
    def word(text: str) -> str:
        return f"=?gb2312?B?{base64.b64encode(text.encode('gb2312')).decode()}?="

    raw = (f"From: {word('李四')} <Li@Example.cn>\r\nSubject: {word('订单查询')}\r\nMessage-ID: <1@example.cn>\r\n"
           "Content-Type: text/plain; charset=gb2312\r\nContent-Transfer-Encoding: base64\r\n\r\n").encode() \
        + base64.b64encode("\r\n".encode("gbk")) + b"\r\n"
    inbound = read_mail(raw, SERVICE)
    assert inbound.sender == "li@example.cn" and inbound.subject == "订单查询"
    assert inbound.text == "订单查询"  # an empty body: the subject is the question
    body = base64.b64encode("请问这个有货吗（喆镕）".encode("gbk"))  # GBK-only characters in a mail labelled gb2312
    raw = raw.split(b"\r\n\r\n")[0] + b"\r\n\r\n" + body
    assert read_mail(raw, SERVICE).text == "请问这个有货吗（喆镕）"


def test_utf8_headers_and_folded_threading_headers_are_read() -> None:
    """RFC 6532 mail (UTF-8 in the header itself) and ids folded over lines, as some clients write them."""
    raw = ("From: 王五 <Wang@Example.cn>\r\nSubject: 退货\r\nMessage-ID:\r\n <3@example.cn>\r\n"
           "In-Reply-To: <re.a.1@shop.test>\r\nReferences: <1@example.cn>\r\n\t<re.a.1@shop.test>\r\n"
           "Date: Sat, 1 Mar 2025\r\n 10:00:00 +0800\r\n"
           "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n怎么退货").encode()
    inbound = read_mail(raw, SERVICE)
    assert (inbound.sender, inbound.subject, inbound.text) == ("wang@example.cn", "退货", "怎么退货")
    assert inbound.message_id == "<3@example.cn>" and inbound.in_reply_to == ("<re.a.1@shop.test>",)
    assert inbound.references == ("<1@example.cn>", "<re.a.1@shop.test>")
    assert inbound.date == "Sat, 1 Mar 2025 10:00:00 +0800"


@pytest.mark.parametrize("headers,sender", [
    ({"Auto-Submitted": "auto-replied"}, "a@example.com"),
    ({"Auto-Submitted": "auto-generated; type=vacation"}, "a@example.com"),
    ({"Precedence": "bulk"}, "a@example.com"),
    ({"Precedence": "junk"}, "a@example.com"),
    ({"Precedence": "list"}, "a@example.com"),
    ({"X-Autoreply": "yes"}, "a@example.com"),
    ({"List-Id": "<news.example.com>"}, "a@example.com"),
    ({}, "MAILER-DAEMON@example.com"),
    ({}, "postmaster@example.com"),
    ({}, "noreply@example.com"),
    ({"Return-Path": "<>"}, "a@example.com"),
    ({}, SERVICE),
])
def test_automatic_mail_is_recognised(headers: dict[str, str], sender: str) -> None:
    raw, _ = make_mail(sender, "自动回复：休假中", "我在休假", headers=headers)
    assert read_mail(raw, SERVICE).automatic


def test_a_person_s_mail_is_not_automatic() -> None:
    raw, _ = make_mail("a@example.com", "问一下", "在吗", headers={"Auto-Submitted": "no"})
    inbound = read_mail(raw, SERVICE)
    assert not inbound.automatic
    import email as email_lib
    assert automatic_reason(email_lib.message_from_bytes(raw), inbound.sender, SERVICE) == ""


def test_malformed_mail_raises() -> None:
    raw, _ = make_mail(None, "没有发件人", "你好")
    with pytest.raises(Malformed):
        read_mail(raw, SERVICE)
    garbage = (b"From: a@example.com\r\nSubject: x\r\nContent-Type: text/plain; charset=utf-16\r\n\r\n"
               + bytes(range(0xD8, 0xE0)) * 40)
    with pytest.raises(Malformed):
        read_mail(garbage, SERVICE)


def test_attachments_are_named() -> None:
    raw, _ = make_mail("a@example.com", "破损", "收到的杯子碎了", attachments=(("破损.jpg", b"\xff\xd8" * 10),))
    inbound = read_mail(raw, SERVICE)
    assert inbound.text == "收到的杯子碎了" and inbound.attachments == ("破损.jpg",)


def test_buttons_become_a_numbered_list_and_a_number_chooses() -> None:
    messages = [{"text": "请问有什么可以帮您？", "buttons": [{"title": "查订单", "payload": "/inquire_order_status"},
                                                     {"title": "查物流", "payload": "/inquire_logistics"}]}]
    body, buttons = compose.render(messages)
    assert "1. 查订单\n2. 查物流" in body and buttons == [("1", "/inquire_order_status"), ("2", "/inquire_logistics")]
    for typed in ("1", "１", "1.", "选1", " 1 "):
        assert compose.choice_of(typed, buttons) == "/inquire_order_status"
    assert compose.choice_of("12", buttons) is None and compose.choice_of("查订单 1", buttons) is None
    rating = [{"text": "请评分", "buttons": [{"title": f"{n} 分", "payload": f"/rate{{\"score\": {n}}}"}
                                           for n in range(5, 0, -1)]}]
    body, buttons = compose.render(rating)
    assert "- 5 分" in body and compose.choice_of("5", buttons) == '/rate{"score": 5}'
    assert compose.choice_of("4分", buttons) == '/rate{"score": 4}'


def test_an_answer_is_a_well_formed_mail_the_email_package_reads_back() -> None:
    refs = [f"<{n}.{'x' * 30}@example.com>" for n in range(20)]
    subject = "关于订单 20250301 的退货问题，" * 4
    raw = compose.build(service_address=SERVICE, to="a@example.com", subject=subject, body="您好\n.点开头的一行",
                        message_id="<re.abc.1@shop.test>", in_reply_to=refs[-1], references=refs, automatic=False,
                        from_agent="小李", quoted="在 昨天，a@example.com 写道：\n> 在吗")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"") and all(len(line) <= 78 for line in head.split(b"\r\n"))
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(mail, EmailMessage) and not mail.defects
    assert mail["Subject"] == f"Re: {subject}" and str(mail["From"]) == f"小店人工客服 小李 <{SERVICE}>"
    assert mail["To"] == "a@example.com" and mail["Message-ID"] == "<re.abc.1@shop.test>"
    assert mail["In-Reply-To"] == refs[-1] and mail["References"].split() == refs
    assert mail["Auto-Submitted"] is None and parsedate_to_datetime(mail["Date"]).tzinfo is not None
    text = mail.get_body(preferencelist=("plain",)).get_content()
    assert text.startswith("您好\n.点开头的一行\n\n") and compose.FOOTER in text and text.endswith("> 在吗\n")
    bot = email.message_from_bytes(compose.build(service_address=SERVICE, to="a@example.com", subject="hi", body="x",
                                                 message_id="<m@shop.test>", in_reply_to="", references=[],
                                                 automatic=True), policy=email.policy.default)
    assert bot["Subject"] == "Re: hi" and bot["Auto-Submitted"] == "auto-replied" and bot["References"] is None


def test_conversation_ids_are_stable_per_sender_and_thread() -> None:
    one = conversation_of_root("A@example.com", "<root@example.com>")
    assert one == conversation_of_root("a@example.com", "<root@example.com>") and one.startswith("mail:")
    assert one != conversation_of_root("b@example.com", "<root@example.com>")
    assert one != conversation_of_root("a@example.com", "<other@example.com>")
    assert conversation_in_id(f"<re.{one[5:]}.abc@shop.test>", "shop.test") == one
    assert conversation_in_id(f"<re.{one[5:]}.abc@evil.test>", "shop.test") is None


def test_the_mail_promise_follows_the_e_mail_channels_hours() -> None:
    saturday_night = datetime(2026, 12, 5, 22, 0, tzinfo=SHOP_TZ)  # an ordinary weekend
    assert not agents_on_duty(saturday_night, "email")
    promise = channel.mail_promise("calendar", saturday_night)
    assert promise == channel.PROMISE_OFF_DUTY.format(when=next_opening_text(saturday_night, "email"))
    assert "后天 9:00" in promise  # Monday
    assert channel.mail_promise("always", saturday_night) == channel.PROMISE_ON_DUTY
    wednesday_morning = datetime(2026, 12, 2, 10, 0, tzinfo=SHOP_TZ)
    assert channel.mail_promise("calendar", wednesday_morning) == channel.PROMISE_ON_DUTY
    assert "非工作时间" in channel.mail_promise("never", wednesday_morning)


def test_missing_settings_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MAIL_ADDRESS", "MAIL_SMTP_HOST", "MAIL_IMAP_HOST", "MAIL_IMAP_USER", "MAIL_IMAP_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MAIL_SMTP_TLS", "tls")
    config, missing = channel.MailConfig.from_settings(load_settings())
    assert config is None
    assert {"MAIL_ADDRESS", "MAIL_SMTP_HOST", "MAIL_IMAP_HOST", "MAIL_IMAP_USER", "MAIL_IMAP_PASSWORD"} <= set(missing)
    assert any(m.startswith("MAIL_SMTP_TLS") for m in missing)


def test_the_imap_stand_in_speaks_to_imaplib() -> None:
    with ImapStandIn(IMAP_USER, IMAP_PASSWORD) as imap:
        raw, _ = make_mail("a@example.com", "你好", "在吗")
        uid = imap.deliver(raw)
        other = imap.deliver(make_mail("b@example.com", "你好", "在吗")[0])
        box = transport.Mailbox(transport.Server("127.0.0.1", imap.port, "none", IMAP_USER, IMAP_PASSWORD))
        try:
            assert box.unseen() == [uid, other]
            first, second = (mail.raw for mail in imap.mails)
            assert box.look((), len(first)) == transport.Looked(
                [uid, other], {uid: (len(first), first), other: (len(second), second[:len(first)])})
            assert box.look({uid}, 100) == transport.Looked([uid, other], {other: (len(second), second[:100])})
            assert box.message(uid) == first and not imap.is_seen(uid)  # PEEK leaves it unseen
            box.mark_seen(uid)
            assert imap.is_seen(uid) and box.unseen() == [other]
        finally:
            box.close()
        bad = transport.Mailbox(transport.Server("127.0.0.1", imap.port, "none", IMAP_USER, "wrong"))
        with pytest.raises(transport.MailError):
            bad.connect()


def test_a_look_at_new_mail_asks_by_uid_range_and_carries_the_seen_marks() -> None:
    """look_new: after a look, only the mails that arrived since (UID FETCH n:*, no search; those delivered seen
    left out); nothing new after an announcement: the whole look. The \\Seen marks ride in the same write."""
    with ImapStandIn(IMAP_USER, IMAP_PASSWORD) as imap:
        old = imap.deliver(make_mail("a@example.com", "你好", "旧邮件")[0])
        box = transport.Mailbox(transport.Server("127.0.0.1", imap.port, "none", IMAP_USER, IMAP_PASSWORD))
        try:
            box.connect()
            assert box.next_uid == old + 1  # from SELECT's UIDNEXT
            assert box.look((), 10).unseen == [old]
            new = imap.deliver(make_mail("b@example.com", "你好", "新邮件")[0])
            imap.deliver(make_mail("c@example.com", "你好", "已读")[0], flags=("\\Seen",))  # read in a mail app
            newest = imap.deliver(make_mail("d@example.com", "你好", "最新")[0])
            looked = box.look_new({newest}, 40, mark_seen=[old])
            assert looked == transport.Looked([new, newest], {new: (len(imap.mails[1].raw), imap.mails[1].raw[:40])},
                                              complete=False)
            assert imap.is_seen(old) and box.next_uid == newest + 1
            assert [" ".join(c.split()[1:4]) for c in imap.commands[-2:]] == [f"UID STORE {old}",
                                                                             f"UID FETCH {new}:*"]
            assert box.idle(0.3) == transport.TIME_UP  # the "* 4 EXISTS" in the fetch's answer was about these
            # Nothing past the last look (only the highest old UID answers "n:*"): the whole mailbox instead.
            looked = box.look_new((), 10, mark_seen=[new])
            assert looked.complete and looked.unseen == [newest] and imap.is_seen(new)
            assert not box.client or not box.client.tagged_commands
            # A server that will not mark (a read-only mailbox): the look stands, the marks come back.
            assert box.client is not None
            box.client.select("INBOX", readonly=True)
            looked = box.look((), 10, mark_seen=[newest])
            assert looked.unmarked == (newest,) and looked.unseen == [newest] and not imap.is_seen(newest)
        finally:
            box.close()


def test_idle_on_imaplib_s_connection() -> None:
    """Mailbox.idle: IDLE / "+ idling" / "* N EXISTS" / DONE / tagged OK on imaplib's own connection, which
    works on afterwards; TIME_UP, WOKEN (interrupt from another thread) and NO_IDLE without IDLE."""
    with ImapStandIn(IMAP_USER, IMAP_PASSWORD) as imap:
        box = transport.Mailbox(transport.Server("127.0.0.1", imap.port, "none", IMAP_USER, IMAP_PASSWORD))
        try:
            assert box.unseen() == [] and box.idle_offered
            started = time.monotonic()
            assert box.idle(0.3) == transport.TIME_UP and time.monotonic() - started >= 0.25
            raw, _ = make_mail("a@example.com", "你好", "在吗")
            timer = threading.Timer(0.3, imap.deliver, (raw,))
            timer.start()
            started = time.monotonic()
            assert box.idle(20) == transport.NEW_MAIL
            assert time.monotonic() - started < 5
            assert box.unseen() == [1]  # imaplib reads on after our IDLE: nothing left in its buffer
            assert box.message(1) == imap.mails[0].raw
            threading.Timer(0.3, box.interrupt).start()
            assert box.idle(20) == transport.WOKEN
            imap.deliver(raw)  # between two IDLEs: announced with the next command's answer
            box.mark_seen(1)
            assert box.idle(20) == transport.NEW_MAIL and box.unseen() == [2]
            assert [c.split()[1] for c in imap.commands if c.split()[1:2] == ["IDLE"]] == ["IDLE"] * 3
            assert sum(c == "DONE" for c in imap.commands) == 3
            # The look sent right behind DONE: imaplib takes the IDLE's completion on its way to the look's answers.
            threading.Timer(0.3, imap.deliver, (raw,)).start()
            outcome, looked = box.idle_then(20, lambda: box.look({2}, 50))
            assert outcome == transport.NEW_MAIL and looked == transport.Looked(
                [2, 3], {3: (len(imap.mails[2].raw), imap.mails[2].raw[:50])})
            assert box.idle(0.3) == transport.TIME_UP and box.unseen() == [2, 3]  # the connection works on
            assert not box.client or not box.client.tagged_commands  # every tag accounted for
            assert [c if c == "DONE" else " ".join(c.split()[1:3]) for c in imap.commands[-7:]] == [
                "IDLE", "DONE", "UID SEARCH", "UID FETCH", "IDLE", "DONE", "UID SEARCH"]
            imap.refuse_idle = True  # listed, but refused: NO_IDLE, and the connection still works
            assert box.idle(20) == transport.NO_IDLE and box.idle_refused and box.unseen() == [2, 3]
        finally:
            box.close()
    with ImapStandIn(IMAP_USER, IMAP_PASSWORD, idle=False) as imap:
        box = transport.Mailbox(transport.Server("127.0.0.1", imap.port, "none", IMAP_USER, IMAP_PASSWORD))
        try:
            assert box.idle(20) == transport.NO_IDLE and not box.idle_offered
            assert not any("IDLE" in c for c in imap.commands)
        finally:
            box.close()
    with ImapStandIn(IMAP_USER, IMAP_PASSWORD) as imap:
        box = transport.Mailbox(transport.Server("127.0.0.1", imap.port, "none", IMAP_USER, IMAP_PASSWORD))
        try:
            box.unseen()
            threading.Timer(0.3, imap.drop_connections).start()
            with pytest.raises((imaplib.IMAP4.abort, *transport.MailError)):
                box.idle(20)
            assert box.client is None  # dropped: the next call connects again
            assert box.unseen() == [] and imap.logins == 2
        finally:
            box.close()


def test_over_tls_imap_idles_and_smtp_sends_with_the_configured_ca(tmp_path: Path) -> None:
    """IMAPS (993-style) with IDLE, SMTP with STARTTLS (587) and implicit TLS (465), each verifying the server
    against MAIL_CA_FILE's CA; a server the CA did not sign is refused, nothing sent in clear."""
    certificates = make_certificates(tmp_path / "tls")
    ca = str(certificates.ca_file)
    with ImapStandIn(IMAP_USER, IMAP_PASSWORD, tls=certificates.server_context()) as imap:
        box = transport.Mailbox(transport.Server("localhost", imap.port, "ssl", IMAP_USER, IMAP_PASSWORD, ca))
        try:
            assert box.unseen() == [] and box.idle_offered
            raw, _ = make_mail("a@example.com", "你好", "在吗")
            threading.Timer(0.3, imap.deliver, (raw,)).start()
            started = time.monotonic()
            assert box.idle(20) == transport.NEW_MAIL and time.monotonic() - started < 5
            assert box.unseen() == [1] and box.message(1) == imap.mails[0].raw
            started = time.monotonic()
            assert box.idle(0.3) == transport.TIME_UP and time.monotonic() - started >= 0.25
            threading.Timer(0.3, box.interrupt).start()
            assert box.idle(20) == transport.WOKEN
            threading.Timer(0.3, imap.drop_connections).start()
            with pytest.raises((imaplib.IMAP4.abort, *transport.MailError)):
                box.idle(20)
            assert box.unseen() == [1] and imap.logins == 2  # connected again, over TLS
        finally:
            box.close()
        untrusted = transport.Mailbox(transport.Server("localhost", imap.port, "ssl", IMAP_USER, IMAP_PASSWORD))
        with pytest.raises(transport.MailError):  # the system's CAs never signed it
            untrusted.connect()
        assert imap.logins == 2
    for mode in ("starttls", "ssl"):
        with SmtpSink(tls=certificates.server_context(), tls_mode=mode) as smtp:
            mail, _ = make_mail("service@shop.test", "回复", "您好")
            transport.send(transport.Server("localhost", smtp.port, mode, ca_file=ca), mail,
                           "service@shop.test", "a@example.com")
            assert smtp.wait_for(lambda m: m.to == ["a@example.com"])[0]["Subject"] == "回复"
            with pytest.raises(transport.MailError):
                transport.send(transport.Server("localhost", smtp.port, mode), mail, "service@shop.test",
                               "b@example.com")
            if mode == "starttls":  # no TLS at all: the server wants STARTTLS before any mail
                with pytest.raises(transport.MailError):
                    transport.send(transport.Server("localhost", smtp.port, "none"), mail, "service@shop.test",
                                   "c@example.com")
            assert [m.to for m in smtp.mails] == [["a@example.com"]]


@pytest.mark.parametrize("pipelining", [True, False])
def test_an_answer_s_smtp_envelope_is_opened_before_the_mail_is_written(pipelining: bool) -> None:
    """Sender.open: MAIL FROM, RCPT TO and DATA (pipelined where the server offers it) before the mail exists;
    an abandoned envelope sends nothing, a refused recipient leaves the connection usable, leading dots survive."""
    raw = b"From: service@shop.test\r\nSubject: dots\r\n\r\n.a line starting with a dot\r\n..two\r\n.\r\nend\r\n"
    with SmtpSink(pipelining=pipelining) as smtp:
        sender = transport.Sender(transport.Server("127.0.0.1", smtp.port, "none"))
        try:
            sender.open(SERVICE, "a@example.com").abandon()
            sender.open(SERVICE, "b@example.com").deliver(raw)
            smtp.unknown_recipients.add("nobody@example.com")
            with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
                sender.open(SERVICE, "nobody@example.com")
            assert transport.permanent(refused.value)
            sender.send(raw, SERVICE, "c@example.com")  # on the connection the refusal gave back
            assert [m.to for m in smtp.wait_for(lambda m: True, count=2)] == [["b@example.com"], ["c@example.com"]]
            assert smtp.mails[0].raw == raw and len(sender._idle) == 1
        finally:
            sender.close()


@pytest.mark.parametrize("pipelining", [True, False])
def test_an_envelope_is_started_without_waiting_on_a_connection_in_hand(pipelining: bool,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Sender.open_now (the event loop's way): on a pooled connection used within REUSE_WITHOUT_CHECK_SECONDS
    whose server lists PIPELINING, the envelope's commands are written at once and their replies read by
    `deliver`; a refusal raises there as `open` raises (a refused recipient leaves the connection in the pool).
    No such connection (none yet, one idle too long, no PIPELINING): None, and `open` does the work."""
    raw = b"From: service@shop.test\r\nSubject: hi\r\n\r\nhello\r\n"
    with SmtpSink(pipelining=pipelining) as smtp:
        sender = transport.Sender(transport.Server("127.0.0.1", smtp.port, "none"))
        try:
            assert sender.open_now(SERVICE, "a@example.com") is None  # no connection yet
            sender.send(raw, SERVICE, "a@example.com")
            envelope = sender.open_now(SERVICE, "b@example.com")
            if not pipelining:  # one command at a time: each reply is waited for, so not here
                assert envelope is None and len(sender._idle) == 1
                return
            assert envelope is not None and not sender._idle  # the connection goes with the envelope
            envelope.deliver(raw)
            assert [m.to for m in smtp.wait_for(lambda m: True, count=2)] == [["a@example.com"], ["b@example.com"]]
            smtp.unknown_recipients.add("nobody@example.com")
            refused_envelope = sender.open_now(SERVICE, "nobody@example.com")
            assert refused_envelope is not None
            with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
                refused_envelope.deliver(raw)
            assert transport.permanent(refused.value) and len(sender._idle) == 1  # given back after RSET
            abandoned = sender.open_now(SERVICE, "c@example.com")
            assert abandoned is not None
            abandoned.abandon()
            assert sender.open_now(SERVICE, "c@example.com") is None and smtp.greetings == 1
            sender.send(raw, SERVICE, "c@example.com")  # on a new connection
            monkeypatch.setattr(transport.Sender, "REUSE_WITHOUT_CHECK_SECONDS", 0.0)  # idle too long: NOOP first
            assert sender.open_now(SERVICE, "d@example.com") is None
            assert [m.to for m in smtp.wait_for(lambda m: True, count=3)][-1] == ["c@example.com"]
            assert smtp.greetings == 2 and len(smtp.mails) == 3  # nothing abandoned or refused was sent
        finally:
            sender.close()


def test_smtp_connections_are_kept_for_as_many_answers_as_run_at_once() -> None:
    """Answers being written hold their envelope's connection; given back, up to `max_idle_connections` stay open
    for the next ones (the channel keeps as many as it answers mails at once): a busy minute opens each
    connection once, not one per answer past the pool."""
    with SmtpSink() as smtp:
        sender = transport.Sender(transport.Server("127.0.0.1", smtp.port, "none"), max_idle_connections=12)
        try:
            for batch in range(3):
                envelopes = [sender.open(SERVICE, f"{batch}-{n}@example.com") for n in range(12)]
                for envelope in envelopes:
                    envelope.deliver(b"From: service@shop.test\r\nSubject: hi\r\n\r\nhello\r\n")
            smtp.wait_for(lambda m: True, count=36)
            assert smtp.greetings == 12 and len(sender._idle) == 12
            envelopes = [sender.open(SERVICE, f"more-{n}@example.com") for n in range(14)]
            for envelope in envelopes:
                envelope.deliver(b"From: service@shop.test\r\nSubject: hi\r\n\r\nhello\r\n")
            assert smtp.greetings == 14 and len(sender._idle) == 12  # past the limit: closed, not kept
        finally:
            sender.close()


def test_a_missing_ca_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in (("MAIL_ADDRESS", "service@shop.test"), ("MAIL_SMTP_HOST", "localhost"),
                        ("MAIL_IMAP_HOST", "localhost"), ("MAIL_IMAP_USER", IMAP_USER),
                        ("MAIL_IMAP_PASSWORD", IMAP_PASSWORD), ("MAIL_CA_FILE", str(tmp_path / "nope.pem"))):
        monkeypatch.setenv(name, value)
    config, missing = channel.MailConfig.from_settings(load_settings())
    assert config is None and len(missing) == 1 and missing[0].startswith("MAIL_CA_FILE")
    certificates = make_certificates(tmp_path)
    monkeypatch.setenv("MAIL_CA_FILE", str(certificates.ca_file))
    config, missing = channel.MailConfig.from_settings(load_settings())
    assert config is not None and not missing
    assert config.imap.ca_file == config.smtp.ca_file == str(certificates.ca_file)


# -- the mailbox watch: MailService in this process, a stand-in bot -----------------------------------------------
def crlf(raw: bytes) -> bytes:
    """A mail as a server stores it: CRLF line ends."""
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def test_the_mailbox_works_with_a_real_imap_server_dovecot() -> None:
    """What the stand-in cannot show: the channel's IMAP client against Debian's Dovecot. Looks by search and by
    UID range with the \\Seen marks in the same write, IDLE with a look right behind its DONE, an interrupt, a
    dropped connection. Dovecot answers a command from the mailbox as the connection's previous command left it
    and announces what arrived since with the answer: that mail is looked at again, not lost, and an
    announcement a look has taken in does not come back as news."""
    with Dovecot(IMAP_USER, IMAP_PASSWORD) as imap:
        box = transport.Mailbox(transport.Server("127.0.0.1", imap.port, "none", IMAP_USER, IMAP_PASSWORD))
        try:
            box.connect()
            assert box.idle_offered and box.next_uid == 1
            old = imap.deliver(make_mail("a@example.com", "你好", "旧邮件")[0])
            box.look((), 10)  # Dovecot's search may answer from the mailbox as it was: its answer announces it
            assert box.idle(20) == transport.NEW_MAIL
            assert box.unseen() == [old]
            new = imap.deliver(make_mail("b@example.com", "你好", "新邮件")[0])
            imap.deliver(make_mail("c@example.com", "你好", "已读")[0], flags=("\\Seen",))  # read in a mail app
            newest_raw = make_mail("d@example.com", "你好", "最新")[0]
            newest = imap.deliver(newest_raw)
            # Dovecot's FETCH answers from the mailbox as its last command left it: not yet holding these three,
            # so the look falls back to a whole one (the UID range holds nothing new), which sees them.
            looked = box.look_new({new}, 40, mark_seen=[old])
            assert looked.unseen == [new, newest] and not looked.unmarked
            assert looked.found == {newest: (len(crlf(newest_raw)), crlf(newest_raw)[:40])}
            assert imap.is_seen(old) and box.next_uid == newest + 1
            assert box.idle(1.5) == transport.TIME_UP  # nothing announced is left unlooked at
            raw, _ = make_mail("e@example.com", "你好", "在 IDLE 时到")
            threading.Timer(0.3, imap.deliver, (raw,)).start()
            outcome, behind_done = box.idle_then(20, lambda: box.look_new((), 1000, mark_seen=[new]))
            assert outcome == transport.NEW_MAIL and behind_done is not None
            assert behind_done.unseen == [newest + 1]
            assert behind_done.found[newest + 1] == (len(crlf(raw)), crlf(raw))
            assert imap.is_seen(new) and box.client is not None and not box.client.tagged_commands
            assert box.idle(1.5) == transport.TIME_UP  # the connection works on, nothing left over
            assert box.message(newest) == crlf(newest_raw) and not imap.is_seen(newest)
            threading.Timer(0.3, box.interrupt).start()
            assert box.idle(20) == transport.WOKEN
            box.mark_seen([newest, newest + 1])
            assert imap.unseen() == [] and box.unseen() == []
            threading.Timer(0.5, imap.drop_connections).start()
            with pytest.raises((imaplib.IMAP4.abort, *transport.MailError)):
                box.idle(20)
            assert box.client is None and box.unseen() == [] and imap.logins == 2
        finally:
            box.close()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_embedded(tmp_path_factory.mktemp("mail-redis"), persist=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def redis_url(redis_server: RedisServer) -> str:
    redis.Redis.from_url(redis_server.url).flushdb()
    return redis_server.url


class EchoBot:
    """Rasa's place: answers every message at once."""

    def __init__(self) -> None:
        self.received: list[str] = []

    async def __call__(self, message: UserMessage) -> None:
        self.received.append(str(message.text))
        await message.output_channel.send_response(message.sender_id, {"text": f"收到：{message.text}"})


MailboxServer = Union[ImapStandIn, Dovecot]
IMAP_SERVERS = ["stand-in", "dovecot"]


def imap_server(kind: str) -> MailboxServer:
    """The service mailbox: the stand-in, which records what the channel asks, or a real Dovecot."""
    return ImapStandIn(IMAP_USER, IMAP_PASSWORD) if kind == "stand-in" else Dovecot(IMAP_USER, IMAP_PASSWORD)


class SlowBot(EchoBot):
    """Rasa's place, taking `seconds` over every turn; `started` is set as a turn starts."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self.started = threading.Event()

    async def __call__(self, message: UserMessage) -> None:
        self.started.set()
        await asyncio.sleep(self.seconds)
        await super().__call__(message)


def run_service(imap: MailboxServer, smtp: SmtpSink, redis_url: str, poll_seconds: float,
                scenario: Callable[[channel.MailService, EchoBot], Awaitable[None]],
                bot: Optional[EchoBot] = None) -> EchoBot:
    """Run the channel's MailService (no Rasa) against the stand-ins for the length of `scenario`."""
    config = channel.MailConfig(SERVICE, transport.Server("127.0.0.1", smtp.port, "none"),
                                transport.Server("127.0.0.1", imap.port, "none", IMAP_USER, IMAP_PASSWORD),
                                poll_seconds)
    bot = bot or EchoBot()

    async def main() -> None:
        service = channel.MailService(config, redis_url, bot, None, 500, MAX_MAIL_BYTES, 3600, "always")
        service.start()
        try:
            await scenario(service, bot)
        finally:
            await service.drain(5)
            await service.stop()

    asyncio.run(main())
    return bot


async def answer_of(smtp: SmtpSink, message_id: str, timeout: float) -> SentMail:
    return await asyncio.to_thread(smtp.wait_for_reply, message_id, timeout)


@pytest.mark.parametrize("server", IMAP_SERVERS)
def test_with_idle_a_new_mail_is_answered_without_waiting_for_a_poll(redis_url: str, server: str) -> None:
    """MAIL_POLL_SECONDS is 30 here: an answer within seconds came through IDLE."""
    with imap_server(server) as imap, SmtpSink() as smtp:
        waits: list[float] = []

        async def scenario(service: channel.MailService, bot: EchoBot) -> None:
            for number in range(3):
                await asyncio.to_thread(imap.wait_idling, 1, 30)
                raw, mid = make_mail(shopper(), f"咨询 {number}", f"你好 {number}")
                started = time.monotonic()
                uid = imap.deliver(raw)
                answer = await answer_of(smtp, mid, 20)
                waits.append(answer.at - started)
                assert f"收到：你好 {number}" in answer.text
                await asyncio.to_thread(imap.wait_seen, uid, 20)

        bot = run_service(imap, smtp, redis_url, 30.0, scenario)
        assert max(waits) < 5, waits
        assert bot.received == ["你好 0", "你好 1", "你好 2"]
        assert len(smtp.mails) == 3
        if isinstance(imap, ImapStandIn):
            searches = [c for c in imap.commands if "SEARCH" in c]
            assert len(searches) <= 8, searches  # looked when told, not on a clock
        assert imap.logins == 1


@pytest.mark.parametrize("server", IMAP_SERVERS)
def test_mails_of_one_thread_found_together_are_answered_in_order_each_in_reply_to_its_own(redis_url: str,
                                                                                           server: str) -> None:
    """Two mails of one thread found in one look: answered in order, each answer In-Reply-To its mail with that
    mail's References (RFC 5322 3.6.4), the thread's root first; a later reply to our answer continues it."""
    with imap_server(server) as imap, SmtpSink() as smtp:
        sender = shopper()
        first, first_id = make_mail(sender, "退货", "我要退货")
        second, second_id = make_mail(sender, "Re: 退货", "订单号是 12345", in_reply_to=first_id,
                                      references=(first_id,))
        imap.deliver(first)
        imap.deliver(second)  # both there before the channel's first look
        answers: list[SentMail] = []
        third_id = ""

        async def scenario(service: channel.MailService, bot: EchoBot) -> None:
            nonlocal third_id
            answers.append(await answer_of(smtp, first_id, 20))
            answers.append(await answer_of(smtp, second_id, 20))
            ours = answers[1]["Message-ID"]
            third, third_id = make_mail(sender, "Re: 退货", "好的谢谢", in_reply_to=ours,
                                        references=(first_id, second_id, ours))
            imap.deliver(third)
            answers.append(await answer_of(smtp, third_id, 20))

        bot = run_service(imap, smtp, redis_url, 30.0, scenario)
        assert bot.received == ["我要退货", "订单号是 12345", "好的谢谢"]
        assert [a["In-Reply-To"] for a in answers] == [first_id, second_id, third_id]
        assert [a["References"].split() for a in answers] == [
            [first_id], [first_id, second_id], [first_id, second_id, answers[1]["Message-ID"], third_id]]
        conversations = {a["Message-ID"].split(".")[1] for a in answers}  # our ids name the conversation
        assert len(conversations) == 1


@pytest.mark.parametrize("server", IMAP_SERVERS)
def test_the_mailbox_is_watched_again_once_the_mails_taken_are_answered(redis_url: str, server: str,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """While the mails of a look are being answered the connection stays out of IDLE (entering it would take the
    interpreter from the answers on the shoppers' wait), and goes back into IDLE once they are answered, or
    WATCH_AGAIN_SECONDS after the look at the latest. Mail arriving meanwhile is announced as the IDLE starts,
    and answered: none is missed."""
    monkeypatch.setattr(channel, "WATCH_AGAIN_SECONDS", 2.0)
    bot = SlowBot(1.0)
    with imap_server(server) as imap, SmtpSink() as smtp:
        async def scenario(service: channel.MailService, _: EchoBot) -> None:
            await asyncio.to_thread(imap.wait_idling, 1, 30)
            raw, first = make_mail(shopper(), "咨询", "第一封")
            imap.deliver(raw)
            assert await asyncio.to_thread(bot.started.wait, 20)
            bot.started.clear()
            await asyncio.sleep(0.4)
            assert imap.idling == 0  # answering, not watching
            raw, second = make_mail(shopper(), "咨询", "答复时到")
            imap.deliver(raw)
            answered = (await answer_of(smtp, first, 20)).at
            assert (await answer_of(smtp, second, 20)).at - answered < bot.seconds + 2  # found as the IDLE began
            # A turn longer than WATCH_AGAIN_SECONDS: the connection is back in IDLE before the answer is out.
            bot.seconds = 4.0
            await asyncio.to_thread(imap.wait_idling, 1, 30)
            bot.started.clear()
            raw, third = make_mail(shopper(), "咨询", "很慢的一封")
            imap.deliver(raw)
            assert await asyncio.to_thread(bot.started.wait, 20)
            await asyncio.to_thread(imap.wait_idling, 1, 30)
            assert not smtp.mails or all(m["In-Reply-To"] != third for m in smtp.mails)  # still answering it
            await answer_of(smtp, third, 20)

        run_service(imap, smtp, redis_url, 30.0, scenario, bot)
        assert bot.received == ["第一封", "答复时到", "很慢的一封"]


def test_an_answered_mail_is_marked_seen_with_the_next_look_or_on_its_own(redis_url: str,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """After an answer the IDLE goes on: the \\Seen mark rides in the write of the next mail's look (a FETCH by
    UID range, no search), or, when no mail comes, goes on its own SEEN_DELAY_SECONDS later."""
    monkeypatch.setattr(channel, "SEEN_DELAY_SECONDS", 2.0)  # a slow machine still sends the second mail in time
    with ImapStandIn(IMAP_USER, IMAP_PASSWORD) as imap, SmtpSink() as smtp:
        alone: list[float] = []
        uids: list[int] = []

        async def scenario(service: channel.MailService, bot: EchoBot) -> None:
            await asyncio.to_thread(imap.wait_idling, 1, 30)
            raw, mid = make_mail(shopper(), "咨询", "第一封")
            uids.append(imap.deliver(raw))
            await answer_of(smtp, mid, 20)
            await asyncio.sleep(0.3)  # the channel records the answer after sending it, then waits to mark it
            raw, mid = make_mail(shopper(), "咨询", "第二封")
            uids.append(imap.deliver(raw))
            await answer_of(smtp, mid, 20)
            assert imap.is_seen(uids[0])
            answered = time.monotonic()
            await asyncio.to_thread(imap.wait_seen, uids[1], 20)
            alone.append(time.monotonic() - answered)

        run_service(imap, smtp, redis_url, 30.0, scenario)
        first, second = uids
        commands = [" ".join(c.split()[1:4]) if c != "DONE" else c for c in imap.commands]
        rode = commands.index(f"UID STORE {first}")
        assert commands[rode - 1:rode + 2] == ["DONE", f"UID STORE {first}", f"UID FETCH {second}:*"], commands
        assert commands[commands.index(f"UID STORE {second}") - 1] == "DONE"  # on its own, out of an IDLE
        assert 1.0 < alone[0] < 10, alone
        assert sum("SEARCH" in c for c in commands) == 1, commands  # only the first look, at the start


@pytest.mark.parametrize("server", ["without IDLE", "refusing IDLE"])
def test_without_idle_the_mailbox_is_polled(redis_url: str, server: str) -> None:
    with ImapStandIn(IMAP_USER, IMAP_PASSWORD, idle=server != "without IDLE") as imap, SmtpSink() as smtp:
        imap.refuse_idle = server == "refusing IDLE"

        async def scenario(service: channel.MailService, bot: EchoBot) -> None:
            for number in range(2):
                raw, mid = make_mail(shopper(), "咨询", f"在吗 {number}")
                uid = imap.deliver(raw)
                assert f"收到：在吗 {number}" in (await answer_of(smtp, mid, 20)).text
                await asyncio.to_thread(imap.wait_seen, uid, 20)
            await asyncio.sleep(1)

        bot = run_service(imap, smtp, redis_url, 0.2, scenario)
        assert bot.received == ["在吗 0", "在吗 1"] and len(smtp.mails) == 2
        assert imap.idling == 0
        assert sum("SEARCH" in c for c in imap.commands) >= 5  # polled every 0.2 s
        idles = [c for c in imap.commands if c.endswith(" IDLE")]
        assert len(idles) == (0 if server == "without IDLE" else 1), idles  # refused once: not asked again


@pytest.mark.parametrize("server", IMAP_SERVERS)
def test_a_dropped_idle_connection_is_reopened_and_nothing_is_lost(redis_url: str, server: str) -> None:
    with imap_server(server) as imap, SmtpSink() as smtp:
        questions: list[str] = []

        async def scenario(service: channel.MailService, bot: EchoBot) -> None:
            await asyncio.to_thread(imap.wait_idling, 1, 30)
            assert imap.drop_connections() == 1
            raw, mid = make_mail(shopper(), "咨询", "掉线时的邮件")  # while the channel has no connection
            questions.append(mid)
            imap.deliver(raw)
            assert "掉线时的邮件" in (await answer_of(smtp, mid, 20)).text
            await asyncio.to_thread(imap.wait_until, lambda: imap.logins == 2 and imap.idling == 1, 30,
                                    "idling again on a new connection")
            raw, mid = make_mail(shopper(), "咨询", "重连后的邮件")
            questions.append(mid)
            started = time.monotonic()
            imap.deliver(raw)
            assert "重连后的邮件" in (await answer_of(smtp, mid, 20)).text
            assert time.monotonic() - started < 5  # through IDLE (polling is every 30 s here)
            await asyncio.to_thread(imap.wait_until, lambda: not imap.unseen(), 20, "every mail marked seen")
            await asyncio.sleep(1)

        bot = run_service(imap, smtp, redis_url, 30.0, scenario)
        assert bot.received == ["掉线时的邮件", "重连后的邮件"]
        assert sorted(m["In-Reply-To"] for m in smtp.mails) == sorted(questions)  # each answered once


def test_in_idle_an_answer_smtp_refused_is_sent_after_the_poll_interval(redis_url: str) -> None:
    """A mail given back (SMTP down) is looked at again after MAIL_POLL_SECONDS even while the channel idles."""
    with ImapStandIn(IMAP_USER, IMAP_PASSWORD) as imap, SmtpSink() as smtp:

        async def scenario(service: channel.MailService, bot: EchoBot) -> None:
            await asyncio.to_thread(imap.wait_idling, 1, 30)
            smtp.refuse = True
            raw, mid = make_mail(shopper(), "咨询", "你好")
            uid = imap.deliver(raw)
            await asyncio.to_thread(imap.wait_until, lambda: sum("FETCH" in c for c in imap.commands) >= 4, 20,
                                    "tried again")  # headers and body, twice: it was taken again
            assert not imap.is_seen(uid) and not smtp.mails
            smtp.refuse = False
            assert "收到：你好" in (await answer_of(smtp, mid, 20)).text
            await asyncio.to_thread(imap.wait_seen, uid, 20)

        bot = run_service(imap, smtp, redis_url, 1.0, scenario)
        assert bot.received == ["你好"]  # the turn ran once; its answer was kept and sent later
        assert len(smtp.mails) == 1


# -- the running assistant with the e-mail channel -------------------------------------------------------------
class MailStack(Stack):
    """bot.runtime.runner.Stack whose Rasa reads a credentials file with the e-mail channel and gets the mail
    settings (Stack always passes PROJECT_ROOT/credentials.yml and has no per-process environment)."""

    credentials_file: Path  # the names bench/bench_channel_telegram.py expects Stack itself to have one day
    extra_env: dict[str, str]
    rasa_command: tuple[list[str], dict[str, str]]

    def _spawn(self, name: str, args: list[str], env: Optional[dict[str, str]] = None
               ) -> tuple[subprocess.Popen, Path]:
        if name == "rasa":
            args = [str(self.credentials_file) if arg == str(PROJECT_ROOT / "credentials.yml") else arg
                    for arg in args]
            env = {**(env or {}), **self.extra_env}
            self.rasa_command = (args, env)
        return super()._spawn(name, args, env)

    def stop_rasa(self) -> None:
        process = self.processes.pop("rasa")
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)

    def start_rasa(self) -> None:
        process, log = super()._spawn("rasa", *self.rasa_command)
        wait_http(f"{self.rasa_url}/webhooks/rest/", process, 240, log)


class MailWorld:
    def __init__(self, running: RunningStack, imap: ImapStandIn, smtp: SmtpSink) -> None:
        self.running = running
        self.imap = imap
        self.smtp = smtp
        assert running.stack.redis is not None
        self.redis = redis.Redis.from_url(running.stack.redis.url)

    @property
    def stack(self) -> MailStack:
        assert isinstance(self.running.stack, MailStack)
        return self.running.stack

    def send(self, raw: bytes) -> int:
        return self.imap.deliver(raw)

    def answers_to(self, address: str, count: int = 1, timeout: float = 90) -> list[SentMail]:
        return self.smtp.wait_for(lambda m: m.to == [address], timeout=timeout, count=count)

    def mails_to(self, address: str) -> list[SentMail]:
        return self.smtp.matching(lambda m: m.to == [address])

    def ask(self, sender: str, subject: str, body: Optional[str], **kwargs: Any) -> tuple[SentMail, str]:
        """Mail a new question; (the answer, the question's Message-ID)."""
        before = len(self.mails_to(sender))
        raw, mid = make_mail(sender, subject, body, **kwargs)
        uid = self.send(raw)
        answer = self.answers_to(sender, before + 1)[-1]
        self.imap.wait_seen(uid, 30)
        return answer, mid

    def reply(self, sender: str, answer: SentMail, text: str, **kwargs: Any) -> SentMail:
        before = len(self.mails_to(sender))
        raw, _ = reply_to(answer, sender, text, **kwargs)
        self.send(raw)
        return self.answers_to(sender, before + 1)[-1]

    def tracker(self, conversation: str) -> dict[str, Any]:
        """The conversation through Rasa's HTTP API. Not tests.conftest's `tracker`: it quotes the ':' of
        "mail:..." as %3A, which Sanic 21.12 does not decode (Rasa would read another conversation)."""
        query = urllib.parse.urlencode({"token": self.stack.api_token})
        url = f"{self.stack.rasa_url}/conversations/{urllib.parse.quote(conversation, safe=':')}/tracker?{query}"
        with urllib.request.urlopen(url, timeout=60) as response:
            return dict(json.loads(response.read()))

    def user_texts(self, conversation: str) -> list[str]:
        users = [e for e in self.tracker(conversation)["events"] if e.get("event") == "user"]
        assert all(e.get("input_channel") == "email" for e in users), users
        return [e["text"] for e in users]


@pytest.fixture(scope="module")
def mail(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MailWorld]:
    if not MODEL.exists():
        pytest.fail(f"no trained model at {MODEL}: run `make model` (make test does)")
    state = tmp_path_factory.mktemp("mail-state")
    credentials = yaml.safe_load((PROJECT_ROOT / "credentials.yml").read_text(encoding="utf-8")) or {}
    credentials["connectors.email.ShopEmailInput"] = {"max_mail_bytes": MAX_MAIL_BYTES}
    credentials_file = state / "credentials.yml"
    credentials_file.write_text(yaml.safe_dump(credentials, allow_unicode=True), encoding="utf-8")
    with ImapStandIn(IMAP_USER, IMAP_PASSWORD) as imap, SmtpSink() as smtp:
        stack = MailStack.from_settings(load_settings(), MODEL, free_ports=True, web=False)
        assert isinstance(stack, MailStack)
        stack.state_dir, stack.shop_db, stack.redis_url = state, state / "shop.db", None
        stack.handoff_hours = "always"
        stack.credentials_file = credentials_file
        stack.extra_env = {
            "MAIL_ADDRESS": SERVICE, "MAIL_SMTP_HOST": "127.0.0.1", "MAIL_SMTP_PORT": str(smtp.port),
            "MAIL_SMTP_TLS": "none", "MAIL_SMTP_USER": "", "MAIL_IMAP_HOST": "127.0.0.1",
            "MAIL_IMAP_PORT": str(imap.port), "MAIL_IMAP_USER": IMAP_USER, "MAIL_IMAP_PASSWORD": IMAP_PASSWORD,
            "MAIL_IMAP_TLS": "none", "MAIL_POLL_SECONDS": "0.3",
        }
        ensure_database(stack.shop_db)
        backend = SqliteShopBackend(stack.shop_db)
        shipped: Order = backend.find_orders(OrderStatus.SHIPPED, limit=1)[0]
        with stack:
            yield MailWorld(RunningStack(stack, backend, SampleOrder(shipped.order_no, shipped.phone[-4:],
                                                                       shipped.status.label)), imap, smtp)


def conversation_of(answer: SentMail) -> str:
    found = conversation_in_id(answer["Message-ID"], "shop.test")
    assert found is not None, answer["Message-ID"]
    return found


@pytest.mark.stack
def test_a_mail_gets_a_threaded_answer(mail: MailWorld) -> None:
    sender = shopper()
    answer, mid = mail.ask(sender, "咨询一下", "你好")
    assert answer.to == [sender] and SERVICE in answer["From"]
    assert answer["Subject"] == "Re: 咨询一下"
    assert answer["In-Reply-To"] == mid and mid in answer["References"].split()
    assert answer["Auto-Submitted"] == "auto-replied"
    assert "小蜜" in answer.text and "1. 查订单" in answer.text  # the greeting's buttons as a numbered list
    conversation = conversation_of(answer)
    assert conversation == conversation_of_root(sender, mid)
    assert mail.user_texts(conversation) == ["你好"]
    # A reply of just the number presses the button.
    assert "订单号" in mail.reply(sender, answer, "1").text


@pytest.mark.stack
def test_a_reply_in_the_thread_continues_the_conversation(mail: MailWorld) -> None:
    sender, order = shopper(), mail.running.sample_order
    first, _ = mail.ask(sender, "订单查询", f"帮我查下订单 {order.order_no}")
    assert "后四位" in first.text
    second = mail.reply(sender, first, order.phone_last4)
    assert order.status_label in second.text
    assert second["Subject"] == "Re: 订单查询"
    assert first["Message-ID"] in second["References"].split()
    conversation = conversation_of(first)
    assert conversation_of(second) == conversation
    # The quoted answer and "发自我的iPhone" never reached the NLU: the tracker has what the shopper typed.
    assert mail.user_texts(conversation) == [f"帮我查下订单 {order.order_no}", order.phone_last4]
    # A new subject from the same sender is a new conversation.
    other, _ = mail.ask(sender, "另一个问题", "你们几点下班")
    assert conversation_of(other) != conversation
    assert mail.user_texts(conversation_of(other)) == ["你们几点下班"]


@pytest.mark.stack
def test_quoted_history_and_signature_are_stripped_before_nlu(mail: MailWorld) -> None:
    sender = shopper()
    body = ("请问包邮吗\n\n-- \n张三 | 某某公司\n\nOn Sat, 1 Mar 2025 at 10:00, Shop <service@shop.test> wrote:\n"
            "> 亲，您好！\n")
    answer, _ = mail.ask(sender, "包邮", body)
    assert mail.user_texts(conversation_of(answer)) == ["请问包邮吗"]


@pytest.mark.stack
def test_an_html_only_mail_is_read_as_text(mail: MailWorld) -> None:
    sender = shopper()
    html = "<html><body><div>你好，<b>请问</b>能开发票吗？</div><blockquote>以前的邮件</blockquote></body></html>"
    answer, _ = mail.ask(sender, "发票", None, html=html)
    assert mail.user_texts(conversation_of(answer)) == ["你好，请问能开发票吗？"]


@pytest.mark.stack
def test_an_attachment_is_acknowledged(mail: MailWorld) -> None:
    sender = shopper()
    answer, _ = mail.ask(sender, "商品破损", "收到的杯子碎了，想退货",
                         attachments=(("破损照片.jpg", b"\xff\xd8\xff" + b"0" * 2000),))
    assert answer.text.startswith("已收到您的附件：破损照片.jpg。")
    photo = b"\xff\xd8\xff" + bytes(range(256)) * 1000  # the mail is larger than what is fetched at first
    assert channel.FIRST_BYTES < len(make_mail(sender, "x", "y", attachments=(("p.jpg", photo),))[0]) < MAX_MAIL_BYTES
    large, _ = mail.ask(shopper(), "商品破损", "盒子压坏了，里面的杯子也碎了", attachments=(("大照片.jpg", photo),))
    assert large.text.startswith("已收到您的附件：大照片.jpg。") and "杯子也碎了" in large.text  # quoted below
    only, _ = mail.ask(shopper(), "", "", attachments=(("发票.jpg", b"\xff\xd8\xff" + b"1" * 100),))
    assert "已收到您的附件：发票.jpg。" in only.text and "说明" in only.text


@pytest.mark.stack
def test_auto_replies_bounces_and_malformed_mail_are_not_answered(mail: MailWorld) -> None:
    vacation = shopper()
    raw, _ = make_mail(vacation, "自动回复：休假中", "我在休假，3月10日回来。", headers={"Auto-Submitted": "auto-replied"})
    auto_uid = mail.send(raw)
    bounce_raw, _ = make_mail("MAILER-DAEMON@example.com", "Undelivered Mail Returned to Sender",
                              "This is the mail system at host example.com. I'm sorry to have to inform you...",
                              headers={"Return-Path": "<>"})
    bounce_uid = mail.send(bounce_raw)
    ours_raw, _ = make_mail(SERVICE, "Re: 咨询", "亲，您好！")
    ours_uid = mail.send(ours_raw)
    anonymous, _ = make_mail(None, "没有发件人", "你好")
    anonymous_uid = mail.send(anonymous)
    for uid in (auto_uid, bounce_uid, ours_uid, anonymous_uid):
        mail.imap.wait_seen(uid, 60)
    after, _ = mail.ask(shopper(), "咨询", "你好")  # the loop goes on
    assert after.text
    assert not mail.mails_to(vacation) and not mail.mails_to("mailer-daemon@example.com")
    assert not mail.mails_to(SERVICE)


@pytest.mark.stack
def test_oversized_mail_gets_a_polite_answer(mail: MailWorld) -> None:
    sender = shopper()
    big, _ = mail.ask(sender, "照片", "看看这个", attachments=(("大图.jpg", b"\xff" * (MAX_MAIL_BYTES + 1000)),))
    assert "太大" in big.text and "压缩" in big.text
    long, _ = mail.ask(shopper(), "问题", "我" * 2000)
    assert "精简" in long.text and str(load_settings().max_message_chars) in long.text


@pytest.mark.stack
def test_a_hand_off_by_mail_says_when_an_agent_replies(mail: MailWorld) -> None:
    sender = shopper()
    answer, _ = mail.ask(sender, "投诉", "转人工")
    conversation = conversation_of(answer)
    assert mail.redis.get(handoff_keys.owner(conversation)) == b"queued"
    assert channel.PROMISE_ON_DUTY in answer.text  # HANDOFF_HOURS=always here; off duty it names next_opening_text()


@pytest.mark.stack
def test_an_agent_message_is_mailed_once_in_the_thread(mail: MailWorld) -> None:
    sender = shopper()
    answer, _ = mail.ask(sender, "退货", "你好")
    conversation = conversation_of(answer)
    outbox = Outbound(mail.redis, 3600)
    entry_id = outbox.send(conversation, {"text": "您好，我是人工客服小李，请问要退哪一单？", "from": "agent", "agent": "小李"})
    agent_mail = mail.smtp.wait_for(lambda m: m.to == [sender] and "小李" in m.text)[0]
    assert agent_mail["In-Reply-To"] == answer["Message-ID"]
    assert answer["Message-ID"] in agent_mail["References"].split()
    assert agent_mail["Subject"] == "Re: 退货" and "小李" in agent_mail["From"] and not agent_mail["Auto-Submitted"]
    # The same note published again (another process, a reconnect) mails nothing more.
    mail.redis.publish(handoff_keys.OUTBOUND_CHANNEL, json.dumps(
        {"conv": conversation, "id": entry_id, "m": {"text": "您好，我是人工客服小李，请问要退哪一单？", "from": "agent"}}))
    time.sleep(3)
    assert len(mail.smtp.matching(lambda m: m.to == [sender] and "小李" in m.text)) == 1
    assert mail.redis.get(cursor_key(channel.CHANNEL, conversation)) == entry_id.encode()


@pytest.mark.stack
def test_an_smtp_outage_loses_nothing(mail: MailWorld) -> None:
    sender = shopper()
    mail.smtp.refuse = True
    try:
        raw, _ = make_mail(sender, "咨询", "你好")
        uid = mail.send(raw)
        time.sleep(4)  # many polls: each one tries to send the kept answer again
        assert not mail.imap.is_seen(uid) and not mail.mails_to(sender)
    finally:
        mail.smtp.refuse = False
    answer = mail.answers_to(sender)[0]
    mail.imap.wait_seen(uid, 30)
    time.sleep(2)
    assert len(mail.mails_to(sender)) == 1
    assert mail.user_texts(conversation_of(answer)) == ["你好"]  # the turn ran once; its answer was kept


@pytest.mark.stack
def test_a_restart_loses_and_duplicates_nothing(mail: MailWorld) -> None:
    sender = shopper()
    first, _ = mail.ask(sender, "咨询物流", "你好")
    conversation = conversation_of(first)
    outbox = Outbound(mail.redis, 3600)
    outbox.send(conversation, {"text": "人工客服小王：已帮您催促快递。", "from": "agent", "agent": "小王"})
    mail.smtp.wait_for(lambda m: m.to == [sender] and "小王" in m.text)
    mail.stack.stop_rasa()
    try:
        # While the channel is down: an agent writes, and the shopper answers in the thread.
        outbox.send(conversation, {"text": "人工客服小王：快递明天送到。", "from": "agent", "agent": "小王"})
        raw, _ = reply_to(first, sender, "谢谢")
        uid = mail.send(raw)
        time.sleep(1)
        assert not mail.imap.is_seen(uid)
    finally:
        mail.stack.start_rasa()
    mail.smtp.wait_for(lambda m: m.to == [sender] and "明天送到" in m.text, timeout=90)
    mail.imap.wait_seen(uid, 90)
    time.sleep(3)
    to_shopper = mail.mails_to(sender)
    texts = [m.text for m in to_shopper]
    assert sum("已帮您催促快递" in t for t in texts) == 1
    assert sum("明天送到" in t for t in texts) == 1
    assert len(to_shopper) == 4  # the first answer, two agent messages, the answer to "谢谢"
    assert mail.user_texts(conversation).count("谢谢") == 1
