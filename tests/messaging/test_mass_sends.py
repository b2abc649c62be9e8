"""Mass sends through the real client against the sandbox: one WeCom task per sender with exactly
their customers, splits, the contact-pressure budget and WeCom's receive cap, results and
counters after staff confirm, a worker that dies after WeCom accepted, rate limits and a departed
sender mid-send, reminders (3 a day, then the app), cancel, and bad input refused."""

from datetime import timedelta

import pytest
from django.test import Client, TestCase
from django.utils.module_loading import import_string
from django_tasks_db.models import DBTaskResult

from siyu.analytics.segments import SegmentFilters, segment_save
from siyu.corps.services import department_upsert
from siyu.groups.models import CustomerGroup
from siyu.kit.clock import now
from siyu.kit.errors import InvalidInput
from siyu.kit.tenancy import Role
from siyu.messaging import budget, mass_sends, selectors
from siyu.messaging.models import ContactPolicy, Delivery, GroupDelivery, MassSend, MassSendTask, StaffSend
from siyu.sandbox import services as sandbox
from siyu.sandbox.models import SbAppMessage, SbFollow, SbMsgTemplate, SbStaff
from siyu.wecom.client import WeComClient
from siyu.wecom.models import ApiState

from .. import factories as f
from ..acquisition.conftest import hub  # noqa: F401 — the in-process WeCom
from ..conftest import ApiClient

EVERYONE = {"kind": "filters", "filters": {}}


def _customer(hub, staff: int, external_userid: str, *, days_ago: float = 1, name: str = ""):
    """A customer followed by a member, the same in WeCom (the sandbox) and in Siyu."""
    added = now() - timedelta(days=days_ago)
    sandbox.customer_add(
        corp=hub.sb, staff=hub.sb_staff[staff], external_userid=external_userid, name=name or external_userid, createtime=int(added.timestamp())
    )
    customer = f.customer(hub.corp, name, external_userid=external_userid)
    f.follow(customer, hub.staff[staff], added_at=added)
    return customer


def _work(*, due=True) -> list:
    """Run what the worker would: the queued messaging tasks, oldest first, until none is left;
    with `due`, a pull waiting for its time is made due now (tests do not wait hours)."""
    outcomes = []
    for round_ in range(20):
        if due and round_ == 0:
            for pk in MassSend.objects.filter(pull_status="due").values_list("pk", flat=True):
                MassSend.objects.filter(pk=pk).update(pull_due_at=now())
                with TestCase.captureOnCommitCallbacks(execute=True):
                    outcomes.append(mass_sends.mass_send_pull(pk))
        queued = list(DBTaskResult.objects.filter(status="READY", task_path__startswith="siyu.messaging.tasks").order_by("id"))
        if not queued:
            return outcomes
        for task in queued:
            task.delete()
            with TestCase.captureOnCommitCallbacks(execute=True):
                outcomes.append(import_string(task.task_path).call(*task.args_kwargs["args"], **task.args_kwargs["kwargs"]))
    raise AssertionError("the work never ended")


def _create(hub, django_capture_on_commit_callbacks, **fields):
    with django_capture_on_commit_callbacks(execute=True):
        return mass_sends.mass_send_create(actor=hub.actor, **{"name": "双十二", "audience": EVERYONE, "text": "双十二会员日，到店有礼", **fields})


def _confirm(hub, send, staff: int):
    task = MassSendTask.objects.get(send=send, staff=hub.staff[staff])
    return sandbox.msg_template_confirm(template=SbMsgTemplate.objects.get(msgid=task.msgid), userid=hub.sb_staff[staff].userid)


@pytest.fixture
def shop(hub):
    """Four customers of guide0, three of guide1, two of guide2, and one both guide0 and (more
    recently) guide1 follow."""
    people = {}
    for i in range(4):
        people[f"a{i}"] = _customer(hub, 0, f"wmA{i}")
    for i in range(3):
        people[f"b{i}"] = _customer(hub, 1, f"wmB{i}")
    for i in range(2):
        people[f"c{i}"] = _customer(hub, 2, f"wmC{i}")
    both = _customer(hub, 0, "wmBOTH", days_ago=10)
    sandbox.customer_add(corp=hub.sb, staff=hub.sb_staff[1], external_userid="wmBOTH", name="wmBOTH")
    f.follow(both, hub.staff[1], added_at=now() - timedelta(days=2))
    people["both"] = both
    return people


