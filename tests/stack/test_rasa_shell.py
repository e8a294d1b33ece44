"""`rasa shell` in the project: a trainer types Chinese into a terminal and the bot answers from the shop.

Runs Rasa's own command under a pseudo-terminal (its prompt needs one), with
the test stack's action server and Redis, as a trainer would with `make run`
running.
"""
from __future__ import annotations

import os
import pty
import re
import select
import signal
import sys
import time
from pathlib import Path

import pytest
import yaml

from bot.config import PROJECT_ROOT
from bot.runtime.redis_service import free_port
from tests.conftest import MODEL, RunningStack

pytestmark = pytest.mark.stack

# Colour and cursor codes prompt_toolkit writes around its prompt.
_TERMINAL_CODES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r")


class Terminal:
    """A child process on a pseudo-terminal, read as plain text."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: become the command
            os.chdir(PROJECT_ROOT)
            os.execve(args[0], args, env)
        self.seen = ""

    def read_until(self, pattern: str, timeout: float, since: int = 0) -> str:
        """Everything shown from offset `since` on, once it matches `pattern`."""
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.seen[since:]):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {pattern!r} within {timeout:.0f} s; the terminal showed:\n{self.seen[-3000:]}")
            ready, _, _ = select.select([self.fd], [], [], min(left, 1.0))
            if ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:  # the child closed the terminal
                    chunk = b""
                if not chunk:
                    raise AssertionError(f"the shell ended before {pattern!r}:\n{self.seen[-3000:]}")
                self.seen += _TERMINAL_CODES.sub("", chunk.decode("utf-8", errors="replace"))
        return self.seen[since:]

    def type(self, line: str) -> None:
        os.write(self.fd, line.encode("utf-8") + b"\r")

    def close(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            try:  # keep the terminal drained so the child never blocks on writing
                if select.select([self.fd], [], [], 0.2)[0]:
                    os.read(self.fd, 65536)
            except OSError:
                time.sleep(0.2)
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        os.close(self.fd)
        raise AssertionError(f"rasa shell did not exit within {timeout:.0f} s after /stop")


def test_rasa_shell_answers_from_the_shop(stack: RunningStack, tmp_path: Path) -> None:
    endpoints = yaml.safe_load((PROJECT_ROOT / "endpoints.yml").read_text(encoding="utf-8"))
    endpoints["action_endpoint"]["url"] = f"{stack.stack.actions_url}/webhook"  # with its Authorization header
    endpoints_file = tmp_path / "endpoints.yml"
    endpoints_file.write_text(yaml.safe_dump(endpoints, allow_unicode=True), encoding="utf-8")
    env = {
        **os.environ,
        "REDIS_URL": stack.stack.redis.url,
        **stack.stack.secrets.env(),  # the action server's secret, as `make run` hands it to Rasa
        "PYTHONPATH": str(PROJECT_ROOT),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PROMPT_TOOLKIT_NO_CPR": "1",  # no cursor-position query: nobody answers it on this terminal
        "TERM": "dumb",
    }
    shell = Terminal([sys.executable, "-m", "rasa", "shell", "--model", str(MODEL), "--endpoints", str(endpoints_file),
                      "--port", str(free_port())], env)
    try:
        shell.read_until(r"Your input ->", timeout=240)
        for question, expected in (("小米的手环多少钱", "169"), ("請問發票怎麼開", "发票")):
            start = len(shell.seen)
            shell.type(question)
            # The question is echoed (Traditional stays Traditional there); then the answer and the next prompt.
            shell.read_until(expected + r"[\s\S]*Your input ->", timeout=60, since=start)
        shell.type("/stop")
    finally:
        code = shell.close()
    assert code == 0
