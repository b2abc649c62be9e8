from __future__ import annotations

from datetime import date, datetime, timedelta

from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status

from siyu.kit.clock import now
from siyu.kit.pagination import keyset_page
from siyu.kit.tenancy import get_for

from . import catalog, dates, selectors, services, sops
from .models import BrandDate, GroupSop
from .rehearsal import rehearse

router = Router(tags=["journeys"])


class JourneyIn(Schema):
    name: str = Field(..., min_length=1, max_length=64)
    definition: dict = Field(default_factory=dict, description="trigger, audience, reentry, goal, exits, holdout_percent, late_hours, steps (docs/journeys.md)")


class JourneyEdit(Schema):
    name: str | None = Field(None, min_length=1, max_length=64)
    definition: dict | None = None


class ProblemOut(Schema):
    field: str
    code: str
    message: str


class JourneyOut(Schema):
    id: int
    name: str
    status: str
    definition: dict
    problems: list[ProblemOut] = Field(..., description="what keeps the draft from going live; empty: it may")
    live_version_id: int | None
    live_version: int | None = Field(None, description="the live version's number")
    alert: str = Field(..., description="why the journey paused itself (a deleted tag, an archived field)")
    template: str
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_live_version(obj) -> int | None:
        return obj.live_version.number if obj.live_version_id else None


class JourneyPage(Schema):
    items: list[JourneyOut]
    next_cursor: str | None


class VersionOut(Schema):
    id: int
    number: int
    definition: dict
    created_at: datetime


class MoveIn(Schema):
    version_id: int


class MovedOut(Schema):
    moved: int


class StepCountOut(Schema):
    key: str
    kind: str
    entered: int
    waiting: int
    done: int
    exited: int
    outcomes: dict[str, int]


class ConversionOut(Schema):
    treated: int
    treated_converted: int
    treated_rate: float | None
    holdout: int
    holdout_converted: int
    holdout_rate: float | None
    uplift: float | None = Field(..., description="treated rate less the holdout's")


class PlaybookOut(Schema):
    key: str
    name: str
    summary: str
    seed: str


class InstallIn(Schema):
    key: str = Field(..., max_length=32, description="a playbook's key (GET /playbooks)")


class RehearsalIn(Schema):
    days: int = Field(30, ge=1, le=90)
    population: str = Field("corp", pattern="^(corp|simulated)$", description="the corp's customers (read only) or a simulated population")
    customers: int = Field(10_000, ge=100, le=1_000_000, description="the simulated population's size")


@router.get("/journeys", response=JourneyPage)
def journey_list(request, cursor: str | None = None, limit: int = 50):
    rows, next_cursor = keyset_page(selectors.journeys(request.auth), cursor=cursor, limit=limit)
    return JourneyPage(items=rows, next_cursor=next_cursor)


@router.post("/journeys", response={201: JourneyOut})
def journey_create(request, payload: JourneyIn):
    return Status(201, services.journey_create(actor=request.auth, name=payload.name, definition=payload.definition))


@router.get("/journeys/{journey_id}", response=JourneyOut)
def journey_detail(request, journey_id: int):
    return selectors.journey_get(request.auth, journey_id)


@router.put("/journeys/{journey_id}", response=JourneyOut)
def journey_edit(request, journey_id: int, payload: JourneyEdit):
    journey = selectors.journey_get(request.auth, journey_id)
    return services.journey_save(actor=request.auth, journey=journey, name=payload.name, definition=payload.definition)


@router.post("/journeys/{journey_id}/activate", response=VersionOut)
def journey_activate(request, journey_id: int):
    return services.journey_activate(actor=request.auth, journey=selectors.journey_get(request.auth, journey_id))


@router.post("/journeys/{journey_id}/pause", response=JourneyOut)
def journey_pause(request, journey_id: int):
    return services.journey_pause(actor=request.auth, journey=selectors.journey_get(request.auth, journey_id))


@router.post("/journeys/{journey_id}/resume", response=JourneyOut)
def journey_resume(request, journey_id: int):
    return services.journey_resume(actor=request.auth, journey=selectors.journey_get(request.auth, journey_id))


@router.post("/journeys/{journey_id}/archive", response=JourneyOut)
def journey_archive(request, journey_id: int):
    return services.journey_archive(actor=request.auth, journey=selectors.journey_get(request.auth, journey_id))


@router.get("/journeys/{journey_id}/versions", response=list[VersionOut])
def journey_versions(request, journey_id: int):
    return list(selectors.journey_get(request.auth, journey_id).versions.order_by("-number"))


@router.post("/journeys/{journey_id}/move", response=MovedOut)
def journey_move(request, journey_id: int, payload: MoveIn):
    journey = selectors.journey_get(request.auth, journey_id)
    version = selectors.version_get(request.auth, journey, payload.version_id)
    return MovedOut(moved=services.journey_move(actor=request.auth, journey=journey, version=version))


@router.get("/journeys/{journey_id}/steps", response=list[StepCountOut])
def journey_steps(request, journey_id: int, version_id: int | None = None):
    journey = selectors.journey_get(request.auth, journey_id)
    if version_id is None and journey.live_version_id is None:
        return []
    version = selectors.version_get(request.auth, journey, version_id or journey.live_version_id)
    return selectors.step_counts(version)


