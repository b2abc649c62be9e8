"""The journey editor in the console: the draft's problems next to their fields, a step added after
another on a chosen path (what came after follows the new step), a step removed keeping the walk,
and a step renamed with the links to it."""

import pytest
from django.test import Client
from django.urls import reverse

from siyu.engagement import coupons
from siyu.journeys import services
from siyu.journeys.models import Journey
from siyu.kit.tenancy import Role

from .. import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def editor():
    corp = f.corp()
    owner = f.user(corp, role=Role.OWNER)
    actor = f.actor(corp)
    tag = f.tag_group(actor, "旅程", tags=["新客"]).tags.get()
    client = Client()
    client.force_login(owner)
    definition = {
        "trigger": {"kind": "event", "event": "tag_added", "tag_ids": [tag.pk]},
        "steps": [{"key": "w", "kind": "wait", "days": 1, "next": "hi"}, {"key": "hi", "kind": "send", "text": "您好", "at": "10:00"}],
    }
    journey = services.journey_create(actor=actor, name="新客", definition=definition)
    return client, journey, tag


def _keys(journey):
    journey.refresh_from_db()
    return [(s["key"], s.get("next")) for s in journey.definition["steps"]]


def test_steps_are_added_on_a_path_renamed_and_removed_keeping_the_walk(editor):
    client, journey, tag = editor
    url = reverse("console:journey_step_new", args=[journey.pk]) + "?kind=tag&after=w&via=next"
    saved = client.post(url, {"key": "mark", "add": [tag.pk], "next": ""})
    assert saved.status_code == 302
    # Inserted between w and hi: w → mark, and mark's own "then" was left empty, so the walk ends there…
    assert _keys(journey)[0] == ("w", "mark")
    # … until it is pointed at hi.
    client.post(reverse("console:journey_step", args=[journey.pk, "mark"]), {"key": "tagged", "add": [tag.pk], "next": "hi"})
    assert _keys(journey) == [("w", "tagged"), ("hi", None), ("tagged", "hi")]  # renamed: w follows the new key
    client.post(reverse("console:journey_step_delete", args=[journey.pk, "tagged"]))
    assert _keys(journey) == [("w", "hi"), ("hi", None)]  # removed: w goes on where it went
    assert Journey.objects.get(pk=journey.pk).problems == []


def test_a_bad_step_and_a_bad_trigger_are_named_next_to_their_fields(editor):
    client, journey, tag = editor
    refused = client.post(reverse("console:journey_step", args=[journey.pk, "hi"]), {"key": "hi", "text": "您好", "at": "25:61", "next": ""})
    assert refused.status_code == 400 and "发送时刻的格式为 HH:MM" in refused.content.decode()
    assert 'id="id_at_error"' in refused.content.decode()
    page = client.post(
        reverse("console:journey_edit", args=[journey.pk]),
        {"name": "新客", "trigger_kind": "event", "event": "tag_added", "reentry": "once", "holdout_percent": 0, "late_hours": 24},
    )
    assert page.status_code == 302  # saved, with its problem listed
    journey.refresh_from_db()
    # The draft keeps what was typed, each problem listed: the step's time and the trigger's tags.
    assert {p["field"] for p in journey.problems} == {"steps.1.at", "trigger.tag_ids"}
    shown = client.get(reverse("console:journey_edit", args=[journey.pk])).content.decode()
    assert 'id="id_tag_ids_error"' in shown and 'id="activate" disabled' in shown


def test_an_rfm_class_trigger_and_the_reply_exit_are_set_in_the_form(editor):
    client, journey, tag = editor
    settings = {"name": "升为A类", "trigger_kind": "data", "rule": "rfm_changed", "time": "10:00", "reentry": "once", "holdout_percent": 0, "late_hours": 24}
    refused = client.post(reverse("console:journey_edit", args=[journey.pk]), settings)  # no class chosen: named next to the classes
    journey.refresh_from_db()
    assert [p["field"] for p in journey.problems if p["field"].startswith("trigger")] == ["trigger.to"]
    assert 'id="id_rfm_to_error"' in client.get(reverse("console:journey_edit", args=[journey.pk])).content.decode()
    assert refused.status_code == 302
    client.post(reverse("console:journey_edit", args=[journey.pk]), {**settings, "rfm_to": ["A"], "rfm_from": ["C", "D"], "exit_replied": "on"})
    journey.refresh_from_db()
    assert journey.definition["trigger"] == {"kind": "data", "rule": "rfm_changed", "time": "10:00", "to": ["A"], "from": ["C", "D"]}
    assert {"kind": "replied"} in journey.definition["exits"]
    assert journey.problems == []


def test_award_steps_are_set_in_the_form_and_described_in_the_tree(editor):
    client, journey, tag = editor
    template = coupons.template_save(actor=f.actor(journey.corp), name="回访礼券", kind="no_threshold", amount_fen=1000, valid_days=30)
    new = reverse("console:journey_step_new", args=[journey.pk])
    assert client.post(new + "?kind=points&after=w&via=next", {"key": "pts", "points": 50, "next": "hi"}).status_code == 302
    refused = client.post(new + "?kind=coupon&after=pts&via=next", {"key": "cpn", "next": "hi"})
    assert refused.status_code == 400 and 'id="id_template_id_error"' in refused.content.decode()
    # Kept in the draft with its problem, and fixed in place.
    assert client.post(reverse("console:journey_step", args=[journey.pk, "cpn"]), {"key": "cpn", "template_id": template.pk, "next": "hi"}).status_code == 302
    journey.refresh_from_db()
    steps = {s["key"]: s for s in journey.definition["steps"]}
    assert steps["pts"] == {"key": "pts", "kind": "points", "points": 50, "next": "cpn"}
    assert steps["cpn"] == {"key": "cpn", "kind": "coupon", "template_id": template.pk, "next": "hi"}
    assert journey.problems == []
    shown = client.get(reverse("console:journey_edit", args=[journey.pk])).content.decode()
    assert "Award 50 points" in shown or "奖励 50 积分" in shown
    assert "回访礼券" in shown
