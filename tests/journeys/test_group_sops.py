"""Group SOPs: the weekly calendar for a layer of groups makes, on the right weekdays only and once
each, a group-send task whose owners each get their own groups; the week view shows each slot's
task; bad slots are refused by field."""

from datetime import datetime, time, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from siyu.groups.models import CustomerGroup
from siyu.guides.models import GuideAssignment, GuideTask
from siyu.guides.services import guide_task_assign
from siyu.journeys import catalog, sops
from siyu.journeys.models import GroupSop, GroupSopRun
from siyu.kit.clock import now
from siyu.kit.errors import InvalidInput
from siyu.sandbox import services as sb

from .. import factories as f
from ..acquisition.conftest import hub  # noqa: F401 — the in-process WeCom
from ..conftest import ApiClient
from ..messaging.test_mass_sends import chats  # noqa: F401 — groups in WeCom and in Siyu

CALENDAR = [
    {"key": "fun", "weekday": 1, "at": "10:00", "title": "周一趣味", "text": "周一猜猜宝宝几个月"},
    {"key": "content", "weekday": 2, "at": "20:00", "title": "周二干货", "text": "辅食添加的三个误区"},
    {"key": "welfare", "weekday": 4, "at": "10:00", "title": "周四福利", "text": "会员日满 299 减 50"},
    {"key": "activity", "weekday": 5, "at": "19:30", "title": "周五活动", "text": "周末亲子活动报名"},
]


def test_the_calendar_makes_each_weekdays_group_task_once_for_the_layers_owners(hub, chats):
    sop = sops.group_sop_save(actor=hub.actor, name="宝妈群周历", layer={"name_contains": "宝妈"}, slots=CALENDAR)
    sops.group_sop_status(actor=hub.actor, sop=sop, active=True)
    tz = hub.corp.tzinfo
    today = now().astimezone(tz).date()
    monday = today + timedelta(days=7 - today.weekday())  # next week, ahead of the real clock
    for n in range(-1, 7):
        at = datetime.combine(monday + timedelta(days=n), time(8), tzinfo=tz)
        sops.group_sops_make(at=at)
        sops.group_sops_make(at=at + timedelta(hours=1))  # again: nothing more
    runs = {r.slot: r for r in GroupSopRun.objects.filter(sop=sop)}
    assert {(slot, run.day.isoweekday()) for slot, run in runs.items()} == {("fun", 1), ("content", 2), ("welfare", 4), ("activity", 5)}
    welfare = runs["welfare"].guide_task
    assert welfare.kind == GuideTask.Kind.GROUP_SEND and welfare.text == "会员日满 299 减 50"
    assert welfare.starts_at == datetime.combine(monday + timedelta(days=3), time(10), tzinfo=tz)
    GuideTask.objects.filter(pk=welfare.pk).update(due_at=now())  # Thursday has come
    guide_task_assign(welfare.pk)
    shares = dict(GuideAssignment.objects.filter(task=welfare).values_list("staff_id", "items_total"))
    # 宝妈一群 and 二群 are guide0's, 三群 guide1's; the dismissed 员工群 is not in the layer.
    assert shares == {hub.staff[0].pk: 2, hub.staff[1].pk: 1}
    shown = sops.week(sop, monday)
    assert [len(d["slots"]) for d in shown] == [1, 1, 0, 1, 1, 0, 0]
    assert shown[3]["slots"][0]["run"].guide_task == welfare


def test_a_paused_calendar_makes_nothing_and_bad_slots_are_named(hub, chats):
    sop = sops.group_sop_save(actor=hub.actor, name="周历", layer={"name_contains": "宝妈"}, slots=CALENDAR)
    assert sops.group_sops_make(at=now() + timedelta(days=1)) == 0
    for bad, field in (
        ([{**CALENDAR[0], "weekday": 8}], "slots.0.weekday"),
        ([{**CALENDAR[0], "at": "25:00"}], "slots.0.at"),
        ([{**CALENDAR[0], "text": ""}], "slots.0.text"),
        ([CALENDAR[0], {**CALENDAR[1], "key": "fun"}], "slots.1.key"),
    ):
        with pytest.raises(InvalidInput) as refused:
            sops.group_sop_save(actor=hub.actor, name="周历", layer={"name_contains": "宝妈"}, slots=bad, sop=sop)
        assert refused.value.field == field
    with pytest.raises(InvalidInput) as refused:
        sops.group_sop_save(actor=hub.actor, name="周历", layer={"group_ids": [999999]}, slots=CALENDAR)
    assert refused.value.code == "unknown_group"


