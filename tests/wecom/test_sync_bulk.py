"""A sync page is applied in bulk (one read, one insert, one update per table). It must leave
exactly the rows that applying its contacts one at a time leaves: two identical sandbox corps are
synced, one a contact at a time, the other a page at a time (also interrupted mid-page and
resumed), and every row is compared."""

from datetime import UTC, datetime

import pytest
from django.db import transaction

from siyu.acquisition.models import Acquisition, LiveCode, LiveCodeDay
from siyu.acquisition.services import channel_create, live_code_save
from siyu.corps.models import Corp, Staff
from siyu.corps.services import corp_create, staff_upsert
from siyu.customers.models import Customer, CustomerPhone, Follow, FollowTag, TimelineEvent
from siyu.groups.models import CustomerGroup, GroupMember
from siyu.orders.models import Order
from siyu.orders.services import OrderIn, order_upsert
from siyu.sandbox import services as sandbox
from siyu.tags.models import Tag
from siyu.wecom import sync
from siyu.wecom.client import WeComClient
from siyu.wecom.models import SyncRun
from siyu.wecom.sync import full_sync

from .. import factories as f

pytestmark = pytest.mark.django_db(transaction=True)
STAMP = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
PAID = datetime(2026, 10, 1, tzinfo=UTC)


def twin(live_server, corpid: str) -> Corp:
    """A sandbox corp with 230 contacts of every kind (unionids, remarks, remark phones, tags, a
    live code's state, several members following one contact, one contact on two pages), and
    Siyu's corp for it holding some of them already, differently."""
    sb = sandbox.corp_create(corpid=corpid, name="批量", secret="s")
    corp = corp_create(corp_id=corpid, name="批量", secret="s", api_base=f"{live_server.url}/sandbox/cgi-bin/")
    members = [sandbox.staff_add(corp=sb, userid=f"g{i}", name=f"导购{i}") for i in range(3)]
    group = sandbox.tag_group_add(corp=sb, name="等级", tags=["新客", "VIP", "黑卡"])
    tags = list(group.tags.order_by("order"))
    actor = f.actor(corp)
    staff = staff_upsert(corp=corp, userid="g0", name="导购0")
    code = live_code_save(actor=actor, channel=channel_create(actor=actor, name="门店", group="store"), name="门店码", members=[{"staff_id": staff.id}])
    for i in range(230):
        fields = {"unionid": f"u{i}"} if i % 4 == 0 else {}
        follow = sandbox.customer_add(
            corp=sb, staff=members[i % 3], external_userid=f"wm{i:04d}", name=f"客户{i}", createtime=STAMP + i, state=code.state if i % 7 == 0 else "", **fields
        )
        follow.remark, follow.description = (f"备注{i}", "老客") if i % 3 == 0 else ("", "")
        follow.tag_ids = [t.tag_id for t in tags[: i % 4]]
        follow.remark_mobiles = [f"1390000{i:04d}", f"1390000{i:04d}"] if i % 5 == 0 else []
        follow.save()
        if i % 11 == 0:  # followed by a second member too, on another page of the same chunk
            sandbox.customer_add(corp=sb, staff=members[(i + 1) % 3], external_userid=f"wm{i:04d}", name=f"客户{i}", createtime=STAMP + 10_000 + i)
    # Already in Siyu: a customer WeCom has renamed, a follow that had ended, a tag WeCom removed,
    # an order and a group membership waiting for customers not yet known.
    old = f.customer(corp, name="旧名字", external_userid="wm0003")
    Follow.objects.create(
        corp=corp, customer=old, staff=staff, added_at=datetime(2026, 1, 1, tzinfo=UTC), deleted_by_customer_at=datetime(2026, 2, 1, tzinfo=UTC)
    )
    assert sync.mirror_tag_library(corp, WeComClient(corp).get_corp_tag_list())["tags_created"] == 3
    black = Tag.objects.get(corp=corp, name="黑卡")
    for i in (6, 9, 12, 24):  # known with WeCom's name and a tag WeCom does not have; 24 has a unionid WeCom has changed since
        known = f.customer(corp, name=f"客户{i}", external_userid=f"wm{i:04d}", unionid="u-old" if i == 24 else "")
        follow = Follow.objects.create(corp=corp, customer=known, staff=staff, added_at=datetime.fromtimestamp(STAMP + i, tz=UTC), remark="旧备注")
        FollowTag.objects.create(corp=corp, follow=follow, tag=black)
    with transaction.atomic():  # as every caller of order_upsert has one
        order_upsert(corp=corp, data=OrderIn(order_no="till-1", paid_at=PAID, amount_fen=990, phone="13900000010"))
        order_upsert(corp=corp, data=OrderIn(order_no="till-2", paid_at=PAID, amount_fen=500, external_userid="wm0020"))
        order_upsert(corp=corp, data=OrderIn(order_no="till-3", paid_at=PAID, amount_fen=700, unionid="u24"))
        order_upsert(corp=corp, data=OrderIn(order_no="till-4", paid_at=PAID, amount_fen=800, unionid="u40"))
    group = CustomerGroup.objects.create(corp=corp, chat_id="wrOLD", name="老群")
    GroupMember.objects.bulk_create([GroupMember(corp=corp, group=group, userid=u, type=2) for u in ("wm0030", "wm0031", "wmNOBODY")])
    return corp


