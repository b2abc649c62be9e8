"""Guide tasks through the real client against the sandbox: each guide gets exactly their own
customers, the notice reaches them at the chosen hour as an app card, completion comes from what
they do (a note, a tag in Siyu or in WeCom, a send) after the start, reminders escalate once each,
urged tasks go first, and a guide sees only their own share."""

from datetime import time, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from django.test import Client
from django_tasks_db.models import DBTaskResult

from siyu.corps.models import Membership, Staff
from siyu.corps.services import department_upsert
from siyu.customers.models import FollowTag
from siyu.customers.services import customer_note_add, customer_tags_change
from siyu.guides import selectors, services
from siyu.guides.models import GuideAssignment, GuideTask, GuideTaskItem
from siyu.kit.clock import now
from siyu.kit.errors import Forbidden, InvalidInput, NotFound
from siyu.kit.tenancy import Actor, Role
from siyu.messaging import budget, moments
from siyu.messaging.models import Moment
from siyu.sandbox import services as sandbox
from siyu.sandbox.models import SbAppMessage, SbFollow, SbMoment

from .. import factories as f
from ..acquisition.conftest import hub  # noqa: F401 — the in-process WeCom
from ..conftest import ApiClient, run_queued
from ..messaging.test_mass_sends import (
    EVERYONE,
    _customer,
    chats,  # noqa: F401 — groups in WeCom and in Siyu
)
from ..messaging.test_mass_sends import _confirm as confirm
from ..messaging.test_mass_sends import _work as messaging_work
from ..messaging.test_moments import _run_queue


def _work() -> list:
    """Run what the worker would: the queued guide tasks' work, oldest first, until none is left
    that is due now."""
    return run_queued("siyu.guides.tasks")


def _due_now(task: GuideTask, *fields: str) -> None:
    """Time passes: the task's next steps (assignment, notice, reminders) are due now."""
    GuideTask.objects.filter(pk=task.pk).update(**{f"{p}due_at": now() for p in fields})
    DBTaskResult.objects.filter(task_path__startswith="siyu.guides.tasks").update(run_after=now())


def _create(hub, django_capture_on_commit_callbacks, **fields) -> GuideTask:
    values = {"name": "回访新客", "kind": "revisit", "audience": EVERYONE, "ends_at": now() + timedelta(days=3), "instructions": "电话或微信回访，写跟进记录"}
    with django_capture_on_commit_callbacks(execute=True):
        return services.guide_task_create(actor=hub.actor, **{**values, **fields})


@pytest.fixture
def shop(hub):
    """guide0 follows a0–a2, guide1 b0–b1 and (more recently than guide0) "both"; guide2 c0."""
    hub.corp.agent_id = 1000002
    hub.corp.save()
    people = {f"a{i}": _customer(hub, 0, f"wmA{i}") for i in range(3)}
    people |= {f"b{i}": _customer(hub, 1, f"wmB{i}") for i in range(2)}
    people["c0"] = _customer(hub, 2, "wmC0")
    both = _customer(hub, 0, "wmBOTH", days_ago=10)
    f.follow(both, hub.staff[1], added_at=now() - timedelta(days=2))
    people["both"] = both
    return people


def _guide(hub, i: int) -> Actor:
    return f.actor(hub.corp, role=Role.GUIDE, staff=hub.staff[i])


def _open_card(phone: Client, url: str, userid: str) -> str:
    """A member taps an app card in the WeCom client: its link, WeCom's authorize page (the
    sandbox asks who is using the client), back to Siyu; returns where Siyu sends them."""
    link = urlsplit(url)
    to_wecom = phone.get(link.path, dict(parse_qsl(link.query)))
    assert to_wecom.status_code == 302
    authorize = urlsplit(to_wecom["Location"])
    back = phone.get(authorize.path, {**dict(parse_qsl(authorize.query)), "userid": userid})
    assert back.status_code == 302
    landed = phone.get(back["Location"])
    return landed["Location"] if landed.status_code == 302 else landed


def _items(task, staff) -> set[str]:
    return set(GuideTaskItem.objects.filter(task=task, staff=staff).values_list("customer__external_userid", flat=True))