def test_the_console_edits_a_calendar_and_names_a_bad_slot_next_to_its_field(hub, chats):
    client = Client()
    client.force_login(hub.actor.user)
    post = {"name": "宝妈群周历", "name_contains": "宝妈"}
    for i, slot in enumerate(CALENDAR):
        post.update(
            {
                f"slot{i}-weekday": slot["weekday"],
                f"slot{i}-at": slot["at"],
                f"slot{i}-title": slot["title"],
                f"slot{i}-text": slot["text"],
                f"slot{i}-hours": 4,
            }
        )
    bad = {**post, "slot2-at": "10:99"}
    refused = client.post(reverse("console:group_sop_new"), bad)
    assert refused.status_code == 400
    assert "时刻的格式为 HH:MM" in refused.content.decode() and not GroupSop.objects.exists()
    saved = client.post(reverse("console:group_sop_new"), post)
    sop = GroupSop.objects.get()
    assert saved.status_code == 302 and [s["title"] for s in sop.slots] == [s["title"] for s in CALENDAR]
    client.post(reverse("console:group_sop_toggle", args=[sop.pk]))
    sop.refresh_from_db()
    assert sop.status == "active"
    page = client.get(reverse("console:group_sop", args=[sop.pk]))
    assert page.status_code == 200 and "周四福利" in page.content.decode()


def test_the_api_makes_calendars_and_brand_dates(hub, chats):
    api = ApiClient(f.token(hub.actor.user, hub.corp))
    refused = api.post("/api/v1/group-sops", {"name": "周历", "layer": {"name_contains": "宝妈"}, "slots": [{**CALENDAR[0], "weekday": 9}]})
    assert refused.status_code == 400 and refused.json()["error"]["field"] == "slots.0.weekday"
    made = api.post("/api/v1/group-sops", {"name": "周历", "layer": {"name_contains": "宝妈"}, "slots": CALENDAR})
    assert made.status_code == 201 and made.json()["status"] == "paused"
    sop_id = made.json()["id"]
    assert api.post(f"/api/v1/group-sops/{sop_id}/status", {"active": True}).json()["status"] == "active"
    week = api.get(f"/api/v1/group-sops/{sop_id}/week", monday="2027-01-04").json()
    assert [len(d["slots"]) for d in week] == [1, 1, 0, 1, 1, 0, 0] and week[0]["day"] == "2027-01-04"
    member_day = api.post("/api/v1/brand-dates", {"name": "会员日", "month": 5, "day": 20})
    assert member_day.status_code == 201
    assert api.post("/api/v1/brand-dates", {"name": "坏日子", "month": 2, "day": 30}).json()["error"]["code"] == "bad_date"
    assert api.delete(f"/api/v1/brand-dates/{member_day.json()['id']}").status_code == 204
    assert api.get("/api/v1/brand-dates").json() == []


def test_the_weekly_group_calendar_installs_paused_until_its_content_is_filled(hub, chats):
    sop = catalog.group_week_install(actor=hub.actor)
    assert sop.status == "paused" and [s["weekday"] for s in sop.slots if not s["key"].startswith("care")] == [1, 2, 4, 5]
    with pytest.raises(InvalidInput) as refused:
        sops.group_sop_status(actor=hub.actor, sop=sop, active=True)
    assert refused.value.code == "placeholder"
    filled = [{**s, "text": s["text"].replace("【待填写】", "")} for s in sop.slots]
    sops.group_sop_save(actor=hub.actor, name=sop.name, layer={"name_contains": "宝妈"}, slots=filled, sop=sop)
    assert sops.group_sop_status(actor=hub.actor, sop=sop, active=True).status == "active"


def test_a_slot_whose_groups_are_not_there_yet_is_made_at_a_later_pass(hub):
    sop = sops.group_sop_save(actor=hub.actor, name="周历", layer={"name_contains": "宝妈"}, slots=CALENDAR[:1])
    sops.group_sop_status(actor=hub.actor, sop=sop, active=True)
    tz = hub.corp.tzinfo
    today = now().astimezone(tz).date()
    monday = today + timedelta(days=7 - today.weekday())
    evening = datetime.combine(monday - timedelta(days=1), time(20), tzinfo=tz)
    assert sops.group_sops_make(at=evening) == 0 and not GroupSopRun.objects.exists()  # no group synced yet
    sandbox_group = sb.group_add(corp=hub.sb, owner=hub.sb_staff[0], name="宝妈一群")
    CustomerGroup.objects.create(corp=hub.corp, chat_id=sandbox_group.chat_id, name="宝妈一群", owner=hub.staff[0])
    assert sops.group_sops_make(at=evening + timedelta(minutes=10)) == 1
    # … and a slot still without groups close to its time is recorded as such, not tried for ever.
    other = sops.group_sop_save(actor=hub.actor, name="空", layer={"name_contains": "没有这个群"}, slots=CALENDAR[:1])
    sops.group_sop_status(actor=hub.actor, sop=other, active=True)
    sops.group_sops_make(at=datetime.combine(monday, time(9, 50), tzinfo=tz))
    assert GroupSopRun.objects.get(sop=other).outcome
