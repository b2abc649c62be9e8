"""The demo corp and its sandbox agree: a full sync changes nothing but bringing the groups, and
after the simulated population has been busy, Siyu's data equals the sandbox's again."""

import pytest
from django.core.management import call_command

from siyu.customers.models import Follow, FollowTag
from siyu.demo.backing import back_with_sandbox
from siyu.demo.seed import build_corp
from siyu.groups.models import CustomerGroup, GroupMember
from siyu.sandbox.models import SbCallbackLog, SbFollow, SbGroupMember
from siyu.sandbox.simulator import Simulator
from siyu.wecom.client import WeComClient
from siyu.wecom.models import CallbackEvent
from siyu.wecom.sync import full_sync

pytestmark = pytest.mark.django_db(transaction=True)


def siyu_world(corp):
    follows = {(f.customer.external_userid, f.staff.userid, f.remark) for f in Follow.objects.filter(corp=corp, deleted_by_staff_at__isnull=True, deleted_by_customer_at__isnull=True).select_related("customer", "staff")}
    tags = {(t.follow.customer.external_userid, t.follow.staff.userid, t.tag.wecom_tag_id) for t in FollowTag.objects.filter(corp=corp, follow__deleted_by_customer_at__isnull=True, follow__deleted_by_staff_at__isnull=True).select_related("follow__customer", "follow__staff", "tag")}
    members = set(GroupMember.objects.filter(corp=corp, left_at__isnull=True).values_list("group__chat_id", "userid"))
    return follows, tags, members


def sandbox_world(sb):
    follows = {(f.customer.external_userid, f.staff.userid, f.remark) for f in SbFollow.objects.filter(corp=sb).select_related("customer", "staff")}
    tags = {(f.customer.external_userid, f.staff.userid, t) for f in SbFollow.objects.filter(corp=sb).select_related("customer", "staff") for t in f.tag_ids}
    members = set(SbGroupMember.objects.filter(group__corp=sb, group__dismissed=False).values_list("group__chat_id", "userid"))
    return follows, tags, members


def test_sandbox_backed_demo_stays_equal_to_its_wecom(live_server):
    corp = build_corp(corp_id="wwbacked", name="镜像企业", customers=200, seed=5)
    tagged_before = FollowTag.objects.count()
    sb, created = back_with_sandbox(corp, base_url=live_server.url)
    assert created and sb.callback_url == f"{live_server.url}/wecom/callback/wwbacked/"
    assert back_with_sandbox(corp, base_url=live_server.url)[1] is False

    corp.refresh_from_db()
    run = full_sync(corp=corp, client=WeComClient(corp, sleep=lambda s: None))
    changed = {k: v for k, v in run.counts.items() if v and k not in ("contacts_seen", "groups_seen", "group_members_joined")}
    assert changed == {}, changed
    assert FollowTag.objects.count() == tagged_before
    assert CustomerGroup.objects.filter(corp=corp).count() == run.counts["groups_seen"] > 0
    assert siyu_world(corp) == sandbox_world(sb)

    done = Simulator(sb, seed=11).run(per_minute=0, steps=60)
    assert done.get("scan", 0) > 10 and len(done) >= 4, done
    assert set(SbCallbackLog.objects.filter(corp=sb).values_list("status_code", flat=True)) == {200}
    call_command("worker", batch=True, requeue_after=3600)
    assert set(CallbackEvent.objects.values_list("status", flat=True)) == {"done"}
    assert siyu_world(corp) == sandbox_world(sb)