def test_each_guide_gets_exactly_their_own_customers_and_the_notice_at_the_chosen_hour(hub, shop, django_capture_on_commit_callbacks):
    task = _create(
        hub, django_capture_on_commit_callbacks, staff_ids=[hub.staff[0].id, hub.staff[1].id], notify_hour=(now().astimezone(hub.corp.tzinfo).hour + 2) % 24
    )
    _work()
    task.refresh_from_db()
    assert (task.status, task.guides_total, task.items_total, task.items_done) == ("active", 2, 6, 0)
    assert _items(task, hub.staff[0]) == {"wmA0", "wmA1", "wmA2"}
    assert _items(task, hub.staff[1]) == {"wmB0", "wmB1", "wmBOTH"}  # the newer follow takes the shared customer
    assert not GuideTaskItem.objects.filter(task=task, staff=hub.staff[2]).exists()  # not an allowed guide
    # Not yet the hour: nobody is told, and the task is not in the guides' lists yet.
    assert task.notify_at > now() and not SbAppMessage.objects.exists()
    assert list(selectors.my_assignments(_guide(hub, 0))) == []
    _due_now(task, "notify_")
    GuideTask.objects.filter(pk=task.pk).update(notify_at=now())
    assert "2 guides told" in _work()
    (card,) = SbAppMessage.objects.all()
    assert set(card.touser.split("|")) == {"guide0", "guide1"} and card.msgtype == "textcard"
    assert card.content["title"] == "新任务：回访新客"
    # The card's link signs the guide in through WeCom (no password on a phone) and opens their share.
    guide0 = _guide(hub, 0)
    phone = Client()
    landed = _open_card(phone, card.content["url"], "guide0")
    assert landed == f"/my/tasks/{task.pk}/" and phone.get(landed).context["assignment"].staff_id == guide0.staff_id
    assert GuideAssignment.objects.filter(task=task, notified_at__isnull=False).count() == 2
    _due_now(task, "notify_")
    _work()
    assert SbAppMessage.objects.count() == 1  # told once
    mine = list(selectors.my_assignments(_guide(hub, 0)))
    assert [(a.task_id, a.items_total) for a in mine] == [(task.pk, 3)]


def test_completion_comes_from_what_the_guide_does_after_the_start(hub, shop, django_capture_on_commit_callbacks):
    guide0 = _guide(hub, 0)
    # A note written before the task exists does not count for it.
    customer_note_add(actor=guide0, customer=shop["a0"], text="上周聊过")
    task = _create(hub, django_capture_on_commit_callbacks, staff_ids=[hub.staff[0].id], target=50)  # guide0 alone: a0–a2 and "both"
    _work()
    assert GuideTaskItem.objects.filter(task=task, status="done").count() == 0
    with django_capture_on_commit_callbacks(execute=True):
        customer_note_add(actor=guide0, customer=shop["a0"], text="回访：宝宝满6个月，推荐2段")
    item = GuideTaskItem.objects.get(task=task, customer=shop["a0"])
    assert (item.status, item.how) == ("done", "note")
    # Another guide's note about a customer of guide0's share completes nothing.
    customer_note_add(actor=hub.actor, customer=shop["a1"], text="HQ 备注", staff=hub.staff[1])
    assert GuideTaskItem.objects.get(task=task, customer=shop["a1"]).status == "open"
    task.refresh_from_db()
    assert (task.items_done, task.guides_done) == (1, 0)
    customer_note_add(actor=guide0, customer=shop["a1"], text="已回访")
    task.refresh_from_db()
    a = GuideAssignment.objects.get(task=task)
    assert (task.items_done, task.guides_done, a.items_done) == (2, 1, 2) and a.completed_at is not None  # 2 of 4 reach 50%
    # A second note on a done customer changes nothing.
    customer_note_add(actor=guide0, customer=shop["a1"], text="再次回访")
    task.refresh_from_db()
    assert (task.items_done, task.guides_done) == (2, 1)


