"""Order verification: order numbers and phone digits as shoppers type them."""
from __future__ import annotations

import time
from typing import Any

import pytest

from actions.orders import ValidateCancelOrderForm, ValidateOrderLookupForm
from actions.verification import (
    FLOW_SLOTS,
    MAX_VERIFY_FAILURES,
    VERIFIED,
    block,
    describe_order,
    parse_last4,
    parse_order_no,
    reset_flow,
)
from bot.config import load_settings
from bot.guard.order_access import order_access_guard
from bot.guard.screening import CLIENT_KEY
from bot.shop.models import Order, OrderStatus
from bot.shop.sqlite_backend import SqliteShopBackend
from tests.actions.conftest import Result, run_action
from tests.actions.helpers import FormTurn, last4, pick_order, slot_events, verified_slots, wrong_last4


@pytest.mark.parametrize("text, expected", [
    ("2611203345678901", "2611203345678901"),
    ("订单编号：2611203345678901 下单时间：2026-11-20 15:32:11", "2611203345678901"),
    ("单号2611203345678901。", "2611203345678901"),
])
def test_order_numbers_are_found_in_pasted_text(text: str, expected: str) -> None:
    assert parse_order_no(text) == (expected, "")


@pytest.mark.parametrize("text", ["12345678", "26112033456789012345", "1611203345678901"])
def test_malformed_order_numbers_get_a_hint(text: str) -> None:
    number, hint = parse_order_no(text)
    assert number is None and "16位" in hint and text in hint


def test_no_digits_get_a_hint() -> None:
    number, hint = parse_order_no("我忘了")
    assert number is None and "16位" in hint


@pytest.mark.parametrize("text, expected", [
    ("1234", "1234"), ("尾号5678", "5678"), ("手机13812345678", "5678"), ("后四位是 0090 哦", "0090"),
    ("不记得了", None), ("12345", None),
])
def test_phone_last_four(text: str, expected) -> None:
    assert parse_last4(text) == expected


# --- the verification every order form shares (run through the order look-up form) ----------------
FORM = "order_lookup_form"


def lookup(domain: dict[str, Any], text: str, extracted: dict[str, Any], **slots: Any) -> Result:
    """The look-up form's validation of one shopper message from which Rasa extracted `extracted`."""
    requested = next(iter(extracted))
    turn = FormTurn(text=text, active_loop=FORM, slots={"requested_slot": requested, **slots}, extracted=extracted)
    return run_action(ValidateOrderLookupForm(), turn, domain)


def test_right_order_number_and_last_four_verify_the_order(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.SHIPPED)
    r = lookup(domain, last4(order), {"phone_last4": last4(order)}, order_id=order.order_no)
    slots = r.slots()
    assert slots["verified_order"] == order.order_no
    assert slots["phone_last4"] == VERIFIED  # the digits themselves are not what stays in the slot
    assert slots["verify_failures"] == 0.0
    assert r.messages == []


def test_order_number_and_last_four_in_one_message_verify(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.DELIVERED)
    text = f"{order.order_no} 尾号{last4(order)}"
    r = lookup(domain, text, {"order_id": text, "phone_last4": text})
    assert r.slots()["order_id"] == order.order_no
    assert r.slots()["verified_order"] == order.order_no


def test_wrong_last_four_are_refused_and_counted(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.SHIPPED)
    r = lookup(domain, wrong_last4(order), {"phone_last4": wrong_last4(order)}, order_id=order.order_no)
    slots = r.slots()
    assert "verified_order" not in slots
    assert slots["phone_last4"] is None  # asked again
    assert slots["verify_failures"] == 1.0
    assert "对不上" in r.text and "后四位" in r.text
    assert order.order_no not in r.text and order.items[0].product_name not in r.text


def test_failures_add_up_across_attempts(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.SHIPPED)
    r = lookup(domain, wrong_last4(order), {"phone_last4": wrong_last4(order)}, order_id=order.order_no,
               verify_failures=1.0)
    assert r.slots()["verify_failures"] == 2.0
    assert "flow_blocked" not in r.slots()


def test_max_verify_failures_block_the_flow(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.SHIPPED)
    r = lookup(domain, wrong_last4(order), {"phone_last4": wrong_last4(order)}, order_id=order.order_no,
               verify_failures=float(MAX_VERIFY_FAILURES - 1))
    slots = r.slots()
    assert slots["verify_failures"] == float(MAX_VERIFY_FAILURES)
    assert slots["flow_blocked"] == "verification_failed"
    assert "requested_slot" in slots and slots["requested_slot"] is None  # the form has nothing left to ask
    assert "verified_order" not in slots
    assert "多次核对不一致" in r.text and "人工客服" in r.text


