"""The channel's mail clients: smtplib to send, imaplib to read the mailbox. Both block; the channel runs them in
threads (the mailbox in one thread of its own: an IMAP connection is not thread-safe).

Python 3.10's imaplib has no IDLE (RFC 2177); `Mailbox.idle` speaks it on imaplib's connection: it sends the
command, reads the continuation, then waits with `select` on the socket (and on a wake-up socket, so the channel
can have the connection back for a STORE; `selectors`, not `select.select`, which fails past descriptor 1023),
reading only whole lines that are there, then sends DONE and reads
the tagged answer (`Mailbox.idle_then`: sends the next commands right behind DONE and lets imaplib read the
answer on the way). `Mailbox.look_new` asks for the mails past the last look by UID range (RFC 3501 UIDs only
grow; SELECT's UIDNEXT starts it) instead of searching, and a STORE of \\Seen can ride in the same write.
IDLE waits with `select`, not a socket time-out: one leaves imaplib's buffered reader unusable ("cannot read
from timed out object").

`Sender.open` starts a mail before it is written (MAIL FROM, RCPT TO and DATA; pipelined, RFC 2920, where the
server offers it), so the channel can have the round trips done while the bot thinks; `Envelope.deliver` sends
the mail. `Sender.open_now` does the same from the event loop without waiting, on a connection in hand: it writes
the three commands and leaves their replies for `deliver` to read."""
from __future__ import annotations

import contextlib
import imaplib
import io
import re
import selectors
import smtplib
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from functools import cache
from typing import Callable, Collection, Optional, TypeVar, Union

T = TypeVar("T")
TLS_MODES = ("starttls", "ssl", "none")
SMTP_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
IMAP_PORTS = {"starttls": 143, "ssl": 993, "none": 143}
TIMEOUT_SECONDS = 30

MailError = (OSError, smtplib.SMTPException, imaplib.IMAP4.error, ssl.SSLError)


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    tls: str  # starttls, ssl or none
    user: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    ca_file: Optional[str] = None  # the CA bundle to trust (None: the system's)


def connect(server: Server, helo: str) -> smtplib.SMTP:
    """A logged-in SMTP connection. EHLO names our domain: without it smtplib asks socket.getfqdn(), a reverse
    DNS lookup per connection (seconds where DNS is slow or absent)."""
    client: smtplib.SMTP
    if server.tls == "ssl":
        client = smtplib.SMTP_SSL(server.host, server.port, local_hostname=helo, timeout=TIMEOUT_SECONDS,
                                  context=tls_context(server.ca_file))
    else:
        client = smtplib.SMTP(server.host, server.port, local_hostname=helo, timeout=TIMEOUT_SECONDS)
    try:
        client.ehlo_or_helo_if_needed()
        if server.tls == "starttls":
            client.starttls(context=tls_context(server.ca_file))
            client.ehlo()
        if server.user:
            client.login(server.user, server.password or "")
    except BaseException:
        client.close()
        raise
    return client


