"""Journey steps that award: points and a coupon, once per walk and step however often the batch
is retried, a sold-out coupon noted as the step's outcome, and a draft naming a coupon or a point
count that cannot be."""

from datetime import timedelta

import pytest
from django.db import transaction

from siyu.customers.services import customer_tags_change
from siyu.engagement import coupons
from siyu.engagement.models import Coupon, PointsAccount, PointsEntry
from siyu.journeys import engine, services
from siyu.journeys.models import StepRun

from .. import factories as f
from ..engagement.test_points import statement_ok
from .test_engine import _customers, _live, _outcomes, _tagged, world  # noqa: F401

pytestmark = pytest.mark.django_db


def test_a_journey_awards_points_and_a_coupon_once_each_and_notes_a_sold_out_coupon(world):
    corp, actor, tags, staff = world
    template = coupons.template_save(actor=actor, name="回访礼券", kind="no_threshold", amount_fen=1000, valid_days=30, stock=2)
    journey = _live(
        actor,
        {
            "trigger": _tagged(tags, "新客"),
            "steps": [
                {"key": "gift", "kind": "points", "points": 200, "next": "coupon"},
                {"key": "coupon", "kind": "coupon", "template_id": template.pk},
            ],
        },
    )
    people = _customers(corp, staff, 3)
    for c in people:
        customer_tags_change(actor=actor, customer=c, add=[tags["新客"]])
    at = engine.now()

    class Died(Exception):
        pass

    with pytest.raises(Died), transaction.atomic():  # a worker dies before its batch commits: nothing is kept
        engine.run_claims(engine.ENROLLMENT_WORK.lock_due(at=at, fields=engine.WALKED), at=at)
        assert PointsEntry.objects.filter(reason="journey").count() == 3
        raise Died
    assert not PointsEntry.objects.exists() and not Coupon.objects.exists()

    assert engine.run_due(at=at) == 6
    assert engine.run_due(at=at + timedelta(hours=1)) == 0
    for c in people:
        assert PointsAccount.objects.get(customer=c).available == 200 and statement_ok(c.pk)
    assert sorted(entry.reason for entry in PointsEntry.objects.all()) == ["journey"] * 3
    outcomes = sorted(_outcomes(e)["coupon"] for e in journey.enrollments.all())
    assert outcomes == ["done", "done", "sold_out"]
    assert Coupon.objects.filter(template=template, source="journey").count() == 2
    assert StepRun.objects.filter(step="gift").count() == 3


def test_a_draft_names_an_unknown_coupon_and_a_bad_point_count(world):
    corp, actor, tags, _ = world
    other = coupons.template_save(actor=f.actor(f.corp()), name="别家的券", kind="no_threshold", amount_fen=100, valid_days=3)
    journey = services.journey_create(
        actor=actor,
        name="奖励",
        definition={
            "trigger": _tagged(tags, "新客"),
            "steps": [
                {"key": "a", "kind": "points", "points": 0, "next": "b"},
                {"key": "b", "kind": "coupon", "template_id": other.pk},
            ],
        },
    )
    codes = {(p["field"], p["code"]) for p in journey.problems}
    assert codes == {("steps.0.points", "bad_points"), ("steps.1.template_id", "unknown_coupon")}
