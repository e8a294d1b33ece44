"""Sliding-window counters in a real Redis: one round trip counts an event under several windows."""
from __future__ import annotations

import time
from pathlib import Path

import redis

from bot.guard.windows import SlidingWindows
from bot.runtime.redis_service import start_embedded


def test_an_event_is_counted_in_each_window_and_old_events_leave(tmp_path: Path) -> None:
    server = start_embedded(tmp_path, persist=False)
    try:
        client = redis.Redis.from_url(server.url)
        windows = SlidingWindows(client)
        assert windows.add_each(["w:conversation", "w:address"], 60) == [1, 1]
        assert windows.add_each(["w:address"], 60) == [2]
        assert windows.add("w:conversation", 60) == 2
        assert windows.add_each([], 60) == []
        assert 0 < client.pttl("w:address") <= 60_000  # a window expires with its newest event
        assert windows.add_each(["w:short"], 0.2) == [1]
        time.sleep(0.3)
        assert windows.add_each(["w:short", "w:address"], 0.2) == [1, 1]  # older than the window: gone
    finally:
        server.stop()
