"""Order cards pasted before a question (`bot.nlu.order_card`) and how `TextNormalizer` sets them aside.

The messages are written for these tests in the formats shoppers paste (the
platform's consult and click cards, field lists, the bot's own order texts);
none is copied from the NLU test sets.
"""
from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any

import pytest
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message

from actions.orders import logistics_timeline, order_summary
from bot.nlu.components.normalizer import TextNormalizer
from bot.nlu.normalize import normalize_text
from bot.nlu.order_card import (
    CARD_ONLY_TEXT,
    classifier_text,
    clauses,
    drop_greetings,
    final_request,
    find_order_cards,
    fold,
    split_order_cards,
)
from bot.shop.models import LogisticsEvent, Order, OrderItem, OrderStatus

NO_A = "2612084455013379"
NO_B = "2609913370248816"


def numbers(text: str) -> list[str]:
    return [n.value for n in split_order_cards(text).order_numbers]


def words(text: str) -> str:
    return split_order_cards(text).shopper_words


# --- the platform's cards -------------------------------------------------

@pytest.mark.parametrize("text, expected_words", [
    (f"咨询订单号:{NO_A} 商品ID:318842 订单业务咨询 今天能发吗", "今天能发吗"),
    (f"咨询订单号：{NO_A} 商品ID：318842 订单业务咨询 快递到哪了", "快递到哪了"),
    (f"咨询订单号 {NO_A}  商品ID 318842  订单业务咨询  想改个地址", "想改个地址"),
    (f"咨询订单号:{NO_A} 订单业务咨询 帮我退了吧", "帮我退了吧"),
    (f"咨询订单号:{NO_A} 能开发票吗", "能开发票吗"),
    (f"【咨询订单号:{NO_A}】【商品ID:318842】【订单业务咨询】 收到的是坏的", "收到的是坏的"),
    (f"[咨询订单号:{NO_A}][商品ID:318842][订单业务咨询]怎么还没动静", "怎么还没动静"),
    (f"咨询订单号:{NO_A}商品ID:318842订单业务咨询在吗", "在吗"),
])
def test_consult_card(text: str, expected_words: str) -> None:
    split = split_order_cards(text)
    assert [c.kind for c in split.cards] == ["platform"]
    assert numbers(text) == [NO_A]
    assert split.shopper_words == expected_words


@pytest.mark.parametrize("text, expected_words", [
    (f"顾客通过点击订单卡片发送:【订单编号:{NO_A}，订单金额:76.50，下单时间:2026-10-02 07:45:09】 还没发货?", "还没发货?"),
    (f"顾客通过点击订单卡片发送：【订单编号：{NO_A}，订单金额：１２．００，下单时间：２０２６－１０－０２ ０７：４５：０９】催一下", "催一下"),
    (f"顾客通过点击订单信息发送:[订单编号:{NO_A}，订单金额:76.50，下单时间:2026-10-02 07:45:09] 能便宜点吗", "能便宜点吗"),
    (f"顾客通过点击订单信息发送:[订单编号:{NO_A}, 订单金额:76.50, 下单时间:2026/10/02 07:45] 包装破了", "包装破了"),
    (f"用户通过点击订单卡片发送:【订单编号:{NO_A}】 换个颜色", "换个颜色"),
    (f"您好 顾客通过点击订单卡片发送:【订单金额:76.50，订单编号:{NO_A}】 发票开了吗", "您好 发票开了吗"),
])
def test_click_card(text: str, expected_words: str) -> None:
    split = split_order_cards(text)
    assert [c.kind for c in split.cards] == ["platform"]
    assert numbers(text) == [NO_A]
    assert split.shopper_words == expected_words
    assert "顾客" not in split.shopper_words and "【" not in split.shopper_words


def test_click_card_alone_asks_about_the_order() -> None:
    text = f"顾客通过点击订单卡片发送:【订单编号:{NO_B}，订单金额:1530.00，下单时间:2026-11-29 23:59:59】"
    split = split_order_cards(text)
    assert split.card_only and split.shopper_words == ""
    assert classifier_text(text) == (CARD_ONLY_TEXT, split)


