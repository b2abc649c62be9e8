"""The demo corp's channels and live codes, with a year of attributed adds and daily costs.

Written straight to the tables like the rest of the seed (nothing exists in WeCom yet); the
worker's minute tick creates the list-mode codes in the sandbox once the server is up, and the
exact-mode codes get their staff's codes on the first scan.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta

from siyu.acquisition.leads import lead_form_save
from siyu.acquisition.models import Acquisition, Channel, ChannelCost, LiveCode, LiveCodeDay, LiveCodeMember
from siyu.acquisition.phone_import import phone_import_create
from siyu.acquisition.services import STATE_PREFIX
from siyu.autotag.services import rule_save
from siyu.corps.models import Corp, Department, Staff
from siyu.customers.models import Follow
from siyu.kit.clock import now
from siyu.kit.errors import InvalidInput
from siyu.kit.phones import phone_normalise
from siyu.kit.tenancy import Actor, Role
from siyu.messaging.models import WelcomeMessage
from siyu.sandbox.names import mobile
from siyu.tags.models import Tag
from siyu.tags.services import tag_group_create

STORE_HOURS = {"weekly": {str(d): [["10:00", "22:00"]] for d in range(1, 8)}}
# key -> (channel name, group, daily cost range in yuan or None)
CHANNELS = {
    "store": ("门店", Channel.Group.STORE, None),
    "web": ("官网", Channel.Group.WEBSITE, None),
    "ground": ("地推", Channel.Group.GROUND_PUSH, (300, 800)),
    "parcel": ("包裹卡", Channel.Group.PARCEL_CARD, (80, 200)),
    "xhs": ("小红书", Channel.Group.CONTENT, (200, 600)),
    "douyin": ("抖音", Channel.Group.CONTENT, (200, 500)),
    "ads": ("广告投放", Channel.Group.ADS, (800, 2000)),
}
WELCOME = "{customer_name}您好，我是{staff_name}，欢迎来到示例母婴！回复“福利”领取新人礼包 🎁"


def seed_acquisition(corp: Corp, rng: random.Random, *, cost_days: int = 90) -> dict[str, object]:
    """Channels and live codes; returns how a seeded follow's channel key maps to a live code."""
    channels = {key: Channel.objects.create(corp=corp, name=name, group=group) for key, (name, group, _) in CHANNELS.items()}
    depts = {d.name: d for d in Department.objects.filter(corp=corp)}
    service = depts["客服中心"]
    backup = Staff.objects.filter(corp=corp, department=service).order_by("id").first()
    source = {t.name: t for t in Tag.objects.filter(corp=corp, group__name="客户来源")}
    codes: dict[str, object] = {}
    made = []

    def code(key: str, name: str, *, tag: str, mode=LiveCode.Mode.WECOM_LIST, routing=LiveCode.Routing.ROTATE, members=(), schedule=None) -> LiveCode:
        live = LiveCode.objects.create(
            corp=corp,
            channel=channels[key],
            name=name,
            state=f"{STATE_PREFIX}demo{len(made) + 1:02d}",
            mode=mode,
            routing=routing,
            schedule=schedule or {},
        )
        LiveCodeMember.objects.bulk_create([LiveCodeMember(corp=corp, live_code=live, **m) for m in members])
        live.tags.set([source[tag]])
        made.append(live)
        return live

    stores = {}
    for dept in depts.values():
        if dept.name.endswith("门店"):
            # Each store's guides, 40 new customers a day each, open hours, the service desk as backup.
            members = [{"staff": s, "daily_cap": 40} for s in Staff.objects.filter(corp=corp, department=dept).order_by("id")]
            members.append({"staff": backup, "backup": True})
            stores[dept.id] = code(
                "store", f"{dept.name}活码", tag="门店", mode=LiveCode.Mode.EXACT, routing=LiveCode.Routing.LEAST_LOADED, members=members, schedule=STORE_HOURS
            )
    codes["store"] = stores
    # The other channels reach every store's guides; ground push favours Shanghai, where it runs.
    store_depts = [d for d in depts.values() if d.name.endswith("门店")]
    everyone = [{"department": d} for d in store_depts]
    codes["web"] = code("web", "官网弹窗", tag="官网", members=everyone)
    codes["ground"] = code(
        "ground",
        "地推 · 商场活动",
        tag="地推",
        mode=LiveCode.Mode.EXACT,
        routing=LiveCode.Routing.WEIGHTED,
        members=[{"department": d, "weight": 3 if d.name == "上海门店" else 1} for d in store_depts],
    )
    codes["parcel"] = code("parcel", "包裹卡", tag="包裹卡", members=everyone)
    codes["xhs"] = code("xhs", "小红书笔记", tag="小红书", members=everyone)
    codes["douyin"] = code("douyin", "抖音直播间", tag="抖音", members=everyone)
    codes["ads"] = code(
        "ads", "朋友圈广告", tag="广告投放", mode=LiveCode.Mode.EXACT, routing=LiveCode.Routing.LEAST_LOADED, members=[{**m, "daily_cap": 60} for m in everyone]
    )
    WelcomeMessage.objects.create(corp=corp, text=WELCOME)
    WelcomeMessage.objects.create(corp=corp, live_code=codes["ads"], text="{customer_name}您好！广告专享：首单立减30元，回复“领券”即可 👶")

    today = now().astimezone(corp.tzinfo).date()
    ChannelCost.objects.bulk_create(
        [
            ChannelCost(corp=corp, channel=channels[key], day=today - timedelta(days=d), amount_fen=rng.randint(lo, hi) * 100)
            for key, (_, _, spend) in CHANNELS.items()
            if spend
            for lo, hi in [spend]
            for d in range(cost_days)
        ]
    )
    return codes


