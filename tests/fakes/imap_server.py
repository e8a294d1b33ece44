"""Local stand-ins for a shop's mail service: an IMAP4rev1 mailbox and an SMTP server that records what it gets.

`ImapStandIn` is a small asyncio IMAP4rev1 server (RFC 3501) speaking the subset
a mail client such as Python's imaplib uses to read a mailbox: CAPABILITY, NOOP,
LOGIN, SELECT/EXAMINE, SEARCH and UID SEARCH (ALL, UNSEEN, SEEN), FETCH and UID
FETCH (UID, FLAGS, RFC822.SIZE, RFC822, RFC822.HEADER, BODY[], BODY[]<start.count>, BODY[HEADER]
and their BODY.PEEK forms; the non-PEEK forms set \\Seen as a real server does),
STORE and UID STORE (+FLAGS, -FLAGS, FLAGS, .SILENT), CLOSE, LOGOUT and IDLE
(RFC 2177: "+ idling", then "* N EXISTS" pushed as soon as a mail is delivered,
"<tag> OK IDLE terminated" after DONE). Like a real server it also announces new
mail ("* N EXISTS") in the answer to any command once a mailbox is selected, and
when an IDLE starts. It runs
on a free loopback port in a thread of its own, holds one INBOX, and lets a test
put mail in and watch flags::

    with ImapStandIn("service@shop.test", "secret") as imap, SmtpSink() as smtp:
        uid = imap.deliver(raw_mail_bytes)
        ... the client under test polls imap.host:imap.port ...
        imap.wait_seen(uid)
        sent = smtp.wait_for(lambda m: m.to == ["shopper@example.com"])

Switches for the client's other paths: `ImapStandIn(idle=False)` (or `.idle = False`) is a server without
IDLE (not in CAPABILITY, the command is unknown); `.refuse_idle = True` lists IDLE but answers it with NO;
`drop_connections()` cuts every open connection (as a server or a NAT does with an idle one);
`wait_idling()` waits until a client is in IDLE.

`ImapStandIn(tls=context)` serves IMAPS (implicit TLS); `SmtpSink(tls=context, tls_mode=...)` STARTTLS or
implicit TLS (`tests/fakes/tls.py` makes a CA and a server certificate).

Not like a real server: one mailbox (INBOX), no STARTTLS on IMAP, no APPEND, no RECENT
(always 0), literals only in responses, SEARCH knows only ALL/SEEN/UNSEEN.

`SmtpSink` is aiosmtpd's SMTP server with a handler that keeps every mail
(envelope and parsed message) and can be told to refuse mail for a while
(`refuse = True`: 451, "try again later").
"""
from __future__ import annotations

import asyncio
import bisect
import contextlib
import email
import email.policy
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Callable, Optional

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.fakes.loop_thread import LoopThreadServer

UIDVALIDITY = 1_700_000_001
_TOKEN = re.compile(rb'\s*(?:"((?:[^"\\]|\\.)*)"|(\((?:[^()]|\([^()]*\))*\))|([^\s()"]+))')


@dataclass
class StoredMail:
    uid: int
    raw: bytes
    flags: set[str] = field(default_factory=set)

    @property
    def header(self) -> bytes:
        for separator in (b"\r\n\r\n", b"\n\n"):
            at = self.raw.find(separator)
            if at >= 0:
                return self.raw[:at + len(separator)]
        return self.raw


def _words(arguments: bytes) -> list[str]:
    """IMAP arguments: atoms, "quoted strings" and parenthesised lists, as strings."""
    words = []
    position = 0
    while position < len(arguments):
        match = _TOKEN.match(arguments, position)
        if match is None or match.end() == position:
            break
        position = match.end()
        if match.group(1) is not None:
            words.append(re.sub(rb"\\(.)", rb"\1", match.group(1)).decode("utf-8", "replace"))
        else:
            words.append((match.group(2) or match.group(3)).decode("utf-8", "replace"))
    return words