def test_a_send_makes_one_task_per_sender_with_exactly_their_customers_and_results_come_back(hub, shop, django_capture_on_commit_callbacks):
    senders = [hub.staff[0].id, hub.staff[1].id]
    preview = mass_sends.mass_send_preview(hub.actor, audience=EVERYONE, staff_ids=senders)
    assert (preview["audience"], preview["planned"], preview["staff"], preview["tasks"]) == (10, 8, 2, 2)
    assert preview["skipped"] == {"wecom_cap": 0, "no_sender": 2}  # guide2's customers: no allowed sender
    assert [(r["name"], r["customers"]) for r in preview["split"]] == [("导购0", 4), ("导购1", 4)]

    send = _create(hub, django_capture_on_commit_callbacks, staff_ids=senders)
    _work()
    send.refresh_from_db()
    assert (send.status, send.audience_total, send.planned, send.tasks_total, send.tasks_created) == ("sending", 10, 8, 2, 2)
    # In WeCom: one task per sender, with that sender's customers (the shared one goes to guide1,
    # whose follow is newer).
    templates = {t.creator: t for t in SbMsgTemplate.objects.all()}
    assert set(templates) == {"guide0", "guide1"}
    assert sorted(templates["guide0"].sends.values_list("external_userid", flat=True)) == ["wmA0", "wmA1", "wmA2", "wmA3"]
    assert sorted(templates["guide1"].sends.values_list("external_userid", flat=True)) == ["wmB0", "wmB1", "wmB2", "wmBOTH"]
    assert templates["guide0"].text == "双十二会员日，到店有礼"

    # guide0 confirms; one of their customers had deleted them meanwhile.
    SbFollow.objects.filter(customer__external_userid="wmA3").delete()
    assert _confirm(hub, send, 0) == {0: 0, 1: 3, 2: 1, 3: 0}
    _work()
    send.refresh_from_db()
    assert (send.tasks_sent, send.sent, send.not_friend, send.over_cap) == (1, 3, 1, 0)
    by_task = {t.staff.userid: t.status for t in send.tasks.select_related("staff")}
    assert by_task == {"guide0": "sent", "guide1": "created"}
    assert Delivery.objects.get(send=send, external_userid="wmA3").status == "not_friend"
    assert Delivery.objects.filter(send=send, status="sent").count() == 3
    # A week on, guide1 never sent: the send closes and their customers are recorded unsent.
    MassSend.objects.filter(pk=send.pk).update(pull_due_at=now())
    MassSendTask.objects.filter(send=send).update(created_at=now() - timedelta(days=8))
    _work()
    send.refresh_from_db()
    assert send.status == "closed" and Delivery.objects.filter(send=send, status="unsent").count() == 4


def test_a_senders_customers_beyond_the_limit_go_in_further_tasks(hub, shop, django_capture_on_commit_callbacks, monkeypatch):
    monkeypatch.setattr(mass_sends, "MAX_RECIPIENTS", 3)  # WeCom's is 10,000; the rule is what is tested
    send = _create(hub, django_capture_on_commit_callbacks, staff_ids=[hub.staff[0].id])
    _work()
    parts = sorted(MassSendTask.objects.filter(send=send).values_list("part", "recipients", "status"))
    assert parts == [(0, 3, "created"), (1, 2, "created")]  # the shared customer is guide0's here: the only sender allowed
    assert sorted(len(t.sends.all()) for t in SbMsgTemplate.objects.all()) == [2, 3]