def code_for(codes: dict, key: str, staff: Staff) -> LiveCode:
    return codes[key][staff.department_id] if key == "store" else codes[key]


def attribute(corp: Corp, follows: list[Follow]) -> None:
    """One attribution row per seeded add, as the callbacks would have written them."""
    by_state = {c.state: c for c in LiveCode.objects.filter(corp=corp)}
    tz = corp.tzinfo
    today = now().astimezone(tz).date()
    facts, todays = [], Counter()
    for f in follows:
        code = by_state.get(f.state)
        lost = f.deleted_by_customer_at
        day = f.added_at.astimezone(tz).date()
        facts.append(
            Acquisition(
                corp=corp,
                follow=f,
                customer_id=f.customer_id,
                staff_id=f.staff_id,
                live_code=code,
                channel_id=code.channel_id if code else None,
                state=f.state,
                added_at=f.added_at,
                day=day,
                lost_at=lost,
                lost_by="customer" if lost else "",
                lost_after_s=int((lost - f.added_at).total_seconds()) if lost else None,
            )
        )
        if code is not None and day == today:
            todays[(code.id, f.staff_id)] += 1
    Acquisition.objects.bulk_create(facts, batch_size=5000)
    # Today's adds count against today's caps, as live ones would.
    # Today's adds count against today's caps, as live ones would (exact mode counts its picks).
    exact = {c.id for c in by_state.values() if c.mode == LiveCode.Mode.EXACT}
    LiveCodeDay.objects.bulk_create(
        [LiveCodeDay(corp=corp, live_code_id=c, staff_id=s, day=today, adds=n, picks=n if c in exact else 0) for (c, s), n in todays.items()]
    )


def seed_lead_form_rules_and_imports(corp: Corp, codes: dict, rng: random.Random) -> None:
    """A lead form routed by city to the stores, two auto-tag rules, and a phone-import batch."""

    system = Actor(user=None, corp=corp, role=Role.OWNER)
    cities = {"上海": "上海门店", "北京": "北京门店", "广州": "广州门店", "深圳": "深圳门店", "杭州": "杭州门店", "成都": "成都门店"}
    stores = {c.name.removesuffix("活码"): c for c in codes["store"].values()}
    lead_form_save(
        actor=system,
        name="孕妈新人礼包",
        title="免费领取孕妈新人礼包",
        intro="留下手机号，专属育儿顾问一对一为您服务",
        live_code_id=codes["ads"].id,
        fields=[
            {"key": "phone", "type": "phone", "label": "手机号"},
            {"key": "city", "type": "city", "label": "所在城市", "required": True, "options": list(cities)},
            {"key": "baby_age", "type": "select", "label": "宝宝月龄", "required": True, "options": ["孕期", "0-6月", "6-12月", "1-3岁"]},
        ],
        city_routes={city: stores[store].id for city, store in cities.items() if store in stores},
    )
    group = tag_group_create(actor=system, name="自动标签", tag_names=["周末到店", "孕期留资"])
    auto = {t.name: t.id for t in group.tags.all()}
    store_channel = codes["store"][next(iter(codes["store"]))].channel_id
    rule_save(
        actor=system,
        name="周末到店的门店客",
        conditions=[{"kind": "channel", "in": [store_channel]}, {"kind": "added_weekday", "in": [6, 7]}],
        add_tag_ids=[auto["周末到店"]],
    )
    rule_save(actor=system, name="孕期留资", conditions=[{"kind": "lead_answer", "field": "baby_age", "in": ["孕期"]}], add_tag_ids=[auto["孕期留资"]])
    shanghai = list(Staff.objects.filter(corp=corp, department__name="上海门店").order_by("id").values_list("id", flat=True))
    phones = sorted({p for p in (mobile(rng) for _ in range(200)) if _is_mobile(p)})[:120]
    rows = "手机号,姓名,标签\n" + "".join(f"{p},会员{i},VIP\n" for i, p in enumerate(phones))
    phone_import_create(actor=system, name="上海老会员拓客", file_name="上海老会员.csv", content=rows.encode(), staff_ids=shanghai, skip_existing=True)


def _is_mobile(phone: str) -> bool:
    # The name generator's numbers are plausible, not all in service ranges phonenumbers knows.
    try:
        phone_normalise(phone)
        return True
    except InvalidInput:
        return False