class Sender:
    """Sends mail through one SMTP server, keeping a few connections open between mails (a TLS handshake and a
    login per mail cost more than the mail). A connection idle for a while is checked with NOOP before reuse;
    one that fails is dropped, and the error goes to the caller, who keeps the mail for later: nothing is
    resent here, so nothing goes out twice."""

    REUSE_WITHOUT_CHECK_SECONDS = 5.0
    MAX_IDLE_SECONDS = 60.0

    def __init__(self, server: Server, max_idle_connections: int = 8) -> None:
        self.server = server
        self.max_idle_connections = max_idle_connections
        self._idle: list[tuple[smtplib.SMTP, float]] = []
        self._lock = threading.Lock()

    def _take(self, helo: str) -> smtplib.SMTP:
        while True:
            with self._lock:
                client, since = self._idle.pop() if self._idle else (None, 0.0)
            if client is None:
                return connect(self.server, helo)
            idle = time.monotonic() - since
            if idle < self.REUSE_WITHOUT_CHECK_SECONDS:
                return client
            if idle < self.MAX_IDLE_SECONDS:
                try:
                    if client.noop()[0] == 250:
                        return client
                except (OSError, smtplib.SMTPException):
                    pass
            _quietly_close(client)

    def open(self, sender: str, recipient: str) -> Envelope:
        """Start a mail to `recipient` before it is written (raises on refusal, as `send` does)."""
        client = self._take(sender.rpartition("@")[2] or "localhost")
        try:
            replies = _begin(client, sender, recipient)
        except BaseException:
            _quietly_close(client)
            raise
        self._accepted(client, replies, sender, recipient)
        return Envelope(self, client)

    def open_now(self, sender: str, recipient: str) -> Optional[Envelope]:
        """Start a mail without waiting, for a caller that must not block (the event loop): on a connection used
        within REUSE_WITHOUT_CHECK_SECONDS whose server lists PIPELINING, MAIL FROM, RCPT TO and DATA are written
        now (a hundred bytes, which the idle socket takes at once) and their replies read by `deliver`, in its
        thread, so no thread runs beside the turn. None when there is no such connection (or it broke on the
        write): then `open`, in a thread."""
        with self._lock:
            if not self._idle or time.monotonic() - self._idle[-1][1] >= self.REUSE_WITHOUT_CHECK_SECONDS \
                    or not self._idle[-1][0].has_extn("pipelining"):
                return None
            client, _ = self._idle.pop()
        try:
            client.send(_one_write(_envelope(sender, recipient)))
        except (OSError, smtplib.SMTPException):
            _quietly_close(client)
            return None
        return Envelope(self, client, pending=(sender, recipient))

    def _accepted(self, client: smtplib.SMTP, replies: list[tuple[int, bytes]], sender: str, recipient: str
                  ) -> None:
        """Raise as smtplib does when the server refused the envelope (`replies`: to MAIL FROM, RCPT TO, DATA); a
        refused recipient leaves the connection usable and back in the pool, any other refusal closes it."""
        try:
            (mail_code, mail_reply), (rcpt_code, rcpt_reply), (data_code, data_reply) = replies
            if data_code == 354 and (mail_code != 250 or rcpt_code not in (250, 251)):
                # A server taking DATA with no one to send to: the connection is in the middle of a mail.
                raise smtplib.SMTPDataError(data_code, b"DATA accepted after a refusal: " + data_reply)
            if mail_code != 250:
                raise smtplib.SMTPSenderRefused(mail_code, mail_reply, sender)
            if rcpt_code not in (250, 251):
                client.rset()
                self._give_back(client)  # the connection is fine, the address is not
                raise smtplib.SMTPRecipientsRefused({recipient: (rcpt_code, rcpt_reply)})
            if data_code != 354:
                raise smtplib.SMTPDataError(data_code, data_reply)
        except smtplib.SMTPRecipientsRefused:
            raise
        except BaseException:
            _quietly_close(client)
            raise

    def send(self, mail: bytes, sender: str, recipient: str) -> None:
        """Hand one mail (its wire bytes) to the SMTP server (raises on refusal: the caller keeps it for later)."""
        self.open(sender, recipient).deliver(mail)

    def _give_back(self, client: smtplib.SMTP) -> None:
        with self._lock:
            if len(self._idle) < self.max_idle_connections:
                self._idle.append((client, time.monotonic()))
                return
        _quietly_close(client)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for client, _ in idle:
            _quietly_close(client)


_NOT_SENT = (503, b"not sent: an earlier command was refused")


def _envelope(sender: str, recipient: str) -> list[str]:
    return [f"MAIL FROM:{smtplib.quoteaddr(sender)}", f"RCPT TO:{smtplib.quoteaddr(recipient)}", "DATA"]


def _one_write(commands: list[str]) -> str:
    """Commands sent together, without waiting for each reply (RFC 2920)."""
    return "".join(f"{command}\r\n" for command in commands)


