from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from siyu.acquisition.api import Attachment
from siyu.customers.selectors import customer_get
from siyu.kit.clock import now
from siyu.kit.errors import NotFound
from siyu.kit.pagination import keyset_page
from siyu.messaging.api import AudienceIn

from . import handover, quick_replies, selectors, services
from .behaviour import wecom_today
from .models import GuideTask, GuideTaskItem

router = Router(tags=["guide tasks"])


class GuideTaskIn(Schema):
    name: str = Field(..., min_length=1, max_length=64)
    kind: Literal[tuple(GuideTask.Kind.values)]  # type: ignore[valid-type]
    audience: AudienceIn | None = Field(None, description="whom it is for (a group send: groups); a moment task has none")
    ends_at: datetime = Field(..., description="the deadline")
    instructions: str = Field("", max_length=500, description="what the guide is asked to do")
    text: str = Field("", max_length=4000, description="the content of a send, mass-send, group-send or moment task")
    attachments: list[Attachment] = Field(default_factory=list, max_length=9)
    tag_ids: list[int] = Field(default_factory=list, description="a tag task's tags to add; a moment task's: shown only to customers with one")
    staff_ids: list[int] = Field(default_factory=list, description="only these guides (none: every staff member)")
    department_ids: list[int] = Field(default_factory=list, description="only guides in these departments or below them (regions, stores)")
    starts_at: datetime | None = Field(None, description="when it is assigned; only what guides do from then counts (none: now)")
    notify_hour: int | None = Field(None, ge=0, le=23, description="the hour (corp time) the guides get the app message (none: at the start)")
    target: int = Field(100, ge=1, le=100, description="the share of items (%) a guide must complete")


class GuideTaskOut(Schema):
    id: int
    name: str
    kind: str
    unit: Literal["customers", "groups", "posts"] = Field(..., description="what the items and the counts are: customers, the guides' groups, or their posts")
    status: str
    instructions: str
    text: str
    attachments: list[dict]
    tag_ids: list[int]
    audience: dict
    staff_ids: list[int]
    department_ids: list[int]
    starts_at: datetime
    notify_at: datetime
    ends_at: datetime
    target: int
    urged_at: datetime | None
    created_at: datetime
    guides_total: int
    guides_done: int
    items_total: int
    items_done: int


class GuideTaskPage(Schema):
    items: list[GuideTaskOut]
    next_cursor: str | None


class CompletionOut(Schema):
    id: int | None
    name: str
    guides: int
    guides_done: int
    customers: int = Field(..., description="items assigned: customers, groups or posts (the task's unit)")
    done: int
    on_time: int
    rate: float


class AssignmentOut(Schema):
    task: GuideTaskOut
    items_total: int
    items_done: int
    completed_at: datetime | None


class ItemOut(Schema):
    customer_id: int | None
    customer_name: str
    group_id: int | None = Field(None, description="a group-send task's item: the guide's group")
    group_name: str = ""
    status: str
    done_at: datetime | None
    how: str


class SentIn(Schema):
    customer_id: int
    via: Literal["sidebar", "manual"] = Field("sidebar", description="sent from the chat sidebar, or marked sent by the guide")


class UrgedOut(Schema):
    guides: int


@router.post("/guide-tasks", response={201: GuideTaskOut})
def guide_task_create(request, payload: GuideTaskIn):
    data = payload.dict()
    data["audience"] = payload.audience.dict() if payload.audience else None
    data["attachments"] = [a.dict(exclude_none=True) for a in payload.attachments]
    return Status(201, services.guide_task_create(actor=request.auth, **data))


@router.get("/guide-tasks", response=GuideTaskPage)
def guide_task_list(request, cursor: str | None = None, limit: int = 50):
    rows, next_cursor = keyset_page(selectors.guide_tasks(request.auth), cursor=cursor, limit=limit)
    return GuideTaskPage(items=rows, next_cursor=next_cursor)


