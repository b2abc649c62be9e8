"""Staff handover through the real client against the sandbox: a guide's customers move to another
guide with their tags, notes and open task items, and their groups with them; WeCom's limit of two
moves in 90 days is refused before WeCom is asked, with the reason; a lost answer sends nobody
twice; a leaver's customers go through WeCom's resigned endpoints."""

from datetime import timedelta

import pytest
from django.test import Client, TestCase
from django.utils.module_loading import import_string
from django_tasks_db.models import DBTaskResult

from siyu.corps.models import Staff
from siyu.customers.models import Follow, FollowTag
from siyu.customers.services import customer_note_add, customer_tags_change
from siyu.groups.models import CustomerGroup
from siyu.guides import handover as handovers
from siyu.guides.models import GuideAssignment, GuideTaskItem, Handover, HandoverItem
from siyu.kit.clock import now
from siyu.kit.errors import Forbidden, InvalidInput
from siyu.kit.tenancy import Role
from siyu.sandbox import callbacks as wecom_sim
from siyu.sandbox.models import SbCallLog, SbFollow, SbGroup, SbStaff, SbTransfer
from siyu.wecom.client import WeComClient
from siyu.wecom.models import CallbackEvent

from .. import factories as f
from ..acquisition.conftest import hub  # noqa: F401 — the in-process WeCom
from ..conftest import ApiClient
from .test_guide_tasks import _create, _work, shop  # noqa: F401 — the fixture


def _run(task_path: str) -> list:
    """Run the queued handover work (due now or not: time passes in the test)."""
    outcomes = []
    for task in DBTaskResult.objects.filter(status="READY", task_path=task_path).order_by("id"):
        task.delete()
        with TestCase.captureOnCommitCallbacks(execute=True):
            outcomes.append(import_string(task_path).call(*task.args_kwargs["args"]))
    return outcomes


def _accepted(hub, h: Handover) -> None:
    """A day later the customers have accepted: WeCom's callbacks arrive, and Siyu's pull of
    transfer_result (queued for later, run now) settles the handover."""
    wecom_sim.transfers_complete(corp=hub.sb)
    Handover.objects.filter(pk=h.pk).update(pull_due_at=now())
    hub.handle_callbacks()  # the callbacks, then the other queued work: the pull among it
    h.refresh_from_db()


def _transfer_calls(hub) -> int:
    return SbCallLog.objects.filter(corp=hub.sb, api="externalcontact/transfer_customer", errcode=0).count()


