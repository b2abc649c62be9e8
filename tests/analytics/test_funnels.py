"""Funnel (added → first order → second order), GMV = reached × conversion × spend per buyer with
the change split exactly, and monthly repurchase cohorts — on small data worked out by hand."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from siyu.acquisition.models import Acquisition, Channel
from siyu.analytics import funnels
from siyu.analytics.funnels import cohorts, funnel, gmv_decomposition, shapley
from siyu.customers.models import Follow
from siyu.kit.clock import now
from siyu.kit.errors import InvalidInput
from siyu.orders.services import OrderIn, RefundIn, order_upsert, refund_record

from .. import factories as f

TZ = ZoneInfo("Asia/Shanghai")


def at(d: date, hour: int = 10) -> datetime:
    return datetime.combine(d, time(hour), TZ)


def buy(corp, customer, no, d, fen=10000, hour=12):
    order_upsert(corp=corp, data=OrderIn(order_no=no, paid_at=at(d, hour), amount_fen=fen, external_userid=customer.external_userid))


@pytest.fixture
def shop(corp):
    wang, li = f.staff(corp, name="王"), f.staff(corp, name="李")
    store = Channel.objects.create(corp=corp, name="门店")
    week1, week2 = date(2026, 3, 2), date(2026, 3, 9)  # Mondays

    def add(name, staff, day, channel=None, hour=10):
        c = f.customer(corp, external_userid=f"wm{name}", name=name)
        follow = f.follow(c, staff, added_at=at(day, hour))
        if channel:
            Acquisition.objects.create(corp=corp, follow=follow, customer=c, staff=staff, channel=channel, added_at=follow.added_at, day=day)
        return c

    a = add("a", wang, week1, store)  # first order 2 days later, second 10 days after that
    buy(corp, a, "a1", week1 + timedelta(days=2), hour=10)
    buy(corp, a, "a2", week1 + timedelta(days=12), hour=10)
    b = add("b", wang, week1 + timedelta(days=1), store)  # first order the same day, refunded: then the next is first
    buy(corp, b, "b1", week1 + timedelta(days=1), hour=18)
    refund_record(corp=corp, source="api", order_no="b1", refund=RefundIn(refund_no="rb1", amount_fen=10000))
    buy(corp, b, "b2", week1 + timedelta(days=5), hour=10)
    c = add("c", li, week1 + timedelta(days=3))  # never buys
    d = add("d", li, week2)  # bought before being added: an existing buyer
    buy(corp, d, "d0", week1 - timedelta(days=20))
    e = add("e", li, week2 + timedelta(days=1), store)
    buy(corp, e, "e1", week2 + timedelta(days=4), hour=10)
    f.follow(a, li, added_at=at(week2))  # a second follow does not make a a new customer again
    return {"a": a, "b": b, "c": c, "d": d, "e": e, "wang": wang, "li": li, "store": store, "week1": week1, "week2": week2}


def test_funnel_by_week(corp, shop):
    result = funnel(corp, start=shop["week1"], end=shop["week2"] + timedelta(days=6), by="week")
    t = result.total
    assert (t.added, t.existing_buyers, t.new_customers, t.first_orders, t.second_orders) == (5, 1, 4, 3, 1)
    assert t.conversion == 3 / 4 and t.repurchase == 1 / 3
    # Days to the first order: a 2, b 4 (its refunded same-day order does not count), e 3.
    assert t.median_days_to_first == pytest.approx(3) and t.median_days_to_second == pytest.approx(10)
    rows = {r.key: r for r in result.rows}
    assert (rows["2026-03-02"].added, rows["2026-03-02"].first_orders) == (3, 2)
    assert (rows["2026-03-09"].added, rows["2026-03-09"].existing_buyers, rows["2026-03-09"].first_orders) == (2, 1, 1)


def test_funnel_by_staff_and_channel(corp, shop):
    by_staff = {r.name: r for r in funnel(corp, start=shop["week1"], end=shop["week2"] + timedelta(days=6), by="staff").rows}
    assert (by_staff["王"].added, by_staff["王"].first_orders, by_staff["王"].second_orders) == (2, 2, 1)
    assert (by_staff["李"].added, by_staff["李"].new_customers, by_staff["李"].first_orders) == (3, 2, 1)
    by_channel = {r.key: r for r in funnel(corp, start=shop["week1"], end=shop["week2"] + timedelta(days=6), by="channel").rows}
    assert (by_channel[shop["store"].id].added, by_channel[shop["store"].id].first_orders) == (3, 3)
    assert by_channel[None].added == 2 and by_channel[None].name


def test_gmv_is_reach_times_conversion_times_spend_and_the_change_splits_exactly(corp, shop):
    # March: reached a–e (5), buyers a, b, e (a twice) → 4 orders of 100 yuan net.
    # A lost customer (deleted in February) buying in March is not private-domain GMV.
    gone = f.customer(corp, external_userid="wmgone")
    follow = f.follow(gone, shop["wang"], added_at=at(date(2026, 1, 5)))
    Follow.objects.filter(pk=follow.pk).update(deleted_by_customer_at=at(date(2026, 2, 10)))
    buy(corp, gone, "g1", date(2026, 3, 20), fen=99900)
    buy(corp, shop["a"], "a3", date(2026, 4, 3), fen=30000)
    periods = gmv_decomposition(corp, start=date(2026, 2, 1), end=date(2026, 4, 30))
    feb, mar, apr = periods
    assert (feb.reached, feb.buyers, feb.gmv_fen) == (1, 0, 0)
    assert (mar.reached, mar.buyers, mar.gmv_fen) == (5, 3, 40000)
    assert (apr.reached, apr.buyers, apr.gmv_fen) == (5, 1, 30000)
    for p in periods:
        assert p.reached * p.conversion * p.spend_per_buyer_fen == pytest.approx(p.gmv_fen)
    for p in (mar, apr):
        assert p.from_reach_fen + p.from_conversion_fen + p.from_spend_fen == pytest.approx(p.change_fen)
    # March → April: same reach, fewer buyers, each spending more.
    assert apr.from_reach_fen == pytest.approx(0) and apr.from_conversion_fen < 0 < apr.from_spend_fen


def test_the_running_month_is_compared_with_the_same_days_of_the_month_before(corp, shop, monkeypatch):
    monkeypatch.setattr(funnels, "corp_today", lambda corp: date(2026, 4, 10))
    buy(corp, shop["a"], "a3", date(2026, 4, 3), fen=30000)
    periods = gmv_decomposition(corp, start=date(2026, 2, 1), end=date(2026, 5, 31))
    assert [p.start for p in periods] == [date(2026, 2, 1), date(2026, 3, 1), date(2026, 4, 1)]  # May has not begun
    feb, mar, apr = periods
    assert feb.to_date is None and mar.to_date is None and mar.change_fen == 40000
    # April to the 10th against March 1–10: reached a–e in both; March's first ten days had a's
    # and b's orders (100 yuan each), April's has a's 300 yuan.
    assert (apr.to_date, apr.compared_to, apr.end) == (date(2026, 4, 10), (date(2026, 3, 1), date(2026, 3, 10)), date(2026, 4, 30))
    assert (apr.reached, apr.buyers, apr.gmv_fen, apr.change_fen) == (5, 1, 30000, 10000)
    assert apr.from_reach_fen == pytest.approx(0) and apr.from_reach_fen + apr.from_conversion_fen + apr.from_spend_fen == pytest.approx(10000)
    # Conversion 0.4 → 0.2 at a mean spend of 200 yuan: −200; spend 100 → 300 at a mean conversion of 0.3: +300.
    assert apr.from_conversion_fen == pytest.approx(-20000) and apr.from_spend_fen == pytest.approx(30000)


def test_shapley_of_two_factors_is_the_textbook_split():
    # (a0, b0) = (2, 3) → (4, 5): Δ = 14; a's share = Δa·(b0+b1)/2 = 8, b's = Δb·(a0+a1)/2 = 6.
    assert shapley((2, 3), (4, 5)) == pytest.approx((8, 6))


def test_monthly_cohorts_of_repurchase(corp, shop):
    buy(corp, shop["e"], "e2", date(2026, 5, 2))
    rows = {c.month: c for c in cohorts(corp, start=date(2026, 1, 1), end=date(2026, 3, 31), months=3)}
    # February: d (first order 2026-02-10), never again. March: a, b, e; a and e again later.
    assert rows[date(2026, 2, 1)].customers == 1 and rows[date(2026, 2, 1)].retained == [0, 0, 0]
    march = rows[date(2026, 3, 1)]
    assert march.customers == 3 and march.retained == [0, 1, 0]  # e again in May, the 2nd month after
    buy(corp, shop["a"], "a4", date(2026, 4, 20))
    march = {c.month: c for c in cohorts(corp, start=date(2026, 1, 1), end=date(2026, 3, 31), months=3)}[date(2026, 3, 1)]
    assert march.retained == [1, 1, 0] and march.rates[0] == pytest.approx(1 / 3)


def test_bad_periods(corp):
    with pytest.raises(InvalidInput):
        funnel(corp, start=date(2026, 3, 1), end=date(2026, 2, 1))
    with pytest.raises(InvalidInput):
        funnel(corp, start=date(2026, 3, 1), end=date(2026, 3, 2), by="city")


def test_the_api_serves_all_three(api, shop):
    r = api.get("/api/v1/funnel", start="2026-03-02", end="2026-03-15", by="staff")
    assert r.status_code == 200 and r.json()["total"]["conversion"] == 0.75
    r = api.get("/api/v1/gmv", start="2026-03-01", end="2026-04-30")
    assert [p["gmv_fen"] for p in r.json()] == [40000, 0]
    r = api.get("/api/v1/cohorts", start="2026-02-01", end="2026-03-31", months=2)
    assert [c["customers"] for c in r.json()] == [1, 3]
    assert api.get("/api/v1/funnel", start="2026-03-02", end="2026-03-01").status_code == 400


def test_cohorts_stop_at_the_current_month(corp, shop):
    today = now().astimezone(TZ).date()
    buy(corp, shop["c"], "c1", today, hour=0)
    rows = {c.month: c for c in cohorts(corp, start=today.replace(day=1), end=today, months=6)}
    assert rows[today.replace(day=1)].customers == 1 and rows[today.replace(day=1)].retained == []