@router.get("/guide-tasks/{guide_task_id}", response=GuideTaskOut)
def guide_task_detail(request, guide_task_id: int):
    return selectors.guide_task_get(request.auth, guide_task_id)


@router.get("/guide-tasks/{guide_task_id}/completion", response=list[CompletionOut])
def guide_task_completion(request, guide_task_id: int, by: Literal["staff", "department", "region"] = "staff", sort: Literal["", "rate", "-rate", "name"] = ""):
    return selectors.guide_task_completion(request.auth, selectors.guide_task_managed(request.auth, guide_task_id), by=by, sort=sort)


@router.post("/guide-tasks/{guide_task_id}/urge", response=UrgedOut)
def guide_task_urge(request, guide_task_id: int):
    return UrgedOut(guides=services.guide_task_urge(actor=request.auth, task=selectors.guide_task_managed(request.auth, guide_task_id)))


@router.post("/guide-tasks/{guide_task_id}/cancel", response=GuideTaskOut)
def guide_task_cancel(request, guide_task_id: int):
    return services.guide_task_cancel(actor=request.auth, task=selectors.guide_task_managed(request.auth, guide_task_id))


@router.post("/guide-tasks/{guide_task_id}/sent", response=ItemOut)
def guide_task_sent(request, guide_task_id: int, payload: SentIn):
    actor = request.auth
    task = selectors.guide_task_get(actor, guide_task_id)
    customer = customer_get(actor, payload.customer_id)
    services.item_sent(actor=actor, task=task, customer=customer, via=payload.via)
    return _item_out(GuideTaskItem.objects.select_related("customer", "group").get(task=task, customer=customer))


def _item_out(i: GuideTaskItem) -> ItemOut:
    return ItemOut(
        customer_id=i.customer_id,
        customer_name=i.customer.name if i.customer else "",
        group_id=i.group_id,
        group_name=str(i.group) if i.group else "",
        status=i.status,
        done_at=i.done_at,
        how=i.how,
    )


@router.get("/my/tasks", response=list[AssignmentOut])
def my_tasks(request):
    return list(selectors.my_assignments(request.auth)[:200])


@router.get("/my/tasks/{guide_task_id}/customers", response=list[ItemOut])
def my_task_customers(request, guide_task_id: int, status: Literal["open", "done"] | None = None):
    actor = request.auth
    assignment = selectors.my_assignment(actor, selectors.guide_task_get(actor, guide_task_id))
    if assignment is None:
        return []
    return [_item_out(i) for i in selectors.assignment_items(actor, assignment, status=status or "")[:5000]]


# -- the quick-reply library (话术库) ------------------------------------------------------------------------
class QuickReplyGroupIn(Schema):
    name: str = Field(..., min_length=1, max_length=32)
    position: int = Field(0, ge=0, le=999)


class QuickReplyGroupOut(Schema):
    id: int
    name: str
    position: int


class QuickReplyIn(Schema):
    group_id: int
    title: str = Field(..., min_length=1, max_length=64, description="what guides find it by")
    text: str = Field("", max_length=4000)
    attachments: list[Attachment] = Field(default_factory=list, max_length=9, description="images, links, videos, files: what a chat takes")
    position: int = Field(0, ge=0, le=999)


class QuickReplyOut(Schema):
    id: int
    group_id: int
    group_name: str = Field(..., alias="group.name")
    title: str
    text: str
    attachments: list[dict]
    position: int
    sent_count: int
    updated_at: datetime


def _reply_fields(payload: QuickReplyIn) -> dict:
    data = payload.dict()
    data["attachments"] = [a.dict(exclude_none=True) for a in payload.attachments]
    return data


@router.get("/quick-reply-groups", response=list[QuickReplyGroupOut])
def quick_reply_group_list(request):
    return list(selectors.quick_reply_groups(request.auth))