def test_the_budget_leaves_out_who_reached_wecoms_cap_or_the_brands_and_says_why(hub, shop, django_capture_on_commit_callbacks):
    ContactPolicy.objects.create(corp=hub.corp, wecom_cap="day_1", max_per_week=1, min_gap_hours=None)
    first = _create(hub, django_capture_on_commit_callbacks, audience={"kind": "customers", "external_userids": ["wmA0", "wmA1"]})
    _work()
    assert Delivery.objects.filter(send=first).count() == 2
    # The same day, WeCom's rule (1 a day) leaves both out; nobody is pushed past it.
    preview = mass_sends.mass_send_preview(hub.actor, audience=EVERYONE)
    assert preview["skipped"]["wecom_cap"] == 2 and preview["skipped"]["brand_week"] == 0
    second = _create(hub, django_capture_on_commit_callbacks)
    _work()
    second.refresh_from_db()
    assert second.skipped["wecom_cap"] == 2 and second.planned == 8
    assert not Delivery.objects.filter(send=second, external_userid__in=["wmA0", "wmA1"]).exists()
    # Two days on, WeCom's day is over, but the brand's 1 a week stops everyone who got one.
    Delivery.objects.update(planned_at=now() - timedelta(days=2))
    preview = mass_sends.mass_send_preview(hub.actor, audience=EVERYONE)
    assert preview["skipped"] == {"wecom_cap": 0, "brand_week": 10, "no_sender": 0}
    Delivery.objects.update(planned_at=now() - timedelta(days=8))
    assert mass_sends.mass_send_preview(hub.actor, audience=EVERYONE)["planned"] == 10
    # Quiet hours refuse a time inside them.
    policy = budget.policy_for(hub.corp)
    at = now().astimezone(hub.corp.tzinfo)
    policy.quiet_start, policy.quiet_end = (at - timedelta(hours=1)).time(), (at + timedelta(hours=1)).time()
    policy.save()
    with pytest.raises(InvalidInput) as refused:
        _create(hub, django_capture_on_commit_callbacks)
    assert refused.value.code == "quiet_hours" and refused.value.field == "send_at"


def test_wecoms_receive_cap_is_what_the_sandbox_enforces(hub, shop, django_capture_on_commit_callbacks):
    """The cap is WeCom's too: a customer over it gets status 3 from the sandbox and Siyu records it."""
    hub.sb.receive_cap = "day_1"
    hub.sb.save()
    # Another system (or a staff member's own send) reached wmA0 today: WeCom counts it, Siyu cannot.
    other = SbMsgTemplate.objects.create(corp=hub.sb, msgid="other", chat_type="single", creator="guide0", create_time=int(now().timestamp()))
    other.sends.create(userid="guide0", external_userid="wmA0", status=1, send_time=int(now().timestamp()))
    send = _create(hub, django_capture_on_commit_callbacks, staff_ids=[hub.staff[0].id])
    _work()
    _confirm(hub, send, 0)
    _work()
    send.refresh_from_db()
    assert (send.sent, send.over_cap) == (4, 1) and Delivery.objects.get(send=send, external_userid="wmA0").status == "over_cap"


def test_a_worker_killed_after_wecom_accepted_does_not_make_a_second_task(hub, shop, django_capture_on_commit_callbacks, monkeypatch):
    send = _create(hub, django_capture_on_commit_callbacks, staff_ids=[hub.staff[0].id, hub.staff[1].id])
    _work()  # planning only: the task creations are taken off the queue below
    SbMsgTemplate.objects.all().delete()
    MassSendTask.objects.filter(send=send).update(status="due", msgid="", attempted_at=None, created_at=None)
    task = MassSendTask.objects.get(send=send, staff=hub.staff[0])
    # The worker claims guide0's task, WeCom accepts, and the worker dies before writing the msgid.
    real = mass_sends.WeComClient.add_msg_template

    def dies_after_wecom_accepts(self, **kwargs):
        real(self, **kwargs)
        raise SystemExit("killed")

    monkeypatch.setattr(mass_sends.WeComClient, "add_msg_template", dies_after_wecom_accepts)
    with pytest.raises(SystemExit):
        mass_sends.mass_send_task_create(task.pk)
    monkeypatch.setattr(mass_sends.WeComClient, "add_msg_template", real)
    task.refresh_from_db()
    assert task.status == "creating" and task.attempted_at is not None and not task.msgid
    assert SbMsgTemplate.objects.filter(creator="guide0").count() == 1
    # The lease runs out; another worker takes the task over, finds WeCom's task and adopts it.
    MassSendTask.objects.filter(pk=task.pk).update(lease_until=now() - timedelta(seconds=1))
    assert mass_sends.mass_send_task_create(task.pk) == "adopted"
    task.refresh_from_db()
    assert task.status == "created" and task.msgid == SbMsgTemplate.objects.get(creator="guide0").msgid
    # guide1's task, made after, is its own; and nothing ran twice.
    assert mass_sends.mass_send_task_create(MassSendTask.objects.get(send=send, staff=hub.staff[1]).pk) == "created"
    assert SbMsgTemplate.objects.filter(creator="guide0").count() == 1 and SbMsgTemplate.objects.count() == 2