def test_tag_tasks_complete_by_tags_set_in_siyu_or_in_wecom(hub, shop, django_capture_on_commit_callbacks):
    group = f.tag_group(hub.actor, "阶段", tags=["孕期", "1段"])
    stage1 = group.tags.get(name="1段")
    task = _create(hub, django_capture_on_commit_callbacks, kind="tag", tag_ids=[stage1.id], name="标记宝宝阶段")
    _work()
    # In Siyu: guide0 tags their customer.
    with django_capture_on_commit_callbacks(execute=True):
        customer_tags_change(actor=_guide(hub, 0), customer=shop["a0"], add=[stage1])
    assert GuideTaskItem.objects.get(task=task, customer=shop["a0"]).how == "tagged"
    # In WeCom's app: the tag arrives as a follow tag written by sync; the periodic pass finds it.
    follow = shop["b0"].follows.get(staff=hub.staff[1])
    FollowTag.objects.create(corp=hub.corp, follow=follow, tag=stage1)
    assert services.active_tag_tasks_refresh() == 1
    done = set(GuideTaskItem.objects.filter(task=task, status="done").values_list("customer__external_userid", flat=True))
    assert done == {"wmA0", "wmB0"}
    task.refresh_from_db()
    assert task.items_done == 2


def test_a_send_is_recorded_on_the_timeline_and_completes_the_customer_once(hub, shop, django_capture_on_commit_callbacks):
    task = _create(hub, django_capture_on_commit_callbacks, kind="send", text="6个月宝宝辅食指南", name="推送辅食指南")
    _work()
    guide0 = _guide(hub, 0)
    assert services.item_sent(actor=guide0, task=task, customer=shop["a0"]) == 1
    event = shop["a0"].timeline.get(kind="message_sent")
    assert event.staff == hub.staff[0] and event.data["guide_task"] == task.pk and event.data["via"] == "sidebar"
    with pytest.raises(Exception) as refused:
        services.item_sent(actor=guide0, task=task, customer=shop["a0"])
    assert getattr(refused.value, "code", "") == "nothing_open"
    # guide0 cannot complete guide1's customer.
    with pytest.raises(Exception) as refused:
        services.item_sent(actor=guide0, task=task, customer=shop["b0"])
    assert getattr(refused.value, "code", "") == "nothing_open"
    task.refresh_from_db()
    assert task.items_done == 1


def test_reminders_go_to_the_guides_then_their_store_manager_once_each_then_the_task_closes(hub, shop, django_capture_on_commit_callbacks):
    store = department_upsert(corp=hub.corp, wecom_id=31, name="徐汇店")
    manager = hub.add_staff("manager0", "店长")
    Staff.objects.filter(pk__in=[hub.staff[0].pk, hub.staff[1].pk]).update(department=store)
    Staff.objects.filter(pk=manager.pk).update(department=store, is_leader=True)
    task = _create(hub, django_capture_on_commit_callbacks, staff_ids=[hub.staff[0].id, hub.staff[1].id], target=50)
    _work()  # assigned and told
    assert SbAppMessage.objects.count() == 1
    # guide1 does two of three (≥ 50%): not behind.
    for who in ("b0", "b1"):
        customer_note_add(actor=_guide(hub, 1), customer=shop[who], text="已回访")
    _due_now(task, "remind_")
    assert "1 guides reminded" in _work()
    reminder = SbAppMessage.objects.order_by("-id").first()
    assert reminder.touser == "guide0" and reminder.content["title"].startswith("提醒")
    _due_now(task, "remind_")
    _work()
    assert SbAppMessage.objects.count() == 2  # the guide is reminded once
    # The deadline passes: the store manager hears once about guide0.
    GuideTask.objects.filter(pk=task.pk).update(ends_at=now() - timedelta(minutes=1))
    _due_now(task, "remind_")
    assert "1 managers told" in _work()
    escalation = SbAppMessage.objects.order_by("-id").first()
    assert escalation.touser == "manager0" and "导购0" in escalation.content["description"]
    _due_now(task, "remind_")
    _work()
    assert SbAppMessage.objects.count() == 3
    # A week on, the task closes.
    GuideTask.objects.filter(pk=task.pk).update(ends_at=now() - timedelta(days=8))
    _due_now(task, "remind_")
    _work()
    task.refresh_from_db()
    assert task.status == "closed"


