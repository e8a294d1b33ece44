"""The shop's fixed vocabulary: categories, brands, product types, colours and sizes.

Everything that names things in the shop starts here: the seed generator builds
products from it, and the NLU assets (lookup tables, jieba user dictionary, spaCy
entity ruler) are generated from the products it yields. Change a name here and
regenerate (`make assets`); never edit the generated files by hand.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ProductType:
    """A kind of product within a category, e.g. 跑步鞋 in 鞋靴."""

    name: str
    models: tuple[str, ...]
    price_range: tuple[int, int]
    colours: tuple[str, ...]
    sizes: tuple[str, ...] = ("均码",)
    warranty_months: int = 0
    # Why this type has no 7-day no-reason return, in words for the shopper; empty when it has one.
    no_return_reason: str = ""
    aliases: tuple[str, ...] = ()
    # Which of the category's brands make this type; empty means all of them.
    brands: tuple[str, ...] = ()
    # Models only some brands make, as (model, (brand, ...)) pairs, e.g. ("Air Zoom", ("耐克",)).
    # A model not listed here is generic: every brand in `brands` makes it.
    model_brands: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def returnable(self) -> bool:
        """7-day no-reason return allowed."""
        return not self.no_return_reason


@dataclass(frozen=True)
class Category:
    name: str
    brands: tuple[str, ...]
    types: tuple[ProductType, ...]
    aliases: tuple[str, ...] = field(default=())


# Why some goods have no 7-day no-reason return (shown to the shopper before "，<product>不支持…").
FOOD = "食品类商品关系到食品安全"
COSMETIC = "美妆护肤品属于个人护理用品，拆封后会影响二次销售"
INTIMATE = "贴身卫生用品"
BEDDING = "床上用品属于贴身用品"
INSTALLED = "空调需要上门安装，安装后"

CLOTHES_SIZES = ("S", "M", "L", "XL", "XXL")
SHOE_SIZES = ("36", "37", "38", "39", "40", "41", "42", "43", "44")
KIDS_SIZES = ("90", "100", "110", "120", "130")

CATEGORIES: tuple[Category, ...] = (
    Category(
        "手机数码",
        ("小米", "华为", "荣耀", "OPPO", "vivo"),
        (
            ProductType("手机", ("14", "Note 13", "Mate 60", "X50", "Reno 11", "Pura 70", "Magic6", "Find X7", "X100",
                                "S18", "K70", "nova 12"), (999, 5999),
                        ("黑色", "白色", "蓝色", "绿色"), ("8+256G", "12+256G", "12+512G"), 12,
                        model_brands=(("14", ("小米",)), ("Note 13", ("小米",)), ("Mate 60", ("华为",)),
                                      ("X50", ("荣耀",)), ("Reno 11", ("OPPO",)), ("Pura 70", ("华为",)),
                                      ("Magic6", ("荣耀",)), ("Find X7", ("OPPO",)), ("X100", ("vivo",)),
                                      ("S18", ("vivo",)), ("K70", ("小米",)), ("nova 12", ("华为",)))),
            ProductType("智能手环", ("8", "9 Pro", "Band 8"), (149, 399), ("黑色", "粉色", "白色"), warranty_months=12,
                        aliases=("手环",), brands=("小米", "华为", "荣耀"),
                        model_brands=(("9 Pro", ("小米", "华为")), ("Band 8", ("荣耀",)))),
            ProductType("蓝牙耳机", ("Buds 5", "FreeBuds 5i", "Air 3", "Enco X2", "TWS 4", "FreeClip",
                                    "Earbuds X6"), (129, 999),
                        ("白色", "黑色", "蓝色"), warranty_months=12, aliases=("耳机", "无线耳机"),
                        model_brands=(("Buds 5", ("小米",)), ("FreeBuds 5i", ("华为",)), ("Air 3", ("OPPO",)),
                                      ("Enco X2", ("OPPO",)), ("TWS 4", ("vivo",)),
                                      ("FreeClip", ("华为",)), ("Earbuds X6", ("荣耀",)))),
            ProductType("充电宝", ("10000mAh", "20000mAh", "磁吸 5000mAh"), (79, 199), ("白色", "黑色"), warranty_months=12,
                        aliases=("移动电源",), brands=("小米", "华为", "荣耀")),
        ),
        aliases=("数码", "手机"),
    ),
    Category(
        "电脑办公",
        ("联想", "华为", "罗技", "得力"),
        (
            ProductType("笔记本电脑", ("小新Pro 14", "MateBook 14", "ThinkBook 16", "拯救者 Y9000P", "MateBook X Pro",
                                     "ThinkPad X1 Carbon", "YOGA Air 14", "MateBook D 16"), (3999, 8999),
                        ("银色", "灰色"), ("16G+512G", "16G+1T", "32G+1T"), 24, aliases=("笔记本", "电脑"),
                        model_brands=(("小新Pro 14", ("联想",)), ("MateBook 14", ("华为",)), ("ThinkBook 16", ("联想",)),
                                      ("拯救者 Y9000P", ("联想",)), ("MateBook X Pro", ("华为",)),
                                      ("ThinkPad X1 Carbon", ("联想",)), ("YOGA Air 14", ("联想",)),
                                      ("MateBook D 16", ("华为",)))),
            ProductType("无线鼠标", ("M330", "M720", "Pebble", "小新", "CD23", "MX Master 3S"), (59, 299), ("黑色", "白色", "粉色"),
                        warranty_months=12, aliases=("鼠标",), brands=("罗技",),
                        model_brands=(("小新", ("联想",)), ("CD23", ("华为",)))),
            ProductType("机械键盘", ("K845", "G610", "MX Keys", "拯救者 K500"), (199, 899), ("黑色", "白色"),
                        ("87键", "104键"), 12, aliases=("键盘",), brands=("罗技",),
                        model_brands=(("拯救者 K500", ("联想",)),)),
            ProductType("显示器", ("27英寸 2K", "24英寸 FHD", "32英寸 4K"), (699, 1999), ("黑色",), warranty_months=36,
                        brands=("联想", "华为")),
            ProductType("签字笔", ("0.5mm 12支装", "0.38mm 12支装", "按动 0.5mm 24支装", "速干 0.5mm 60支装"), (9, 29),
                        ("黑色", "蓝色", "红色"), aliases=("中性笔",), brands=("得力",)),
        ),
        aliases=("电脑", "办公用品"),
    ),
    Category(
        "家用电器",
        ("美的", "格力", "海尔", "戴森", "九阳"),
        (
            ProductType("空气炸锅", ("5L", "6.5L可视", "双篮 9L"), (199, 599), ("白色", "黑色"), warranty_months=12,
                        brands=("美的", "九阳", "海尔"), model_brands=(("双篮 9L", ("美的",)),)),
            ProductType("吹风机", ("HD15", "高速负离子", "HD08"), (149, 2999), ("紫红色", "白色", "黑色"),
                        warranty_months=24, aliases=("电吹风",), brands=("美的", "海尔"),
                        model_brands=(("HD15", ("戴森",)), ("HD08", ("戴森",)))),
            ProductType("电饭煲", ("4L IH", "3L 智能", "5L 大容量"), (199, 899), ("白色", "银色"), warranty_months=12,
                        brands=("美的", "九阳", "海尔")),
            ProductType("扫地机器人", ("V8", "X10 Pro", "360 Vis Nav"), (1299, 3999), ("白色", "黑色"),
                        warranty_months=12, aliases=("扫地机",),
                        model_brands=(("V8", ("美的",)), ("X10 Pro", ("海尔",)), ("360 Vis Nav", ("戴森",)))),
            ProductType("豆浆机", ("1.2L 破壁",), (299, 699), ("白色",), warranty_months=12, brands=("九阳", "美的")),
            ProductType("空调", ("1.5匹 变频挂机", "3匹 立柜"), (2499, 6999), ("白色",), warranty_months=72,
                        no_return_reason=INSTALLED, brands=("格力", "美的", "海尔")),
        ),
        aliases=("家电", "电器"),
    ),
    Category(
        "男装",
        ("优衣库", "海澜之家", "李宁", "波司登"),
        (
            ProductType("羽绒服", ("轻薄款", "连帽加厚款", "短款立领"), (399, 1599), ("黑色", "藏青色", "卡其色"),
                        CLOTHES_SIZES, brands=("波司登", "优衣库", "海澜之家", "李宁"),
                        model_brands=(("短款立领", ("波司登", "海澜之家")),)),
            ProductType("卫衣", ("连帽款", "圆领款", "拉链开衫款"), (99, 299), ("灰色", "黑色", "白色"), CLOTHES_SIZES,
                        brands=("优衣库", "李宁", "海澜之家")),
            ProductType("T恤", ("纯棉短袖", "速干短袖", "纯棉长袖"), (49, 149), ("白色", "黑色", "蓝色"), CLOTHES_SIZES,
                        brands=("优衣库", "海澜之家", "李宁")),
            ProductType("牛仔裤", ("直筒款", "修身款", "宽松款"), (149, 399), ("蓝色", "黑色"),
                        ("29", "30", "31", "32", "33", "34"), brands=("优衣库", "海澜之家")),
            ProductType("男士内裤", ("莫代尔3条装",), (59, 99), ("黑色", "灰色"), CLOTHES_SIZES, no_return_reason=INTIMATE,
                        aliases=("内裤",), brands=("优衣库", "海澜之家")),
        ),
        aliases=("男士服装",),
    ),
    Category(
        "女装",
        ("优衣库", "ONLY", "太平鸟", "波司登"),
        (
            ProductType("连衣裙", ("碎花款", "针织款", "法式长裙", "衬衫裙"), (159, 599), ("米白色", "黑色", "碎花"), CLOTHES_SIZES,
                        aliases=("裙子",), brands=("优衣库", "ONLY", "太平鸟")),
            ProductType("针织衫", ("开衫", "高领款"), (129, 399), ("米白色", "燕麦色", "黑色"), CLOTHES_SIZES,
                        aliases=("毛衣",), brands=("优衣库", "ONLY", "太平鸟")),
            ProductType("大衣", ("双面羊绒", "中长款"), (699, 2599), ("驼色", "黑色", "灰色"), CLOTHES_SIZES,
                        brands=("ONLY", "太平鸟", "优衣库")),
            ProductType("羽绒服", ("短款", "长款过膝"), (499, 1899), ("白色", "黑色", "粉色"), CLOTHES_SIZES,
                        brands=("波司登", "优衣库", "太平鸟")),
            ProductType("阔腿裤", ("高腰西装款",), (129, 299), ("黑色", "卡其色"), CLOTHES_SIZES,
                        brands=("ONLY", "太平鸟", "优衣库")),
        ),
        aliases=("女士服装", "女生衣服"),
    ),
    Category(
        "鞋靴",
        ("耐克", "阿迪达斯", "安踏", "李宁", "斯凯奇"),
        (
            ProductType("跑步鞋", ("Air Zoom", "Ultraboost", "C37", "赤兔6", "Pegasus 41", "Adizero SL", "马赫4",
                                  "飞电4", "GO RUN"), (299, 1299), ("黑色", "白色", "灰色"),
                        SHOE_SIZES, aliases=("跑鞋", "运动鞋"),
                        model_brands=(("Air Zoom", ("耐克",)), ("Ultraboost", ("阿迪达斯",)), ("C37", ("安踏",)),
                                      ("赤兔6", ("李宁",)), ("Pegasus 41", ("耐克",)), ("Adizero SL", ("阿迪达斯",)),
                                      ("马赫4", ("安踏",)), ("飞电4", ("李宁",)), ("GO RUN", ("斯凯奇",)))),
            ProductType("板鞋", ("经典款", "Stan Smith", "Air Force 1"), (299, 799), ("白色", "黑色"), SHOE_SIZES,
                        aliases=("小白鞋",), brands=("安踏", "李宁", "斯凯奇"),
                        model_brands=(("Stan Smith", ("阿迪达斯",)), ("Air Force 1", ("耐克",)))),
            ProductType("篮球鞋", ("韦德之道", "KT9", "LeBron 21", "Dame 8", "音速11"), (499, 1499), ("黑色", "红色", "白色"),
                        SHOE_SIZES,
                        model_brands=(("韦德之道", ("李宁",)), ("KT9", ("安踏",)), ("LeBron 21", ("耐克",)),
                                      ("Dame 8", ("阿迪达斯",)), ("音速11", ("李宁",)))),
            ProductType("雪地靴", ("加绒款", "经典短靴"), (199, 499), ("栗色", "黑色"), SHOE_SIZES, aliases=("靴子",),
                        brands=("安踏", "李宁", "斯凯奇")),
        ),
        aliases=("鞋子", "鞋"),
    ),
    Category(
        "美妆护肤",
        ("兰蔻", "雅诗兰黛", "欧莱雅", "珀莱雅", "完美日记"),
        (
            ProductType("精华液", ("小黑瓶 50ml", "红宝石 30ml", "双抗 30ml", "小棕瓶 50ml", "黑精华 30ml",
                                  "源力 30ml"), (199, 1099), ("标准装",),
                        ("30ml", "50ml"), no_return_reason=COSMETIC, aliases=("精华",),
                        model_brands=(("小黑瓶 50ml", ("兰蔻",)), ("红宝石 30ml", ("珀莱雅",)),
                                      ("双抗 30ml", ("珀莱雅",)), ("小棕瓶 50ml", ("雅诗兰黛",)),
                                      ("黑精华 30ml", ("欧莱雅",)), ("源力 30ml", ("珀莱雅",)))),
            ProductType("面霜", ("菁纯 50ml", "紫熨斗 30ml", "多效智妍 50ml", "复颜玻尿酸 50ml", "红宝石 50ml"), (299, 1599),
                        ("标准装",), ("30ml", "50ml"), no_return_reason=COSMETIC,
                        model_brands=(("菁纯 50ml", ("兰蔻",)), ("紫熨斗 30ml", ("欧莱雅",)),
                                      ("多效智妍 50ml", ("雅诗兰黛",)), ("复颜玻尿酸 50ml", ("欧莱雅",)),
                                      ("红宝石 50ml", ("珀莱雅",)))),
            ProductType("口红", ("小金条", "196 唇膏", "丝绒唇釉", "倾慕 333", "小细跟"), (99, 399),
                        ("正红色", "豆沙色", "枫叶色"), no_return_reason=COSMETIC, aliases=("唇膏",),
                        model_brands=(("小金条", ("完美日记",)), ("196 唇膏", ("兰蔻",)),
                                      ("丝绒唇釉", ("完美日记", "欧莱雅")), ("倾慕 333", ("雅诗兰黛",)),
                                      ("小细跟", ("完美日记",)))),
            ProductType("防晒霜", ("小金瓶 SPF50", "清透防晒乳", "小白管 SPF50"), (99, 299), ("标准装",), ("40ml", "60ml"),
                        no_return_reason=COSMETIC, aliases=("防晒",), brands=("欧莱雅", "珀莱雅", "完美日记", "兰蔻"),
                        model_brands=(("小金瓶 SPF50", ("欧莱雅",)), ("小白管 SPF50", ("兰蔻",)))),
        ),
        aliases=("化妆品", "护肤品", "美妆"),
    ),
    Category(
        "食品饮料",
        ("三只松鼠", "良品铺子", "伊利", "蒙牛", "农夫山泉"),
        (
            ProductType("坚果礼盒", ("每日坚果30包", "年货大礼包", "零食大礼包"), (59, 199), ("标准装",),
                        no_return_reason=FOOD, aliases=("坚果", "零食礼盒"), brands=("三只松鼠", "良品铺子")),
            ProductType("纯牛奶", ("250ml*24盒", "全脂 250ml*16盒", "金典 250ml*12盒", "特仑苏 250ml*12盒",
                                   "高钙 250ml*24盒"), (49, 89),
                        ("标准装",), no_return_reason=FOOD, aliases=("牛奶",), brands=("伊利", "蒙牛"),
                        model_brands=(("金典 250ml*12盒", ("伊利",)), ("特仑苏 250ml*12盒", ("蒙牛",)))),
            ProductType("矿泉水", ("550ml*24瓶", "5L*4桶", "天然水 380ml*24瓶", "长白山 535ml*24瓶"), (29, 59), ("标准装",),
                        no_return_reason=FOOD, brands=("农夫山泉",)),
            ProductType("牛肉干", ("五香 200g", "麻辣 200g", "风干手撕 250g"), (39, 79), ("标准装",), no_return_reason=FOOD,
                        brands=("三只松鼠", "良品铺子")),
        ),
        aliases=("零食", "吃的", "食品"),
    ),
    Category(
        "母婴用品",
        ("帮宝适", "花王", "飞鹤", "好孩子", "巴拉巴拉"),
        (
            ProductType("纸尿裤", ("一级帮 L码", "拉拉裤 XL码", "妙而舒 M码", "清新帮 M码", "黑金帮 L码", "妙而舒 L码"),
                        (99, 199), ("标准装",), ("S", "M", "L", "XL"),
                        no_return_reason=INTIMATE, aliases=("尿不湿",), brands=("帮宝适", "花王"),
                        model_brands=(("一级帮 L码", ("帮宝适",)), ("妙而舒 M码", ("花王",)),
                                      ("清新帮 M码", ("帮宝适",)), ("黑金帮 L码", ("帮宝适",)),
                                      ("妙而舒 L码", ("花王",)))),
            ProductType("婴儿奶粉", ("星飞帆 3段 700g", "飞帆 2段 900g", "星飞帆 1段 700g", "臻稚 1段 800g",
                                    "星飞帆 2段 700g"), (199, 399), ("标准装",), no_return_reason=FOOD,
                        aliases=("奶粉",), brands=("飞鹤",)),
            ProductType("婴儿推车", ("轻便伞车", "高景观双向", "口袋车"), (599, 2599), ("灰色", "卡其色"),
                        warranty_months=12, aliases=("推车", "童车"), brands=("好孩子",)),
            ProductType("儿童羽绒服", ("连帽款", "轻薄款", "中长款"), (199, 499), ("红色", "粉色", "蓝色"), KIDS_SIZES,
                        brands=("好孩子", "巴拉巴拉")),
        ),
        aliases=("母婴", "宝宝用品"),
    ),
    Category(
        "运动户外",
        ("迪卡侬", "探路者", "李宁", "Keep"),
        (
            ProductType("瑜伽垫", ("TPE 6mm", "加宽 10mm"), (69, 199), ("紫色", "蓝色", "粉色"),
                        brands=("迪卡侬", "Keep", "李宁")),
            ProductType("冲锋衣", ("三合一", "防水单层", "软壳"), (299, 999), ("黑色", "蓝色", "红色"), CLOTHES_SIZES,
                        aliases=("户外外套",), brands=("探路者", "迪卡侬", "李宁")),
            ProductType("帐篷", ("3-4人自动", "双人轻量"), (199, 899), ("绿色", "卡其色"), brands=("迪卡侬", "探路者")),
            ProductType("哑铃", ("可调节 20kg", "包胶 5kg一对"), (99, 499), ("黑色",), brands=("迪卡侬", "Keep")),
            ProductType("登山包", ("40L", "60L"), (199, 599), ("黑色", "橙色"), warranty_months=12,
                        aliases=("背包", "双肩包"), brands=("迪卡侬", "探路者")),
        ),
        aliases=("运动", "户外"),
    ),
    Category(
        "家居厨具",
        ("苏泊尔", "双立人", "乐扣乐扣", "水星家纺"),
        (
            ProductType("不粘锅", ("28cm 炒锅", "24cm 煎锅", "32cm 炒锅"), (129, 599), ("黑色", "红色"),
                        warranty_months=24, aliases=("炒锅", "锅"), brands=("苏泊尔", "双立人")),
            ProductType("保温杯", ("500ml", "750ml", "1000ml"), (59, 299), ("白色", "黑色", "蓝色"),
                        aliases=("水杯", "杯子"), brands=("乐扣乐扣", "苏泊尔")),
            ProductType("四件套", ("纯棉 1.8m", "水洗棉 1.5m", "天丝 1.8m", "磨毛 1.5m"), (199, 699),
                        ("灰色", "蓝色", "粉色"), ("1.5m床", "1.8m床"),
                        no_return_reason=BEDDING, aliases=("床单被套", "床上用品"), brands=("水星家纺",)),
            ProductType("刀具套装", ("7件套",), (299, 1299), ("银色",), warranty_months=12, aliases=("菜刀", "刀"),
                        brands=("双立人", "苏泊尔")),
            ProductType("保鲜盒", ("10件套", "玻璃 3件套", "便当盒 2件套"), (49, 159), ("透明",), brands=("乐扣乐扣", "苏泊尔")),
        ),
        aliases=("家居", "厨具", "厨房用品"),
    ),
)


ALL_COLOURS: tuple[str, ...] = tuple(sorted({c for cat in CATEGORIES for t in cat.types for c in t.colours}))

# What shoppers type for a colour, mapped to the catalog's name.
COLOUR_SYNONYMS: dict[str, str] = {
    "黑的": "黑色", "黑": "黑色", "白的": "白色", "白": "白色", "蓝的": "蓝色", "红的": "红色",
    "粉的": "粉色", "灰的": "灰色", "绿的": "绿色", "藏青": "藏青色", "卡其": "卡其色", "米白": "米白色",
    "驼": "驼色", "紫的": "紫色", "银的": "银色", "深蓝": "藏青色",
}

# What shoppers type for a brand (pinyin, English, short forms), mapped to the catalog's name.
# Matching is case-insensitive; keep aliases at least two characters long.
BRAND_ALIASES: dict[str, tuple[str, ...]] = {
    "小米": ("xiaomi", "红米", "redmi"), "华为": ("huawei",), "荣耀": ("honor",), "OPPO": ("欧珀",),
    "vivo": ("维沃",), "联想": ("lenovo",), "罗技": ("logitech", "logi"), "得力": ("deli",),
    "美的": ("midea",), "格力": ("gree",), "海尔": ("haier",), "戴森": ("dyson",), "九阳": ("joyoung",),
    "优衣库": ("uniqlo", "优衣"), "海澜之家": ("海澜", "hla"), "李宁": ("lining", "li-ning"),
    "波司登": ("bosideng",), "ONLY": ("欧莉",), "太平鸟": ("peacebird",), "耐克": ("nike", "耐吉"),
    "阿迪达斯": ("adidas", "阿迪"), "安踏": ("anta",), "斯凯奇": ("skechers",),
    "兰蔻": ("lancome", "lancôme"), "雅诗兰黛": ("esteelauder", "雅诗", "estee"), "欧莱雅": ("loreal", "l'oreal"),
    "珀莱雅": ("proya",), "完美日记": ("perfectdiary",), "三只松鼠": ("松鼠",), "良品铺子": ("良品",),
    "伊利": ("yili",), "蒙牛": ("mengniu",), "农夫山泉": ("农夫",), "帮宝适": ("pampers",),
    "花王": ("kao", "merries"), "飞鹤": ("feihe",), "好孩子": ("goodbaby",), "巴拉巴拉": ("balabala",),
    "迪卡侬": ("decathlon",), "探路者": ("toread",), "Keep": ("keep",), "苏泊尔": ("supor",),
    "双立人": ("zwilling",), "乐扣乐扣": ("乐扣", "locklock", "lock&lock"), "水星家纺": ("水星", "mercury"),
}

# Brands the shop does not sell. A mention of one ("苹果手机") resolves to no product rather than
# to the nearest one we have; the bot can then say so and offer alternatives.
OTHER_BRANDS: tuple[str, ...] = (
    "苹果", "apple", "iphone", "ipad", "macbook", "airpods", "三星", "samsung", "索尼", "sony", "戴尔", "dell",
    "惠普", "hp", "华硕", "asus", "新百伦", "new balance", "彪马", "puma", "特步", "匡威", "converse", "资生堂",
    "sk-ii", "迪奥", "dior", "香奈儿", "chanel", "飞利浦", "philips", "松下", "panasonic", "美素佳儿", "爱他美",
)


@dataclass(frozen=True)
class ProductLine:
    """One product the shop sells: a brand's model of a product type."""

    category: Category
    type: ProductType
    brand: str
    model: str

    @property
    def name(self) -> str:
        """Display name, brand + model + type, e.g. "耐克 Air Zoom 跑步鞋"."""
        return f"{self.brand} {self.model} {self.type.name}"


