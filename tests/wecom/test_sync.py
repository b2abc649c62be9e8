"""Full sync against the sandbox over real HTTP: complete, idempotent, resumable, fault tolerant."""

import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command

from siyu.corps.models import Department, Staff
from siyu.customers.models import Customer, Follow, FollowTag
from siyu.kit.tenancy import Actor
from siyu.sandbox import services as sandbox
from siyu.sandbox.models import SbCallLog, SbFollow
from siyu.tags.models import Tag, TagGroup
from siyu.tags.services import tag_group_create
from siyu.wecom import client as client_module
from siyu.wecom.client import WeComClient, WeComError
from siyu.wecom.models import SyncRun
from siyu.wecom.sync import full_sync

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def populated(hub):
    sb = hub.sb
    sandbox.department_add(corp=sb, dept_id=1, name="总部")
    sandbox.department_add(corp=sb, dept_id=2, name="上海门店", parent_id=1)
    hub.staff.append(sandbox.staff_add(corp=sb, userid="guide2", name="新导购", department=2))
    group = sandbox.tag_group_add(corp=sb, name="客户等级", tags=["新客", "VIP"])
    new, vip = group.tags.order_by("order")
    for i in range(250):
        follow = sandbox.customer_add(corp=sb, staff=hub.staff[i % 3], external_userid=f"wmSYNC{i:04d}", name=f"客户{i}", state="store" if i % 2 else "")
        if i % 5 == 0:
            follow.tag_ids = [vip.tag_id]
            follow.remark_mobiles = [f"1380000{i:04d}"]
            follow.save()
    # One customer follows two members.
    sandbox.customer_add(corp=sb, staff=hub.staff[1], external_userid="wmSYNC0000", name="客户0")
    return hub, vip


def snapshot():
    return (Customer.objects.count(), Follow.objects.count(), FollowTag.objects.count(), Staff.objects.count(), Tag.objects.count())


def client_for(hub):
    return WeComClient(hub.corp, sleep=lambda s: None)


def test_full_sync_brings_everything(populated):
    hub, vip = populated
    run = full_sync(corp=hub.corp, client=client_for(hub))
    assert run.status == "done" and run.phase == "groups"
    assert snapshot() == (250, 251, 50, 3, 2)
    assert Staff.objects.get(userid="guide2").department.name == "上海门店"
    assert Department.objects.get(wecom_id=2).parent.wecom_id == 1
    assert Tag.objects.get(wecom_tag_id=vip.tag_id).name == "VIP"
    assert Customer.objects.get(external_userid="wmSYNC0005").phones.get().phone == "13800000005"
    assert Follow.objects.filter(state="store").count() == 125
    assert run.counts["customers_created"] == 250 and run.counts["follows_created"] == 251 and run.counts["contacts_seen"] == 251
    assert run.counts["staff_created"] == 3 and run.counts["tags_created"] == 2


def test_sync_again_changes_nothing(populated):
    hub, _ = populated
    full_sync(corp=hub.corp, client=client_for(hub))
    before = snapshot()
    run = full_sync(corp=hub.corp, client=client_for(hub))
    assert snapshot() == before
    assert run.counts["customers_created"] == 0 and run.counts["follows_created"] == 0


def test_interrupted_sync_resumes_where_it_stopped(populated):
    hub, _ = populated
    sandbox.fault_inject(corp=hub.sb, api="externalcontact/batch/get_by_user", errcode=48002, after=1, times=1)
    with pytest.raises(WeComError):
        full_sync(corp=hub.corp, client=client_for(hub))
    run = SyncRun.objects.get()
    assert run.status == "failed" and "48002" in run.error
    assert Customer.objects.count() == 100 and run.state["cursor"]
    batch_calls = SbCallLog.objects.filter(api="externalcontact/batch/get_by_user").count()
    run = full_sync(corp=hub.corp, client=client_for(hub))
    assert run.status == "done" and SyncRun.objects.count() == 1
    assert snapshot()[:2] == (250, 251)
    # Resumed from the saved cursor: the two remaining pages, not all three again.
    assert SbCallLog.objects.filter(api="externalcontact/batch/get_by_user").count() - batch_calls == 2


def test_token_expiring_mid_sync_costs_one_refresh(populated):
    hub, _ = populated
    sandbox.fault_inject(corp=hub.sb, api="externalcontact/batch/get_by_user", errcode=42001, after=1, times=1)
    full_sync(corp=hub.corp, client=client_for(hub))
    assert snapshot()[:2] == (250, 251)
    assert SbCallLog.objects.filter(api="gettoken").count() == 2


def test_rate_limit_storm_mid_sync_completes_without_duplicates(populated, monkeypatch):
    hub, _ = populated
    sandbox.fault_inject(corp=hub.sb, api="externalcontact/batch/get_by_user", errcode=45009, after=1, times=4)
    # The client's clock moves only when it sleeps, so each pause is still on when the next call
    # looks, however slow the machine is (with the real clock a 10 ms pause could lapse first).
    clock = [client_module.now()]
    monkeypatch.setattr(client_module, "now", lambda: clock[0])
    sleeps = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock[0] += timedelta(seconds=seconds)

    run = full_sync(corp=hub.corp, client=WeComClient(hub.corp, sleep=sleep, rate_backoff=0.01))
    assert run.status == "done" and snapshot()[:2] == (250, 251)
    assert len(sleeps) == 4
    assert Customer.objects.values("external_userid").distinct().count() == 250


def test_tags_deleted_in_wecom_are_deleted_here(populated):
    hub, vip = populated
    full_sync(corp=hub.corp, client=client_for(hub))
    client_for(hub).del_corp_tag(tag_ids=[vip.tag_id])
    SbFollow.objects.update(tag_ids=[])
    run = full_sync(corp=hub.corp, client=client_for(hub), restart=True)
    assert run.counts["tags_deleted"] == 1
    assert Tag.objects.get(wecom_tag_id=vip.tag_id).deleted_at is not None
    assert FollowTag.objects.filter(tag__wecom_tag_id=vip.tag_id).count() == 0


def test_siyu_tags_with_the_same_name_are_adopted(populated):
    hub, vip = populated

    local = tag_group_create(actor=Actor(user=None, corp=hub.corp, role="owner"), name="客户等级", tag_names=["VIP"])
    full_sync(corp=hub.corp, client=client_for(hub))
    assert TagGroup.objects.filter(name="客户等级", deleted_at__isnull=True).get().id == local.id
    assert Tag.objects.get(wecom_tag_id=vip.tag_id).group_id == local.id


def test_sync_command_reports_and_errors(populated, capsys):
    hub, _ = populated
    call_command("sync", corp=hub.corp.corp_id)
    out = capsys.readouterr().out.strip().splitlines()
    assert "done" in out[-2]
    assert json.loads(out[-1])["customers_created"] == 250
    with pytest.raises(CommandError, match="No corp"):
        call_command("sync", corp="wwnope")
    sandbox.fault_inject(corp=hub.sb, api="externalcontact/get_follow_user_list", errcode=48002)
    with pytest.raises(CommandError, match="48002.*resume"):
        call_command("sync", corp=hub.corp.corp_id, restart=True)