def test_urged_tasks_come_first_and_their_laggards_get_a_card(hub, shop, django_capture_on_commit_callbacks):
    _create(hub, django_capture_on_commit_callbacks, name="先到期", ends_at=now() + timedelta(days=1))
    second = _create(hub, django_capture_on_commit_callbacks, name="后到期", ends_at=now() + timedelta(days=5))
    _work()
    guide0 = _guide(hub, 0)
    assert [a.task.name for a in selectors.my_assignments(guide0)] == ["先到期", "后到期"]
    before = SbAppMessage.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.guide_task_urge(actor=hub.actor, task=second) == 3
    assert [a.task.name for a in selectors.my_assignments(guide0)] == ["后到期", "先到期"]
    card = SbAppMessage.objects.order_by("-id").first()
    assert SbAppMessage.objects.count() == before + 1 and card.content["title"] == "催办：后到期"
    assert set(card.touser.split("|")) == {"guide0", "guide1", "guide2"}


def test_completion_per_guide_store_and_region_equals_a_plain_count(hub, shop, django_capture_on_commit_callbacks):
    east = department_upsert(corp=hub.corp, wecom_id=10, name="华东大区")
    shanghai = department_upsert(corp=hub.corp, wecom_id=11, name="上海店", parent=east)
    hangzhou = department_upsert(corp=hub.corp, wecom_id=12, name="杭州店", parent=east)
    Staff.objects.filter(pk=hub.staff[0].pk).update(department=shanghai)
    Staff.objects.filter(pk__in=[hub.staff[1].pk, hub.staff[2].pk]).update(department=hangzhou)
    task = _create(hub, django_capture_on_commit_callbacks)
    _work()
    for guide, who in ((0, "a0"), (0, "a1"), (1, "b0")):
        customer_note_add(actor=_guide(hub, guide), customer=shop[who], text="回访")
    by_staff = {r["name"]: (r["customers"], r["done"], r["on_time"]) for r in selectors.guide_task_completion(hub.actor, task)}
    assert by_staff == {"导购0": (3, 2, 2), "导购1": (3, 1, 1), "导购2": (1, 0, 0)}
    by_store = {r["name"]: (r["guides"], r["customers"], r["done"]) for r in selectors.guide_task_completion(hub.actor, task, by="department")}
    assert by_store == {"上海店": (1, 3, 2), "杭州店": (2, 4, 1)}
    (region,) = selectors.guide_task_completion(hub.actor, task, by="region", sort="rate")
    assert (region["name"], region["customers"], region["done"]) == ("华东大区", 7, 3)
    laggards = [r["name"] for r in selectors.guide_task_completion(hub.actor, task, sort="rate")]
    assert laggards == ["导购2", "导购1", "导购0"]


