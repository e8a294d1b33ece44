"""Guessing an order's phone digits: 20 wrong guesses from 20 new conversations lock the order."""
from __future__ import annotations

from typing import Iterator

import pytest
import redis

from bot.config import load_settings
from bot.guard.order_access import Limits, OrderAccessGuard
from bot.shop.models import Order, OrderStatus
from tests.conftest import RunningStack, new_sender

pytestmark = pytest.mark.stack
CLIENT = "ip:127.0.0.1"  # every request of this test comes from loopback


@pytest.fixture()
def guard(stack: RunningStack) -> Iterator[OrderAccessGuard]:
    assert stack.stack.redis is not None
    guard = OrderAccessGuard(redis.Redis.from_url(stack.stack.redis.url, decode_responses=True),
                             Limits.from_settings(load_settings()))
    yield guard
    guard.unlock_client(CLIENT)  # the rest of the suite comes from the same address


def a_shipped_order(stack: RunningStack, skip: int) -> Order:
    return [o for o in stack.backend.find_orders(OrderStatus.SHIPPED, limit=50)
            if o.order_no != stack.sample_order.order_no][skip]


def try_digits(stack: RunningStack, order: Order, digits: str) -> str:
    sender = new_sender()
    stack.chat(sender, "帮我查下订单")
    stack.chat(sender, order.order_no)
    return stack.chat(sender, digits)


def test_twenty_guesses_lock_the_order_and_never_open_it(stack: RunningStack, guard: OrderAccessGuard) -> None:
    order = a_shipped_order(stack, skip=7)
    wrong = "0000" if order.phone[-4:] != "0000" else "1111"
    limit = guard.limits.failures_per_order
    answers = [try_digits(stack, order, wrong) for _ in range(20)]
    assert not any(order.status.label in a or order.address in a for a in answers)
    assert not any("锁定" in a for a in answers[: limit - 1])
    assert all("锁定" in a for a in answers[limit - 1:])
    assert guard.refusal(order.order_no, None) is not None
    assert 0 < guard.redis.ttl(f"shop:guard:lock:order:{order.order_no}") <= guard.limits.lock_seconds
    # the owner is refused too while it is locked: the digits are not even checked
    guard.unlock_client(CLIENT)
    assert "锁定" in try_digits(stack, order, order.phone[-4:])
    locks = [lock for lock in guard.recent_locks() if lock["order_no"] == order.order_no]
    assert locks and locks[-1]["scope"] in ("order", "client")
    # an agent lifts the lock; the owner gets in
    guard.unlock(order.order_no)
    guard.unlock_client(CLIENT)
    answer = try_digits(stack, order, order.phone[-4:])
    assert order.order_no in answer and "锁定" not in answer

