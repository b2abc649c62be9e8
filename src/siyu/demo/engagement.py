"""The demo brand's customer side: a content library with an interest rule, points switched on and
three membership levels, a 21-day check-in with stages, coupons (one to claim, one as a check-in
reward), points tasks, a points mall, a lucky wheel, group games (dice and a red envelope), and mass sends that
carry them to the stores' customers. The simulated customers read, share, check in, claim, draw and
play from what reaches them; guides verify coupons in store."""

from __future__ import annotations

from datetime import timedelta

from django.urls import reverse

from siyu.corps.models import Corp, Department
from siyu.engagement import checkin, coupons, earning, games, lottery, mall, members, points_tasks
from siyu.engagement.models import InterestRule
from siyu.kit.clock import now
from siyu.kit.tenancy import Actor, Role
from siyu.messaging import library
from siyu.messaging.mass_sends import mass_send_create
from siyu.tags.models import Tag

ARTICLES = (
    (
        "宝宝辅食第一口：从米粉开始",
        "6个月辅食入门",
        ("辅食",),
        "宝宝满6个月后，母乳或配方奶已经不能满足全部营养需要。第一口辅食建议选择强化铁的婴儿米粉，用温水调成稀糊状。",
    ),
    ("辅食添加时间表：一次只加一种", "过敏早发现", ("辅食",), "每次只添加一种新食物，连续观察三天，没有皮疹、腹泻再加下一种。先菜泥后果泥，先稀后稠。"),
    ("宝宝夜醒怎么办？睡眠小贴士", "建立睡前仪式", ("睡眠",), "固定的睡前流程：洗澡、换睡衣、讲故事、关灯。白天小睡不要太晚，睡前两小时不要喂得太饱。"),
    ("奶粉冲调的三个细节", "水温、顺序、比例", ("奶粉", "喂养"), "用70度以下的温水，先放水后放粉，按罐上的勺数冲调，不要自行加浓。冲好后尽快喝完。"),
    ("湿疹护理：保湿是第一步", "秋冬护肤", ("护理",), "洗澡水温37度左右，时间不超过10分钟，洗后三分钟内涂抹保湿霜。衣物选纯棉，避免过热。"),
)