@router.post("/quick-reply-groups", response={201: QuickReplyGroupOut})
def quick_reply_group_create(request, payload: QuickReplyGroupIn):
    return Status(201, quick_replies.quick_reply_group_save(actor=request.auth, **payload.dict()))


@router.put("/quick-reply-groups/{quick_reply_group_id}", response=QuickReplyGroupOut)
def quick_reply_group_update(request, quick_reply_group_id: int, payload: QuickReplyGroupIn):
    group = selectors.quick_reply_group_get(request.auth, quick_reply_group_id)
    return quick_replies.quick_reply_group_save(actor=request.auth, group=group, **payload.dict())


@router.delete("/quick-reply-groups/{quick_reply_group_id}", response={204: None})
def quick_reply_group_delete(request, quick_reply_group_id: int):
    quick_replies.quick_reply_group_delete(actor=request.auth, group=selectors.quick_reply_group_get(request.auth, quick_reply_group_id))
    return Status(204, None)


@router.get("/quick-replies", response=list[QuickReplyOut])
def quick_reply_list(request, q: str = Query("", max_length=50, description="words in the title, text or group"), group_id: int | None = None):
    return list(selectors.quick_replies(request.auth, q=q, group_id=group_id)[:500])


@router.post("/quick-replies", response={201: QuickReplyOut})
def quick_reply_create(request, payload: QuickReplyIn):
    return Status(201, quick_replies.quick_reply_save(actor=request.auth, **_reply_fields(payload)))


@router.get("/quick-replies/{quick_reply_id}", response=QuickReplyOut)
def quick_reply_detail(request, quick_reply_id: int):
    return selectors.quick_reply_get(request.auth, quick_reply_id)


@router.put("/quick-replies/{quick_reply_id}", response=QuickReplyOut)
def quick_reply_update(request, quick_reply_id: int, payload: QuickReplyIn):
    reply = selectors.quick_reply_get(request.auth, quick_reply_id)
    return quick_replies.quick_reply_save(actor=request.auth, reply=reply, **_reply_fields(payload))


@router.delete("/quick-replies/{quick_reply_id}", response={204: None})
def quick_reply_delete(request, quick_reply_id: int):
    quick_replies.quick_reply_delete(actor=request.auth, reply=selectors.quick_reply_get(request.auth, quick_reply_id))
    return Status(204, None)


# -- replies and the golden period ------------------------------------------------------------------------
class ReplyStatsOut(Schema):
    id: int | None
    name: str
    period: date | None = Field(None, description="the week's Monday or the month's first day, when grouped by period")
    guides: int
    chats: int
    messages: int
    replied: int = Field(..., description="chats customers began that were answered the same day")
    rate: float
    avg_reply_minutes: float | None
    new_contacts: int
    negative: int


class GoldenPeriodOut(Schema):
    id: int | None
    name: str
    period: date | None = Field(None, description="the cohort's week or month (of the add)")
    customers: int
    reached: int = Field(..., description="reached one to one by the guide who added them within 14 days")
    contacts: int
    in_window: int = Field(..., description="still inside their 14 days")
    rate: float


def _days(first: date | None, last: date | None) -> tuple[date, date]:
    last = last or wecom_today() - timedelta(days=1)
    return first or last - timedelta(days=29), last


@router.get("/replies", response=list[ReplyStatsOut])
def reply_stats(
    request,
    first: date | None = None,
    last: date | None = None,
    by: Literal["staff", "department", "region"] = "staff",
    period: Literal["week", "month"] | None = None,
    sort: Literal["rate", "-rate", "name"] | None = None,
):
    """WeCom's behaviour data (days in China time; the last 30 days unless asked)."""
    first, last = _days(first, last)
    return selectors.reply_stats(request.auth, first, last, by=by, period=period, sort=sort or "")


