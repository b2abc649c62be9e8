"""RFM classes equal a straightforward computation on generated data with ties, refunds and
customers without orders — for every threshold method, a window, a past as-of date, and quintiles."""

import math
import random
import statistics
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

import siyu.analytics.rfm as rfm
from siyu.analytics.models import RfmSettings
from siyu.analytics.rfm import BY_LETTER, class_q, customer_classes, quintile_scores, rfm_compute
from siyu.analytics.segments import SegmentFilters, segment_count, segment_customers
from siyu.customers.models import Customer
from siyu.orders.services import OrderIn, RefundIn, order_upsert, refund_record

from .. import factories as f

SHANGHAI = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 6, 30)


@pytest.fixture
def shop(corp, monkeypatch):
    """60 customers, 45 of them with orders: ties in dates, counts and amounts; partial and full refunds."""

    monkeypatch.setattr(rfm, "corp_today", lambda corp: TODAY)
    rng = random.Random(7)
    customers = [f.customer(corp, external_userid=f"wm{i:03d}") for i in range(60)]
    orders = []  # (customer, local paid date, amount, refunded)
    for c in customers[:45]:
        for k in range(rng.choice([1, 1, 1, 2, 2, 3, 5])):
            day = TODAY - timedelta(days=rng.choice([0, 3, 3, 10, 30, 30, 45, 90, 200, 400]))
            # Late evening local time is the next day in UTC: the local date must be the one used.
            paid_at = datetime.combine(day, time(rng.choice([9, 23]), 30), SHANGHAI)
            amount = rng.choice([1990, 8990, 8990, 29900, 120000])
            no = f"{c.external_userid}-{k}"
            order_upsert(corp=corp, data=OrderIn(order_no=no, paid_at=paid_at, amount_fen=amount, external_userid=c.external_userid))
            refunded = 0
            roll = rng.random()
            if roll < 0.1:
                refunded = amount  # a fully refunded order is not a purchase
            elif roll < 0.2:
                refunded = amount // 2
            if refunded:
                refund_record(corp=corp, source="api", order_no=no, refund=RefundIn(refund_no=f"r-{no}", amount_fen=refunded))
            orders.append((c.id, day, amount, refunded))
    return orders


def expected(orders, *, as_of, window_days=None, method="median", fixed=(90, 1, 50000)):
    """RFM written out plainly from the generated orders."""
    per: dict[int, list] = {}
    for customer_id, day, amount, refunded in orders:
        if amount <= refunded or day > as_of or (window_days and day <= as_of - timedelta(days=window_days)):
            continue
        per.setdefault(customer_id, []).append((day, amount - refunded))
    facts = {c: ((as_of - max(d for d, _ in rows)).days, len(rows), sum(m for _, m in rows)) for c, rows in per.items()}
    rs, fs, ms = ([v[i] for v in facts.values()] for i in range(3))
    if method == "median":
        t = (statistics.median(rs), statistics.median(fs), statistics.median(ms))
    elif method == "mean":
        t = (statistics.mean(rs), statistics.mean(fs), statistics.mean(ms))
    else:
        t = fixed
    letters = {
        (True, True, True): "A",
        (True, True, False): "B",
        (True, False, True): "C",
        (True, False, False): "D",
        (False, True, True): "E",
        (False, True, False): "F",
        (False, False, True): "G",
        (False, False, False): "H",
    }
    classes = {c: letters[(r <= t[0], fr > t[1], m > t[2])] for c, (r, fr, m) in facts.items()}
    return t, facts, classes


