"""The demo corp: departments, staff, a tag library and a few thousand customers with history.

Re-runnable: an existing demo corp is left as it is. Bulk inserts keep it to a second or two.
"""

import random
from collections import defaultdict
from datetime import timedelta

from django.db import connection, transaction

from siyu.corps.models import Corp, Department, Membership, Staff, User
from siyu.corps.services import corp_create, department_upsert, membership_grant, staff_upsert, user_create
from siyu.customers.fields import custom_field_save
from siyu.customers.models import Customer, CustomerFieldValue, CustomerPhone, Follow, FollowTag, TimelineEvent
from siyu.customers.stages import stage_save, stages_place
from siyu.guides.models import GuideContact, QuickReply
from siyu.guides.quick_replies import quick_reply_group_save, quick_reply_save
from siyu.guides.services import guide_task_create
from siyu.journeys.catalog import playbook_install
from siyu.journeys.dates import brand_date_save
from siyu.journeys.definition import PLACEHOLDER
from siyu.journeys.rehearsal import rehearse
from siyu.journeys.services import journey_activate, journey_save
from siyu.journeys.sops import group_sop_save, group_sop_status
from siyu.kit.clock import now
from siyu.kit.tenancy import Actor, Role
from siyu.sandbox.names import customer_name, mobile, person_name
from siyu.tags.services import tag_group_create

from .acquisition import attribute, code_for, seed_acquisition, seed_lead_form_rules_and_imports
from .engagement import seed_engagement
from .orders import seed_orders

DEMO_CORP_ID = "wwdemo0000000001"
DEMO_PASSWORD = "siyu-demo-2026"
DEMO_USERS = (("admin", Role.OWNER), ("operator", Role.OPERATOR), ("guide", Role.GUIDE))

DEMO_AGENT_ID = 1000002
DEPARTMENTS = [(1, "总部"), (2, "上海门店"), (3, "北京门店"), (4, "广州门店"), (5, "深圳门店"), (6, "杭州门店"), (7, "成都门店"), (8, "客服中心")]
# The stores' regions (大区), between HQ and the stores, as a brand's WeCom tree has them.
REGIONS = [(11, "华东大区", (2, 6)), (12, "华北大区", (3,)), (13, "华南大区", (4, 5)), (14, "西南大区", (7,))]
TAG_LIBRARY = [
    ("客户来源", ["官网", "门店", "地推", "包裹卡", "小红书", "抖音", "视频号", "广告投放"]),
    ("宝宝月龄", ["孕期", "0-6月", "6-12月", "1-3岁", "3岁以上"]),
    ("客户等级", ["新客", "复购客", "VIP", "超级用户"]),
    ("城市", ["上海", "北京", "广州", "深圳", "杭州", "成都"]),
    ("兴趣", ["奶粉", "辅食", "纸尿裤", "早教", "玩具"]),
    ("职业", ["白领", "全职妈妈", "教师", "医护", "自由职业"]),
]
# Channels (demo/acquisition.py has their live codes), with how often each brings a customer.
CHANNELS = [
    ("store", 30, "门店"),
    ("web", 15, "官网"),
    ("ground", 12, "地推"),
    ("parcel", 15, "包裹卡"),
    ("xhs", 10, "小红书"),
    ("douyin", 8, "抖音"),
    ("ads", 10, "广告投放"),
]


def demo_corp() -> Corp | None:
    return Corp.objects.filter(corp_id=DEMO_CORP_ID).first()


@transaction.atomic
def seed_demo(*, customers: int = 3000, seed: int = 20261124) -> tuple[Corp, bool]:
    """Create the demo corp unless it exists; returns (corp, created)."""
    existing = demo_corp()
    if existing is not None:
        _ensure_users(existing)
        return existing, False
    corp = build_corp(corp_id=DEMO_CORP_ID, name="示例母婴品牌", customers=customers, seed=seed)
    _ensure_users(corp)
    _seed_guide_task(corp)
    _seed_quick_replies_and_contacts(corp, random.Random(seed + 1))
    _seed_customer_fields(corp, random.Random(seed + 2))
    _seed_journeys(corp)
    owner = Membership.objects.filter(corp=corp, role__in=(Role.OWNER, Role.ADMIN)).select_related("user").order_by("id").first()
    seed_engagement(corp, Actor(user=owner.user if owner else None, corp=corp, role=Role.ADMIN))
    return corp, True


