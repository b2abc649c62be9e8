from __future__ import annotations

from datetime import date, datetime, time
from typing import Literal

from django.utils.translation import gettext as _
from ninja import Field, File, Form, Query, Router, Schema, Status
from ninja.files import UploadedFile

from siyu.corps.selectors import staff_get
from siyu.kit.clock import now
from siyu.kit.errors import InvalidInput
from siyu.kit.http import XLSX, attachment
from siyu.kit.pagination import keyset_page
from siyu.kit.schema import ClockTime, Whole
from siyu.kit.tenancy import get_for

from . import export, leads, phone_import, qr, selectors, services
from .models import AddTask, Channel, LiveCode

router = Router(tags=["acquisition"])


class ChannelIn(Schema):
    name: str = Field(..., min_length=1, max_length=64)
    group: Literal[tuple(Channel.Group.values)] = Channel.Group.OTHER  # type: ignore[valid-type]


class ChannelPatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=64)
    group: Literal[tuple(Channel.Group.values)] | None = None  # type: ignore[valid-type]


class ChannelOut(Schema):
    id: int
    name: str
    group: str


class CostIn(Schema):
    amount_fen: Whole = Field(..., ge=0)


class MemberIn(Schema):
    staff_id: int | None = None
    department_id: int | None = None
    weight: int = Field(1, ge=1, le=1000)
    daily_cap: int | None = Field(None, ge=0)
    backup: bool = False
    schedule: dict = Field(default_factory=dict)


class Attachment(Schema):
    """Checked by messaging (messaging.content) when the welcome is saved."""

    msgtype: Literal["image", "link", "miniprogram", "video", "file"]
    image: dict | None = None
    link: dict | None = None
    miniprogram: dict | None = None
    video: dict | None = None
    file: dict | None = None


class WelcomeIn(Schema):
    text: str = Field("", max_length=4000)
    attachments: list[Attachment] = Field(default_factory=list, max_length=9)


class LiveCodeIn(Schema):
    channel_id: int
    name: str = Field(..., min_length=1, max_length=64)
    mode: Literal[tuple(LiveCode.Mode.values)] = LiveCode.Mode.WECOM_LIST  # type: ignore[valid-type]
    routing: Literal[tuple(LiveCode.Routing.values)] = LiveCode.Routing.ROTATE  # type: ignore[valid-type]
    members: list[MemberIn] = Field(..., max_length=500)
    total_cap: int | None = Field(None, ge=0)
    schedule: dict = Field(default_factory=dict)
    expires_at: datetime | None = None
    skip_verify: bool = True
    tag_ids: list[int] = Field(default_factory=list, max_length=50)
    welcome: WelcomeIn | None = None


class MemberOut(Schema):
    staff_id: int | None
    department_id: int | None
    weight: int
    daily_cap: int | None
    backup: bool
    schedule: dict


class LiveCodeOut(Schema):
    id: int
    channel_id: int
    name: str
    state: str
    mode: str
    routing: str
    status: str
    total_cap: int | None
    schedule: dict
    expires_at: datetime | None
    skip_verify: bool
    tag_ids: list[int]
    members: list[MemberOut]
    config_id: str
    qr_url: str
    landing_url: str | None
    wecom_users: list[str]
    overflowing: bool
    push_error: str


class SeatToday(Schema):
    staff_id: int
    userid: str
    count: int
    daily_cap: int | None
    backup: bool
    available: bool


class StatusIn(Schema):
    status: Literal["active", "paused"]


class StatsRowOut(Schema):
    key: int | None
    name: str
    adds: int
    scans: int
    lost_1d: int
    lost_7d: int
    lost: int
    net: int
    churn_1d: float | None
    churn_7d: float | None
    cost_fen: int | None
    cost_per_add_fen: int | None


class StatsOut(Schema):
    start: date
    end: date
    by: str
    totals: StatsRowOut
    rows: list[StatsRowOut]
    days: list[StatsRowOut]


class StatsQuery(Schema):
    start: date
    end: date
    by: Literal[selectors.STATS_BY] = "channel"  # type: ignore[valid-type]
    channel_id: int | None = None
    live_code_id: int | None = None
    staff_id: int | None = None


def _code_out(code: LiveCode) -> LiveCodeOut:
    return LiveCodeOut(
        id=code.id,
        channel_id=code.channel_id,
        name=code.name,
        state=code.state,
        mode=code.mode,
        routing=code.routing,
        status=code.status,
        total_cap=code.total_cap,
        schedule=code.schedule,
        expires_at=code.expires_at,
        skip_verify=code.skip_verify,
        tag_ids=sorted(t.id for t in code.tags.all()),
        members=[
            MemberOut(staff_id=m.staff_id, department_id=m.department_id, weight=m.weight, daily_cap=m.daily_cap, backup=m.backup, schedule=m.schedule)
            for m in code.members.all()
        ],
        config_id=code.config_id,
        qr_url=code.qr_url,
        landing_url=services.landing_url(code) if code.mode == LiveCode.Mode.EXACT else None,
        wecom_users=code.pushed_users,
        overflowing=code.overflowing,
        push_error=code.push_error,
    )