def check(corp, orders, settings, as_of, **kw):
    result = rfm_compute(corp, as_of=as_of, settings=settings, quintiles=True)
    t, facts, classes = expected(orders, as_of=as_of, window_days=settings.window_days, method=settings.method, **kw)
    assert (result.thresholds.recency_days, result.thresholds.frequency, result.thresholds.monetary_fen) == pytest.approx(t)
    assert result.buyers == len(facts)
    assert result.non_buyers == Customer.objects.filter(corp=corp).count() - len(facts)
    assert result.gmv_fen == sum(m for _, _, m in facts.values())
    for letter in BY_LETTER:
        members = {c for c, cls in classes.items() if cls == letter}
        row = result.row(letter)
        assert row.customers == len(members), letter
        assert row.gmv_fen == sum(facts[c][2] for c in members), letter
        # The same class through a segment filter and for one customer at a time.
        assert set(Customer.objects.filter(class_q(corp, result, [letter])).values_list("id", flat=True)) == members, letter
    assert {c: k.letter for c, k in customer_classes(corp, result, facts).items()} == classes
    assert len(set(classes.values())) >= 5, "the data should spread over the classes"
    return result, facts


def test_median_all_time(corp, shop):
    result, facts = check(corp, shop, RfmSettings(corp=corp), TODAY)
    assert sum(r.customers for r in result.classes) == len(facts) and result.non_buyers == 60 - len(facts)
    assert len(facts) < 45, "some customers' only orders were refunded: they are not buyers"


def test_mean_thresholds(corp, shop):
    check(corp, shop, RfmSettings(corp=corp, method="mean"), TODAY)


def test_fixed_thresholds(corp, shop):
    check(corp, shop, RfmSettings(corp=corp, method="fixed", recency_days=30, frequency=1, monetary_fen=20000), TODAY, fixed=(30, 1, 20000))


def test_a_window_and_a_past_date_read_the_orders(corp, shop):
    check(corp, shop, RfmSettings(corp=corp, window_days=100), TODAY)
    check(corp, shop, RfmSettings(corp=corp), TODAY - timedelta(days=20))


def test_quintile_scores_follow_nearest_rank_cut_points(corp, shop):
    result, facts = check(corp, shop, RfmSettings(corp=corp), TODAY)
    q = result.quintiles
    rs, fs, ms = (sorted(v[i] for v in facts.values()) for i in range(3))
    n = len(facts)
    cuts = lambda values: [values[math.ceil(k * n / 5) - 1] for k in range(1, 5)]  # noqa: E731
    assert (q.recency_cuts, q.frequency_cuts, q.monetary_cuts) == (cuts(rs), cuts(fs), cuts(ms))
    grid: dict = {}
    for r, fr, m in facts.values():
        rs_, fs_, _ = quintile_scores(q, r_days=r, f=fr, m=m)
        count, gmv = grid.get((rs_, fs_), (0, 0))
        grid[(rs_, fs_)] = (count + 1, gmv + m)
    assert q.grid == grid
    # The most recent buyers score R 5; the biggest spenders M 5.
    best = min(facts.values())
    assert quintile_scores(q, r_days=best[0], f=best[1], m=best[2])[0] == 5


def test_strategies_are_editable_and_no_orders_means_no_class(corp, shop):
    settings = RfmSettings(corp=corp, strategies={"A": "VIP 专属导购"})
    result = rfm_compute(corp, as_of=TODAY, settings=settings)
    assert result.row("A").strategy == "VIP 专属导购"
    assert "放弃" in result.row("H").strategy  # the seed's own advice for the lapsed, low class
    without = Customer.objects.filter(corp=corp, orders__isnull=True)
    assert not customer_classes(corp, result, without.values_list("id", flat=True))


def test_an_empty_corp(corp):
    result = rfm_compute(f.corp("Empty"), as_of=TODAY)
    assert result.buyers == 0 and all(r.customers == 0 for r in result.classes)


@pytest.mark.parametrize(
    "filters",
    [
        {"orders_min": 2},
        {"spent_min_fen": 20000, "last_order_from": TODAY - timedelta(days=40)},
        {"rfm": ["A", "H"]},
        {"rfm": ["C"], "orders_max": 1},
        {"buyers": True},
        {"buyers": False},
        {"rfm": ["A"], "staff_ids": []},
    ],
)
def test_segment_counts_on_the_value_table_equal_the_customer_query(corp, shop, filters):
    actor = f.actor(corp)
    parsed = SegmentFilters.from_json(filters)
    expected = segment_customers(actor, parsed).count()
    assert segment_count(actor, parsed) == expected
    assert expected > 0 or filters == {"rfm": ["C"], "orders_max": 1}