# --- cards as lists of fields -------------------------------------------

@pytest.mark.parametrize("text, expected_words", [
    (f"订单号 {NO_A} 下单时间 10-30 已付款 ¥88 什么时候发", "什么时候发"),
    (f"订单号{NO_A} 已付款 ¥1288.5 还能改地址不", "还能改地址不"),
    (f"订单编号{NO_A} 订单金额¥45.00 退款呢", "退款呢"),
    (f"订单编号：{NO_A} 商品：飞利浦电动牙刷 HX6730 实付：¥299.00 状态：运输中 几天到", "几天到"),
    (f"订单信息 订单号{NO_A} 商品 李宁卫衣 数量3 金额¥597.00 尺码小了", "尺码小了"),
    (f"【订单编号 {NO_A}】【实付 ¥66.60】 我要退款", "我要退款"),
    (f"订单号:{NO_A} 付款时间:2026-11-01 12:00 商品名称:九阳豆浆机 发了没", "发了没"),
    (f"订单号:{NO_A} 商品编号:A10023 数量:1 坏了 怎么修", "坏了 怎么修"),
    (f"订单编号:{NO_A}\n商品:九阳豆浆机\n实付:¥399.00\n状态:待发货\n这个啥时候发", "这个啥时候发"),
    (f"订单编号:{NO_A}\n商品:九阳 豆浆机 实付:¥399.00\n这个啥时候发", "这个啥时候发"),
    (f"订单编号:{NO_A} 下单时间:2026-11-18 20:11:05 商品:安踏 跑鞋 白色 43码 换44", "换44"),
    (f"订单编号:{NO_A} 商品:美的 电饭煲 MB-4 这个不想要了", "这个不想要了"),
    (f"订单编号:{NO_A} 商品:小米 智能手表 黑色 能退吗", "能退吗"),  # 智能 is part of the name
    (f"订单编号:{NO_A} 商品:呢子大衣 藏青色 咋还没到", "咋还没到"),
    (f"{NO_A} 已付款 ¥30 什么时候发", "什么时候发"),
])
def test_field_list_card(text: str, expected_words: str) -> None:
    split = split_order_cards(text)
    assert numbers(text) == [NO_A]
    assert split.shopper_words == expected_words


@pytest.mark.parametrize("text, expected_words", [
    (f"点击订单卡片:【{NO_A} 已发货 ¥59.00】 还要几天", "还要几天"),
    (f"来自订单详情页：订单{NO_A} 交易状态：卖家已发货 怎么还没到", "怎么还没到"),
    (f"来自订单详情页:订单{NO_A} 帮我看看", "帮我看看"),
    (f"【商品卡片】苏泊尔 电压力锅 5L ¥459 订单{NO_A} 坏了能修吗", "坏了能修吗"),
    (f"〔订单〕{NO_A}｜¥12.00｜待发货 催一催", "催一催"),
    (f"【订单】{NO_A} 开个发票", "开个发票"),
])
def test_other_platform_cards(text: str, expected_words: str) -> None:
    split = split_order_cards(text)
    assert [c.kind for c in split.cards] == ["platform"]
    assert numbers(text) == [NO_A]
    assert split.shopper_words == expected_words


@pytest.mark.parametrize("text", [
    f"订单编号:{NO_A} 订单金额:320.00 下单时间:2026-11-17 18:30:12",
    f"订单号 {NO_A} 已付款 ¥79.9 下单时间 11-28",
    f"订单信息 订单号{NO_A} 商品 九阳豆浆机 数量1 金额¥399.00",
    f"【订单编号 {NO_A}】",
    f"【订单】{NO_A}",
    f"订单编号:{NO_A} 商品:美的 电饭煲 白色 数量:1",
])
def test_card_alone(text: str) -> None:
    split = split_order_cards(text)
    assert split.card_only, split
    assert numbers(text) == [NO_A]


