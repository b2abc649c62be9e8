"""Customer lifetime value in the product: fit BG/NBD and Gamma-Gamma to a corp's orders and store
each buyer's expected purchases, probability alive, expected spend and CLV.

Purchases are days with at least one counted order (several orders on one day are one purchase,
as in the papers); time is in weeks; money in fen. CLV is expected purchases over the horizon
times the expected spend of one purchase, undiscounted.
"""

from __future__ import annotations

import time
from datetime import date, timedelta

import numpy as np
from django.db import connection, transaction
from django.utils.translation import gettext as _

from siyu.corps.models import Corp
from siyu.kit.clock import now
from siyu.kit.errors import InvalidInput
from siyu.kit.queue import enqueue_after_commit
from siyu.orders.models import CustomerValue

from . import clv
from .models import ClvFit, CustomerClv
from .rfm import corp_today

MIN_BUYERS = 10
MIN_REPEAT_FOR_SPEND = 10
EPOCH = date(1970, 1, 1)


def purchase_days(corp: Corp, as_of: date) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(customer id, day number, net fen) per customer and purchase day, ordered, as arrays."""
    day = "CAST(julianday(paid_on) - 2440587.5 AS INTEGER)" if connection.vendor == "sqlite" else "(paid_on - DATE '1970-01-01')"
    sql = (
        f"SELECT customer_id, {day} AS d, SUM(amount_fen - refunded_fen) FROM orders_order"
        " WHERE corp_id = %s AND customer_id IS NOT NULL AND amount_fen > refunded_fen AND paid_on <= %s"
        " GROUP BY customer_id, paid_on ORDER BY customer_id, paid_on"
    )
    parts = []
    with connection.cursor() as cursor:
        cursor.execute(sql, [corp.id, connection.ops.adapt_datefield_value(as_of)])
        while rows := cursor.fetchmany(200_000):
            parts.append(np.array(rows, dtype=np.int64))
    table = np.concatenate(parts) if parts else np.empty((0, 3), dtype=np.int64)
    return table[:, 0], table[:, 1], table[:, 2]


def summarise(customers: np.ndarray, days: np.ndarray, fen: np.ndarray, as_of_day: int):
    """Per customer: ids, x (repeat purchase days), t_x and T in days, mean repeat spend (fen)."""
    if not len(customers):
        empty = np.empty(0)
        return empty.astype(np.int64), empty, empty, empty, empty
    starts = np.flatnonzero(np.r_[True, customers[1:] != customers[:-1]])
    ends = np.r_[starts[1:], len(customers)]
    ids = customers[starts]
    x = (ends - starts - 1).astype(float)
    first, last = days[starts], days[ends - 1]
    total = np.add.reduceat(fen, starts)
    repeat_spend = total - fen[starts]
    m = np.divide(repeat_spend, x, out=np.zeros_like(x), where=x > 0)
    return ids, x, (last - first).astype(float), (as_of_day - first).astype(float), m


def clv_refresh(*, corp: Corp, as_of: date | None = None, horizon_days: int = 365) -> ClvFit:
    started = time.perf_counter()
    as_of = as_of or corp_today(corp)
    if not 1 <= horizon_days <= 3650:
        raise InvalidInput(_("The horizon is 1 to 3650 days."), code="bad_horizon", field="horizon_days")
    # Observation runs to the end of the as-of day, so a first purchase that day still has T > 0.
    ids, x, t_x_days, T_days, m = summarise(*purchase_days(corp, as_of), (as_of - EPOCH).days + 1)
    if len(ids) < MIN_BUYERS or not (x > 0).any():
        raise InvalidInput(
            _(
                "Not enough purchase history to fit CLV: %(buyers)s buyers, %(repeat)s with a repeat purchase "
                "(at least %(min_buyers)s buyers and one repeat needed)."
            )
            % {"buyers": len(ids), "repeat": int((x > 0).sum()), "min_buyers": MIN_BUYERS},
            code="clv_insufficient_data",
        )
    weeks = 7.0
    rows = np.stack([x, t_x_days, T_days], axis=1)
    distinct, inverse, counts = np.unique(rows, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    bg = clv.fit_bgnbd(distinct[:, 0], distinct[:, 1] / weeks, distinct[:, 2] / weeks, weights=counts)
    horizon = horizon_days / weeks
    purchases = bg.expected_purchases(horizon, distinct[:, 0], distinct[:, 1] / weeks, distinct[:, 2] / weeks)[inverse]
    alive = bg.probability_alive(distinct[:, 0], distinct[:, 1] / weeks, distinct[:, 2] / weeks)[inverse]
    repeaters = (x > 0) & (m > 0)
    gg = None
    if repeaters.sum() >= MIN_REPEAT_FOR_SPEND:
        try:
            gg = clv.fit_gamma_gamma(x[repeaters], m[repeaters])
        except (ValueError, FloatingPointError):
            gg = None
    if gg is not None and gg.q > 1:
        spend = gg.expected_spend(x, m)
    else:
        # Too few repeat buyers for the spend model: each buyer's own mean, or everyone's for one-time buyers.
        gg = None
        mean = float(m[repeaters].mean()) if repeaters.any() else 0.0
        spend = np.where(repeaters, m, mean)
    value = purchases * spend
    if not (np.isfinite(purchases).all() and np.isfinite(alive).all() and np.isfinite(value).all()):
        raise InvalidInput(
            _(
                "The purchase history does not support a CLV model yet (fit r=%(r)s, α=%(alpha)s, a=%(a)s, b=%(b)s); "
                "more customers and repeat purchases are needed."
            )
            % {"r": bg.r, "alpha": bg.alpha, "a": bg.a, "b": bg.b},
            code="clv_degenerate",
        )
    with transaction.atomic():
        CustomerClv.objects.filter(corp=corp).delete()
        _insert(corp, ids, purchases, alive, spend, value)
        fit, _created = ClvFit.objects.update_or_create(
            corp=corp,
            defaults={
                "as_of": as_of,
                "horizon_days": horizon_days,
                "customers": len(ids),
                "repeat_customers": int((x > 0).sum()),
                "bgnbd": {"r": bg.r, "alpha": bg.alpha, "a": bg.a, "b": bg.b, "log_likelihood": bg.log_likelihood},
                "gamma_gamma": {} if gg is None else {"p": gg.p, "q": gg.q, "gamma": gg.gamma, "log_likelihood": gg.log_likelihood},
                "fitted_at": now(),
                "seconds": round(time.perf_counter() - started, 3),
                "error": "",
            },
        )
    return fit


def clv_refresh_due() -> int:
    """Queue one refit a day (corp time) for every corp with buyers; the worker's schedule calls this."""

    queued = 0
    fits = {f.corp_id: f for f in ClvFit.objects.all()}
    for corp in Corp.objects.all():
        today = corp_today(corp)
        fit = fits.get(corp.id)
        if fit is not None and ((fit.queued_at is not None and fit.queued_at.astimezone(corp.tzinfo).date() >= today) or (fit.as_of or date.min) >= today):
            continue  # fitted, queued or tried today already
        if not CustomerValue.objects.filter(corp=corp, order_count__gte=1).exists():
            continue
        fit = fit or ClvFit.objects.get_or_create(corp=corp)[0]
        ClvFit.objects.filter(pk=fit.pk).update(queued_at=now())
        enqueue_after_commit("siyu.analytics.tasks.refresh_clv", corp.id)
        queued += 1
    return queued


def _insert(corp: Corp, ids, purchases, alive, spend, value, batch: int = 5000) -> None:
    table = CustomerClv._meta.db_table
    columns = "customer_id, corp_id, expected_purchases, p_alive, expected_spend_fen, clv_fen"
    rows = zip(
        ids.tolist(),
        [corp.id] * len(ids),
        np.round(purchases, 6).tolist(),
        np.round(alive, 6).tolist(),
        np.rint(spend).astype(np.int64).tolist(),
        np.rint(value).astype(np.int64).tolist(),
    )
    if connection.vendor == "postgresql":
        # COPY: millions of rows in seconds, where batched INSERTs take most of a minute.
        connection.ensure_connection()
        with connection.connection.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    sql = f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s, %s, %s, %s)"
    with connection.cursor() as cursor:
        chunk = []
        for row in rows:
            chunk.append(row)
            if len(chunk) >= batch:
                cursor.executemany(sql, chunk)
                chunk = []
        if chunk:
            cursor.executemany(sql, chunk)


def horizon_end(fit: ClvFit) -> date:
    return fit.as_of + timedelta(days=fit.horizon_days)
