"""Reading journeys: the list, one journey, how its customers move through each step, and its
conversion against the holdout."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q
from django.utils.translation import gettext as _

from siyu.kit.tenancy import Actor, get_for

from .definition import steps_of
from .models import Enrollment, Journey, JourneyVersion, StepRun

S = Enrollment.Status


def journeys(actor: Actor):
    actor.require_manager()
    return Journey.objects.for_corp(actor.corp).select_related("live_version").order_by("-updated_at", "-pk")


def journey_get(actor: Actor, journey_id: int) -> Journey:
    actor.require_manager()
    return get_for(actor, Journey.objects.select_related("live_version"), _("No such journey."), pk=journey_id)


def version_get(actor: Actor, journey: Journey, version_id: int) -> JourneyVersion:
    return get_for(actor, JourneyVersion.objects, _("No such version."), pk=version_id, journey=journey)


@dataclass
class StepCount:
    key: str
    kind: str
    entered: int
    waiting: int
    done: int
    exited: int
    outcomes: dict


def step_counts(version: JourneyVersion) -> list[StepCount]:
    """Per step of a version: how many reached it, wait there now, went past it (by outcome), and
    left the journey at it. Three grouped reads, whatever the number of customers."""
    outcomes: dict[str, dict[str, int]] = {}
    for step, outcome, n in StepRun.objects.filter(version=version).values_list("step", "outcome").annotate(n=Count("id")).order_by():
        outcomes.setdefault(step, {})[outcome] = n
    at_step = (
        Enrollment.objects.filter(journey_id=version.journey_id, version=version)
        .exclude(step="")
        .values_list("step", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    waiting: dict[str, int] = {}
    exited: dict[str, int] = {}
    for step, status, n in at_step:
        if status in (S.WAITING, S.RUNNING):
            waiting[step] = waiting.get(step, 0) + n
        elif status == S.EXITED:
            exited[step] = exited.get(step, 0) + n
    out = []
    for key, step in steps_of(version.definition).items():
        ran = outcomes.get(key, {})
        left = sum(n for o, n in ran.items() if o in ("left", "lost")) + exited.get(key, 0)
        done = sum(n for o, n in ran.items() if o not in ("left", "lost"))
        out.append(StepCount(key, step["kind"], done + left + waiting.get(key, 0), waiting.get(key, 0), done, left, ran))
    return out


@dataclass
class Conversion:
    treated: int
    treated_converted: int
    holdout: int
    holdout_converted: int

    @property
    def treated_rate(self) -> float | None:
        return self.treated_converted / self.treated if self.treated else None

    @property
    def holdout_rate(self) -> float | None:
        return self.holdout_converted / self.holdout if self.holdout else None

    @property
    def uplift(self) -> float | None:
        """Treated rate less the holdout's: what the journey added (None without a holdout to compare)."""
        if self.treated_rate is None or self.holdout_rate is None:
            return None
        return self.treated_rate - self.holdout_rate


def conversion(journey: Journey) -> Conversion:
    counts = Enrollment.objects.filter(journey=journey).aggregate(
        treated=Count("id", filter=~Q(status=S.HOLDOUT)),
        treated_converted=Count("id", filter=~Q(status=S.HOLDOUT) & Q(converted_at__isnull=False)),
        holdout=Count("id", filter=Q(status=S.HOLDOUT)),
        holdout_converted=Count("id", filter=Q(status=S.HOLDOUT) & Q(converted_at__isnull=False)),
    )
    return Conversion(**counts)


def journey_summary(journey: Journey) -> dict:
    """Customers by status (the list's columns)."""
    rows = dict(Enrollment.objects.filter(journey=journey).values_list("status").annotate(n=Count("id")).order_by())
    return {
        "in_progress": rows.get(S.WAITING, 0) + rows.get(S.RUNNING, 0),
        "finished": rows.get(S.DONE, 0),
        "exited": rows.get(S.EXITED, 0),
        "holdout": rows.get(S.HOLDOUT, 0),
    }
