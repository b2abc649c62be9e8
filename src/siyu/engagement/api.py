from __future__ import annotations

from datetime import date, datetime

from django.urls import reverse
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status

from siyu.analytics.models import Segment
from siyu.customers.selectors import customer_get
from siyu.kit.errors import InvalidInput
from siyu.kit.pagination import keyset_page
from siyu.messaging.selectors import content_item_get

from . import checkin, coupons, earning, games, lottery, mall, members, points_tasks, reading, selectors
from . import points as ledger
from .models import Coupon, GamePlay, PointsAccount, PointsEntry

router = Router(tags=["engagement"])


class ContentStatsOut(Schema):
    views: int
    readers: int
    customers: int
    dwell: int = Field(..., description="average seconds read")
    scroll: int = Field(..., description="average depth, percent")
    shares: int = Field(..., description="views of shared copies")
    sharers: int
    order_days: int
    orders: int = Field(..., description="orders readers paid within order_days of their first view")
    order_amount_fen: int


class ContentViewOut(Schema):
    id: int
    item_id: int
    customer_id: int | None
    staff_id: int | None
    via: str
    shared: bool
    opened_at: datetime
    dwell_seconds: int
    scroll_percent: int


class ContentViewPage(Schema):
    items: list[ContentViewOut]
    next_cursor: str | None


class InterestRuleIn(Schema):
    content_tag: str = Field(..., max_length=100)
    reads: int = 3
    tag_id: int


class InterestRuleOut(Schema):
    id: int
    content_tag: str
    reads: int
    tag_id: int
    active: bool


def _view_out(v) -> ContentViewOut:
    return ContentViewOut(
        id=v.id,
        item_id=v.item_id,
        customer_id=v.customer_id,
        staff_id=v.staff_id,
        via=v.via,
        shared=v.shared_by_id is not None,
        opened_at=v.opened_at,
        dwell_seconds=v.dwell_seconds,
        scroll_percent=v.scroll_percent,
    )


def _rule_out(r) -> InterestRuleOut:
    return InterestRuleOut(id=r.id, content_tag=r.content_tag, reads=r.reads, tag_id=r.tag_id, active=r.active)


@router.get("/content-items/{item_id}/stats", response=ContentStatsOut)
def content_item_stats(request, item_id: int, order_days: int = 7):
    return selectors.content_stats(request.auth, content_item_get(request.auth, item_id), order_days=order_days)


@router.get("/content-views", response=ContentViewPage)
def content_view_list(request, item_id: int | None = None, customer_id: int | None = None, cursor: str | None = None, limit: int = 50):
    item = content_item_get(request.auth, item_id) if item_id is not None else None
    page, next_cursor = keyset_page(selectors.content_views(request.auth, item, customer_id=customer_id), cursor=cursor, limit=limit)
    return ContentViewPage(items=[_view_out(v) for v in page], next_cursor=next_cursor)


@router.get("/interest-rules", response=list[InterestRuleOut])
def interest_rule_list(request):
    return [_rule_out(r) for r in selectors.interest_rules(request.auth)]


@router.post("/interest-rules", response={201: InterestRuleOut})
def interest_rule_create(request, payload: InterestRuleIn):
    return Status(201, _rule_out(reading.interest_rule_create(actor=request.auth, **payload.dict())))


@router.post("/interest-rules/{interest_rule_id}/active", response=InterestRuleOut)
def interest_rule_active(request, interest_rule_id: int, active: bool = True):
    rule = selectors.interest_rule_get(request.auth, interest_rule_id)
    return _rule_out(reading.interest_rule_set_active(actor=request.auth, rule=rule, active=active))


# -- points -------------------------------------------------------------------------------------------
class PointsPolicyIn(Schema):
    active: bool
    per_yuan: int = 1
    refund_days: int = 7
    contact_added: int = 0
    group_joined: int = 0
    content_read: int = 0
    content_read_daily: int = 3
    expiry: str = "year_end"
    expiry_months: int = 12


class PointsPolicyOut(PointsPolicyIn):
    since: datetime | None


class PointsEntryOut(Schema):
    id: int
    kind: str
    reason: str
    points: int
    pending_change: int
    available_after: int
    pending_after: int
    source: str
    source_id: str
    at: datetime
    expires_on: date | None
    note: str


