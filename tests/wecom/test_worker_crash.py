"""Real `siyu worker` processes on the test database: one killed (SIGKILL) in the middle of
handling a callback leaves the event to be handled exactly once after a restart; one the database
fails for a while goes on; callbacks are answered and handled while a console import is written."""

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from django.db import connection

from siyu.customers.models import Customer, Follow, TimelineEvent
from siyu.orders.importer import orders_queue_import
from siyu.orders.models import Order, OrderImport
from siyu.sandbox import callbacks as wecom_sim
from siyu.sandbox import services as sandbox
from siyu.wecom.models import CallbackEvent

from .. import factories as f

pytestmark = pytest.mark.django_db(transaction=True)


def _database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _start_worker(**extra: str):
    env = {**os.environ, "SIYU_DATABASE_URL": _database_url(), "SIYU_CALLBACK_LEASE": "2", "SIYU_LOG_LEVEL": "WARNING", **extra}
    cmd = [sys.executable, "-m", "siyu.cli", "worker", "--interval", "0.2", "--requeue-after", "0", "--requeue-every", "0.5"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for(predicate, seconds, what):
    """`what` names the wait, or says (a callable) how things stand when it times out."""
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what() if callable(what) else what}"
        time.sleep(0.1)


def status():
    return CallbackEvent.objects.values_list("status", flat=True).first()


def test_killed_worker_leaves_the_event_to_be_handled_once(hub):
    # The WeCom read the handler makes will hang for 5 s: long enough to kill the worker inside it.
    sandbox.fault_inject(corp=hub.sb, api="externalcontact/get", delay_ms=5000, times=1)
    wecom_sim.customer_adds_staff(hub.sb, hub.staff[0], name="宕机")
    first = _start_worker()
    try:
        _wait_for(lambda: status() == "processing", 30, "the first worker to claim the event")
        time.sleep(0.5)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    assert status() == "processing"
    assert (Customer.objects.count(), Follow.objects.count()) == (0, 0)

    second = _start_worker()
    try:
        _wait_for(lambda: status() == "done", 60, f"the restarted worker to handle the event ({second.stdout})")
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(timeout=10)
        except subprocess.TimeoutExpired:
            second.kill()
    assert (Customer.objects.count(), Follow.objects.count(), TimelineEvent.objects.filter(kind="added").count()) == (1, 1, 1)
    assert CallbackEvent.objects.get().attempts == 1


def _database_fails_the_worker(worker) -> None:
    """What a deployment sees now and then: on SQLite, another process holding the write lock past
    the worker's wait (here 1 s, held 8 s: longer than a task the worker may be running, so that
    its loop meets the lock too); on PostgreSQL, the worker's connections dropped (its loop's
    health check opens new ones)."""
    if connection.vendor == "sqlite":
        locker = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
        try:
            locker.execute("BEGIN EXCLUSIVE")
            time.sleep(8)
        finally:
            locker.execute("ROLLBACK")
            locker.close()
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        assert cursor.fetchall(), "the worker's connections were not found"


def test_a_worker_outlives_a_database_that_fails_it_for_a_while(hub):
    worker = _start_worker(SIYU_SQLITE_TIMEOUT="1", SIYU_LOG_LEVEL="INFO")
    try:
        wecom_sim.customer_adds_staff(hub.sb, hub.staff[0], name="先到")
        _wait_for(lambda: status() == "done", 60, "the worker to handle the first add")
        _database_fails_the_worker(worker)
        time.sleep(1)
        wecom_sim.customer_adds_staff(hub.sb, hub.staff[1], name="后到")
        _wait_for(lambda: list(CallbackEvent.objects.values_list("status", flat=True)) == ["done", "done"], 60, "the worker to handle the second add")
        assert worker.poll() is None, "the worker exited"
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            output, _ = worker.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
            output, _ = worker.communicate()
    assert Customer.objects.filter(name__in=["先到", "后到"]).count() == 2
    if connection.vendor == "sqlite":
        assert "database is locked" in output


def test_a_callback_during_a_console_import_is_answered_at_once_and_handled(hub, tmp_path):
    """The worker stages a console upload and writes it in chunks of a transaction each: WeCom's
    callback, arriving as the file is read, is answered in well under WeCom's 5 s and handled (by
    a second worker) while the import goes on. It arrives early in the file, so that what is left
    (the rest of the reading and all of the writing) outlasts its answer."""
    owner = f.actor(hub.corp)
    path = tmp_path / "history.csv"
    rows = "".join(f"H{i},2026-03-01 10:00,{i % 90 + 1},wmnobody{i % 50}\n" for i in range(100_000))
    path.write_text("订单号,支付时间,实付金额,外部联系人ID\n" + rows, encoding="utf-8")
    run = orders_queue_import(actor=owner, path=path, source="pos")
    workers = [_start_worker(), _start_worker()]
    try:
        _wait_for(lambda: OrderImport.objects.filter(pk=run.pk, status=OrderImport.Status.RUNNING, progress_done__gte=2000).exists(), 120, "the import to read")
        began = time.monotonic()
        _follow, entry = wecom_sim.customer_adds_staff(hub.sb, hub.staff[0], name="导入中加的")
        answered = time.monotonic() - began
        assert entry.status_code == 200 and answered < 5, (entry.status_code, answered)
        assert OrderImport.objects.get(pk=run.pk).status == OrderImport.Status.RUNNING, answered  # it came mid-file
        _wait_for(lambda: status() == "done", 60, "the callback to be handled")
        _wait_for(lambda: OrderImport.objects.get(pk=run.pk).status == OrderImport.Status.IMPORTED, 180, "the import to end")
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
    assert Customer.objects.filter(name="导入中加的").exists() and Order.objects.filter(corp=hub.corp).count() == 100_000
