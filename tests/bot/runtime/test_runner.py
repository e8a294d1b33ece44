"""bot.runtime.runner against real processes."""
from __future__ import annotations

import socket
import tarfile
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.runtime.runner import Stack
from bot.shop import ensure_database


def test_a_model_rasa_cannot_load_stops_the_start_instead_of_a_bot_that_ignores_everyone(tmp_path: Path) -> None:
    """Rasa serves its webhooks even when the model failed to load (every message then goes unanswered): the
    stack refuses to start and says which model and where the log is."""
    (tmp_path / "notes.txt").write_text("not a model", encoding="utf-8")
    broken = tmp_path / "broken.tar.gz"
    with tarfile.open(broken, "w:gz") as archive:
        archive.add(tmp_path / "notes.txt", arcname="notes.txt")
    stack = Stack.from_settings(load_settings(), broken, free_ports=True, web=False)
    stack.state_dir, stack.shop_db, stack.redis_url = tmp_path / "state", tmp_path / "shop.db", None
    ensure_database(stack.shop_db)
    with pytest.raises(RuntimeError, match="could not load the model .*broken.tar.gz"):
        stack.start()
    for port in (stack.rasa_port, stack.actions_port):  # nothing left running
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0
