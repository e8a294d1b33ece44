"""Order actions: status and logistics of a verified order, cancelling, changing address or phone."""
from __future__ import annotations

import re
from typing import Any

from actions.orders import (
    ActionHandleOrder,
    ActionSubmitCancelOrder,
    ActionSubmitModifyOrder,
    ValidateCancelOrderForm,
    ValidateModifyOrderForm,
    logistics_timeline,
    order_summary,
)
from actions.verification import FLOW_SLOTS
from bot.privacy.masking import mask_address, mask_phone, mask_text
from bot.privacy.pending import pending_values
from bot.shop import after_sales
from bot.shop.formatting import yuan
from bot.shop.models import OrderStatus
from bot.shop.policy import REFUND_WORKING_DAYS, SHIP_WITHIN_HOURS
from bot.shop.sqlite_backend import SqliteShopBackend
from tests.actions.conftest import Result, Turn, run_action
from tests.actions.helpers import FormTurn, last4, pick_order, verified_slots


def flow_reset(r: Result) -> bool:
    slots = r.slots()
    return all(name in slots and slots[name] is None for name in FLOW_SLOTS)


# --- status and logistics ------------------------------------------------------------------------
def test_status_summary_of_a_verified_order(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.SHIPPED, lambda o: bool(o.events))
    r = run_action(ActionHandleOrder(), Turn(slots=verified_slots(order, order_goal="status")), domain)
    assert r.text == order_summary(order)
    assert f"订单 {order.order_no} 当前状态：{OrderStatus.SHIPPED.label}" in r.text
    assert f"实付：{yuan(order.total_paid)}（运费 {yuan(order.shipping_fee)}）" in r.text
    assert f"快递：{order.carrier} {order.tracking_no}" in r.text
    latest = order.events[-1]
    assert f"最新物流：{latest.at:%m-%d %H:%M} {latest.location} {latest.description}" in r.text
    for item in order.items:
        assert item.product_name in r.text
    assert flow_reset(r)


def test_status_is_the_default_goal(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.PAID)
    r = run_action(ActionHandleOrder(), Turn(slots=verified_slots(order)), domain)
    assert f"当前状态：{OrderStatus.PAID.label}" in r.text
    assert "快递：" not in r.text and "最新物流" not in r.text


def test_logistics_timeline_of_a_verified_order(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.DELIVERED, lambda o: len(o.events) >= 3)
    r = run_action(ActionHandleOrder(), Turn(slots=verified_slots(order, order_goal="logistics")), domain)
    lines = r.text.split("\n")
    assert lines[0] == f"订单 {order.order_no} 的物流（{order.carrier} {order.tracking_no}，{OrderStatus.DELIVERED.label}）："
    newest_first = [f"{e.at:%m-%d %H:%M} {e.location} {mask_text(e.description)}" for e in reversed(order.events)]
    assert lines[1:] == newest_first[:8]
    assert "签收" in lines[1]  # the delivery is the newest event
    courier = next(e.description for e in order.events if "电话" in e.description)
    phone = re.search(r"1[3-9]\d{9}", courier).group(0)
    assert phone not in r.text and f"{phone[:3]}****{phone[-4:]}" in r.text  # the courier's number, masked


def test_logistics_of_an_order_not_shipped_yet(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.PAID)
    r = run_action(ActionHandleOrder(), Turn(slots=verified_slots(order, order_goal="logistics")), domain)
    assert r.text == logistics_timeline(order)
    assert "还没有发货" in r.text and f"{SHIP_WITHIN_HOURS}小时内" in r.text


