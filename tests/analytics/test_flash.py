"""Flash-group analysis: members' first orders, orders and GMV by day since each joined (the
corp's days), refunds and orders before joining left out, and the day by which nine tenths of the
GMV was made; through the API and on the console's page."""

from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from siyu.analytics import flash
from siyu.groups.models import CustomerGroup, GroupMember
from siyu.kit.tenancy import Role
from siyu.orders.services import OrderIn, RefundIn, order_upsert

from .. import factories as f
from ..conftest import ApiClient

pytestmark = pytest.mark.django_db


def test_orders_by_day_since_joining_and_the_day_they_stop():
    corp = f.corp()
    actor = f.actor(corp)
    tz = corp.tzinfo
    group = CustomerGroup.objects.create(corp=corp, chat_id="wrflash", name="7天闪购群")
    opened = datetime(2026, 11, 2, 20, 0, tzinfo=tz)
    people = []
    for i in range(4):
        c = f.customer(corp)
        # Joined on successive evenings; 23:30 is still the joining day in Shanghai.
        GroupMember.objects.create(
            corp=corp, group=group, userid=c.external_userid, type=2, customer=c, join_time=opened + timedelta(days=i, hours=3, minutes=30)
        )
        people.append(c)

    def order(c, no, at, fen, refunds=()):
        order_upsert(corp=corp, data=OrderIn(order_no=no, paid_at=at, amount_fen=fen, external_userid=c.external_userid, refunds=list(refunds)))

    order(people[0], "before", opened - timedelta(days=1), 50_000)  # before joining: not the group's
    order(people[0], "a0", opened + timedelta(hours=3, minutes=45), 10_000)  # 23:45: still day 0
    order(people[0], "a1", opened + timedelta(days=2, hours=1), 5_000)  # day 2 (a second order, not a first)
    order(people[1], "b0", opened + timedelta(days=2, hours=1), 20_000)  # joined day 1: day 1
    order(people[2], "c0", opened + timedelta(days=2, hours=4), 9_000, [RefundIn(refund_no="r", refunded_at=opened + timedelta(days=3), amount_fen=9_000)])
    order(people[3], "d0", opened + timedelta(days=12), 1_000)  # day 9
    result = flash.flash_analysis(actor, group, days=10)
    assert (result.members, result.buyers, result.orders, result.gmv_fen) == (4, 3, 4, 36_000)
    by_day = {d.day: (d.first_orders, d.orders, d.gmv_fen) for d in result.days if d.orders}
    assert by_day == {0: (1, 1, 10_000), 1: (1, 1, 20_000), 2: (0, 1, 5_000), 9: (1, 1, 1_000)}
    assert result.day_of_share == 2 and result.last_order_day == 9

    owner = f.user(corp, role=Role.OWNER)
    body = ApiClient(f.token(owner, corp)).get(f"/api/v1/flash-groups/{group.pk}", days=10).json()
    assert body["day_of_share"] == 2 and body["days"][1]["gmv_fen"] == 20_000
    client = Client()
    client.force_login(owner)
    page = client.get(reverse("console:flash_groups"), {"group": group.pk, "days": 10})
    assert page.status_code == 200 and "7天闪购群" in page.content.decode()
    guide = f.user(corp, role=Role.GUIDE, staff=f.staff(corp))
    assert ApiClient(f.token(guide, corp)).get(f"/api/v1/flash-groups/{group.pk}").status_code == 403
