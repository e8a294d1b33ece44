"""A real IMAP server for the e-mail channel's tests: Debian's Dovecot, one mailbox, on a free loopback port.

The channel's own IMAP stand-in (tests/fakes/imap_server.py) records every command, so the tests can check
what the channel asks; it was written by the same hands as the channel, though, and cannot show where the two
read RFC 3501 alike and a real server reads it otherwise. `Dovecot` runs the real thing in a directory of its
own (plain IMAP, no TLS), stopped with the test. Its test-facing side matches the stand-in's where a real
server allows it::

    with Dovecot("service@shop.test", "secret") as imap:
        uid = imap.deliver(raw)           # IMAP APPEND on a connection of its own; the UID from APPENDUID
        imap.wait_seen(uid)               # polls FLAGS
        imap.wait_idling(1)               # an imap process's title says IDLE (verbose_proctitle)
        imap.drop_connections()           # the server ends the user's connections ("* BYE")

Every user name with the password opens the one mailbox: the helper's own connection uses another name, so
`logins` (counted in the server's log), `idling` and `drop_connections` are the client's alone. Dovecot tells
an IDLE client of new mail about half a second after it arrives (2.3's own delay), so tests wait seconds.
Needs the `dovecot-imapd` package (bot/tools/system_deps.sh installs it where it can).
"""
from __future__ import annotations

import contextlib
import grp
import imaplib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

from bot.runtime.redis_service import free_port

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
HELPER = "test-helper"  # the tests' own connection logs in as another user of the same mailbox: not counted
_APPENDUID = re.compile(rb"APPENDUID \d+ (\d+)")
_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")