def test_a_guide_sees_only_their_own_share_and_cannot_create_tasks(hub, shop, django_capture_on_commit_callbacks):
    task = _create(hub, django_capture_on_commit_callbacks, staff_ids=[hub.staff[0].id])
    _work()
    guide0, guide1 = _guide(hub, 0), _guide(hub, 1)
    assert selectors.guide_task_get(guide0, task.pk) == task
    with pytest.raises(NotFound):
        selectors.guide_task_get(guide1, task.pk)  # no share in it
    with pytest.raises(Forbidden):
        services.guide_task_create(actor=guide0, name="x", kind="revisit", audience=EVERYONE, ends_at=now() + timedelta(days=1))
    with pytest.raises(Forbidden):
        selectors.guide_task_completion(guide0, task)
    other = f.corp("别家")
    with pytest.raises(NotFound):
        selectors.guide_task_get(f.actor(other), task.pk)


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"ends_at": None}, "ends_at_missing", "ends_at"),
        ({"ends_at": "past"}, "ends_at_past", "ends_at"),
        ({"kind": "send", "text": ""}, "empty_message", "text"),
        ({"kind": "tag", "tag_ids": []}, "bad_tags", "tag_ids"),
        ({"kind": "call"}, "bad_kind", "kind"),
        ({"target": 0}, "bad_target", "target"),
        ({"audience": {"kind": "customers", "external_userids": ["wmNOBODY"]}}, "empty_audience", "audience"),
        ({"audience": {"kind": "segment", "segment_id": 999999}}, "not_found", None),
        ({"starts_at": "past"}, "starts_at_past", "starts_at"),
        ({"name": " "}, "bad_name", "name"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_created(hub, shop, django_capture_on_commit_callbacks, fields, code, field):
    values = dict(fields)
    for key in ("ends_at", "starts_at"):
        if values.get(key) == "past":
            values[key] = now() - timedelta(hours=1)
    with pytest.raises((InvalidInput, NotFound)) as refused:
        _create(hub, django_capture_on_commit_callbacks, **values)
    assert (refused.value.code, refused.value.field) == (code, field)
    assert not GuideTask.objects.exists() and not DBTaskResult.objects.filter(task_path__startswith="siyu.guides").exists()


def test_hq_creates_in_the_console_and_a_guide_does_it_on_a_phone_page(hub, shop, django_capture_on_commit_callbacks):
    console = Client()
    console.force_login(hub.actor.user)
    deadline = (now() + timedelta(days=2)).astimezone(hub.corp.tzinfo).strftime("%Y-%m-%dT%H:%M")
    form = {
        "name": "回访新客",
        "kind": "revisit",
        "instructions": "问问宝宝月龄",
        "audience_kind": "filters",
        "query": f"staff={hub.staff[0].id}",
        "ends_at": deadline,
        "target": 100,
        "text": "",
        "a-TOTAL_FORMS": 0,
        "a-INITIAL_FORMS": 0,
    }
    refused = console.post("/guide-tasks/new/", {**form, "ends_at": "2020-01-01T10:00"})
    assert refused.status_code == 400 and 'id="id_ends_at_error"' in refused.content.decode() and 'value="回访新客"' in refused.content.decode()
    assert not GuideTask.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        created = console.post("/guide-tasks/new/", form)
    task = GuideTask.objects.get()
    assert created.status_code == 302 and created["Location"] == f"/guide-tasks/{task.id}/"
    _work()
    # What the list filtered (guide0's customers), each with the guide who follows them most recently.
    assert (_items(task, hub.staff[0]), _items(task, hub.staff[1])) == ({"wmA0", "wmA1", "wmA2"}, {"wmBOTH"})

    guide = Client()
    guide.force_login(_guide(hub, 0).user)
    mine = guide.get("/my/tasks/").content.decode()
    assert "回访新客" in mine and "已完成 0 / 3 位客户" in mine
    page = guide.get(f"/my/tasks/{task.id}/").content.decode()
    assert "问问宝宝月龄" in page and shop["a0"].name in page
    empty = guide.post(f"/my/tasks/{task.id}/done/", {"customer_id": shop["a0"].id, "text": " "})
    assert empty.status_code == 400 and f'id="refusal-{shop["a0"].id}" role="alert">请先填写跟进内容' in empty.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        done = guide.post(f"/my/tasks/{task.id}/done/", {"customer_id": shop["a0"].id, "text": "宝宝7个月，想了解2段"})
    assert done.status_code == 302
    assert GuideTaskItem.objects.get(task=task, customer=shop["a0"]).status == "done"
    assert shop["a0"].timeline.get(kind="note").data["text"] == "宝宝7个月，想了解2段"
    # Another guide's customer is not theirs to complete; HQ's pages are not theirs to open.
    assert guide.post(f"/my/tasks/{task.id}/done/", {"customer_id": shop["c0"].id, "text": "x"}).status_code == 404
    assert guide.get(f"/guide-tasks/{task.id}/").status_code == 403
    hq = console.get(f"/guide-tasks/{task.id}/", {"by": "staff"})
    assert hq.status_code == 200 and [(r["name"], r["done"], r["customers"]) for r in hq.context["completion"]] == [("导购0", 1, 3), ("导购1", 0, 1)]
    xlsx = console.get(f"/guide-tasks/{task.id}/completion.xlsx")
    assert xlsx.status_code == 200 and xlsx["Content-Type"].startswith("application/vnd.openxmlformats")


def test_a_mass_send_task_completes_from_wecoms_results(hub, shop, django_capture_on_commit_callbacks):
    task = _create(hub, django_capture_on_commit_callbacks, kind="mass_send", text="宝宝周岁礼：到店领取", name="周岁礼群发", staff_ids=[hub.staff[0].id])
    _work()
    task.refresh_from_db()
    assert task.mass_send is not None and task.mass_send.text == "宝宝周岁礼：到店领取"
    assert _items(task, hub.staff[0]) == {"wmA0", "wmA1", "wmA2", "wmBOTH"}  # guide0 is the only sender allowed
    messaging_work()
    # guide0 confirms in WeCom's mass-send assistant; one customer had deleted them meanwhile.
    SbFollow.objects.filter(customer__external_userid="wmA2").delete()
    confirm(hub, task.mass_send, 0)
    messaging_work()
    assert services.active_reported_tasks_refresh() == 3
    done = dict(GuideTaskItem.objects.filter(task=task).values_list("customer__external_userid", "how"))
    assert done == {"wmA0": "wecom", "wmA1": "wecom", "wmA2": "", "wmBOTH": "wecom"}
    task.refresh_from_db()
    assert task.items_done == 3 and services.active_reported_tasks_refresh() == 0  # once each


def test_a_mass_send_task_cannot_start_in_the_quiet_hours(hub, shop, django_capture_on_commit_callbacks):
    policy = budget.policy_for(hub.corp)
    policy.quiet_start, policy.quiet_end = time(22), time(8)
    policy.save()
    night = now().astimezone(hub.corp.tzinfo).replace(hour=23, minute=30) + timedelta(days=1)
    with pytest.raises(InvalidInput) as refused:
        _create(hub, django_capture_on_commit_callbacks, kind="mass_send", text="夜里别发", starts_at=night, ends_at=night + timedelta(days=2))
    assert (refused.value.code, refused.value.field) == ("quiet_hours", "starts_at")
    with pytest.raises(InvalidInput) as empty:
        _create(hub, django_capture_on_commit_callbacks, kind="mass_send", text="")
    assert empty.value.code == "empty_message"


def test_a_group_send_task_gives_each_owner_their_groups_and_completes_from_wecoms_results(hub, shop, chats, django_capture_on_commit_callbacks):
    task = _create(
        hub, django_capture_on_commit_callbacks, kind="group_send", name="直播预告", text="今晚八点直播", audience={"kind": "groups", "name_contains": "宝妈"}
    )
    _work()
    task.refresh_from_db()
    assert task.unit == "groups" and task.mass_send.chat_type == "group"
    groups = lambda staff: set(GuideTaskItem.objects.filter(task=task, staff=staff).values_list("group__name", flat=True))  # noqa: E731
    # Each owner's share is their own active groups; the dismissed one is nobody's.
    assert (groups(hub.staff[0]), groups(hub.staff[1])) == ({"宝妈一群", "宝妈二群"}, {"宝妈三群"})
    assert (task.guides_total, task.items_total) == (2, 3) and not GuideTaskItem.objects.filter(task=task, customer__isnull=False).exists()
    messaging_work()
    confirm(hub, task.mass_send, 0)  # guide0 sends it to their groups from 群发助手
    messaging_work()
    assert services.active_reported_tasks_refresh() == 2
    task.refresh_from_db()
    assert (task.items_done, task.guides_done) == (2, 1) and services.active_reported_tasks_refresh() == 0
    rows = {r["name"]: (r["customers"], r["done"]) for r in selectors.guide_task_completion(hub.actor, task)}
    assert rows == {"导购0": (2, 2), "导购1": (1, 0)}
    # The guide's page names their groups; the API says what the items are.
    guide = Client()
    guide.force_login(_guide(hub, 1).user)
    page = guide.get(f"/my/tasks/{task.id}/").content.decode()
    assert 'data-group="宝妈三群"' in page and "宝妈一群" not in page and "已完成 0 / 1 个群" in page
    api = ApiClient(f.token(hub.actor.user, hub.corp))
    assert api.get(f"/api/v1/guide-tasks/{task.id}").json()["unit"] == "groups"
    mine = ApiClient(f.token(_guide(hub, 1).user, hub.corp)).get(f"/api/v1/my/tasks/{task.id}/customers").json()
    assert [(i["group_name"], i["customer_id"], i["status"]) for i in mine] == [("宝妈三群", None, "open")]


def test_a_moment_task_gives_each_guide_one_post_that_counts_when_wecom_reports_it_published(hub, shop, django_capture_on_commit_callbacks):
    vip = f.tag_group(hub.actor, "会员", ["VIP"]).tags.get()
    task = _create(
        hub,
        django_capture_on_commit_callbacks,
        kind="moment",
        name="新品朋友圈",
        text="新品上市，到店试吃",
        audience=None,
        tag_ids=[vip.id],
        staff_ids=[hub.staff[0].id, hub.staff[1].id],
    )
    _work()
    task.refresh_from_db()
    assert task.unit == "posts" and task.moment.text == "新品上市，到店试吃" and task.moment.tag_ids == [vip.id]
    assert (task.guides_total, task.items_total) == (2, 2)
    assert set(GuideTaskItem.objects.filter(task=task).values_list("staff__userid", "customer_id", "group_id")) == {
        ("guide0", None, None),
        ("guide1", None, None),
    }
    _run_queue()  # the guide task makes messaging's moment
    task.moment.refresh_from_db()
    made = SbMoment.objects.get(moment_id=task.moment.moment_id)
    assert sorted(made.tasks.values_list("userid", flat=True)) == ["guide0", "guide1"]
    sandbox.moment_publish(moment=made, userid="guide1")
    Moment.objects.filter(pk=task.moment_id).update(pull_due_at=now())
    with django_capture_on_commit_callbacks(execute=True):
        moments.moment_pull(task.moment_id)
    assert services.active_reported_tasks_refresh() == 1
    item = GuideTaskItem.objects.get(task=task, staff=hub.staff[1])
    assert (item.status, item.how) == ("done", "posted")
    task.refresh_from_db()
    assert (task.items_done, task.guides_done) == (1, 1)
    guide = Client()
    guide.force_login(_guide(hub, 0).user)
    page = guide.get(f"/my/tasks/{task.id}/").content.decode()
    assert "尚未发表" in page and 'id="how-to"' in page and "新品上市，到店试吃" in page


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"kind": "moment", "text": "x", "audience": EVERYONE}, "bad_audience", "audience.kind"),
        ({"kind": "moment", "text": "长" * 2001, "audience": None}, "text_too_long", "text"),
        ({"kind": "moment", "text": "x", "audience": None, "tag_ids": [999999]}, "unknown_tag", "tag_ids"),
        ({"kind": "group_send", "text": "x", "audience": EVERYONE}, "bad_audience", "audience.kind"),
        ({"kind": "group_send", "text": "", "audience": {"kind": "groups"}}, "empty_message", "text"),
        ({"kind": "send", "text": "x", "audience": {"kind": "groups"}}, "bad_audience", "audience.kind"),
        ({"kind": "revisit", "audience": None}, "bad_audience", "audience.kind"),
    ],
)
def test_group_and_moment_tasks_refuse_what_they_cannot_do(hub, shop, django_capture_on_commit_callbacks, fields, code, field):
    with pytest.raises((InvalidInput, NotFound)) as refused:
        _create(hub, django_capture_on_commit_callbacks, **fields)
    assert (refused.value.code, refused.value.field) == (code, field)
    assert not GuideTask.objects.exists()