def _begin(client: smtplib.SMTP, sender: str, recipient: str) -> list[tuple[int, bytes]]:
    """The replies to MAIL FROM, RCPT TO and DATA: sent in one write where the server offers PIPELINING (RFC 2920:
    one round trip instead of three; a hosted server is tens of milliseconds away), else one at a time, stopping
    at the first refusal."""
    commands = _envelope(sender, recipient)
    if client.has_extn("pipelining"):
        client.send(_one_write(commands))
        return [client.getreply() for _ in commands]
    replies: list[tuple[int, bytes]] = []
    for command, accepted in zip(commands, ((250,), (250, 251), (354,))):
        replies.append(client.docmd(command))
        if replies[-1][0] not in accepted:
            break
    return replies + [_NOT_SENT] * (len(commands) - len(replies))


_LEADING_DOT = re.compile(rb"(?m)^\.")


class Envelope:
    """A mail transaction whose MAIL FROM, RCPT TO and DATA the server has accepted, waiting for the mail: the
    channel opens it while the bot's turn runs, so only the mail itself is on the shopper's wait. `deliver` or
    `abandon` it once (a server waits minutes for the data, RFC 5321 4.5.3.2)."""

    def __init__(self, sender: Sender, client: smtplib.SMTP, pending: Optional[tuple[str, str]] = None) -> None:
        self._sender = sender
        self._client: Optional[smtplib.SMTP] = client
        self._pending = pending  # (sender, recipient) of commands written by `Sender.open_now`, replies unread

    def deliver(self, mail: bytes) -> None:
        """Send the mail and end the transaction (raises when the server does not take it, or refused the
        envelope `Sender.open_now` started)."""
        client, self._client = self._client, None
        assert client is not None, "an envelope is delivered once"
        if self._pending is not None:
            try:
                replies = [client.getreply() for _ in range(3)]
            except BaseException:
                _quietly_close(client)
                raise
            self._sender._accepted(client, replies, *self._pending)
        data = _LEADING_DOT.sub(b"..", mail)  # RFC 5321 4.5.2: a line's leading dot is doubled
        try:
            client.send(data + (b".\r\n" if data.endswith(b"\r\n") else b"\r\n.\r\n"))
            code, reply = client.getreply()
            if code != 250:
                raise smtplib.SMTPDataError(code, reply)
        except BaseException:
            _quietly_close(client)
            raise
        self._sender._give_back(client)

    def abandon(self) -> None:
        """No mail after all: the connection goes (in the middle of DATA, a command would be taken as text)."""
        client, self._client = self._client, None
        if client is not None:
            client.close()


