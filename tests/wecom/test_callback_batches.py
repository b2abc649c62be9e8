"""A worker's task for one callback handles up to 50 due ones together: one claim, one transaction,
one apply of their contacts. Under duplicate delivery, racing workers, a killed worker and a bad
event, every event is still handled exactly once, and a bad event holds back no other."""

import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.test import TestCase
from django_tasks_db.models import DBTaskResult

from siyu.acquisition.models import Acquisition
from siyu.customers.models import Customer, Follow, TimelineEvent
from siyu.kit.clock import now
from siyu.sandbox import callbacks as wecom_sim
from siyu.sandbox import services as sandbox
from siyu.wecom import handlers, services
from siyu.wecom.client import WeComClient
from siyu.wecom.models import CallbackEvent
from siyu.wecom.services import CALLBACK_WORK, callbacks_handle, callbacks_requeue_stale
from siyu.wecom.tasks import handle_callback_event

from ..conftest import at_once

pytestmark = pytest.mark.django_db(transaction=True)


def adds(hub, n: int, prefix: str = "wmB") -> list:
    entries = []
    for i in range(n):
        follow, entry = wecom_sim.customer_adds_staff(hub.sb, hub.staff[i % 2], external_userid=f"{prefix}{i:03d}", name=f"批{i}", state="store")
        entries.append((follow, entry))
    return entries


def handled_once(n: int) -> None:
    """n adds, each a customer, a follow, one "added" entry and one attribution: nothing twice."""
    assert set(CallbackEvent.objects.values_list("status", flat=True)) == {"done"}
    assert Customer.objects.count() == Follow.objects.count() == n
    assert TimelineEvent.objects.filter(kind="added").count() == n and Acquisition.objects.count() == n


def queued() -> int:
    return DBTaskResult.objects.filter(status="READY", task_path__endswith="handle_callback_event").count()


def test_one_task_handles_a_burst_with_its_duplicates_and_takes_the_others_off_the_queue(hub, monkeypatch):
    entries = adds(hub, 30)
    for _, entry in entries[:10]:  # WeCom delivers ten of them again
        assert wecom_sim.deliver(hub.sb, entry) == 200
    assert CallbackEvent.objects.count() == 30 and queued() == 30
    applied, real = [], handlers.apply_contacts
    monkeypatch.setattr(handlers, "apply_contacts", lambda corp, contacts, **kw: applied.append(len(contacts)) or real(corp, contacts, **kw))
    hub.run_worker()
    assert applied == [30]  # the thirty contacts in one apply
    handled_once(30)
    # The worker ran one task: the others were taken off the queue by the batch that did their work.
    ran = DBTaskResult.objects.filter(task_path__endswith="handle_callback_event")
    assert list(ran.values_list("status", flat=True)) == ["SUCCESSFUL"] and queued() == 0


def test_a_stream_of_adds_is_gathered_into_one_batch(hub, monkeypatch):
    # The first add's worker holds it until it is `gather` seconds old; the adds arriving meanwhile
    # share its batch and its one apply.
    adds(hub, 1, prefix="wmG")
    first = CallbackEvent.objects.get()
    applied, real = [], handlers.apply_contacts
    monkeypatch.setattr(handlers, "apply_contacts", lambda corp, contacts, **kw: applied.append(len(contacts)) or real(corp, contacts, **kw))
    roles, outcome = iter(["worker", "wecom"]), []

    def work():
        if next(roles) == "worker":
            outcome.append(callbacks_handle(event_id=first.pk, gather=3.0))
        else:
            adds(hub, 5, prefix="wmH")

    at_once(work, 2)
    assert outcome == ["applied"] and applied == [6]
    handled_once(6)


def test_a_backlog_and_a_batch_run_are_not_held_back(hub, monkeypatch, settings):
    held = []
    monkeypatch.setattr(services, "_hold", held.append)
    adds(hub, 3)
    # Events older than the window: handled at once.
    CallbackEvent.objects.update(received_at=now() - timedelta(seconds=10))
    assert callbacks_handle(event_id=CallbackEvent.objects.order_by("id").first().pk, gather=5.0) == "applied"
    assert held == []
    handled_once(3)
    # `siyu worker --batch` runs what is queued now: nothing to wait for, whatever the setting.
    settings.SIYU_CALLBACK_GATHER = 30.0
    adds(hub, 2, prefix="wmN")
    hub.run_worker()
    assert held == []
    handled_once(5)
    # A young event in a long-running worker is held for the rest of the window.
    adds(hub, 1, prefix="wmY")
    assert handle_callback_event.call(CallbackEvent.objects.order_by("-id").first().pk) == "applied"
    assert len(held) == 1 and 29 < held[0] <= 30
    handled_once(6)


