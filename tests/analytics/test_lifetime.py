"""Stored CLV: the corp's orders become the per-customer summary the CDNOW-checked code computes,
the fit is the maximum-likelihood one, and each customer's stored predictions are the model's."""

from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pytest
from django_tasks_db.models import DBTaskResult

from siyu.analytics import clv, lifetime
from siyu.analytics.lifetime import clv_refresh
from siyu.analytics.models import ClvFit, CustomerClv
from siyu.analytics.tasks import refresh_clv
from siyu.customers.models import Customer
from siyu.kit.errors import InvalidInput
from siyu.orders.models import Order
from siyu.orders.services import customer_values_rebuild

from .. import factories as f

AS_OF = date(2026, 6, 30)
TRUE = (0.25, 4.0, 0.8, 2.5)  # r, alpha, a, b: CDNOW-like


def simulate(corp, n=1500, seed=11):
    """Buyers following BG/NBD (weekly rates) with gamma-distributed spend, as orders."""
    rng = np.random.default_rng(seed)
    r, alpha, a, b = TRUE
    Customer.objects.bulk_create([Customer(corp=corp, external_userid=f"wm{i}", name=f"c{i}") for i in range(n)])
    ids = list(Customer.objects.filter(corp=corp).order_by("id").values_list("id", flat=True))
    start = AS_OF - timedelta(weeks=52)
    orders, transactions = [], []
    for cid in ids:
        lam, p = rng.gamma(r, 1 / alpha), rng.beta(a, b)
        scale = rng.gamma(6.0, 1 / 0.05)  # the customer's typical spend, in fen-ish units ×100 below
        week = rng.uniform(0, 12)
        k = 0
        while week <= 52:
            day = start + timedelta(days=int(week * 7))
            if day > AS_OF:
                break
            fen = int(rng.gamma(6.0, scale / 6.0) * 100) + 100
            paid_at = datetime.combine(day, time(4), UTC)
            orders.append(Order(corp=corp, source="sim", order_no=f"{cid}-{k}", customer_id=cid, paid_at=paid_at, paid_on=day, amount_fen=fen))
            transactions.append((cid, day, fen))
            k += 1
            if k > 1 and rng.random() < p:
                break  # dropped out after this purchase
            week += rng.exponential(1 / lam) if lam > 0 else 999
    Order.objects.bulk_create(orders, batch_size=2000)
    customer_values_rebuild(corp=corp)  # a bulk load is followed by the rebuild
    return transactions


@pytest.mark.django_db
def test_stored_predictions_are_the_models(corp):
    transactions = simulate(corp)
    fit = clv_refresh(corp=corp, as_of=AS_OF, horizon_days=182)
    # The summary is the one `summary_from_transactions` gives (checked on CDNOW), with the
    # observation running to the end of the as-of day.
    summary = clv.summary_from_transactions(transactions, calibration_end=AS_OF + timedelta(days=1), unit="week")
    assert fit.customers == len(summary) == CustomerClv.objects.filter(corp=corp).count()
    ids = sorted(summary)
    x, t_x, T, m = (np.array([summary[i][k] for i in ids]) for k in range(4))
    # Maximum likelihood: no better point than the fit, the true parameters included.
    assert clv.bgnbd_log_likelihood(TRUE, x, t_x, T).sum() <= fit.bgnbd["log_likelihood"] + 1e-6
    assert fit.bgnbd["log_likelihood"] == pytest.approx(clv.fit_bgnbd(x, t_x, T).log_likelihood, abs=1e-3)
    assert fit.bgnbd["r"] == pytest.approx(TRUE[0], rel=0.5) and fit.bgnbd["alpha"] == pytest.approx(TRUE[1], rel=0.5)
    model = clv.BgNbd(**fit.bgnbd)
    spend = clv.GammaGamma(**fit.gamma_gamma)
    stored = {c.customer_id: c for c in CustomerClv.objects.filter(corp=corp)}
    for i in ids[::97]:
        xi, txi, Ti, mi = summary[i]
        c = stored[i]
        assert c.expected_purchases == pytest.approx(float(model.expected_purchases(26, xi, txi, Ti)), abs=1e-5)
        assert c.p_alive == pytest.approx(float(model.probability_alive(xi, txi, Ti)), abs=1e-5)
        # Spend per purchase: repeat days' mean in fen, shrunk towards the population's.
        assert c.expected_spend_fen == round(float(spend.expected_spend(xi, mi)))
        assert abs(c.clv_fen - c.expected_purchases * float(spend.expected_spend(xi, mi))) <= 1
    # Lapsed buyers are less likely alive than those who bought lately with the same history.
    assert CustomerClv.objects.filter(corp=corp, p_alive__gt=1).count() == 0
    assert ClvFit.objects.get(corp=corp).as_of == AS_OF
    assert not fit.at_limit  # enough customers: an interior maximum


