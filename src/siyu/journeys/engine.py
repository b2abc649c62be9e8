"""The journey engine: customers enter, each enrollment's step runs once when due, and the
customers a step reaches are bundled into one send or task per sending time.

Exactly once: a batch of due enrollments is locked (kit.due's `lock_due`: SKIP LOCKED on
PostgreSQL, so workers share the due rows) and, in that same transaction, their steps' effects,
their `StepRun`s (unique per enrollment and step) and their moves to the next step are written; the
commit is the claim's settlement. A worker that dies mid-batch leaves nothing written, and the
rows are due again at once. Effects outside the database (WeCom's tasks, app messages, webhooks)
are rows of their own with their own due work, written in that same transaction.

Batches: due enrollments are locked thousands at a time and run grouped by version and step, so a
step costs a few statements per group, not per customer. Steps that take no time (a branch, a tag)
run on in the same batch until each customer waits or finishes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

import httpx
from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext as _

from siyu.analytics.models import Segment
from siyu.analytics.segments import SegmentFilters, customers_matching
from siyu.corps.models import Corp, Staff
from siyu.customers.fields import customers_fields_write
from siyu.customers.models import Customer, Follow
from siyu.customers.services import customers_tags_change
from siyu.engagement.coupons import coupon_issue
from siyu.engagement.earning import earn
from siyu.engagement.models import CouponTemplate
from siyu.groups.models import GroupCode
from siyu.guides.models import GuideTask
from siyu.guides.services import guide_task_create, signin_url
from siyu.kit.clock import now
from siyu.kit.db import commit_unflushed, first_shared, in_chunks, insert_many, statistics_refresh
from siyu.kit.due import DueWork
from siyu.kit.errors import Conflict, DomainError
from siyu.kit.tenancy import Actor, Role
from siyu.messaging import budget
from siyu.messaging.mass_sends import mass_send_create
from siyu.messaging.models import CustomerList, CustomerListMember
from siyu.tags.models import Tag
from siyu.wecom.client import WeComClient

from .definition import definition_problems, next_send_time, steps_of, wake_at
from .models import Arrival, Bundle, Call, Enrollment, Journey, JourneyVersion, StepRun

log = logging.getLogger(__name__)

S = Enrollment.Status
BATCH = 2000
WAITS = ("wait", "wait_event")
ENROLLMENT_WORK = DueWork(
    "journey step", Enrollment, task="siyu.journeys.tasks.run_due", waiting=(S.WAITING,), running=S.RUNNING, done=S.DONE, failed=S.FAILED,
    lease=timedelta(minutes=5), max_attempts=5,
)  # fmt: skip


def system_actor(journey: Journey) -> Actor:
    """The journey acts as the corp (an admin's reach), in the name of whoever made it."""
    return Actor(user=journey.created_by, corp=journey.corp, role=Role.ADMIN)


_DEFINITION_TTL = 60.0
_definitions: dict[int, tuple[float, dict]] = {}


def definition_of(version_id: int) -> dict:
    """A version's definition. Versions never change, so a process keeps what it read for a minute
    (not for ever: a key SQLite gives again after a deletion must not find a stale definition)."""
    hit = _definitions.get(version_id)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    found = JourneyVersion.objects.values_list("definition", flat=True).get(pk=version_id)
    _definitions[version_id] = (time.monotonic() + _DEFINITION_TTL, found)
    return found


def in_holdout(journey_id: int, customer_id: int, percent: int) -> bool:
    """Stable per customer and journey (every version, every entry): the same people are held out."""
    digest = hashlib.sha256(f"holdout:{journey_id}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < percent


def _share(journey_id: int, step: str, customer_id: int) -> int:
    digest = hashlib.sha256(f"split:{journey_id}:{step}:{customer_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100


def audience_q(actor: Actor, definition: dict, ids: list[int]):
    """Of these customers, those the journey's audience holds now (all of them when it has none)."""
    audience = definition.get("audience") or {}
    rows = Customer.objects.filter(corp=actor.corp, pk__any_of=ids)
    if audience.get("segment_id"):
        segment = Segment.objects.get(corp=actor.corp, pk=audience["segment_id"])
        rows = customers_matching(actor, SegmentFilters.from_json(segment.filters)).filter(pk__any_of=ids)
    if audience.get("filters"):
        rows = rows.filter(pk__in=customers_matching(actor, SegmentFilters.from_json(audience["filters"])).filter(pk__any_of=ids).values("pk"))
    return rows


def _active_follows(corp_id: int, ids: Iterable[int]):
    return Follow.objects.filter(corp_id=corp_id, customer_id__any_of=list(ids), deleted_by_staff_at__isnull=True, deleted_by_customer_at__isnull=True)


def _newest_staff(corp_id: int, ids: list[int]) -> dict[int, int]:
    """Each customer's staff member of the newest active follow: whom the journey acts through."""
    out: dict[int, int] = {}
    for customer_id, staff_id in _active_follows(corp_id, ids).order_by("customer_id", "added_at", "id").values_list("customer_id", "staff_id"):
        out[customer_id] = staff_id  # the last one read is the newest
    return out


# -- entering -------------------------------------------------------------------------------------------
def arrival(step: dict | None, at: datetime, tz) -> dict:
    """The enrollment's fields on reaching `step` at `at`: due at once, or when its wait ends."""
    if step is None:
        return {"status": S.DONE, "step": "", "due_at": None, "finished_at": at, "waiting_for": "", "event_seen": False}
    if step["kind"] in WAITS:
        return {
            "status": S.WAITING,
            "step": step["key"],
            "due_at": wake_at(step, at, tz),
            "waiting_for": step.get("event", "") if step["kind"] == "wait_event" else "",
            "event_seen": False,
        }
    return {"status": S.WAITING, "step": step["key"], "due_at": at, "waiting_for": "", "event_seen": False}


def enroll(journey: Journey, customer_ids: Iterable[int], *, entry_key: str, at: datetime | None = None, staff: dict[int, int] | None = None) -> int:
    """Enroll these customers on the journey's live version for one occasion (`entry_key`): those
    its audience holds, who still follow a staff member, and whom its re-entry rule lets in again.
    The same occasion enrolls once (a unique key), so a trigger delivered twice does nothing more.
    Returns how many entered (held-out customers included)."""
    return enroll_journeys([journey], customer_ids, entry_keys={journey.pk: entry_key}, at=at, staff=staff)


def enroll_journeys(
    journeys: list[Journey],
    customer_ids: Iterable[int],
    *,
    entry_keys: dict[int, str],
    at: datetime | None = None,
    staff: dict[int, int] | None = None,
    new_customers: bool = False,
) -> int:
    """`enroll` for several journeys the same event starts, with one read of what the customers
    walked before and one write (an add callback starting five journeys costs what one does).
    `new_customers`: created in this transaction, so they walked nothing before (nothing to read)."""
    at = at or now()
    ids = sorted(set(customer_ids))
    journeys = [j for j in journeys if j.live_version_id is not None]
    if not ids or not journeys:
        return 0
    entered = 0
    corp = journeys[0].corp
    actor = system_actor(journeys[0])
    for chunk in in_chunks(ids):
        in_chunk = set(chunk)
        senders = {k: v for k, v in (staff or {}).items() if k in in_chunk}
        missing = [i for i in chunk if i not in senders]
        if missing:
            senders.update(_newest_staff(corp.pk, missing))  # no staff member any more: not a customer to walk with
        earlier: dict[tuple[int, int], list[tuple]] = defaultdict(list)
        if not new_customers:
            rows = Enrollment.objects.filter(journey_id__in=[j.pk for j in journeys], customer_id__any_of=[i for i in chunk if i in senders])
            for journey_id, customer_id, key, entered_at, status in rows.values_list("journey_id", "customer_id", "entry_key", "entered_at", "status"):
                earlier[(journey_id, customer_id)].append((key, entered_at, status))
        new = []
        for journey in journeys:
            definition = definition_of(journey.live_version_id)
            key = entry_keys[journey.pk][:64]
            allowed = [i for i in chunk if i in senders]
            if definition.get("audience") and allowed:
                inside = set(audience_q(actor, definition, allowed).values_list("pk", flat=True))
                allowed = [i for i in allowed if i in inside]
            rule = definition.get("reentry") or {"rule": "once"}
            for customer_id in allowed:
                before = earlier.get((journey.pk, customer_id), ())
                if _kept_out(rule, before, key, at):
                    continue
                new.append(_row(journey, definition, customer_id, senders[customer_id], key, at))
        insert_many(Enrollment, ENROLLMENT_COLUMNS, new, ignore_conflicts=True)  # a racing twin of the occasion: one enrolls
        entered += len(new)
    return entered


ARRIVAL_COLUMNS = ["corp", "customer", "staff", "journey_ids", "entry_key", "at", "new_customer"]


def arrival_record(corp_id: int, follow: Follow, journeys: list[Journey], *, new_customer: bool) -> None:
    """An add that starts these journeys, for `arrivals_enter` to enroll (its occasion: the follow)."""
    key = f"add:{follow.pk}:{follow.added_at:%Y%m%d%H%M%S}"
    ids = ",".join(str(j.pk) for j in journeys)
    insert_many(Arrival, ARRIVAL_COLUMNS, [(corp_id, follow.customer_id, follow.staff_id, ids, key, now(), new_customer)])


def arrivals_enter(*, limit: int = 2000) -> int:
    """Enroll the recorded arrivals, a batch at a time: locked, enrolled and deleted in one
    transaction, so each enrolls once (and the occasion's key keeps a retried add from a second
    walk). A journey paused or archived meanwhile takes no one. Returns the enrollments made."""
    entered = 0
    while True:
        with transaction.atomic():
            rows = Arrival.objects.order_by("pk")
            if connection.vendor == "postgresql":
                rows = rows.select_for_update(skip_locked=True)
            batch = list(rows.values("pk", "customer_id", "staff_id", "journey_ids", "entry_key", "at", "new_customer")[:limit])
            if not batch:
                return entered
            wanted = {int(i) for row in batch for i in row["journey_ids"].split(",") if i}
            live = {j.pk: j for j in Journey.objects.filter(pk__in=wanted, status=Journey.Status.ACTIVE).select_related("corp", "created_by")}
            for row in batch:
                journeys = [live[int(i)] for i in row["journey_ids"].split(",") if i and int(i) in live]
                if journeys:
                    entered += enroll_journeys(
                        journeys, [row["customer_id"]], entry_keys={j.pk: row["entry_key"] for j in journeys}, at=row["at"],
                        staff={row["customer_id"]: row["staff_id"]} if row["staff_id"] else None, new_customers=row["new_customer"],
                    )  # fmt: skip
            Arrival.objects.filter(pk__in=[row["pk"] for row in batch]).delete()
        if len(batch) < limit:
            return entered


def _kept_out(rule: dict, before, key: str, at: datetime) -> bool:
    """Whether the re-entry rule (or the same occasion) keeps the customer out."""
    if any(k == key for k, _at, _s in before):
        return True
    if rule.get("rule", "once") == "once":
        return bool(before)
    if rule["rule"] == "after_days":
        return any(entered > at - timedelta(days=rule["days"]) for _k, entered, _s in before)
    return any(s in (S.WAITING, S.RUNNING) for _k, _e, s in before)  # every time, one walk at a time


ENROLLMENT_COLUMNS = [
    "corp", "journey", "version", "customer", "staff", "entry_key", "entered_at", "status", "step", "due_at",
    "waiting_for", "event_seen", "attempts", "error", "task_id", "exit_reason",
]  # fmt: skip


def _row(journey: Journey, definition: dict, customer_id: int, staff_id: int | None, key: str, at: datetime) -> tuple:
    holdout = definition.get("holdout_percent", 0)
    if holdout and in_holdout(journey.pk, customer_id, holdout):
        fields = {"status": S.HOLDOUT, "step": "", "due_at": None, "waiting_for": "", "event_seen": False}
    else:
        fields = arrival(definition["steps"][0], at, journey.corp.tzinfo)
    return (
        journey.corp_id, journey.pk, journey.live_version_id, customer_id, staff_id, key, at, fields["status"], fields["step"], fields["due_at"],
        fields["waiting_for"], fields["event_seen"], 0, "", "", "",
    )  # fmt: skip


# -- running ---------------------------------------------------------------------------------------------
def run_due(*, at: datetime | None = None, limit: int = BATCH, rounds: int = 1000) -> int:
    """Run every step due by `at` (now): claim a batch, run it, again until none is due. Returns
    the steps run."""
    arrivals_enter()
    done = 0
    for _round in range(rounds):
        # A batch is locked, walked and settled in one transaction: its commit is the claim's
        # settlement, and a worker that dies mid-batch leaves every row as it was.
        with transaction.atomic():
            # Lost in a crash, a batch is walked again: nothing it did reached anyone before a later
            # commit (WeCom's tasks and calls are due work read after it), which flushes it too.
            commit_unflushed()
            # Due order without a tie-break: a million steps due in one minute are read from the
            # index a batch at a time, not sorted whole for every batch.
            claims = ENROLLMENT_WORK.lock_due(
                limit=limit, at=at, order_by=["due_at"], within=Enrollment.objects.filter(journey__status=Journey.Status.ACTIVE), fields=WALKED
            )
            if not claims:
                break
            done += run_claims(claims, at=at or now())
        if len(claims) < limit:
            break
    return done


WALKED = ["version_id", "customer_id", "staff_id", "step", "event_seen", "due_at"]  # what a walk reads of each enrollment


def run_claims(claims, *, at: datetime) -> int:
    """Walk the locked enrollments (read with their lock: each claim's `row`), version by version."""
    by_pk = {c.pk: c for c in claims}
    rows = [c.row for c in claims]
    by_version: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        by_version[row["version_id"]].append(row)
    ran = 0
    for version_id, group in by_version.items():
        version = JourneyVersion.objects.select_related("journey__corp", "journey__created_by").get(pk=version_id)
        mine = [by_pk[r["pk"]] for r in group]
        try:
            with transaction.atomic():
                ran += Walk(version, at, mine).run(group)
        except MissingReference as exc:
            _pause(version.journey, exc.message, mine)
        except Exception as exc:  # noqa: BLE001 — one version's failure is recorded on its rows and retried; the others run
            log.exception("journey %s version %s failed", version.journey_id, version_id)
            for claim in mine:
                if not claim.settled:
                    claim.fail(f"{type(exc).__name__}: {exc}")
    return ran


class MissingReference(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _pause(journey: Journey, alert: str, claims) -> None:
    """Something the journey names is gone (a deleted tag, an archived field): it pauses with an
    alert for a person, and its customers wait where they are, never a crash loop."""
    with transaction.atomic():
        Journey.objects.filter(pk=journey.pk, status=Journey.Status.ACTIVE).update(status=Journey.Status.PAUSED, alert=alert[:300])
        ENROLLMENT_WORK.finish_many(claims, status=S.WAITING, attempts=0)
    log.warning("journey %s paused: %s", journey.pk, alert)


class Walk:
    """One version's due enrollments of a batch, walked step by step until each waits or ends."""

    def __init__(self, version: JourneyVersion, at: datetime, claims):
        self.version = version
        self.journey = version.journey
        self.corp: Corp = self.journey.corp
        self.tz = self.corp.tzinfo
        self.definition = version.definition
        self.steps = steps_of(self.definition)
        self.actor = system_actor(self.journey)
        self.at = at
        self.claims = {c.pk: c for c in claims}
        self.runs: list[tuple] = []  # StepRun rows
        self.settled: dict[int, tuple] = {}  # enrollment → its fields after this walk (`_arrive`)
        self._arrivals: dict[tuple, tuple] = {}
        self.late = timedelta(hours=self.definition.get("late_hours", 24))

    def run(self, rows: list[dict]) -> int:
        problems = [p for p in definition_problems(self.actor, self.definition) if p.code.startswith("unknown_")]
        if problems:
            raise MissingReference(_("Journey paused: %(problem)s") % {"problem": problems[0].message})
        at_step: dict[str, list[dict]] = defaultdict(list)
        for row in rows:
            at_step[row["step"]].append(row)
        for _hop in range(len(self.steps) + 1):  # a journey goes forward only: this many hops at most
            if not at_step:
                break
            onward: dict[str, list[dict]] = defaultdict(list)
            # Steps in one order in every worker: two walks making the same new bundles make them
            # in the same order, so one waits for the other instead of each waiting for the other.
            for key, group in sorted(at_step.items()):
                step = self.steps.get(key)
                if step is None:  # moved to a version without it: the walk ends there
                    for row in group:
                        self.settled[row["pk"]] = self._arrive(None, exit_reason="step_gone")
                    continue
                for row, outcome, target in self._step(step, group):
                    self.runs.append((self.corp.pk, row["pk"], self.journey.pk, self.version.pk, key, outcome, self.at))
                    if outcome in ("left", "lost"):
                        self.settled[row["pk"]] = self._arrive(None, exit_reason=outcome)
                        continue
                    nxt = self.steps.get(target) if target else None
                    if nxt is not None and nxt["kind"] not in WAITS:
                        onward[target].append({**row, "step": target, "due_at": self.at, "event_seen": False})
                    else:
                        self.settled[row["pk"]] = self._arrive(target if nxt is not None else None)
            at_step = onward
        insert_many(StepRun, ["corp", "enrollment", "journey", "version", "step", "outcome", "at"], self.runs)
        self._settle()
        return len(self.runs)

    def _arrive(self, key: str | None, *, exit_reason: str = "") -> tuple:
        """The settled fields of a row arriving at step `key` (None: the walk's end; with a reason,
        its exit), as a tuple shared by every row arriving alike: rows are settled in groups."""
        hit = self._arrivals.get((key, exit_reason))
        if hit is None:
            fields = arrival(self.steps[key] if key is not None else None, self.at, self.tz)
            if exit_reason:
                fields.update(status=S.EXITED, exit_reason=exit_reason)
            hit = self._arrivals[(key, exit_reason)] = tuple(sorted(fields.items()))
        return hit

    def _settle(self) -> None:
        by_values: dict[tuple, list] = defaultdict(list)
        for pk, values in self.settled.items():
            by_values[values].append(self.claims[pk])
        for values, claims in by_values.items():
            fields = dict(values)
            status = fields.pop("status")
            ENROLLMENT_WORK.finish_many(claims, status=status, attempts=0, **fields)

    # -- one step for a group of enrollments: (row, outcome, next step) each ---------------------------------
    def _step(self, step: dict, group: list[dict]):
        key = step["key"]
        # A step's run commits with the walk's move past it, so only a row taken over from a worker
        # whose lease ran out (a written claim) can find its step done already.
        unsure = [r["pk"] for r in group if self.claims[r["pk"]].taken_over is not False]
        done = dict(StepRun.objects.filter(enrollment_id__in=unsure, step=key).values_list("enrollment_id", "outcome")) if unsure else {}
        if done:  # ran before (a take-over after the commit): go on from its outcome, never again
            for row in [r for r in group if r["pk"] in done]:
                yield row, done[row["pk"]], _target(step, done[row["pk"]])
            group = [r for r in group if r["pk"] not in done]
        if not group:
            return
        kind = step["kind"]
        if kind == "wait":
            for row in group:
                yield row, "done", step.get("next")
            return
        if kind == "wait_event":
            for row in group:
                outcome = "event" if row["event_seen"] else "timeout"
                yield row, outcome, _target(step, outcome)
            return
        if kind in ("branch", "split"):  # no effect: the action after them checks the customer
            live = group
        else:
            live = []
            for row, outcome in self._still_theirs(group):
                if outcome:
                    yield row, outcome, None
                else:
                    live.append(row)
        if kind == "branch":
            matched = set(
                customers_matching(self.actor, SegmentFilters.from_json(step["if"]))
                .filter(pk__any_of=[r["customer_id"] for r in live])
                .values_list("pk", flat=True)
            )
            for row in live:
                outcome = "yes" if row["customer_id"] in matched else "no"
                yield row, outcome, _target(step, outcome)
            return
        if kind == "split":
            for row in live:
                outcome = _path(self.journey.pk, step, row["customer_id"])
                yield row, outcome, _target(step, outcome)
            return
        late = [r for r in live if r["due_at"] is not None and r["due_at"] < self.at - self.late]
        for row in late:
            yield row, "late", step.get("next")
        live = [r for r in live if r not in late]
        if live:
            yield from ((row, outcome, step.get("next")) for row, outcome in getattr(self, f"_do_{kind}")(step, live))

    def _still_theirs(self, group: list[dict]):
        """(row, None) for a customer the step may act on, (row, "lost") for one no staff member
        follows any more, (row, "left") for one the journey's audience no longer holds."""
        ids = [r["customer_id"] for r in group]
        inside = set(audience_q(self.actor, self.definition, ids).values_list("pk", flat=True)) if self.definition.get("audience") else None
        following = set(_active_follows(self.corp.pk, ids).values_list("customer_id", flat=True))
        for row in group:
            if row["customer_id"] not in following:
                yield row, "lost"
            elif inside is not None and row["customer_id"] not in inside:
                yield row, "left"
            else:
                yield row, None

    def _do_send(self, step: dict, rows: list[dict]):
        send_at = next_send_time(step, self.at, self.tz)
        ids = [r["customer_id"] for r in rows]
        allowed, _skipped = budget.apply(budget.policy_for(self.corp), Customer.objects.filter(pk__any_of=ids), send_at, count=False, customer_ids=ids)
        allowed = set(allowed.values_list("pk", flat=True))
        self._bundle(step, "send", send_at, [i for i in ids if i in allowed])
        for row in rows:
            yield row, "queued" if row["customer_id"] in allowed else "budget"

    def _do_invite_group(self, step: dict, rows: list[dict]):
        # A send whose bundle carries the group live code's QR (added when the send is made: the
        # code's current QR, whichever group of its pool has room then).
        return self._do_send(step, rows)

    def _do_task(self, step: dict, rows: list[dict]):
        self._bundle(step, "task", next_send_time(step, self.at, self.tz), [r["customer_id"] for r in rows])
        for row in rows:
            yield row, "queued"

    def _bundle(self, step: dict, kind: str, send_at: datetime, ids: list[int]) -> None:
        if not ids:
            return
        rows = Bundle.objects.filter(version=self.version, step=step["key"], send_at=send_at).values_list("status", "customers_id")
        # Shared: the walks of several workers add to one bundle at once, and the maker's claim (an
        # update) waits for them, so that no customer is listed after the send was made.
        found = first_shared(rows)
        if found is None:
            try:
                with transaction.atomic():
                    listed = CustomerList.objects.create(corp=self.corp, name=f"{self.journey.name} · {step['key']}"[:100])
                    bundle = Bundle.objects.create(
                        corp=self.corp, journey=self.journey, version=self.version, step=step["key"], kind=kind, send_at=send_at, customers=listed,
                        due_at=send_at,
                    )  # fmt: skip
                    BUNDLE_WORK.enqueue(bundle.pk, at=send_at)
                found = (bundle.status, listed.pk)
            except IntegrityError:  # another worker's walk made it (the insert waited for its commit)
                found = first_shared(rows)
        status, customers_id = found
        if status != Bundle.Status.DUE:  # made already (a walk running late): the next day's
            return self._bundle(step, kind, send_at + timedelta(days=1), ids)
        # A customer twice on a step's list (two walks of an every-time journey) is listed once.
        insert_many(CustomerListMember, ["customers", "customer"], [(customers_id, i) for i in ids], ignore_conflicts=True)

    def _do_tag(self, step: dict, rows: list[dict]):
        add = list(Tag.objects.filter(corp=self.corp, pk__in=step.get("add") or [], deleted_at__isnull=True))
        remove = list(Tag.objects.filter(corp=self.corp, pk__in=step.get("remove") or [], deleted_at__isnull=True))
        customers_tags_change(actor=self.actor, customers=Customer.objects.filter(pk__any_of=[r["customer_id"] for r in rows]), add=add, remove=remove)
        for row in rows:
            yield row, "done"

    def _do_set_field(self, step: dict, rows: list[dict]):
        try:
            customers_fields_write(
                corp=self.corp, key=step["field"], raw=step.get("value"), customer_ids=[r["customer_id"] for r in rows], by=self.journey.name
            )
        except DomainError as exc:
            raise MissingReference(str(exc)) from exc
        for row in rows:
            yield row, "done"

    def _do_notify(self, step: dict, rows: list[dict]):
        return self._calls(step, "notify", rows, lambda row: {"staff_id": row["staff_id"], "customer_id": row["customer_id"], "text": step["text"]})

    def _do_webhook(self, step: dict, rows: list[dict]):
        return self._calls(step, "webhook", rows, lambda row: {"url": step["url"], "customer_id": row["customer_id"], "staff_id": row["staff_id"]})

    def _do_points(self, step: dict, rows: list[dict]):
        # Keyed by the walk and the step: a batch retried after a crash awards once. The journey
        # promised these points itself, so they are paid with points off too.
        for row in rows:
            earn(self.corp, row["customer_id"], step["points"], reason="journey", source="journey", source_id=f"{row['pk']}:{step['key']}", by_policy=False)
            yield row, "done"

    def _do_coupon(self, step: dict, rows: list[dict]):
        template = CouponTemplate.objects.for_corp(self.corp).filter(pk=step["template_id"]).first()
        if template is None:
            raise MissingReference(_("Coupon %(id)s does not exist.") % {"id": step["template_id"]})
        for row in rows:
            try:
                coupon_issue(corp=self.corp, template=template, customer_id=row["customer_id"], source="journey", source_id=f"{row['pk']}:{step['key']}")
            except Conflict as exc:  # sold out, ended, switched off, or the customer holds their share
                yield row, exc.code
                continue
            yield row, "done"

    def _calls(self, step: dict, kind: str, rows: list[dict], payload):
        calls = Call.objects.bulk_create(
            [Call(corp=self.corp, journey=self.journey, enrollment_id=r["pk"], step=step["key"], kind=kind, payload=payload(r), due_at=self.at) for r in rows],
            batch_size=2000,
        )
        CALL_WORK.enqueue_many([c.pk for c in calls])
        for row in rows:
            yield row, "done"


def _target(step: dict, outcome: str) -> str | None:
    kind = step["kind"]
    if kind == "wait_event":
        return step.get("next") if outcome == "event" else step.get("timeout_next")
    if kind == "branch":
        return step.get(outcome) if outcome in ("yes", "no") else None
    if kind == "split":
        for i, path in enumerate(step["paths"]):
            if outcome == f"path_{i + 1}":
                return path.get("next")
        return None
    return step.get("next")


def _path(journey_id: int, step: dict, customer_id: int) -> str:
    share, total = _share(journey_id, step["key"], customer_id), 0
    for i, path in enumerate(step["paths"]):
        total += path["share"]
        if share < total:
            return f"path_{i + 1}"
    return f"path_{len(step['paths'])}"


# -- events that reach enrollments ----------------------------------------------------------------------------------
def event_seen(
    corp_id: int, customer_id: int, event: str, *, tag_ids: Iterable[int] = (), group_id: int | None = None, field: str = "", at: datetime | None = None
) -> int:
    """A customer waiting for this event goes on at once (its wait-for-event step's event path)."""
    at = at or now()
    waiting = list(
        Enrollment.objects.filter(customer_id=customer_id, status=S.WAITING, waiting_for=event, event_seen=False).values_list("pk", "version_id", "step")
    )
    hit = []
    for pk, version_id, key in waiting:
        step = steps_of(definition_of(version_id)).get(key) or {}
        if event == "tag_added" and not set(step.get("tag_ids") or []) & set(tag_ids):
            continue
        if event == "field_changed" and step.get("field") and step["field"] != field:
            continue
        if event == "group_joined" and step.get("group_ids") and group_id not in step["group_ids"]:
            continue
        hit.append(pk)
    if hit:
        # The walk goes on at the engine's next look (every few seconds), not in the event's transaction.
        Enrollment.objects.filter(pk__in=hit, status=S.WAITING).update(event_seen=True, due_at=at)
    return len(hit)


def goal_reached(corp_id: int, customer_id: int, paid_at: datetime) -> int:
    """An order: enrollments whose goal it meets convert (treated and held-out alike, for the
    uplift); those whose goal or exit rules say so leave the journey."""
    open_rows = list(
        Enrollment.objects.filter(corp_id=corp_id, customer_id=customer_id, converted_at__isnull=True)
        .exclude(status=S.FAILED)
        .values_list("pk", "version_id", "entered_at", "status")
    )
    converted, reached, ordered = [], [], []
    for pk, version_id, entered_at, status in open_rows:
        definition = definition_of(version_id)
        goal = definition.get("goal") or {}
        walking = status in (S.WAITING, S.RUNNING)
        if goal and entered_at <= paid_at <= entered_at + timedelta(days=goal["within_days"]):
            converted.append(pk)
            if goal.get("exit") and walking:
                reached.append(pk)
                continue
        if walking and any(e.get("kind") == "order_paid" for e in definition.get("exits") or []):
            ordered.append(pk)
    if converted:
        Enrollment.objects.filter(pk__in=converted).update(converted_at=paid_at)
    exit_enrollments(reached, "goal", paid_at)
    exit_enrollments(ordered, "order_paid", paid_at)
    return len(converted)


def exit_enrollments(pks: list[int], reason: str, at: datetime) -> int:
    """These walks end where they are (a running step's worker then finds the row no longer its own)."""
    if not pks:
        return 0
    return Enrollment.objects.filter(pk__in=pks, status__in=(S.WAITING, S.RUNNING)).update(status=S.EXITED, exit_reason=reason, finished_at=at, due_at=None)


def exits_on(corp_id: int, customer_id: int, kind: str, *, tag_ids: Iterable[int] = (), at: datetime | None = None) -> int:
    """The customer's walks whose exit rules name this (a tag added, the customer gone) end."""
    rows = Enrollment.objects.filter(corp_id=corp_id, customer_id=customer_id, status__in=(S.WAITING, S.RUNNING)).values_list("pk", "version_id")
    leaving = []
    for pk, version_id in rows:
        for rule in definition_of(version_id).get("exits") or []:
            if rule.get("kind") == kind and (kind != "tag_added" or set(rule.get("tag_ids") or []) & set(tag_ids)):
                leaving.append(pk)
                break
    return exit_enrollments(leaving, kind, at or now())


# -- bundles: one send or task per step and sending time ----------------------------------------------------------------
BUNDLE_WORK = DueWork(
    "journey bundle", Bundle, task="siyu.journeys.tasks.make_bundle", waiting=(Bundle.Status.DUE,), running=Bundle.Status.MAKING,
    done=Bundle.Status.MADE, failed=Bundle.Status.FAILED, lease=timedelta(minutes=10), max_attempts=6,
)  # fmt: skip
CALL_WORK = DueWork(
    "journey call", Call, task="siyu.journeys.tasks.make_call", waiting=(Call.Status.DUE,), running=Call.Status.CALLING,
    done=Call.Status.DONE, failed=Call.Status.FAILED, lease=timedelta(minutes=2), max_attempts=6,
)  # fmt: skip


def bundle_make(bundle_pk: int) -> str:
    return BUNDLE_WORK.run(bundle_pk, _make_bundle)


def _make_bundle(claim) -> str:
    """The bundle becomes one mass send (WeCom makes one task per staff member) or one guide task,
    both made by their own domains' services from the list of customers."""
    bundle = Bundle.objects.select_related("journey__corp", "journey__created_by").get(pk=claim.pk)
    step = steps_of(definition_of(bundle.version_id))[bundle.step]
    actor = system_actor(bundle.journey)
    audience = {"kind": "list", "list_id": bundle.customers_id}
    label = f"{bundle.journey.name} · {step.get('name') or step['key']}"[:64]
    if CustomerListMember.objects.filter(customers_id=bundle.customers_id).count() > 50_000:
        # Listed by the hundred thousand since the planner last looked: without fresh statistics
        # it takes the list for a few rows and plans the send's fan-out as nested loops.
        statistics_refresh(CustomerListMember)
    try:
        with transaction.atomic():
            if bundle.kind == "send":
                attachments = list(step.get("attachments") or [])
                if step["kind"] == "invite_group":
                    attachments.append(_group_code_qr(bundle.journey.corp_id, step["group_code_id"]))
                send = mass_send_create(actor=actor, name=label, audience=audience, text=step.get("text", ""), attachments=attachments)
                claim.finish(mass_send=send, outcome="")
                return f"mass send {send.pk}"
            # Content to put into the chat makes it a send; without, a revisit the guide notes.
            kind = GuideTask.Kind.SEND if step.get("text") or step.get("attachments") else GuideTask.Kind.REVISIT
            task = guide_task_create(
                actor=actor, name=str(step.get("name") or label)[:64], kind=kind, audience=audience, instructions=step.get("instructions", ""),
                text=step.get("text", ""), attachments=step.get("attachments") or [], ends_at=now() + timedelta(hours=step.get("hours", 24)),
            )  # fmt: skip
            claim.finish(guide_task=task, outcome="")
            return f"guide task {task.pk}"
    except DomainError as exc:
        if getattr(exc, "code", "") == "empty_audience":  # every customer left meanwhile: nothing to send
            claim.finish(outcome=str(exc)[:300])
            return "empty"
        raise


def _group_code_qr(corp_id: int, group_code_id: int) -> dict:
    code = GroupCode.objects.filter(corp_id=corp_id, pk=group_code_id).first()
    if code is None or not code.qr_url:  # not in WeCom yet (its push is due): the bundle retries
        raise RuntimeError(f"group code {group_code_id} has no QR yet")
    return {"msgtype": "image", "image": {"pic_url": code.qr_url}}


def call_make(call_pk: int, client=None) -> str:
    return CALL_WORK.run(call_pk, lambda claim: _make_call(claim, client))


def webhook_body(call: Call, customer: Customer | None) -> bytes:
    return json.dumps(
        {
            "id": call.pk,  # the brand's system receives each call once per id, however often it is retried
            "journey": {"id": call.journey_id, "name": call.journey.name},
            "step": call.step,
            "customer": {
                "id": call.payload.get("customer_id"),
                "external_userid": customer.external_userid if customer else "",
                "name": customer.name if customer else "",
            },
            "staff_id": call.payload.get("staff_id"),
            "at": call.due_at.isoformat() if call.due_at else "",
        },
        ensure_ascii=False,
        sort_keys=True,
    ).encode()


def signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _make_call(claim, client) -> str:
    call = Call.objects.select_related("journey__corp").get(pk=claim.pk)
    corp = call.journey.corp
    customer = Customer.objects.filter(pk=call.payload.get("customer_id")).first()
    if call.kind == "webhook":
        body = webhook_body(call, customer)
        answer = httpx.post(
            call.payload["url"],
            content=body,
            headers={"Content-Type": "application/json", "X-Siyu-Signature": "sha256=" + signature(call.journey.secret, body), "X-Siyu-Call": str(call.pk)},
            timeout=10,
        )
        if answer.status_code >= 300:
            raise RuntimeError(f"HTTP {answer.status_code}")
        claim.finish(answered=f"HTTP {answer.status_code}")
        return "called"
    staff = Staff.objects.filter(pk=call.payload.get("staff_id"), corp=corp).first()
    if staff is None or not customer:
        claim.finish(answered="no staff member or customer any more")
        return "nobody"
    if not corp.agent_id:
        claim.finish(answered="the corp has no app (agent_id) to message its staff")
        return "no app"
    client = client or WeComClient(corp)
    client.app_textcard(
        agentid=corp.agent_id, userids=[staff.userid], title=call.journey.name[:60], description=f"{customer.name}: {call.payload.get('text', '')}"[:500],
        url=signin_url(corp, f"/customers/{customer.pk}/"),
    )  # fmt: skip
    claim.finish(answered="sent")
    return "sent"


# -- which journeys an event starts --------------------------------------------------------------------------
_LIVE_TTL = 5.0
_live: dict[tuple[int, str], tuple[float, list]] = {}


def live_journeys(corp_id: int, event: str) -> list[Journey]:
    """The corp's active journeys this event starts, read at most every few seconds per process (an
    event is on the path of every callback and order; a journey activated in another process is
    seen within that time)."""
    key = (corp_id, event)
    hit = _live.get(key)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    if event == "*":  # every journey customers may be walking (paused ones keep their walks)
        rows = Journey.objects.filter(corp_id=corp_id, status__in=(Journey.Status.ACTIVE, Journey.Status.PAUSED))
    else:
        rows = Journey.objects.filter(corp_id=corp_id, status=Journey.Status.ACTIVE, trigger_event=event)
    found = list(rows.select_related("corp", "created_by"))
    _live[key] = (time.monotonic() + _LIVE_TTL, found)
    return found


def live_journeys_changed() -> None:
    _live.clear()
    _definitions.clear()


def has_walks(corp_id: int) -> bool:
    """Whether any journey of the corp is live (events need not look for waits and exits otherwise)."""
    return bool(live_journeys(corp_id, "*"))