def test_rate_limits_mid_send_delay_the_rest_and_a_departed_sender_stops_only_their_task(hub, shop, django_capture_on_commit_callbacks):
    SbStaff.objects.filter(userid="guide2").delete()  # left the company: WeCom answers 60111
    send = _create(hub, django_capture_on_commit_callbacks)
    with TestCase.captureOnCommitCallbacks(execute=True):
        mass_sends.mass_send_plan(send.pk)
    tasks = {t.staff.userid: t for t in MassSendTask.objects.filter(send=send).select_related("staff")}
    patient = WeComClient(hub.corp, sleep=lambda seconds: None)  # the client's own pauses, without waiting
    assert mass_sends.mass_send_task_create(tasks["guide0"].pk, patient) == "created"
    # WeCom rate-limits longer than the client's own retries: guide1's task waits for later.
    sandbox.fault_inject(corp=hub.sb, errcode=45009, api="externalcontact/add_msg_template", times=7)
    assert mass_sends.mass_send_task_create(tasks["guide1"].pk, patient) == "failed"
    assert mass_sends.mass_send_task_create(tasks["guide2"].pk, patient) == "sender gone"
    waiting = MassSendTask.objects.get(pk=tasks["guide1"].pk)
    assert waiting.status == "failed" and waiting.due_at > now() and "45009" in waiting.error
    ApiState.objects.update(paused_until=None)
    MassSendTask.objects.filter(pk=waiting.pk).update(due_at=now())
    assert mass_sends.mass_send_task_create(waiting.pk, patient) == "created"
    statuses = dict(MassSendTask.objects.filter(send=send).values_list("staff__userid", "status"))
    assert statuses == {"guide0": "created", "guide1": "created", "guide2": "failed"}
    assert SbMsgTemplate.objects.filter(creator="guide0").count() == 1 and SbMsgTemplate.objects.filter(creator="guide1").count() == 1
    failed = MassSendTask.objects.get(pk=tasks["guide2"].pk)
    assert failed.error.startswith("60111") and not Delivery.objects.filter(task=failed, status="planned").exists()
    send.refresh_from_db()
    assert send.tasks_failed == 1


def test_an_answer_lost_on_the_way_is_not_repeated_but_found(hub, shop, django_capture_on_commit_callbacks, monkeypatch):
    """A timeout after WeCom made the task: the client does not call again (it would make a
    second task); the task is retried later and adopts what WeCom made."""
    send = _create(hub, django_capture_on_commit_callbacks, staff_ids=[hub.staff[0].id])
    with TestCase.captureOnCommitCallbacks(execute=True):
        mass_sends.mass_send_plan(send.pk)
    task = MassSendTask.objects.get(send=send)
    real_send = WeComClient._send

    def answer_lost(self, method, api, **kwargs):
        answer = real_send(self, method, api, **kwargs)
        if api == "externalcontact/add_msg_template":
            return {"errcode": -1, "errmsg": "transport: timed out", "transport": True}
        return answer

    monkeypatch.setattr(WeComClient, "_send", answer_lost)
    assert mass_sends.mass_send_task_create(task.pk) == "failed"
    monkeypatch.setattr(WeComClient, "_send", real_send)
    assert SbMsgTemplate.objects.count() == 1  # called once, not retried blind
    MassSendTask.objects.filter(pk=task.pk).update(due_at=now())
    assert mass_sends.mass_send_task_create(task.pk) == "adopted"
    assert SbMsgTemplate.objects.count() == 1 and MassSendTask.objects.get(pk=task.pk).msgid == SbMsgTemplate.objects.get().msgid


def test_reminders_stop_at_three_a_day_then_the_app_messages_the_staff(hub, shop, django_capture_on_commit_callbacks):
    hub.corp.agent_id = 1000002
    hub.corp.save()
    send = _create(hub, django_capture_on_commit_callbacks, staff_ids=[hub.staff[0].id])
    _work()
    for _n in range(3):
        assert mass_sends.mass_send_remind_in_wecom(send.pk) == {"reminded": 1, "app_message": 0, "skipped": 0}
    assert len(SbMsgTemplate.objects.get().remind_times) == 3
    assert mass_sends.mass_send_remind_in_wecom(send.pk) == {"reminded": 0, "app_message": 1, "skipped": 0}
    card = SbAppMessage.objects.get()
    assert card.touser == "guide0" and card.agentid == 1000002 and f"/mass-sends/{send.pk}/" in card.content["url"]
    assert mass_sends.mass_send_remind_in_wecom(send.pk) == {"reminded": 0, "app_message": 0, "skipped": 1}  # one card a day
    _confirm(hub, send, 0)
    _work()
    assert mass_sends.mass_send_remind_in_wecom(send.pk) == {"reminded": 0, "app_message": 0, "skipped": 0}  # sent: nobody to remind