def test_a_group_send_task_needs_a_group_of_the_chosen_guides(hub, shop, chats, django_capture_on_commit_callbacks):
    with pytest.raises(InvalidInput) as refused:
        _create(hub, django_capture_on_commit_callbacks, kind="group_send", text="x", audience={"kind": "groups"}, staff_ids=[hub.staff[2].id])
    assert (refused.value.code, refused.value.field) == ("empty_audience", "audience")


def test_a_note_through_the_api_completes_the_guides_revisit_and_only_for_their_own_customer(hub, shop, django_capture_on_commit_callbacks):
    task = _create(hub, django_capture_on_commit_callbacks)
    _work()
    api = ApiClient(f.token(_guide(hub, 0).user, hub.corp))
    with django_capture_on_commit_callbacks(execute=True):
        made = api.post(f"/api/v1/customers/{shop['a0'].id}/notes", {"text": "宝宝8个月，问了辅食"})
    assert made.status_code == 201 and made.json()["kind"] == "note" and made.json()["data"]["text"] == "宝宝8个月，问了辅食"
    assert GuideTaskItem.objects.get(task=task, customer=shop["a0"]).how == "note"
    assert api.post(f"/api/v1/customers/{shop['b0'].id}/notes", {"text": "x"}).status_code == 404  # guide1's customer
    empty = api.post(f"/api/v1/customers/{shop['a1'].id}/notes", {"text": " "})
    assert empty.status_code == 400 and not shop["a1"].timeline.filter(kind="note").exists()


