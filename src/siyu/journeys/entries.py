"""Scheduled entry: journeys whose trigger is a plan, a date field, a segment or a data rule enroll
at passes, each pass due work on the journey (entry_* fields), at the trigger's time of day in the
corp's timezone. Each pass is an occasion of its own (`entry_key`), so a pass run twice enrolls once.
"""

from __future__ import annotations

from calendar import monthrange
from datetime import date, datetime, time, timedelta

from django.db.models import Q
from django.utils.translation import gettext as _

from siyu.analytics.models import CustomerClv, CustomerRfmClass, Segment
from siyu.analytics.segments import SegmentFilters, customers_matching
from siyu.analytics.services import rfm_classes_record
from siyu.customers.models import Customer, CustomerFieldValue
from siyu.kit.clock import now
from siyu.kit.db import statistics_refresh
from siyu.kit.due import DueWork
from siyu.orders.models import CustomerValue

from .dates import fires_on as holiday_fires_on
from .definition import add_months, clock, definition_problems
from .engine import definition_of, enroll, system_actor
from .models import Enrollment, Journey

ENTRY_WORK = DueWork(
    "journey entry", Journey, task="siyu.journeys.tasks.enter_due", waiting=("due",), running="entering", done="idle", failed="failed",
    prefix="entry_", lease=timedelta(minutes=30), max_attempts=3,
)  # fmt: skip


def next_entry(journey: Journey, trigger: dict, after: datetime, *, first: bool = False) -> datetime | None:
    """The next pass strictly after `after` (at or after it for the first), or None when there is none."""
    tz = journey.corp.tzinfo
    if trigger["kind"] == "plan" and trigger.get("every", "once") == "once":
        at = datetime.fromisoformat(trigger["at"])
        at = at if at.tzinfo else at.replace(tzinfo=tz)
        return at if first or at > after else None
    when = clock(trigger.get("time", "09:00")) or time(9)
    day = after.astimezone(tz).date()
    for _n in range(800):  # a yearly holiday falls within two years
        candidate = datetime.combine(day, when, tzinfo=tz)
        if (candidate >= after if first else candidate > after) and _fires_on(journey, trigger, day):
            return candidate
        day += timedelta(days=1)
    return None


def _fires_on(journey: Journey, trigger: dict, day: date) -> bool:
    if trigger["kind"] == "holiday":
        return holiday_fires_on(journey.corp_id, trigger, day)
    every = trigger.get("every", "day") if trigger["kind"] == "plan" else "day"
    if every == "week":
        return day.isoweekday() in trigger["weekdays"]
    if every == "month":  # the 31st of a shorter month falls on its last day
        last = monthrange(day.year, day.month)[1]
        return any(min(d, last) == day.day for d in trigger["days"])
    return True


def enter_due(*, at: datetime | None = None) -> int:
    """Run every pass due by `at`: enroll its customers, then make the journey due at its next pass."""
    at = at or now()
    passes = 0
    for claim in ENTRY_WORK.claim_due(limit=50, at=at, within=Journey.objects.filter(status=Journey.Status.ACTIVE)):
        ENTRY_WORK.run_claimed(claim, lambda claim: _pass(claim, at))
        passes += 1
    return passes


def _pass(claim, at: datetime) -> str:
    journey = Journey.objects.select_related("corp", "created_by").get(pk=claim.pk)
    definition = definition_of(journey.live_version_id)
    gone = [p for p in definition_problems(system_actor(journey), definition) if p.code.startswith("unknown_")]
    if gone:  # a segment, field or brand date deleted since: paused for a person, never a failing loop
        alert = _("Journey paused: %(problem)s") % {"problem": gone[0].message}
        Journey.objects.filter(pk=journey.pk).update(status=Journey.Status.PAUSED, alert=alert[:300])
        claim.finish(entered_at=at)
        return "paused"
    trigger = definition["trigger"]
    due = Journey.objects.values_list("entry_due_at", flat=True).get(pk=journey.pk) or at
    n = pass_run(journey, trigger, due)
    later = next_entry(journey, trigger, max(due, at))  # passes missed while no worker ran are not made up
    if later is None:
        claim.finish(entered_at=at)
    else:
        claim.finish(status="due", entered_at=at, entry_due_at=later, entry_attempts=0)
        ENTRY_WORK.enqueue(journey.pk, at=later)
    return f"{n} entered"