def build_corp(*, corp_id: str, name: str, customers: int, seed: int = 1) -> Corp:
    """A corp with departments, staff, the tag library and `customers` customers with history."""
    rng = random.Random(seed)
    corp = corp_create(corp_id=corp_id, name=name, timezone="Asia/Shanghai")
    Corp.objects.filter(pk=corp.pk).update(agent_id=DEMO_AGENT_ID)  # the self-built app that messages staff
    corp.agent_id = DEMO_AGENT_ID
    depts = {wid: department_upsert(corp=corp, wecom_id=wid, name=name, order=wid) for wid, name in DEPARTMENTS}
    for wid, name, stores in REGIONS:
        region = department_upsert(corp=corp, wecom_id=wid, name=name, parent=depts[1], order=wid)
        for store in stores:
            depts[store] = department_upsert(corp=corp, wecom_id=store, name=depts[store].name, parent=region, order=store)
    staff = []
    for wid, dept in depts.items():
        for i in range(1 if wid == 1 else 6):
            staff.append(
                staff_upsert(
                    corp=corp,
                    userid=f"guide{wid:02d}{i + 1:02d}",
                    name=person_name(rng),
                    department=dept,
                    position=("店长" if i == 0 else "导购") if wid not in (1, 8) else "运营",
                    is_leader=wid not in (1, 8) and i == 0,  # each store's manager
                )
            )
    actor = Actor(user=None, corp=corp, role=Role.OWNER)  # the system, not a person
    tags_by_group = {}
    for order, (group_name, tag_names) in enumerate(TAG_LIBRARY):
        group = tag_group_create(actor=actor, name=group_name, order=order, tag_names=tag_names)
        tags_by_group[group_name] = {t.name: t for t in group.tags.all()}
    codes = seed_acquisition(corp, rng)
    _seed_customers(corp, staff, tags_by_group, customers, rng, codes)
    seed_orders(corp, rng)
    # Fresh statistics after a bulk load, or the planner guesses at index choice.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return corp


def _seed_guide_task(corp: Corp) -> None:
    """HQ's tasks for the stores' guides, assigned by the worker once the demo runs: a revisit and
    content to send one to one (the simulated guides do both from the chat sidebar)."""
    owner = Membership.objects.filter(corp=corp, role__in=(Role.OWNER, Role.ADMIN)).select_related("user").order_by("id").first()
    actor = Actor(user=owner.user if owner else None, corp=corp, role=Role.ADMIN)
    stores = list(Department.objects.filter(corp=corp).exclude(wecom_id__in=(1, 8)).values_list("pk", flat=True))
    everyone = {"kind": "filters", "filters": {}}
    guide_task_create(
        actor=actor,
        name="回访本月新客",
        kind="revisit",
        audience=everyone,
        ends_at=now() + timedelta(days=3),
        instructions="问问宝宝月龄和喂养情况，写一条跟进记录。",
        department_ids=stores,
        target=80,
    )
    guide_task_create(
        actor=actor,
        name="推送辅食指南",
        kind="send",
        audience=everyone,
        text="宝宝6个月可以开始添加辅食啦：先从强化铁的米粉开始，一次只加一种新食物，观察三天。有问题随时问我～",
        ends_at=now() + timedelta(days=5),
        instructions="在聊天侧边栏一键发送给你的每位客户。",
        department_ids=stores,
        target=60,
    )


def _ensure_users(corp: Corp) -> None:
    for username, role in DEMO_USERS:
        user = User.objects.filter(username=username).first()
        if user is None:
            user = user_create(username=username, password=DEMO_PASSWORD, is_superuser=(role == Role.OWNER))
        if not Membership.objects.filter(user=user, corp=corp).exists():
            staff = None
            if role == Role.GUIDE:
                staff = Staff.objects.for_corp(corp).filter(position="导购").order_by("id").first()
            membership_grant(user=user, corp=corp, role=role, staff=staff)