def test_full_width_and_traditional() -> None:
    full_width_no = "".join(chr(ord(d) + 0xFEE0) for d in NO_A)
    text = f"訂單編號：{full_width_no}　訂單金額：￥９９．００　怎麼還沒發貨"
    split = split_order_cards(text)
    assert numbers(text) == [NO_A]  # half-width digits, as the order form expects them
    number = split.order_numbers[0]
    assert unicodedata.normalize("NFKC", text[number.start:number.end]) == NO_A
    assert split.shopper_words == "怎麼還沒發貨"  # the shopper's own characters; TextNormalizer simplifies them
    assert classifier_text(text)[0] == "怎么还没发货"


def test_fold_keeps_offsets() -> None:
    for text in ("訂單編號：２６１１", "顾客通过点击订单卡片发送：【订单编号：1】", "㎏和ｍｌ"):
        assert len(fold(text)) == len(text)


def test_spans_point_at_the_numbers() -> None:
    text = f"亲 咨询订单号:{NO_A} 订单业务咨询 还有这单 订单号 {NO_B} 下单时间 11-02 已付款 ¥30 一起发吗"
    split = split_order_cards(text)
    assert [n.value for n in split.order_numbers] == [NO_A, NO_B]
    for number in split.order_numbers:
        assert text[number.start:number.end] == number.value
    for card in split.cards:
        assert card.start < card.end
    assert split.shopper_words == "亲 还有这单 一起发吗"


def test_several_cards_same_number_once() -> None:
    text = f"咨询订单号:{NO_A} 订单业务咨询 咨询订单号:{NO_A} 订单业务咨询 在吗"
    split = split_order_cards(text)
    assert [len(c.order_numbers) for c in split.cards] == [2]  # back to back: one run of fields
    assert numbers(text) == [NO_A]
    assert split.shopper_words == "在吗"


# --- the bot's own order texts pasted back -------------------------------

def _order(**changes: Any) -> Order:
    order = Order(
        order_no=NO_B, customer_id=1, phone="13900007777", address="浙江省杭州市西湖区文三路1号",
        status=OrderStatus.SHIPPED, created_at=datetime(2026, 11, 3, 10, 5), paid_at=datetime(2026, 11, 3, 10, 6),
        shipped_at=datetime(2026, 11, 4, 9, 0), delivered_at=None,
        items=(OrderItem("SKU-1", 1, "九阳 豆浆机 D08", "白色", "标准", 1, 399.0),
               OrderItem("SKU-2", 2, "安踏 跑步鞋", "黑色", "42", 2, 259.0)),
        shipping_fee=0.0, discount=0.0, total_paid=917.0, carrier="中通快递", tracking_no="781234567890123",
        events=(
            LogisticsEvent(datetime(2026, 11, 4, 9, 0), "杭州", "已揽收：中通快递【杭州仓储中心】已揽件，准备发往转运中心"),
            LogisticsEvent(datetime(2026, 11, 5, 7, 30), "南京",
                           "派送中：【南京鼓楼区营业部】快递员李师傅（电话 139****5678）正在为您派送，请保持电话畅通"),
        ),
    )
    return Order(**{**order.__dict__, **changes})


@pytest.mark.parametrize("card", [
    order_summary(_order()),
    logistics_timeline(_order()),
    logistics_timeline(_order(events=(), status=OrderStatus.PAID)),
    logistics_timeline(_order(events=(), status=OrderStatus.CANCELLED)),
], ids=["summary", "timeline", "not_shipped", "no_events"])
@pytest.mark.parametrize("joiner", ["\n", " "], ids=["lines", "one_line"])
def test_our_own_card_pasted_back(card: str, joiner: str) -> None:
    text = card.replace("\n", joiner) + joiner + "这个能快点吗"
    split = split_order_cards(text)
    assert [c.kind for c in split.cards] == ["ours"]
    assert numbers(text) == [NO_B]
    assert split.shopper_words == "这个能快点吗"
    alone = split_order_cards(card)
    assert alone.card_only


