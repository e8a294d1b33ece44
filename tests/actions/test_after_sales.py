"""After-sales actions: what shoppers say about the goods becomes the form's condition code."""
from __future__ import annotations

from typing import Any, Callable, Optional

import pytest

from actions.after_sales import (
    CONDITION_LABELS,
    MAX_TEXT,
    ActionAskOrderItem,
    ActionSubmitExchange,
    ActionSubmitRefund,
    ActionSubmitRepair,
    ActionSubmitReturn,
    ValidateExchangeForm,
    ValidateRefundForm,
    ValidateRepairForm,
    ValidateReturnForm,
    condition_of,
    now,
    pick_item,
)
from actions.verification import OrderFormValidation
from bot.shop import after_sales
from bot.shop.catalog import product_type
from bot.shop.formatting import yuan
from bot.shop.models import Order, OrderStatus, Product, Ticket, TicketKind
from bot.shop.policy import (
    EXCHANGE_DAYS,
    NO_REASON_RETURN_DAYS,
    QUALITY_RETURN_DAYS,
    REFUND_WORKING_DAYS,
    SEND_BACK_DAYS,
)
from bot.shop.sqlite_backend import SqliteShopBackend
from tests.actions.conftest import Result, Turn, run_action
from tests.actions.helpers import FormTurn, delivered_within, last4, pick_order, ticket_no, verified_slots


@pytest.mark.parametrize("text, expected", [
    ("没拆封", "unused"), ("吊牌还在没穿过", "unused"), ("鞋底开胶了", "quality"), ("穿过一次", "used"),
    ("嗯嗯", None),
])
def test_item_condition(text: str, expected: Optional[str]) -> None:
    assert condition_of(text) == expected


def test_the_form_and_the_rules_share_condition_codes() -> None:
    assert set(CONDITION_LABELS) == {after_sales.QUALITY, after_sales.USED, after_sales.UNUSED}
    for code in CONDITION_LABELS:
        assert condition_of(code) == code


# --- helpers ---------------------------------------------------------------------------------------
def product(shop: SqliteShopBackend, order: Order, index: int = 0) -> Product:
    found = shop.get_product(order.items[index].product_id)
    assert found is not None
    return found


def single(shop: SqliteShopBackend, returnable: Optional[bool] = None,
           warranty: Optional[bool] = None) -> Callable[[Order], bool]:
    """A predicate: one-line orders whose product is (not) returnable / has (no) warranty."""
    def check(order: Order) -> bool:
        if len(order.items) != 1:
            return False
        p = product(shop, order)
        return ((returnable is None or p.returnable == returnable)
                and (warranty is None or (p.warranty_months > 0) == warranty))
    return check


def both(*checks: Callable[[Order], bool]) -> Callable[[Order], bool]:
    return lambda order: all(check(order) for check in checks)


def verify(form: OrderFormValidation, order: Order, domain: dict[str, Any]) -> Result:
    """The shopper sends the right phone digits for `order` in `form`."""
    turn = FormTurn(text=last4(order), active_loop=form.form_name(),
                    slots={"order_id": order.order_no, "requested_slot": "phone_last4"},
                    extracted={"phone_last4": last4(order)})
    return run_action(form, turn, domain)


def answer(form: OrderFormValidation, order: Order, slot: str, value: str, domain: dict[str, Any],
           **slots: Any) -> Result:
    """The shopper answers the question for `slot` in `form` about the verified `order`."""
    turn = FormTurn(text=value, active_loop=form.form_name(),
                    slots=verified_slots(order, requested_slot=slot, **slots), extracted={slot: value})
    return run_action(form, turn, domain)


def tickets(shop: SqliteShopBackend, order: Order, kind: TicketKind) -> list[Ticket]:
    return [t for t in shop.tickets_for_order(order.order_no) if t.kind == kind]


WITHIN_NO_REASON = delivered_within(0, NO_REASON_RETURN_DAYS - 1)


# --- return ----------------------------------------------------------------------------------------
def test_return_starts_by_showing_the_order_and_picks_its_only_item(shop: SqliteShopBackend,
                                                                    domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.DELIVERED, both(WITHIN_NO_REASON, single(shop, returnable=True)))
    r = verify(ValidateReturnForm(), order, domain)
    assert r.slots()["verified_order"] == order.order_no
    assert r.slots()["order_item"] == order.items[0].sku
    assert r.text.startswith(f"好的，为您办理退货。订单 {order.order_no}（{order.status.label}）")
    assert "flow_blocked" not in r.slots()


