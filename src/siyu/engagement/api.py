from __future__ import annotations

from datetime import datetime

from ninja import Field, Router, Schema, Status

from siyu.kit.pagination import keyset_page
from siyu.messaging.selectors import content_item_get

from . import reading, selectors

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