@router.get("/journeys/{journey_id}/conversion", response=ConversionOut)
def journey_conversion(request, journey_id: int):
    return selectors.conversion(selectors.journey_get(request.auth, journey_id))


@router.post("/journeys/{journey_id}/rehearse", response=dict)
def journey_rehearse(request, journey_id: int, payload: RehearsalIn):
    journey = selectors.journey_get(request.auth, journey_id)
    return rehearse(actor=request.auth, journey=journey, days=payload.days, population=payload.population, customers=payload.customers).as_json()


@router.get("/playbooks", response=list[PlaybookOut])
def playbook_list(request):
    request.auth.require_manager()
    return [PlaybookOut(key=p.key, name=str(p.name), summary=str(p.summary), seed=p.seed) for p in catalog.playbooks()]


@router.post("/playbooks/install", response={201: JourneyOut})
def playbook_install(request, payload: InstallIn):
    return Status(201, catalog.playbook_install(actor=request.auth, key=payload.key))


class GroupSopIn(Schema):
    name: str = Field(..., min_length=1, max_length=64)
    layer: dict = Field(..., description="which groups: {group_ids: [...], name_contains: 'VIP'}")
    slots: list[dict] = Field(..., description="[{key, weekday 1–7, at HH:MM, title, text, attachments, hours}]")


class GroupSopOut(Schema):
    id: int
    name: str
    status: str
    layer: dict
    slots: list[dict]
    created_at: datetime
    updated_at: datetime


class GroupSopStatusIn(Schema):
    active: bool


class SlotDayOut(Schema):
    key: str
    at: str
    title: str
    guide_task_id: int | None
    outcome: str


class DayOut(Schema):
    day: date
    slots: list[SlotDayOut]


class BrandDateIn(Schema):
    name: str = Field(..., min_length=1, max_length=40)
    month: int = Field(..., ge=1, le=12)
    day: int = Field(..., ge=1, le=31)
    year: int | None = Field(None, ge=2000, le=2199, description="once, in this year; none: every year")


class BrandDateOut(Schema):
    id: int
    name: str
    month: int
    day: int
    year: int | None


@router.get("/group-sops", response=list[GroupSopOut])
def group_sop_list(request):
    request.auth.require_manager()
    return list(GroupSop.objects.for_corp(request.auth.corp).order_by("-updated_at"))


@router.post("/group-sops", response={201: GroupSopOut})
def group_sop_create(request, payload: GroupSopIn):
    return Status(201, sops.group_sop_save(actor=request.auth, name=payload.name, layer=payload.layer, slots=payload.slots))


@router.get("/group-sops/{sop_id}", response=GroupSopOut)
def group_sop_detail(request, sop_id: int):
    return sops.group_sop_get(request.auth, sop_id)


@router.put("/group-sops/{sop_id}", response=GroupSopOut)
def group_sop_edit(request, sop_id: int, payload: GroupSopIn):
    sop = sops.group_sop_get(request.auth, sop_id)
    return sops.group_sop_save(actor=request.auth, name=payload.name, layer=payload.layer, slots=payload.slots, sop=sop)


@router.post("/group-sops/{sop_id}/status", response=GroupSopOut)
def group_sop_status(request, sop_id: int, payload: GroupSopStatusIn):
    return sops.group_sop_status(actor=request.auth, sop=sops.group_sop_get(request.auth, sop_id), active=payload.active)


@router.get("/group-sops/{sop_id}/week", response=list[DayOut])
def group_sop_week(request, sop_id: int, monday: date | None = None):
    sop = sops.group_sop_get(request.auth, sop_id)
    day = monday or now().astimezone(request.auth.corp.tzinfo).date()  # none: this week
    shown = sops.week(sop, day - timedelta(days=day.weekday()))
    out = []
    for d in shown:
        rows = [(s, s["run"]) for s in d["slots"]]
        slots = [
            SlotDayOut(key=s["key"], at=s["at"], title=s["title"], guide_task_id=r.guide_task_id if r else None, outcome=r.outcome if r else "")
            for s, r in rows
        ]
        out.append(DayOut(day=d["day"], slots=slots))
    return out


@router.get("/brand-dates", response=list[BrandDateOut])
def brand_date_list(request):
    request.auth.require_manager()
    return list(BrandDate.objects.for_corp(request.auth.corp).order_by("month", "day"))


@router.post("/brand-dates", response={201: BrandDateOut})
def brand_date_create(request, payload: BrandDateIn):
    return Status(201, dates.brand_date_save(actor=request.auth, name=payload.name, month=payload.month, day=payload.day, year=payload.year))


@router.delete("/brand-dates/{brand_date_id}", response={204: None})
def brand_date_delete(request, brand_date_id: int):
    request.auth.require_manager()
    found = get_for(request.auth, BrandDate.objects, _("No such date."), pk=brand_date_id)
    dates.brand_date_delete(actor=request.auth, brand_date=found)
    return Status(204, None)
