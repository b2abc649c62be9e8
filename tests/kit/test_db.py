"""kit.db's bulk helpers: rows written straight from tuples (times prepared, conflicts left out on
request, on both databases' paths) and `any_of`, a long key list as one parameter."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django_tasks_db.models import DBTaskResult

from siyu.customers.models import Customer
from siyu.journeys import services
from siyu.journeys.engine import ENROLLMENT_COLUMNS
from siyu.journeys.models import Enrollment
from siyu.kit.db import insert_many, insert_objects
from siyu.kit.queue import enqueue_many
from siyu.kit.tenancy import Actor, Role
from siyu.messaging.models import CustomerList, CustomerListMember
from siyu.wecom.models import CallbackEvent

from .. import factories as f

pytestmark = pytest.mark.django_db


def test_insert_many_writes_tuples_and_leaves_out_what_a_unique_constraint_holds():
    corp = f.corp()
    customers = [f.customer(corp) for _ in range(3)]
    listed = CustomerList.objects.create(corp=corp, name="名单")
    insert_many(CustomerListMember, ["customers", "customer"], [(listed.pk, c.pk) for c in customers[:2]], ignore_conflicts=True)
    # Again, with one new: the two already listed are left out, the new one is written.
    insert_many(CustomerListMember, ["customers", "customer"], [(listed.pk, c.pk) for c in customers], ignore_conflicts=True)
    assert sorted(CustomerListMember.objects.values_list("customer_id", flat=True)) == sorted(c.pk for c in customers)


def test_insert_objects_sets_keys_writes_given_keys_and_raises_djangos_error_for_a_broken_unique_key():
    """The callback's event, the welcome's row and the queued task are written by insert_objects:
    the event's key is read back, the task's UUID written as given, and a repeat delivery's event
    must raise Django's IntegrityError on both databases (the callback counts it as a delivery)."""
    corp = f.corp()
    [event] = insert_objects([CallbackEvent(corp=corp, dedupe_key="k", event="e", payload={"键": "值"})])
    stored = CallbackEvent.objects.get(pk=event.pk)
    assert (stored.payload, stored.status, stored.attempts, stored.received_at) == ({"键": "值"}, "received", 0, event.received_at)
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_objects([CallbackEvent(corp=corp, dedupe_key="k", event="e", payload={})])
    ids = enqueue_many("siyu.wecom.tasks.handle_callback_event", [[event.pk]], ids=["0b8e6f0e-3c6c-4d4c-9f43-4f3f6c1a2b3c"])
    task = DBTaskResult.objects.get(pk=ids[0])
    assert (str(task.id), task.status, task.args_kwargs, task.task_path) == (
        ids[0],
        "READY",
        {"args": [event.pk], "kwargs": {}},
        "siyu.wecom.tasks.handle_callback_event",
    )
    assert task.enqueued_at is not None


def test_insert_many_keeps_times_nulls_and_texts_as_given():
    corp = f.corp()
    actor = Actor(user=None, corp=corp, role=Role.ADMIN)
    journey = services.journey_create(
        actor=actor, name="旅程", definition={"trigger": {"kind": "event", "event": "order_paid"}, "steps": [{"key": "w", "kind": "wait", "days": 1}]}
    )
    services.journey_activate(actor=actor, journey=journey)
    journey.refresh_from_db()
    c = f.customer(corp)
    at = datetime(2026, 12, 31, 23, 59, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    row = (corp.pk, journey.pk, journey.live_version_id, c.pk, None, "订单:1", at, "waiting", "w", at + timedelta(days=1), "", False, 0, "", "", "")
    insert_many(Enrollment, ENROLLMENT_COLUMNS, [row], ignore_conflicts=True)
    insert_many(Enrollment, ENROLLMENT_COLUMNS, [row], ignore_conflicts=True)  # the same occasion: left out
    (e,) = Enrollment.objects.all()
    assert (e.entry_key, e.entered_at, e.due_at, e.staff_id, e.event_seen) == ("订单:1", at, at + timedelta(days=1), None, False)


def test_any_of_filters_by_a_long_key_list_as_one_parameter():
    corp = f.corp()
    customers = [f.customer(corp) for _ in range(5)]
    wanted = [customers[0].pk, customers[3].pk, 10**12]
    with CaptureQueriesContext(connection) as queries:
        found = sorted(Customer.objects.filter(pk__any_of=wanted).values_list("pk", flat=True))
    assert found == sorted(wanted[:2])
    if connection.vendor == "postgresql":
        assert "= ANY(" in queries.captured_queries[0]["sql"]
    assert list(Customer.objects.filter(pk__any_of=[])) == []
    assert Customer.objects.filter(corp=corp).exclude(pk__any_of=wanted[:2]).count() == 3
