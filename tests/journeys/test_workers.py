"""Several workers walking one journey's due steps at once (SKIP LOCKED on PostgreSQL; on SQLite
the IMMEDIATE transactions take turns): every step runs once, every customer is in one bundle per
step and sending time, and no walk fails on another's bundle."""

import pytest

from siyu.journeys import engine, entries, services
from siyu.journeys.models import Bundle, Enrollment, StepRun
from siyu.kit.tenancy import Actor, Role
from siyu.messaging.models import CustomerListMember

from .. import factories as f
from ..conftest import at_once

pytestmark = pytest.mark.django_db(transaction=True)


def test_three_workers_share_the_due_steps_and_the_bundles():
    corp = f.corp()
    actor = Actor(user=None, corp=corp, role=Role.ADMIN)
    staff = f.staff(corp, "导购")
    customers = []
    for _ in range(120):
        c = f.customer(corp)
        f.follow(c, staff)
        customers.append(c)
    trigger = {"kind": "plan", "every": "once", "at": "2026-01-01T09:00:00+08:00"}
    definition = {
        "trigger": trigger,
        "steps": [
            {"key": "ab", "kind": "split", "paths": [{"share": 50, "next": "hi"}, {"share": 50, "next": "visit"}]},
            {"key": "hi", "kind": "send", "text": "新品试用装已备好", "at": "10:00"},
            {"key": "visit", "kind": "task", "name": "一对一回访", "text": "", "at": "10:00", "hours": 48},
        ],
    }
    journey = services.journey_create(actor=actor, name="全员触达", definition=definition)
    services.journey_activate(actor=actor, journey=journey)
    journey.refresh_from_db()
    assert entries.pass_run(journey, trigger, engine.now()) == 120
    at, ran = engine.now(), []
    at_once(lambda: ran.append(engine.run_due(at=at, limit=15)), 3)  # small batches: the workers interleave
    assert sum(ran) == 240
    assert set(Enrollment.objects.filter(journey=journey).values_list("status", flat=True)) == {"done"}
    assert StepRun.objects.filter(journey=journey).count() == 240  # each step of each walk once
    bundles = list(Bundle.objects.filter(journey=journey))
    assert sorted(b.step for b in bundles) == ["hi", "visit"]
    listed = list(CustomerListMember.objects.filter(customers__in=[b.customers_id for b in bundles]).values_list("customer_id", flat=True))
    assert sorted(listed) == sorted(c.pk for c in customers)
