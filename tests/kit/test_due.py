"""kit.due, the one mechanism for due work: one claim wins a race, a dead worker's lease is taken
over and the work runs once, failures back off and stop at the cap with their error, PostgreSQL
claims skip locked rows, and an enqueue in a rolled-back transaction leaves no task."""

import threading
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from siyu.kit.due import Claim, DueWork, exponential
from siyu.wecom.models import CallbackEvent

from .. import factories as f
from ..conftest import at_once

pytestmark = pytest.mark.django_db(transaction=True)
TASK = "siyu.wecom.tasks.handle_callback_event"


def work(**options) -> DueWork:
    defaults = {
        "waiting": ("received",),
        "running": "processing",
        "done": "done",
        "failed": "failed",
        "lease": timedelta(seconds=30),
        "names": {"error": "last_error"},
        "max_attempts": 3,
        "backoff": exponential(30, 3600),
    }
    return DueWork("test", CallbackEvent, task=TASK, **{**defaults, **options})


@pytest.fixture
def row():
    corp = f.corp("到期")
    return CallbackEvent.objects.create(corp=corp, dedupe_key="k1", event="change_external_contact", payload={})


def test_two_workers_racing_on_one_row_run_it_once(row):
    due, ran, outcomes = work(), [], []

    def body(claim):
        ran.append(claim.pk)
        time.sleep(0.3)  # still holding it when the other worker tries
        return "ran"

    at_once(lambda: outcomes.append(due.run(row.pk, body)), 2)
    assert sorted(outcomes) == ["ran", "skipped"] and ran == [row.pk]
    row.refresh_from_db()
    assert (row.status, row.attempts, row.lease_until) == ("done", 1, None)


