"""E-mail channel: mail to the shop's service address becomes a conversation, answered by mail in its thread.

Inbound watches the service mailbox over IMAP (any hosted mailbox: 企业邮箱,
Exchange, Gmail...; imaplib in a thread of its own, one connection). Where the
server lists IDLE (RFC 2177) the connection waits in IDLE and a new mail is
looked at as soon as the server announces it (the IDLE is renewed every
IDLE_SECONDS, under the 29 minutes servers allow; after a look the connection goes
back into IDLE once that look's mails are answered, WATCH_AGAIN_SECONDS at most, and
mail that came meanwhile is announced as the IDLE starts); elsewhere, or when the server
refuses IDLE, the mailbox is polled every `MAIL_POLL_SECONDS`. Either way a
broken connection is reopened at once (then with growing pauses), and the
UNSEEN search after it finds whatever arrived meanwhile.
Each new mail is read with `BODY.PEEK` (it stays unseen). When the server announces
mail, one FETCH right behind the IDLE's DONE asks for the mails past the last look
by UID range, their first FIRST_BYTES with them (no search: one round trip; a larger
mail's rest in a second FETCH). A mail is answered, and only then marked `\\Seen`:
in the same write as the next look, or on its own SEEN_DELAY_SECONDS later (ending
the IDLE for a STORE after every answer would hold up the next mail). A mail the
bot could not answer (Rasa or SMTP down, a restart) is taken again at the next
whole look (UNSEEN search), which comes after MAIL_POLL_SECONDS while such a mail
(or one another process is answering) is left, even in IDLE. Which conversation a
mail belongs to, and every piece of state that makes "answered once" hold across
processes and restarts, is in connectors.mail.threads (Redis).

Before NLU a mail is reduced to what the shopper wrote this time (quoted history
and signature cut, HTML turned into text; connectors.mail.parsing), then screened
and rate-limited like the web chat (per conversation, and per sender address),
and handed to Rasa through the hand-off's gate (connectors.deliver). The turn's
messages go back as one mail (connectors.mail.compose): "Re:" subject,
In-Reply-To/References, From the service address, `Auto-Submitted: auto-replied`.
Its SMTP transaction (MAIL FROM, RCPT TO, DATA: pipelined where the server offers
PIPELINING) is opened while the turn runs, so only the mail itself follows the turn.
Buttons are a numbered list; a reply of just the number chooses the button.

Never answered: auto-replies and bounces (Auto-Submitted, Precedence bulk/junk/list,
X-Autoreply, List-Id, mailer-daemon/postmaster/noreply senders, Return-Path <>),
our own address; a mail without a sender or that cannot be decoded is logged and
marked seen. An oversized mail (bytes, or text past MAX_MESSAGE_CHARS) gets a
polite answer. Attachments are acknowledged by name (they are not stored).

Messages outside a turn (an agent's reply, a queue update: bot.handoff.outbound)
for `mail:*` conversations are mailed in the thread by the shared outbox courier
(bot.handoff.courier) of whichever process gets the pub/sub note, and after every
(re)subscription the outboxes are caught up: nothing is mailed twice, nothing is
lost across restarts. A new thread starts from the outbox's current end (older
messages were never for it); SMTP refusing a message for a while holds it (and
every later one of the conversation) for RETRY_SECONDS.

Settings (bot.config): MAIL_ADDRESS, MAIL_SMTP_HOST/PORT/USER/PASSWORD/TLS,
MAIL_IMAP_HOST/PORT/USER/PASSWORD/TLS, MAIL_CA_FILE, MAIL_POLL_SECONDS; without the required
ones (or without Redis) the channel logs one warning and does nothing.
credentials.yml may set `max_mail_bytes` (default 15 MB) and `max_message_chars`.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import imaplib
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Awaitable, Callable, Dict, Optional, TypeVar

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.config import Settings, load_settings
from bot.guard.rate_limit import SLOW_DOWN_REPLY, rate_limiter
from bot.guard.screening import CLIENT_KEY, has_visible_text, screen_message
from bot.handoff import keys as handoff_keys
from bot.handoff.courier import DELIVERED, HOLD, RETRY, OutboxCourier, Outcome
from bot.handoff.hours import agents_on_duty, next_opening_text
from bot.handoff.outbound import listen
from bot.runtime.redis_clients import new_async_redis, shared_redis
from connectors.deliver import deliver
from connectors.mail import compose, transport
from connectors.mail.parsing import Inbound, Malformed, domain_of, header_of, read_mail
from connectors.mail.threads import (
    CHANNEL,
    CONVERSATION_PREFIX,
    Claim,
    Thread,
    ThreadStore,
    mail_identity,
    our_message_id,
)

logger = logging.getLogger(__name__)

DEFAULT_MAX_MAIL_BYTES = 15 * 1024 * 1024
MAX_PARALLEL_MAILS = 32  # mails answered at once (different conversations; one conversation's mails in order)
SMTP_THREADS = 8  # mails handed to the SMTP server at once
MAX_ATTEMPTS = 3  # a mail whose handling fails this often (a bug, not an outage) is marked seen and logged
RETRY_SECONDS = 30  # an outbox message SMTP refused is tried again after this long
FIRST_BYTES = 256 * 1024  # fetched of every new mail at once: nearly all mails whole, larger ones fetched again
IDLE_SECONDS = 25 * 60  # an IDLE is ended and the mailbox searched again after this long (servers: 29 minutes)
SEEN_DELAY_SECONDS = 0.5  # an answered mail is marked seen with the next look, or on its own after this long
WATCH_AGAIN_SECONDS = 0.05  # after a look, IDLE again once its mails are answered, or after this long at most

OVERSIZED_REPLY = ("亲，您的邮件太大了（约 {size}），超过了 {limit} 的上限，我们没能读取。"
                   "请把附件压缩后或分几封邮件发送，问题直接写在邮件正文里就好，我马上帮您处理～")
ATTACHMENTS_RECEIVED = "已收到您的附件：{names}。"
ATTACHMENTS_ONLY = "请问附件是关于什么问题的呢？请在邮件里简单说明一下（例如订单号和遇到的问题），我马上帮您处理～"
PROMISE_ON_DUTY = "人工客服会直接回复这封邮件，最迟在下一个工作日内回复您。"
PROMISE_OFF_DUTY = "现在是非工作时间，人工客服将于{when}上班后回复这封邮件。"

T = TypeVar("T")


def mail_promise(hours: str = "calendar", at: Optional[datetime] = None) -> str:
    """When an agent answers a mail handed to them (at `at`, default now, in the e-mail channel's hours): the
    e-mail promise is the next working day at the latest."""
    if hours == "always" or (hours != "never" and agents_on_duty(at, CHANNEL)):
        return PROMISE_ON_DUTY
    return PROMISE_OFF_DUTY.format(when=next_opening_text(at, CHANNEL))


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB" if size >= 1024 * 1024 else f"{max(1, size // 1024)} KB"


def sender_key(address: str) -> str:
    """Who the rate limits and the order access guard count: the sender address, hashed."""
    return "mail:" + hashlib.sha256(address.lower().encode()).hexdigest()[:16]


@dataclass(frozen=True)
class MailConfig:
    address: str
    smtp: transport.Server
    imap: transport.Server
    poll_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> tuple[Optional[MailConfig], list[str]]:
        """The configuration, or None and what is missing or wrong."""
        required = {"MAIL_ADDRESS": settings.mail_address, "MAIL_SMTP_HOST": settings.mail_smtp_host,
                    "MAIL_IMAP_HOST": settings.mail_imap_host, "MAIL_IMAP_USER": settings.mail_imap_user,
                    "MAIL_IMAP_PASSWORD": settings.mail_imap_password}
        problems = [name for name, value in required.items() if not value]
        for name, mode in (("MAIL_SMTP_TLS", settings.mail_smtp_tls), ("MAIL_IMAP_TLS", settings.mail_imap_tls)):
            if mode not in transport.TLS_MODES:
                problems.append(f"{name} (one of {', '.join(transport.TLS_MODES)}, not {mode!r})")
        if settings.mail_ca_file and not os.path.isfile(settings.mail_ca_file):
            problems.append(f"MAIL_CA_FILE (a PEM file of CA certificates; {settings.mail_ca_file!r} is not a file)")
        if settings.mail_address and "@" not in settings.mail_address:
            problems.append("MAIL_ADDRESS (an address like service@shop.example)")
        if problems:
            return None, problems
        assert settings.mail_address and settings.mail_smtp_host and settings.mail_imap_host
        smtp = transport.Server(settings.mail_smtp_host,
                                settings.mail_smtp_port or transport.SMTP_PORTS[settings.mail_smtp_tls],
                                settings.mail_smtp_tls, settings.mail_smtp_user, settings.mail_smtp_password,
                                settings.mail_ca_file)
        imap = transport.Server(settings.mail_imap_host,
                                settings.mail_imap_port or transport.IMAP_PORTS[settings.mail_imap_tls],
                                settings.mail_imap_tls, settings.mail_imap_user, settings.mail_imap_password,
                                settings.mail_ca_file)
        return cls(settings.mail_address.strip().lower(), smtp, imap, max(0.05, settings.mail_poll_seconds)), []


@dataclass
class _Job:
    """A mail to answer: its UID, what it says (`head`: the whole mail read, or its header alone when it was
    too big to fetch at once), its mail id ("" when another process has it) and what claiming it found."""

    uid: int
    head: Inbound
    mail_id: str
    claim: Claim  # its conversation, an answer made earlier that SMTP refused, the thread as the mail was recorded
    raw: Optional[bytes] = None  # the whole mail, fetched again when `head` is its header alone

    @property
    def whole(self) -> bool:
        return not self.head.headers_only


class _SeenMarks:
    """Answered mails not yet marked \\Seen (shared by the loop and the mailbox thread). They go in the same write
    as the next look at the mailbox, or on their own SEEN_DELAY_SECONDS after the first of them: ending the IDLE
    for a STORE after every answer would hold up the next mail. Lost marks are harmless: the next look finds
    the mail unseen, its claim reads "done", and it is marked then."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._uids: set[int] = set()

    def add(self, uids: tuple[int, ...]) -> bool:
        """Add; True when none were waiting before."""
        with self._lock:
            first = not self._uids
            self._uids.update(uids)
            return first and bool(uids)

    def take(self) -> list[int]:
        with self._lock:
            uids, self._uids = sorted(self._uids), set()
            return uids

    def snapshot(self) -> frozenset[int]:
        with self._lock:
            return frozenset(self._uids)


class MailService:
    """The channel at work in one Rasa process: the mailbox poller and the outbox mailer."""

    def __init__(self, config: MailConfig, redis_url: str, on_new_message: Callable[[UserMessage], Awaitable[Any]],
                 app: Optional[Sanic], max_chars: int, max_bytes: int, retention_seconds: int,
                 handoff_hours: str) -> None:
        self.config = config
        self.redis_url = redis_url
        self.on_new_message = on_new_message
        self.app = app
        self.max_chars = max_chars
        self.max_bytes = max_bytes
        self.handoff_hours = handoff_hours
        self.domain = domain_of(config.address)
        self.redis = shared_redis(redis_url)
        self.async_redis = new_async_redis(redis_url)
        self.courier = OutboxCourier(self.async_redis, CHANNEL, CONVERSATION_PREFIX, self._send_outbox_entry,
                                     retention_seconds=retention_seconds, retry_seconds=RETRY_SECONDS,
                                     legacy_cursor=self._legacy_cursor)
        self.store = ThreadStore(self.redis, retention_seconds, self.domain)
        self.mailbox = transport.Mailbox(config.imap)
        # An answer's connection is held while its turn runs: as many stay open as mails are answered at once
        # (fewer would close and reopen connections all through a busy minute; never more at once than that).
        self.smtp = transport.Sender(config.smtp, max_idle_connections=MAX_PARALLEL_MAILS)
        self._imap_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mail-imap")
        self._smtp_threads = ThreadPoolExecutor(max_workers=SMTP_THREADS, thread_name_prefix="mail-smtp")
        self._slots = asyncio.Semaphore(MAX_PARALLEL_MAILS)
        self._locks: dict[str, asyncio.Lock] = {}
        self._inflight: dict[int, asyncio.Task] = {}
        self._just_taken: list[asyncio.Task] = []  # the answers to the mails of the last look
        self._attempts: dict[str, int] = {}
        self._tasks: list[asyncio.Task] = []
        self._marks = _SeenMarks()
        self._marks_due = False  # SEEN_DELAY_SECONDS have passed since the first waiting mark
        self._stopping = False
        self._idling = False  # the mailbox thread is (about to be) in IDLE: interrupt it to use the connection
        self._look_again_soon = False  # unseen mail left for later (not answered yet, another process's)
        self._polling_noted = False

    # -- life cycle ----------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._poll_forever(), name="mail-poll"),
                       asyncio.create_task(listen(self.async_redis, self.courier.notified, self.courier.subscribed),
                                           name="mail-outbound")]
        logger.info("e-mail channel: watching %s@%s:%d (IMAP IDLE where the server has it, else polling every "
                    "%.1f s), answering as %s", self.config.imap.user, self.config.imap.host, self.config.imap.port,
                    self.config.poll_seconds, self.config.address)

    def _wake(self) -> None:
        """End the mailbox thread's IDLE, if it is in one: the connection is wanted, or the wait is shorter now."""
        if self._idling:
            self.mailbox.interrupt()

    async def drain(self, timeout: float = 20) -> None:
        """Stop taking mail; let the mails being answered finish (a restart should not cut a turn in half)."""
        self._stopping = True
        self._wake()
        deadline = asyncio.get_running_loop().time() + timeout
        pending = [t for t in self._inflight.values() if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)
        # An outbox message handed to SMTP, not yet recorded as delivered: cut there, it would be mailed again.
        await self.courier.drain(max(0.0, deadline - asyncio.get_running_loop().time()))

    async def stop(self) -> None:
        self._stopping = True
        self._wake()
        tasks = [*self._tasks, *self._inflight.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.courier.close()
        with contextlib.suppress(Exception):
            await self.async_redis.close()
        with contextlib.suppress(Exception):  # the connection may be broken: the next start marks them
            await self._imap(self._store_marks)
        with contextlib.suppress(Exception):  # closing a connection that is already broken
            await self._imap(self.mailbox.close)
        self._imap_thread.shutdown(wait=False)
        self._smtp_threads.shutdown(wait=False)
        self.smtp.close()

    async def _imap(self, call: Callable[..., T], *args: Any) -> T:
        """Run a mailbox call in the mailbox's own thread (one connection, one thread)."""
        return await asyncio.get_running_loop().run_in_executor(self._imap_thread, call, *args)

    async def _send(self, mail: bytes, recipient: str) -> None:
        """Hand a mail to the SMTP server, in the channel's own threads (not the loop's shared default pool)."""
        await asyncio.get_running_loop().run_in_executor(self._smtp_threads, self.smtp.send, mail,
                                                         self.config.address, recipient)

    def _open_envelope(self, recipient: str) -> asyncio.Future[transport.Envelope]:
        """Start the answer's SMTP transaction now, so its round trip is done while the bot thinks: written from
        here on a connection in hand (`Sender.open_now`: no thread wakes beside the turn), else in the
        channel's threads."""
        loop = asyncio.get_running_loop()
        envelope = self.smtp.open_now(self.config.address, recipient)
        if envelope is None:
            return loop.run_in_executor(self._smtp_threads, self.smtp.open, self.config.address, recipient)
        started: asyncio.Future[transport.Envelope] = loop.create_future()
        started.set_result(envelope)
        return started

    async def _deliver(self, envelope: asyncio.Future[transport.Envelope], mail: bytes) -> None:
        """Send the mail in its envelope (an envelope the server refused raises here, as a refused send does)."""
        opened = await envelope
        await asyncio.get_running_loop().run_in_executor(self._smtp_threads, opened.deliver, mail)

    @staticmethod
    def _abandon(envelope: asyncio.Future[transport.Envelope]) -> None:
        """No answer after all: drop the envelope once it is open (a refusal to open it is no news now)."""
        def drop(opened: asyncio.Future[transport.Envelope]) -> None:
            if not opened.cancelled() and opened.exception() is None:
                opened.result().abandon()
        envelope.add_done_callback(drop)

    def _lock(self, conversation: str) -> asyncio.Lock:
        lock = self._locks.get(conversation)
        if lock is None:
            lock = self._locks[conversation] = asyncio.Lock()
        return lock

    async def _agent_ready(self) -> None:
        while True:
            agent = getattr(getattr(self.app, "ctx", None), "agent", None)
            if self.app is None or (agent is not None and agent.is_ready()):
                return
            await asyncio.sleep(0.5)

    # -- inbound ------------------------------------------------------------------------------------------------
    async def _poll_forever(self) -> None:
        await self._agent_ready()
        failures = 0
        quick_retry_at = -60.0
        looked: Optional[transport.Looked] = None
        while not self._stopping:
            try:
                await self._poll_once(looked)
                if failures:
                    logger.info("e-mail channel: mailbox reachable again")
                    failures = 0
                looked = await self._wait_for_mail()
            except asyncio.CancelledError:
                raise
            except (*transport.MailError, imaplib.IMAP4.abort, EOFError) as error:
                looked = None
                failures += 1
                if failures == 1 or failures % 20 == 0:
                    logger.warning("e-mail channel: mailbox %s:%d unavailable (%s); retrying",
                                   self.config.imap.host, self.config.imap.port, error)
                await self._imap(self.mailbox.close)
                # A connection that broke (a server or NAT ending a long IDLE) is reopened at once (once a minute at
                # most); a mailbox that stays unreachable is tried again after growing pauses.
                now = asyncio.get_running_loop().time()
                if failures == 1 and now - quick_retry_at >= 60:
                    quick_retry_at = now
                    continue
                await asyncio.sleep(min(60.0, self.config.poll_seconds * 2 ** min(failures, 10)))

    async def _wait_for_mail(self) -> Optional[transport.Looked]:
        """Until the next look at the mailbox: in IDLE until the server announces a mail (IDLE_SECONDS at most,
        MAIL_POLL_SECONDS while unseen mail is left for later), then the look itself (see `_idle_then_look`);
        MAIL_POLL_SECONDS where there is no IDLE. An IDLE ended for the connection's sake (marking mail seen)
        is taken up again for the time left."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        await self._while_answering()
        while not self._stopping:
            if self._marks_due:
                self._marks_due = False
                await self._imap_marks()
            limit = self.config.poll_seconds if self._look_again_soon else IDLE_SECONDS
            self._idling = True
            try:
                outcome, looked = await self._imap(self._idle_then_look, max(0.0, started + limit - loop.time()),
                                                   frozenset(self._inflight))
            finally:
                self._idling = False
            if outcome == transport.NO_IDLE:
                if not self._polling_noted:
                    self._polling_noted = True
                    logger.info("e-mail channel: the IMAP server %s, so the mailbox is polled every %.1f s",
                                "refused IDLE" if self.mailbox.idle_refused else "has no IDLE",
                                self.config.poll_seconds)
                await asyncio.sleep(max(0.0, started + self.config.poll_seconds - loop.time()))
                return None
            if outcome in (transport.NEW_MAIL, transport.TIME_UP):
                return looked
        return None

    async def _while_answering(self) -> None:
        """Let the mails of the last look be answered before the connection goes back into IDLE (at most
        WATCH_AGAIN_SECONDS): entering IDLE wakes the mailbox thread twice (the command, the server's "+ idling"),
        each time taking the interpreter from the answers on a shopper's wait. Mail arriving meanwhile is not
        missed: the server announces it as the IDLE starts."""
        answering, self._just_taken = [task for task in self._just_taken if not task.done()], []
        if answering:
            await asyncio.wait(answering, timeout=WATCH_AGAIN_SECONDS)

    def _idle_then_look(self, seconds: float, skip: frozenset[int]) -> tuple[str, Optional[transport.Looked]]:
        """In the mailbox thread: IDLE, and when the server announces mail, the look at the new mails at once,
        behind the IDLE's DONE and with the waiting \\Seen marks (a trip back to the busy event loop in between,
        or waiting for the server to confirm the DONE, costs a shopper's wait). `skip` (the mails being
        answered) is from before the IDLE."""
        return self.mailbox.idle_then(
            seconds, lambda: self.mailbox.look_new(skip, FIRST_BYTES, mark_seen=self._marks.take()))

    def _look_at_all(self, skip: frozenset[int]) -> transport.Looked:
        """In the mailbox thread: every unseen mail, the waiting \\Seen marks in the same write."""
        return self.mailbox.look(skip, FIRST_BYTES, mark_seen=self._marks.take())

    def _store_marks(self) -> None:
        """In the mailbox thread: the waiting \\Seen marks, on their own."""
        uids = self._marks.take()
        if uids:
            self.mailbox.mark_seen(uids)

    async def _imap_marks(self) -> None:
        try:
            await self._imap(self._store_marks)
        except (*transport.MailError, imaplib.IMAP4.abort, EOFError) as error:
            self._not_marked(error)

    def _not_marked(self, error: object) -> None:
        # Answered and recorded as done: the next look finds them unseen, reads "done", marks them.
        logger.warning("e-mail channel: could not mark answered mails seen yet (%s)", error)
        self._look_again_soon = True
        self._wake()

    async def _poll_once(self, looked: Optional[transport.Looked] = None) -> None:
        """One look at the mailbox (`looked`: the one just taken): the unseen mails and the first FIRST_BYTES of
        each new one in one call (a hosted mailbox is tens of milliseconds away: round trips per poll, not per
        mail), the rest of larger mails to answer in another, then a task each."""
        if looked is None:
            looked = await self._imap(self._look_at_all, frozenset(self._inflight) | self._marks.snapshot())
        if looked.complete:
            self._look_again_soon = False
        if looked.unmarked:
            self._not_marked(f"the server did not mark {len(looked.unmarked)} mails")
        unseen, found, marked = looked.unseen, looked.found, self._marks.snapshot()
        uids = [uid for uid in unseen if uid not in self._inflight and uid not in marked]
        if any(self._inflight[uid].done() for uid in unseen if uid in self._inflight):
            self._look_again_soon = True  # given back just now (its task not yet forgotten): take it next time
        if not uids or self._stopping:
            return
        jobs: list[_Job] = []
        settled: list[int] = []
        try:
            for uid in uids:
                if uid not in found:
                    self._look_again_soon = True  # gone, or not fetched: look again
                    continue
                job = self._triage(uid, *found[uid])
                if job is None:
                    settled.append(uid)
                elif job.mail_id:
                    jobs.append(job)
                else:
                    self._look_again_soon = True  # another process has it: taken again should it give it up
            wanted = [job.uid for job in jobs
                      if not job.whole and job.claim.unsent is None and job.head.size <= self.max_bytes]
            bodies = await self._imap(self.mailbox.messages, wanted) if wanted else {}
        except BaseException:
            for job in jobs:
                self.store.release(job.mail_id)
            raise
        for job in jobs:
            job.raw = bodies.get(job.uid)
            task = asyncio.create_task(self._handle(job), name=f"mail-{job.uid}")
            self._inflight[job.uid] = task
            self._just_taken.append(task)
            task.add_done_callback(self._forget_task)
        if settled:
            self._seen(*settled)

    def _triage(self, uid: int, size: int, first: bytes) -> Optional[_Job]:
        """From the mail's first FIRST_BYTES: None (mark it seen: malformed, answered before, automatic), a job
        without a mail id (leave it: another process is answering it), or a job this process has claimed."""
        size = size or len(first)
        header = header_of(first)
        try:
            if len(first) >= size and size <= self.max_bytes:
                head = read_mail(first, self.config.address, size=size)
            else:
                head = read_mail(header, self.config.address, headers_only=True, size=size)
        except Malformed as error:
            logger.warning("e-mail channel: mail %d is malformed (%s); marked seen, not answered", uid, error)
            return None
        mail_id = mail_identity(head, header)
        claim = self.store.claim(mail_id, head, record=not head.automatic)
        if claim.state == "busy":
            return _Job(uid, head, "", claim)
        if claim.state == "done":
            return None
        if head.automatic:
            logger.info("e-mail channel: mail %d not answered: %s", uid, head.automatic)
            self.store.finish(mail_id)
            return None
        return _Job(uid, head, mail_id, claim)

    def _forget_task(self, task: asyncio.Task) -> None:
        for uid, running in list(self._inflight.items()):
            if running is task:
                del self._inflight[uid]

    def _seen(self, *uids: int) -> None:
        """Mark mails seen: with the next look, or SEEN_DELAY_SECONDS from the first waiting mark on their own."""
        if self._marks.add(uids):
            asyncio.get_running_loop().call_later(SEEN_DELAY_SECONDS, self._marks_wanted)

    def _marks_wanted(self) -> None:
        if self._marks.snapshot():  # not taken by a look meanwhile
            self._marks_due = True
            self._wake()  # out of IDLE for the STORE

    async def _handle(self, job: _Job) -> None:
        """Answer one claimed mail, then mark it seen; given back (taken again later) when it could not be."""
        done = False
        started = time.monotonic()
        try:
            async with self._slots:
                done = await self._answer(job)
                logger.debug("e-mail channel: mail %d handled in %.0f ms", job.uid, (time.monotonic() - started) * 1000)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("e-mail channel: could not handle mail %d", job.uid)
            self._attempts[job.mail_id] = attempts = self._attempts.get(job.mail_id, 0) + 1
            if attempts >= MAX_ATTEMPTS:
                logger.error("e-mail channel: giving up on mail %d after %d attempts; marked seen", job.uid, attempts)
                done = True
        finally:
            if done:
                self.store.finish(job.mail_id)
                self._attempts.pop(job.mail_id, None)
            else:
                self.store.release(job.mail_id)  # taken again at the next poll (or after a restart)
                self._look_again_soon = True  # in IDLE too: MAIL_POLL_SECONDS from the last look, not 25 minutes
                self._wake()
        if done:
            self._seen(job.uid)

    async def _answer(self, job: _Job) -> bool:
        """Read, run the turn, send the answer; True once the mail needs no more work."""
        uid, mail_id, head, conversation = job.uid, job.mail_id, job.head, job.claim.conversation
        if job.claim.unsent is not None:  # answered before, SMTP refused it: send that answer, do not run the turn again
            try:
                await self._send(job.claim.unsent, head.sender)
            except transport.MailError as error:
                if transport.permanent(error):
                    logger.error("e-mail channel: SMTP refuses the answer to mail %d for good (%s); dropped", uid,
                                 error)
                    return True
                logger.warning("e-mail channel: SMTP still refuses the answer to mail %d (%s)", uid, error)
                return False
            self.store.sent(conversation, mail_id)
            self.store.answered(conversation, our_message_id("re", conversation, mail_id[:16], self.domain),
                                None)
            return True
        inbound = head
        if not job.whole and head.size <= self.max_bytes:
            if job.raw is None:
                raise LookupError(f"mail {uid} could not be fetched")
            try:
                inbound = read_mail(job.raw, self.config.address, size=head.size)
            except Malformed as error:
                logger.warning("e-mail channel: mail %d is malformed (%s); marked seen, not answered", uid, error)
                return True
        thread, agent = job.claim.thread, job.claim.agent
        assert thread is not None, "a claim records the mail it takes to answer"
        async with self._lock(conversation):
            envelope = self._open_envelope(inbound.sender)
            try:
                turn_started = time.monotonic()
                messages, before, after = await self._turn(conversation, inbound, thread, agent)
                logger.debug("e-mail channel: mail %d: turn %.0f ms", uid, (time.monotonic() - turn_started) * 1000)
            except BaseException:
                self._abandon(envelope)
                raise
            if not (messages or before or after):
                self._abandon(envelope)
                return True  # e.g. an agent has the conversation: they answer
            body, buttons = compose.render(messages, before, after)
            message_id = our_message_id("re", conversation, mail_id[:16], self.domain)
            mail = compose.build(
                service_address=self.config.address, to=inbound.sender, subject=thread.subject or inbound.subject,
                body=body, message_id=message_id, in_reply_to=inbound.message_id or thread.last_id,
                references=thread.references, automatic=True,
                quoted=compose.quote(inbound.text, inbound.sender, inbound.date) if inbound.text else "")
            try:
                await self._deliver(envelope, mail)
            except transport.MailError as error:
                if transport.permanent(error):
                    logger.error("e-mail channel: SMTP refuses the answer to mail %d for good (%s); dropped", uid,
                                 error)
                    return True
                logger.warning("e-mail channel: SMTP refused the answer to mail %d (%s); kept, sent at the next "
                               "poll", uid, error)
                self.store.keep_unsent(conversation, mail_id, mail)
                return False
            self.store.answered(conversation, message_id, buttons)
        return True

    def _owner(self, conversation: str) -> Optional[bytes]:
        value = self.redis.get(handoff_keys.owner(conversation))
        return value if isinstance(value, bytes) else None

    async def _turn(self, conversation: str, inbound: Inbound, thread: Thread, agent: Optional[str]
                    ) -> tuple[list[dict[str, Any]], list[str], list[str]]:
        """(the bot's messages, lines before them, lines after them) for one mail; `agent`: who had the
        conversation as it arrived."""
        if inbound.headers_only:
            return [{"text": OVERSIZED_REPLY.format(size=_megabytes(inbound.size),
                                                    limit=_megabytes(self.max_bytes))}], [], []
        before = [ATTACHMENTS_RECEIVED.format(names="、".join(inbound.attachments[:10])
                                              + (f" 等 {len(inbound.attachments)} 个" if len(inbound.attachments) > 10
                                                 else ""))] if inbound.attachments else []
        text = compose.choice_of(inbound.text, thread.buttons) or inbound.text
        screened = screen_message(text, self.max_chars)
        if screened.reply is not None:
            if before and not has_visible_text(text):
                return [{"text": ATTACHMENTS_ONLY}], before, []
            return [{"text": screened.reply}], before, []
        client = sender_key(inbound.sender)
        if not rate_limiter().allow_message(conversation, ip=client):
            return [{"text": SLOW_DOWN_REPLY}], before, []
        collector = CollectingOutputChannel()
        metadata: dict[str, Any] = {CLIENT_KEY: client}
        if inbound.attachments:
            metadata["attachments"] = list(inbound.attachments[:10])
        await deliver(self.on_new_message,
                      UserMessage(screened.text, collector, conversation, input_channel=CHANNEL, metadata=metadata),
                      self.app)
        after = [mail_promise(self.handoff_hours)] if agent is None and self._owner(conversation) else []
        return list(collector.messages), before, after

    # -- outbound: agents' messages and queue updates (bot.handoff.courier) ------------------------------------
    async def _legacy_cursor(self, conversation: str) -> Optional[str]:
        return self.store.legacy_delivered(conversation)

    async def _send_outbox_entry(self, conversation: str, entry_id: str, message: dict[str, Any]) -> Outcome:
        """The courier's send: one outbox message mailed in the conversation's thread."""
        async with self._lock(conversation):  # not in the middle of answering the shopper's mail
            thread = self.store.get(conversation)
            if thread is None:
                logger.warning("e-mail channel: no thread for %s (expired?); its messages stay in the outbox",
                               conversation)
                return HOLD
            return await self._mail_outbox_message(thread, entry_id, message)

    async def _mail_outbox_message(self, thread: Thread, entry_id: str, message: dict[str, Any]) -> Outcome:
        from_agent = message.get("from") == "agent"
        body, buttons = compose.render([message])
        message_id = our_message_id("agent" if from_agent else "bot", thread.conversation, entry_id, self.domain)
        mail = compose.build(service_address=self.config.address, to=thread.address, subject=thread.subject,
                             body=body, message_id=message_id, in_reply_to=thread.last_id,
                             references=thread.references, automatic=not from_agent,
                             from_agent=str(message.get("agent") or "") if from_agent else None)
        try:
            await self._send(mail, thread.address)
        except transport.MailError as error:
            if transport.permanent(error):  # retrying would hold back every later message of the conversation
                logger.error("e-mail channel: SMTP refuses outbox message %s of %s for good (%s); skipped", entry_id,
                             thread.conversation, error)
                return DELIVERED
            logger.warning("e-mail channel: SMTP refused a message for %s (%s); retrying in %d s",
                           thread.conversation, error, RETRY_SECONDS)
            return RETRY
        self.store.answered(thread.conversation, message_id, buttons if buttons or not from_agent else [])
        return DELIVERED


class ShopEmailInput(InputChannel):
    """Shoppers' e-mail (see the module docstring)."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    def __init__(self, max_mail_bytes: Optional[int] = None, max_chars: Optional[int] = None) -> None:
        settings = load_settings()
        self.settings = settings
        self.max_bytes = int(max_mail_bytes or DEFAULT_MAX_MAIL_BYTES)
        self.max_chars = int(max_chars or settings.max_message_chars)
        self.config, self.missing = MailConfig.from_settings(settings)
        if self.config is not None and not settings.redis_url:
            self.config, self.missing = None, ["REDIS_URL (threads and delivery state live in Redis)"]
        self.service: Optional[MailService] = None

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[str, Any]]) -> ShopEmailInput:
        credentials = credentials or {}
        return cls(credentials.get("max_mail_bytes"), credentials.get("max_message_chars"))

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint("shop_email_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            if self.config is None:
                return response.json({"status": "off", "missing": self.missing})
            return response.json({"status": "ok", "address": self.config.address})

        @webhook.listener("before_server_start")
        async def start_mail(app: Sanic, _loop: object) -> None:
            if self.config is None:
                logger.warning("e-mail channel is off: set %s (see README, 'E-mail')", ", ".join(self.missing))
                return
            assert self.settings.redis_url
            self.service = MailService(self.config, self.settings.redis_url, on_new_message, app, self.max_chars,
                                       self.max_bytes, self.settings.retention_seconds, self.settings.handoff_hours)
            self.service.start()

        @webhook.listener("before_server_stop")
        async def drain_mail(_app: Sanic, _loop: object) -> None:
            if self.service is not None:
                await self.service.drain()

        @webhook.listener("after_server_stop")
        async def stop_mail(_app: Sanic, _loop: object) -> None:
            if self.service is not None:
                await self.service.stop()
                self.service = None

        return webhook