# -- channels --------------------------------------------------------------------------------------
@router.get("/channels", response=list[ChannelOut])
def channel_list(request):
    return list(selectors.channels(request.auth))


@router.post("/channels", response={201: ChannelOut})
def channel_create(request, payload: ChannelIn):
    return Status(201, services.channel_create(actor=request.auth, name=payload.name, group=payload.group))


@router.patch("/channels/{channel_id}", response=ChannelOut)
def channel_update(request, channel_id: int, payload: ChannelPatch):
    channel = selectors.channel_get(request.auth, channel_id)
    return services.channel_update(actor=request.auth, channel=channel, name=payload.name, group=payload.group)


@router.put("/channels/{channel_id}/costs/{day}", response=dict)
def channel_cost_set(request, channel_id: int, day: date, payload: CostIn):
    cost = services.channel_cost_set(actor=request.auth, channel=selectors.channel_get(request.auth, channel_id), day=day, amount_fen=payload.amount_fen)
    return {"channel_id": channel_id, "day": cost.day.isoformat(), "amount_fen": cost.amount_fen}


# -- live codes ------------------------------------------------------------------------------------
def _save(request, payload: LiveCodeIn, live_code: LiveCode | None = None) -> LiveCode:
    return services.live_code_save(
        actor=request.auth,
        live_code=live_code,
        channel=selectors.channel_get(request.auth, payload.channel_id),
        name=payload.name,
        members=[m.dict() for m in payload.members],
        mode=payload.mode,
        routing_mode=payload.routing,
        total_cap=payload.total_cap,
        schedule=payload.schedule,
        expires_at=payload.expires_at,
        skip_verify=payload.skip_verify,
        tag_ids=payload.tag_ids,
        welcome=payload.welcome.dict(exclude_none=True) if payload.welcome else None,
    )


@router.get("/live-codes", response=list[LiveCodeOut])
def live_code_list(request):
    return [_code_out(c) for c in selectors.live_codes(request.auth)]


@router.post("/live-codes", response={201: LiveCodeOut})
def live_code_create(request, payload: LiveCodeIn):
    code = _save(request, payload)
    # WeCom is brought in step after the commit; the answer shows the code as saved.
    return Status(201, _code_out(selectors.live_code_get(request.auth, code.id)))


@router.get("/live-codes/{live_code_id}", response=LiveCodeOut)
def live_code_get(request, live_code_id: int):
    return _code_out(selectors.live_code_get(request.auth, live_code_id))


@router.put("/live-codes/{live_code_id}", response=LiveCodeOut)
def live_code_update(request, live_code_id: int, payload: LiveCodeIn):
    code = _save(request, payload, selectors.live_code_get(request.auth, live_code_id))
    return _code_out(selectors.live_code_get(request.auth, code.id))


@router.post("/live-codes/{live_code_id}/status", response=LiveCodeOut)
def live_code_status(request, live_code_id: int, payload: StatusIn):
    code = services.live_code_set_status(actor=request.auth, live_code=selectors.live_code_get(request.auth, live_code_id), status=payload.status)
    return _code_out(selectors.live_code_get(request.auth, code.id))


@router.delete("/live-codes/{live_code_id}", response={204: None})
def live_code_delete(request, live_code_id: int):
    services.live_code_set_status(actor=request.auth, live_code=selectors.live_code_get(request.auth, live_code_id), status=LiveCode.Status.DELETED)
    return Status(204, None)


@router.get("/live-codes/{live_code_id}/today", response=list[SeatToday])
def live_code_today(request, live_code_id: int):
    return selectors.live_code_today(selectors.live_code_get(request.auth, live_code_id), now())


@router.get("/live-codes/{live_code_id}/qr.png", response={200: None})
def live_code_qr_png(request, live_code_id: int, scale: int = 10):
    code = selectors.live_code_get(request.auth, live_code_id)
    body = qr.qr_png(services.qr_content_for(code), scale=max(2, min(scale, 40)))
    return attachment(body, "image/png", f"{code.state}.png")


@router.get("/live-codes/{live_code_id}/qr.svg", response={200: None})
def live_code_qr_svg(request, live_code_id: int):
    code = selectors.live_code_get(request.auth, live_code_id)
    return attachment(qr.qr_svg(services.qr_content_for(code)), "image/svg+xml", f"{code.state}.svg")


