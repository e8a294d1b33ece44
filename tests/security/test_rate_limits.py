"""Flooding the bot: a web chat conversation past its message limit gets a polite answer, not the bot."""
from __future__ import annotations

import json

import pytest

from bot.config import load_settings
from bot.guard.rate_limit import SLOW_DOWN_REPLY
from tests.conftest import RunningStack
from tests.security.test_identity import new_session

pytestmark = pytest.mark.stack


def test_a_flooding_session_is_slowed_down(stack: RunningStack) -> None:
    limit = load_settings().rate_conversation_per_minute
    token, session_id = new_session(stack)
    results = [stack.post(json.dumps({"message": f"你好{i}"}).encode(), authorization=f"Bearer {token}")
               for i in range(limit + 5)]
    statuses = [status for status, _ in results]
    assert statuses[:limit] == [200] * limit
    assert statuses[limit:] == [429] * 5
    assert all(answer[0]["text"] == SLOW_DOWN_REPLY for _, answer in results[limit:])
    user_events = [e for e in stack.tracker(session_id)["events"] if e.get("event") == "user"]
    assert len(user_events) == limit  # nothing past the limit reached the bot
