"""Rehearsal: a draft walked on a simulated clock before it goes live, reading and writing nothing
of the corp's but the report.

Who enters: for scheduled triggers (a plan, date fields, a segment, no repurchase, P(alive)) the
very customers each day's pass would pick from today's data; for event triggers, as many a day as
the event happened on an average day of the last 30 (or, for a simulated population, a steady
share of it). Branches hold for the customers that match their condition now (simulated customers:
in the share the corp's customers do). Waits for an order end with an order at the population's
response rate (the share of customers who ordered within the goal's days); waits for other events
at a third. Sends count against the brand's budget as the engine's would.

The report is kept on the journey as its forecast, so that once live the forecast and the actual
stand side by side.
"""

from __future__ import annotations

import random
import time as clock_time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta

from django.utils.translation import gettext as _

from siyu.analytics.models import CustomerRfmClass
from siyu.analytics.segments import SegmentFilters, customers_matching
from siyu.corps.models import Staff
from siyu.customers.models import Customer, Follow, TimelineEvent
from siyu.groups.models import GroupMember
from siyu.kit.clock import now
from siyu.kit.errors import InvalidInput
from siyu.kit.tenancy import Actor
from siyu.messaging import budget
from siyu.orders.models import Order

from .definition import definition_problems, next_send_time, steps_of, wake_at
from .engine import _newest_staff, _path, audience_q, in_holdout
from .entries import candidates, next_entry, rfm_changes
from .models import Journey, StepRun

OTHER_EVENT_RATE = 1 / 3
MAX_HOPS = 80


@dataclass
class Report:
    days: int
    population: str
    customers: int
    starts_on: str
    entered: int = 0
    holdout: int = 0
    entered_by_day: list[int] = field(default_factory=list)
    sends_by_day: list[int] = field(default_factory=list)
    tasks_by_day: list[int] = field(default_factory=list)
    budget_skips: int = 0
    busiest_staff: list[dict] = field(default_factory=list)  # the guides with the most to do on one day
    response_rate: float = 0.0
    expected_conversions: float = 0.0
    seconds: float = 0.0
    assumptions: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return asdict(self)


def rehearse(*, actor: Actor, journey: Journey, days: int = 30, population: str = "corp", customers: int = 10_000, seed: int = 1) -> Report:
    """Walk the draft for `days` from tomorrow; the report is also kept as the journey's forecast."""
    actor.require_manager()
    started = clock_time.perf_counter()
    definition = journey.definition
    structural = [p for p in definition_problems(actor, definition) if p.code != "placeholder"]
    if structural:
        raise InvalidInput(structural[0].message, code=structural[0].code, field=f"definition.{structural[0].field}", details=[p.as_json() for p in structural])
    if not 1 <= days <= 90:
        raise InvalidInput(_("A rehearsal covers 1 to 90 days."), code="bad_days", field="days")
    tz = actor.corp.tzinfo
    first_day = now().astimezone(tz).date() + timedelta(days=1)
    report = Report(days=days, population=population, customers=0, starts_on=first_day.isoformat())
    report.entered_by_day = [0] * days
    report.sends_by_day = [0] * days
    report.tasks_by_day = [0] * days
    sim = _Simulation(actor, journey, definition, report, first_day, days, random.Random(seed))
    if population == "simulated":
        sim.simulated(customers)
    else:
        sim.corp()
    sim.walk_all()
    report.seconds = round(clock_time.perf_counter() - started, 3)
    Journey.objects.filter(pk=journey.pk).update(forecast=report.as_json())
    return report