def rows(corp: Corp) -> dict:
    """Every row the sync writes, without ids (the two corps number them differently)."""
    code_names = dict(LiveCode.objects.filter(corp=corp).values_list("state", "name"))
    return {
        "customers": sorted(Customer.objects.filter(corp=corp).values_list("external_userid", "name", "unionid", "gender", "type", "corp_name")),
        "follows": sorted(
            (f.customer.external_userid, f.staff.userid, f.added_at, f.remark, f.description, f.add_way, code_names.get(f.state, f.state), f.is_active)
            for f in Follow.objects.filter(corp=corp).select_related("customer", "staff")
        ),
        "tags": sorted(FollowTag.objects.filter(corp=corp).values_list("follow__customer__external_userid", "follow__staff__userid", "tag__name")),
        "phones": sorted(CustomerPhone.objects.filter(corp=corp).values_list("customer__external_userid", "phone")),
        "timeline": sorted(
            # A dismissed group's members leave when the sync finds it gone: the time differs.
            (
                e.customer.external_userid,
                e.kind,
                e.occurred_at if e.kind != "left_group" else None,
                e.staff.userid if e.staff else "",
                code_names.get(e.data.get("state"), e.data.get("state")),
            )
            for e in TimelineEvent.objects.filter(corp=corp).select_related("customer", "staff")
        ),
        "acquisitions": sorted(
            (a.follow.customer.external_userid, a.follow.staff.userid, a.added_at, a.day, a.live_code.name if a.live_code else "", a.channel_id is not None)
            for a in Acquisition.objects.filter(corp=corp).select_related("follow__customer", "follow__staff", "live_code")
        ),
        "live_code_adds": sorted(LiveCodeDay.objects.filter(corp=corp).values_list("live_code__name", "staff__userid", "day", "adds")),
        "orders": sorted(Order.objects.filter(corp=corp).values_list("order_no", "customer__external_userid")),
        "staff": sorted(Staff.objects.filter(corp=corp).values_list("userid", "name")),
        "members": sorted(GroupMember.objects.filter(corp=corp).values_list("userid", "customer__external_userid")),
    }


def counts(corp: Corp) -> dict:
    run = SyncRun.objects.filter(corp=corp).order_by("-id").first()
    return dict(run.counts)


def test_a_page_applied_at_once_equals_its_contacts_applied_one_by_one(live_server, monkeypatch):
    one, bulk = twin(live_server, "wwbulkone"), twin(live_server, "wwbulkall")
    assert rows(one) == rows(bulk)  # the same start
    pages = []
    applied = sync.apply_contacts

    def one_at_a_time(corp, contacts, **kw):
        return [result for contact in contacts for result in applied(corp, [contact], **kw)]

    def watched(corp, contacts, **kw):
        pages.append(len(contacts))
        return applied(corp, contacts, **kw)

    with monkeypatch.context() as m:
        m.setattr(sync, "apply_contacts", one_at_a_time)
        full_sync(corp=one, client=WeComClient(one, sleep=lambda s: None))
    with monkeypatch.context() as m:
        m.setattr(sync, "apply_contacts", watched)
        full_sync(corp=bulk, client=WeComClient(bulk, sleep=lambda s: None))
    assert max(pages) == 100  # whole pages, in bulk
    expected = rows(one)
    assert rows(bulk) == expected, _diff(rows(bulk), expected)
    assert counts(bulk) == counts(one)
    # What the start held was brought to WeCom's truth, in both.
    assert ("wm0003", "客户3", "", 0, 1, "") in expected["customers"]
    assert {("till-1", "wm0010"), ("till-2", "wm0020"), ("till-3", "wm0024"), ("till-4", "wm0040")} <= set(expected["orders"])
    assert not [t for t in expected["tags"] if t[2] == "黑卡" and t[0] in ("wm0006", "wm0009", "wm0012", "wm0024")] and ("wm0012", "g0", "旧备注") not in [
        f[:2] + (f[3],) for f in expected["follows"]
    ]
    assert [a for a in expected["acquisitions"] if a[4] == "门店码"]  # attributed to the live code by its state
    assert sum(row[3] for row in expected["live_code_adds"]) == len([a for a in expected["acquisitions"] if a[4]]) > 0
    assert ("wm0030", "wm0030") in expected["members"] and ("wmNOBODY", None) in expected["members"]
    # A second sync changes nothing, in bulk as one by one.
    full_sync(corp=bulk, client=WeComClient(bulk, sleep=lambda s: None))
    assert rows(bulk) == expected


def test_a_page_interrupted_mid_way_and_resumed_equals_an_uninterrupted_sync(live_server, monkeypatch):
    plain, broken = twin(live_server, "wwbulkref"), twin(live_server, "wwbulkcut")
    full_sync(corp=plain, client=WeComClient(plain, sleep=lambda s: None))
    calls, written, mirror = [], [], sync._mirror_tags

    def dies_on_the_second_page(corp, follows, tag_cache):
        calls.append(corp.pk)
        if len(calls) == 2:  # the page's customers, follows and phones are written; its tags are next
            written.append(Customer.objects.filter(corp=corp).count())
            raise RuntimeError("the worker died")
        return mirror(corp, follows, tag_cache)

    with monkeypatch.context() as m:
        m.setattr(sync, "_mirror_tags", dies_on_the_second_page)
        with pytest.raises(RuntimeError):
            full_sync(corp=broken, client=WeComClient(broken, sleep=lambda s: None))
    assert SyncRun.objects.get(corp=broken).status == "failed"
    assert Customer.objects.filter(corp=broken).count() < written[0]  # nothing of the page in flight was kept
    run = full_sync(corp=broken, client=WeComClient(broken, sleep=lambda s: None))
    assert run.status == "done"
    assert rows(broken) == rows(plain)
    assert counts(broken) == counts(plain)


def _diff(a, b):
    return {k: (sorted(set(a[k]) - set(b[k]))[:5], sorted(set(b[k]) - set(a[k]))[:5]) for k in a if a[k] != b[k]}