def _ranges(sequence_set: str, highest: int) -> list[tuple[int, int]]:
    """The (low, high) ranges of an IMAP sequence set ("1,3:5,7:*"; "*" is the highest number in use)."""
    ranges = []
    for part in sequence_set.split(","):
        low, _, high = part.partition(":")
        first = highest if low == "*" else int(low)
        last = first if not high else (highest if high == "*" else int(high))
        ranges.append((min(first, last), max(first, last)))
    return ranges


def _uid_of(mail: StoredMail) -> int:
    return mail.uid


class ImapStandIn(LoopThreadServer):
    """An IMAP4rev1 server on 127.0.0.1 with one INBOX; see the module docstring."""

    thread_name = "imap-stand-in"
    stop_timeout = 10.0

    def __init__(self, user: str = "service@shop.test", password: str = "secret", host: str = "127.0.0.1",
                 idle: bool = True, tls: Optional[ssl.SSLContext] = None) -> None:
        self.user = user
        self.tls = tls  # IMAPS (implicit TLS, as on port 993) with this server context
        self.password = password
        self.host = host
        self.port = 0
        self.idle = idle  # IDLE in CAPABILITY and understood
        self.refuse_idle = False  # IDLE listed, but answered with NO
        self.idling = 0  # connections in IDLE now
        self._idlers: set[asyncio.Event] = set()  # set (in the server's loop) when a mail is delivered
        self.mails: list[StoredMail] = []
        self.commands: list[str] = []  # every command received, the password masked
        self.logins = 0
        self._next_uid = 1
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._server: Optional[asyncio.base_events.Server] = None
        self._writers: set[asyncio.StreamWriter] = set()

    # -- lifecycle ------------------------------------------------------------------------------------------
    async def _serve(self) -> None:
        self._server = await asyncio.start_server(self._session, self.host, self.port, ssl=self.tls)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _cleanup(self) -> None:
        """Stop serving (connections are cut); `start()` again serves the same mailbox on the same port."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    # -- the mailbox, for tests -----------------------------------------------------------------------------
    def deliver(self, raw: bytes, flags: tuple[str, ...] = ()) -> int:
        """A mail arrives in INBOX; its UID."""
        with self._changed:
            mail = StoredMail(self._next_uid, raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"), set(flags))
            self._next_uid += 1
            self.mails.append(mail)
            self._changed.notify_all()
            self._wake_idlers()
            return mail.uid

    def _wake_idlers(self) -> None:
        loop = self._loop
        if loop is None:
            return
        for event in list(self._idlers):
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(event.set)

    def drop_connections(self) -> int:
        """Cut every open connection at once (no BYE); how many there were. The server goes on listening."""
        loop = self._loop
        if loop is None:
            return 0
        writers = list(self._writers)

        def cut() -> None:
            for writer in writers:
                writer.transport.abort()

        loop.call_soon_threadsafe(cut)
        return len(writers)

    def wait_idling(self, count: int = 1, timeout: float = 30) -> None:
        """Until `count` connections are in IDLE."""
        self.wait_until(lambda: self.idling >= count, timeout, f"{count} connection(s) in IDLE")

    @property
    def capabilities(self) -> str:
        return "IMAP4rev1 AUTH=PLAIN" + (" IDLE" if self.idle else "")

    def flags(self, uid: int) -> set[str]:
        with self._lock:
            return set(next(m for m in self.mails if m.uid == uid).flags)

    def is_seen(self, uid: int) -> bool:
        return "\\Seen" in self.flags(uid)

    def unseen(self) -> list[int]:
        with self._lock:
            return [m.uid for m in self.mails if "\\Seen" not in m.flags]

    def wait_seen(self, uid: int, timeout: float = 60) -> None:
        self.wait_until(lambda: self.is_seen(uid), timeout, f"mail {uid} was not marked seen")

    def wait_until(self, check: Callable[[], bool], timeout: float = 60, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not check():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{what} within {timeout:.0f} s")
                self._changed.wait(min(remaining, 0.5))

    # -- the protocol ---------------------------------------------------------------------------------------
    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        state = {"auth": False, "selected": False, "read_only": False, "exists": 0}
        try:
            writer.write(f"* OK [CAPABILITY {self.capabilities}] IMAP stand-in ready\r\n".encode())
            await writer.drain()
            while True:
                line = await reader.readline()
                if not line:
                    return
                tag, _, rest = line.rstrip(b"\r\n").partition(b" ")
                if rest.strip().upper() == b"IDLE" and self.idle and not self.refuse_idle and state["selected"]:
                    with self._lock:
                        self.commands.append(line.rstrip(b"\r\n").decode("utf-8", "replace"))
                    if not await self._idle(tag, reader, writer, state):
                        return
                    continue
                reply, close = self._command(line.rstrip(b"\r\n"), state)
                writer.write(reply)
                await writer.drain()
                if close:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    def _exists_update(self, state: dict[str, Any]) -> bytes:
        """"* N EXISTS" when the mailbox grew since this connection was last told (b"" otherwise)."""
        with self._lock:
            if not state["selected"] or len(self.mails) == state["exists"]:
                return b""
            state["exists"] = len(self.mails)
            return f"* {state['exists']} EXISTS\r\n".encode()

    async def _idle(self, tag: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    state: dict[str, Any]) -> bool:
        """One IDLE, until DONE; False when the connection ended meanwhile."""
        event = asyncio.Event()
        with self._changed:
            self._idlers.add(event)
            self.idling += 1
            self._changed.notify_all()
        done = asyncio.ensure_future(reader.readline())
        try:
            writer.write(b"+ idling\r\n")
            while True:
                event.clear()  # before looking: a delivery after the look sets it again
                writer.write(self._exists_update(state))
                await writer.drain()
                woken = asyncio.ensure_future(event.wait())
                await asyncio.wait({done, woken}, return_when=asyncio.FIRST_COMPLETED)
                woken.cancel()
                if done.done():
                    break
            line = done.result()
            if not line:
                return False
            with self._lock:
                self.commands.append(line.rstrip(b"\r\n").decode("utf-8", "replace"))
            if line.rstrip(b"\r\n").upper() == b"DONE":
                writer.write(b"%s OK IDLE terminated\r\n" % tag)
            else:
                writer.write(b"%s BAD expected DONE\r\n" % tag)
            await writer.drain()
            return True
        finally:
            done.cancel()
            with self._changed:
                self._idlers.discard(event)
                self.idling -= 1
                self._changed.notify_all()

    def _command(self, line: bytes, state: dict[str, Any]) -> tuple[bytes, bool]:
        tag, _, rest = line.partition(b" ")
        name, _, arguments = rest.partition(b" ")
        command = name.decode("ascii", "replace").upper()
        tag_text = tag.decode("ascii", "replace") or "*"
        if command == "LOGIN":
            with self._lock:
                self.commands.append(f"{tag_text} LOGIN ***")
        else:
            with self._lock:
                self.commands.append(line.decode("utf-8", "replace"))
        if not tag or not command:
            return b"* BAD empty command\r\n", False
        try:
            with self._changed:
                untagged, status = self._run(command, _words(arguments), arguments, state)
                self._changed.notify_all()
        except (ValueError, IndexError, StopIteration) as error:
            return f"{tag_text} BAD {command} arguments invalid: {error}\r\n".encode(), False
        return (self._exists_update(state) + b"".join(untagged) + f"{tag_text} {status}\r\n".encode(),
                command == "LOGOUT")

    def _run(self, command: str, words: list[str], arguments: bytes, state: dict[str, Any]
             ) -> tuple[list[bytes], str]:
        if command == "CAPABILITY":
            return [f"* CAPABILITY {self.capabilities}\r\n".encode()], "OK CAPABILITY completed"
        if command == "IDLE":  # (an IDLE to serve is taken in _session)
            if self.idle and self.refuse_idle:
                return [], "NO IDLE not available now"
            return [], ("BAD IDLE needs a selected mailbox" if self.idle else "BAD unknown command IDLE")
        if command == "NOOP":
            if state["selected"]:
                state["exists"] = len(self.mails)
                return [f"* {len(self.mails)} EXISTS\r\n".encode()], "OK NOOP completed"
            return [], "OK NOOP completed"
        if command == "LOGOUT":
            return [b"* BYE IMAP stand-in logging out\r\n"], "OK LOGOUT completed"
        if command == "LOGIN":
            if len(words) != 2:
                return [], "BAD LOGIN needs a user and a password"
            if state["auth"]:
                return [], "BAD already authenticated"
            if (words[0], words[1]) != (self.user, self.password):
                return [], "NO [AUTHENTICATIONFAILED] invalid credentials"
            state["auth"] = True
            self.logins += 1
            return [], f"OK [CAPABILITY {self.capabilities}] LOGIN completed"
        if not state["auth"]:
            return [], f"BAD {command} not allowed before LOGIN"
        if command in ("SELECT", "EXAMINE"):
            if not words or words[0].upper() != "INBOX":
                state["selected"] = False
                return [], "NO [NONEXISTENT] no such mailbox"
            state["selected"], state["read_only"] = True, command == "EXAMINE"
            state["exists"] = len(self.mails)
            untagged = [b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n",
                        b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted\r\n",
                        f"* {len(self.mails)} EXISTS\r\n".encode(), b"* 0 RECENT\r\n",
                        f"* OK [UIDVALIDITY {UIDVALIDITY}] UIDs valid\r\n".encode(),
                        f"* OK [UIDNEXT {self._next_uid}] Predicted next UID\r\n".encode()]
            mode = "READ-ONLY" if state["read_only"] else "READ-WRITE"
            return untagged, f"OK [{mode}] {command} completed"
        if not state["selected"]:
            return [], f"BAD {command} needs a selected mailbox"
        if command == "CLOSE":
            state["selected"] = False
            return [], "OK CLOSE completed"
        by_uid = command == "UID"
        if by_uid:
            if not words:
                return [], "BAD UID needs a command"
            command, words = words[0].upper(), words[1:]
        if command == "SEARCH":
            return self._search(words, by_uid), "OK SEARCH completed"
        if command == "FETCH":
            return self._fetch(words[0], " ".join(words[1:]), by_uid, state), "OK FETCH completed"
        if command == "STORE":
            if state["read_only"]:
                return [], "NO mailbox is read-only"
            return self._store(words[0], words[1], " ".join(words[2:]), by_uid), "OK STORE completed"
        return [], f"BAD unknown command {command}"

    def _selected(self, sequence_set: str, by_uid: bool) -> list[tuple[int, StoredMail]]:
        """(sequence number, mail) of the set, in mailbox order. Found by bisection, as a real server's index
        would: the benchmarks' mailbox grows to thousands of mails, and a scan would be the stand-in's cost."""
        if not self.mails:
            return []
        highest = self.mails[-1].uid if by_uid else len(self.mails)
        chosen: set[int] = set()  # indexes into self.mails (UIDs ascend with them: mails are never removed)
        for low, high in _ranges(sequence_set, highest):
            if by_uid:
                start = bisect.bisect_left(self.mails, low, key=_uid_of)
                stop = bisect.bisect_right(self.mails, high, key=_uid_of)
            else:
                start, stop = max(low, 1) - 1, min(high, len(self.mails))
            chosen.update(range(start, stop))
        return [(index + 1, self.mails[index]) for index in sorted(chosen)]

    def _search(self, words: list[str], by_uid: bool) -> list[bytes]:
        criteria = [w.upper() for w in words if w.upper() not in ("CHARSET", "UTF-8", "US-ASCII")] or ["ALL"]
        if not set(criteria) <= {"ALL", "UNSEEN", "SEEN"}:
            raise ValueError(f"unsupported search criteria {criteria}")
        found = []
        for seq, mail in enumerate(self.mails, 1):
            seen = "\\Seen" in mail.flags
            if all(c == "ALL" or (c == "UNSEEN") != seen for c in criteria):
                found.append(str(mail.uid if by_uid else seq))
        return [f"* SEARCH{' ' if found else ''}{' '.join(found)}\r\n".encode()]

    def _fetch(self, sequence_set: str, items_text: str, by_uid: bool, state: dict[str, Any]) -> list[bytes]:
        items = [i.upper() for i in re.findall(r"BODY(?:\.PEEK)?\[[^\]]*\](?:<\d+\.\d+>)?|[^\s()]+", items_text)]
        if not items:
            raise ValueError("no FETCH items")
        macros = {"ALL": ["FLAGS", "INTERNALDATE", "RFC822.SIZE"], "FAST": ["FLAGS", "INTERNALDATE", "RFC822.SIZE"]}
        items = [expanded for item in items for expanded in macros.get(item, [item])]
        if by_uid and "UID" not in items:
            items.insert(0, "UID")
        untagged = []
        for seq, mail in self._selected(sequence_set, by_uid):
            parts: list[bytes] = []
            sets_seen = False
            for item in items:
                if item == "UID":
                    parts.append(f"UID {mail.uid}".encode())
                elif item == "FLAGS":
                    continue  # written last, after any \Seen this fetch sets
                elif item == "RFC822.SIZE":
                    parts.append(f"RFC822.SIZE {len(mail.raw)}".encode())
                elif item == "INTERNALDATE":
                    parts.append(b'INTERNALDATE "01-Jan-2025 09:00:00 +0800"')
                elif (partial := re.fullmatch(r"BODY(\.PEEK)?\[\]<(\d+)\.(\d+)>", item)) is not None:
                    start, count = int(partial.group(2)), int(partial.group(3))
                    part = mail.raw[start:start + count]  # RFC 3501 6.4.5: "BODY[]<start>", the octets there
                    parts.append(f"BODY[]<{start}> {{{len(part)}}}\r\n".encode() + part)
                    sets_seen |= partial.group(1) is None
                elif item in ("RFC822", "BODY[]", "BODY.PEEK[]"):
                    name = "RFC822" if item == "RFC822" else "BODY[]"
                    parts.append(f"{name} {{{len(mail.raw)}}}\r\n".encode() + mail.raw)
                    sets_seen |= not item.startswith("BODY.PEEK")
                elif item in ("RFC822.HEADER", "BODY[HEADER]", "BODY.PEEK[HEADER]"):
                    name = "RFC822.HEADER" if item == "RFC822.HEADER" else "BODY[HEADER]"
                    parts.append(f"{name} {{{len(mail.header)}}}\r\n".encode() + mail.header)
                else:
                    raise ValueError(f"unsupported FETCH item {item}")
            if sets_seen and not state["read_only"] and "\\Seen" not in mail.flags:
                mail.flags.add("\\Seen")
            if "FLAGS" in items or sets_seen:
                parts.append(f"FLAGS ({' '.join(sorted(mail.flags))})".encode())
            untagged.append(f"* {seq} FETCH (".encode() + b" ".join(parts) + b")\r\n")
        return untagged

    def _store(self, sequence_set: str, action: str, flags_text: str, by_uid: bool) -> list[bytes]:
        action = action.upper()
        silent = action.endswith(".SILENT")
        action = action.removesuffix(".SILENT")
        flags = {f for f in flags_text.strip("()").split() if f}
        known = {"\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"}
        flags = {next((k for k in known if k.lower() == f.lower()), f) for f in flags}
        if action not in ("+FLAGS", "-FLAGS", "FLAGS"):
            raise ValueError(f"unsupported STORE action {action}")
        untagged = []
        for seq, mail in self._selected(sequence_set, by_uid):
            if action == "+FLAGS":
                mail.flags |= flags
            elif action == "-FLAGS":
                mail.flags -= flags
            else:
                mail.flags = set(flags)
            if not silent:
                uid = f"UID {mail.uid} " if by_uid else ""
                untagged.append(f"* {seq} FETCH ({uid}FLAGS ({' '.join(sorted(mail.flags))}))\r\n".encode())
        return untagged


# -- SMTP ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SentMail:
    mail_from: str
    to: list[str]
    raw: bytes
    message: EmailMessage
    at: float

    @property
    def text(self) -> str:
        body = self.message.get_body(preferencelist=("plain",))
        return str(body.get_content()) if body is not None else ""

    def __getitem__(self, header: str) -> str:
        return str(self.message.get(header, "") or "")


class _Recorder:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope, hostname: str,  # noqa: N802
                          responses: list[str]) -> list[str]:
        """aiosmtpd reads commands one line at a time from a buffered stream, so pipelined commands (RFC 2920)
        work; it only does not say so."""
        session.host_name = hostname
        self.sink.greetings += 1
        if self.sink.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,  # noqa: N802
                          rcpt_options: list[str]) -> str:
        if address.lower() in self.sink.unknown_recipients:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd
        arrived = time.monotonic()  # before this stand-in's own parsing, which is no part of the sender's time
        if self.sink.refuse:
            return "451 4.3.0 try again later"
        raw = envelope.original_content or (envelope.content if isinstance(envelope.content, bytes) else
                                            str(envelope.content).encode())
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        sent = SentMail(str(envelope.mail_from), [str(r) for r in envelope.rcpt_tos], raw, message, arrived)
        with self.sink.changed:
            self.sink.mails.append(sent)
            self.sink.replies.setdefault(sent["In-Reply-To"], []).append(sent)
            self.sink.changed.notify_all()
        return "250 OK"


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class SmtpSink:
    """An SMTP server (aiosmtpd) on 127.0.0.1 that keeps every mail it accepts; see the module docstring."""

    def __init__(self, host: str = "127.0.0.1", tls: Optional[ssl.SSLContext] = None,
                 tls_mode: str = "starttls", pipelining: bool = True) -> None:
        """`tls` with `tls_mode` "starttls" (STARTTLS offered and required before mail, as on port 587) or "ssl"
        (implicit TLS, as on port 465); `pipelining`: PIPELINING in the EHLO answer, as real servers have it."""
        self.host = host
        self.pipelining = pipelining
        self.port = _free_port(host)
        self.mails: list[SentMail] = []
        self.greetings = 0  # EHLO/HELO received: about one per connection the client opened
        self.replies: dict[str, list[SentMail]] = {}  # by In-Reply-To
        self.refuse = False
        self.unknown_recipients: set[str] = set()  # RCPT TO these is refused for good (550)
        self.changed = threading.Condition()
        tls_options: dict[str, Any] = {} if tls is None else {"ssl_context": tls} if tls_mode == "ssl" else {
            "tls_context": tls, "require_starttls": True}
        # server_hostname: else aiosmtpd asks socket.getfqdn() on every connection
        self._controller = Controller(_Recorder(self), hostname=host, port=self.port, server_hostname="smtp.test",
                                      **tls_options)

    def start(self) -> SmtpSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def matching(self, where: Callable[[SentMail], bool]) -> list[SentMail]:
        with self.changed:
            return [m for m in self.mails if where(m)]

    def wait_for_reply(self, message_id: str, timeout: float = 60) -> SentMail:
        """The first mail answering `message_id` (its In-Reply-To), waiting up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not self.replies.get(message_id):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no answer to {message_id} within {timeout:.0f} s")
                self.changed.wait(remaining)
            return self.replies[message_id][0]

    def wait_for(self, where: Callable[[SentMail], bool], timeout: float = 60, count: int = 1) -> list[SentMail]:
        """The first `count` mails matching `where`, waiting up to `timeout` seconds for them."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                found = [m for m in self.mails if where(m)]
                if len(found) >= count:
                    return found[:count]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(found)} of {count} matching mails within {timeout:.0f} s; "
                                       f"got {[(m.to, m['Subject']) for m in self.mails]}")
                self.changed.wait(remaining)
