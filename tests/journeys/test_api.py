"""Journeys through the API: a draft's problems are listed, activation refuses with every problem,
the live journey's step counts and conversion against its holdout, versions and moving customers,
the catalog, and a rehearsal whose report matches what the engine then does."""

from datetime import date, datetime, time, timedelta

import pytest

from siyu.customers.services import customer_tags_change
from siyu.journeys import engine, entries
from siyu.journeys.models import Enrollment, Journey
from siyu.kit.clock import now
from siyu.kit.tenancy import Role
from siyu.orders.services import OrderIn, order_upsert

from .. import factories as f
from ..conftest import ApiClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop():
    corp = f.corp()
    owner = f.user(corp, role=Role.OWNER)
    api = ApiClient(f.token(owner, corp))
    actor = f.actor(corp)
    tag = f.tag_group(actor, "旅程", tags=["新客"]).tags.get()
    staff = f.staff(corp, "导购甲")
    return corp, api, actor, tag, staff


def _definition(tag, **extra):
    return {
        "trigger": {"kind": "event", "event": "tag_added", "tag_ids": [tag.pk]},
        "steps": [{"key": "w", "kind": "wait", "days": 2, "next": "hi"}, {"key": "hi", "kind": "send", "text": "您好", "at": "10:00"}],
        **extra,
    }


def test_a_draft_lists_its_problems_and_activation_refuses_with_all_of_them(shop):
    corp, api, actor, tag, staff = shop
    bad = {
        "trigger": {"kind": "event", "event": "tag_added", "tag_ids": [tag.pk]},
        "steps": [{"key": "a", "kind": "wait_event", "event": "order_paid", "next": "b"}],
    }
    made = api.post("/api/v1/journeys", {"name": "新客", "definition": bad})
    assert made.status_code == 201
    body = made.json()
    assert body["status"] == "draft" and {p["code"] for p in body["problems"]} == {"no_way_out", "unknown_step"}
    refused = api.post(f"/api/v1/journeys/{body['id']}/activate")
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["field"].startswith("definition.steps.0") and len(error["details"]) == 2
    assert api.put(f"/api/v1/journeys/{body['id']}", {"definition": _definition(tag)}).json()["problems"] == []
    live = api.post(f"/api/v1/journeys/{body['id']}/activate")
    assert live.status_code == 200 and live.json()["number"] == 1
    assert api.get(f"/api/v1/journeys/{body['id']}").json()["live_version"] == 1
    shapeless = api.post("/api/v1/journeys", {"name": "乱", "definition": {"steps": [{"key": ["x"], "kind": "wait", "next": {"a": 1}}], "trigger": []}})
    assert shapeless.status_code == 201 and shapeless.json()["problems"]


def test_step_counts_and_conversion_against_the_holdout(shop):
    corp, api, actor, tag, staff = shop
    journey_id = api.post("/api/v1/journeys", {"name": "新客", "definition": _definition(tag, holdout_percent=20, goal={"within_days": 7})}).json()["id"]
    api.post(f"/api/v1/journeys/{journey_id}/activate")
    people = []
    for _i in range(30):
        c = f.customer(corp)
        f.follow(c, staff)
        customer_tags_change(actor=actor, customer=c, add=[tag])
        people.append(c)
    engine.run_due(at=now() + timedelta(days=2, hours=1))
    for c in people[:10]:
        order_upsert(corp=corp, data=OrderIn(order_no=f"o{c.pk}", paid_at=now(), amount_fen=100, external_userid=c.external_userid))
    steps = {s["key"]: s for s in api.get(f"/api/v1/journeys/{journey_id}/steps").json()}
    treated = Enrollment.objects.filter(journey_id=journey_id).exclude(status="holdout").count()
    assert steps["w"]["entered"] == steps["w"]["done"] == treated
    assert steps["hi"]["outcomes"] == {"queued": treated}
    conversion = api.get(f"/api/v1/journeys/{journey_id}/conversion").json()
    held = {e.customer_id for e in Enrollment.objects.filter(journey_id=journey_id, status="holdout")}
    assert conversion["holdout"] == len(held) and conversion["treated"] == treated
    assert conversion["holdout_converted"] == len(held & {c.pk for c in people[:10]})
    assert conversion["treated_converted"] == 10 - conversion["holdout_converted"]
    if conversion["holdout"]:
        assert conversion["uplift"] == pytest.approx(conversion["treated_rate"] - conversion["holdout_rate"])