@router.get("/live-codes/{live_code_id}/poster.png", response={200: None})
def live_code_poster(request, live_code_id: int, title: str = "", subtitle: str = "", footer: str = ""):
    code = selectors.live_code_get(request.auth, live_code_id)
    return attachment(services.poster_for(code, title=title, subtitle=subtitle, footer=footer), "image/png", f"{code.state}-poster.png")


# -- statistics ------------------------------------------------------------------------------------
def _stats(request, q: StatsQuery) -> selectors.AcquisitionStats:
    actor = request.auth
    # Named filters must exist in this corp: another corp's id is a 404, not an empty report.
    if q.channel_id is not None:
        selectors.channel_get(actor, q.channel_id)
    if q.live_code_id is not None:
        selectors.live_code_get(actor, q.live_code_id)
    if q.staff_id is not None:
        staff_get(actor, q.staff_id)
    return selectors.acquisition_stats(actor, start=q.start, end=q.end, by=q.by, channel_id=q.channel_id, live_code_id=q.live_code_id, staff_id=q.staff_id)


def _row_out(r) -> StatsRowOut:
    return StatsRowOut(
        key=r.key,
        name=r.name,
        adds=r.adds,
        scans=r.scans,
        lost_1d=r.lost_1d,
        lost_7d=r.lost_7d,
        lost=r.lost,
        net=r.net,
        churn_1d=r.churn_1d,
        churn_7d=r.churn_7d,
        cost_fen=r.cost_fen,
        cost_per_add_fen=r.cost_per_add_fen,
    )


@router.get("/acquisition-stats", response=StatsOut)
def acquisition_stats(request, filters: Query[StatsQuery]):
    stats = _stats(request, filters)
    return StatsOut(
        start=stats.start,
        end=stats.end,
        by=stats.by,
        totals=_row_out(stats.totals),
        rows=[_row_out(r) for r in stats.rows],
        days=[_row_out(r) for r in stats.days],
    )


@router.get("/acquisition-stats.xlsx", response={200: None})
def acquisition_stats_xlsx(request, filters: Query[StatsQuery]):
    stats = _stats(request, filters)
    return attachment(export.stats_workbook(stats), XLSX, f"acquisition-{stats.by}-{stats.start}-{stats.end}.xlsx")


# -- lead forms ------------------------------------------------------------------------------------
class LeadFormIn(Schema):
    name: str = Field(..., min_length=1, max_length=64)
    live_code_id: int
    fields: list[dict] = Field(default_factory=list, max_length=12)
    title: str = Field("", max_length=100)
    intro: str = Field("", max_length=2000)
    city_routes: dict[str, int] = Field(default_factory=dict)
    status: Literal["active", "paused"] = "active"


class LeadFormOut(Schema):
    id: int
    name: str
    url: str
    live_code_id: int
    fields: list[dict]
    title: str
    intro: str
    city_routes: dict
    status: str


class LeadOut(Schema):
    id: int
    form_id: int
    phone: str
    city: str
    answers: dict
    state: str
    live_code_id: int | None
    staff_id: int | None
    customer_id: int | None
    created_at: datetime
    matched_at: datetime | None


class LeadPage(Schema):
    items: list[LeadOut]
    next_cursor: str | None


def _form_out(form) -> LeadFormOut:
    return LeadFormOut(
        id=form.id,
        name=form.name,
        url=leads.lead_form_url(form),
        live_code_id=form.live_code_id,
        fields=form.fields,
        title=form.title,
        intro=form.intro,
        city_routes=form.city_routes,
        status=form.status,
    )


@router.get("/lead-forms", response=list[LeadFormOut])
def lead_form_list(request):
    return [_form_out(f) for f in leads.lead_forms(request.auth)]


@router.post("/lead-forms", response={201: LeadFormOut})
def lead_form_create(request, payload: LeadFormIn):
    return Status(201, _form_out(leads.lead_form_save(actor=request.auth, **payload.dict())))


@router.put("/lead-forms/{lead_form_id}", response=LeadFormOut)
def lead_form_update(request, lead_form_id: int, payload: LeadFormIn):
    form = leads.lead_form_get(request.auth, lead_form_id)
    return _form_out(leads.lead_form_save(actor=request.auth, form=form, **payload.dict()))


@router.get("/lead-forms/{lead_form_id}/leads", response=LeadPage)
def lead_list(request, lead_form_id: int, cursor: str | None = None, limit: int = 50):
    form = leads.lead_form_get(request.auth, lead_form_id)
    rows, next_cursor = keyset_page(leads.leads_of(request.auth, form), cursor=cursor, limit=limit)
    return LeadPage(items=rows, next_cursor=next_cursor)