def test_cancel_stops_what_staff_have_not_sent(hub, shop, django_capture_on_commit_callbacks):
    send = _create(hub, django_capture_on_commit_callbacks, staff_ids=[hub.staff[0].id, hub.staff[1].id])
    _work()
    _confirm(hub, send, 0)
    with django_capture_on_commit_callbacks(execute=True):
        mass_sends.mass_send_cancel(actor=hub.actor, send=send)
    _work()
    send.refresh_from_db()
    assert send.status == "cancelled"
    assert SbMsgTemplate.objects.get(creator="guide1").cancelled
    assert _confirm(hub, send, 1) == {0: 0, 1: 0, 2: 0, 3: 0}  # too late for guide1 to send it
    # What guide0 had sent stays sent; guide1's customers are recorded as never sent.
    assert Delivery.objects.filter(send=send, staff=hub.staff[1], status="unsent").count() == 4
    scheduled = _create(hub, django_capture_on_commit_callbacks, send_at=now() + timedelta(hours=3))
    assert mass_sends.mass_send_cancel(actor=hub.actor, send=scheduled).status == "cancelled"
    MassSend.objects.filter(pk=scheduled.pk).update(due_at=now())
    _work()
    assert not MassSendTask.objects.filter(send=scheduled).exists()


def test_bad_sends_are_refused_naming_the_field_and_nothing_is_made(hub, shop, django_capture_on_commit_callbacks):
    other = f.corp("别的企业")
    foreign = f.actor(other)
    foreign_segment = segment_save(actor=foreign, name="别人的分群", filters=SegmentFilters())
    cases = [
        ({"text": "字" * 1400}, "text"),  # 4,200 bytes
        ({"text": "", "attachments": []}, "text"),
        ({"attachments": [{"msgtype": "link", "link": {"title": "t", "url": "https://a.example"}}] * 10}, "attachments"),
        ({"audience": {"kind": "segment", "segment_id": foreign_segment.id}}, None),
        ({"audience": {"kind": "customers", "external_userids": ["wmNOBODY"]}}, "audience"),
        ({"audience": {"kind": "everyone"}}, "audience.kind"),
        ({"send_at": now() - timedelta(hours=1)}, "send_at"),
        ({"staff_ids": [999999]}, "staff_ids"),
        ({"name": ""}, "name"),
    ]
    for fields, field in cases:
        with pytest.raises(Exception) as refused:
            _create(hub, django_capture_on_commit_callbacks, **fields)
        assert getattr(refused.value, "status", 500) in (400, 404), (fields, refused.value)
        if field:
            assert refused.value.field == field, (fields, refused.value.field)
    assert not MassSend.objects.exists()