class CustomerPointsOut(Schema):
    available: int
    pending: int
    earned: int = Field(..., description="points earned in all, less refunds: what membership levels count")
    level_id: int | None
    level: str | None
    level_since: datetime | None
    entries: list[PointsEntryOut]
    next_cursor: str | None


class PointsAdjustIn(Schema):
    points: int
    note: str = Field(..., max_length=1000)


def _policy_out(p) -> PointsPolicyOut:
    return PointsPolicyOut(**{f: getattr(p, f) for f in (*PointsPolicyIn.model_fields, "since")})


def _entry_out(e) -> PointsEntryOut:
    return PointsEntryOut(**{f: getattr(e, f) for f in PointsEntryOut.model_fields})


@router.get("/points-policy", response=PointsPolicyOut)
def points_policy_get(request):
    return _policy_out(selectors.points_policy(request.auth))


@router.put("/points-policy", response=PointsPolicyOut)
def points_policy_put(request, payload: PointsPolicyIn):
    return _policy_out(earning.policy_save(actor=request.auth, **payload.dict()))


@router.get("/customers/{customer_id}/points", response=CustomerPointsOut)
def customer_points(request, customer_id: int, cursor: str | None = None, limit: int = 50):
    customer = customer_get(request.auth, customer_id)
    account = PointsAccount.objects.filter(customer=customer).select_related("level").first() or PointsAccount()
    page, next_cursor = keyset_page(PointsEntry.objects.filter(corp=request.auth.corp, customer=customer), cursor=cursor, limit=limit)
    return CustomerPointsOut(
        available=account.available,
        pending=account.pending,
        earned=account.earned,
        level_id=account.level_id,
        level=account.level.name if account.level else None,
        level_since=account.level_since,
        entries=[_entry_out(e) for e in page],
        next_cursor=next_cursor,
    )


@router.post("/customers/{customer_id}/points/adjust", response={201: PointsEntryOut})
def customer_points_adjust(request, customer_id: int, payload: PointsAdjustIn):
    customer = customer_get(request.auth, customer_id)
    return Status(201, _entry_out(ledger.points_adjust(actor=request.auth, customer=customer, points=payload.points, note=payload.note)))


# -- membership levels --------------------------------------------------------------------------------
class MemberLevelIn(Schema):
    name: str = Field(..., max_length=100)
    rank: int
    min_spend_fen: int | None = None
    min_orders: int | None = None
    min_points: int | None = None
    needs: str = "any"
    benefits: str = Field("", max_length=1000)


class MemberLevelOut(MemberLevelIn):
    id: int
    members: int = Field(..., description="customers holding the level")


def _level_out(level, counts: dict) -> MemberLevelOut:
    return MemberLevelOut(id=level.pk, members=counts.get(level.pk, 0), **{f: getattr(level, f) for f in MemberLevelIn.model_fields})


@router.get("/member-levels", response=list[MemberLevelOut])
def member_level_list(request):
    counts = selectors.level_counts(request.auth)
    return [_level_out(level, counts) for level in selectors.member_levels(request.auth)]


@router.post("/member-levels", response={201: MemberLevelOut})
def member_level_create(request, payload: MemberLevelIn):
    return Status(201, _level_out(members.level_save(actor=request.auth, **payload.dict()), {}))


@router.put("/member-levels/{level_id}", response=MemberLevelOut)
def member_level_update(request, level_id: int, payload: MemberLevelIn):
    level = selectors.member_level_get(request.auth, level_id)
    return _level_out(members.level_save(actor=request.auth, level=level, **payload.dict()), selectors.level_counts(request.auth))


@router.delete("/member-levels/{level_id}", response={204: None})
def member_level_delete(request, level_id: int):
    members.level_delete(actor=request.auth, level=selectors.member_level_get(request.auth, level_id))
    return Status(204, None)


# -- check-in -----------------------------------------------------------------------------------------
class CheckinStageIn(Schema):
    days: int
    points: int = 0
    coupon_template_id: int | None = None