def _seed_customers(corp, staff, tags_by_group, count, rng, codes):
    stamp = now()
    guides = [s for s in staff if s.position in ("导购", "店长")]
    channel_codes = [c for c, _, _ in CHANNELS]
    channel_weights = [w for _, w, _ in CHANNELS]
    source_tag = {code: tags_by_group["客户来源"][label] for code, _, label in CHANNELS}
    customers = Customer.objects.bulk_create(
        batch_size=5000,
        objs=[
            Customer(
                corp=corp,
                external_userid=f"wmDEMO{i:08d}",
                unionid=f"oDEMO{i:010d}" if rng.random() < 0.7 else "",
                name=customer_name(rng),
                gender=rng.choices((0, 1, 2), (10, 25, 65))[0],
                type=1 if rng.random() < 0.97 else 2,
            )
            for i in range(count)
        ],
    )
    CustomerPhone.objects.bulk_create([CustomerPhone(corp=corp, customer=c, phone=mobile(rng)) for c in customers if rng.random() < 0.6], batch_size=5000)
    follows, plans = [], []
    for c in customers:
        # Recent days are busier: the demo's "new today" and 14-day chart should not be empty.
        age = timedelta(days=min(rng.expovariate(1 / 40), 365), seconds=rng.randint(0, 86399))
        primary = rng.choice(guides)
        owners = [primary] + ([rng.choice([g for g in guides if g is not primary])] if rng.random() < 0.1 else [])
        channel = rng.choices(channel_codes, channel_weights)[0]
        for n, s in enumerate(owners):
            added_at = stamp - age + timedelta(days=3 * n)
            if added_at > stamp:
                added_at = stamp - timedelta(minutes=rng.randint(1, 600))
            state = code_for(codes, channel, s).state
            follows.append(
                Follow(
                    corp=corp,
                    customer=c,
                    staff=s,
                    added_at=added_at,
                    add_way=1 if n == 0 else rng.choice((1, 2, 3)),
                    state=state if n == 0 else "",
                    remark=c.name if rng.random() < 0.3 else "",
                )
            )
            plans.append(channel if n == 0 else None)
    Follow.objects.bulk_create(follows, batch_size=5000)
    follow_tags, events = [], []
    group_names = [g for g in tags_by_group if g != "客户来源"]
    for follow, channel in zip(follows, plans, strict=True):
        picked = [source_tag[channel]] if channel else []
        for group in rng.sample(group_names, rng.randint(0, 3)):
            picked.append(rng.choice(list(tags_by_group[group].values())))
        follow_tags += [FollowTag(corp=corp, follow=follow, tag=t) for t in picked]
        events.append(
            TimelineEvent(
                corp=corp,
                customer=follow.customer,
                kind=TimelineEvent.Kind.ADDED,
                staff=follow.staff,
                occurred_at=follow.added_at,
                data={"add_way": follow.add_way, "state": follow.state},
            )
        )
        if picked:
            events.append(
                TimelineEvent(
                    corp=corp,
                    customer=follow.customer,
                    kind=TimelineEvent.Kind.TAGGED,
                    staff=follow.staff,
                    occurred_at=min(follow.added_at + timedelta(minutes=rng.randint(1, 240)), stamp),
                    data={"tags": [t.name for t in picked], "by": follow.staff.name},
                )
            )
        if rng.random() < 0.04:
            events.append(
                TimelineEvent(
                    corp=corp,
                    customer=follow.customer,
                    kind=TimelineEvent.Kind.DELETED_BY_CUSTOMER,
                    staff=follow.staff,
                    occurred_at=min(follow.added_at + timedelta(days=rng.randint(1, 7)), stamp),
                )
            )
            follow.deleted_by_customer_at = events[-1].occurred_at
    FollowTag.objects.bulk_create(follow_tags, batch_size=5000)
    TimelineEvent.objects.bulk_create(events, batch_size=5000)
    Follow.objects.bulk_update([f for f in follows if f.deleted_by_customer_at], ["deleted_by_customer_at"], batch_size=2000)
    attribute(corp, follows)
    seed_lead_form_rules_and_imports(corp, codes, rng)


