"""Membership levels: a customer holds the highest level whose rule their spend, orders and earned
points meet (any one threshold, or all), up as they buy and earn, down when a refund takes back
what reached it; a cancelled exchange is no growth; changing the levels moves every customer; and
levels that make no sense are refused with the field named."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from siyu.engagement import earning, members
from siyu.engagement import points as ledger
from siyu.engagement.models import MemberLevel, PointsAccount
from siyu.kit.errors import Conflict, Forbidden, InvalidInput
from siyu.kit.tenancy import Role
from siyu.orders.services import OrderIn, RefundIn, order_upsert, refund_record

from .. import factories as f
from ..conftest import run_queued

CN = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def brand(db, django_capture_on_commit_callbacks):
    corp = f.corp("会员品牌")
    actor = f.actor(corp)
    with django_capture_on_commit_callbacks(execute=True):
        silver = members.level_save(actor=actor, name="银卡", rank=1, min_spend_fen=50_000, min_points=100, needs="any", benefits="生日礼")
        gold = members.level_save(actor=actor, name="金卡", rank=2, min_spend_fen=200_000, min_orders=3, needs="all", benefits="9折")
    return corp, actor, silver, gold


def _level(customer) -> str | None:
    account = PointsAccount.objects.filter(customer=customer).select_related("level").first()
    return account.level.name if account and account.level else None


def _order(corp, no, yuan, customer):
    return order_upsert(corp=corp, data=OrderIn(order_no=no, paid_at=datetime.now(CN), amount_fen=yuan * 100, external_userid=customer.external_userid)).order


def test_levels_follow_spend_orders_and_earned_points_up_and_down(brand):
    corp, actor, silver, gold = brand
    reader = f.customer(corp, "读者", external_userid="wmREAD")
    buyer = f.customer(corp, "买家", external_userid="wmBUY")
    # Points alone reach 银卡 (any one threshold).
    ledger.points_earn(corp=corp, customer_id=reader.pk, points=60, reason="checkin", source="t", source_id="1")
    assert _level(reader) is None
    ledger.points_earn(corp=corp, customer_id=reader.pk, points=40, reason="checkin", source="t", source_id="2")
    assert _level(reader) == "银卡"
    # Spending does not lower what was earned: the level stays after the points are spent.
    ledger.points_spend(corp=corp, customer_id=reader.pk, points=100, reason="exchange", source="s", source_id="1")
    assert _level(reader) == "银卡"

    # 金卡 needs all: 2,000 yuan and three orders.
    _order(corp, "B1", 1500, buyer)
    assert _level(buyer) == "银卡"  # 1,500 yuan ≥ 500
    _order(corp, "B2", 400, buyer)
    assert _level(buyer) == "银卡"  # 1,900 yuan, two orders
    _order(corp, "B3", 300, buyer)
    account = PointsAccount.objects.get(customer=buyer)
    assert _level(buyer) == "金卡" and account.level_since is not None
    # A full refund of one order: two orders left, so back to 银卡; then below 500 yuan, no level.
    refund_record(corp=corp, source="api", order_no="B3", refund=RefundIn(refund_no="r3", amount_fen=30_000))
    assert _level(buyer) == "银卡"
    refund_record(corp=corp, source="api", order_no="B1", refund=RefundIn(refund_no="r1", amount_fen=150_000))
    assert _level(buyer) is None


def test_refunded_order_points_take_the_level_back_and_a_cancelled_exchange_is_no_growth(brand):
    corp, actor, silver, gold = brand
    MemberLevel.objects.filter(pk=silver.pk).update(min_spend_fen=None)
    members.levels_recompute(corp.pk)  # the save's own path clears the cache; this one was written behind its back
    earning.policy_save(actor=actor, active=True, per_yuan=1, refund_days=0)
    mom = f.customer(corp, "妈妈", external_userid="wmMOM")
    _order(corp, "M1", 120, mom)  # 120 points, available at once (no refund window)
    account = PointsAccount.objects.get(customer=mom)
    assert (account.earned, _level(mom)) == (120, "银卡")
    refund_record(corp=corp, source="api", order_no="M1", refund=RefundIn(refund_no="m1", amount_fen=12_000))
    account.refresh_from_db()
    assert (account.earned, account.available, _level(mom)) == (0, 0, None)
    # Points given back by a cancelled exchange were earned before: they are not growth.
    ledger.points_earn(corp=corp, customer_id=mom.pk, points=500, reason="exchange_refund", source="mall_refund", source_id="9")
    account.refresh_from_db()
    assert (account.earned, _level(mom)) == (0, None)


def test_changing_the_levels_moves_every_customer(brand, django_capture_on_commit_callbacks):
    corp, actor, silver, gold = brand
    people = [f.customer(corp, f"客户{i}", external_userid=f"wmL{i}") for i in range(5)]
    for i, person in enumerate(people):
        _order(corp, f"L{i}", 300 * (i + 1), person)  # 300 … 1,500 yuan
    assert [_level(p) for p in people] == [None, "银卡", "银卡", "银卡", "银卡"]
    with django_capture_on_commit_callbacks(execute=True):
        members.level_save(actor=actor, level=silver, name="银卡", rank=1, min_spend_fen=100_000, needs="any")
    assert [_level(p) for p in people] == [None, "银卡", "银卡", "银卡", "银卡"]  # until the worker passes
    assert sum(run_queued("siyu.engagement.tasks")) == 2
    assert [_level(p) for p in people] == [None, None, None, "银卡", "银卡"]
    with django_capture_on_commit_callbacks(execute=True):
        base = members.level_save(actor=actor, name="会员", rank=3, needs="any")
    run_queued("siyu.engagement.tasks")
    # A level without thresholds is everyone's, and the highest rank wins.
    assert {_level(p) for p in people} == {"会员"}
    with django_capture_on_commit_callbacks(execute=True):
        members.level_delete(actor=actor, level=base)
    run_queued("siyu.engagement.tasks")
    assert [_level(p) for p in people] == [None, None, None, "银卡", "银卡"]


def test_levels_that_make_no_sense_are_refused(brand):
    corp, actor, silver, gold = brand
    for fields, code, field in (
        ({"name": "", "rank": 4}, "bad_name", "name"),
        ({"name": "钻石", "rank": 0}, "bad_rank", "rank"),
        ({"name": "钻石", "rank": 4, "min_orders": -1}, "bad_threshold", "min_orders"),
        ({"name": "钻石", "rank": 4, "needs": "some"}, "bad_needs", "needs"),
    ):
        with pytest.raises(InvalidInput) as refused:
            members.level_save(actor=actor, **fields)
        assert (refused.value.code, refused.value.field) == (code, field)
    with pytest.raises(Conflict) as taken:
        members.level_save(actor=actor, name="钻石", rank=2)
    assert (taken.value.code, taken.value.field) == ("rank_taken", "rank")
    with pytest.raises(Conflict) as named:
        members.level_save(actor=actor, name="金卡", rank=5)
    assert named.value.code == "name_taken"
    with pytest.raises(Forbidden):
        members.level_save(actor=f.actor(corp, role=Role.GUIDE, staff=f.staff(corp, "导购")), name="钻石", rank=6)
    assert MemberLevel.objects.filter(corp=corp).count() == 2


def test_the_api_sets_levels_and_shows_each_customers(corp, api, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        made = api.post("/api/v1/member-levels", {"name": "银卡", "rank": 1, "min_points": 50, "benefits": "生日礼"})
    assert made.status_code == 201, made.content
    level = made.json()
    clash = api.post("/api/v1/member-levels", {"name": "金卡", "rank": 1})
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "rank_taken"
    bad = api.post("/api/v1/member-levels", {"name": "金卡", "rank": 2, "min_orders": -3})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_threshold"
    mom = f.customer(corp, "妈妈")
    ledger.points_earn(corp=corp, customer_id=mom.pk, points=80, reason="checkin", source="t", source_id="1")
    shown = api.get(f"/api/v1/customers/{mom.pk}/points").json()
    assert (shown["earned"], shown["level"], shown["level_id"]) == (80, "银卡", level["id"])
    assert [(row["name"], row["members"]) for row in api.get("/api/v1/member-levels").json()] == [("银卡", 1)]
    with django_capture_on_commit_callbacks(execute=True):
        moved = api.put(f"/api/v1/member-levels/{level['id']}", {"name": "银卡", "rank": 1, "min_points": 100})
    assert moved.status_code == 200 and moved.json()["min_points"] == 100
    run_queued("siyu.engagement.tasks")
    assert api.get(f"/api/v1/customers/{mom.pk}/points").json()["level"] is None
    assert api.call("delete", f"/api/v1/member-levels/{level['id']}").status_code == 204
    assert api.get("/api/v1/member-levels").json() == []