class CheckinCampaignIn(Schema):
    name: str = Field(..., max_length=200)
    starts_on: date
    ends_on: date | None = None
    daily_points: int = 0
    counting: str = "streak"
    stages: list[CheckinStageIn] = Field(default_factory=list, max_length=50)
    day_items: list[int] = Field(default_factory=list, max_length=400)
    active: bool = True


class CheckinCampaignOut(CheckinCampaignIn):
    id: int
    link: str


class CheckinStatsOut(Schema):
    participants: int
    checkins: int
    today: int
    longest: int
    stages: dict[int, int] = Field(..., description="customers who reached each stage, by its days")


def _campaign_out(request, c) -> CheckinCampaignOut:
    return CheckinCampaignOut(
        id=c.id,
        name=c.name,
        starts_on=c.starts_on,
        ends_on=c.ends_on,
        daily_points=c.daily_points,
        counting=c.counting,
        stages=c.stages,
        day_items=c.day_items,
        active=c.active,
        link=request.build_absolute_uri(reverse("h5_checkin", args=[c.corp.corp_id, c.pk])),
    )


def _campaign_values(payload: CheckinCampaignIn) -> dict:
    return {**payload.dict(), "stages": [s.dict() for s in payload.stages]}


@router.get("/checkin-campaigns", response=list[CheckinCampaignOut])
def checkin_campaign_list(request):
    return [_campaign_out(request, c) for c in selectors.checkin_campaigns(request.auth).select_related("corp")[:200]]


@router.post("/checkin-campaigns", response={201: CheckinCampaignOut})
def checkin_campaign_create(request, payload: CheckinCampaignIn):
    return Status(201, _campaign_out(request, checkin.campaign_save(actor=request.auth, **_campaign_values(payload))))


@router.put("/checkin-campaigns/{campaign_id}", response=CheckinCampaignOut)
def checkin_campaign_update(request, campaign_id: int, payload: CheckinCampaignIn):
    campaign = selectors.checkin_campaign_get(request.auth, campaign_id)
    return _campaign_out(request, checkin.campaign_save(actor=request.auth, campaign=campaign, **_campaign_values(payload)))


@router.get("/checkin-campaigns/{campaign_id}/stats", response=CheckinStatsOut)
def checkin_campaign_stats(request, campaign_id: int):
    stats = selectors.checkin_stats(request.auth, selectors.checkin_campaign_get(request.auth, campaign_id))
    return CheckinStatsOut(**{k: stats[k] for k in CheckinStatsOut.model_fields})


# -- coupons ------------------------------------------------------------------------------------------
class CouponTemplateIn(Schema):
    name: str = Field(..., max_length=200)
    kind: str
    threshold_fen: int = 0
    amount_fen: int = 0
    pay_percent: int = 100
    gift: str = Field("", max_length=200)
    valid_from: date | None = None
    valid_until: date | None = None
    valid_days: int | None = None
    stock: int | None = None
    per_person: int = 1
    claimable: bool = False
    claim_starts_at: datetime | None = None
    claim_ends_at: datetime | None = None
    show_left_below: int | None = None
    active: bool = True


class CouponTemplateOut(CouponTemplateIn):
    id: int
    issued: int
    worth: str


class CouponStatsOut(Schema):
    issued: int
    claimed: int
    redeemed: int
    redeemed_online: int
    redeemed_in_store: int
    expired: int
    gmv_fen: int = Field(..., description="what the redeeming orders paid, less their refunds")


class CouponIssueIn(Schema):
    customer_id: int | None = None
    segment_id: int | None = None
    key: str = Field("", max_length=40, description="your id for this issue: the same key issues once")


class CouponOut(Schema):
    id: int
    template_id: int
    customer_id: int
    code: str
    status: str
    valid_from: date
    valid_until: date
    issued_at: datetime
    redeemed_at: datetime | None
    order_id: int | None
    store: str
    staff_id: int | None


class CouponVerifyIn(Schema):
    code: str = Field(..., max_length=100)
    store: str = Field("", max_length=200)


def _template_out(t) -> CouponTemplateOut:
    return CouponTemplateOut(**{f: getattr(t, f) for f in (*CouponTemplateIn.model_fields, "id", "issued")}, worth=coupons.describe(t))


def _coupon_out(c) -> CouponOut:
    return CouponOut(**{f: getattr(c, f) for f in CouponOut.model_fields})


