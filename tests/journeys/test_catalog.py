"""The playbook catalog: every play installs as a draft that names what is left to fill in and
goes live once filled; the repurchase wake-up enrolls exactly the customers a plain computation
over the orders picks."""

import random
from datetime import date, datetime, time, timedelta

import pytest

from siyu.customers.fields import custom_field_save
from siyu.journeys import catalog, engine, entries, services
from siyu.journeys.definition import PLACEHOLDER
from siyu.journeys.models import Enrollment, Journey
from siyu.kit.errors import InvalidInput
from siyu.orders.models import Order
from siyu.orders.services import OrderIn, order_upsert

from .. import factories as f

pytestmark = pytest.mark.django_db


def _filled(definition: dict) -> dict:
    steps = [{k: (v.replace(PLACEHOLDER, "") if isinstance(v, str) else v) for k, v in s.items()} for s in definition["steps"]]
    return {**definition, "steps": steps}


def test_every_playbook_installs_as_a_draft_that_goes_live_once_its_content_is_filled():
    corp = f.corp()
    actor = f.actor(corp)
    custom_field_save(actor=actor, name="宝宝生日", key="baby_born", kind="date")
    custom_field_save(actor=actor, name="生日", key="birthday", kind="date")
    for playbook in catalog.playbooks():
        journey = catalog.playbook_install(actor=actor, key=playbook.key)
        assert journey.status == Journey.Status.DRAFT and journey.template == playbook.key
        codes = {p["code"] for p in journey.problems}
        assert codes <= {"placeholder"}, (playbook.key, journey.problems)
        if codes:
            with pytest.raises(InvalidInput) as refused:
                services.journey_activate(actor=actor, journey=journey)
            assert refused.value.code == "placeholder"
        services.journey_save(actor=actor, journey=journey, definition=_filled(journey.definition))
        services.journey_activate(actor=actor, journey=journey)
        assert Journey.objects.get(pk=journey.pk).status == Journey.Status.ACTIVE
    with pytest.raises(InvalidInput):
        catalog.playbook_install(actor=actor, key="nope")


def test_a_play_needing_a_field_the_corp_lacks_names_it():
    corp = f.corp()
    actor = f.actor(corp)
    journey = catalog.playbook_install(actor=actor, key="month_age")
    assert ("trigger.field", "unknown_field") in {(p["field"], p["code"]) for p in journey.problems}


def test_the_repurchase_wake_up_enrolls_exactly_the_customers_a_plain_computation_picks():
    corp = f.corp()
    actor = f.actor(corp)
    staff = f.staff(corp)
    tz = corp.tzinfo
    rng = random.Random(7)
    today = date(2026, 12, 7)
    people = []
    for i in range(80):
        c = f.customer(corp)
        if i % 9 != 0:  # some have no staff member any more: not a customer to wake
            f.follow(c, staff)
        people.append(c)
        for n in range(rng.choice([0, 1, 1, 1, 2])):
            days_ago = rng.choice([29, 30, 30, 31, 45, 60]) if n == 0 else rng.randint(0, 40)
            # Late in the evening: the corp's day, not UTC's, decides which day an order was.
            paid = datetime.combine(today - timedelta(days=days_ago), time(23, 30), tzinfo=tz)
            order_upsert(corp=corp, data=OrderIn(order_no=f"o{i}-{n}", paid_at=paid, amount_fen=9900, external_userid=c.external_userid))
    journey = catalog.playbook_install(actor=actor, key="repurchase")
    services.journey_save(actor=actor, journey=journey, definition=_filled(journey.definition))
    services.journey_activate(actor=actor, journey=journey)
    journey.refresh_from_db()
    at = datetime.combine(today, time(10), tzinfo=tz)
    entries.pass_run(journey, journey.live_version.definition["trigger"], at)
    entries.pass_run(journey, journey.live_version.definition["trigger"], at)  # a pass run twice enrolls once

    # The plain computation: one order in all, paid (corp's day) exactly 30 days ago, still followed.
    by_customer: dict[int, list[date]] = {}
    for customer_id, paid_at in Order.objects.filter(corp=corp).values_list("customer_id", "paid_at"):
        by_customer.setdefault(customer_id, []).append(paid_at.astimezone(tz).date())
    followed = {c.pk for i, c in enumerate(people) if i % 9 != 0}
    expected = {cid for cid, days in by_customer.items() if len(days) == 1 and days[0] == today - timedelta(days=30) and cid in followed}
    assert expected  # the data has some
    assert set(Enrollment.objects.filter(journey=journey).values_list("customer_id", flat=True)) == expected
    # 10 % held out, the same ones the stable hash picks.
    held = set(Enrollment.objects.filter(journey=journey, status=Enrollment.Status.HOLDOUT).values_list("customer_id", flat=True))
    assert held == {cid for cid in expected if engine.in_holdout(journey.pk, cid, 10)}