def test_a_dead_workers_row_is_taken_over_after_its_lease_and_runs_once(row):
    due = work()
    dead = due.claim(row.pk)  # this worker dies holding the row
    assert dead is not None and due.claim(row.pk) is None  # its lease still holds
    CallbackEvent.objects.filter(pk=row.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    ran = []
    assert due.run(row.pk, lambda claim: ran.append(claim.pk) or "ran") == "ran"
    assert ran == [row.pk]
    # The dead worker, had it woken up, can no longer settle what another finished.
    assert dead.finish() is False and dead.fail("late") is False
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("done", 1, "")
    assert due.claim(row.pk) is None  # done is done


def test_at_most_once_work_is_settled_not_run_again(row):
    due = work(take_over=False, settle_error="the worker stopped; it may have happened")
    assert due.claim(row.pk) is not None
    CallbackEvent.objects.filter(pk=row.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert due.claim(row.pk) is None
    assert due.sweep(older_than=timedelta(0)) == 1
    row.refresh_from_db()
    assert (row.status, row.last_error) == ("failed", "the worker stopped; it may have happened")
    assert due.claim(row.pk) is None and not DBTaskResult.objects.exists()


def test_a_failing_row_retries_with_backoff_and_stops_at_the_cap_with_its_error(row):
    due = work()

    def broken(claim):
        tries = CallbackEvent.objects.get(pk=claim.pk).attempts
        raise RuntimeError(f"WeCom said no ({tries})")

    waits = []
    for attempt in range(1, 4):
        before = timezone.now()
        assert due.run(row.pk, broken) == "failed"
        row.refresh_from_db()
        assert row.status == "failed" and row.attempts == attempt and row.last_error == f"RuntimeError: WeCom said no ({attempt - 1})"
        if attempt < 3:
            waits.append(round((row.due_at - before).total_seconds()))
            retry = DBTaskResult.objects.get(id=row.task_id)
            assert retry.status == "READY" and retry.run_after == row.due_at  # django-tasks holds it back
            assert due.claim(row.pk) is None  # not before its time
            CallbackEvent.objects.filter(pk=row.pk).update(due_at=timezone.now())
    assert waits == [30, 60]
    # The cap: no time, no task and no sweep brings it back.
    assert row.due_at is None and DBTaskResult.objects.count() == 2
    assert due.claim(row.pk, at=timezone.now() + timedelta(days=30)) is None
    assert due.sweep(older_than=timedelta(0)) == 0
    # A person's retry starts a fresh budget.
    due.schedule(row.pk)
    assert due.run(row.pk, lambda claim: "ok") == "ok"


def test_the_sweep_requeues_lost_rows_and_leaves_waiting_ones(row):
    due = work()
    due.enqueue(row.pk)
    row.refresh_from_db()
    assert due.sweep(older_than=timedelta(0)) == 0  # its task is waiting in the queue
    DBTaskResult.objects.filter(id=row.task_id).update(status="RUNNING")  # a crashed worker took it
    assert due.sweep(older_than=timedelta(0)) == 1
    assert due.sweep(older_than=timedelta(0)) == 0
    assert DBTaskResult.objects.filter(status="READY").count() == 1


def test_a_rollback_leaves_no_task_behind(row):
    due = work()
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            due.schedule(row.pk)
            raise RuntimeError("the request failed after the enqueue")
    assert not DBTaskResult.objects.exists()
    row.refresh_from_db()
    assert row.task_id == "" and row.status == "received"
    with transaction.atomic():
        due.enqueue(row.pk)
        assert not DBTaskResult.objects.exists()  # not before the commit
    assert DBTaskResult.objects.count() == 1


def test_many_rows_queued_at_once_are_tracked_and_run_by_the_worker(row):
    rows = [row] + [CallbackEvent.objects.create(corp=row.corp, dedupe_key=f"bulk{i}", event="e", payload={}) for i in range(4)]
    due = work()
    with transaction.atomic():
        due.enqueue_many([r.pk for r in rows])
        assert not DBTaskResult.objects.exists()  # not before the commit
    queued = {str(t.id): t for t in DBTaskResult.objects.all()}
    assert len(queued) == 5
    for r in rows:
        r.refresh_from_db()
        assert queued[r.task_id].args_kwargs == {"args": [r.pk], "kwargs": {}} and queued[r.task_id].task_path == TASK
    assert due.sweep(older_than=timedelta(0)) == 0  # each row's task is known to be waiting
    # The callbacks' task is on the priority queue: the rows carry the task's own queue.
    call_command("db_worker", "--batch", "--no-startup-delay", "--interval", "0", "--queue-name", "priority", verbosity=0)
    assert not DBTaskResult.objects.filter(status="READY").exists()
    assert set(DBTaskResult.objects.values_list("status", flat=True)) <= {"SUCCESSFUL", "FAILED"}


def test_claiming_many_takes_each_row_once(row):
    corp = row.corp
    for i in range(9):
        CallbackEvent.objects.create(corp=corp, dedupe_key=f"more{i}", event="e", payload={})
    due, got = work(), []
    at_once(lambda: got.extend(c.pk for c in due.claim_due(limit=4)), 3)
    assert len(got) == len(set(got)) == 10


def test_rows_locked_for_a_transaction_are_taken_once_and_due_again_when_it_dies(row):
    corp = row.corp
    for i in range(9):
        CallbackEvent.objects.create(corp=corp, dedupe_key=f"more{i}", event="e", payload={})
    due, got = work(), []

    def worker():
        with transaction.atomic():  # the work and its settlement commit together
            claims = due.lock_due(limit=4)
            due.finish_many(claims)
            got.extend(c.pk for c in claims)

    at_once(worker, 3)
    assert len(got) == len(set(got)) == 10
    assert set(CallbackEvent.objects.values_list("status", flat=True)) == {"done"}

    CallbackEvent.objects.filter(pk=row.pk).update(status="received")

    class Died(Exception):
        pass

    with pytest.raises(Died), transaction.atomic():  # the worker dies mid-work
        (claim,) = due.lock_due(limit=10)
        due.finish_many([claim])
        raise Died
    assert CallbackEvent.objects.get(pk=row.pk).status == "received"  # as it was: no lease to wait out
    with transaction.atomic():
        assert [c.pk for c in due.lock_due(limit=10)] == [row.pk]
    with pytest.raises(RuntimeError):
        due.lock_due(limit=10)  # outside a transaction the lock would be gone before the work


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SKIP LOCKED is PostgreSQL's")
def test_on_postgresql_a_claim_skips_rows_another_worker_holds(row):
    due = work()
    other = CallbackEvent.objects.create(corp=row.corp, dedupe_key="k2", event="e", payload={})
    with CaptureQueriesContext(connection) as queries:
        assert due.claim(other.pk) is not None
    # One statement, which skips a row another transaction holds.
    assert len(queries.captured_queries) == 1 and "FOR UPDATE SKIP LOCKED" in queries.captured_queries[0]["sql"]
    CallbackEvent.objects.filter(pk=other.pk).update(status="received")

    locked, release = threading.Event(), threading.Event()

    def holder():
        try:
            with transaction.atomic():
                list(CallbackEvent.objects.select_for_update().filter(pk=row.pk))
                locked.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert locked.wait(10)
        started = time.monotonic()
        with CaptureQueriesContext(connection) as queries:
            claims = due.claim_due(limit=10)
        # Not blocked behind the held row: it was skipped, the free one was claimed.
        assert time.monotonic() - started < 2 and [c.pk for c in claims] == [other.pk]
        # FOR UPDATE OF the row's own table: a claim joined to another (a journey's status) locks only its rows.
        assert any("FOR UPDATE OF" in q["sql"] and "SKIP LOCKED" in q["sql"] for q in queries.captured_queries)
        started = time.monotonic()
        assert due.claim(row.pk) is None  # the row by its key: skipped too, not waited for
        assert time.monotonic() - started < 2
    finally:
        release.set()
        thread.join()
    assert [c.pk for c in due.claim_due(limit=10)] == [row.pk]


@pytest.mark.parametrize("options", [{}, {"take_over": False}, {"heartbeat": "handled_at"}], ids=["lease", "at_most_once", "heartbeat"])
def test_a_claim_by_key_takes_exactly_the_rows_the_conditions_call_claimable(options):
    """The one-row claim is SQL written out (the hot path of every welcome); the batch claims use
    the ORM's `claimable`. Over every mix of status, due time, attempts, lease and heartbeat, the
    two agree, and a claimed row is finished only by its own claim."""
    due = work(**options)
    corp = f.corp("等价")
    at = timezone.now()
    times = [None, at - timedelta(hours=1), at - timedelta(seconds=1), at + timedelta(seconds=1), at + timedelta(hours=1)]
    rows = []
    for status in ("received", "processing", "failed", "done"):
        for due_at in times:
            for attempts in (0, 2, 3):
                for lease in times[:2] + times[3:4]:
                    rows.append(
                        CallbackEvent(
                            corp=corp,
                            dedupe_key=f"k{len(rows)}",
                            event="e",
                            payload={},
                            status=status,
                            due_at=due_at,
                            attempts=attempts,
                            lease_until=lease,
                            handled_at=lease,
                        )
                    )
    CallbackEvent.objects.bulk_create(rows)
    expected = set(CallbackEvent.objects.filter(due.claimable(at)).values_list("pk", flat=True))
    assert 0 < len(expected) < len(rows)
    claims = {row.pk: due.claim(row.pk, at=at) for row in CallbackEvent.objects.all()}
    assert {pk for pk, claim in claims.items() if claim is not None} == expected
    before = {row.pk: row.attempts for row in rows}
    for pk, claim in claims.items():
        if claim is not None:
            assert claim.attempts == before[pk]
    won = CallbackEvent.objects.filter(pk__in=expected)
    assert all((r.status, r.claimed_at) == ("processing", claims[r.pk].stamp) for r in won)
    # Finishing: by its own claim once; a claim whose stamp is not the row's any more changes nothing.
    pk = min(expected)
    stale = Claim(due, pk, claims[pk].stamp - timedelta(seconds=1), None)
    assert not due.finish(stale, status="done", handled_at=at)
    assert due.finish(claims[pk], handled_at=at)
    finished = CallbackEvent.objects.get(pk=pk)
    assert (finished.status, finished.attempts, finished.last_error, finished.handled_at) == ("done", before[pk] + 1, "", at)
    assert finished.lease_until is None or options.get("heartbeat")
    assert not due.finish(claims[pk])  # settled: not the claim's to finish again