@router.get("/coupon-templates", response=list[CouponTemplateOut])
def coupon_template_list(request):
    return [_template_out(t) for t in selectors.coupon_templates(request.auth)[:500]]


@router.post("/coupon-templates", response={201: CouponTemplateOut})
def coupon_template_create(request, payload: CouponTemplateIn):
    return Status(201, _template_out(coupons.template_save(actor=request.auth, **payload.dict())))


@router.put("/coupon-templates/{template_id}", response=CouponTemplateOut)
def coupon_template_update(request, template_id: int, payload: CouponTemplateIn):
    template = selectors.coupon_template_get(request.auth, template_id)
    return _template_out(coupons.template_save(actor=request.auth, template=template, **payload.dict()))


@router.get("/coupon-templates/{template_id}/stats", response=CouponStatsOut)
def coupon_template_stats(request, template_id: int):
    return coupons.coupon_stats(selectors.coupon_template_get(request.auth, template_id))


@router.post("/coupon-templates/{template_id}/issue", response={201: CouponOut, 202: None})
def coupon_template_issue(request, template_id: int, payload: CouponIssueIn):
    """To one customer (201, the coupon) or to a segment's customers (202, issued by a worker)."""
    template = selectors.coupon_template_get(request.auth, template_id)
    if payload.segment_id is not None:
        segment = Segment.objects.for_corp(request.auth.corp).filter(pk=payload.segment_id).first()
        if segment is None:
            raise InvalidInput(_("No such segment."), code="no_such_segment", field="segment_id")
        coupons.coupons_issue_to_segment(actor=request.auth, template=template, segment=segment)
        return Status(202, None)
    if payload.customer_id is None or not payload.key.strip():
        raise InvalidInput(_("Name a customer and a key, or a segment."), code="no_recipient", field="customer_id")
    request.auth.require_manager()
    customer = customer_get(request.auth, payload.customer_id)
    coupon = coupons.coupon_issue(corp=request.auth.corp, template=template, customer_id=customer.pk, source="api", source_id=payload.key.strip())
    return Status(201, _coupon_out(coupon))


@router.get("/customers/{customer_id}/coupons", response=list[CouponOut])
def customer_coupons(request, customer_id: int):
    customer = customer_get(request.auth, customer_id)
    return [_coupon_out(c) for c in Coupon.objects.filter(corp=request.auth.corp, customer=customer).order_by("-pk")[:200]]


@router.post("/coupons/verify", response=CouponOut)
def coupon_verify(request, payload: CouponVerifyIn):
    """A guide's in-store verification (the API user's staff member is recorded)."""
    return _coupon_out(coupons.coupon_verify(actor=request.auth, code=payload.code, store=payload.store))


# -- the points mall ----------------------------------------------------------------------------------
class MallItemIn(Schema):
    kind: str
    name: str = Field(..., max_length=200)
    description: str = Field("", max_length=1000)
    points: int
    cash_fen: int = 0
    coupon_template_id: int | None = None
    delivery: str = "none"
    stock: int | None = None
    per_person: int | None = None
    active: bool = True


class MallItemOut(MallItemIn):
    id: int
    sold: int


class MallOrderOut(Schema):
    id: int
    item_id: int
    customer_id: int
    points: int
    cash_fen: int
    status: str = Field(..., description="awaiting (its cash to pay), placed, shipped, picked_up, done, cancelled")
    pay_code: str = Field(..., description="what the brand's order names (mall_code) to pay the cash part")
    pay_by: datetime | None
    paid_order_id: int | None
    coupon_id: int | None
    address: dict
    tracking_no: str
    delivered_at: datetime | None
    staff_id: int | None
    store: str
    created_at: datetime


class MallShipIn(Schema):
    tracking_no: str = Field(..., max_length=200)


def _mall_item_out(i) -> MallItemOut:
    return MallItemOut(**{f: getattr(i, f) for f in (*MallItemIn.model_fields, "id", "sold")})


def _mall_order_out(o) -> MallOrderOut:
    return MallOrderOut(**{f: getattr(o, f) for f in MallOrderOut.model_fields})


@router.get("/mall-items", response=list[MallItemOut])
def mall_item_list(request):
    return [_mall_item_out(i) for i in selectors.mall_items(request.auth)[:500]]


