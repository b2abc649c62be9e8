"""The port's promise to the domains above it: a subscriber added anywhere receives contact added,
contact lost and group member joined from real callbacks handled by the real worker, once each,
also when WeCom delivers a callback twice."""

import pytest

from siyu.groups.events import GroupMemberJoined
from siyu.kit.events import subscribed
from siyu.sandbox import callbacks as wecom_sim
from siyu.wecom.events import CALLBACK, ContactLost, ContactsAdded

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_subscriber_gets_each_event_once_from_callbacks_delivered_twice(hub):
    seen = []
    added = lambda e: seen.extend(("added", a.customer.external_userid, a.follow.staff.userid, e.source) for a in e.added)  # noqa: E731
    lost = lambda e: seen.append(("lost", e.follow.customer.external_userid, e.by))  # noqa: E731
    # The group's owner (staff) joins it too when it is created; the customers are what this is about.
    joined = lambda e: e.member.type == 2 and seen.append(("joined", e.group.chat_id, e.member.userid, e.member.customer_id is not None))  # noqa: E731
    with subscribed(ContactsAdded, added), subscribed(ContactLost, lost), subscribed(GroupMemberJoined, joined, after_commit=True):
        follow, entry = wecom_sim.customer_adds_staff(hub.sb, hub.staff[0], name="订阅", state="lcabc")
        assert wecom_sim.deliver(hub.sb, entry) == 200  # WeCom's retry of the same add
        hub.run_worker()
        group, created = wecom_sim.group_created(hub.sb, hub.staff[0], "新客群")
        hub.run_worker()
        entry = wecom_sim.customers_join_group(group, [follow.customer])
        assert wecom_sim.deliver(hub.sb, entry) == 200
        hub.run_worker()
        entry = wecom_sim.customer_deletes_staff(follow)
        assert wecom_sim.deliver(hub.sb, entry) == 200
        hub.run_worker()
        hub.run_worker()  # nothing left to do: nothing published again
    customer = follow.customer.external_userid
    assert seen == [
        ("added", customer, hub.staff[0].userid, CALLBACK),
        ("joined", group.chat_id, customer, True),
        ("lost", customer, "customer"),
    ]
