"""Analytics API: RFM and its settings, segments (count, preview, Excel)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from ninja import Field, Query, Router, Schema, Status

from siyu.kit.http import XLSX, attachment
from siyu.kit.pagination import MAX_LIMIT, keyset_page
from siyu.kit.schema import Number, Whole

from . import export, flash, funnels, rfm, segments, selectors, services
from .models import RfmSettings

router = Router(tags=["analytics"])


class ThresholdsOut(Schema):
    recency_days: float
    frequency: float
    monetary_fen: float
    recent_since: date = Field(..., description="recent: last order on or after this day")
    frequent_from: int = Field(..., description="high frequency: at least this many orders")
    big_from: int = Field(..., description="high spend: at least this many fen")


class ClassOut(Schema):
    letter: str
    name: str
    label: str
    strategy: str
    customers: int
    share: float
    gmv_fen: int
    gmv_share: float


class QuintilesOut(Schema):
    recency_cuts: list[int]
    frequency_cuts: list[int]
    monetary_cuts: list[int]
    grid: list[dict] = Field(..., description="R score × F score cells: r, f, customers, gmv_fen")


class RfmOut(Schema):
    as_of: date
    window_days: int | None
    method: str
    buyers: int
    non_buyers: int
    gmv_fen: int
    thresholds: ThresholdsOut
    classes: list[ClassOut]
    quintiles: QuintilesOut | None


class RfmQuery(Schema):
    as_of: date | None = Field(None, description="default: today in the corp's timezone")
    quintiles: bool = Field(False, description="also the classic 1–5 quintile scores")


class RfmSettingsIn(Schema):
    method: str = Field("median", description="median, mean or fixed")
    recency_days: Whole = Field(90, ge=0, le=36500)
    frequency: Number = Field(1, ge=0)
    monetary_fen: Whole = Field(50000, ge=0)
    window_days: int | None = Field(None, ge=1, le=36500, description="empty: all time")
    strategies: dict[str, str] = Field(default_factory=dict, description="class letter → strategy text; empty text restores the default")


class RfmSettingsOut(RfmSettingsIn):
    pass


class FieldConditionIn(Schema):
    key: str = Field(..., max_length=40, description="a custom field's key")
    op: Literal["set", "unset", "eq", "in", "gte", "lte", "age_days_gte", "age_days_lte"]
    value: int | float | str | list[int | float | str] | None = Field(
        None, description="eq/gte/lte: a value of the field's kind; in: a list; age_days_*: whole days since a date field's date"
    )


class SegmentFiltersIn(Schema):
    tags_all: list[int] = Field(default_factory=list)
    tags_any: list[int] = Field(default_factory=list)
    staff_ids: list[int] = Field(default_factory=list)
    state: str = Field("", max_length=30)
    added_from: date | None = None
    added_to: date | None = None
    channel_ids: list[int] = Field(default_factory=list)
    rfm: list[str] = Field(default_factory=list, description="RFM class letters A–H")
    buyers: bool | None = None
    orders_min: int | None = Field(None, ge=0)
    orders_max: int | None = Field(None, ge=0)
    spent_min_fen: int | None = Field(None, ge=0)
    spent_max_fen: int | None = Field(None, ge=0)
    first_order_from: date | None = None
    first_order_to: date | None = None
    last_order_from: date | None = None
    last_order_to: date | None = None
    clv_min_fen: int | None = Field(None, ge=0, description="predicted CLV at least (fen)")
    clv_max_fen: int | None = Field(None, ge=0)
    p_alive_min: float | None = Field(None, ge=0, le=1, description="probability still a customer, at least")
    p_alive_max: float | None = Field(None, ge=0, le=1)
    fields: list[FieldConditionIn] = Field(default_factory=list, max_length=10, description="custom-field conditions, all met")
    stages: list[int] = Field(default_factory=list, description="in any of these lifecycle stages now")


class SegmentIn(Schema):
    name: str = Field(..., min_length=1, max_length=64)
    filters: SegmentFiltersIn


class SegmentOut(Schema):
    id: int
    name: str
    filters: dict


class CountOut(Schema):
    customers: int


class PreviewItem(Schema):
    id: int
    name: str
    external_userid: str


class PreviewPage(Schema):
    items: list[PreviewItem]
    next_cursor: str | None


class PageQuery(Schema):
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=MAX_LIMIT)


def _rfm_out(result: rfm.RfmResult) -> RfmOut:
    t = result.thresholds
    q = result.quintiles
    return RfmOut(
        as_of=result.as_of,
        window_days=result.window_days,
        method=result.method,
        buyers=result.buyers,
        non_buyers=result.non_buyers,
        gmv_fen=result.gmv_fen,
        thresholds=ThresholdsOut(
            recency_days=t.recency_days,
            frequency=t.frequency,
            monetary_fen=t.monetary_fen,
            recent_since=t.recent_since(result.as_of),
            frequent_from=t.frequent_from,
            big_from=t.big_from,
        ),
        classes=[
            ClassOut(
                letter=r.rfm.letter,
                name=str(r.rfm.name),
                label=str(r.rfm.label),
                strategy=str(r.strategy),
                customers=r.customers,
                share=r.share,
                gmv_fen=r.gmv_fen,
                gmv_share=r.gmv_share,
            )
            for r in result.classes
        ],
        quintiles=None
        if q is None
        else QuintilesOut(
            recency_cuts=q.recency_cuts,
            frequency_cuts=q.frequency_cuts,
            monetary_cuts=q.monetary_cuts,
            grid=[{"r": r, "f": f, "customers": n, "gmv_fen": gmv} for (r, f), (n, gmv) in sorted(q.grid.items())],
        ),
    )


def _settings_out(s: RfmSettings) -> RfmSettingsOut:
    return RfmSettingsOut(
        method=s.method,
        recency_days=s.recency_days,
        frequency=s.frequency,
        monetary_fen=s.monetary_fen,
        window_days=s.window_days,
        strategies=s.strategies or {},
    )


@router.get("/rfm", response=RfmOut)
def rfm_get(request, query: Query[RfmQuery]):
    return _rfm_out(selectors.rfm_for(request.auth, as_of=query.as_of, quintiles=query.quintiles))


@router.get("/rfm/settings", response=RfmSettingsOut)
def rfm_settings_get(request):
    return _settings_out(selectors.rfm_settings_for(request.auth))


@router.put("/rfm/settings", response=RfmSettingsOut)
def rfm_settings_put(request, payload: RfmSettingsIn):
    settings = services.rfm_settings_save(actor=request.auth, **payload.dict())
    return _settings_out(settings)


class RfmSegmentIn(Schema):
    letter: str = Field(..., min_length=1, max_length=1, description="the RFM class, A–H")


@router.post("/rfm/segments", response={200: SegmentOut, 201: SegmentOut})
def rfm_class_segment(request, payload: RfmSegmentIn):
    """The saved segment of one RFM class (made the first time, found after)."""
    segment, created = segments.segment_for_rfm_class(actor=request.auth, letter=payload.letter)
    return Status(201 if created else 200, SegmentOut(id=segment.id, name=segment.name, filters=segment.filters))


@router.get("/segments", response=list[SegmentOut])
def segment_list(request):
    return [SegmentOut(id=s.id, name=s.name, filters=s.filters) for s in segments.segment_list(request.auth)]


@router.post("/segments", response={201: SegmentOut})
def segment_create(request, payload: SegmentIn):
    segment = segments.segment_save(actor=request.auth, name=payload.name, filters=segments.SegmentFilters.from_json(payload.filters.dict()))
    return Status(201, SegmentOut(id=segment.id, name=segment.name, filters=segment.filters))


@router.post("/segments/count", response=CountOut)
def segment_count_unsaved(request, payload: SegmentFiltersIn):
    """The live count of filters not saved yet (the editor's running figure)."""
    return CountOut(customers=segments.segment_count(request.auth, segments.SegmentFilters.from_json(payload.dict())))


@router.get("/segments/{segment_id}", response=SegmentOut)
def segment_detail(request, segment_id: int):
    s = segments.segment_get(request.auth, segment_id)
    return SegmentOut(id=s.id, name=s.name, filters=s.filters)


@router.put("/segments/{segment_id}", response=SegmentOut)
def segment_update(request, segment_id: int, payload: SegmentIn):
    actor = request.auth
    s = segments.segment_save(
        actor=actor, name=payload.name, filters=segments.SegmentFilters.from_json(payload.filters.dict()), segment=segments.segment_get(actor, segment_id)
    )
    return SegmentOut(id=s.id, name=s.name, filters=s.filters)


@router.delete("/segments/{segment_id}", response={204: None})
def segment_delete(request, segment_id: int):
    actor = request.auth
    segments.segment_delete(actor=actor, segment=segments.segment_get(actor, segment_id))
    return Status(204, None)


@router.get("/segments/{segment_id}/count", response=CountOut)
def segment_count(request, segment_id: int):
    actor = request.auth
    s = segments.segment_get(actor, segment_id)
    return CountOut(customers=segments.segment_count(actor, segments.SegmentFilters.from_json(s.filters)))


@router.get("/segments/{segment_id}/customers", response=PreviewPage)
def segment_preview(request, segment_id: int, page: Query[PageQuery]):
    actor = request.auth
    s = segments.segment_get(actor, segment_id)
    rows, next_cursor = keyset_page(segments.segment_customers(actor, segments.SegmentFilters.from_json(s.filters)), cursor=page.cursor, limit=page.limit)
    return PreviewPage(items=[PreviewItem(id=c.id, name=c.name, external_userid=c.external_userid) for c in rows], next_cursor=next_cursor)


@router.get("/segments/{segment_id}/customers.xlsx")
def segment_export(request, segment_id: int):
    actor = request.auth
    s = segments.segment_get(actor, segment_id)
    customers = segments.segment_customers(actor, segments.SegmentFilters.from_json(s.filters))
    return attachment(export.segment_workbook(actor.corp, customers, name=s.name), XLSX, f"{s.name}.xlsx")


class ParetoQuery(Schema):
    share: float = Field(0.8, gt=0, le=1, description="the share of GMV the super users make")
    as_of: date | None = None


class ParetoOut(Schema):
    as_of: date
    share: float
    buyers: int
    gmv_fen: int
    super_users: int
    super_users_share: float = Field(..., description="super users as a share of buyers")
    super_users_gmv_fen: int
    spent_min_fen: int = Field(..., description="segment filter spent_min_fen for these customers (ties included)")
    segment_size: int
    top20_gmv_share: float
    gini: float
    lorenz: list[list[float]] = Field(..., description="[share of buyers, share of GMV] from the smallest spender up")


@router.get("/super-users", response=ParetoOut)
def super_users(request, query: Query[ParetoQuery]):
    p = selectors.super_users_for(request.auth, share=query.share, as_of=query.as_of)
    return ParetoOut(
        as_of=p.as_of,
        share=p.share,
        buyers=p.buyers,
        gmv_fen=p.gmv_fen,
        super_users=p.super_users,
        super_users_share=p.super_users_share,
        super_users_gmv_fen=p.super_users_gmv_fen,
        spent_min_fen=p.spent_min_fen,
        segment_size=p.segment_size,
        top20_gmv_share=p.top20_gmv_share,
        gini=p.gini,
        lorenz=[list(pt) for pt in p.lorenz],
    )


class ClvOut(Schema):
    as_of: date | None
    horizon_days: int
    customers: int
    repeat_customers: int
    bgnbd: dict
    gamma_gamma: dict
    at_limit: bool = Field(..., description="the fit stopped at a parameter bound: too little or too regular history for stable estimates")
    fitted_at: datetime | None
    seconds: float
    queued_at: datetime | None
    error: str
    total_clv_fen: int
    deciles: list[dict] = Field(..., description="buyers by predicted CLV, top tenth first: customers, clv_fen, share")


class ClvRefreshIn(Schema):
    horizon_days: int = Field(365, ge=1, le=3650)


@router.get("/clv", response=ClvOut)
def clv_get(request):
    actor = request.auth
    fit, deciles, total = selectors.clv_overview(actor)
    return ClvOut(
        as_of=fit.as_of,
        horizon_days=fit.horizon_days,
        customers=fit.customers,
        repeat_customers=fit.repeat_customers,
        bgnbd=fit.bgnbd,
        gamma_gamma=fit.gamma_gamma,
        at_limit=fit.at_limit,
        fitted_at=fit.fitted_at,
        seconds=fit.seconds,
        queued_at=fit.queued_at,
        error=fit.error,
        total_clv_fen=total,
        deciles=deciles,
    )


@router.post("/clv/refresh", response={202: ClvOut})
def clv_refresh(request, payload: ClvRefreshIn):
    """Refit now (in the worker); the fit also runs by itself once a day."""
    actor = request.auth
    services.clv_refresh_queue(actor=actor, horizon_days=payload.horizon_days)
    return Status(202, clv_get(request))


class ValueOut(Schema):
    customer_id: int
    order_count: int
    paid_fen: int
    refunded_fen: int
    net_fen: int
    first_paid_at: datetime | None
    second_paid_at: datetime | None
    last_paid_at: datetime | None
    rfm_class: str | None = Field(..., description="A–H today, or null without a counted order")
    rfm_name: str | None
    expected_purchases: float | None = Field(..., description="in the CLV fit's horizon; null before the first fit")
    p_alive: float | None
    expected_spend_fen: int | None
    clv_fen: int | None


@router.get("/customers/{customer_id}/value", response=ValueOut)
def customer_value(request, customer_id: int):
    actor = request.auth
    value, cls, clv = selectors.customer_value(actor, customer_id)
    return ValueOut(
        customer_id=customer_id,
        order_count=value.order_count,
        paid_fen=value.paid_fen,
        refunded_fen=value.refunded_fen,
        net_fen=value.net_fen,
        first_paid_at=value.first_paid_at,
        second_paid_at=value.second_paid_at,
        last_paid_at=value.last_paid_at,
        rfm_class=cls.letter if cls else None,
        rfm_name=str(cls.name) if cls else None,
        expected_purchases=clv.expected_purchases if clv else None,
        p_alive=clv.p_alive if clv else None,
        expected_spend_fen=clv.expected_spend_fen if clv else None,
        clv_fen=clv.clv_fen if clv else None,
    )


class PeriodQuery(Schema):
    start: date
    end: date


class FunnelQuery(PeriodQuery):
    by: str = Field("week", description="week, channel or staff")


class FunnelRowOut(Schema):
    key: str | int | None
    name: str
    added: int
    existing_buyers: int = Field(..., description="had bought before being added; not in the conversion rate")
    new_customers: int
    first_orders: int
    second_orders: int
    conversion: float | None = Field(..., description="first orders / new customers (新客转化率)")
    repurchase: float | None = Field(..., description="second orders / first orders")
    median_days_to_first: float | None
    median_days_to_second: float | None


class FunnelOut(Schema):
    start: date
    end: date
    by: str
    total: FunnelRowOut
    rows: list[FunnelRowOut]


class GmvQuery(PeriodQuery):
    period: str = Field("month", description="month or week")


class GmvPeriodOut(Schema):
    start: date
    end: date
    reached: int
    buyers: int
    conversion: float
    spend_per_buyer_fen: float
    gmv_fen: int
    change_fen: int | None
    from_reach_fen: float | None
    from_conversion_fen: float | None
    from_spend_fen: float | None
    to_date: date | None = Field(..., description="the period is still running: counted up to this day, and compared with compared_to")
    compared_to: list[date] | None = Field(..., description="first and last day of the period before that the running period's change is against")


class CohortQuery(PeriodQuery):
    months: int = Field(12, ge=1, le=36)


class CohortOut(Schema):
    month: date
    customers: int
    retained: list[int]
    rates: list[float]


def _funnel_row(r: funnels.FunnelRow) -> FunnelRowOut:
    return FunnelRowOut(
        key=r.key,
        name=r.name,
        added=r.added,
        existing_buyers=r.existing_buyers,
        new_customers=r.new_customers,
        first_orders=r.first_orders,
        second_orders=r.second_orders,
        conversion=r.conversion,
        repurchase=r.repurchase,
        median_days_to_first=r.median_days_to_first,
        median_days_to_second=r.median_days_to_second,
    )


@router.get("/funnel", response=FunnelOut)
def funnel_get(request, query: Query[FunnelQuery]):
    f = selectors.funnel_for(request.auth, start=query.start, end=query.end, by=query.by)
    return FunnelOut(start=f.start, end=f.end, by=f.by, total=_funnel_row(f.total), rows=[_funnel_row(r) for r in f.rows])


@router.get("/gmv", response=list[GmvPeriodOut])
def gmv_get(request, query: Query[GmvQuery]):
    return [
        GmvPeriodOut(
            start=p.start,
            end=p.end,
            reached=p.reached,
            buyers=p.buyers,
            conversion=p.conversion,
            spend_per_buyer_fen=p.spend_per_buyer_fen,
            gmv_fen=p.gmv_fen,
            change_fen=p.change_fen,
            from_reach_fen=p.from_reach_fen,
            from_conversion_fen=p.from_conversion_fen,
            from_spend_fen=p.from_spend_fen,
            to_date=p.to_date,
            compared_to=None if p.compared_to is None else list(p.compared_to),
        )
        for p in selectors.gmv_for(request.auth, start=query.start, end=query.end, period=query.period)
    ]


@router.get("/cohorts", response=list[CohortOut])
def cohorts_get(request, query: Query[CohortQuery]):
    return [
        CohortOut(month=c.month, customers=c.customers, retained=c.retained, rates=c.rates)
        for c in selectors.cohorts_for(request.auth, start=query.start, end=query.end, months=query.months)
    ]


class FlashDayOut(Schema):
    day: int = Field(..., description="days since joining; 0 is the joining day")
    first_orders: int
    orders: int
    gmv_fen: int
    share: float = Field(..., description="of the GMV made by the end of this day")


class FlashOut(Schema):
    group_id: int
    group_name: str
    members: int
    buyers: int
    conversion: float
    orders: int
    gmv_fen: int
    last_order_day: int | None
    day_of_share: int | None = Field(..., description="the day by whose end 90% of the GMV was made")
    days: list[FlashDayOut]


@router.get("/flash-groups/{customer_group_id}", response=FlashOut)
def flash_group(request, customer_group_id: int, days: int = 14):
    group = flash.flash_group_get(request.auth, customer_group_id)
    return flash.flash_analysis(request.auth, group, days=days)