def pass_run(journey: Journey, trigger: dict, at: datetime) -> int:
    """One pass of a scheduled trigger at `at`: the customers it picks that day, enrolled."""
    day = at.astimezone(journey.corp.tzinfo).date()
    ids, key = candidates(journey, trigger, day)
    entered = enroll(journey, ids, entry_key=key, at=at)
    if entered > 50_000:  # the table changed a lot: the planner should know before the steps are claimed
        statistics_refresh(Enrollment)
    return entered


def candidates(journey: Journey, trigger: dict, day: date) -> tuple[list[int], str]:
    """The customers a scheduled trigger picks on `day`, and the occasion's key."""
    corp = journey.corp
    kind = trigger["kind"]
    if kind in ("plan", "holiday"):  # everyone (the audience narrows it)
        return list(Customer.objects.filter(corp=corp).values_list("pk", flat=True)), f"{kind}:{day}"
    if kind == "segment":
        segment = Segment.objects.get(corp=corp, pk=trigger["segment_id"])
        rows = customers_matching(system_actor(journey), SegmentFilters.from_json(segment.filters))
        return list(rows.values_list("pk", flat=True)), f"segment:{day}"
    if kind == "date_field":
        return _dated(journey, trigger, day)
    if trigger["rule"] == "rfm_changed":
        rfm_classes_record(corp, day)  # the day's record, made by whichever pass asks first
        return list(rfm_changes(corp.pk, trigger).filter(changed_on=day).values_list("customer_id", flat=True)), f"rfm:{day}"
    if trigger["rule"] == "no_repurchase":
        first = day - timedelta(days=trigger["days"])
        rows = CustomerValue.objects.filter(corp=corp, first_paid_on=first, order_count=1)
        return list(rows.values_list("customer_id", flat=True)), f"no_repurchase:{first}"
    rows = CustomerClv.objects.filter(corp=corp, p_alive__lt=trigger["threshold"])
    return list(rows.values_list("customer_id", flat=True)), f"p_alive:{day}"


def rfm_changes(corp_id: int, trigger: dict):
    """Records of customers whose class changed as an "RFM class changed" trigger asks: into one of
    its classes (`to`), from one of its classes (`from`, any when empty)."""
    rows = CustomerRfmClass.objects.filter(corp_id=corp_id, letter__in=trigger["to"], changed_on__isnull=False)
    if trigger.get("from"):
        rows = rows.filter(previous__in=trigger["from"])
    return rows


def _dated(journey: Journey, trigger: dict, day: date) -> tuple[list[int], str]:
    """Customers whose date (a birthday, a baby's birth date, a due date) plus the offset is `day`:
    every year on its day (29 February on the 28th in other years), or at the month ages listed."""
    target = day - timedelta(days=trigger.get("offset_days", 0))
    values = CustomerFieldValue.objects.filter(corp=journey.corp, field__key=trigger["field"], field__archived_at__isnull=True)
    repeat = trigger.get("repeat", "none")
    if repeat == "none":
        return list(values.filter(date=target).values_list("customer_id", flat=True)), f"date:{target}"
    if repeat == "yearly":
        q = Q(date__month=target.month, date__day=target.day)
        if target.month == 2 and target.day == 28 and monthrange(target.year, 2)[1] == 28:
            q |= Q(date__month=2, date__day=29)
        return list(values.filter(q, date__lt=target).values_list("customer_id", flat=True)), f"yearly:{target}"
    born = [d for months in trigger["months"] for d in _born_months_before(target, months)]
    # One occasion a day: a customer reaches one month age on a day.
    return list(values.filter(date__in=born).values_list("customer_id", flat=True)), f"months:{target}"


def _born_months_before(target: date, months: int) -> list[date]:
    """The dates that reach `target` after `months` months (31 January reaches 28 February: the
    month's last day stands for the days it lacks)."""
    y, m = divmod(target.month - 1 - months, 12)
    year, month = target.year + y, m + 1
    last = monthrange(year, month)[1]
    if target.day == monthrange(target.year, target.month)[1]:  # the month's last day: every later day of the earlier month too
        return [date(year, month, d) for d in range(min(target.day, last), last + 1)]
    if target.day > last:
        return []
    found = date(year, month, target.day)
    return [found] if add_months(found, months) == target else []
