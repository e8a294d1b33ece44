#!/usr/bin/env python
"""The e-mail benches' IMAP stand-in against a real IMAP server (Dovecot), in one run: how long each takes to
answer the channel's fetch, and to tell a client in IDLE of a new mail.

    python bench/bench_imap_servers.py            # about 30 s; needs Debian's dovecot-imapd

For each server, with Python's imaplib on loopback (the channel's own client library):

- fetch: a mail is put in the mailbox, then `UID FETCH <uid>:* (UID FLAGS RFC822.SIZE BODY.PEEK[]<0.N>)`
  (N: the channel's FIRST_BYTES),
  the look the channel sends behind an IDLE's DONE, is timed to its answer (200 mails);
- announce: a client waits in IDLE; a mail is put in the mailbox (the stand-in: in memory; Dovecot: IMAP APPEND
  on a second connection) and the time until the client reads "* N EXISTS" is taken from the moment it is there
  (30 mails).

So the e-mail bench's figures can be read against a real server: a slower fetch there would be the server's
cost, not the channel's; the announcement delay is what a shopper waits on top on such a server.
Not a test: it prints figures.
"""
from __future__ import annotations

import contextlib
import imaplib
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Iterator, Union

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_channel_email import IMAP_PASSWORD, IMAP_USER, shopper_mail  # noqa: E402
from connectors.email import FIRST_BYTES  # noqa: E402
from tests.dovecot import Dovecot, installed  # noqa: E402
from tests.fakes.imap_server import ImapStandIn  # noqa: E402

FETCHES = 200
ANNOUNCEMENTS = 30


@contextlib.contextmanager
def _logged_in(port: int) -> Iterator[imaplib.IMAP4]:
    client = imaplib.IMAP4("127.0.0.1", port)
    client.login(IMAP_USER, IMAP_PASSWORD)
    client.select("INBOX")
    try:
        yield client
    finally:
        client.logout()


def fetch_ms(port: int, deliver: Callable[[bytes], int], raw: bytes) -> list[float]:
    times = []
    with _logged_in(port) as client:
        for _ in range(FETCHES):
            uid = deliver(raw)
            client.noop()  # the mail announced: the fetch sees it on any server
            started = time.perf_counter()
            typ, data = client.uid("FETCH", f"{uid}:*", f"(UID FLAGS RFC822.SIZE BODY.PEEK[]<0.{FIRST_BYTES}>)")
            times.append((time.perf_counter() - started) * 1000)
            if typ != "OK" or not data or data[0] is None:
                raise RuntimeError(f"fetch of {uid}: {typ} {data!r}")
    return times


def announce_ms(port: int, deliver: Callable[[bytes], int], raw: bytes) -> list[float]:
    times = []
    with _logged_in(port) as client:
        for _ in range(ANNOUNCEMENTS):
            tag = client._new_tag()
            client.send(tag + b" IDLE\r\n")
            while not client.readline().startswith(b"+"):
                pass
            deliver(raw)
            there = time.perf_counter()
            while b"EXISTS" not in client.readline():
                pass
            times.append((time.perf_counter() - there) * 1000)
            client.send(b"DONE\r\n")
            while not client.readline().startswith(tag):
                pass
    return times


def main() -> int:
    if not installed():
        print("Dovecot is not installed: apt-get install dovecot-imapd", file=sys.stderr)
        return 2
    raw, _ = shopper_mail("shopper@example.com", "咨询", "我的订单什么时候发货", None)
    servers: list[tuple[str, Union[ImapStandIn, Dovecot]]] = [
        ("stand-in", ImapStandIn(IMAP_USER, IMAP_PASSWORD)), ("dovecot", Dovecot(IMAP_USER, IMAP_PASSWORD))]
    print(f"{'':10}{'fetch p50 ms':>14}{'fetch p99 ms':>14}{'announce p50 ms':>17}{'announce max ms':>17}")
    for name, server in servers:
        with server:
            fetched = fetch_ms(server.port, server.deliver, raw)
            announced = announce_ms(server.port, server.deliver, raw)
        fetched.sort()
        print(f"{name:10}{statistics.median(fetched):14.3f}{fetched[int(0.99 * (len(fetched) - 1))]:14.3f}"
              f"{statistics.median(announced):17.1f}{max(announced):17.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