def test_return_within_the_no_reason_window_files_a_ticket(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.DELIVERED, both(WITHIN_NO_REASON, single(shop, returnable=True)))
    item = order.items[0]
    r = answer(ValidateReturnForm(), order, "item_condition", "没拆封，吊牌还在", domain, order_item=item.sku)
    assert r.slots()["item_condition"] == after_sales.UNUSED
    assert "flow_blocked" not in r.slots() and r.messages == []

    before = len(tickets(shop, order, TicketKind.RETURN))
    slots = verified_slots(order, order_item=item.sku, item_condition=after_sales.UNUSED, return_reason="尺码不合适")
    r = run_action(ActionSubmitReturn(), Turn(slots=slots), domain)
    filed = tickets(shop, order, TicketKind.RETURN)
    assert len(filed) == before + 1
    ticket = filed[-1]
    assert ticket.ticket_no == ticket_no(r.text) and ticket.status == "open"
    quote = after_sales.refund_amount(order, item, reason="尺码不合适")
    assert ticket.details["sku"] == item.sku and ticket.details["refund_amount"] == quote.amount
    assert ticket.details["condition"] == after_sales.UNUSED and ticket.details["reason"] == "尺码不合适"
    assert f"预计退款：{yuan(quote.amount)}" in r.text
    assert f"请在{SEND_BACK_DAYS}天内寄回" in r.text and "退货运费由您承担" in r.text
    assert f"{REFUND_WORKING_DAYS}个工作日" in r.text
    assert r.slots()["order_item"] is None  # the flow is over


def test_non_returnable_item_is_refused_and_says_why(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.DELIVERED, both(WITHIN_NO_REASON, single(shop, returnable=False)))
    goods = product(shop, order)
    ptype = product_type(goods.type_name)
    assert ptype is not None and ptype.no_return_reason
    r = answer(ValidateReturnForm(), order, "item_condition", "没拆封", domain, order_item=order.items[0].sku)
    assert r.slots()["flow_blocked"] == "return_not_allowed"
    assert r.slots()["requested_slot"] is None
    assert ptype.no_return_reason in r.text
    assert f"{goods.name}不支持{NO_REASON_RETURN_DAYS}天无理由退货" in r.text
    assert f"{QUALITY_RETURN_DAYS}天内可以申请退货" in r.text  # what is still possible


def test_non_returnable_item_with_a_quality_problem_may_be_returned(shop: SqliteShopBackend,
                                                                   domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.DELIVERED, both(WITHIN_NO_REASON, single(shop, returnable=False)))
    r = answer(ValidateReturnForm(), order, "item_condition", "收到就是坏的", domain, order_item=order.items[0].sku)
    assert r.slots()["item_condition"] == after_sales.QUALITY
    assert "flow_blocked" not in r.slots()