@router.get("/replies/golden-period", response=list[GoldenPeriodOut])
def golden_period(
    request,
    first: date | None = None,
    last: date | None = None,
    by: Literal["staff", "department", "region"] = "staff",
    period: Literal["week", "month"] | None = None,
    sort: Literal["rate", "-rate", "name"] | None = None,
):
    """New customers added on these days (the corp's) and their 14-day golden period."""
    first, last = _days(first, last)
    return selectors.golden_period(request.auth, first, last, by=by, period=period, sort=sort or "")


# -- staff handover (在职转接 / 离职继承) -------------------------------------------------------------------------
class HandoverIn(Schema):
    handover_staff_id: int = Field(..., description="the member whose customers move (on the job, or left)")
    takeover_staff_id: int = Field(..., description="who takes them (on the job)")
    customer_ids: list[int] | None = Field(None, description="only these of their customers (none: all of them)")
    groups: bool = Field(False, description="their customer groups go to the taker too")
    message: str = Field("", max_length=200, description="what customers are told (on the job only)")


class HandoverPlanIn(Schema):
    handover_staff_id: int
    takeover_staff_id: int
    customer_ids: list[int] | None = None


class HandoverPlanOut(Schema):
    resigned: bool
    customers: int = Field(..., description="customers that would move")
    over_limit: list[int] = Field(..., description="customers moved twice in 90 days already: WeCom refuses a third move")
    groups: int


class HandoverOut(Schema):
    id: int
    handover_staff_id: int
    handover_staff_name: str = Field(..., alias="handover_staff.name")
    takeover_staff_id: int
    takeover_staff_name: str = Field(..., alias="takeover_staff.name")
    resigned: bool
    message: str
    groups: bool
    status: str
    created_at: datetime
    customers: int
    over_limit: int
    groups_moved: int
    groups_failed: list[dict]


class HandoverDetailOut(HandoverOut):
    outcomes: dict[str, int] = Field(..., description="customers per outcome: queued, sending, limit, rejected, waiting, done, refused, full")


class HandoverPage(Schema):
    items: list[HandoverOut]
    next_cursor: str | None


class HandoverItemOut(Schema):
    customer_id: int
    customer_name: str = Field(..., alias="customer.name")
    status: str
    errcode: int
    sent_at: datetime | None
    settled_at: datetime | None


class UnassignedOut(Schema):
    userid: str
    staff_id: int | None
    staff_name: str
    customers: int


@router.post("/handovers/plan", response=HandoverPlanOut)
def handover_plan(request, payload: HandoverPlanIn):
    """What a handover would do, saving nothing."""
    plan = handover.handover_plan(actor=request.auth, **payload.dict())
    return HandoverPlanOut(resigned=plan["resigned"], customers=len(plan["customers"]), over_limit=plan["over_limit"], groups=plan["groups"])


@router.post("/handovers", response={201: HandoverDetailOut})
def handover_create(request, payload: HandoverIn):
    h = handover.handover_create(actor=request.auth, **payload.dict())
    h.outcomes = selectors.handover_counts(h)
    return Status(201, h)


@router.get("/handovers", response=HandoverPage)
def handover_list(request, cursor: str | None = None, limit: int = 50):
    rows, next_cursor = keyset_page(selectors.handovers(request.auth), cursor=cursor, limit=limit)
    return HandoverPage(items=rows, next_cursor=next_cursor)


@router.get("/handovers/unassigned", response=list[UnassignedOut])
def handover_unassigned(request):
    """Leavers' customers WeCom lists as not yet handed over, per leaver."""
    out = []
    for e in handover.unassigned(request.auth):
        staff = e["staff"]
        out.append(
            UnassignedOut(userid=e["userid"], staff_id=staff.pk if staff else None, staff_name=staff.name if staff else e["userid"], customers=e["customers"])
        )
    return out


@router.get("/handovers/{handover_id}", response=HandoverDetailOut)
def handover_detail(request, handover_id: int):
    h = selectors.handover_get(request.auth, handover_id)
    h.outcomes = selectors.handover_counts(h)
    return h