def test_nothing_is_shown_for_an_unverified_order(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    verified, asked = pick_order(shop, OrderStatus.SHIPPED), pick_order(shop, OrderStatus.SHIPPED, skip=1)
    slots = {**verified_slots(verified), "order_id": asked.order_no}
    r = run_action(ActionHandleOrder(), Turn(slots=slots), domain)
    assert r.messages == []
    assert flow_reset(r)


def test_nothing_is_shown_without_verification(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.SHIPPED)
    r = run_action(ActionHandleOrder(), Turn(slots={"order_id": order.order_no, "phone_last4": last4(order)}), domain)
    assert r.messages == []


def test_nothing_is_shown_when_the_flow_was_blocked(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.SHIPPED)
    r = run_action(ActionHandleOrder(), Turn(slots=verified_slots(order, flow_blocked="verification_failed")), domain)
    assert r.messages == []


# --- cancelling ----------------------------------------------------------------------------------
def cancel_form(order_no: str, digits: str, domain: dict[str, Any], **slots: Any) -> Result:
    turn = FormTurn(text=digits, active_loop="cancel_order_form",
                    slots={"order_id": order_no, "requested_slot": "phone_last4", **slots},
                    extracted={"phone_last4": digits})
    return run_action(ValidateCancelOrderForm(), turn, domain)


def test_paid_order_may_be_cancelled_and_is_shown_first(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.PAID)
    r = cancel_form(order.order_no, last4(order), domain)
    assert r.slots()["verified_order"] == order.order_no
    assert "flow_blocked" not in r.slots()
    assert f"实付 {yuan(order.total_paid)}" in r.text and order.items[0].product_name in r.text


def test_shipped_order_cannot_be_cancelled(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.SHIPPED)
    r = cancel_form(order.order_no, last4(order), domain)
    assert r.slots()["verified_order"] == order.order_no
    assert r.slots()["flow_blocked"] == "cancel_not_allowed"
    assert r.slots()["requested_slot"] is None  # no confirmation is asked
    assert r.text == after_sales.can_cancel(order).reason
    assert "已经发货" in r.text and "拒收" in r.text


def test_confirmed_cancel_cancels_a_paid_order(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.PAID, lambda o: len(o.items) == 1 and o.items[0].quantity == 1)
    item = order.items[0]
    product = shop.get_product(item.product_id)
    assert product is not None
    stock_before = product.stock_of(item.colour, item.size)

    r = run_action(ActionSubmitCancelOrder(), Turn(slots=verified_slots(order, cancel_confirm=True)), domain)

    cancelled = shop.get_order(order.order_no)
    assert cancelled is not None and cancelled.status == OrderStatus.CANCELLED
    assert cancelled.cancelled_at is not None
    assert r.text == f"订单 {order.order_no} 已取消，{yuan(order.total_paid)}会在{REFUND_WORKING_DAYS}个工作日内原路退回。"
    after = shop.get_product(item.product_id)
    assert after is not None and after.stock_of(item.colour, item.size) == stock_before + 1  # back on the shelf
    assert flow_reset(r)


def test_cancel_of_an_unpaid_order_promises_no_refund(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.PENDING_PAYMENT)
    r = run_action(ActionSubmitCancelOrder(), Turn(slots=verified_slots(order, cancel_confirm=True)), domain)
    assert r.text == f"订单 {order.order_no} 已取消。"
    cancelled = shop.get_order(order.order_no)
    assert cancelled is not None and cancelled.status == OrderStatus.CANCELLED


def test_declined_cancel_keeps_the_order(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.PAID)
    r = run_action(ActionSubmitCancelOrder(), Turn(slots=verified_slots(order, cancel_confirm=False)), domain)
    assert r.responses == ["utter_cancel_kept"]
    kept = shop.get_order(order.order_no)
    assert kept is not None and kept.status == OrderStatus.PAID


def test_cancel_is_checked_again_when_submitted(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.SHIPPED)  # e.g. shipped while the shopper was deciding
    r = run_action(ActionSubmitCancelOrder(), Turn(slots=verified_slots(order, cancel_confirm=True)), domain)
    assert r.text == after_sales.can_cancel(order).reason
    still = shop.get_order(order.order_no)
    assert still is not None and still.status == OrderStatus.SHIPPED


def test_blocked_cancel_does_nothing(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.PAID)
    slots = verified_slots(order, cancel_confirm=True, flow_blocked="verification_failed")
    r = run_action(ActionSubmitCancelOrder(), Turn(slots=slots), domain)
    assert r.messages == []
    still = shop.get_order(order.order_no)
    assert still is not None and still.status == OrderStatus.PAID


# --- changing address or phone ---------------------------------------------------------------------
def modify_form(order_slots: dict[str, Any], extracted: dict[str, Any], domain: dict[str, Any]) -> Result:
    turn = FormTurn(text=str(next(iter(extracted.values()))), active_loop="modify_order_form",
                    slots={"requested_slot": next(iter(extracted)), **order_slots}, extracted=extracted)
    return run_action(ValidateModifyOrderForm(), turn, domain)


def test_new_phone_must_have_eleven_digits(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.PAID)
    r = modify_form(verified_slots(order, order_field="phone"), {"new_value": "1380013800"}, domain)
    assert r.slots()["new_value"] is None
    assert "11位" in r.text


def test_new_phone_is_taken_from_the_message(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.PAID)
    r = modify_form(verified_slots(order, order_field="phone"), {"new_value": "新号码是13912345678"}, domain)
    assert r.slots()["new_value"] == "139****5678"  # the slot (and so the transcript) keeps it masked
    assert pending_values().take("action-test", "new_value") == "13912345678"
    assert r.messages == []


def test_new_address_is_kept_out_of_the_transcript(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.PAID)
    address = "上海市浦东新区世纪大道100号2栋1801室"
    r = modify_form(verified_slots(order, order_field="address"), {"new_value": address}, domain)
    assert r.slots()["new_value"] == "上海市浦东新区****"
    assert pending_values().take("action-test", "new_value") == address


def test_an_expired_pending_value_is_asked_again(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.PAID, skip=7)
    slots = verified_slots(order, order_field="phone", new_value="139****5678")  # nothing pending
    r = run_action(ActionSubmitModifyOrder(), Turn(slots=slots), domain)
    assert "失效" in r.text and shop.get_order(order.order_no).phone == order.phone


def test_new_address_must_be_complete(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.PAID)
    r = modify_form(verified_slots(order, order_field="address"), {"new_value": "北京"}, domain)
    assert r.slots()["new_value"] is None
    assert "地址太短" in r.text


def test_field_is_understood_from_words(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.PAID)
    r = modify_form(verified_slots(order), {"order_field": "收货地址写错了"}, domain)
    assert r.slots()["order_field"] == "address"
    assert "flow_blocked" not in r.slots()
    r = modify_form(verified_slots(order), {"order_field": "随便"}, domain)
    assert r.slots()["order_field"] is None
    assert "收货地址、联系电话或送货时间" in r.text


def test_address_of_a_shipped_order_cannot_change(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.SHIPPED)
    r = modify_form(verified_slots(order), {"order_field": "地址"}, domain)
    assert r.slots()["flow_blocked"] == "modify_not_allowed"
    assert r.slots()["requested_slot"] is None
    assert r.text == after_sales.can_modify(order, "address").reason
    assert "已经发货" in r.text and str(order.tracking_no) in r.text


def test_delivered_order_cannot_be_modified_at_all(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.DELIVERED)
    turn = FormTurn(text=last4(order), active_loop="modify_order_form",
                    slots={"order_id": order.order_no, "requested_slot": "phone_last4"},
                    extracted={"phone_last4": last4(order)})
    r = run_action(ValidateModifyOrderForm(), turn, domain)
    assert r.slots()["verified_order"] == order.order_no
    assert r.slots()["flow_blocked"] == "modify_not_allowed"
    assert f"已{OrderStatus.DELIVERED.label}" in r.text


def test_phone_change_is_saved_and_shown_masked(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.PAID, skip=5)
    new_phone = "13912345678" if order.phone != "13912345678" else "13812345678"
    slots = verified_slots(order, order_field="phone", new_value=mask_phone(new_phone))
    pending_values().put("action-test", "new_value", new_phone)
    r = run_action(ActionSubmitModifyOrder(), Turn(slots=slots), domain)
    changed = shop.get_order(order.order_no)
    assert changed is not None and changed.phone == new_phone
    assert r.text == f"已将订单 {order.order_no} 的联系电话改为：{new_phone[:3]}****{new_phone[-4:]}"
    assert new_phone not in r.text
    assert flow_reset(r)


def test_address_change_is_saved(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.PAID, skip=6)
    new_address = "上海市浦东新区世纪大道100号2栋1801室"
    slots = verified_slots(order, order_field="address", new_value=mask_address(new_address))
    pending_values().put("action-test", "new_value", new_address)
    r = run_action(ActionSubmitModifyOrder(), Turn(slots=slots), domain)
    changed = shop.get_order(order.order_no)
    assert changed is not None and changed.address == new_address
    assert new_address in r.text and "收货地址" in r.text


def test_address_of_a_shipped_order_is_not_changed_on_submit(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.SHIPPED, skip=2)
    slots = verified_slots(order, order_field="address", new_value="上海市浦东新区世纪大道100号2栋1801室")
    r = run_action(ActionSubmitModifyOrder(), Turn(slots=slots), domain)
    unchanged = shop.get_order(order.order_no)
    assert unchanged is not None and unchanged.address == order.address
    assert r.text == after_sales.can_modify(order, "address").reason


def test_delivery_time_of_a_shipped_order_can_change(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.SHIPPED, skip=3)
    slots = verified_slots(order, order_field="delivery_time", new_value="工作日晚上")
    r = run_action(ActionSubmitModifyOrder(), Turn(slots=slots), domain)
    changed = shop.get_order(order.order_no)
    assert changed is not None and changed.delivery_slot == "工作日晚上"
    assert "配送时间改为：工作日晚上" in r.text


def test_modify_of_an_unverified_order_does_nothing(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.PAID, skip=7)
    slots = {"order_id": order.order_no, "order_field": "phone", "new_value": "13912345678"}
    r = run_action(ActionSubmitModifyOrder(), Turn(slots=slots), domain)
    assert r.messages == []
    unchanged = shop.get_order(order.order_no)
    assert unchanged is not None and unchanged.phone == order.phone
