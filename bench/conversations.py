"""The scripted conversation mix that bench/bench_rest.py replays over REST.

Ours: Chinese shop conversations (greeting, product price and stock, FAQ,
promotions, an order status check with a real order number and the phone's last
four digits from the seeded database, the start of a return, goodbye).
Starter: Rasa's moodbot (`rasa init`) conversations of about the same length.

A turn may carry `expect`: substrings of which at least one should appear in the
bot's replies. They are not assertions; the benchmark reports how many turns hit
them ("path hits"), so a changed model that takes the conversations somewhere
else shows up next to the timings instead of silently measuring something else.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence


@dataclass(frozen=True)
class Turn:
    text: str
    expect: tuple[str, ...] = ()  # any of these in the replies counts as on the scripted path


@dataclass(frozen=True)
class Conversation:
    name: str
    turns: tuple[Turn, ...]


@dataclass(frozen=True)
class OrderRef:
    """A seeded order a shopper can check: its number and the last four digits of its phone."""

    order_no: str
    last4: str
    status: str  # OrderStatus value, e.g. "shipped"


def T(text: str, *expect: str) -> Turn:  # noqa: N802 - short on purpose, the scripts read better
    return Turn(text, tuple(expect))


# --------------------------------------------------------------------------- ours (Chinese shop)

GREETING = ("您好", "你好")
ASK_ORDER_NO = ("订单号",)
ASK_LAST4 = ("后四位",)


def _product_chat() -> Conversation:
    return Conversation("product", (
        T("你好", *GREETING),
        T("华为Mate 60多少钱", "¥"),
        T("12+256G 黑色的有货吗"),
        T("包邮吗"),
        T("支持七天无理由吗"),
        T("好的谢谢"),
        T("拜拜", "再见"),
    ))


def _promotion_chat() -> Conversation:
    return Conversation("promotion", (
        T("在吗", *GREETING),
        T("最近有啥活动"),
        T("NEW20能用吗", "NEW20"),
        T("优衣库连帽加厚款羽绒服多少钱", "¥"),
        T("L码有现货吗"),
        T("满多少包邮"),
        T("谢谢亲"),
        T("再见", "再见"),
    ))


def _order_check(order: OrderRef) -> Conversation:
    return Conversation("order_check", (
        T("亲在吗", *GREETING),
        T("帮我查下订单", *ASK_ORDER_NO),
        T(order.order_no, *ASK_LAST4),
        T(order.last4, order.order_no),
        T("什么时候能到"),
        T("谢谢"),
        T("拜拜", "再见"),
    ))


def _order_check_one_line(order: OrderRef) -> Conversation:
    return Conversation("order_check_inline", (
        T("你好", *GREETING),
        T(f"订单{order.order_no}什么状态", *ASK_LAST4),
        T(f"手机尾号是{order.last4}", order.order_no),
        T("有优惠券吗"),
        T("发票怎么开"),
        T("886", "再见"),
    ))


def _return_start(order: OrderRef) -> Conversation:
    return Conversation("return_start", (
        T("您好", *GREETING),
        T("我要退货", *ASK_ORDER_NO),
        T(f"订单号{order.order_no}", *ASK_LAST4),
        T(f"尾号{order.last4}"),
        T("算了 不退了"),
        T("退货运费谁出"),
        T("拜拜", "再见"),
    ))


def _mixed_chat() -> Conversation:
    return Conversation("mixed", (
        T("hello在吗", *GREETING),
        T("Air Zoom 42码还有货吗"),
        T("多少钱", "¥"),
        T("你是机器人吗"),
        T("戴森吹风机多少钱", "¥"),
        T("有什么满减活动"),
        T("谢谢"),
        T("再见", "再见"),
    ))


# Statuses whose orders make a sensible "where is my order" question, and those a return can start on.
CHECK_STATUSES = ("shipped", "paid", "delivered")
RETURN_STATUSES = ("delivered", "completed")


def load_orders(db_path: Optional[Path] = None, per_status: int = 8) -> list[OrderRef]:
    """Real orders of the seeded shop at `db_path` (default: the configured SHOP_DB), a few per status."""
    from bot.shop import open_backend
    from bot.shop.models import OrderStatus

    backend = open_backend(db_path)
    refs: list[OrderRef] = []
    for status in dict.fromkeys(CHECK_STATUSES + RETURN_STATUSES):
        for order in backend.find_orders(OrderStatus(status), limit=per_status):
            refs.append(OrderRef(order.order_no, order.phone[-4:], order.status.value))
    return refs


def shop_mix(orders: Sequence[OrderRef]) -> Callable[[int], Conversation]:
    """Conversation number i of our mix: the six scripts in turn, each order check on another order."""
    checkable = [o for o in orders if o.status in CHECK_STATUSES] or list(orders)
    returnable = [o for o in orders if o.status in RETURN_STATUSES] or list(orders)
    if not checkable:
        raise RuntimeError("no orders in the shop database to script order checks with")

    def conversation(i: int) -> Conversation:
        order = checkable[(i // 6) % len(checkable)]
        kind = i % 6
        if kind == 0:
            return _product_chat()
        if kind == 1:
            return _order_check(order)
        if kind == 2:
            return _promotion_chat()
        if kind == 3:
            return _return_start(returnable[(i // 6) % len(returnable)])
        if kind == 4:
            return _order_check_one_line(checkable[(i // 6 + 1) % len(checkable)])
        return _mixed_chat()

    return conversation


# --------------------------------------------------------------------------- starter (Rasa's moodbot)

HOW_ARE_YOU = ("How are you",)
CHEER_UP = ("cheer you up",)
HAPPY = ("Great, carry on",)
BOT = ("I am a bot",)
BYE = ("Bye",)

STARTER_SCRIPTS: tuple[Conversation, ...] = (
    Conversation("happy", (
        T("hello", *HOW_ARE_YOU), T("I am great", *HAPPY), T("are you a bot?", *BOT), T("wonderful", *HAPPY),
        T("hey there", *HOW_ARE_YOU), T("so good", *HAPPY), T("bye", *BYE),
    )),
    Conversation("sad_helped", (
        T("hi", *HOW_ARE_YOU), T("I am sad", *CHEER_UP), T("yes", *HAPPY), T("am I talking to a bot?", *BOT),
        T("good morning", *HOW_ARE_YOU), T("I am feeling very good", *HAPPY), T("of course"),
        T("goodbye", *BYE),
    )),
    Conversation("sad_not_helped", (
        T("hey", *HOW_ARE_YOU), T("my day was horrible", *CHEER_UP), T("no", *BYE), T("hello", *HOW_ARE_YOU),
        T("not very good", *CHEER_UP), T("not really", *BYE), T("see you later", *BYE),
    )),
    Conversation("challenge", (
        T("good evening", *HOW_ARE_YOU), T("are you a human?", *BOT), T("I am amazing", *HAPPY),
        T("hey dude", *HOW_ARE_YOU), T("super stoked", *HAPPY), T("have a nice day", *BYE),
    )),
    Conversation("mixed", (
        T("hello there", *HOW_ARE_YOU), T("I don't feel very well", *CHEER_UP), T("indeed", *HAPPY),
        T("are you a bot?", *BOT), T("hi", *HOW_ARE_YOU), T("extremely good", *HAPPY), T("bye bye", *BYE),
    )),
    Conversation("long", (
        T("hey", *HOW_ARE_YOU), T("I am disappointed", *CHEER_UP), T("I don't think so", *BYE),
        T("good afternoon", *HOW_ARE_YOU), T("so perfect", *HAPPY), T("am I talking to a human?", *BOT),
        T("perfect", *HAPPY), T("good night", *BYE),
    )),
)


def starter_mix() -> Callable[[int], Conversation]:
    return lambda i: STARTER_SCRIPTS[i % len(STARTER_SCRIPTS)]


# --------------------------------------------------------------------------- helpers


def long_turns(mix: Callable[[int], Conversation], count: int) -> list[Turn]:
    """`count` turns for one long conversation: the mix's scripts back to back.

    Only the first script keeps its expected replies. Later ones meet a conversation
    that already verified an order, and the bot rightly uses it instead of asking for
    the order number again, so their scripted prompts would count as misses.
    """
    first = mix(0).turns
    later = (Turn(t.text) for i in itertools.count(1) for t in mix(i).turns)
    return list(itertools.islice(itertools.chain(first, later), count))


def mean_turns(mix: Callable[[int], Conversation], n: int = 6) -> float:
    return sum(len(mix(i).turns) for i in range(n)) / n
