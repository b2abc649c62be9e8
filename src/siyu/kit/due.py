"""Due work: rows that wait for their time or their worker, claimed, leased, retried and swept alike.

django-tasks and its database backend carry the *task*: `run_after` holds it back until the row is
due, and the backend's worker claims queued tasks with SKIP LOCKED. What they lack is written here,
on the domain row itself, so the row and not the queue is the truth about the work:
- claim: a conditional UPDATE (pending, or retry due, or lease expired → running) that exactly one
  of two racing workers wins; on PostgreSQL the candidates are locked with SKIP LOCKED first, so a
  worker never waits for a row another is claiming;
- a lease (`lease_until`): a worker that dies leaves a lease that runs out. Idempotent work is then
  claimed again (take-over); work that must happen at most once (a welcome WeCom may already have
  delivered) is settled as failed by the sweep instead;
- for work done whole inside one transaction (a journey's steps), `lock_due` holds the rows by
  that transaction's locks instead of a written claim: the commit settles them with the work, and
  a dead worker's rows are due again at once;
- retries with exponential backoff and a cap, the last error on the row, `run_after` for the retry;
- enqueue after commit, so a rolled-back transaction leaves no task behind;
- a sweep that re-enqueues due rows whose task was lost (a crashed worker's), leaving alone rows
  whose task is still waiting in the queue.

A domain declares one `DueWork` per kind of row, next to its model, and runs it from its task with
`work.run(pk, function)`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import F, Q
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from .clock import now
from .db import set_clause, this_connection
from .queue import enqueue_many, in_database

log = logging.getLogger(__name__)


def exponential(base: float = 30.0, cap: float = 3600.0) -> Callable[[int], timedelta]:
    """Backoff after the n-th failed attempt: base, 2·base, 4·base, … never more than cap seconds."""
    return lambda attempts: timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


@dataclass(eq=False)
class Claim:
    """A worker's hold on one row: `stamp` is its claimed_at, so a worker whose lease was taken over
    cannot settle the row any more."""

    work: DueWork
    pk: int
    stamp: datetime | None  # None: locked, not claimed (lock_due)
    attempts: int | None  # before this claim; None until read (a failure reads it)
    settled: bool = False
    # Taken from a worker whose lease ran out (its work may have happened); None when not known.
    taken_over: bool | None = None
    locked: bool = False  # held by the caller's transaction (lock_due), not by a written claim
    row: dict | None = None  # the fields lock_due was asked to read

    def finish(self, status: str | None = None, **values) -> bool:
        return self.work.finish(self, status=status, **values)

    def fail(self, error: str, *, retry: bool = True, status: str | None = None, **values) -> bool:
        return self.work.fail(self, error, retry=retry, status=status, **values)


@dataclass(frozen=True, eq=False)
class DueWork:
    name: str
    model: type[models.Model]
    task: str  # dotted path of the django task that takes the row's pk
    waiting: tuple[str, ...]  # statuses claimable once due
    running: str
    done: str
    failed: str  # retried while attempts < max_attempts and due; final after that
    lease: Callable[[], timedelta] | timedelta = timedelta(minutes=5)
    take_over: bool = True  # False: at most once; a dead worker's row is settled, never run again
    max_attempts: int = 5
    backoff: Callable[[int], timedelta] = field(default_factory=exponential)
    # The row's fields: prefix + status, due_at, claimed_at, lease_until, attempts, error, task_id,
    # unless renamed in `names` (a callback event's error is its last_error).
    prefix: str = ""
    names: dict = field(default_factory=dict)
    # Long work that saves as it goes (a full sync) may count its lease from a field every save
    # moves, instead of lease_until: the lease expires `lease` after the last save.
    heartbeat: str = ""
    settle_error: str = "the worker stopped during the work"
    error_length: int = 2000

    @classmethod
    def push(cls, name: str, model: type[models.Model], task: str, **options) -> DueWork:
        """Bringing WeCom in step with a saved row (a live code, a group code, a template): the
        row's push_* fields, statuses due → pushing → done / failed, a short lease."""
        defaults = {
            "waiting": ("due",),
            "running": "pushing",
            "done": "done",
            "failed": "failed",
            "prefix": "push_",
            "lease": timedelta(minutes=2),
            "error_length": 300,
        }
        return cls(name, model, task=task, **{**defaults, **options})

    # -- fields ------------------------------------------------------------------------------------
    def f(self, name: str) -> str:
        return self.names.get(name, self.prefix + name)

    def lease_length(self) -> timedelta:
        return self.lease() if callable(self.lease) else self.lease

    def claimable(self, at: datetime) -> Q:
        parts = self.claimable_parts(at)
        q = parts[0]
        for part in parts[1:]:
            q |= part
        return q

    def claimable_parts(self, at: datetime) -> list[Q]:
        """What may be claimed at `at`, as disjoint conditions, each one an index on (status, due_at) answers in due
        order: a batch claim reads the rows it takes, not every due row of the table (an OR of
        statuses made PostgreSQL read and sort a million due rows to take five thousand)."""
        f = self.f
        status, due = f("status"), f("due_at")
        parts = [
            Q(**{f"{status}__in": self.waiting, f"{due}__lte": at}),
            Q(**{f"{status}__in": self.waiting, f"{due}__isnull": True}),
            Q(**{status: self.failed, f"{f('attempts')}__lt": self.max_attempts, f"{due}__lte": at}),
        ]
        if self.take_over:
            parts.append(Q(**{status: self.running, **self._expired(at)}))
        return parts

    def _expired(self, at: datetime) -> dict:
        if self.heartbeat:
            return {f"{self.heartbeat}__lt": at - self.lease_length()}
        return {f"{self.f('lease_until')}__lt": at}

    # -- claiming ----------------------------------------------------------------------------------
    def claim(self, pk: int, *, at: datetime | None = None) -> Claim | None:
        """One row by its key, in one statement: on the hot path of every welcome, written out
        rather than built by the ORM each time (which cost more than running it). The conditional
        UPDATE is the claim; on PostgreSQL a row another transaction holds is skipped, not waited
        for; on SQLite the IMMEDIATE transaction serialises writers."""
        at, stamp = at or now(), now()
        held, held_params = set_clause(self.model, self._held(stamp))
        where, params = self._claimable_sql(at)
        table, key, attempts = self._sql["table"], self._sql["pk"], self._column("attempts")
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute(
                    f"UPDATE {table} SET {held} WHERE {key} = (SELECT {key} FROM {table} WHERE {key} = %s AND {where} FOR UPDATE SKIP LOCKED) "
                    f"RETURNING {attempts}",
                    [*held_params, pk, *params],
                )
                row = cursor.fetchone()
            else:
                with transaction.atomic():
                    cursor.execute(f"UPDATE {table} SET {held} WHERE {key} = %s AND {where} RETURNING {attempts}", [*held_params, pk, *params])
                    row = cursor.fetchone()
        return Claim(self, pk, stamp, row[0]) if row else None

    # -- one row's statements, written out -----------------------------------------------------------
    @cached_property
    def _sql(self) -> dict:
        meta = self.model._meta
        return {"table": connection.ops.quote_name(meta.db_table), "pk": connection.ops.quote_name(meta.pk.column)}

    def _column(self, name: str, *, field_name: bool = False) -> str:
        """The quoted column of one of the row's fields (`name` as `f` names it, or a field's own name)."""
        return this_connection().ops.quote_name(self.model._meta.get_field(name if field_name else self.f(name)).column)

    def _value(self, name: str, value, *, field_name: bool = False):
        return self.model._meta.get_field(name if field_name else self.f(name)).get_db_prep_value(value, this_connection())

    def _claimable_sql(self, at: datetime) -> tuple[str, list]:
        """`claimable(at)` as SQL: the same four conditions."""
        status, due, attempts = self._column("status"), self._column("due_at"), self._column("attempts")
        when = self._value("due_at", at)
        sql = (
            f"({status} IN ({', '.join(['%s'] * len(self.waiting))}) AND ({due} <= %s OR {due} IS NULL)) OR ({status} = %s AND {attempts} < %s AND {due} <= %s)"
        )
        params = [*self.waiting, when, self.failed, self.max_attempts, when]
        if self.take_over:
            if self.heartbeat:
                sql += f" OR ({status} = %s AND {self._column(self.heartbeat, field_name=True)} < %s)"
                params += [self.running, self._value(self.heartbeat, at - self.lease_length(), field_name=True)]
            else:
                sql += f" OR ({status} = %s AND {self._column('lease_until')} < %s)"
                params += [self.running, self._value("lease_until", at)]
        return f"({sql})", params

    def _held(self, stamp: datetime) -> dict:
        held = {self.heartbeat: stamp} if self.heartbeat else {self.f("lease_until"): stamp + self.lease_length()}
        return {self.f("status"): self.running, self.f("claimed_at"): stamp, **held}

    def claim_due(self, *, limit: int = 100, at: datetime | None = None, order_by: Iterable[str] = (), within: models.QuerySet | None = None) -> list[Claim]:
        """Claim up to `limit` due rows for this worker, soonest first (only rows of `within`, when given:
        a paused journey's steps wait where they are)."""
        order = list(order_by) or [self.f("due_at"), "pk"]
        rows = self.model.objects.all() if within is None else within
        return self._claim(rows.order_by(*order), at=at, limit=limit)

    def lock_due(
        self, *, limit: int = 100, at: datetime | None = None, order_by: Iterable[str] = (), within: models.QuerySet | None = None, fields: Iterable[str] = ()
    ) -> list[Claim]:
        """For work done whole inside the caller's transaction: up to `limit` due rows, held by
        that transaction's row locks (SKIP LOCKED on PostgreSQL; on SQLite the IMMEDIATE
        transaction's write lock) instead of a written claim. The commit settles the rows with the
        work; a worker that dies leaves them as they were, due again at once, with no lease to
        wait for and no claim to write and clear on every row. `fields`: read with the lock, on
        each claim's `row`."""
        if not connection.in_atomic_block:
            raise RuntimeError("lock_due holds rows for the caller's transaction: call it inside one")
        order = list(order_by) or [self.f("due_at"), "pk"]
        rows = self.model.objects.all() if within is None else within
        fields = list(fields)
        picked, taken = self._pick(rows.order_by(*order), at=at or now(), limit=limit, split=True, fields=fields)
        attempts = self.f("attempts")
        return [Claim(self, pk, None, row[attempts], taken_over=pk in taken, locked=True, row=row) for pk, row in picked.items()]

    def _pick(self, rows: models.QuerySet, *, at: datetime, limit: int, split: bool, fields: list[str] | None = None) -> tuple[dict, set]:
        """The claimable rows' keys and attempts (locked on PostgreSQL), and those taken from a
        worker whose lease ran out. With `fields`: each key's row of them, its attempts and its pk."""
        picked: dict = {}
        taken: set = set()
        parts = self.claimable_parts(at) if split else [self.claimable(at)]
        for n, part in enumerate(parts):
            if len(picked) >= limit:
                break
            candidates = rows.filter(part)
            if connection.vendor == "postgresql":
                # Rows another worker is claiming are skipped, not waited for.
                candidates = candidates.select_for_update(skip_locked=True, of=("self",))
            if fields is None:
                found = dict(candidates.values_list("pk", self.f("attempts"))[: limit - len(picked)])
            else:
                found = {row["pk"]: row for row in candidates.values("pk", self.f("attempts"), *fields)[: limit - len(picked)]}
            if split and self.take_over and n == len(parts) - 1:
                taken |= set(found)
            picked.update(found)
        return picked, taken

    def _claim(self, rows: models.QuerySet, *, at: datetime | None, limit: int, split: bool = True) -> list[Claim]:
        at = at or now()
        stamp = now()
        with transaction.atomic():
            picked, taken = self._pick(rows, at=at, limit=limit, split=split)
            if not picked:
                return []
            # Conditional: on SQLite (IMMEDIATE transactions) the write lock is already ours, and
            # the WHERE re-check keeps a row another worker took in between out of our hands.
            won = self.model.objects.filter(self.claimable(at), pk__in=list(picked)).update(**self._held(stamp))
            if won != len(picked):
                picked = dict(self.model.objects.filter(pk__in=list(picked), **{self.f("claimed_at"): stamp}).values_list("pk", self.f("attempts")))
        return [Claim(self, pk, stamp, attempts, taken_over=(pk in taken) if split else None) for pk, attempts in picked.items()]

    def _released(self) -> dict:
        return {} if self.heartbeat else {self.f("lease_until"): None}

    def _mine(self, claim: Claim) -> models.QuerySet:
        if claim.locked:  # held by the transaction's lock, as it was read
            return self.model.objects.filter(pk=claim.pk)
        return self.model.objects.filter(pk=claim.pk, **{self.f("claimed_at"): claim.stamp, self.f("status"): self.running})

    # -- settling ----------------------------------------------------------------------------------
    def finish(self, claim: Claim, *, status: str | None = None, **values) -> bool:
        """Record the outcome (done, or a final status of the domain's), if the row is still ours."""
        claim.settled = True
        f = self.f
        changes = {f("status"): status or self.done, f("error"): "", **self._released(), **values}
        clause = None if f("attempts") in values else set_clause(self.model, changes)
        if clause is None:  # an expression among the values: the ORM writes it
            return bool(self._mine(claim).update(**{f("attempts"): F(f("attempts")) + 1, **changes}))
        # Written out, as the claim is: one statement on the hot path of every welcome.
        attempts = self._column("attempts")
        sql, params = f"UPDATE {self._sql['table']} SET {clause[0]}, {attempts} = {attempts} + 1 WHERE {self._sql['pk']} = %s", [*clause[1], claim.pk]
        if not claim.locked:
            sql += f" AND {self._column('claimed_at')} = %s AND {self._column('status')} = %s"
            params += [self._value("claimed_at", claim.stamp), self.running]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount > 0

    def finish_many(self, claims: list[Claim], *, status: str | None = None, **values) -> int:
        """`finish` for many claims with the same outcome, one statement per 5,000 rows: the rows
        still held by these claims (a row another worker took over, or one a person settled meanwhile,
        is left as it is). Returns how many were settled."""
        f = self.f
        changes = {f("status"): status or self.done, f("error"): "", **self._released(), f("attempts"): F(f("attempts")) + 1, **values}
        by_stamp: dict[datetime | None, list[int]] = {}
        for claim in claims:
            claim.settled = True
            by_stamp.setdefault(None if claim.locked else claim.stamp, []).append(claim.pk)
        settled = 0
        for stamp, pks in by_stamp.items():
            for i in range(0, len(pks), 5000):
                mine = self.model.objects.filter(pk__any_of=pks[i : i + 5000])
                if stamp is not None:
                    mine = mine.filter(**{f("claimed_at"): stamp, f("status"): self.running})
                settled += mine.update(**changes)
        return settled

    def release_many(self, claims: list[Claim]) -> int:
        """Hand claimed rows back as they were, due at once and not counted as an attempt, and queue
        their tasks again (after commit): work claimed in a batch that the batch cannot reach
        within its lease, given back rather than left to the lease's end. Returns how many were
        still held by these claims."""
        f = self.f
        released: list[int] = []
        by_stamp: dict[datetime, list[int]] = {}
        for claim in claims:
            claim.settled = True
            by_stamp.setdefault(claim.stamp, []).append(claim.pk)
        for stamp, pks in by_stamp.items():
            with transaction.atomic():
                self.model.objects.filter(pk__in=pks, **{f("claimed_at"): stamp, f("status"): self.running}).update(
                    **{f("status"): self.waiting[0], **self._released()}
                )
                # The claim's stamp stays on the rows it gave back: those are the ones to queue.
                released += self.model.objects.filter(pk__in=pks, **{f("claimed_at"): stamp, f("status"): self.waiting[0]}).values_list("pk", flat=True)
        if released:
            self.enqueue_many(released)
        return len(released)

    def fail(self, claim: Claim, error: str, *, retry: bool = True, status: str | None = None, **values) -> bool:
        """Record the error; retry after the backoff unless the cap is reached or `retry` is False."""
        claim.settled = True
        f = self.f
        before = claim.attempts
        if before is None:
            before = self.model.objects.filter(pk=claim.pk).values_list(f("attempts"), flat=True).first() or 0
        attempts = before + 1
        again = retry and attempts < self.max_attempts
        due = now() + self.backoff(attempts) if again else None
        changes = {
            f("status"): status or self.failed,
            f("error"): error[: self.error_length],
            **self._released(),
            f("attempts"): attempts if again else max(attempts, self.max_attempts),
            f("due_at"): due,
        }
        mine = self._mine(claim).update(**{**changes, **values})
        if mine and again:
            self.enqueue(claim.pk, at=due)
        return bool(mine)

    def run(self, pk: int, function: Callable[[Claim], str | None]) -> str:
        """Claim the row, do the work, settle it. The function may settle the claim itself (inside
        its own transaction, with its writes); otherwise it is finished as done on return and
        failed (with retry) on an exception. Returns the outcome or "skipped" when not claimed."""
        claim = self.claim(pk)
        if claim is None:
            return "skipped"
        return self.run_claimed(claim, function)

    def run_claimed(self, claim: Claim, function: Callable[[Claim], str | None]) -> str:
        try:
            outcome = function(claim)
        except Exception as exc:  # noqa: BLE001 — any failure is recorded on the row, then retried
            log.exception("%s %s failed", self.name, claim.pk)
            if not claim.settled:
                claim.fail(f"{type(exc).__name__}: {exc}")
            return "failed"
        if not claim.settled:
            claim.finish()
        return outcome or self.done

    # -- queueing ----------------------------------------------------------------------------------
    def enqueue(self, pk: int, *, at: datetime | None = None, priority: int | None = None) -> None:
        """Queue the row's task after the surrounding transaction commits (at once outside one)."""
        transaction.on_commit(lambda: self._enqueue_now(pk, at, priority))

    def enqueue_with(self, pk: int, task_id: str) -> None:
        """Queue the task of a row just written with `task_id` (from `queue.new_task_id`). When the
        queue is a table of this database, the queue row is written now, in the caller's
        transaction: it commits or vanishes with the row, with no second write of the row's task
        id and no second commit (on every callback's path). Other backends queue after the
        commit, as `enqueue` does."""
        if in_database(self.task):
            enqueue_many(self.task, [(pk,)], ids=[task_id])
        else:
            self.enqueue(pk)

    def enqueue_many(self, pks: list[int], *, at: datetime | None = None) -> None:
        """`enqueue` for many rows at once (after commit): the queue rows and the rows' task ids
        written in batches, not a statement or two per row."""
        transaction.on_commit(lambda: self._enqueue_many_now(list(pks), at))

    def _enqueue_many_now(self, pks: list[int], at: datetime | None) -> None:
        ids = enqueue_many(self.task, [(pk,) for pk in pks], run_after=at if at is not None and at > now() else None)
        rows = [self.model(pk=pk, **{self.f("task_id"): task_id}) for pk, task_id in zip(pks, ids, strict=True)]
        self.model.objects.bulk_update(rows, [self.f("task_id")], batch_size=1000)

    def _enqueue_now(self, pk: int, at: datetime | None, priority: int | None) -> None:
        # The queue row and the row's task id in one commit, the queue row written as enqueue_many
        # writes it: on every callback's path, django-tasks' own enqueue cost as much as the event.
        with transaction.atomic():
            (task_id,) = enqueue_many(self.task, [(pk,)], priority=priority, run_after=at if at is not None and at > now() else None)
            self.model.objects.filter(pk=pk).update(**{self.f("task_id"): task_id})

    def schedule(self, pk: int, *, at: datetime | None = None, priority: int | None = None, inline: Callable[[], object] | None = None, **values) -> None:
        """Make the row due (again) at `at` with a fresh retry budget, and queue its task after commit.

        `inline`: run this instead, in this process right after the commit (a save that should
        reach WeCom before the page answers); if it fails, the retry goes through the queue, and if
        the process dies first, the sweep finds the row due with no task."""
        f = self.f
        changes = {f("status"): self.waiting[0], f("due_at"): at or now(), f("attempts"): 0}
        self.model.objects.filter(pk=pk).exclude(**{f("status"): self.running}).update(**{**changes, **values})
        if inline is not None:
            transaction.on_commit(inline)
        else:
            self.enqueue(pk, at=at, priority=priority)

    # -- sweeping ----------------------------------------------------------------------------------
    def settle_expired(self, *, at: datetime | None = None) -> int:
        """At-most-once work: a row whose worker died holding it is over (it may have happened)."""
        if self.take_over:
            return 0
        f = self.f
        return self.model.objects.filter(**{f("status"): self.running, **self._expired(at or now())}).update(
            **{f("status"): self.failed, f("error"): self.settle_error, **self._released(), f("attempts"): self.max_attempts}
        )

    def sweep(self, *, older_than: timedelta = timedelta(seconds=60), limit: int = 10_000) -> int:
        """Re-enqueue rows due for `older_than` whose task is gone; settle dead at-most-once rows."""
        at = now()
        settled = self.settle_expired(at=at)
        f = self.f
        candidates = list(self.model.objects.filter(self.claimable(at - older_than)).order_by(f("due_at"), "pk").values_list("pk", f("task_id"))[:limit])
        waiting = _tasks_waiting([t for _, t in candidates if t])
        lost = [pk for pk, task_id in candidates if task_id not in waiting]
        for pk in lost:
            self._enqueue_now(pk, None, None)
        return settled + len(lost)


def _tasks_waiting(task_ids: list[str]) -> set[str]:
    """Tasks still in the queue (not yet picked up), on the database backend; others know no such
    thing, and every candidate counts as lost."""
    if "django_tasks_db" not in settings.TASKS.get("default", {}).get("BACKEND", ""):
        return set()
    waiting: set[str] = set()
    for i in range(0, len(task_ids), 500):
        chunk = task_ids[i : i + 500]
        waiting |= {str(t) for t in DBTaskResult.objects.filter(id__in=chunk, status=TaskResultStatus.READY).values_list("id", flat=True)}
    return waiting