# -- phone import ----------------------------------------------------------------------------------
class PhoneImportOut(Schema):
    id: int
    name: str
    file_name: str
    rows: int
    total: int
    done: int
    overdue: int
    conversion: float | None
    first_day: date
    daily_limit: int
    new_account_limit: int
    skipped: int = 0


class StaffConversion(Schema):
    staff_id: int
    name: str
    total: int
    done: int
    conversion: float


class PhoneImportDetail(PhoneImportOut):
    by_staff: list[StaffConversion]


class AddTaskOut(Schema):
    id: int
    batch_id: int
    phone: str
    name: str
    staff_id: int
    due_day: date
    due_at: datetime
    status: str
    done_at: datetime | None
    customer_id: int | None
    tag_ids: list[int]


class AddTaskPage(Schema):
    items: list[AddTaskOut]
    next_cursor: str | None


class PacingIn(Schema):
    daily_limit: int | None = Field(None, ge=0, le=500)
    account_opened_on: date | None = None


def _import_out(batch, cls=PhoneImportOut, **extra):
    total = getattr(batch, "total", batch.rows)
    done = getattr(batch, "done", 0)
    return cls(
        id=batch.id,
        name=batch.name,
        file_name=batch.file_name,
        rows=batch.rows,
        total=total,
        done=done,
        overdue=getattr(batch, "overdue", 0),
        conversion=done / total if total else None,
        first_day=batch.first_day,
        daily_limit=batch.daily_limit,
        new_account_limit=batch.new_account_limit,
        skipped=getattr(batch, "skipped", 0),
        **extra,
    )


@router.post("/phone-imports", response={201: PhoneImportOut})
def phone_import_create(
    request,
    file: UploadedFile = File(...),
    name: str = Form(..., min_length=1, max_length=64),
    staff_ids: list[int] = Form([]),
    daily_limit: int = Form(20),
    new_account_limit: int = Form(5),
    new_account_days: int = Form(30, ge=0, le=365),
    work_start: ClockTime = Form(time(9, 0)),
    work_end: ClockTime = Form(time(18, 0)),
    first_day: date | None = Form(None),
    skip_existing: bool = Form(False),
):
    if file.size and file.size > 20 * 1024 * 1024:
        raise InvalidInput(_("The file is over 20 MB."), code="file_too_large", field="file")
    batch = phone_import.phone_import_create(
        actor=request.auth,
        name=name,
        file_name=file.name or "upload.csv",
        content=file.read(),
        staff_ids=staff_ids,
        daily_limit=daily_limit,
        new_account_limit=new_account_limit,
        new_account_days=new_account_days,
        work_start=work_start,
        work_end=work_end,
        first_day=first_day,
        skip_existing=skip_existing,
    )
    return Status(201, _import_out(batch))


@router.get("/phone-imports", response=list[PhoneImportOut])
def phone_import_list(request):
    return [_import_out(b) for b in phone_import.phone_imports(request.auth)]


@router.get("/phone-imports/{phone_import_id}", response=PhoneImportDetail)
def phone_import_get(request, phone_import_id: int):
    batch = get_for(request.auth, phone_import.phone_imports(request.auth), _("No such phone import."), pk=phone_import_id)
    return _import_out(batch, PhoneImportDetail, by_staff=phone_import.batch_by_staff(batch))


@router.get("/add-tasks", response=AddTaskPage)
def add_task_list(
    request,
    staff_id: int | None = None,
    day: date | None = None,
    status: Literal[tuple(AddTask.Status.values)] | None = None,
    cursor: str | None = None,
    limit: int = 50,
):  # type: ignore[valid-type]
    if staff_id is not None:
        staff_get(request.auth, staff_id)
    rows, next_cursor = keyset_page(phone_import.add_tasks(request.auth, staff_id=staff_id, day=day, status=status).order_by("-id"), cursor=cursor, limit=limit)
    return AddTaskPage(
        items=[
            AddTaskOut(
                id=t.id,
                batch_id=t.batch_id,
                phone=t.phone,
                name=t.name,
                staff_id=t.staff_id,
                due_day=t.due_day,
                due_at=t.due_at,
                status=t.status,
                done_at=t.done_at,
                customer_id=t.customer_id,
                tag_ids=sorted(tag.id for tag in t.tags.all()),
            )
            for t in rows
        ],
        next_cursor=next_cursor,
    )


@router.put("/staff/{staff_id}/pacing", response=dict)
def staff_pacing_set(request, staff_id: int, payload: PacingIn):
    pacing = phone_import.pacing_set(
        actor=request.auth, staff=staff_get(request.auth, staff_id), daily_limit=payload.daily_limit, account_opened_on=payload.account_opened_on
    )
    return {"staff_id": staff_id, "daily_limit": pacing.daily_limit, "account_opened_on": pacing.account_opened_on}