_CONFIG = """\
protocols = imap
listen = 127.0.0.1
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
instance_name = {instance}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
verbose_proctitle = yes
mail_location = maildir:{base}/mail/inbox
first_valid_uid = 1
first_valid_gid = 1
{users}
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={base}/mail
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


def installed() -> bool:
    return os.path.exists(DOVECOT)


class Dovecot:
    """Dovecot serving one INBOX for `user` on 127.0.0.1; see the module docstring."""

    def __init__(self, user: str = "service@shop.test", password: str = "secret") -> None:
        if not installed():
            raise RuntimeError("these tests need Dovecot: apt-get install dovecot-imapd (bot/tools/system_deps.sh)")
        self.user = user
        self.password = password
        self.host = "127.0.0.1"
        self.port = 0
        self.base = Path(tempfile.mkdtemp(prefix="dovecot-"))  # short: its unix sockets live under it
        self.config = self.base / "dovecot.conf"
        self._process: Optional[subprocess.Popen] = None
        self._helper: Optional[imaplib.IMAP4] = None
        self._lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------------------------
    def start(self) -> Dovecot:
        if os.geteuid() == 0:  # mail processes may not run as root: the unprivileged user Debian creates
            account = pwd.getpwnam("dovenull")
            users = ""
        else:  # everything as this user, and no chroot for the login process (that needs root)
            account = pwd.getpwuid(os.geteuid())
            users = (f"default_internal_user = {account.pw_name}\ndefault_login_user = {account.pw_name}\n"
                     f"default_internal_group = {grp.getgrgid(os.getegid()).gr_name}\n"
                     "service imap-login {\n  chroot =\n}\n")
        self.base.chmod(0o755)  # mkdtemp's 0700 would keep the mail user out of its mailbox
        for folder in ("run", "state", "mail"):
            (self.base / folder).mkdir(exist_ok=True)
        os.chown(self.base / "mail", account.pw_uid, account.pw_gid)
        self.port = free_port()
        self.config.write_text(_CONFIG.format(base=self.base, instance=self.base.name, users=users,
                                              password=self.password, uid=account.pw_uid, gid=account.pw_gid,
                                              port=self.port))
        self._process = subprocess.Popen([DOVECOT, "-F", "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while True:
            if self._process.poll() is not None:
                error = self._process.stderr.read().decode(errors="replace") if self._process.stderr else ""
                raise RuntimeError(f"dovecot did not start: {error}{self.log()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), timeout=1) as probe:
                if probe.recv(100).startswith(b"* OK"):
                    break
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"dovecot did not listen on {self.port} within 20 s: {self.log()[-2000:]}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        with self._lock:
            helper, self._helper = self._helper, None
        if helper is not None:
            with contextlib.suppress(Exception):
                helper.logout()
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=5)
        self._process = None
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> Dovecot:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def log(self) -> str:
        path = self.base / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- the mailbox, for tests -----------------------------------------------------------------------------
    def _call(self, work: Callable[[imaplib.IMAP4], Any]) -> Any:
        """`work` on the helper's own connection (opened once; tests call from several threads)."""
        with self._lock:
            for attempt in (1, 2):
                if self._helper is None:
                    helper = imaplib.IMAP4(self.host, self.port, timeout=10)
                    helper.login(HELPER, self.password)
                    helper.select("INBOX")
                    self._helper = helper
                try:
                    return work(self._helper)
                except (imaplib.IMAP4.abort, OSError):  # kicked with the channel's connections: once more
                    self._helper = None
                    if attempt == 2:
                        raise

    def deliver(self, raw: bytes, flags: tuple[str, ...] = ()) -> int:
        """A mail arrives in INBOX (IMAP APPEND); its UID."""
        def append(helper: imaplib.IMAP4) -> int:
            typ, data = helper.append("INBOX", f"({' '.join(flags)})" if flags else None, None,
                                      raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
            match = _APPENDUID.search(data[0] if data and isinstance(data[0], bytes) else b"")
            if typ != "OK" or match is None:
                raise RuntimeError(f"APPEND failed: {typ} {data!r}")
            return int(match.group(1))
        return int(self._call(append))

    def flags(self, uid: int) -> set[str]:
        def fetch(helper: imaplib.IMAP4) -> set[str]:
            helper.noop()  # Dovecot answers from the mailbox as the connection's last command left it
            typ, data = helper.uid("FETCH", str(uid), "(FLAGS)")
            match = _FLAGS.search(data[0] if data and isinstance(data[0], bytes) else b"")
            if typ != "OK" or match is None:
                raise LookupError(f"mail {uid}: {typ} {data!r}")
            return {flag.decode() for flag in match.group(1).split()}
        return set(self._call(fetch))

    def is_seen(self, uid: int) -> bool:
        return "\\Seen" in self.flags(uid)

    def unseen(self) -> list[int]:
        def search(helper: imaplib.IMAP4) -> list[int]:
            helper.noop()
            typ, data = helper.uid("SEARCH", "UNSEEN")
            return sorted(int(uid) for chunk in data if chunk for uid in bytes(chunk).split())
        return list(self._call(search))

    def _processes(self) -> dict[int, bytes]:
        """{pid: title} of this instance's imap processes serving the user (verbose_proctitle: the state of the
        connection, IDLE among them, is in the title)."""
        found = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").strip()
                if title.split(b" ", 1)[0].endswith(b"/imap") and f"[{self.user} ".encode() in title and \
                        self._ours(entry):
                    found[int(entry.name)] = title
        return found

    @property
    def idling(self) -> int:
        """The user's connections in IDLE now."""
        return sum(title.endswith(b" IDLE]") for title in self._processes().values())

    def _ours(self, process: Path) -> bool:
        """An imap process of this instance (tests may run several Dovecots): its parent is our master."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            parent = int((process / "stat").read_text().rsplit(")", 1)[1].split()[1])
            return self._process is not None and parent == self._process.pid
        return False

    @property
    def logins(self) -> int:
        return len(re.findall(rf"imap-login: (?:Info: )?Login: user=<{re.escape(self.user)}>", self.log()))

    def drop_connections(self) -> int:
        """End every connection of the user as the server does when it shuts down (SIGTERM to their imap
        processes: "* BYE", then the connection closes; `doveadm kick` does the same, but only as root)."""
        processes = self._processes()
        for pid in processes:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        return len(processes)

    def wait_idling(self, count: int = 1, timeout: float = 30) -> None:
        self.wait_until(lambda: self.idling >= count, timeout, f"{count} connection(s) in IDLE")

    def wait_seen(self, uid: int, timeout: float = 60) -> None:
        self.wait_until(lambda: self.is_seen(uid), timeout, f"mail {uid} was not marked seen")

    @staticmethod
    def wait_until(check: Callable[[], bool], timeout: float = 60, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} within {timeout:.0f} s")
            time.sleep(0.05)
