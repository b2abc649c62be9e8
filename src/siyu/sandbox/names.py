"""Realistic Chinese names for simulated people (demo data, the sandbox's population)."""

import random

# Common surnames, roughly in order of frequency, so the mix looks like a real customer base.
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔"
    "钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍红鹏辉玲丹建国晨思雨欣怡子涵梓萱浩宇"
    "佳琪雅婷嘉怡文博一诺若曦梦洁晓雪宇轩俊杰诗涵可馨雨桐紫涵昊天心怡语嫣子墨沐阳锦程婉清安琪悦然"
)
WECHAT_NICKS = (
    "小太阳",
    "柠檬不萌",
    "安然",
    "晴天",
    "宝妈日记",
    "一一妈妈",
    "橘子汽水",
    "南风知我意",
    "Lucky",
    "Amy",
    "Coco",
    "向日葵",
    "木子",
    "悠悠",
    "豆豆妈",
)


def person_name(rng: random.Random) -> str:
    surname = rng.choice(SURNAMES)
    given = "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2, 2))))
    return surname + given


def customer_name(rng: random.Random) -> str:
    """WeChat display names: mostly real names, some nicknames."""
    if rng.random() < 0.15:
        return rng.choice(WECHAT_NICKS) + (str(rng.randint(1, 99)) if rng.random() < 0.3 else "")
    return person_name(rng)


def mobile(rng: random.Random) -> str:
    return rng.choice(("13", "15", "17", "18", "19")) + "".join(str(rng.randint(0, 9)) for _ in range(9))