def test_hq_creates_group_send_and_moment_tasks_in_the_console(hub, shop, chats, django_capture_on_commit_callbacks):
    console = Client()
    console.force_login(hub.actor.user)
    deadline = (now() + timedelta(days=2)).astimezone(hub.corp.tzinfo).strftime("%Y-%m-%dT%H:%M")
    form = {"ends_at": deadline, "target": 100, "a-TOTAL_FORMS": 0, "a-INITIAL_FORMS": 0}
    groups = {**form, "name": "直播预告", "kind": "group_send", "audience_kind": "groups", "group_name": "宝妈", "text": "今晚八点直播"}
    wrong = console.post("/guide-tasks/new/", {**groups, "audience_kind": "segment", "segment": ""})
    assert wrong.status_code == 400 and not GuideTask.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert console.post("/guide-tasks/new/", groups).status_code == 302
    # A moment takes no audience: whatever the audience fields say is not asked for.
    post = {**form, "name": "新品朋友圈", "kind": "moment", "audience_kind": "segment", "segment": "", "text": "新品上市", "staff": [hub.staff[0].id]}
    with django_capture_on_commit_callbacks(execute=True):
        assert console.post("/guide-tasks/new/", post).status_code == 302
    made = {t.name: (t.kind, t.audience) for t in GuideTask.objects.all()}
    assert made == {"直播预告": ("group_send", {"kind": "groups", "group_ids": [], "name_contains": "宝妈"}), "新品朋友圈": ("moment", {})}
    _work()
    task = GuideTask.objects.get(kind="group_send")
    page = console.get(f"/guide-tasks/{task.id}/").content.decode()
    assert 'id="wecom-send"' in page and "<th>客户群</th>" in page