def test_two_workers_racing_through_a_backlog_handle_each_event_once(hub):
    adds(hub, 60)
    events = list(CallbackEvent.objects.order_by("id").values_list("pk", flat=True))
    outcomes = []
    at_once(lambda: outcomes.extend(callbacks_handle(event_id=pk, limit=20) for pk in events), 2)
    handled_once(60)
    # Each event was one worker's, once: the other found it done ("skipped").
    assert outcomes.count("skipped") >= 60 and len(outcomes) == 120


def test_a_batch_whose_worker_was_killed_is_handled_once_after_its_lease(hub):
    adds(hub, 12)
    # A worker claims the batch and dies before writing anything.
    claims = CALLBACK_WORK.claim_due(limit=50)
    assert len(claims) == 12 and set(CallbackEvent.objects.values_list("status", flat=True)) == {"processing"}
    DBTaskResult.objects.all().delete()  # its tasks were taken off the queue too
    hub.run_worker()
    assert Customer.objects.count() == 0  # nobody takes the batch while its lease runs
    CallbackEvent.objects.update(lease_until=now() - timedelta(seconds=1))
    assert callbacks_requeue_stale(older_than=timedelta(0)) == 12
    hub.run_worker()
    handled_once(12)


def test_a_batch_hands_back_what_it_cannot_read_within_half_its_lease(hub, monkeypatch, settings):
    """WeCom answers slowly: the batch reads what it can in half its lease, writes that, and hands
    the rest back, due at once with their tasks queued, instead of having other workers take
    them over while it still reads (and read them again)."""
    settings.SIYU_CALLBACK_LEASE = 2
    adds(hub, 10)
    DBTaskResult.objects.all().delete()
    clock = [0.0]  # each read takes 0.4 s of the batch's clock
    monkeypatch.setattr(services, "time", SimpleNamespace(monotonic=lambda: clock[0], sleep=time.sleep))
    real = WeComClient.get_external_contact

    def slow(self, external_userid):
        clock[0] += 0.4
        return real(self, external_userid)

    monkeypatch.setattr(WeComClient, "get_external_contact", slow)
    first = CallbackEvent.objects.order_by("id").first()
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert callbacks_handle(event_id=first.pk) == "applied"
    rows = list(CallbackEvent.objects.order_by("id").values_list("status", "attempts", "lease_until", "task_id"))
    # Three reads fit in the first second (at 0, 0.4 and 0.8 s); the other seven are handed back.
    assert [r[0] for r in rows] == ["done"] * 3 + ["received"] * 7
    assert all(attempts == 0 and lease is None for _, attempts, lease, _ in rows[3:])
    assert {str(pk) for pk in DBTaskResult.objects.filter(status="READY").values_list("id", flat=True)} == {r[3] for r in rows[3:]}
    hub.run_worker()
    handled_once(10)


def test_a_bad_event_fails_alone(hub, monkeypatch):
    adds(hub, 5)
    # One event's WeCom read fails: that event alone is retried later.
    sandbox.fault_inject(corp=hub.sb, api="externalcontact/get", errcode=60011, after=2, times=1)
    # One contact's write breaks: the batch is written again one event at a time.
    real = handlers.apply_contacts

    def breaks_on_one(corp, contacts, **kw):
        if any(c["external_userid"] == "wmB004" for c, _ in contacts):
            raise RuntimeError("a bad row")
        return real(corp, contacts, **kw)

    monkeypatch.setattr(handlers, "apply_contacts", breaks_on_one)
    first = CallbackEvent.objects.order_by("id").first()
    with TestCase.captureOnCommitCallbacks(execute=True):
        callbacks_handle(event_id=first.pk)
    statuses = dict(CallbackEvent.objects.values_list("payload__ExternalUserID", "status"))
    assert statuses == {"wmB000": "done", "wmB001": "done", "wmB002": "failed", "wmB003": "done", "wmB004": "failed"}
    assert sorted(Customer.objects.values_list("external_userid", flat=True)) == ["wmB000", "wmB001", "wmB003"]
    assert "a bad row" in CallbackEvent.objects.get(payload__ExternalUserID="wmB004").last_error
    # Mended, the retries go through and write each once.
    monkeypatch.setattr(handlers, "apply_contacts", real)
    CallbackEvent.objects.filter(status="failed").update(due_at=now())  # their backoff has passed
    assert callbacks_handle(event_id=CallbackEvent.objects.get(payload__ExternalUserID="wmB002").pk) == "applied"
    handled_once(5)