@router.post("/mall-items", response={201: MallItemOut})
def mall_item_create(request, payload: MallItemIn):
    data = payload.dict()
    data.pop("cash_fen")
    return Status(201, _mall_item_out(mall.item_save(actor=request.auth, cash_fen=payload.cash_fen, **data)))


@router.get("/mall-orders", response=list[MallOrderOut])
def mall_order_list(request, status: str = ""):
    rows = selectors.mall_orders(request.auth)
    return [_mall_order_out(o) for o in (rows.filter(status=status) if status else rows)[:500]]


@router.post("/mall-orders/{mall_order_id}/ship", response=MallOrderOut)
def mall_order_ship(request, mall_order_id: int, payload: MallShipIn):
    order = selectors.mall_order_get(request.auth, mall_order_id)
    return _mall_order_out(mall.order_ship(actor=request.auth, order=order, tracking_no=payload.tracking_no))


@router.post("/mall-orders/{mall_order_id}/cancel", response=MallOrderOut)
def mall_order_cancel(request, mall_order_id: int):
    return _mall_order_out(mall.order_cancel(actor=request.auth, order=selectors.mall_order_get(request.auth, mall_order_id)))


# -- lotteries ----------------------------------------------------------------------------------------
class LotteryPrizeIn(Schema):
    name: str = Field(..., max_length=200)
    kind: str
    per_million: int = Field(..., description="the chance per draw, in parts per million")
    stock: int | None = None
    daily_cap: int | None = None
    points: int = 0
    coupon_template_id: int | None = None


class LotteryIn(Schema):
    name: str = Field(..., max_length=200)
    kind: str = "wheel"
    starts_at: datetime
    ends_at: datetime
    points_cost: int = 0
    draws_per_day: int = 1
    draws_total: int | None = None
    show_winners: bool = True
    active: bool = True
    prizes: list[LotteryPrizeIn] = Field(..., max_length=50)


class LotteryPrizeOut(LotteryPrizeIn):
    id: int
    awarded: int
    won: int


class LotteryOut(Schema):
    id: int
    name: str
    kind: str
    starts_at: datetime
    ends_at: datetime
    points_cost: int
    draws_per_day: int
    draws_total: int | None
    draws: int
    players: int
    link: str
    prizes: list[LotteryPrizeOut]


def _lottery_out(request, game) -> LotteryOut:
    stats = selectors.lottery_stats(request.auth, game)
    prizes = [
        LotteryPrizeOut(**{f: getattr(row["prize"], f) for f in (*LotteryPrizeIn.model_fields, "id", "awarded")}, won=row["won"]) for row in stats["prizes"]
    ]
    link = request.build_absolute_uri(reverse("h5_lottery", args=[game.corp.corp_id, game.pk]))
    fields = ("id", "name", "kind", "starts_at", "ends_at", "points_cost", "draws_per_day", "draws_total")
    return LotteryOut(**{f: getattr(game, f) for f in fields}, draws=stats["draws"], players=stats["players"], link=link, prizes=prizes)


@router.get("/lotteries", response=list[LotteryOut])
def lottery_list(request):
    return [_lottery_out(request, g) for g in selectors.lotteries(request.auth).select_related("corp")[:100]]


@router.post("/lotteries", response={201: LotteryOut})
def lottery_create(request, payload: LotteryIn):
    data = payload.dict()
    data["prizes"] = [p.dict() for p in payload.prizes]
    return Status(201, _lottery_out(request, lottery.lottery_save(actor=request.auth, **data)))


@router.get("/lotteries/{lottery_id}", response=LotteryOut)
def lottery_get(request, lottery_id: int):
    return _lottery_out(request, selectors.lottery_get(request.auth, lottery_id))


# -- group games --------------------------------------------------------------------------------------
class GroupGameIn(Schema):
    kind: str = Field(..., description="dice or envelope")
    name: str = Field(..., max_length=200)
    starts_at: datetime
    ends_at: datetime
    host_id: int | None = None
    group_id: int | None = None
    dice: int = 1
    target: int | None = None
    rolls_each: int = 3
    prize_points: int = 0
    prize_coupon_id: int | None = None
    envelopes: int = 0
    total_points: int = 0