@pytest.mark.django_db
def test_a_fit_on_a_handful_of_regular_buyers_is_flagged_as_at_its_limits(corp, api):
    # Twelve buyers each buying every four weeks, none lapsing: nothing for the dropout model to
    # learn, so the likelihood keeps rising towards a → 0 and the fit stops at its box.
    orders = []
    for i in range(12):
        c = Customer.objects.create(corp=corp, external_userid=f"wmR{i}", name=f"r{i}")
        for k in range(6):
            day = AS_OF - timedelta(weeks=4 * k + i % 3)
            orders.append(
                Order(
                    corp=corp,
                    source="sim",
                    order_no=f"R{i}-{k}",
                    customer=c,
                    paid_at=datetime.combine(day, time(4), UTC),
                    paid_on=day,
                    amount_fen=10000 + 100 * i,
                )
            )
    Order.objects.bulk_create(orders)
    customer_values_rebuild(corp=corp)
    fit = clv_refresh(corp=corp, as_of=AS_OF)
    assert fit.at_limit
    assert api.get("/api/v1/clv").json()["at_limit"] is True


@pytest.mark.django_db
def test_refit_replaces_and_too_little_history_is_refused(corp):
    simulate(corp, n=300)
    clv_refresh(corp=corp, as_of=AS_OF)
    first = CustomerClv.objects.filter(corp=corp).count()
    clv_refresh(corp=corp, as_of=AS_OF)
    assert CustomerClv.objects.filter(corp=corp).count() == first and ClvFit.objects.filter(corp=corp).count() == 1

    with pytest.raises(InvalidInput) as err:
        clv_refresh(corp=f.corp("New brand"), as_of=AS_OF)
    assert err.value.code == "clv_insufficient_data"


@pytest.mark.django_db
def test_refresh_through_the_api_and_the_daily_schedule(corp, api, django_capture_on_commit_callbacks, monkeypatch):

    simulate(corp, n=400)
    with django_capture_on_commit_callbacks(execute=True):
        r = api.post("/api/v1/clv/refresh", {"horizon_days": 90})
    assert r.status_code == 202 and r.json()["queued_at"] and r.json()["fitted_at"] is None
    task = DBTaskResult.objects.get(task_path__endswith="refresh_clv")
    assert refresh_clv.func(*task.args_kwargs["args"])["customers"] > 300
    body = api.get("/api/v1/clv").json()
    assert body["horizon_days"] == 90 and set(body["bgnbd"]) == {"r", "alpha", "a", "b", "log_likelihood"}
    assert sum(d["customers"] for d in body["deciles"]) == body["customers"]
    assert sum(d["clv_fen"] for d in body["deciles"]) == body["total_clv_fen"]
    assert body["deciles"][0]["clv_fen"] >= body["deciles"][-1]["clv_fen"]
    # The top tenth by CLV as a segment, and one customer's value with its CLV.
    top = CustomerClv.objects.filter(corp=corp).order_by("-clv_fen")
    cut = top[body["deciles"][0]["customers"] - 1].clv_fen
    assert api.post("/api/v1/segments/count", {"clv_min_fen": cut}).json()["customers"] >= body["deciles"][0]["customers"]
    best = top.first()
    value = api.get(f"/api/v1/customers/{best.customer_id}/value").json()
    assert value["clv_fen"] == best.clv_fen and value["rfm_class"] in "ABCDEFGH"
    # The schedule: fitted today already → nothing; tomorrow → queued once.
    monkeypatch.setattr(lifetime, "corp_today", lambda corp: AS_OF)
    ClvFit.objects.filter(corp=corp).update(as_of=AS_OF, queued_at=None)
    assert lifetime.clv_refresh_due() == 0
    monkeypatch.setattr(lifetime, "corp_today", lambda corp: AS_OF + timedelta(days=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert lifetime.clv_refresh_due() == 1
    assert lifetime.clv_refresh_due() == 0
    assert DBTaskResult.objects.filter(task_path__endswith="refresh_clv").count() == 2


@pytest.mark.django_db
def test_too_little_history_is_shown_not_retried(corp):
    assert refresh_clv.func(corp.id) == {"error": "clv_insufficient_data"}
    assert "购买记录不足，无法拟合 CLV" in ClvFit.objects.get(corp=corp).error