def makers(category: Category, ptype: ProductType) -> tuple[tuple[str, str], ...]:
    """The (brand, model) pairs of a product type, in catalog order."""
    specific = dict(ptype.model_brands)
    generic_brands = ptype.brands or category.brands
    pairs: list[tuple[str, str]] = []
    for model in ptype.models:
        for brand in specific.get(model, generic_brands):
            pairs.append((brand, model))
    return tuple(pairs)


def product_lines() -> tuple[ProductLine, ...]:
    """Every product the shop sells, in catalog order: category, type, then model, then brand."""
    return tuple(
        ProductLine(cat, ptype, brand, model)
        for cat in CATEGORIES
        for ptype in cat.types
        for brand, model in makers(cat, ptype)
    )


def category_of(name: str) -> Category | None:
    """The category with this name or alias, or None."""
    for cat in CATEGORIES:
        if name == cat.name or name in cat.aliases:
            return cat
    return None


def canonical_brand(text: str) -> str | None:
    """The catalog brand a shopper means by `text` (a name or alias, any case), or None."""
    needle = text.strip().lower()
    for brand, aliases in BRAND_ALIASES.items():
        if needle == brand.lower() or needle in aliases:
            return brand
    for cat in CATEGORIES:
        for brand in cat.brands:
            if needle == brand.lower():
                return brand
    return None


def product_type(type_name: str) -> ProductType | None:
    """The product type with this name, or None."""
    return _TYPES.get(type_name)


_TYPES: dict[str, ProductType] = {ptype.name: ptype for cat in CATEGORIES for ptype in cat.types}