def test_the_api_creates_previews_lists_and_reports_completion_and_a_guide_sees_only_their_task(hub, shop, django_capture_on_commit_callbacks):
    api = ApiClient(f.token(hub.actor.user, hub.corp))
    audience = {"kind": "filters", "filters": {}}
    preview = api.post("/api/v1/mass-sends/preview", {"audience": audience, "staff_ids": [hub.staff[0].id, hub.staff[1].id]}).json()
    assert (preview["planned"], preview["skipped"]["no_sender"]) == (8, 2)
    with django_capture_on_commit_callbacks(execute=True):
        r = api.post("/api/v1/mass-sends", {"name": "会员日", "audience": audience, "text": "会员日到店有礼"})
    assert r.status_code == 201, r.content
    send_id = r.json()["id"]
    _work()
    _confirm(hub, MassSend.objects.get(pk=send_id), 1)
    _work()
    body = api.get(f"/api/v1/mass-sends/{send_id}").json()
    assert (body["status"], body["tasks_total"], body["tasks_sent"], body["sent"]) == ("sending", 3, 1, 4)
    assert [s["id"] for s in api.get("/api/v1/mass-sends").json()["items"]] == [send_id]
    completion = {row["name"]: (row["assigned"], row["sent"], row["on_time"]) for row in api.get(f"/api/v1/mass-sends/{send_id}/completion").json()}
    assert completion == {"导购0": (1, 0, 0), "导购1": (1, 1, 1), "导购2": (1, 0, 0)}
    laggards = [row["name"] for row in api.get(f"/api/v1/mass-sends/{send_id}/completion", sort="rate").json()]
    assert laggards == ["导购0", "导购2", "导购1"] and api.get(f"/api/v1/mass-sends/{send_id}/completion", sort="-rate").json()[0]["name"] == "导购1"
    tasks = api.get(f"/api/v1/mass-sends/{send_id}/tasks").json()
    assert {t["staff_userid"]: t["status"] for t in tasks} == {"guide0": "created", "guide1": "sent", "guide2": "created"}
    # A guide sees the send that gave them a task, and only their own task in it.
    guide = ApiClient(f.token(f.user(hub.corp, role=Role.GUIDE, staff=hub.staff[0]), hub.corp))
    assert [t["staff_userid"] for t in guide.get(f"/api/v1/mass-sends/{send_id}/tasks").json()] == ["guide0"]
    assert guide.get(f"/api/v1/mass-sends/{send_id}/completion").status_code == 403
    assert guide.post("/api/v1/mass-sends", {"name": "x", "audience": audience, "text": "x"}).status_code == 403
    # Refusals name the field; nothing is made.
    r = api.post("/api/v1/mass-sends", {"name": "长文", "audience": audience, "text": "字" * 1400})
    assert r.status_code == 400 and r.json()["error"]["field"] == "text"
    r = api.post("/api/v1/mass-sends", {"name": "空", "audience": {"kind": "customers", "external_userids": ["wmNOBODY"]}, "text": "x"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "empty_audience"
    assert MassSend.objects.count() == 1
    # The corp's contact policy.
    assert api.put("/api/v1/contact-policy", {"wecom_cap": "week_7", "max_per_week": 2, "quiet_start": "22:00", "quiet_end": "08:00"}).status_code == 200
    assert api.get("/api/v1/contact-policy").json()["wecom_cap"] == "week_7"
    r = api.put("/api/v1/contact-policy", {"wecom_cap": "week_7", "quiet_start": "22:00"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "quiet_end"
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post(f"/api/v1/mass-sends/{send_id}/remind").status_code == 202
    assert {"reminded": 2, "app_message": 0, "skipped": 0} in _work(due=False)


def test_the_console_sends_what_the_customer_list_shows_and_refuses_on_the_field(hub, shop, django_capture_on_commit_callbacks):
    console = Client()
    console.force_login(hub.actor.user)
    page = console.get("/mass-sends/new/", {"staff": hub.staff[2].id, "tag_mode": "all"}).content.decode()
    assert 'id="from-list"' in page
    form = {
        "name": "导购2的客户",
        "audience_kind": "filters",
        "query": f"staff={hub.staff[2].id}&tag_mode=all",
        "text": "你好",
        "a-TOTAL_FORMS": 0,
        "a-INITIAL_FORMS": 0,
    }
    preview = console.post("/mass-sends/new/", {**form, "action": "preview"})
    assert preview.status_code == 200 and preview.context["preview"]["planned"] == 2  # what the list filtered: guide2's two customers
    with django_capture_on_commit_callbacks(execute=True):
        created = console.post("/mass-sends/new/", {**form, "action": "send"})
    send = MassSend.objects.get(name="导购2的客户")
    assert created.status_code == 302 and created["Location"] == f"/mass-sends/{send.id}/"
    _work()
    assert sorted(Delivery.objects.filter(send=send).values_list("external_userid", flat=True)) == ["wmC0", "wmC1"]
    refused = console.post("/mass-sends/new/", {**form, "name": "太长", "text": "字" * 1400, "action": "send"})
    assert refused.status_code == 400 and 'id="id_text_error"' in refused.content.decode() and 'value="太长"' in refused.content.decode()
    refused = console.post("/mass-sends/new/", {**form, "audience_kind": "segment", "action": "preview"})
    assert refused.status_code == 400 and 'id="id_segment_error"' in refused.content.decode()
    assert MassSend.objects.count() == 1


def test_a_customers_profile_shows_what_they_received_this_month(hub, shop, django_capture_on_commit_callbacks):
    send = _create(hub, django_capture_on_commit_callbacks, audience={"kind": "customers", "external_userids": ["wmA0"]})
    _work()
    console = Client()
    console.force_login(hub.actor.user)
    page = console.get(f"/customers/{shop['a0'].id}/").content.decode()
    section = page[page.index('id="messages-this-month"') :]
    assert f'href="/mass-sends/{send.id}/"' in section and "双十二" in section and "导购0" in section
    assert "条企业群发中的 1 条" in section
    other = console.get(f"/customers/{shop['a1'].id}/").content.decode()
    assert "本月私域平台未给该客户发过消息" in other


def test_senders_by_region_take_its_stores_and_completion_reads_by_store_and_region(hub, shop, django_capture_on_commit_callbacks):
    east = department_upsert(corp=hub.corp, wecom_id=10, name="华东大区")
    shanghai = department_upsert(corp=hub.corp, wecom_id=11, name="上海店", parent=east)
    north = department_upsert(corp=hub.corp, wecom_id=20, name="华北大区")
    for staff, dept in ((hub.staff[0], shanghai), (hub.staff[1], north), (hub.staff[2], shanghai)):
        staff.department = dept
        staff.save()
    preview = mass_sends.mass_send_preview(hub.actor, audience=EVERYONE, department_ids=[east.id])
    assert {r["name"] for r in preview["split"]} == {"导购0", "导购2"}  # the region's store, not the other region
    send = _create(hub, django_capture_on_commit_callbacks, department_ids=[east.id])
    _work()
    _confirm(hub, send, 0)
    _work()
    send.refresh_from_db()
    by_store = {r["name"]: (r["assigned"], r["sent"]) for r in selectors.mass_send_completion(hub.actor, send, by="department")}
    by_region = {r["name"]: (r["assigned"], r["sent"], r["rate"]) for r in selectors.mass_send_completion(hub.actor, send, by="region")}
    assert by_store == {"上海店": (2, 1)} and by_region == {"华东大区": (2, 1, 0.5)}
    with pytest.raises(InvalidInput) as refused:
        _create(hub, django_capture_on_commit_callbacks, department_ids=[999999])
    assert refused.value.field == "department_ids"


def test_what_staff_send_on_their_own_is_mirrored_once_and_shown(hub, shop, django_capture_on_commit_callbacks):
    sandbox.staff_sends_own(staff=hub.sb_staff[1], external_userids=["wmB0", "wmB1"], text="新品到店")
    sandbox.staff_sends_own(staff=hub.sb_staff[1], external_userids=["wmB2"], text="会员日")
    _create(hub, django_capture_on_commit_callbacks)  # HQ's own send: a corp send, not a member's
    _work()
    assert mass_sends.staff_sends_mirror(hub.corp.pk) == 2
    assert mass_sends.staff_sends_mirror(hub.corp.pk) == 0  # the next hour finds nothing new
    assert set(StaffSend.objects.values_list("creator", "text")) == {("guide1", "新品到店"), ("guide1", "会员日")}
    assert selectors.staff_send_counts(hub.actor)[0] == {**selectors.staff_send_counts(hub.actor)[0], "userid": "guide1", "name": "导购1", "sends": 2}
    console = Client()
    console.force_login(hub.actor.user)
    page = console.get("/mass-sends/").content.decode()
    assert 'id="staff-own-sends"' in page and 'data-staff="guide1"' in page


@pytest.fixture
def chats(hub):
    """Groups in WeCom and in Siyu: two of guide0's, one of guide1's, one of guide1's dismissed."""
    made = {}
    for name, owner in (("宝妈一群", 0), ("宝妈二群", 0), ("宝妈三群", 1), ("员工群", 1)):
        group = sandbox.group_add(corp=hub.sb, owner=hub.sb_staff[owner], name=name)
        made[name] = CustomerGroup.objects.create(corp=hub.corp, chat_id=group.chat_id, name=name, owner=hub.staff[owner])
    CustomerGroup.objects.filter(pk=made["员工群"].pk).update(status="dismissed")
    return made


def test_a_group_send_goes_to_each_owner_with_their_groups_and_respects_the_groups_cap(hub, chats, django_capture_on_commit_callbacks):
    groups = {"kind": "groups", "name_contains": "宝妈"}
    preview = mass_sends.mass_send_preview(hub.actor, audience=groups)
    assert (preview["audience"], preview["planned"], preview["tasks"]) == (3, 3, 2)
    with django_capture_on_commit_callbacks(execute=True):
        send = mass_sends.mass_send_create(actor=hub.actor, name="群公告", chat_type="group", audience=groups, text="今晚八点直播")
    _work()
    templates = {t.creator: t for t in SbMsgTemplate.objects.filter(chat_type="group")}
    assert sorted(templates["guide0"].sends.values_list("chat_id", flat=True)) == sorted([chats["宝妈一群"].chat_id, chats["宝妈二群"].chat_id])
    assert list(templates["guide1"].sends.values_list("chat_id", flat=True)) == [chats["宝妈三群"].chat_id]
    _confirm(hub, send, 0)
    _work()
    send.refresh_from_db()
    assert (send.tasks_sent, send.sent) == (1, 2)
    assert set(GroupDelivery.objects.filter(send=send, status="sent").values_list("group__name", flat=True)) == {"宝妈一群", "宝妈二群"}
    # WeCom's 1-a-day rule holds for groups too: today the two groups that got it are left out.
    ContactPolicy.objects.create(corp=hub.corp, wecom_cap="day_1")
    preview = mass_sends.mass_send_preview(hub.actor, audience=groups)
    assert preview["skipped"] == {"wecom_cap": 3} and preview["planned"] == 0  # 宝妈三群's is still planned: it counts
    # A send to customers cannot name groups, nor a group send customers.
    with pytest.raises(InvalidInput):
        mass_sends.mass_send_create(actor=hub.actor, name="错", audience=groups, text="x")
    with pytest.raises(InvalidInput):
        mass_sends.mass_send_create(actor=hub.actor, name="错", chat_type="group", audience=EVERYONE, text="x")


def test_the_console_and_the_api_send_to_groups(hub, chats, django_capture_on_commit_callbacks):
    console = Client()
    console.force_login(hub.actor.user)
    form = {"name": "直播预告", "audience_kind": "groups", "groups": [chats["宝妈三群"].id], "text": "今晚八点", "a-TOTAL_FORMS": 0, "a-INITIAL_FORMS": 0}
    with django_capture_on_commit_callbacks(execute=True):
        r = console.post("/mass-sends/new/", {**form, "action": "send"})
    assert r.status_code == 302, r.content.decode()[:500]
    send = MassSend.objects.get(name="直播预告")
    assert send.chat_type == "group"
    _work()
    assert list(GroupDelivery.objects.filter(send=send).values_list("group__name", "staff__userid")) == [("宝妈三群", "guide1")]
    api = ApiClient(f.token(hub.actor.user, hub.corp))
    with django_capture_on_commit_callbacks(execute=True):
        r = api.post("/api/v1/mass-sends", {"name": "群发二", "chat_type": "group", "audience": {"kind": "groups", "name_contains": "二群"}, "text": "x"})
    assert r.status_code == 201 and r.json()["chat_type"] == "group"
    r = api.post("/api/v1/mass-sends", {"name": "坏", "chat_type": "group", "audience": {"kind": "groups", "group_ids": [999999]}, "text": "x"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "audience.group_ids"


def test_deleting_a_customer_or_a_send_takes_their_deliveries_with_them(hub, shop, django_capture_on_commit_callbacks):
    # The ledger has no foreign-key constraints in the database (a send writes millions of rows at
    # once): Django's on_delete is what keeps it whole.
    send = _create(hub, django_capture_on_commit_callbacks)
    _work()
    assert Delivery.objects.filter(send=send).count() == 10
    shop["a0"].delete()
    assert not Delivery.objects.filter(customer_id=shop["a0"].pk).exists()
    assert Delivery.objects.filter(send=send).count() == 9
    other = _create(hub, django_capture_on_commit_callbacks, name="第二次")
    _work()
    send.delete()
    assert not Delivery.objects.filter(send_id=send.pk).exists() and not MassSendTask.objects.filter(send_id=send.pk).exists()
    assert Delivery.objects.filter(send=other).count() == 9
    assert set(Delivery.objects.values_list("customer__corp", flat=True)) == {hub.corp.pk}