# --- what is not a card --------------------------------------------------

@pytest.mark.parametrize("text", [
    "",
    "这件有货吗",
    NO_A,
    f"订单号是{NO_A}",
    f"订单号:{NO_A}",
    f"订单号 {NO_A} 尾号6612 帮我查查",
    f"订单号{NO_A} 申请退款 原因 质量问题",
    f"{NO_A} 这单能退吗",
    f"我的订单{NO_A}, 快递到哪了",
    f"订单号 {NO_A} 已发货 怎么还没到",  # one bare status: the shopper's words
    f"{NO_A} 已签收 但是没收到",
    f"订单号 {NO_A} 商品 坏了 要退",  # the shopper talking about the goods, not a product name
    "商品ID:318842 还有货吗",  # a product, no order
    "订单号 13812345678 下单时间 11-20 已付款 ¥30",  # a phone number where the order number goes
    "手机号13812345678 下单时间:2026-11-20 10:00 订单金额:30.00",
    f"订单号 9{NO_A} 下单时间 11-20 已付款 ¥30",  # 17 digits: not an order number
    "价保是按下单时间还是签收时间算",
    "订单金额:199.00 下单时间:2026-11-20 14:32:10 怎么还没到",  # a card without its order number
    "/inform",
])
def test_not_a_card(text: str) -> None:
    split = split_order_cards(text)
    assert split.cards == ()
    assert split.shopper_words == text
    assert classifier_text(text) == (normalize_text(text), None)


def test_find_order_cards_bounded_on_huge_input() -> None:
    text = f"咨询订单号:{NO_A} 订单业务咨询 " + "在吗" * 5000
    cards = find_order_cards(text)
    assert len(cards) == 1
    assert cards[0].order_numbers[0].value == NO_A


# --- the final request of a long message ---------------------------------

@pytest.mark.parametrize("text, expected", [
    ("亲 上周买的电饭煲 这两天便宜了五十 能不能补给我", "能不能补给我"),
    ("你好，我前天拍的大衣，今天看到降价了，能退差价吗？", "能退差价吗？"),
    ("在吗 之前买了两件 一件小了 麻烦帮我换个大一码", "麻烦帮我换个大一码"),
    ("老板 我买的鞋子穿了两天开胶了 怎么办 能修吗", "怎么办 能修吗"),
    ("这件有货吗", "这件有货吗"),  # one clause
    ("亲 这件有货吗", "这件有货吗"),
    ("上周买的电饭煲 这两天便宜了五十", "上周买的电饭煲 这两天便宜了五十"),  # nothing asked
    ("能不能便宜点 我买两件", "能不能便宜点 我买两件"),  # the request comes first
    ("衣服收到了 质量挺好 谢谢", "衣服收到了 质量挺好 谢谢"),
    ("买了三天了 吗", "买了三天了 吗"),  # what is left is too short to stand alone
])
def test_final_request(text: str, expected: str) -> None:
    assert final_request(text) == expected


def test_final_request_keeps_context_when_asked() -> None:
    text = "亲 上周买的电饭煲 这两天便宜了五十 能不能补给我"
    assert final_request(text, keep_before=1) == "这两天便宜了五十 能不能补给我"
    assert final_request(text, keep_before=5) == text


def test_drop_greetings_and_clauses() -> None:
    assert clauses("亲，在吗？这个 有货吗") == ["亲", "在吗？", "这个", "有货吗"]
    assert drop_greetings("亲 在吗 这个有货吗") == "这个有货吗"
    assert drop_greetings("您好") == "您好"
    assert drop_greetings("这个有货吗 亲") == "这个有货吗 亲"
    assert drop_greetings("hi 客服") == "hi 客服"  # greetings only: nothing to drop them for
    assert clauses("https://item.shop.com/1002345.html 这个4.5L的多少钱") == [
        "https://item.shop.com/1002345.html", "这个4.5L的多少钱"]


# --- TextNormalizer --------------------------------------------------------

