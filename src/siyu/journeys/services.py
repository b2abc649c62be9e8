"""Journeys as operators manage them: drafts with their problems named, going live as a new
version, pausing, moving customers mid-way onto the live version."""

from __future__ import annotations

import secrets

from django.db import transaction
from django.utils.translation import gettext as _

from siyu.kit.clock import now
from siyu.kit.errors import Conflict, InvalidInput
from siyu.kit.schema import text_within
from siyu.kit.tenancy import Actor

from .definition import definition_problems, steps_of
from .engine import definition_of, live_journeys_changed
from .entries import ENTRY_WORK, next_entry
from .models import Enrollment, Journey, JourneyVersion

S = Enrollment.Status
EMPTY = {"trigger": {}, "steps": []}


def _name(name) -> str:
    name = text_within(str(name or "").strip(), 64, "name")
    if not name:
        raise InvalidInput(_("A journey needs a name."), code="bad_name", field="name")
    return name


def journey_create(*, actor: Actor, name: str, definition: dict | None = None, template: str = "") -> Journey:
    """A draft, kept whatever its problems: they are listed on it until they are fixed."""
    actor.require_manager()
    definition = definition if definition is not None else dict(EMPTY)
    if not isinstance(definition, dict):
        raise InvalidInput(_("A journey's definition is an object."), code="bad_definition", field="definition")
    problems = definition_problems(actor, definition)
    return Journey.objects.create(
        corp=actor.corp, name=_name(name), definition=definition, problems=[p.as_json() for p in problems], created_by=actor.user,
        secret=secrets.token_hex(16), template=template,
    )  # fmt: skip


def journey_save(*, actor: Actor, journey: Journey, name: str | None = None, definition: dict | None = None) -> Journey:
    """Edit the draft. A live journey's customers go on with the version they walk until it is
    activated again (a new version)."""
    actor.require_manager()
    if journey.status == Journey.Status.ARCHIVED:
        raise Conflict(_("An archived journey cannot be edited."), code="journey_archived")
    if name is not None:
        journey.name = _name(name)
    if definition is not None:
        if not isinstance(definition, dict):
            raise InvalidInput(_("A journey's definition is an object."), code="bad_definition", field="definition")
        journey.definition = definition
        journey.problems = [p.as_json() for p in definition_problems(actor, definition)]
    journey.save()
    return journey


def journey_check(*, actor: Actor, journey: Journey) -> list[dict]:
    """The draft checked again now (a tag deleted since it was saved is a problem now)."""
    journey.problems = [p.as_json() for p in definition_problems(actor, journey.definition)]
    Journey.objects.filter(pk=journey.pk).update(problems=journey.problems)
    return journey.problems


def journey_activate(*, actor: Actor, journey: Journey) -> JourneyVersion:
    """The draft goes live as the next version: new customers enter it; those mid-way stay on theirs."""
    actor.require_manager()
    if journey.status == Journey.Status.ARCHIVED:
        raise Conflict(_("An archived journey cannot go live."), code="journey_archived")
    problems = journey_check(actor=actor, journey=journey)
    if problems:
        first = problems[0]
        raise InvalidInput(first["message"], code=first["code"], field=f"definition.{first['field']}", details=problems)
    with transaction.atomic():
        locked = Journey.objects.select_for_update().get(pk=journey.pk)
        number = (locked.versions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
        version = JourneyVersion.objects.create(corp=actor.corp, journey=locked, number=number, definition=journey.definition, created_by=actor.user)
        trigger = journey.definition["trigger"]
        event = trigger.get("event", "") if trigger["kind"] == "event" else ""
        Journey.objects.filter(pk=journey.pk).update(
            live_version=version, status=Journey.Status.ACTIVE, alert="", trigger_kind=trigger["kind"], trigger_event=event
        )
        journey.refresh_from_db()
        _schedule_entry(journey)
    live_journeys_changed()
    return version


def _schedule_entry(journey: Journey) -> None:
    """Scheduled triggers (a plan, dates, a segment, data) are due at their next pass."""
    if journey.trigger_kind == "event":
        Journey.objects.filter(pk=journey.pk).update(entry_status="idle", entry_due_at=None)
        return
    at = next_entry(journey, definition_of(journey.live_version_id)["trigger"], now(), first=True)
    if at is None:
        Journey.objects.filter(pk=journey.pk).update(entry_status="idle", entry_due_at=None)
        return
    ENTRY_WORK.schedule(journey.pk, at=at)


def journey_pause(*, actor: Actor, journey: Journey) -> Journey:
    """Nothing runs or enters while paused; customers wait where they are."""
    actor.require_manager()
    if journey.status != Journey.Status.ACTIVE:
        raise Conflict(_("Only an active journey can be paused."), code="journey_not_active")
    Journey.objects.filter(pk=journey.pk).update(status=Journey.Status.PAUSED)
    live_journeys_changed()
    journey.refresh_from_db()
    return journey


def journey_resume(*, actor: Actor, journey: Journey) -> Journey:
    """Going on after a pause: the live version is checked again first (the reference that paused it
    may still be gone); steps that fell due meanwhile run, those too late are skipped by their rule."""
    actor.require_manager()
    if journey.status != Journey.Status.PAUSED or journey.live_version_id is None:
        raise Conflict(_("Only a paused journey can be resumed."), code="journey_not_paused")
    problems = [p for p in definition_problems(actor, definition_of(journey.live_version_id)) if p.code.startswith("unknown_")]
    if problems:
        raise InvalidInput(problems[0].message, code=problems[0].code, field=f"definition.{problems[0].field}", details=[p.as_json() for p in problems])
    Journey.objects.filter(pk=journey.pk).update(status=Journey.Status.ACTIVE, alert="")
    live_journeys_changed()
    journey.refresh_from_db()
    _schedule_entry(journey)
    return journey


def journey_archive(*, actor: Actor, journey: Journey) -> Journey:
    """Ended for good: no one enters, and every walk still going ends here."""
    actor.require_manager()
    stamp = now()
    with transaction.atomic():
        Journey.objects.filter(pk=journey.pk).update(status=Journey.Status.ARCHIVED, entry_status="idle", entry_due_at=None)
        Enrollment.objects.filter(journey=journey, status__in=(S.WAITING, S.RUNNING)).update(
            status=S.EXITED, exit_reason="archived", finished_at=stamp, due_at=None
        )
    live_journeys_changed()
    journey.refresh_from_db()
    return journey


def journey_move(*, actor: Actor, journey: Journey, version: JourneyVersion) -> int:
    """Move the customers walking `version` onto the live version, each at the step of the same
    key (those at a step the live version lacks stay where they are). Returns how many moved."""
    actor.require_manager()
    if journey.live_version_id is None or version.journey_id != journey.pk or version.pk == journey.live_version_id:
        raise InvalidInput(_("Choose an earlier version of this journey."), code="bad_version", field="version_id")
    live_steps = steps_of(definition_of(journey.live_version_id))
    old_steps = steps_of(version.definition)
    same = [k for k in old_steps if k in live_steps and live_steps[k]["kind"] == old_steps[k]["kind"]]
    return Enrollment.objects.filter(journey=journey, version=version, status=S.WAITING, step__in=same).update(version_id=journey.live_version_id)