@router.get("/handovers/{handover_id}/customers", response=list[HandoverItemOut])
def handover_customers(request, handover_id: int, status: str = ""):
    return list(selectors.handover_items(selectors.handover_get(request.auth, handover_id), status=status)[:5000])


# -- leaderboards --------------------------------------------------------------------------------------------
class BoardOut(Schema):
    id: int | None
    name: str
    rank: int
    guides: int
    adds: int
    lost: int
    net_adds: int
    items: int
    items_done: int
    task_rate: float | None
    replied: int
    gmv_fen: int
    new_customers: int
    converted: int
    conversion: float | None


class PlaceOut(Schema):
    corp: int
    corp_of: int
    store: int
    store_of: int


class MyRankOut(Schema):
    staff_id: int
    staff_name: str
    figures: dict
    places: dict[str, PlaceOut | None]


Metric = Literal["adds", "net_adds", "task_rate", "replied", "gmv_fen", "conversion"]


def _board_days(request, first: date | None, last: date | None) -> tuple[date, date]:
    last = last or now().astimezone(request.auth.corp.tzinfo).date()
    return first or last - timedelta(days=29), last


@router.get("/leaderboard", response=list[BoardOut])
def leaderboard(
    request, first: date | None = None, last: date | None = None, by: Literal["staff", "department", "region"] = "department", sort: Metric = "gmv_fen"
):
    """Guides, stores or regions ranked (the corp's days; the last 30 unless asked)."""
    first, last = _board_days(request, first, last)
    return selectors.leaderboard(request.auth, first, last, by=by, sort=sort)


@router.get("/my/rank", response={200: MyRankOut, 404: dict})
def my_rank(request, first: date | None = None, last: date | None = None):
    """The caller's own figures and place among the corp's guides and in their store."""
    first, last = _board_days(request, first, last)
    mine = selectors.my_rank(request.auth, first, last)
    if mine is None:
        raise NotFound(_("Your account is not linked to a WeCom member."), code="not_staff")
    return MyRankOut(staff_id=mine["staff"].pk, staff_name=mine["staff"].name, figures=mine["figures"], places=mine["places"])


# -- key metrics (项目复盘) ------------------------------------------------------------------------------------
class MetricsRowOut(Schema):
    id: int | None
    name: str
    first: date
    last: date
    guides: int
    staff_ids: list[int]
    new_customers: int
    converted: int
    conversion: float | None
    customers: int
    customers_bought: int
    first_order_rate: float | None
    buyers: int
    repeat_buyers: int
    repurchase_rate: float | None
    orders: int
    gmv_fen: int
    aov_fen: float | None
    value_fen: float | None
    items: int
    items_done: int
    task_rate: float | None
    reached: int
    golden_rate: float | None
    group_days: int = Field(..., description="groups the guides owned, summed day by day (WeCom's groupchat/statistic)")
    active_group_days: int = Field(..., description="of them, groups with messages that day")
    group_messages: int
    group_activity: float | None = Field(..., description="active_group_days / group_days")
    adds: int
    net_adds: int
    replied: int


class MetricsOut(Schema):
    totals: list[MetricsRowOut] = Field(..., description="the company, per period")
    rows: list[MetricsRowOut] = Field(..., description="per region, store or guide and period, when grouped")


@router.get("/metrics", response=MetricsOut)
def key_metrics(
    request,
    first: date | None = None,
    last: date | None = None,
    by: Literal["staff", "department", "region"] | None = None,
    period: Literal["week", "month"] | None = None,
):
    """The programme's key figures (the corp's days; the last 90 unless asked)."""
    last = last or now().astimezone(request.auth.corp.tzinfo).date()
    first = first or last - timedelta(days=89)
    found = selectors.key_metrics(request.auth, first, last, by=by, period=period)
    return MetricsOut(totals=found["totals"], rows=found["rows"])