def test_pause_resume_archive_versions_and_move(shop):
    corp, api, actor, tag, staff = shop
    journey_id = api.post("/api/v1/journeys", {"name": "新客", "definition": _definition(tag)}).json()["id"]
    api.post(f"/api/v1/journeys/{journey_id}/activate")
    c = f.customer(corp)
    f.follow(c, staff)
    customer_tags_change(actor=actor, customer=c, add=[tag])
    assert api.post(f"/api/v1/journeys/{journey_id}/pause").json()["status"] == "paused"
    assert engine.run_due(at=now() + timedelta(days=3)) == 0  # paused: nothing runs
    assert api.post(f"/api/v1/journeys/{journey_id}/pause").status_code == 409
    assert api.post(f"/api/v1/journeys/{journey_id}/resume").json()["status"] == "active"
    v1 = api.get(f"/api/v1/journeys/{journey_id}/versions").json()[0]["id"]
    api.put(f"/api/v1/journeys/{journey_id}", {"definition": _definition(tag, late_hours=48)})
    api.post(f"/api/v1/journeys/{journey_id}/activate")
    assert [v["number"] for v in api.get(f"/api/v1/journeys/{journey_id}/versions").json()] == [2, 1]
    assert api.post(f"/api/v1/journeys/{journey_id}/move", {"version_id": v1}).json() == {"moved": 1}
    assert api.post(f"/api/v1/journeys/{journey_id}/archive").json()["status"] == "archived"
    assert Enrollment.objects.get(customer=c).status == "exited"
    guide = f.user(corp, role=Role.GUIDE, staff=staff)
    assert ApiClient(f.token(guide, corp)).get("/api/v1/journeys").status_code == 403


def test_playbooks_install_as_drafts(shop):
    corp, api, actor, tag, staff = shop
    keys = [p["key"] for p in api.get("/api/v1/playbooks").json()]
    assert {"milk_powder", "repurchase", "golden_14", "rfm_a", "rfm_h"} <= set(keys)
    made = api.post("/api/v1/playbooks/install", {"key": "repurchase"})
    assert made.status_code == 201 and made.json()["template"] == "repurchase" and made.json()["status"] == "draft"
    assert api.post("/api/v1/playbooks/install", {"key": "nope"}).json()["error"]["code"] == "unknown_playbook"


def test_a_rehearsal_forecasts_what_the_engine_then_does(shop):
    corp, api, actor, tag, staff = shop
    tz = corp.tzinfo
    today = now().astimezone(tz).date()
    # One-order customers whose 30th day falls on each of the next days.
    for i in range(12):
        c = f.customer(corp)
        f.follow(c, staff)
        paid = datetime.combine(today - timedelta(days=29 - i % 4), time(12), tzinfo=tz)
        order_upsert(corp=corp, data=OrderIn(order_no=f"r{i}", paid_at=paid, amount_fen=100, external_userid=c.external_userid))
    definition = {
        "trigger": {"kind": "data", "rule": "no_repurchase", "days": 30, "time": "09:00"},
        "steps": [
            {"key": "hi", "kind": "send", "text": "该补货了", "at": "10:00", "next": "call"},
            {"key": "call", "kind": "task", "name": "回访", "text": "", "at": "10:00"},
        ],
    }
    journey_id = api.post("/api/v1/journeys", {"name": "复购", "definition": definition}).json()["id"]
    report = api.post(f"/api/v1/journeys/{journey_id}/rehearse", {"days": 7}).json()
    assert report["entered"] == 12 and report["entered_by_day"][:4] == [3, 3, 3, 3]
    assert sum(report["sends_by_day"]) == 12 and report["tasks_by_day"][:4] == [3, 3, 3, 3]
    assert report["busiest_staff"][0]["items"] == 3 and report["busiest_staff"][0]["staff_id"] == staff.pk
    assert Journey.objects.get(pk=journey_id).forecast["entered"] == 12
    # Live, the passes on those days enroll the same customers.
    api.post(f"/api/v1/journeys/{journey_id}/activate")
    journey = Journey.objects.get(pk=journey_id)
    for d in range(4):
        day = today + timedelta(days=1 + d)
        entries.pass_run(journey, journey.live_version.definition["trigger"], datetime.combine(day, time(9), tzinfo=tz))
    assert Enrollment.objects.filter(journey=journey).count() == 12
    simulated = api.post(f"/api/v1/journeys/{journey_id}/rehearse", {"days": 30, "population": "simulated", "customers": 2000}).json()
    # Each sends once, but those entering on the last day after ten o'clock send after the span.
    assert simulated["entered"] == 2000 and 1900 <= sum(simulated["sends_by_day"]) + simulated["budget_skips"] <= 2000
    assert date.fromisoformat(simulated["starts_on"]) == today + timedelta(days=1)
