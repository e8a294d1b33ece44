"""Bad input over REST: clear errors, polite answers, no crash, no data damage."""
from __future__ import annotations

import json

import pytest

from bot.shop.models import OrderStatus
from tests.conftest import RunningStack, new_sender

pytestmark = pytest.mark.stack


@pytest.mark.parametrize("body", [b"{not json", b"", b"[1, 2]", b'"hello"', b"null", b"\xff\xfe"])
def test_malformed_body_is_a_400_with_a_reason(stack: RunningStack, body: bytes) -> None:
    status, answer = stack.post(body)
    assert status == 400
    assert answer["error"] == "bad_request" and answer["message"]


def test_wrong_field_types_are_a_400(stack: RunningStack) -> None:
    assert stack.post(json.dumps({"sender": "x", "message": 42}).encode())[0] == 400
    assert stack.post(json.dumps({"sender": 7, "message": "hi"}).encode())[0] == 400
    assert stack.post(json.dumps({"sender": "x", "message": "hi", "metadata": [1]}).encode())[0] == 400


def test_over_long_message_gets_a_polite_answer(stack: RunningStack) -> None:
    answer = stack.chat(new_sender(), "我" * 10_000)
    assert "精简" in answer and "500" in answer


def test_huge_body_is_refused_before_parsing(stack: RunningStack) -> None:
    body = json.dumps({"sender": "x", "message": "a" * 1_000_000}).encode()
    status, _ = stack.post(body)
    assert status == 413


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_message_gets_a_prompt(stack: RunningStack, text: str) -> None:
    assert "有什么可以帮您" in stack.chat(new_sender(), text)


@pytest.mark.parametrize("text", [
    "😀😀😀", "🤔？？", "\x00\x01\x02hello\x7f", "'; DROP TABLE orders; --", "\" OR 1=1 --",
    "<script>alert(1)</script>", "Air Zoom 跑鞋 size 42 有货吗 ok?", "ＸＬ碼有貨嗎", "\u202e\u200b测试",
    "订单 2611' OR '1'='1", "9" * 400,
])
def test_odd_messages_neither_crash_nor_corrupt(stack: RunningStack, text: str) -> None:
    before = (len(stack.backend.find_orders(OrderStatus.PAID, limit=10_000)),
              len(stack.backend.find_products(None, limit=10_000)))
    sender = new_sender()
    answer = stack.say(sender, text)
    assert answer, "the bot should always answer"
    assert stack.say(sender, "你好")  # the conversation still works afterwards
    after = (len(stack.backend.find_orders(OrderStatus.PAID, limit=10_000)),
             len(stack.backend.find_products(None, limit=10_000)))
    assert after == before
