"""Product questions: details, price, stock by colour/size, usage, search, comparison."""
from __future__ import annotations

from typing import Any, Optional

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.common import (
    amount_mentioned,
    backend,
    current_product,
    discussed_product,
    entity_values,
    first_entity,
    mentioned_products,
    product_context,
    yuan,
)
from bot.shop.models import Product
from bot.shop.policy import NO_REASON_RETURN_DAYS, SHIP_WITHIN_HOURS

ASK_WHICH_PRODUCT = "您问的是哪款商品呢？发一下商品名称就好，比如「小米手环」「耐克跑鞋」。"


def _price_line(product: Product) -> str:
    return f"{product.name}：{yuan(product.price)}"


def _ask_which(dispatcher: CollectingDispatcher) -> list[EventType]:
    dispatcher.utter_message(text=ASK_WHICH_PRODUCT)
    return []


class ActionProductDetails(Action):
    def name(self) -> str:
        return "action_product_details"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        product = current_product(tracker)
        if product is None:
            return _ask_which(dispatcher)
        specs = "\n".join(f"· {key}：{value}" for key, value in product.specs.items())
        warranty = f"保修 {product.warranty_months} 个月" if product.warranty_months else "无保修服务"
        returnable = f"{'' if product.returnable else '不'}支持{NO_REASON_RETURN_DAYS}天无理由退货"
        dispatcher.utter_message(
            text=f"{product.name}（{product.category}）\n价格：{yuan(product.price)}\n{specs}\n{warranty}，{returnable}。"
        )
        return product_context(product)


class ActionProductPrice(Action):
    def name(self) -> str:
        return "action_product_price"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        products = mentioned_products(tracker)
        if not products:
            product = current_product(tracker)
            products = [product] if product else []
        if not products:
            return _ask_which(dispatcher)
        lines = [_price_line(p) for p in products[:3]]
        promos = backend().active_promotions(category=products[0].category)
        tail = f"\n现在有活动：{promos[0].title}，下单时自动优惠。" if promos else ""
        dispatcher.utter_message(text="\n".join(lines) + tail)
        return product_context(products[0])


def _wanted_variant(tracker: Tracker) -> tuple[Optional[str], Optional[str]]:
    colours = entity_values(tracker, "color")
    sizes = entity_values(tracker, "size")
    return (colours[0] if colours else tracker.get_slot("color"), sizes[0] if sizes else tracker.get_slot("size"))


def _normalise_size(size: Optional[str], product: Product) -> Optional[str]:
    """Map what shoppers write ("42码", "xl") to the size names of the product's variants."""
    if not size:
        return None
    sizes = {v.size for v in product.variants}
    candidate = size.strip().upper().replace("码", "").replace("号", "")
    for known in sizes:
        if candidate == known.upper():
            return known
    return None


class ActionProductStock(Action):
    def name(self) -> str:
        return "action_product_stock"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        product = current_product(tracker)
        if product is None:
            return _ask_which(dispatcher)
        colour, size_mention = _wanted_variant(tracker)
        colours = {v.colour for v in product.variants}
        if colour and colour not in colours:
            dispatcher.utter_message(text=f"{product.name}没有{colour}哦，可选颜色：{'、'.join(sorted(colours))}。")
            return product_context(product)
        size = _normalise_size(size_mention, product)
        if size_mention and size is None:
            sizes = sorted({v.size for v in product.variants})
            dispatcher.utter_message(text=f"{product.name}没有{size_mention}这个规格，可选：{'、'.join(sizes)}。")
            return product_context(product)
        if colour or size:
            stock = product.stock_of(colour, size)
            wanted = " ".join(x for x in (colour, size) if x)
            if stock > 0:
                dispatcher.utter_message(text=f"{product.name}（{wanted}）有货，库存 {stock} 件，现在下单{SHIP_WITHIN_HOURS}小时内发货～")
            else:
                alternatives = [v for v in product.variants if v.stock > 0]
                hint = "、".join(f"{v.colour} {v.size}" for v in alternatives[:5])
                dispatcher.utter_message(
                    text=f"抱歉，{product.name}（{wanted}）暂时缺货。" + (f"有货的规格：{hint}。" if hint else "整款都已售罄。")
                )
            return product_context(product)
        in_stock = [v for v in product.variants if v.stock > 0]
        if not in_stock:
            dispatcher.utter_message(text=f"抱歉，{product.name}目前全部售罄，补货后会第一时间上架。")
        else:
            listing = "\n".join(f"· {v.colour} {v.size}：{v.stock}件" for v in in_stock[:8])
            dispatcher.utter_message(text=f"{product.name}有货的规格：\n{listing}")
        return product_context(product)


class ActionProductUsage(Action):
    def name(self) -> str:
        return "action_product_usage"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        product = current_product(tracker)
        if product is None:
            return _ask_which(dispatcher)
        dispatcher.utter_message(text=f"{product.name}的使用和保养说明：\n{product.usage}")
        return product_context(product)


class ActionSearchProducts(Action):
    def name(self) -> str:
        return "action_search_products"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        brand = first_entity(tracker, "brand")
        category = first_entity(tracker, "category")
        mention = first_entity(tracker, "product")
        budget = amount_mentioned(tracker)
        found = backend().find_products(mention, brand=brand, category=category, max_price=budget, limit=5)
        if not found and (mention or brand or category):
            # Relax the budget before saying there is nothing.
            found = backend().find_products(mention, brand=brand, category=category, limit=5)
            if found and budget:
                dispatcher.utter_message(text=f"{yuan(budget)}以内暂时没有合适的，看看这些：")
        if not found:
            dispatcher.utter_message(text="没找到符合条件的商品😅 换个说法试试？比如「300以内的跑鞋」「华为的耳机」。")
            return []
        listing = "\n".join(f"{i}. {p.name} {yuan(p.price)}" for i, p in enumerate(found, 1))
        dispatcher.utter_message(
            text=f"为您找到这些：\n{listing}",
            buttons=[{"title": p.name, "payload": f"{p.name}怎么样"} for p in found[:3]],
        )
        return product_context(found[0])


class ActionCompareProducts(Action):
    def name(self) -> str:
        return "action_compare_products"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        products = mentioned_products(tracker)
        if len(products) == 1:
            other = discussed_product(tracker)
            if other is not None and other.id != products[0].id:
                products.append(other)
        if len(products) < 2:
            dispatcher.utter_message(text="请告诉我想对比的两款商品，比如「小米手环8和华为手环9哪个好」。")
            return []
        a, b = products[:2]
        keys = [k for k in a.specs if k in b.specs][:5]
        rows = [f"· 价格：{yuan(a.price)} vs {yuan(b.price)}"]
        rows += [f"· {k}：{a.specs[k]} vs {b.specs[k]}" for k in keys]
        rows.append(f"· 保修：{a.warranty_months or 0}个月 vs {b.warranty_months or 0}个月")
        cheaper = a if a.price <= b.price else b
        dispatcher.utter_message(
            text=f"{a.name} 对比 {b.name}：\n" + "\n".join(rows) + f"\n预算有限选{cheaper.name}更划算；看重配置可以按上面参数挑～"
        )
        return product_context(a)
