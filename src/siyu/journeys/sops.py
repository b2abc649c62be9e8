"""Group SOPs (群 SOP): the seeds' weekly group calendar (Mon fun, Tue content, Thu welfare, Fri
activity; morning care, evening interaction) for a layer of groups.

Each slot, on its weekday, becomes a guide task of the group-send kind for the layer's groups: the
owners each confirm one WeCom group send for their own groups, are reminded, and their completion
and punctuality are the task's. Slots are made a day ahead, once each (a run row per slot and day).

Customer SOPs (day N after the add, fixed dates, weekly cycles) are journeys: a contact_added
trigger with waits, a plan trigger, a weekly plan.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from siyu.guides.models import GuideTask
from siyu.guides.services import guide_task_create
from siyu.kit.clock import now
from siyu.kit.errors import DomainError, InvalidInput
from siyu.kit.schema import text_within
from siyu.kit.tenancy import Actor, Role, get_for
from siyu.messaging import budget
from siyu.messaging.content import content_clean
from siyu.messaging.mass_sends import audience_clean

from .definition import KEY, PLACEHOLDER, clock
from .models import GroupSop, GroupSopRun

AHEAD = timedelta(days=1)
GIVE_UP_BEFORE = timedelta(minutes=30)  # a slot that cannot be made yet is tried until this close to its time
MAX_SLOTS = 42  # six a day


def _slots_clean(actor: Actor, slots) -> list[dict]:
    if not isinstance(slots, list) or not slots or len(slots) > MAX_SLOTS:
        raise InvalidInput(_("A calendar has 1 to %(max)s slots.") % {"max": MAX_SLOTS}, code="bad_slots", field="slots")
    policy = budget.policy_for(actor.corp)
    out, keys = [], set()
    for i, slot in enumerate(slots):
        at = f"slots.{i}"
        if not isinstance(slot, dict):
            raise InvalidInput(_("A slot is an object."), code="bad_slots", field=at)
        key = str(slot.get("key") or f"s{i + 1}")
        if not KEY.fullmatch(key) or key in keys:
            raise InvalidInput(_("Each slot needs its own key (a–z, 0–9, _)."), code="bad_key", field=f"{at}.key")
        keys.add(key)
        weekday = slot.get("weekday")
        if isinstance(weekday, bool) or not isinstance(weekday, int) or not 1 <= weekday <= 7:
            raise InvalidInput(_("The weekday is 1 (Monday) to 7 (Sunday)."), code="bad_weekday", field=f"{at}.weekday")
        when = clock(slot.get("at"))
        if when is None:
            raise InvalidInput(_("The time of day is HH:MM."), code="bad_time", field=f"{at}.at")
        sample = datetime.combine(datetime(2026, 1, 5).date(), when, tzinfo=actor.corp.tzinfo)
        budget.refuse_quiet_hours(policy, sample, field=f"{at}.at")
        title = text_within(str(slot.get("title") or "").strip(), 40, f"{at}.title")
        if not title:
            raise InvalidInput(_("Name the slot (what the owners see), at most 40 characters."), code="bad_title", field=f"{at}.title")
        hours = slot.get("hours", 4)
        if isinstance(hours, bool) or not isinstance(hours, int) or not 1 <= hours <= 72:
            raise InvalidInput(_("Owners have 1 to 72 hours."), code="bad_hours", field=f"{at}.hours")
        try:
            text, attachments = content_clean(actor.corp, text=slot.get("text", ""), attachments=slot.get("attachments") or [], required=True)
        except DomainError as exc:
            raise InvalidInput(exc.message, code=exc.code, field=f"{at}.{exc.field or 'text'}") from exc
        out.append({"key": key, "weekday": weekday, "at": when.strftime("%H:%M"), "title": title, "text": text, "attachments": attachments, "hours": hours})
    return sorted(out, key=lambda s: (s["weekday"], s["at"]))


def _layer_clean(actor: Actor, layer) -> dict:
    if not isinstance(layer, dict):
        raise InvalidInput(_("The groups are chosen by ids or a name."), code="bad_audience", field="layer")
    cleaned = audience_clean(actor, {"kind": "groups", "group_ids": layer.get("group_ids") or [], "name_contains": layer.get("name_contains") or ""})
    return {"group_ids": cleaned["group_ids"], "name_contains": cleaned["name_contains"]}


def group_sop_save(*, actor: Actor, name: str, layer: dict, slots: list, sop: GroupSop | None = None, template: str = "") -> GroupSop:
    actor.require_manager()
    name = text_within(str(name or "").strip(), 64, "name")
    if not name:
        raise InvalidInput(_("A calendar needs a name."), code="bad_name", field="name")
    layer, slots = _layer_clean(actor, layer), _slots_clean(actor, slots)
    if sop is None:
        return GroupSop.objects.create(corp=actor.corp, name=name, layer=layer, slots=slots, created_by=actor.user, template=template)
    sop.name, sop.layer, sop.slots = name, layer, slots
    sop.save()
    return sop


def group_sop_get(actor: Actor, sop_id: int) -> GroupSop:
    actor.require_manager()
    return get_for(actor, GroupSop.objects, _("No such calendar."), pk=sop_id)


def group_sop_status(*, actor: Actor, sop: GroupSop, active: bool) -> GroupSop:
    actor.require_manager()
    if active:
        for i, slot in enumerate(sop.slots):
            if PLACEHOLDER in slot.get("text", ""):
                raise InvalidInput(
                    _("Slot “%(title)s” still has content to fill in (%(mark)s).") % {"title": slot["title"], "mark": PLACEHOLDER},
                    code="placeholder",
                    field=f"slots.{i}.text",
                )
    sop.status = GroupSop.Status.ACTIVE if active else GroupSop.Status.PAUSED
    sop.save(update_fields=["status", "updated_at"])
    return sop


def slot_times(sop: GroupSop, start: datetime, end: datetime) -> list[tuple[dict, datetime]]:
    """Each slot's times in [start, end), on the corp's clock."""
    tz = sop.corp.tzinfo
    out = []
    day = start.astimezone(tz).date()
    while datetime.combine(day, datetime.min.time(), tzinfo=tz) < end:
        for slot in sop.slots:
            if slot["weekday"] == day.isoweekday():
                at = datetime.combine(day, clock(slot["at"]), tzinfo=tz)
                if start <= at < end:
                    out.append((slot, at))
        day += timedelta(days=1)
    return out


def group_sops_make(*, at: datetime | None = None) -> int:
    """Make the group-send tasks of every active calendar's slots in the next day (once each)."""
    at = at or now()
    made = 0
    for sop in GroupSop.objects.filter(status=GroupSop.Status.ACTIVE).select_related("corp", "created_by"):
        for slot, starts in slot_times(sop, at, at + AHEAD):
            made += _make(sop, slot, starts, at)
    return made


