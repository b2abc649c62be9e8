"""kit.db's bulk helpers: rows written straight from tuples (times prepared, conflicts left out on
request, on both databases' paths) and `any_of`, a long key list as one parameter."""

import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, connection, connections, transaction
from django.db.models import Count, Q
from django.test.utils import CaptureQueriesContext
from django_tasks_db.models import DBTaskResult

from siyu.corps.models import Corp
from siyu.customers.models import Customer
from siyu.journeys import services
from siyu.journeys.engine import ENROLLMENT_COLUMNS
from siyu.journeys.models import Enrollment
from siyu.kit.db import CompiledQuery, insert_many, insert_objects
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


def test_insert_objects_if_new_writes_a_row_once_and_leaves_the_transaction_usable():
    """A callback's event and a welcome's row are written `if_new`: a repeat delivery is told
    apart by an empty answer, without a savepoint, and the transaction goes on (on PostgreSQL a
    broken unique key would have ended it)."""
    corp = f.corp()
    with transaction.atomic():
        with CaptureQueriesContext(connection) as queries:
            [event] = insert_objects([CallbackEvent(corp=corp, dedupe_key="k", event="e", payload={"n": 1})], if_new=True)
            assert insert_objects([CallbackEvent(corp=corp, dedupe_key="k", event="again", payload={"n": 2})], if_new=True) == []
        assert not any("SAVEPOINT" in q["sql"] for q in queries.captured_queries)
        [other] = insert_objects([CallbackEvent(corp=corp, dedupe_key="k2", event="e", payload={})], if_new=True)
    assert event.pk and other.pk and event.pk != other.pk and event._state.adding is False
    assert [(e.dedupe_key, e.event, e.payload) for e in CallbackEvent.objects.order_by("pk")] == [("k", "e", {"n": 1}), ("k2", "e", {})]
    with pytest.raises(ValueError, match="one row"):
        insert_objects(
            [CallbackEvent(corp=corp, dedupe_key="k3", event="e", payload={}), CallbackEvent(corp=corp, dedupe_key="k4", event="e", payload={})], if_new=True
        )


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


def _fields(row) -> dict:
    return {field.attname: getattr(row, field.attname) for field in type(row)._meta.concrete_fields}


def test_a_compiled_query_returns_the_rows_the_orm_returns_for_each_calls_values():
    """The callback's corp, the welcome's message and staff member are read by CompiledQuery:
    each call's values must reach every place the SQL holds them, and its rows come back
    converted as the ORM converts them (a JSON payload as a dict, times aware)."""
    corps = [f.corp(), f.corp()]
    events = [
        CallbackEvent.objects.create(corp=corp, dedupe_key=f"k{i}", event="change_external_contact", payload={"ChangeType": "add", "n": [i, "二"]})
        for i, corp in enumerate(corps * 2)
    ]
    CallbackEvent.objects.filter(pk=events[1].pk).update(created_at_wecom=datetime(2026, 3, 1, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai")))

    def by_key(corp, key):  # the corp's key twice in the SQL: both places take the call's value
        return CallbackEvent.objects.filter(Q(corp_id=corp) & (Q(dedupe_key=key) | Q(corp_id=corp, event=key))).order_by("pk")

    compiled = CompiledQuery(by_key, int, str)
    for corp in corps:
        for key in ("k0", "k1", "k2", "k3", "change_external_contact", "nothing"):
            expected = list(by_key(corp.pk, key))
            assert [_fields(e) for e in compiled.rows(corp.pk, key)] == [_fields(e) for e in expected]
    got = compiled.first(corps[1].pk, "k1")
    assert got.payload == {"ChangeType": "add", "n": [1, "二"]} and got.created_at_wecom == datetime(2026, 3, 1, 1, 30, tzinfo=ZoneInfo("UTC"))
    assert got.created_at_wecom.tzinfo is not None and got._state.adding is False
    assert compiled.first(corps[0].pk, "nothing") is None

    pairs = CompiledQuery(lambda corp: CallbackEvent.objects.filter(corp_id=corp).order_by("-pk").values_list("dedupe_key", "payload"), int)
    assert pairs.rows(corps[0].pk) == [("k2", {"ChangeType": "add", "n": [2, "二"]}), ("k0", {"ChangeType": "add", "n": [0, "二"]})]
    flat = CompiledQuery(lambda corp_id: Corp.objects.filter(corp_id=corp_id).values_list("pk", flat=True)[:1], str)
    assert [flat.first(c.corp_id) for c in corps] == [c.pk for c in corps]


def test_a_compiled_query_refuses_what_it_cannot_run_as_the_orm_would():
    corp = f.corp()
    by_name = CompiledQuery(lambda corp_id: Corp.objects.filter(corp_id=corp_id)[:1], str)
    with pytest.raises(TypeError, match="takes"):
        by_name.first(corp.pk)  # an int for a str
    with pytest.raises(TypeError, match="str or int"):
        CompiledQuery(lambda when: Corp.objects.filter(created_at=when), datetime)
    # A lookup that rewrites the value (LIKE %…%) would no longer carry it: refused, not run wrong.
    with pytest.raises(ValueError, match="not in the SQL"):
        CompiledQuery(lambda name: Corp.objects.filter(name__contains=name), str).rows("x")
    with pytest.raises(ValueError, match="related rows"):
        CompiledQuery(lambda corp: CallbackEvent.objects.select_related("corp").filter(corp_id=corp), int).rows(corp.pk)
    with pytest.raises(ValueError, match="plain model or values_list"):
        CompiledQuery(lambda corp: CallbackEvent.objects.filter(corp_id=corp).annotate(n=Count("pk")), int).rows(corp.pk)


@pytest.mark.django_db(transaction=True)
def test_a_compiled_query_serves_threads_each_with_its_own_connection():
    """The welcome threads of a `siyu serve` share the module's compiled queries."""
    corps = [f.corp() for _ in range(4)]
    compiled = CompiledQuery(lambda corp_id: Corp.objects.filter(corp_id=corp_id)[:1], str)
    answers: dict = {}

    def read(corp) -> None:
        try:
            answers[corp.corp_id] = [compiled.first(corp.corp_id).pk for _ in range(20)]
        finally:
            connections.close_all()

    threads = [threading.Thread(target=read, args=(c,)) for c in corps]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert answers == {c.corp_id: [c.pk] * 20 for c in corps}