@pytest.fixture()
def normalizer() -> TextNormalizer:
    return TextNormalizer(TextNormalizer.get_default_config(), "normalizer")


def test_normalizer_sets_the_card_aside(normalizer: TextNormalizer) -> None:
    text = f"顾客通过点击订单卡片发送:【订单编号：{NO_A}，订单金额：59.00，下单时间：2026-11-02 08:00:00】 發貨了嗎？？"
    message = Message({TEXT: text})
    normalizer.process([message])
    assert message.get(TEXT) == "发货了吗?"
    [entity] = message.get(ENTITIES)
    assert entity["entity"] == "order_id" and entity["value"] == NO_A
    assert text[entity["start"]:entity["end"]] == NO_A  # offsets into the message as sent
    assert entity["extractor"] == "normalizer"
    assert ENTITIES in message.output_properties  # part of the parse result


def test_normalizer_card_alone_reads_as_order_question(normalizer: TextNormalizer) -> None:
    message = Message({TEXT: f"订单号 {NO_A} 下单时间 11-05 已付款 ¥120"})
    normalizer.process([message])
    assert message.get(TEXT) == CARD_ONLY_TEXT
    assert [(e["entity"], e["value"]) for e in message.get(ENTITIES)] == [("order_id", NO_A)]


def test_normalizer_keeps_entities_already_there(normalizer: TextNormalizer) -> None:
    message = Message({TEXT: f"咨询订单号:{NO_A} 订单业务咨询 退款", ENTITIES: [{"entity": "x", "value": "y"}]})
    normalizer.process([message])
    assert [e["entity"] for e in message.get(ENTITIES)] == ["x", "order_id"]


def test_normalizer_without_card_only_normalises(normalizer: TextNormalizer) -> None:
    message = Message({TEXT: f"訂單號{NO_A}  怎麼還沒發？？？"})
    normalizer.process([message])
    assert message.get(TEXT) == f"订单号{NO_A} 怎么还没发?"
    assert not message.get(ENTITIES)


def test_normalizer_can_leave_cards_in() -> None:
    normalizer = TextNormalizer({"order_cards": False}, "normalizer")
    message = Message({TEXT: f"咨询订单号:{NO_A} 订单业务咨询 退款"})
    normalizer.process([message])
    assert message.get(TEXT) == f"咨询订单号:{NO_A} 订单业务咨询 退款"
    assert not message.get(ENTITIES)


def test_normalizer_training_keeps_annotated_offsets(normalizer: TextNormalizer) -> None:
    from rasa.shared.nlu.training_data.training_data import TrainingData

    annotated_text = f"订单编号：{NO_A} 商品：九阳 豆浆机 实付：¥399.00 怎么还没发"
    entity = {"entity": "order_id", "value": NO_A, "start": 5, "end": 21}
    annotated = Message({TEXT: annotated_text, ENTITIES: [entity], "intent": "inquire_order_status"})
    plain = Message({TEXT: f"咨询订单号:{NO_A} 订单业务咨询 怎麼還沒發", "intent": "inquire_order_status"})
    card_alone = Message({TEXT: f"咨询订单号:{NO_A} 订单业务咨询", "intent": "inform"})
    normalizer.process_training_data(TrainingData([annotated, plain, card_alone]))
    # Only the same-length normal form (full-width colons): the card stays, the offsets hold.
    assert annotated.get(TEXT) == normalize_text(annotated_text) == annotated_text.replace("：", ":")
    assert annotated.get(ENTITIES) == [entity]
    assert plain.get(TEXT) == "怎么还没发"
    assert not plain.get(ENTITIES)  # training never gains entities
    assert card_alone.get(TEXT) == f"咨询订单号:{NO_A} 订单业务咨询"


def test_normalizer_leaves_commands(normalizer: TextNormalizer) -> None:
    text = f'/inform{{"order_id": "{NO_A}"}}'
    message = Message({TEXT: text})
    normalizer.process([message])
    assert not message.get(ENTITIES)