class _Simulation:
    def __init__(self, actor: Actor, journey: Journey, definition: dict, report: Report, first_day: date, days: int, rng: random.Random):
        self.actor, self.journey, self.definition, self.report = actor, journey, definition, report
        self.first_day, self.days, self.rng = first_day, days, rng
        self.tz = actor.corp.tzinfo
        self.end = datetime.combine(first_day + timedelta(days=days), time.min, tzinfo=self.tz)
        self.steps = steps_of(definition)
        self.policy = budget.policy_for(actor.corp)
        self.entrants: list[tuple[int, datetime, int | None]] = []  # (customer, entered at, staff)
        self.branch_share: dict[str, float] = {}
        self.branch_yes: dict[str, set[int]] = {}
        self.real = True
        goal_days = (definition.get("goal") or {}).get("within_days", 30)
        self.response = _response_rate(actor, goal_days)
        report.response_rate = round(self.response, 4)
        report.assumptions = [
            _("Branches hold for the customers matching their condition today."),
            _("Waits for an order end with an order at the population's response rate (%(rate).1f%% within %(days)s days).")
            % {"rate": self.response * 100, "days": goal_days},
            _("Waits for other events end with the event for a third of the customers."),
        ]

    # -- who enters ---------------------------------------------------------------------------------
    def corp(self) -> None:
        trigger = self.definition["trigger"]
        rule = (self.definition.get("reentry") or {}).get("rule", "once")
        seen: dict[int, datetime] = {}
        if trigger["kind"] == "event" or trigger.get("rule") == "rfm_changed":
            # Events, and class changes (a pass only records today's, and writes them): as many a
            # day as on an average day of the last 30.
            per_day = _event_rate(self.actor, trigger)
            pool = Customer.objects.filter(corp=self.actor.corp)
            if trigger["kind"] == "data":
                pool = pool.filter(pk__in=CustomerRfmClass.objects.filter(corp=self.actor.corp, letter__in=trigger["to"]).values("customer_id"))
            pool = list(pool.order_by("?").values_list("pk", flat=True)[:100_000])
            self.report.assumptions.append(_("%(n).1f customers a day enter, as the event happened on an average day of the last 30.") % {"n": per_day})
            for d in range(self.days):
                count = int(per_day) + (1 if self.rng.random() < per_day - int(per_day) else 0)
                for _i in range(count):
                    if pool:
                        self._enter(self.rng.choice(pool), self._day_at(d, time(12)), rule, seen)
        else:
            at = self._first_pass()
            while at is not None and at < self.end:
                day = at.astimezone(self.tz).date()
                ids, _key = candidates(self.journey, trigger, day)
                if self.definition.get("audience"):
                    ids = list(audience_q(self.actor, self.definition, ids).values_list("pk", flat=True))
                for pk in ids:
                    self._enter(pk, at, rule, seen)
                at = next_entry(self.journey, trigger, at)
        ids = sorted({e[0] for e in self.entrants})
        staff = {}
        for i in range(0, len(ids), 5000):
            staff.update(_newest_staff(self.actor.corp.pk, ids[i : i + 5000]))
        self.entrants = [(pk, at, staff.get(pk)) for pk, at, _s in self.entrants if pk in staff]
        for key, step in self.steps.items():
            if step["kind"] == "branch":
                self.branch_yes[key] = set()
                filters = SegmentFilters.from_json(step["if"])
                for i in range(0, len(ids), 5000):
                    self.branch_yes[key] |= set(customers_matching(self.actor, filters).filter(pk__in=ids[i : i + 5000]).values_list("pk", flat=True))
        self.report.customers = len(ids)

    def _first_pass(self) -> datetime | None:
        trigger = self.definition["trigger"]
        start = datetime.combine(self.first_day, time.min, tzinfo=self.tz)
        return next_entry(self.journey, trigger, start, first=True)

    def _enter(self, pk: int, at: datetime, rule: str, seen: dict[int, datetime]) -> None:
        last = seen.get(pk)
        if last is not None:
            if rule == "once":
                return
            if rule == "after_days" and at - last < timedelta(days=self.definition["reentry"]["days"]):
                return
        seen[pk] = at
        self.entrants.append((pk, at, None))

    def simulated(self, n: int) -> None:
        """A population of `n` made-up customers: each enters once, on a day spread over the span,
        through staff in the corp's proportions; branches hold in the corp's shares."""
        self.real = False
        staff_ids = list(Staff.objects.for_corp(self.actor.corp).filter(status=Staff.Status.ACTIVE).values_list("pk", flat=True)[:10_000]) or [0]
        share = self.definition.get("holdout_percent", 0)
        for i in range(n):
            day = self.rng.randrange(self.days)
            self.entrants.append((-(i + 1), self._day_at(day, time(9 + self.rng.randrange(12))), staff_ids[i % len(staff_ids)]))
        corp_customers = Customer.objects.filter(corp=self.actor.corp).count()
        for key, step in self.steps.items():
            if step["kind"] == "branch":
                matched = customers_matching(self.actor, SegmentFilters.from_json(step["if"])).count() if corp_customers else 0
                self.branch_share[key] = matched / corp_customers if corp_customers else 0.5
        self.report.customers = n
        self.report.assumptions.append(
            _("A simulated population of %(n)s customers, each entering once in the span (holdout %(share)s%%).") % {"n": n, "share": share}
        )

    def _day_at(self, d: int, at: time) -> datetime:
        return datetime.combine(self.first_day + timedelta(days=d), at, tzinfo=self.tz)

    # -- walking --------------------------------------------------------------------------------------
    def walk_all(self) -> None:
        holdout = self.definition.get("holdout_percent", 0)
        sends_by_customer: dict[int, list[datetime]] = defaultdict(list)
        tasks_by_staff_day: Counter = Counter()
        first = self.definition["steps"][0]["key"]
        for pk, at, staff in self.entrants:
            d = (at.astimezone(self.tz).date() - self.first_day).days
            if not 0 <= d < self.days:
                continue
            self.report.entered += 1
            self.report.entered_by_day[d] += 1
            if holdout and in_holdout(self.journey.pk, pk, holdout):
                self.report.holdout += 1
                continue
            self.report.expected_conversions += self.response
            self._walk(pk, staff, first, at, sends_by_customer[pk], tasks_by_staff_day)
        self.report.expected_conversions = round(self.report.expected_conversions, 1)
        names = dict(Staff.objects.filter(pk__in={s for s, _d in tasks_by_staff_day}).values_list("pk", "name"))
        self.report.busiest_staff = [
            {"staff_id": s, "name": names.get(s, ""), "day": (self.first_day + timedelta(days=d)).isoformat(), "items": n}
            for (s, d), n in tasks_by_staff_day.most_common(10)
        ]

    def _walk(self, pk: int, staff: int | None, key: str | None, at: datetime, sent: list[datetime], tasks: Counter) -> None:
        for _hop in range(MAX_HOPS):
            step = self.steps.get(key) if key else None
            if step is None or at >= self.end:
                return
            kind = step["kind"]
            if kind == "wait":
                at, key = wake_at(step, at, self.tz), step.get("next")
            elif kind == "wait_event":
                rate = self.response if step["event"] == "order_paid" else OTHER_EVENT_RATE
                if self.rng.random() < rate:
                    at, key = at + timedelta(days=self.rng.random() * step["timeout_days"]), step.get("next")
                else:
                    at, key = wake_at(step, at, self.tz), step.get("timeout_next")
            elif kind == "branch":
                yes = pk in self.branch_yes.get(step["key"], ()) if self.real else self.rng.random() < self.branch_share.get(step["key"], 0.5)
                key = step.get("yes" if yes else "no")
            elif kind == "split":
                key = next((p.get("next") for i, p in enumerate(step["paths"]) if _path(self.journey.pk, step, abs(pk)) == f"path_{i + 1}"), None)
            elif kind in ("send", "invite_group"):
                when = next_send_time(step, at, self.tz)
                if when < self.end:
                    if self._over_budget(sent, when):
                        self.report.budget_skips += 1
                    else:
                        sent.append(when)
                        self.report.sends_by_day[(when.astimezone(self.tz).date() - self.first_day).days] += 1
                key = step.get("next")
            elif kind == "task":
                when = next_send_time(step, at, self.tz)
                if when < self.end:
                    d = (when.astimezone(self.tz).date() - self.first_day).days
                    self.report.tasks_by_day[d] += 1
                    tasks[(staff, d)] += 1
                key = step.get("next")
            else:
                key = step.get("next")

    def _over_budget(self, sent: list[datetime], at: datetime) -> bool:
        p = self.policy
        w = budget.windows(p, at)
        if sum(1 for s in sent if w.cap_since <= s < w.cap_until) >= w.cap:
            return True
        if w.week_since is not None and sum(1 for s in sent if w.week_since <= s <= at) >= p.max_per_week:
            return True
        return w.gap_since is not None and any(w.gap_since < s <= at for s in sent)