def test_customers_move_with_their_tags_notes_tasks_and_groups(hub, shop, django_capture_on_commit_callbacks):
    group = f.tag_group(hub.actor, "宝宝月龄", tags=["6-12月"])
    tag = group.tags.get()
    with django_capture_on_commit_callbacks(execute=True):
        customer_tags_change(actor=hub.actor, customer=shop["a0"], add=[tag], staff=hub.staff[0])
    hub.handle_callbacks()  # the tag reaches WeCom (mark_tag)
    customer_note_add(actor=f.actor(hub.corp, role=Role.GUIDE, staff=hub.staff[0]), customer=shop["a0"], text="宝宝8个月，喝2段")
    task = _create(hub, django_capture_on_commit_callbacks, kind="revisit", name="回访")
    _work()
    owner = next(s for s in hub.sb_staff if s.userid == "guide0")
    SbGroup.objects.create(corp=hub.sb, chat_id="wrHAND1", name="宝妈群", owner=owner, create_time=1)
    CustomerGroup.objects.create(corp=hub.corp, chat_id="wrHAND1", name="宝妈群", owner=hub.staff[0])

    with django_capture_on_commit_callbacks(execute=True):
        h = handovers.handover_create(
            actor=hub.actor, handover_staff_id=hub.staff[0].id, takeover_staff_id=hub.staff[2].id, groups=True, message="您好，我是新的专属顾问"
        )
    assert (h.customers, h.over_limit, h.resigned) == (4, 0, False)  # a0–a2 and "both"
    assert _run("siyu.guides.tasks.send_handover") == ["sent"]
    h.refresh_from_db()
    assert h.status == "waiting" and h.groups_moved == 1
    assert SbGroup.objects.get(chat_id="wrHAND1").owner.userid == "guide2"
    assert CustomerGroup.objects.get(chat_id="wrHAND1").owner == hub.staff[2]
    assert SbTransfer.objects.filter(corp=hub.sb, handover_userid="guide0", takeover_userid="guide2").count() == 4

    # The customers accept (WeCom waits a day); its callbacks and Siyu's pull say the same.
    _accepted(hub, h)
    assert h.status == "done" and set(h.items.values_list("status", flat=True)) == {"done"}
    for key in ("a0", "a1", "a2", "both"):
        follows = {fw.staff.userid: fw.is_active for fw in Follow.objects.filter(customer=shop[key]).select_related("staff")}
        assert follows.get("guide2") is True and follows.get("guide0") is False, (key, follows)
    taken = Follow.objects.get(customer=shop["a0"], staff=hub.staff[2])
    assert list(FollowTag.objects.filter(follow=taken).values_list("tag__name", flat=True)) == ["6-12月"]
    # The note is the customer's: the new guide sees it; the open revisits are theirs now.
    assert shop["a0"].timeline.filter(kind="note", data__text="宝宝8个月，喝2段").exists()
    moved = GuideTaskItem.objects.filter(task=task, customer__in=[shop["a0"], shop["a1"], shop["a2"]])
    assert set(moved.values_list("staff_id", flat=True)) == {hub.staff[2].id}
    shares = dict(GuideAssignment.objects.filter(task=task).values_list("staff_id", "items_total"))
    assert shares[hub.staff[0].id] == 0 and shares[hub.staff[2].id] == 4  # c0, and a0–a2
    assert shares[hub.staff[2].id] == GuideTaskItem.objects.filter(task=task, staff=hub.staff[2]).count()


def test_wecoms_two_moves_in_90_days_are_refused_before_wecom_is_asked(hub, shop, django_capture_on_commit_callbacks):
    customer = shop["c0"]
    for giver, taker in ((2, 0), (0, 1)):
        with django_capture_on_commit_callbacks(execute=True):
            h = handovers.handover_create(
                actor=hub.actor, handover_staff_id=hub.staff[giver].id, takeover_staff_id=hub.staff[taker].id, customer_ids=[customer.id]
            )
        _run("siyu.guides.tasks.send_handover")
        _accepted(hub, h)
    assert Follow.objects.get(customer=customer, staff=hub.staff[1]).is_active
    calls = _transfer_calls(hub)
    with pytest.raises(InvalidInput) as refused:
        handovers.handover_create(actor=hub.actor, handover_staff_id=hub.staff[1].id, takeover_staff_id=hub.staff[2].id, customer_ids=[customer.id])
    assert (refused.value.code, refused.value.field) == ("over_limit", "customer_ids") and "90" in refused.value.message
    # With the guide's other customers, the one over the limit is kept back and said so.
    with django_capture_on_commit_callbacks(execute=True):
        h = handovers.handover_create(actor=hub.actor, handover_staff_id=hub.staff[1].id, takeover_staff_id=hub.staff[2].id)
    assert h.over_limit == 1 and h.items.get(customer=customer).status == "limit"
    _run("siyu.guides.tasks.send_handover")
    assert _transfer_calls(hub) == calls + 1
    assert not SbTransfer.objects.filter(external_userid=customer.external_userid, takeover_userid="guide2").exists()
    # After 90 days the customer may move again.
    HandoverItem.objects.filter(customer=customer).update(sent_at=now() - timedelta(days=91))
    assert handovers.handover_plan(actor=hub.actor, handover_staff_id=hub.staff[1].id, takeover_staff_id=hub.staff[2].id)["over_limit"] == []