def test_the_cards_sign_in_makes_guides_of_staff_and_refuses_forged_links_leavers_and_other_sites(hub, shop):
    operator = f.user(hub.corp, Role.OPERATOR, staff=hub.staff[0])  # guide0 signs in as who they are in Siyu
    signin = f"/login/wecom/{hub.corp.corp_id}/"
    phone = Client()
    # Somewhere else is not where a card can send anyone: their task list instead.
    assert _open_card(phone, f"{signin}?next=https://evil.example/", "guide0") == "/my/tasks/"
    assert int(phone.session["_auth_user_id"]) == operator.pk
    # Staff without a Siyu user (guides are thousands, never invited one by one) become guides of
    # their own customers, once.
    for _twice in range(2):
        assert _open_card(Client(), f"{signin}?next=/my/tasks/", "guide2") == "/my/tasks/"
    (membership,) = Membership.objects.filter(corp=hub.corp, staff=hub.staff[2])
    assert membership.role == Role.GUIDE and not membership.user.has_usable_password()
    # Switched off by an administrator, they stay off: not let in, not made again.
    type(membership.user).objects.filter(pk=membership.user_id).update(is_active=False)
    switched_off = Client()
    refused = _open_card(switched_off, f"{signin}?next=/my/tasks/", "guide2")
    assert refused.status_code == 403 and "_auth_user_id" not in switched_off.session
    assert Membership.objects.filter(corp=hub.corp, staff=hub.staff[2]).count() == 1
    # Someone who left is not let in.
    Staff.objects.filter(pk=hub.staff[1].pk).update(status=Staff.Status.LEFT)
    leaver = Client()
    refused = _open_card(leaver, f"{signin}?next=/my/tasks/", "guide1")
    assert refused.status_code == 403 and "_auth_user_id" not in leaver.session
    # A code with another page's state (a link someone was sent) is refused before WeCom is asked.
    forged = Client()
    forged.get(signin)
    answer = forged.get(f"{signin}back/", {"code": "made-up", "state": "not-this-page"})
    assert answer.status_code == 403 and "_auth_user_id" not in forged.session
    assert Client().get("/login/wecom/wwNOSUCHCORP/").status_code == 404