def test_a_blocked_flow_takes_no_more_digits(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.SHIPPED)
    r = lookup(domain, last4(order), {"phone_last4": last4(order)}, order_id=order.order_no,
               verify_failures=float(MAX_VERIFY_FAILURES), flow_blocked="verification_failed")
    assert "verified_order" not in r.slots()
    assert r.slots().get("requested_slot", "unset") is None


def test_unknown_order_number_gets_a_hint(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    unknown = "2600000000000001"
    assert shop.get_order(unknown) is None
    r = lookup(domain, unknown, {"order_id": unknown})
    assert r.slots()["order_id"] is None
    assert f"没有查到订单 {unknown}" in r.text and "我的订单" in r.text


def test_malformed_order_number_gets_the_format_hint(domain: dict[str, Any]) -> None:
    r = lookup(domain, "订单123456789", {"order_id": "订单123456789"})
    assert r.slots()["order_id"] is None
    assert "123456789" in r.text and "16位" in r.text


def test_order_number_typed_in_groups_is_accepted(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.PAID)
    grouped = " ".join(order.order_no[i:i + 4] for i in range(0, 16, 4))
    r = lookup(domain, grouped, {"order_id": grouped})
    assert r.slots()["order_id"] == order.order_no
    assert r.slots()["phone_last4"] is None  # a new order: its phone digits are asked next
    assert r.messages == []


def test_whole_phone_number_verifies(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.SHIPPED)
    r = lookup(domain, f"手机{order.phone}", {"phone_last4": f"手机{order.phone}"}, order_id=order.order_no)
    assert r.slots()["verified_order"] == order.order_no


@pytest.mark.parametrize("separator", ["-", " "])
def test_whole_phone_number_typed_in_groups_verifies(shop: SqliteShopBackend, domain: dict[str, Any],
                                                     separator: str) -> None:
    order = pick_order(shop, OrderStatus.SHIPPED)
    p = order.phone
    grouped = separator.join((p[:3], p[3:7], p[7:]))
    r = lookup(domain, grouped, {"phone_last4": grouped}, order_id=order.order_no)
    assert r.slots().get("verified_order") == order.order_no
    assert r.slots().get("verify_failures", 0.0) == 0.0


@pytest.mark.parametrize("text, expected", [("138 1234 5678", "5678"), ("手机号 138-1234-5678", "5678")])
def test_phone_typed_in_groups_gives_its_last_four(text: str, expected: str) -> None:
    assert parse_last4(text) == expected


def test_unclear_digits_are_asked_again_without_a_failure(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.SHIPPED)
    r = lookup(domain, "不记得了", {"phone_last4": "不记得了"}, order_id=order.order_no)
    assert r.slots()["phone_last4"] is None
    assert "verify_failures" not in r.slots()
    assert "后四位" in r.text


def test_an_already_verified_order_needs_no_second_check(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.COMPLETED)
    r = lookup(domain, order.order_no, {"order_id": order.order_no}, verified_order=order.order_no,
               verified_at=time.time())
    assert r.slots()["order_id"] == order.order_no
    assert r.slots()["phone_last4"] == VERIFIED


def test_another_order_number_needs_its_own_check(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    first, other = pick_order(shop, OrderStatus.COMPLETED), pick_order(shop, OrderStatus.COMPLETED, skip=1)
    r = lookup(domain, other.order_no, {"order_id": other.order_no}, **verified_slots(first))
    assert r.slots()["order_id"] == other.order_no
    assert r.slots()["phone_last4"] is None
    assert slot_events(r.events, "verified_order") == []  # the first order stays verified, the other is not


def test_a_forged_verified_marker_does_not_verify(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.COMPLETED)
    r = lookup(domain, VERIFIED, {"phone_last4": VERIFIED}, order_id=order.order_no)
    assert r.slots()["phone_last4"] is None
    assert "verified_order" not in r.slots()


def test_reset_flow_clears_every_flow_slot_and_keeps_the_verified_order() -> None:
    events = reset_flow()
    assert {e["name"] for e in events} == set(FLOW_SLOTS)
    assert all(e["value"] is None for e in events)
    assert "verified_order" not in FLOW_SLOTS and "verify_failures" not in FLOW_SLOTS


def test_block_tells_why_and_ends_the_flow() -> None:
    from rasa_sdk.executor import CollectingDispatcher

    dispatcher = CollectingDispatcher()
    events = block(dispatcher, "不能办理", "wrong_status")
    assert [m["text"] for m in dispatcher.messages] == ["不能办理"]
    assert events == [{"event": "slot", "timestamp": None, "name": "flow_blocked", "value": "wrong_status"}]


def test_describe_order_lists_status_and_items(shop: SqliteShopBackend) -> None:
    order = pick_order(shop, OrderStatus.DELIVERED, lambda o: len(o.items) > 1)
    text = describe_order(order)
    assert text.startswith(f"订单 {order.order_no}（{order.status.label}）")
    for i, item in enumerate(order.items, 1):
        assert f"{i}. {item.product_name}（{item.colour} {item.size}）×{item.quantity}" in text


# --- the order access guard (Redis), as the action server applies it -----------------------------------


def guess(domain: dict[str, Any], order: Order, digits: str, client: str, sender: str) -> Result:
    turn = FormTurn(text=digits, active_loop=FORM, sender_id=sender, metadata={CLIENT_KEY: client},
                    slots={"requested_slot": "phone_last4", "order_id": order.order_no},
                    extracted={"phone_last4": digits})
    return run_action(ValidateOrderLookupForm(), turn, domain)


def wrong_digits(order: Order) -> str:
    return "0000" if last4(order) != "0000" else "1111"


def test_guesses_from_new_conversations_lock_the_order(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.SHIPPED, skip=3)
    limit = load_settings().verify_failures_per_order
    for attempt in range(limit - 1):
        r = guess(domain, order, wrong_digits(order), f"ip:10.0.0.{attempt}", f"fresh-{attempt}")
        assert "锁定" not in r.text
    r = guess(domain, order, wrong_digits(order), "ip:10.0.0.99", "fresh-last")
    assert "锁定" in r.text and r.slots()["flow_blocked"] == "order_locked"
    # now even the right digits are not checked, from anyone
    r = guess(domain, order, last4(order), "ip:192.0.2.1", "the-owner")
    assert "锁定" in r.text and "verified_order" not in r.slots()
    assert any(b["payload"] == "/request_human" for m in r.messages for b in m.get("buttons") or [])
    locks = order_access_guard().recent_locks()
    assert locks[0]["order_no"] == order.order_no and locks[0]["scope"] == "order"
    order_access_guard().unlock(order.order_no)  # e.g. an agent verified the owner otherwise
    r = guess(domain, order, last4(order), "ip:192.0.2.1", "the-owner")
    assert r.slots()["verified_order"] == order.order_no


def test_one_client_guessing_many_orders_is_locked(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    limit = load_settings().verify_failures_per_client
    orders = [pick_order(shop, OrderStatus.DELIVERED, skip=i) for i in range(limit + 1)]
    for i, order in enumerate(orders[:limit]):
        r = guess(domain, order, wrong_digits(order), "ip:203.0.113.7", f"spray-{i}")
    assert "锁定" in r.text
    r = guess(domain, orders[limit], last4(orders[limit]), "ip:203.0.113.7", "spray-last")
    assert "锁定" in r.text and "verified_order" not in r.slots()
    r = guess(domain, orders[limit], last4(orders[limit]), "ip:198.51.100.2", "someone-else")
    assert r.slots()["verified_order"] == orders[limit].order_no


def test_a_stale_verification_asks_for_the_digits_again(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.COMPLETED, skip=2)
    stale = time.time() - load_settings().verification_ttl_seconds - 1
    r = lookup(domain, order.order_no, {"order_id": order.order_no}, verified_order=order.order_no, verified_at=stale)
    assert r.slots()["phone_last4"] is None


def test_cancelling_asks_for_the_digits_even_when_verified(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.PAID, skip=4)
    turn = FormTurn(text=order.order_no, active_loop="cancel_order_form",
                    slots={"requested_slot": "order_id", **verified_slots(order)},
                    extracted={"order_id": order.order_no})
    r = run_action(ValidateCancelOrderForm(), turn, domain)
    assert r.slots()["phone_last4"] is None


def test_two_answers_that_fill_nothing_offer_a_way_out(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    first = lookup(domain, "2699999999999999", {"order_id": "2699999999999999"})
    assert first.slots()["form_misses"] == 1.0 and "先不办了" not in str(first.messages)
    second = lookup(domain, "2698888888888888", {"order_id": "2698888888888888"}, form_misses=1.0)
    assert second.slots()["form_misses"] == 2.0
    payloads = [b["payload"] for m in second.messages for b in m.get("buttons") or []]
    assert payloads == ["/stop", "/request_human"]
    order = pick_order(shop, OrderStatus.SHIPPED, skip=5)
    filled = lookup(domain, order.order_no, {"order_id": order.order_no}, form_misses=2.0)
    assert filled.slots()["form_misses"] == 0.0
