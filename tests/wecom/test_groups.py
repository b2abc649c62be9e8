"""Customer groups: change_external_chat callbacks and the groups phase of full sync, against the
sandbox over real HTTP. Whatever order events arrive in, the group ends as WeCom has it."""

import pytest

from siyu.customers.models import Customer, TimelineEvent
from siyu.groups.models import CustomerGroup, GroupMember
from siyu.sandbox import callbacks as wecom_sim
from siyu.sandbox import services as sandbox
from siyu.sandbox import views as sandbox_views
from siyu.sandbox.models import SbCustomer
from siyu.wecom.client import WeComClient, WeComError
from siyu.wecom.models import CallbackEvent
from siyu.wecom.sync import full_sync

pytestmark = pytest.mark.django_db(transaction=True)


def customers(hub, n, prefix="wmG"):
    out = []
    for i in range(n):
        follow, _ = wecom_sim.customer_adds_staff(hub.sb, hub.staff[i % 2], external_userid=f"{prefix}{i:03d}", name=f"群友{i}")
        out.append(follow.customer)
    hub.run_worker()
    return out


def current(group_chat_id):
    return set(GroupMember.objects.filter(group__chat_id=group_chat_id, left_at__isnull=True).values_list("userid", flat=True))


def kinds(external_userid):
    return list(
        TimelineEvent.objects.filter(customer__external_userid=external_userid, kind__in=["joined_group", "left_group"])
        .order_by("id")
        .values_list("kind", "data")
    )


def test_group_created_joined_left_dismissed(hub):
    a, b, c = customers(hub, 3)
    group, _ = wecom_sim.group_created(hub.sb, hub.staff[0], "宝妈交流群 1", [a, b])
    hub.run_worker()
    ours = CustomerGroup.objects.get(chat_id=group.chat_id)
    assert (ours.name, ours.owner.userid, ours.member_count, ours.status) == ("宝妈交流群 1", "guide0", 3, "active")
    assert current(group.chat_id) == {"guide0", a.external_userid, b.external_userid}
    assert GroupMember.objects.get(userid=a.external_userid).customer.external_userid == a.external_userid

    wecom_sim.customers_join_group(group, [c], state="poster-7")
    wecom_sim.members_leave_group(group, [a.external_userid], removed=True)
    hub.run_worker()
    assert current(group.chat_id) == {"guide0", b.external_userid, c.external_userid}
    assert GroupMember.objects.get(userid=c.external_userid).state == "poster-7"
    assert kinds(a.external_userid) == [("joined_group", {"group": "宝妈交流群 1", "state": ""}), ("left_group", {"group": "宝妈交流群 1", "how": "removed"})]
    assert kinds(c.external_userid)[0] == ("joined_group", {"group": "宝妈交流群 1", "state": "poster-7"})

    wecom_sim.group_dismissed(group)
    hub.run_worker()
    ours.refresh_from_db()
    assert (ours.status, ours.member_count) == ("dismissed", 0)
    assert current(group.chat_id) == set()
    assert kinds(b.external_userid)[-1] == ("left_group", {"group": "宝妈交流群 1", "how": "dismissed"})
    assert set(CallbackEvent.objects.filter(event="change_external_chat").values_list("status", flat=True)) == {"done"}


def test_group_events_twice_and_out_of_order_change_nothing_twice(hub):
    a, b = customers(hub, 2)
    group, created = wecom_sim.group_created(hub.sb, hub.staff[1], "会员群", [a])
    joined = wecom_sim.customers_join_group(group, [b])
    left = wecom_sim.members_leave_group(group, [a.external_userid])
    # WeCom retries: every event again, the newest first.
    for entry in (left, joined, created, left):
        assert wecom_sim.deliver(hub.sb, entry) == 200
    hub.run_worker()
    assert current(group.chat_id) == {"guide1", b.external_userid}
    assert CallbackEvent.objects.filter(event="change_external_chat").count() == 3
    assert kinds(a.external_userid) == []  # a joined and left before Siyu first looked: never seen in the group
    assert [k for k, _ in kinds(b.external_userid)] == ["joined_group"]
    # Replays after handling change nothing either.
    for entry in (created, joined, left):
        wecom_sim.deliver(hub.sb, entry)
    CallbackEvent.objects.update(status="received")
    hub.run_worker()
    assert [k for k, _ in kinds(b.external_userid)] == ["joined_group"]
    assert GroupMember.objects.filter(group__chat_id=group.chat_id).count() == 2  # the owner and b


