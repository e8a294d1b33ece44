"""Session tokens and API keys (bot.guard.identity)."""
from __future__ import annotations

import time

import pytest

from bot.guard.identity import Caller, SessionTokens, api_key_name, bearer, identify


def test_a_token_names_its_conversation_until_it_expires() -> None:
    tokens = SessionTokens("k" * 32, max_age_seconds=1)
    token, session_id = tokens.issue()
    assert len(session_id) == 32 and tokens.session_of(token) == session_id
    assert tokens.issue(session_id)[1] == session_id
    time.sleep(2.1)
    assert tokens.session_of(token) is None


@pytest.mark.parametrize("bad", [None, "", "x", 42, "a" * 600])
def test_malformed_tokens_name_nothing(bad: object) -> None:
    assert SessionTokens("k" * 32, 60).session_of(bad) is None


def test_another_key_or_a_changed_token_name_nothing() -> None:
    token, _ = SessionTokens("k" * 32, 60).issue()
    assert SessionTokens("other" * 8, 60).session_of(token) is None
    assert SessionTokens("k" * 32, 60).session_of(token[:-2] + "xx") is None


def test_api_keys_and_bearer_headers() -> None:
    keys = ("first-key", "second-key")
    assert api_key_name("second-key", keys) == "key2" and api_key_name("nope", keys) is None
    assert bearer("Bearer abc") == "abc" and bearer("bearer abc") is None and bearer("Bearer ") is None
    tokens = SessionTokens("k" * 32, 60)
    token, session_id = tokens.issue()
    assert identify("Bearer first-key", keys, tokens) == Caller("api_key", "key1")
    assert identify(f"Bearer {token}", keys, tokens) == Caller("session", session_id)
    assert identify("Bearer first-key", (), None) is None
    assert identify(None, keys, tokens) is None