def test_return_after_the_no_reason_window_is_refused(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    late = delivered_within(NO_REASON_RETURN_DAYS + 1, QUALITY_RETURN_DAYS - 1)
    order = pick_order(shop, OrderStatus.COMPLETED, both(late, single(shop, returnable=True)))
    r = answer(ValidateReturnForm(), order, "item_condition", "没用过", domain, order_item=order.items[0].sku)
    assert r.slots()["flow_blocked"] == "return_not_allowed"
    assert f"已经超过签收后{NO_REASON_RETURN_DAYS}天的无理由退货期了" in r.text


def test_used_item_has_no_no_reason_return(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.DELIVERED, both(WITHIN_NO_REASON, single(shop, returnable=True)))
    r = answer(ValidateReturnForm(), order, "item_condition", "穿过一次", domain, order_item=order.items[0].sku)
    assert r.slots()["flow_blocked"] == "return_not_allowed"
    assert "已经使用或拆封的商品没法无理由退货" in r.text


def test_unclear_condition_is_asked_again(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.DELIVERED, both(WITHIN_NO_REASON, single(shop, returnable=True)))
    r = answer(ValidateReturnForm(), order, "item_condition", "嗯嗯", domain, order_item=order.items[0].sku)
    assert r.slots()["item_condition"] is None
    assert "没拆封、已经用过，还是有质量问题" in r.text


def test_return_of_a_parcel_on_its_way_is_refused(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.SHIPPED)
    r = verify(ValidateReturnForm(), order, domain)
    assert r.slots()["flow_blocked"] == "wrong_status"
    assert r.slots()["requested_slot"] is None
    assert "包裹还在路上" in r.text and "order_item" not in r.slots()


def test_overlong_return_reason_is_refused(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.DELIVERED, both(WITHIN_NO_REASON, single(shop, returnable=True)))
    r = answer(ValidateReturnForm(), order, "return_reason", "太" * (MAX_TEXT + 1), domain,
               order_item=order.items[0].sku, item_condition=after_sales.UNUSED)
    assert r.slots()["return_reason"] is None
    assert f"{MAX_TEXT}字以内" in r.text


def test_return_of_an_unverified_order_files_nothing(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.DELIVERED, both(WITHIN_NO_REASON, single(shop, returnable=True)), skip=1)
    before = len(shop.tickets_for_order(order.order_no))
    slots = {"order_id": order.order_no, "order_item": order.items[0].sku, "item_condition": after_sales.UNUSED}
    r = run_action(ActionSubmitReturn(), Turn(slots=slots), domain)
    assert r.messages == []
    assert len(shop.tickets_for_order(order.order_no)) == before


# --- which item ------------------------------------------------------------------------------------
def test_the_shopper_picks_an_item_of_a_multi_item_order(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.DELIVERED, lambda o: len(o.items) >= 2)
    r = verify(ValidateReturnForm(), order, domain)
    assert "order_item" not in r.slots()  # asked next, with buttons
    r = run_action(ActionAskOrderItem(), Turn(slots=verified_slots(order)), domain)
    buttons = r.messages[0]["buttons"]
    assert len(buttons) == len(order.items)
    assert [b["payload"] for b in buttons] == [f'/inform{{"order_item": "{i.sku}"}}' for i in order.items]
    r = answer(ValidateReturnForm(), order, "order_item", "第2件", domain)
    assert r.slots()["order_item"] == order.items[1].sku


def test_pick_item_by_sku_ordinal_or_name(shop: SqliteShopBackend) -> None:
    order = pick_order(shop, OrderStatus.DELIVERED,
                       lambda o: len(o.items) >= 2 and o.items[0].product_name != o.items[1].product_name)
    first, second = order.items[0], order.items[1]
    assert pick_item(order, second.sku) == second
    assert pick_item(order, "第二件") == second
    assert pick_item(order, "1") == first
    assert pick_item(order, second.product_name) == second
    assert len(order.items) < 9 and pick_item(order, "第9件") is None


def test_pick_item_prefers_the_line_the_shopper_describes_best(shop: SqliteShopBackend) -> None:
    def same_brand_other_type(order: Order) -> bool:
        if len(order.items) < 2:
            return False
        a, b = product(shop, order, 0), product(shop, order, 1)
        return a.brand == b.brand and a.type_name != b.type_name

    order = pick_order(shop, OrderStatus.COMPLETED, same_brand_other_type)
    second = product(shop, order, 1)
    assert pick_item(order, f"{second.brand}的{second.type_name}") == order.items[1]


def test_ask_order_item_shows_nothing_for_an_unverified_order(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.DELIVERED, lambda o: len(o.items) >= 2)
    r = run_action(ActionAskOrderItem(), Turn(slots={"order_id": order.order_no}), domain)
    assert r.messages == []


# --- exchange --------------------------------------------------------------------------------------
def exchangeable(shop: SqliteShopBackend) -> Callable[[Order], bool]:
    """One-line orders of a returnable product with another size in stock in the same colour."""
    def check(order: Order) -> bool:
        if not single(shop, returnable=True)(order):
            return False
        item, p = order.items[0], product(shop, order)
        return any(v.colour == item.colour and v.size != item.size and v.stock > 0 for v in p.variants)
    return check


def test_exchange_to_an_in_stock_size_files_a_ticket(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.DELIVERED, both(delivered_within(0, EXCHANGE_DAYS - 1), exchangeable(shop)))
    item, goods = order.items[0], product(shop, order)
    target = next(v for v in goods.variants if v.colour == item.colour and v.size != item.size and v.stock > 0)
    r = answer(ValidateExchangeForm(), order, "exchange_target", f"换成{target.size}码", domain, order_item=item.sku)
    assert r.slots()["exchange_target"] == f"{item.colour}|{target.size}"
    assert "flow_blocked" not in r.slots()

    slots = verified_slots(order, order_item=item.sku, exchange_target=f"{item.colour}|{target.size}")
    r = run_action(ActionSubmitExchange(), Turn(slots=slots), domain)
    ticket = tickets(shop, order, TicketKind.EXCHANGE)[-1]
    assert ticket.ticket_no == ticket_no(r.text)
    assert ticket.details["from"] == f"{item.colour} {item.size}" and ticket.details["to"] == f"{item.colour} {target.size}"
    assert f"{item.colour} {item.size} → {item.colour} {target.size}" in r.text


def test_exchange_to_a_sold_out_variant_offers_others(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    def has_sold_out_size(order: Order) -> bool:
        item, p = order.items[0], product(shop, order)
        return any(v.colour == item.colour and v.size != item.size and v.stock == 0 for v in p.variants)

    order = pick_order(shop, OrderStatus.DELIVERED,
                       both(delivered_within(0, EXCHANGE_DAYS - 1), single(shop, returnable=True), has_sold_out_size))
    item, goods = order.items[0], product(shop, order)
    gone = next(v for v in goods.variants if v.colour == item.colour and v.size != item.size and v.stock == 0)
    r = answer(ValidateExchangeForm(), order, "exchange_target", f"换{gone.size}", domain, order_item=item.sku)
    assert r.slots()["exchange_target"] is None
    assert f"{gone.colour} {gone.size} 暂时缺货" in r.text and "有货的规格" in r.text


def test_exchange_to_the_same_variant_is_asked_again(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.DELIVERED, both(delivered_within(0, EXCHANGE_DAYS - 1), exchangeable(shop)))
    item = order.items[0]
    r = answer(ValidateExchangeForm(), order, "exchange_target", item.colour, domain, order_item=item.sku)
    assert r.slots()["exchange_target"] is None
    assert "这就是您现在的规格" in r.text


# --- refund ----------------------------------------------------------------------------------------
def test_refund_of_a_paid_order_returns_goods_and_shipping(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.PAID, lambda o: o.shipping_fee > 0, skip=1)
    r = verify(ValidateRefundForm(), order, domain)
    assert r.text.startswith("好的，为您办理退款。") and "flow_blocked" not in r.slots()

    r = run_action(ActionSubmitRefund(), Turn(slots=verified_slots(order, refund_reason="不想要了")), domain)
    quote = after_sales.refund_amount(order, None, reason="不想要了")
    assert quote.amount == round(order.goods_amount + order.shipping_fee, 2) == order.total_paid
    assert f"退款金额：{yuan(quote.amount)}（{quote.explanation}）" in r.text
    assert f"运费 {yuan(order.shipping_fee)}" in r.text
    ticket = tickets(shop, order, TicketKind.REFUND)[-1]
    assert ticket.ticket_no == ticket_no(r.text) and ticket.details["refund_amount"] == quote.amount


def test_refund_of_a_delivered_order_keeps_the_shipping(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.DELIVERED, lambda o: o.shipping_fee > 0)
    r = run_action(ActionSubmitRefund(), Turn(slots=verified_slots(order, refund_reason="不喜欢")), domain)
    assert f"退款金额：{yuan(order.goods_amount)}" in r.text
    assert f"已发货的订单运费 {yuan(order.shipping_fee)} 不退" in r.text


def test_refund_of_a_shipped_order_is_refused(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.SHIPPED)
    r = verify(ValidateRefundForm(), order, domain)
    assert r.slots()["flow_blocked"] == "wrong_status"
    assert "拒收" in r.text


def test_refund_of_a_refunded_order_is_refused(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.REFUNDED)
    r = verify(ValidateRefundForm(), order, domain)
    assert r.slots()["flow_blocked"] == "wrong_status"
    assert "已经退款完成" in r.text


# --- repair ----------------------------------------------------------------------------------------
def test_repair_within_warranty_files_a_ticket(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.DELIVERED, single(shop, warranty=True))
    goods = product(shop, order)
    assert after_sales.can_repair(order, order.items[0], goods, now()).allowed
    r = verify(ValidateRepairForm(), order, domain)
    assert r.slots()["order_item"] == order.items[0].sku
    assert "flow_blocked" not in r.slots()
    assert r.text.startswith("好的，为您办理维修。")

    slots = verified_slots(order, order_item=order.items[0].sku, fault_description="充不进电")
    r = run_action(ActionSubmitRepair(), Turn(slots=slots), domain)
    ticket = tickets(shop, order, TicketKind.REPAIR)[-1]
    assert ticket.ticket_no == ticket_no(r.text)
    assert ticket.details["fault"] == "充不进电" and ticket.details["sku"] == order.items[0].sku
    assert "维修申请已提交" in r.text and "故障：充不进电" in r.text


def test_repair_of_a_product_without_warranty_is_refused(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    order = pick_order(shop, OrderStatus.DELIVERED, single(shop, warranty=False))
    r = verify(ValidateRepairForm(), order, domain)
    assert r.slots()["flow_blocked"] == "repair_not_allowed"
    assert r.slots()["requested_slot"] is None
    assert f"{product(shop, order).name}不提供保修服务" in r.text


def test_repair_item_of_a_multi_item_order_is_checked(shop: SqliteShopBackend, domain: dict[str, Any]) -> None:
    def mixed(order: Order) -> bool:
        return len(order.items) >= 2 and any(product(shop, order, i).warranty_months == 0
                                             for i in range(len(order.items)))

    order = pick_order(shop, OrderStatus.DELIVERED, mixed)
    index = next(i for i in range(len(order.items)) if product(shop, order, i).warranty_months == 0)
    r = answer(ValidateRepairForm(), order, "order_item", order.items[index].sku, domain)
    assert r.slots()["order_item"] == order.items[index].sku
    assert r.slots()["flow_blocked"] == "repair_not_allowed"
    assert "不提供保修服务" in r.text