def test_a_lost_answer_sends_nobody_twice(hub, shop, django_capture_on_commit_callbacks, monkeypatch):
    with django_capture_on_commit_callbacks(execute=True):
        h = handovers.handover_create(actor=hub.actor, handover_staff_id=hub.staff[1].id, takeover_staff_id=hub.staff[2].id)
    real = WeComClient.transfer_customer

    def lost(self, **kwargs):
        real(self, **kwargs)  # WeCom took them; the answer never came back
        raise ConnectionError("connection reset")

    monkeypatch.setattr(WeComClient, "transfer_customer", lost)
    assert handovers.handover_send(h.pk) == "failed"
    assert set(h.items.values_list("status", flat=True)) == {"sending"}
    monkeypatch.setattr(WeComClient, "transfer_customer", real)
    Handover.objects.filter(pk=h.pk).update(due_at=now())
    assert handovers.handover_send(h.pk) == "sent"
    # Each customer WeCom took is in WeCom once; "both" follows guide1 only in Siyu, and WeCom says so.
    assert sorted(SbTransfer.objects.filter(corp=hub.sb, handover_userid="guide1").values_list("external_userid", flat=True)) == ["wmB0", "wmB1"]
    assert set(h.items.values_list("customer__external_userid", "status", "errcode")) == {
        ("wmB0", "waiting", 0),
        ("wmB1", "waiting", 0),
        ("wmBOTH", "rejected", 84061),
    }


def test_a_leavers_customers_go_through_the_resigned_endpoints(hub, shop, django_capture_on_commit_callbacks):
    Staff.objects.filter(pk=hub.staff[1].pk).update(status=Staff.Status.LEFT)
    SbStaff.objects.filter(corp=hub.sb, userid="guide1").update(external_enabled=False)
    client = WeComClient(hub.corp)
    unassigned = {row["external_userid"] for page, _ in client.iter_unassigned() for row in page}
    assert unassigned == set(SbFollow.objects.filter(corp=hub.sb, staff__userid="guide1").values_list("customer__external_userid", flat=True))
    with pytest.raises(InvalidInput) as refused:
        handovers.handover_create(actor=hub.actor, handover_staff_id=hub.staff[1].id, takeover_staff_id=hub.staff[2].id, message="你好")
    assert refused.value.code == "no_message_when_resigned"
    with django_capture_on_commit_callbacks(execute=True):
        h = handovers.handover_create(actor=hub.actor, handover_staff_id=hub.staff[1].id, takeover_staff_id=hub.staff[2].id)
    assert h.resigned
    _run("siyu.guides.tasks.send_handover")
    assert SbCallLog.objects.filter(corp=hub.sb, api="externalcontact/resigned/transfer_customer", errcode=0).count() == 1
    # WeCom's callbacks are lost this time: Siyu's pull alone moves the follow and its tags.
    tag = f.tag_group(hub.actor, "等级", tags=["VIP"]).tags.get()
    FollowTag.objects.create(corp=hub.corp, follow=Follow.objects.get(customer=shop["b0"], staff=hub.staff[1]), tag=tag)
    wecom_sim.transfers_complete(corp=hub.sb)
    CallbackEvent.objects.filter(corp=hub.corp, status="received").delete()
    Handover.objects.filter(pk=h.pk).update(pull_due_at=now())
    assert _run("siyu.guides.tasks.pull_handover") == ["closed"]
    assert dict(h.items.values_list("customer__external_userid", "status")) == {"wmB0": "done", "wmB1": "done", "wmBOTH": "rejected"}
    taken = Follow.objects.get(customer=shop["b0"], staff=hub.staff[2])
    assert taken.is_active and list(taken.follow_tags.values_list("tag__name", flat=True)) == ["VIP"]
    assert not Follow.objects.get(customer=shop["b0"], staff=hub.staff[1]).is_active
    assert not list(WeComClient(hub.corp).iter_unassigned())[0][0]  # WeCom has nobody of theirs left unassigned