def test_update_for_a_group_gone_in_wecom_marks_it_dismissed(hub):
    (a,) = customers(hub, 1)
    group, _ = wecom_sim.group_created(hub.sb, hub.staff[0], "临时群", [a])
    hub.run_worker()
    group.dismissed = True  # dismissed, but the dismiss event is lost; a late update arrives
    group.save()
    wecom_sim.send(hub.sb, "change_external_chat", "update", ChatId=group.chat_id, UpdateDetail="change_name")
    hub.run_worker()
    assert CustomerGroup.objects.get(chat_id=group.chat_id).status == "dismissed"
    assert kinds(a.external_userid)[-1][1]["how"] == "dismissed"


def test_a_member_who_becomes_a_customer_later_is_linked(hub):
    stranger = SbCustomer.objects.create(corp=hub.sb, external_userid="wmLATER", name="后加好友")
    group, _ = wecom_sim.group_created(hub.sb, hub.staff[0], "路人群", [stranger])
    hub.run_worker()
    assert GroupMember.objects.get(userid="wmLATER").customer is None
    wecom_sim.customer_adds_staff(hub.sb, hub.staff[0], external_userid="wmLATER", name="后加好友")
    hub.run_worker()
    assert GroupMember.objects.get(userid="wmLATER").customer == Customer.objects.get(external_userid="wmLATER")


def test_full_sync_brings_groups_and_dismisses_vanished_ones(hub, monkeypatch):
    # Above this many groups WeCom refuses a list without an owner filter; the sync always filters.
    monkeypatch.setattr(sandbox_views, "GROUP_LIST_UNFILTERED_MAX", 3)
    people = [sandbox.customer_add(corp=hub.sb, staff=hub.staff[i % 2], external_userid=f"wmS{i:03d}", name=f"客户{i}").customer for i in range(12)]
    groups = [sandbox.group_add(corp=hub.sb, owner=hub.staff[i % 2], name=f"群{i}", members=people[i : i + 4]) for i in range(6)]
    client = WeComClient(hub.corp, sleep=lambda s: None)
    with pytest.raises(WeComError) as refused:
        client.groupchat_list()
    assert refused.value.errcode == 81017

    run = full_sync(corp=hub.corp, client=client)
    assert run.status == "done" and run.phase == "groups"
    assert CustomerGroup.objects.filter(status="active").count() == 6
    assert run.counts["groups_seen"] == 6 and run.counts["group_members_joined"] == 6 * 5
    assert GroupMember.objects.filter(customer__isnull=False).count() == 6 * 4
    assert TimelineEvent.objects.filter(kind="joined_group").count() == 24

    groups[0].dismissed = True
    groups[0].save()
    groups[1].members.filter(type=2).first().delete()
    again = full_sync(corp=hub.corp, client=client)
    assert again.counts["groups_dismissed"] == 1 and again.counts["group_members_left"] == 1
    assert CustomerGroup.objects.get(chat_id=groups[0].chat_id).status == "dismissed"
    assert TimelineEvent.objects.filter(kind="joined_group").count() == 24
    assert TimelineEvent.objects.filter(kind="left_group").count() == 4 + 1


def test_groups_phase_resumes_after_an_interruption(hub):
    people = [sandbox.customer_add(corp=hub.sb, staff=hub.staff[0], external_userid=f"wmR{i:03d}", name=f"客户{i}").customer for i in range(3)]
    for i in range(5):
        sandbox.group_add(corp=hub.sb, owner=hub.staff[0], name=f"群{i}", members=people)
    client = WeComClient(hub.corp, sleep=lambda s: None, busy_retries=0)
    # The third groupchat/get fails for good: the page is not applied, the run stops resumable.
    sandbox.fault_inject(corp=hub.sb, errcode=-1, api="externalcontact/groupchat/get", after=2)
    with pytest.raises(WeComError):
        full_sync(corp=hub.corp, client=client)
    assert CustomerGroup.objects.count() == 0
    run = full_sync(corp=hub.corp, client=client)
    assert run.status == "done" and CustomerGroup.objects.count() == 5
    assert TimelineEvent.objects.filter(kind="joined_group").count() == 15