def seed_engagement(corp: Corp, actor: Actor) -> None:
    system = Actor(user=actor.user, corp=corp, role=Role.ADMIN)
    earning.policy_save(actor=system, active=True, per_yuan=1, refund_days=7, contact_added=20, group_joined=10, content_read=2, content_read_daily=3)
    members.level_save(actor=system, name="银卡", rank=1, min_spend_fen=50_000, min_points=200, needs="any", benefits="生日礼包")
    members.level_save(actor=system, name="金卡", rank=2, min_spend_fen=300_000, min_orders=3, needs="all", benefits="会员日9折")
    members.level_save(actor=system, name="钻石卡", rank=3, min_spend_fen=1_000_000, min_orders=6, needs="all", benefits="专属育儿顾问")
    folder = library.folder_create(actor=system, name="育儿知识")
    items = []
    for title, summary, tags, text in ARTICLES:
        body = "".join(f"<h2>{h}</h2><p>{text}</p>" for h in ("为什么", "怎么做", "要注意"))
        items.append(library.item_save(actor=system, kind="article", title=title, summary=summary, body=body, tags=list(tags), folder=folder.pk))
    interest = Tag.objects.filter(corp=corp, group__name="兴趣", name="辅食").first()
    if interest is not None:
        InterestRule.objects.create(corp=corp, content_tag="辅食", reads=2, tag=interest)
    gift = coupons.template_save(actor=system, name="连签7天礼", kind="gift", gift="婴儿湿巾一包", valid_days=30)
    offer = coupons.template_save(
        actor=system,
        name="新客满199减30",
        kind="amount_off",
        threshold_fen=19_900,
        amount_fen=3_000,
        valid_days=30,
        stock=500,
        per_person=1,
        claimable=True,
        claim_ends_at=now() + timedelta(days=14),
        show_left_below=50,
    )
    coupons.template_save(actor=system, name="会员日9折", kind="discount", pay_percent=90, valid_days=7, stock=1000)
    ten = coupons.template_save(actor=system, name="10元无门槛券", kind="no_threshold", amount_fen=1000, valid_days=30, per_person=5)
    today = now().astimezone(corp.tzinfo).date()
    campaign = checkin.campaign_save(
        actor=system,
        name="21天育儿打卡",
        starts_on=today - timedelta(days=3),
        ends_on=today + timedelta(days=30),
        daily_points=5,
        stages=[{"days": 3, "points": 20}, {"days": 7, "points": 50, "coupon_template_id": gift.pk}, {"days": 21, "points": 200}],
        day_items=[i.pk for i in items] * 4,
    )
    mall.item_save(actor=system, kind="coupon", name="10元无门槛券", points=100, coupon_template_id=ten.pk, stock=300, per_person=3)
    mall.item_save(actor=system, kind="goods", name="品牌围兜", points=60, delivery="pickup", stock=100, per_person=1)
    mall.item_save(actor=system, kind="goods", name="恒温奶瓶", points=800, delivery="ship", stock=20, per_person=1)
    prizes = [
        {"name": "20积分", "kind": "points", "per_million": 300_000, "points": 20},
        {"name": "10元无门槛券", "kind": "coupon", "per_million": 100_000, "coupon_template_id": ten.pk, "daily_cap": 50},
        {"name": "品牌围兜", "kind": "goods", "per_million": 20_000, "stock": 30},
    ]
    wheel = lottery.lottery_save(actor=system, name="幸运大转盘", prizes=prizes, starts_at=now() - timedelta(days=1), ends_at=now() + timedelta(days=30))
    points_tasks.task_save(actor=system, name="读一篇育儿文章", kind="read", points=10, position=1)
    points_tasks.task_save(actor=system, name="分享文章给好友", kind="share", points=30, coupon_template_id=ten.pk, position=2)
    points_tasks.task_save(actor=system, name="加入宝妈交流群", kind="join_group", points=50, position=3)
    points_tasks.task_save(actor=system, name="下一单", kind="order", points=100, position=4)
    window = {"starts_at": now() - timedelta(hours=1), "ends_at": now() + timedelta(days=14)}
    dice = games.game_create(actor=system, kind="dice", name="掷出6点送券", dice=1, target=6, rolls_each=3, prize_points=50, prize_coupon_id=ten.pk, **window)
    envelope = games.game_create(actor=system, kind="envelope", name="周五拼手气红包", envelopes=100, total_points=2000, **window)
    stores = list(Department.objects.filter(corp=corp).exclude(wecom_id__in=(1, 8)).values_list("pk", flat=True))
    mass_send_create(
        actor=system,
        name="育儿打卡开始啦",
        audience={"kind": "filters", "filters": {}},
        text="21天育儿打卡开始啦！每天签到领积分，连签7天送湿巾。今天先读一篇辅食入门，新客还有满199减30的券～",
        attachments=[
            {"msgtype": "link", "link": {"title": "21天育儿打卡", "url": reverse("h5_checkin", args=[corp.corp_id, campaign.pk]), "desc": "每天签到领积分"}},
            {"msgtype": "link", "link": {"content": items[0].pk}},
            {"msgtype": "link", "link": {"title": "新客满199减30", "url": reverse("h5_coupon_claim", args=[corp.corp_id, offer.pk]), "desc": "限量500张"}},
        ],
        department_ids=stores,
        send_at=now() + timedelta(minutes=1),
    )
    mass_send_create(
        actor=system,
        name="积分商城上新",
        audience={"kind": "filters", "filters": {}},
        text="积分可以换礼物啦：10元券、围兜、恒温奶瓶，还有每天一次的幸运大转盘～",
        attachments=[
            {"msgtype": "link", "link": {"title": "积分商城", "url": reverse("h5_mall", args=[corp.corp_id]), "desc": "积分换好礼"}},
            {"msgtype": "link", "link": {"title": "积分任务", "url": reverse("h5_tasks", args=[corp.corp_id]), "desc": "读文章、进群、下单都有积分"}},
            {"msgtype": "link", "link": {"title": "幸运大转盘", "url": reverse("h5_lottery", args=[corp.corp_id, wheel.pk]), "desc": "每天一次"}},
            {"msgtype": "link", "link": {"title": "掷出6点送券", "url": reverse("h5_game", args=[corp.corp_id, dice.pk]), "desc": "先掷中者得10元券"}},
            {
                "msgtype": "link",
                "link": {"title": "周五拼手气红包", "url": reverse("h5_game", args=[corp.corp_id, envelope.pk]), "desc": "100个红包，2000积分"},
            },
        ],
        department_ids=stores,
        send_at=now() + timedelta(minutes=2),
    )