QUICK_REPLIES = [
    ("新客欢迎", "欢迎语", "您好，我是您的专属育儿顾问，宝宝喂养、用品选择有任何问题随时问我～"),
    ("新客欢迎", "加群邀请", "我们有一个妈妈交流群，每周二有营养师答疑，需要的话我拉您进群。"),
    ("喂养知识", "奶粉冲调", "奶粉用70度以下的温水冲调，先放水后放粉，摇匀后滴在手腕内侧试温。"),
    ("喂养知识", "辅食添加", "宝宝满6个月可以添加辅食，从高铁米粉开始，每次只加一种新食材，观察三天。"),
    ("喂养知识", "夜醒怎么办", "睡前两小时别喂太饱，固定入睡仪式，夜里醒来先观察几分钟再安抚。"),
    ("售后服务", "退换货", "未开封的商品7天内可以退换，拍一下订单页面发给我，我帮您处理。"),
    ("售后服务", "物流查询", "把订单号发我，我马上帮您查物流。"),
]
CONTACT_DAYS = 60


def _seed_quick_replies_and_contacts(corp: Corp, rng: random.Random) -> None:
    """HQ's quick-reply library, and two months of guides reaching the customers they added: most
    within a few days of the add, some after their 14 days, some never, so the golden period
    and its leaderboards have something to tell."""
    actor = Actor(user=None, corp=corp, role=Role.OWNER)
    shelves, replies = {}, []
    for shelf_name, title, text in QUICK_REPLIES:
        if shelf_name not in shelves:
            shelves[shelf_name] = quick_reply_group_save(actor=actor, name=shelf_name, position=len(shelves))
        replies.append(quick_reply_save(actor=actor, group_id=shelves[shelf_name].id, title=title, text=text))
    stamp = now()
    contacts, events, used = [], [], defaultdict(int)
    for follow in Follow.objects.filter(corp=corp, added_at__gte=stamp - timedelta(days=CONTACT_DAYS)).select_related("staff", "customer"):
        care = 0.3 + (follow.staff_id % 5) * 0.12  # some guides reach most of their new customers
        for _ in range(rng.randint(1, 3) if rng.random() < care else 0):
            at = follow.added_at + timedelta(days=rng.choice((0, 1, 2, 3, 5, 8, 13, 16, 25)), minutes=rng.randint(5, 600))
            if at >= stamp:
                continue
            reply = rng.choice(replies)
            used[reply.pk] += 1
            contacts.append(GuideContact(corp=corp, staff=follow.staff, customer=follow.customer, how=GuideContact.How.REPLY, at=at, reply=reply))
            events.append(
                TimelineEvent(
                    corp=corp,
                    customer=follow.customer,
                    kind=TimelineEvent.Kind.MESSAGE_SENT,
                    staff=follow.staff,
                    occurred_at=at,
                    data={"via": "quick_reply", "quick_reply": reply.pk, "title": reply.title, "text": reply.text[:200]},
                )
            )
    GuideContact.objects.bulk_create(contacts, batch_size=5000)
    TimelineEvent.objects.bulk_create(events, batch_size=5000)
    for pk, n in used.items():
        QuickReply.objects.filter(pk=pk).update(sent_count=n)