def _make(sop: GroupSop, slot: dict, starts: datetime, at: datetime) -> int:
    day = starts.astimezone(sop.corp.tzinfo).date()
    if GroupSopRun.objects.filter(sop=sop, slot=slot["key"], day=day).exists():
        return 0
    actor = Actor(user=sop.created_by, corp=sop.corp, role=Role.ADMIN)
    try:
        with transaction.atomic():
            run = GroupSopRun.objects.create(corp=sop.corp, sop=sop, slot=slot["key"], day=day, starts_at=starts)
            try:
                with transaction.atomic():
                    task = guide_task_create(
                        actor=actor, name=f"{sop.name} · {slot['title']}"[:64], kind=GuideTask.Kind.GROUP_SEND,
                        audience={"kind": "groups", **sop.layer}, text=slot["text"], attachments=slot["attachments"],
                        instructions=slot["title"], starts_at=max(starts, at), ends_at=starts + timedelta(hours=slot["hours"]),
                    )  # fmt: skip
                run.guide_task = task
                run.save(update_fields=["guide_task"])
            except DomainError as exc:
                if starts - at > GIVE_UP_BEFORE:  # the layer's groups may still come (a sync under way): tried at the next pass
                    raise _NotYet from exc
                run.outcome = str(exc)[:300]  # too late to wait: recorded, not retried
                run.save(update_fields=["outcome"])
                return 0
    except (IntegrityError, _NotYet):  # another worker made it, or not yet
        return 0
    return 1


class _NotYet(Exception):
    """Rolls the slot's run back: it is made at a later pass."""


def week(sop: GroupSop, monday) -> list[dict]:
    """The calendar's week from `monday`: each day's slots with their task and its completion."""
    runs = {(r.slot, r.day): r for r in GroupSopRun.objects.filter(sop=sop, day__gte=monday, day__lt=monday + timedelta(days=7)).select_related("guide_task")}
    days = []
    for n in range(7):
        day = monday + timedelta(days=n)
        entries = []
        for slot in sop.slots:
            if slot["weekday"] == day.isoweekday():
                entries.append({**slot, "run": runs.get((slot["key"], day))})
        days.append({"day": day, "slots": entries})
    return days
