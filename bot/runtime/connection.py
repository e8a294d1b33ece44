"""How a command-line tool reaches the assistant's Redis, whether `make run` is going or not.

`REDIS_URL` wins. Otherwise the embedded Redis of the state directory: the one
`make run` started (its port is in `<state>/redis/port`), or, when the bot is
stopped, a temporary one on the same data files, stopped again afterwards.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

from bot.config import load_settings
from bot.runtime.redis_service import PORT_FILE, is_reachable, start_embedded
from bot.runtime.secrets_store import load_or_create


@contextmanager
def tool_redis() -> Iterator[str]:
    """A Redis URL for a tool, for the duration of the `with` block."""
    settings = load_settings()
    if settings.redis_url:
        yield settings.redis_url
        return
    redis_dir = settings.state_dir / "redis"
    password = load_or_create(settings.state_dir).redis_password
    running = _running_url(redis_dir, password)
    if running:
        yield running
        return
    server = start_embedded(redis_dir, password=password)
    try:
        yield server.url
    finally:
        server.stop()


def _running_url(redis_dir: Path, password: str) -> Optional[str]:
    try:
        port = int((redis_dir / PORT_FILE).read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None
    url = f"redis://:{password}@127.0.0.1:{port}/0"
    return url if is_reachable(url) else None