def _seed_customer_fields(corp: Corp, rng: random.Random) -> None:
    """The brand's own customer fields (seed 004: the baby's birth date drives month-age care), with
    values for most customers as guides would have filled them in."""
    actor = Actor(user=None, corp=corp, role=Role.OWNER)
    birth = custom_field_save(actor=actor, name="宝宝生日", key="baby_birth_date", kind="date")
    stage = custom_field_save(actor=actor, name="奶粉段数", key="formula_stage", kind="choice", choices=["1段", "2段", "3段", "4段"], position=1)
    brand = custom_field_save(actor=actor, name="偏好系列", key="preferred_line", kind="choice", choices=["有机", "羊奶", "A2"], position=2)
    custom_field_save(actor=actor, name="月预算（元）", key="monthly_budget", kind="number", position=3)
    today = now().astimezone(corp.tzinfo).date()
    values = []
    for customer_id in Customer.objects.filter(corp=corp).values_list("pk", flat=True):
        if rng.random() < 0.7:
            born = today - timedelta(days=rng.randint(0, 3 * 365))
            months = (today - born).days // 30
            values.append(CustomerFieldValue(corp=corp, customer_id=customer_id, field=birth, date=born))
            values.append(CustomerFieldValue(corp=corp, customer_id=customer_id, field=stage, text="1段" if months < 6 else "2段" if months < 12 else "3段"))
        if rng.random() < 0.4:
            values.append(CustomerFieldValue(corp=corp, customer_id=customer_id, field=brand, text=rng.choice(brand.choices)))
    CustomerFieldValue.objects.bulk_create(values, batch_size=5000)
    for position, (name, first, until) in enumerate((("0-6月", 0, 180), ("6-12月", 180, 365), ("1-3岁", 365, 1095))):
        stage_save(actor=actor, name=name, field_key="baby_birth_date", from_days=first, to_days=until, position=position)
    stages_place(corp_id=corp.pk, today=today)


DEMO_CONTENT = {
    "hello": "",
    "story": "我们的奶源来自新西兰自有牧场，每一罐都可溯源。",
    "offer": "新客首单立减 50 元，券已放入您的账户。",
    "thanks": "感谢您的首单！冲调时水温 40–50℃，先水后粉。",
    "care": "宝宝这个月龄的喂养与护理要点，我们整理好了。",
    "birthday": "宝宝半岁啦！门店为您准备了成长礼，记得来领。",
}


def _filled(definition: dict) -> dict:
    """A playbook's content marks replaced by the demo brand's own words."""
    steps = []
    for step in definition["steps"]:
        step = dict(step)
        for field in ("text", "name"):
            if PLACEHOLDER in str(step.get(field, "")):
                step[field] = DEMO_CONTENT.get(step["key"]) or step[field].replace(PLACEHOLDER, "")
        steps.append(step)
    return {**definition, "steps": steps}


def _seed_journeys(corp: Corp) -> None:
    """Plays from the catalog: the 14-day golden period and month-age care live, the repurchase
    wake-up rehearsed but not yet live, the milk-powder play as a draft with its content to fill;
    the weekly calendar of the mothers' groups, and the brand's member day."""
    actor = Actor(user=None, corp=corp, role=Role.OWNER)
    for key, live in (("golden_14", True), ("month_age", True), ("repurchase", False)):
        journey = playbook_install(actor=actor, key=key)
        journey_save(actor=actor, journey=journey, definition=_filled(journey.definition))
        if live:
            journey_activate(actor=actor, journey=journey)
        else:
            rehearse(actor=actor, journey=journey, days=30)
    playbook_install(actor=actor, key="milk_powder")
    calendar = group_sop_save(
        actor=actor,
        name="宝妈群周历",
        layer={"name_contains": "宝妈群"},
        slots=[
            {"key": "fun", "weekday": 1, "at": "10:00", "title": "周一趣味", "text": "周一猜一猜：宝宝几个月会翻身？"},
            {"key": "content", "weekday": 2, "at": "20:00", "title": "周二干货", "text": "辅食添加的三个误区，妈妈们收藏好。"},
            {"key": "welfare", "weekday": 4, "at": "10:00", "title": "周四福利", "text": "会员日满 299 减 50，今晚 8 点开抢。"},
            {"key": "activity", "weekday": 5, "at": "19:30", "title": "周五活动", "text": "周末亲子游园会报名开始啦。"},
        ],
    )
    group_sop_status(actor=actor, sop=calendar, active=True)
    brand_date_save(actor=actor, name="会员日", month=5, day=20)