class GroupGameOut(Schema):
    id: int
    kind: str
    name: str
    status: str
    starts_at: datetime
    ends_at: datetime
    host_id: int | None
    group_id: int | None
    dice: int
    target: int | None
    rolls_each: int
    prize_points: int
    prize_coupon_id: int | None
    envelopes: int
    total_points: int
    opened: int
    winner_id: int | None
    won_at: datetime | None
    link: str
    plays: int
    players: int
    points_paid: int


class GamePlayOut(Schema):
    id: int
    customer_id: int
    n: int
    rolled: list[int]
    points: int
    won: bool
    coupon_id: int | None
    at: datetime


class GamePlayPage(Schema):
    items: list[GamePlayOut]
    next_cursor: str | None


def _game_out(request, game, stats: dict | None = None) -> GroupGameOut:
    stats = stats or games.games_stats([game.pk])[game.pk]
    fields = ("id", "kind", "name", "status", "starts_at", "ends_at", "host_id", "group_id", "dice", "target", "rolls_each", "prize_points")
    return GroupGameOut(
        **{f: getattr(game, f) for f in (*fields, "prize_coupon_id", "total_points", "opened", "winner_id", "won_at")},
        envelopes=len(game.amounts),
        link=request.build_absolute_uri(reverse("h5_game", args=[request.auth.corp.corp_id, game.pk])),
        plays=stats["plays"],
        players=stats["players"],
        points_paid=stats["points"],
    )


@router.get("/group-games", response=list[GroupGameOut])
def group_game_list(request):
    page = list(selectors.group_games(request.auth)[:100])
    stats = games.games_stats([g.pk for g in page])
    return [_game_out(request, g, stats[g.pk]) for g in page]


@router.post("/group-games", response={201: GroupGameOut})
def group_game_create(request, payload: GroupGameIn):
    return Status(201, _game_out(request, games.game_create(actor=request.auth, **payload.dict())))


@router.get("/group-games/{game_id}", response=GroupGameOut)
def group_game_get(request, game_id: int):
    return _game_out(request, selectors.group_game_get(request.auth, game_id))


@router.post("/group-games/{game_id}/stop", response=GroupGameOut)
def group_game_stop(request, game_id: int):
    return _game_out(request, games.game_stop(actor=request.auth, game=selectors.group_game_get(request.auth, game_id)))


@router.get("/group-games/{game_id}/plays", response=GamePlayPage)
def group_game_plays(request, game_id: int, cursor: str | None = None, limit: int = 50):
    game = selectors.group_game_get(request.auth, game_id)
    page, next_cursor = keyset_page(GamePlay.objects.filter(corp=request.auth.corp, game=game), cursor=cursor, limit=limit)
    fields = GamePlayOut.model_fields
    return GamePlayPage(items=[GamePlayOut(**{f: getattr(p, f) for f in fields}) for p in page], next_cursor=next_cursor)


# -- points tasks -------------------------------------------------------------------------------------
class PointsTaskIn(Schema):
    name: str = Field(..., max_length=200)
    kind: str = Field(..., description="read, share, join_group or order")
    item_id: int | None = None
    points: int = 0
    coupon_template_id: int | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    active: bool = True
    position: int = 0


class PointsTaskOut(PointsTaskIn):
    id: int
    completed: int


def _task_out(task, completed: int) -> PointsTaskOut:
    return PointsTaskOut(id=task.pk, completed=completed, **{f: getattr(task, f) for f in PointsTaskIn.model_fields})


@router.get("/points-tasks", response=list[PointsTaskOut])
def points_task_list(request):
    return [_task_out(t, t.done) for t in selectors.points_tasks(request.auth)]


@router.post("/points-tasks", response={201: PointsTaskOut})
def points_task_create(request, payload: PointsTaskIn):
    return Status(201, _task_out(points_tasks.task_save(actor=request.auth, **payload.dict()), 0))


@router.post("/points-tasks/{points_task_id}/active", response=PointsTaskOut)
def points_task_active(request, points_task_id: int, active: bool = True):
    task = points_tasks.task_set_active(actor=request.auth, task=selectors.points_task_get(request.auth, points_task_id), active=active)
    return _task_out(task, task.completions.count())
