"""Super users and the concentration curve equal a plain computation on skewed generated spend."""

import random
from datetime import timedelta

import pytest

from siyu.analytics.pareto import pareto
from siyu.kit.clock import now
from siyu.orders.services import OrderIn, order_upsert

from .. import factories as f


@pytest.fixture
def spends(corp):
    rng = random.Random(3)
    out = []
    for i in range(80):
        c = f.customer(corp, external_userid=f"wm{i}")
        # Pareto-like spend with many ties (pack prices), as shops have.
        fen = rng.choice([1990, 1990, 8990, 8990, 8990]) * int(rng.paretovariate(1.2))
        order_upsert(corp=corp, data=OrderIn(order_no=f"P{i}", paid_at=now() - timedelta(days=1), amount_fen=fen, external_userid=c.external_userid))
        out.append(fen)
    for _ in range(5):
        f.customer(corp)  # no orders: not buyers
    return out


@pytest.mark.parametrize("share", [0.8, 0.5, 0.95])
def test_super_users_are_the_smallest_set_reaching_the_share(corp, spends, share):
    result = pareto(corp, share=share)
    ordered = sorted(spends, reverse=True)
    total, running, k = sum(spends), 0, 0
    while running < share * total:
        running += ordered[k]
        k += 1
    assert (result.buyers, result.gmv_fen) == (80, total)
    assert (result.super_users, result.super_users_gmv_fen) == (k, running)
    assert result.spent_min_fen == ordered[k - 1]
    assert result.segment_size == sum(1 for s in spends if s >= ordered[k - 1])
    assert result.top20_gmv_share == pytest.approx(sum(ordered[:16]) / total)


def test_lorenz_curve_and_gini(corp, spends):
    result = pareto(corp, points=20)
    ascending = sorted(spends)
    n, total = len(ascending), sum(ascending)
    gini = 2 * sum((i + 1) * x for i, x in enumerate(ascending)) / (n * total) - (n + 1) / n
    assert result.gini == pytest.approx(gini)
    assert len(result.lorenz) == 21 and result.lorenz[0] == (0.0, 0.0) and result.lorenz[-1] == pytest.approx((1.0, 1.0))
    # At every 5% of buyers the curve is the share of GMV of the smallest spenders so far.
    for i, (x, y) in enumerate(result.lorenz[1:], start=1):
        assert x == pytest.approx(i / 20)
        assert y == pytest.approx(sum(ascending[: i * n // 20]) / total)


def test_no_buyers(corp):
    result = pareto(corp)
    assert (result.buyers, result.super_users, result.gini) == (0, 0, 0.0)