@pytest.mark.parametrize(
    ("fields", "code", "field"),
    [
        ({"takeover_staff_id": "self"}, "same_staff", "takeover_staff_id"),
        ({"takeover_staff_id": 999999}, "no_such_staff", "takeover_staff_id"),
        ({"customer_ids": "theirs"}, "not_their_customer", "customer_ids"),
        ({"takeover_staff_id": "left"}, "taker_left", "takeover_staff_id"),
    ],
)
def test_bad_handovers_are_refused_naming_the_field(hub, shop, fields, code, field):
    values = {"handover_staff_id": hub.staff[0].id, "takeover_staff_id": hub.staff[1].id}
    if fields.get("takeover_staff_id") == "self":
        fields = {"takeover_staff_id": hub.staff[0].id}
    if fields.get("takeover_staff_id") == "left":
        Staff.objects.filter(pk=hub.staff[2].pk).update(status=Staff.Status.LEFT)
        fields = {"takeover_staff_id": hub.staff[2].id}
    if fields.get("customer_ids") == "theirs":
        fields = {"customer_ids": [shop["b0"].id]}
    with pytest.raises(InvalidInput) as refused:
        handovers.handover_create(actor=hub.actor, **{**values, **fields})
    assert (refused.value.code, refused.value.field) == (code, field)
    assert not Handover.objects.exists()
    with pytest.raises(Forbidden):
        handovers.handover_create(actor=f.actor(hub.corp, role=Role.GUIDE, staff=hub.staff[0]), **values)


def test_hq_hands_over_in_the_console_and_the_api(hub, shop, django_capture_on_commit_callbacks):
    client = Client()
    client.force_login(hub.actor.user)
    refused = client.post("/handovers/", {"handover_staff": hub.staff[0].id, "takeover_staff": hub.staff[0].id})
    assert refused.status_code == 400 and 'class="field-error"' in refused.content.decode()
    assert not Handover.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        made = client.post("/handovers/", {"handover_staff": hub.staff[2].id, "takeover_staff": hub.staff[0].id, "message": "新顾问为您服务"})
    h = Handover.objects.get()
    assert made.status_code == 302 and made["Location"] == f"/handovers/{h.id}/"
    _run("siyu.guides.tasks.send_handover")
    page = client.get(f"/handovers/{h.id}/").content.decode()
    assert shop["c0"].name in page and 'data-outcome="waiting"' in page
    api = ApiClient(f.token(f.user(hub.corp, Role.OPERATOR), hub.corp))
    plan = api.post("/api/v1/handovers/plan", {"handover_staff_id": hub.staff[1].id, "takeover_staff_id": hub.staff[0].id}).json()
    assert plan == {"resigned": False, "customers": 3, "over_limit": [], "groups": 0}
    detail = api.get(f"/api/v1/handovers/{h.id}").json()
    assert detail["outcomes"]["waiting"] == 1 and detail["handover_staff_name"] == hub.staff[2].name
    assert [r["customer_id"] for r in api.get(f"/api/v1/handovers/{h.id}/customers").json()] == [shop["c0"].id]
    bad = api.post("/api/v1/handovers", {"handover_staff_id": hub.staff[0].id, "takeover_staff_id": 999999})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "takeover_staff_id"
    # A leaver's customers, as WeCom lists them unassigned, with a way to hand them over.
    Staff.objects.filter(pk=hub.staff[1].pk).update(status=Staff.Status.LEFT)
    SbStaff.objects.filter(corp=hub.sb, userid="guide1").update(external_enabled=False)
    listed = client.get("/handovers/unassigned/").content.decode()
    assert "guide1" in listed and f"?staff={hub.staff[1].id}" in listed
    assert api.get("/api/v1/handovers/unassigned").json() == [
        {"userid": "guide1", "staff_id": hub.staff[1].id, "staff_name": hub.staff[1].name, "customers": 2}
    ]
