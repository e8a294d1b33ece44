"""Bad input stays a 400 with a reason or a polite answer, over REST, and the server keeps serving.

The four inputs that broke a turn before (a message of only a zero-width space,
only a control character, a lone surrogate, a deeply nested body), the other
malformed shapes, and a bounded batch of random requests.
"""
from __future__ import annotations

import json
import random

import pytest

from bot.guard.screening import MAX_METADATA_BYTES, MAX_SENDER_CHARS
from tests.conftest import RunningStack, new_sender

pytestmark = pytest.mark.stack


def raw(text_json: str, sender: str = "") -> bytes:
    """A REST body with the message given as raw JSON (so lone surrogates can be sent)."""
    return ('{"sender": ' + json.dumps(sender or new_sender()) + ', "message": ' + text_json + "}").encode()


@pytest.mark.parametrize("message_json", [r'"\u200b"', r'"\u0007"', r'"\u200b\u200c\ufeff \u0007\u0000"',
                                          r'"\u2028\u2029"', r'"\u202e"'])
def test_invisible_or_control_only_gets_a_prompt(stack: RunningStack, message_json: str) -> None:
    status, answer = stack.post(raw(message_json))
    assert status == 200 and "有什么可以帮您" in answer[0]["text"]


def test_lone_surrogate_is_answered_politely(stack: RunningStack) -> None:
    sender = new_sender()
    status, answer = stack.post(raw(r'"\ud800abc"', sender))
    assert status in (200, 400), answer
    if status == 200:
        assert answer and answer[0].get("text")
    assert stack.say(sender, "你好")


@pytest.mark.parametrize("depth", [50, 3000, 20_000])  # all under the 64 KB body limit
def test_deeply_nested_body_is_a_400(stack: RunningStack, depth: int) -> None:
    body = '{"sender": "x", "message": "hi", "metadata": {"a": ' + "[" * depth + "]" * depth + "}}"
    status, answer = stack.post(body.encode())
    assert status == 400 and answer["error"] == "bad_request", answer


def test_oversized_metadata_and_sender_are_400(stack: RunningStack) -> None:
    big = {"sender": new_sender(), "message": "hi", "metadata": {"x": "a" * (MAX_METADATA_BYTES + 1)}}
    assert stack.post(json.dumps(big).encode())[0] == 400
    long_sender = {"sender": "s" * (MAX_SENDER_CHARS + 1), "message": "hi"}
    assert stack.post(json.dumps(long_sender).encode())[0] == 400


@pytest.mark.parametrize("body", [
    {"sender": ["x"], "message": "hi"}, {"sender": {"a": 1}, "message": "hi"}, {"sender": None, "message": "hi"},
    {"sender": "x", "message": {"text": "hi"}}, {"sender": "x", "message": True}, {"sender": "x", "message": 1.5},
    {"sender": "x", "message": "hi", "metadata": "str"}, {"sender": "x", "message": "hi", "metadata": 3},
    {"sender": "x", "message": "hi", "input_channel": ["evil"]},
])
def test_wrong_types_anywhere_are_400(stack: RunningStack, body: dict) -> None:
    status, answer = stack.post(json.dumps(body).encode())
    assert status == 400, answer


def test_the_client_does_not_choose_the_channel(stack: RunningStack) -> None:
    sender = new_sender()
    body = {"sender": sender, "message": "我要找人工客服", "input_channel": "vip-backoffice"}
    status, _ = stack.post(json.dumps(body).encode())
    assert status == 200
    tracker = stack.tracker(sender)
    channels = {e.get("input_channel") for e in tracker["events"] if e.get("event") == "user"}
    assert channels == {"rest"}


def _random_value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(8 if depth < 4 else 5)
    if kind == 0:
        return rng.randint(-10**12, 10**12)
    if kind == 1:
        return rng.random() * 1e6
    if kind == 2:
        return None if rng.random() < 0.5 else rng.random() < 0.5
    if kind in (3, 4):
        return "".join(chr(rng.choice([rng.randrange(0x20, 0x7f), rng.randrange(0x80, 0xd7ff),
                                        rng.randrange(0xe000, 0x10ffff), rng.randrange(0, 0x20)]))
                       for _ in range(rng.randrange(0, 40)))
    if kind in (5, 6):
        return {str(_random_value(rng, depth + 1))[:20]: _random_value(rng, depth + 1) for _ in range(rng.randrange(4))}
    return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]


def test_random_requests_never_get_a_500(stack: RunningStack) -> None:
    rng = random.Random(20261130)
    statuses = []
    for _ in range(150):
        body: dict = {"sender": new_sender() if rng.random() < 0.7 else _random_value(rng),
                      "message": _random_value(rng) if rng.random() < 0.5 else str(_random_value(rng))}
        if rng.random() < 0.4:
            body["metadata"] = _random_value(rng)
        payload = json.dumps(body).encode() if rng.random() < 0.9 else bytes(rng.randrange(256) for _ in range(50))
        statuses.append(stack.post(payload)[0])
    assert all(s < 500 for s in statuses), sorted(set(statuses))
    assert stack.say(new_sender(), "你好")
