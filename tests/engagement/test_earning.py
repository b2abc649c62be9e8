"""Earning points by the corp's policy: an order's points wait out the refund window and a full
refund inside it voids them; orders stored before points were switched on earn nothing; an add
reported by WeCom earns once, a group join once per group, reading once per item up to the daily
cap; expiry as the policy says."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from siyu.engagement import earning
from siyu.engagement import points as ledger
from siyu.engagement.models import PointsAccount, PointsEntry, PointsPolicy
from siyu.kit.errors import InvalidInput
from siyu.orders.services import OrderIn, RefundIn, order_upsert, refund_record

from .. import factories as f

CN = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def brand(db):
    corp = f.corp("积分品牌")
    actor = f.actor(corp)
    earning.policy_save(actor=actor, active=True, per_yuan=2, refund_days=7, contact_added=10, group_joined=20, content_read=3, content_read_daily=2)
    return corp, actor, f.customer(corp, "积分妈妈", external_userid="wmPTS")


def _balance(customer) -> tuple[int, int]:
    account = PointsAccount.objects.filter(customer=customer).first()
    return (account.available, account.pending) if account else (0, 0)


def _order(corp, no, yuan, paid_at=None):
    paid_at = paid_at or datetime.now(CN)  # after points were switched on
    return order_upsert(corp=corp, data=OrderIn(order_no=no, paid_at=paid_at, amount_fen=yuan * 100 + 50, external_userid="wmPTS")).order


def test_an_orders_points_wait_out_the_refund_window_then_become_available(brand):
    corp, _actor, mom = brand
    order = _order(corp, "P1", 99)
    assert _balance(mom) == (0, 198)  # 2 a whole yuan of ¥99.50
    _order(corp, "P1", 99)  # delivered again: nothing more
    assert PointsEntry.objects.filter(source="order").count() == 1
    assert ledger.points_release_due(corp=corp, at=order.paid_at + timedelta(days=6)) == 0
    assert ledger.points_release_due(corp=corp, at=order.paid_at + timedelta(days=7, seconds=1)) == 1
    assert _balance(mom) == (198, 0)


def test_a_full_refund_inside_the_window_voids_the_points_and_a_partial_one_keeps_them(brand):
    corp, _actor, mom = brand
    _order(corp, "R1", 100)
    _order(corp, "R2", 50)
    refund_record(corp=corp, source="api", order_no="R1", refund=RefundIn(refund_no="x1", amount_fen=3000))
    assert _balance(mom) == (0, 300)
    refund_record(corp=corp, source="api", order_no="R1", refund=RefundIn(refund_no="x2", amount_fen=7050))
    assert _balance(mom) == (0, 100)
    assert ledger.points_release_due(corp=corp, at=datetime.now(CN) + timedelta(days=8)) == 1
    assert _balance(mom) == (100, 0)


def test_orders_paid_before_points_were_switched_on_earn_nothing(brand):
    corp, actor, mom = brand
    _order(corp, "OLD", 500, paid_at=datetime.now(CN) - timedelta(days=30))
    assert _balance(mom) == (0, 0)
    earning.policy_save(actor=actor, active=False)
    _order(corp, "OFF", 10)
    assert _balance(mom) == (0, 0)


def test_adds_group_joins_and_reading_earn_once_each_and_reading_stops_at_the_daily_cap(brand):
    corp, _actor, mom = brand
    earning.contact_added(corp, mom.pk)
    earning.contact_added(corp, mom.pk)
    earning.group_joined(corp, mom.pk, 7)
    earning.group_joined(corp, mom.pk, 7)
    earning.group_joined(corp, mom.pk, 8)
    for item in (1, 1, 2, 3):
        earning.content_read(corp, mom.pk, item)
    assert _balance(mom) == (10 + 20 + 20 + 3 + 3, 0)
    assert sorted(PointsEntry.objects.values_list("reason", flat=True)) == ["contact_added", "content_read", "content_read", "group_joined", "group_joined"]


def test_expiry_follows_the_policy(brand):
    corp, actor, mom = brand
    policy = PointsPolicy.objects.get(corp=corp)
    assert earning.expires_on(policy, datetime(2026, 3, 5, tzinfo=CN), CN) == date(2027, 12, 31)
    policy.expiry, policy.expiry_months = "months", 12
    assert earning.expires_on(policy, datetime(2028, 2, 29, 12, tzinfo=CN), CN) == date(2029, 2, 28)
    policy.expiry = "never"
    assert earning.expires_on(policy, datetime(2026, 3, 5, tzinfo=CN), CN) is None
    with pytest.raises(InvalidInput) as bad:
        earning.policy_save(actor=actor, active=True, per_yuan=-1)
    assert bad.value.field == "per_yuan"