def _response_rate(actor: Actor, days: int) -> float:
    """The share of customers who ordered in the last `days` days: how many a journey's customers
    would convert without it (what a holdout measures once live)."""
    customers = Customer.objects.filter(corp=actor.corp).count()
    if not customers:
        return 0.03
    since = now() - timedelta(days=days)
    buyers = Order.objects.filter(corp=actor.corp, paid_at__gte=since, customer__isnull=False).values("customer_id").distinct().count()
    return buyers / customers


def _event_rate(actor: Actor, trigger: dict) -> float:
    since = now() - timedelta(days=30)
    corp = actor.corp
    if trigger["kind"] == "data":  # RFM class changes
        return rfm_changes(corp.pk, trigger).filter(changed_on__gte=since.astimezone(corp.tzinfo).date()).count() / 30
    event = trigger["event"]
    if event == "contact_added":
        n = Follow.objects.filter(corp=corp, added_at__gte=since).count()
    elif event == "order_paid":
        n = Order.objects.filter(corp=corp, paid_at__gte=since).count()
    elif event == "order_refunded":
        n = Order.objects.filter(corp=corp, paid_at__gte=since, refunded_fen__gt=0).count()
    elif event == "group_joined":
        n = GroupMember.objects.filter(group__corp=corp, join_time__gte=since).count()
    elif event in ("tag_added", "tag_removed"):
        kind = TimelineEvent.Kind.TAGGED if event == "tag_added" else TimelineEvent.Kind.UNTAGGED
        n = TimelineEvent.objects.filter(corp=corp, kind=kind, occurred_at__gte=since).count()
    else:
        n = TimelineEvent.objects.filter(corp=corp, occurred_at__gte=since, kind=TimelineEvent.Kind.PROFILE_UPDATED).count()
    return n / 30


def actual_by_day(journey: Journey, starts_on: date, days: int) -> dict:
    """What happened once live, on the forecast's days: entries, sends queued and tasks queued."""
    tz = journey.corp.tzinfo
    entered = [0] * days
    sends = [0] * days
    tasks = [0] * days
    start = datetime.combine(starts_on, time.min, tzinfo=tz)
    end = start + timedelta(days=days)
    for at in journey.enrollments.filter(entered_at__gte=start, entered_at__lt=end).values_list("entered_at", flat=True).iterator():
        entered[(at.astimezone(tz).date() - starts_on).days] += 1
    kinds = {s["key"]: s["kind"] for v in journey.versions.all() for s in v.definition["steps"]}
    runs = StepRun.objects.filter(journey=journey, at__gte=start, at__lt=end, outcome="queued").values_list("step", "at")
    for key, at in runs.iterator():
        d = (at.astimezone(tz).date() - starts_on).days
        (tasks if kinds.get(key) == "task" else sends)[d] += 1
    return {"entered_by_day": entered, "sends_by_day": sends, "tasks_by_day": tasks}