def _quietly_close(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        client.close()


def send(server: Server, mail: bytes, sender: str, recipient: str) -> None:
    """Hand one mail to the SMTP server on a connection of its own."""
    one = Sender(server, max_idle_connections=0)
    one.send(mail, sender, recipient)


@cache
def tls_context(ca_file: Optional[str] = None) -> ssl.SSLContext:
    """A verifying TLS context trusting `ca_file` (default: the system's CA bundle), loaded once per bundle
    (tens of milliseconds of CPU each time otherwise)."""
    return ssl.create_default_context(cafile=ca_file)


def permanent(error: BaseException) -> bool:
    """Whether the SMTP server refused for good (5xx: a bad recipient, a message it will never take)."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(int(code) >= 500 for code, _ in error.recipients.values())
    return isinstance(error, smtplib.SMTPResponseException) and error.smtp_code >= 500


_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
_LITERAL = re.compile(rb"\{(\d+)\}\r?\n?$")
_NEWS = re.compile(rb"^\* (\d+) (EXISTS|RECENT)\b", re.IGNORECASE)

# What `Mailbox.idle` returns.
NEW_MAIL = "new mail"  # the server announced a message (EXISTS/RECENT): look at the mailbox now
TIME_UP = "time up"  # nothing happened for the time asked
WOKEN = "woken"  # `interrupt()` was called: the connection is wanted for something else
NO_IDLE = "no idle"  # the server does not offer IDLE (or refused it on this connection): poll instead
_UID = re.compile(rb"\bUID (\d+)")
_NUMBER = re.compile(rb"^(\d+) ")  # a FETCH response's message sequence number
_FLAGS = re.compile(rb"\bFLAGS \(([^)]*)\)", re.IGNORECASE)


@dataclass(frozen=True)
class Looked:
    """What one look at the mailbox (`Mailbox.look`, `Mailbox.look_new`) found."""

    unseen: list[int]  # the unseen mails' UIDs, oldest first
    found: dict[int, tuple[int, bytes]]  # {uid: (size, its first octets)} of those not skipped
    complete: bool = True  # every unseen mail in the mailbox; False: only those that arrived since the last look
    unmarked: tuple[int, ...] = ()  # of the UIDs to mark seen on the way, those the server would not mark


@dataclass
class _Fetched:
    size: int  # RFC822.SIZE, 0 when not asked for
    data: bytes  # the literal (BODY[]...)
    seen: bool  # \Seen among its FLAGS (False when not asked for)
    number: int = 0  # its message sequence number when fetched


class Mailbox:
    """One IMAP connection to the service mailbox's INBOX (IMAP4rev1: UID SEARCH/FETCH/STORE)."""

    def __init__(self, server: Server, folder: str = "INBOX") -> None:
        self.server = server
        self.folder = folder
        self.client: Optional[imaplib.IMAP4] = None
        self.idle_offered = False  # the connected server lists IDLE in its CAPABILITY
        self.next_uid: Optional[int] = None  # every mail from this UID on arrived after the last look (None: unknown)
        self.idle_refused = False  # ... but answered our IDLE with NO/BAD (on this connection)
        self._wake_reader, self._wake_writer = socket.socketpair()  # interrupt(): any thread wakes an idle()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)

    def connect(self) -> None:
        self.close()
        server = self.server
        client: imaplib.IMAP4
        if server.tls == "ssl":
            client = imaplib.IMAP4_SSL(server.host, server.port, ssl_context=tls_context(server.ca_file),
                                       timeout=TIMEOUT_SECONDS)
        else:
            client = imaplib.IMAP4(server.host, server.port, timeout=TIMEOUT_SECONDS)
            if server.tls == "starttls":
                client.starttls(tls_context(server.ca_file))
        try:
            client.login(server.user or "", server.password or "")
            # Servers may offer more once logged in than in their greeting (imaplib asked before LOGIN).
            typ, data = client.capability()
            self._ok(typ, data, "CAPABILITY")
            offered = {word.upper() for chunk in data if isinstance(chunk, bytes) for word in chunk.split()}
            typ, data = client.select(self.folder)
            if typ != "OK":
                raise imaplib.IMAP4.error(f"SELECT {self.folder} refused: {data!r}")
        except BaseException:
            with contextlib.suppress(OSError):
                client.shutdown()
            raise
        self.client = client
        self.idle_offered, self.idle_refused = b"IDLE" in offered, False
        # RFC 3501 6.3.1: SELECT tells UIDNEXT; UIDs only grow, so later mails have this one or higher.
        uid_next = _number((client.untagged_responses.get("UIDNEXT") or [b""])[-1])
        self.next_uid = uid_next or None

    def _client(self) -> imaplib.IMAP4:
        if self.client is None:
            self.connect()
        assert self.client is not None
        return self.client

    def _ok(self, typ: str, data: object, what: str) -> None:
        if typ != "OK":
            raise imaplib.IMAP4.error(f"{what} refused: {data!r}")

    def unseen(self) -> list[int]:
        """The UIDs of the messages not yet marked \\Seen, oldest first."""
        client = self._client()
        # Announcements of earlier mail are done with: this search sees it. Mail announced with its answer stays
        # for idle() to find: it came later, or (Dovecot) the search looked at the mailbox as it was before.
        self._announced(client)
        typ, data = client.uid("SEARCH", "UNSEEN")
        self._ok(typ, data, "UID SEARCH")
        unseen = sorted(int(uid) for chunk in data if chunk for uid in bytes(chunk).split())
        if unseen and self.next_uid is not None:
            self.next_uid = max(self.next_uid, unseen[-1] + 1)
        return unseen

    def _fetch(self, which: str, items: str) -> dict[int, _Fetched]:
        """The messages of one UID FETCH (`which`: a UID set) by UID (one round trip for them all)."""
        if not which:
            return {}
        typ, data = self._client().uid("FETCH", which, f"(UID {items})")
        self._ok(typ, data, "UID FETCH")
        found: dict[int, _Fetched] = {}
        uid: Optional[int] = None
        current: Optional[_Fetched] = None  # the message being read

        def note(meta: bytes) -> None:
            nonlocal uid
            assert current is not None
            if (match := _UID.search(meta)) is not None:
                uid = int(match.group(1))
            if (match := _SIZE.search(meta)) is not None:
                current.size = int(match.group(1))
            if (match := _FLAGS.search(meta)) is not None:
                current.seen = b"\\SEEN" in match.group(1).upper().split()

        for part in data:
            if isinstance(part, tuple):  # b'3 (UID 7 RFC822.SIZE 123 BODY[] {123}', literal): a new message
                if current is not None and uid is not None:
                    found[uid] = current
                uid, current = None, _Fetched(0, part[1] if isinstance(part[1], bytes) else b"", False)
                if (match := _NUMBER.match(part[0])) is not None:
                    current.number = int(match.group(1))
                note(part[0])
            elif isinstance(part, bytes) and current is not None:  # b' UID 7 FLAGS (\\Seen))' after it (Gmail)
                note(part)
        if current is not None and uid is not None:
            found[uid] = current
        return found

    def look(self, skip: Collection[int], first_bytes: int, mark_seen: Collection[int] = ()) -> Looked:
        """Every unseen mail's UID, and {uid: (size, its first `first_bytes` octets)} of those not in `skip`: most
        mails whole, in two round trips and one call from the channel's loop. `mark_seen` (mails answered
        since) goes in the same write as the search."""
        client = self._client()
        storing = self._begin_store(client, mark_seen)
        unseen = self.unseen()
        unmarked = self._end_store(client, storing, mark_seen)
        found = self._fetch(",".join(str(uid) for uid in unseen if uid not in skip),
                            f"RFC822.SIZE BODY.PEEK[]<0.{first_bytes}>")
        return Looked(unseen, {uid: (f.size, f.data) for uid, f in found.items()}, True, unmarked)

    def look_new(self, skip: Collection[int], first_bytes: int, mark_seen: Collection[int] = ()) -> Looked:
        """The mails that arrived since the last look (UIDs from `next_uid` on), in one round trip: no search,
        the FETCH asks for them by UID range. Mails left unseen earlier are not in it (`complete` False); where
        `next_uid` is not known, or the range holds nothing new, it is `look`."""
        if self.next_uid is None:
            return self.look(skip, first_bytes, mark_seen)
        client = self._client()
        storing = self._begin_store(client, mark_seen)
        since = self.next_uid
        # "n:*" always holds the highest UID, even below n (RFC 3501 6.4.8): that one is not new.
        every = self._fetch(f"{since}:*", f"FLAGS RFC822.SIZE BODY.PEEK[]<0.{first_bytes}>")
        fetched = {uid: f for uid, f in every.items() if uid >= since}
        unmarked = self._end_store(client, storing, mark_seen)
        self._announced(client, max((f.number for f in every.values()), default=0))
        if not fetched:  # announced, yet nothing past the last look (an expunge, say): look at everything
            looked = self.look(skip, first_bytes)
            return Looked(looked.unseen, looked.found, True, unmarked)
        self.next_uid = max(fetched) + 1
        unseen = sorted(uid for uid, f in fetched.items() if not f.seen)
        return Looked(unseen, {uid: (fetched[uid].size, fetched[uid].data) for uid in unseen if uid not in skip},
                      False, unmarked)

    @staticmethod
    def _begin_store(client: imaplib.IMAP4, uids: Collection[int]) -> Optional[bytes]:
        """Send a STORE of \\Seen without waiting for its answer (the next command goes in the same round trip)."""
        if not uids:
            return None
        return client._command("UID", "STORE", ",".join(str(uid) for uid in sorted(uids)), "+FLAGS.SILENT",
                               "(\\Seen)")

    @staticmethod
    def _end_store(client: imaplib.IMAP4, tag: Optional[bytes], uids: Collection[int]) -> tuple[int, ...]:
        """The STORE's answer (imaplib has read it by now, on its way to the next command's): () when it took,
        else the UIDs it did not mark (a BAD or a broken connection raises)."""
        if tag is None:
            return ()
        typ, _ = client._command_complete("UID", tag)
        return () if typ == "OK" else tuple(sorted(uids))

    def messages(self, uids: list[int]) -> dict[int, bytes]:
        """{uid: the whole message} of these messages, without marking them seen."""
        return {uid: f.data for uid, f in self._fetch(",".join(str(uid) for uid in uids), "BODY.PEEK[]").items()}

    def message(self, uid: int) -> bytes:
        found = self.messages([uid])
        if uid not in found:
            raise LookupError(f"message {uid} is gone")
        return found[uid]

    def mark_seen(self, uids: Union[int, list[int]]) -> None:
        numbers = [uids] if isinstance(uids, int) else uids
        if not numbers:
            return
        client = self._client()
        if self._end_store(client, self._begin_store(client, numbers), numbers):
            raise imaplib.IMAP4.error(f"UID STORE \\Seen refused for {numbers}")

    # -- IDLE (RFC 2177) ------------------------------------------------------------------------------------------
    def interrupt(self) -> None:
        """From any thread: make a running (or the next) idle() return WOKEN soon."""
        with contextlib.suppress(BlockingIOError, OSError):  # a full buffer: a wake-up is pending anyway
            self._wake_writer.send(b"!")

    def _woken(self) -> bool:
        """Whether interrupt() was called since the last look (and forget it)."""
        woken = False
        while True:
            try:
                chunk = self._wake_reader.recv(256)
            except (BlockingIOError, InterruptedError):
                return woken
            if not chunk:
                return woken
            woken = True

    def idle(self, seconds: float) -> str:
        """Wait in IDLE until the server announces a message (NEW_MAIL), `seconds` pass (TIME_UP) or interrupt()
        is called (WOKEN); NO_IDLE at once where the server has no IDLE. A broken connection raises (and is
        dropped): the caller reconnects, and the next UNSEEN search finds whatever arrived meanwhile."""
        return self.idle_then(seconds, None)[0]

    def idle_then(self, seconds: float, then: Optional[Callable[[], T]]) -> tuple[str, Optional[T]]:
        """`idle`, and on NEW_MAIL `then()` (commands on this connection, e.g. `look`), sent right behind the
        IDLE's DONE rather than after the server confirms it: one round trip less on every mail (RFC 3501 5.5
        lets a client send a command without waiting for the one before to complete)."""
        client = self._client()
        if not self.idle_offered or self.idle_refused:
            return NO_IDLE, None
        if self._woken():
            return WOKEN, None
        if self._announced(client):  # with the answer to an earlier command (after the last search)
            return NEW_MAIL, then() if then is not None else None
        if seconds <= 0:
            return TIME_UP, None
        try:
            return self._idle(client, seconds, then)
        except BaseException:
            self._drop()  # mid-IDLE (or mid-`then`), a LOGOUT would only wait for the time-out
            raise

    def _announced(self, client: imaplib.IMAP4, known: Optional[int] = None) -> bool:
        """Whether the server announced mail since the last look (and forget it). `known`: the mailbox's last
        message number as a FETCH of "n:*" just saw it. An announcement of no more messages than that is of mail
        the fetch took in (a server may announce mail with the answer to the command that sees it); one of more
        is of mail it did not see (it came later, or, as with Dovecot, the server answered from the mailbox as
        the previous command left it) and stays for the next idle()."""
        exists = client.untagged_responses.pop("EXISTS", None)
        recent = client.untagged_responses.pop("RECENT", None) or []
        if known is not None and exists and any(_number(value) > known for value in exists):
            client.untagged_responses["EXISTS"], client.untagged_responses["RECENT"] = exists, recent
            return True
        return known is None and (bool(exists) or any(_number(value) for value in recent))

    def _idle(self, client: imaplib.IMAP4, seconds: float, then: Optional[Callable[[], T]]
              ) -> tuple[str, Optional[T]]:
        # imaplib's own kind of tag: when `then` follows DONE at once, imaplib's reader takes the IDLE's
        # completion on its way to the answer it waits for (an unknown tag would make it abort).
        tag = client._new_tag()
        try:
            return self._idle_tagged(client, tag, seconds, then)
        finally:
            client.tagged_commands.pop(tag, None)

    def _idle_tagged(self, client: imaplib.IMAP4, tag: bytes, seconds: float, then: Optional[Callable[[], T]]
                     ) -> tuple[str, Optional[T]]:
        client.send(tag + b" IDLE\r\n")
        outcome = TIME_UP
        while True:  # the continuation ("+ idling"), perhaps after untagged news
            line = self._line(client)
            if line.startswith(b"+"):
                break
            if line.startswith(tag + b" "):  # NO/BAD: advertised, but not for us
                self.idle_refused = True
                return NO_IDLE, None
            if self._news(line):
                outcome = NEW_MAIL
        deadline = time.monotonic() + seconds
        maybe_closed = False
        with selectors.DefaultSelector() as selector:
            selector.register(client.sock, selectors.EVENT_READ, "server")
            selector.register(self._wake_reader, selectors.EVENT_READ, "wake")
            while outcome == TIME_UP:
                ready = self._peek(client)
                if ready:
                    if self._news(self._line(client)):
                        outcome = NEW_MAIL
                    maybe_closed = False
                    continue
                if maybe_closed and ready == b"":  # readable, yet nothing to read: the server hung up
                    raise imaplib.IMAP4.abort("connection closed while idling")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                events = {key.data for key, _ in selector.select(remaining)}
                if "wake" in events and self._woken():
                    outcome = WOKEN
                maybe_closed = "server" in events
        client.send(b"DONE\r\n")
        if outcome == NEW_MAIL and then is not None:
            result = then()
            completion: object = client.tagged_commands.get(tag)  # imaplib keeps (type, data) there
            if not (isinstance(completion, tuple) and completion[0] == "OK"):
                raise imaplib.IMAP4.error(f"IDLE ended with {completion!r}")
            return outcome, result
        while True:
            line = self._line(client)
            if line.startswith(tag + b" "):
                status = line[len(tag) + 1:].split(b" ", 1)[0].upper()
                if status != b"OK":
                    raise imaplib.IMAP4.error(f"IDLE ended with {line.strip()!r}")
                return outcome, None
            if self._news(line):
                outcome = NEW_MAIL

    @staticmethod
    def _peek(client: imaplib.IMAP4) -> Optional[bytes]:
        """What can be read without waiting (b"": nothing, or the server hung up; None: a partial TLS record)."""
        sock, reader = client.sock, client.file
        assert isinstance(reader, io.BufferedReader)  # imaplib's sock.makefile("rb")
        timeout = sock.gettimeout()
        sock.settimeout(0.0)
        try:
            return bytes(reader.peek(1))
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return None
        finally:
            sock.settimeout(timeout)

    @staticmethod
    def _line(client: imaplib.IMAP4) -> bytes:
        """One response line (a literal in it read along, not parsed); EOF raises imaplib's abort."""
        line = client.readline()
        if not line:
            raise imaplib.IMAP4.abort("socket error: EOF")
        if line.startswith(b"* BYE"):
            raise imaplib.IMAP4.abort(f"server said {line.strip()!r}")
        while (match := _LITERAL.search(line)) is not None:
            client.read(int(match.group(1)))
            line = client.readline()
            if not line:
                raise imaplib.IMAP4.abort("socket error: EOF")
        return line

    @staticmethod
    def _news(line: bytes) -> bool:
        match = _NEWS.match(line)
        return match is not None and (match.group(2).upper() == b"EXISTS" or int(match.group(1)) > 0)

    def _drop(self) -> None:
        """Close the connection without a word (it is broken, or in the middle of a command)."""
        client, self.client = self.client, None
        if client is not None:
            with contextlib.suppress(OSError):
                client.shutdown()

    def close(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        try:
            client.logout()
        except (*MailError, EOFError):
            pass


def _number(value: object) -> int:
    try:
        return int(bytes(value) if isinstance(value, (bytes, bytearray)) else str(value))
    except (TypeError, ValueError):
        return 0
