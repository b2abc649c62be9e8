"""Funnels, GMV decomposition and cohorts (seeds 002 and 004).

Funnel: customers first added in a period (their earliest follow) → first order → second order.
A customer who had bought before being added is an *existing buyer*, shown apart: the
new-customer conversion rate (seed 004's 新客转化率) is first orders after the add over the new
customers added. Steps count counted orders only (not fully refunded).

GMV decomposition per period: GMV = customers reached × conversion × spend per buyer, where
reached = customers with a live follow at some moment of the period, buyers = reached customers
with a counted order paid in it, conversion = buyers / reached, spend per buyer (客单价) = GMV /
buyers, GMV = net paid by reached customers in the period. The change from one period to the next
is split over the three factors by Shapley values (the average over the six orders in which the
factors can change), which add up to the change exactly and cope with zeros.

Cohorts: buyers by the month of their first counted order; retention in month k = the share of
the cohort with a counted order in the k-th month after (repurchase).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import permutations

from django.db import connection
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils.translation import gettext as _

from siyu.acquisition.models import Channel
from siyu.corps.models import Corp, Staff
from siyu.customers.models import Follow
from siyu.kit.clock import day_start
from siyu.kit.errors import InvalidInput
from siyu.orders.models import Order

from .rfm import corp_today

GROUPS = ("week", "channel", "staff")


@dataclass
class FunnelRow:
    key: str | int | None
    name: str = ""
    added: int = 0
    existing_buyers: int = 0
    first_orders: int = 0
    second_orders: int = 0
    days_to_first: list[float] = field(default_factory=list, repr=False)
    days_to_second: list[float] = field(default_factory=list, repr=False)

    @property
    def new_customers(self) -> int:
        return self.added - self.existing_buyers

    @property
    def conversion(self) -> float | None:
        return self.first_orders / self.new_customers if self.new_customers else None

    @property
    def repurchase(self) -> float | None:
        return self.second_orders / self.first_orders if self.first_orders else None

    @property
    def median_days_to_first(self) -> float | None:
        return statistics.median(self.days_to_first) if self.days_to_first else None

    @property
    def median_days_to_second(self) -> float | None:
        return statistics.median(self.days_to_second) if self.days_to_second else None

    def add(self, *, existing: bool, to_first: float | None, to_second: float | None) -> None:
        self.added += 1
        if existing:
            self.existing_buyers += 1
            return
        if to_first is not None:
            self.first_orders += 1
            self.days_to_first.append(to_first)
            if to_second is not None:
                self.second_orders += 1
                self.days_to_second.append(to_second)


@dataclass
class Funnel:
    start: date
    end: date
    by: str
    total: FunnelRow
    rows: list[FunnelRow]


def _check_period(start: date, end: date) -> None:
    if end < start:
        raise InvalidInput(_("The end is before the start."), code="bad_period", field="end")
    if (end - start).days > 3 * 366:
        raise InvalidInput(_("At most three years at once."), code="bad_period", field="end")


FIRST_ADDS_SQL = """
SELECT f.customer_id, f.added_at, f.staff_id,
    (SELECT a.channel_id FROM acquisition_acquisition a WHERE a.follow_id = f.id ORDER BY a.added_at LIMIT 1),
    v.first_paid_at, v.second_paid_at
FROM customers_follow f
LEFT JOIN orders_customervalue v ON v.customer_id = f.customer_id
WHERE f.corp_id = %s AND f.added_at >= %s AND f.added_at < %s
  AND NOT EXISTS (
    SELECT 1 FROM customers_follow g
    WHERE g.customer_id = f.customer_id AND (g.added_at < f.added_at OR (g.added_at = f.added_at AND g.id < f.id))
  )
"""


def funnel(corp: Corp, *, start: date, end: date, by: str = "week") -> Funnel:
    if by not in GROUPS:
        raise InvalidInput(_("Group by one of %(value)s.") % {"value": ", ".join(GROUPS)}, code="bad_group", field="by")
    _check_period(start, end)
    tz = corp.tzinfo
    ops = connection.ops
    with connection.cursor() as cursor:
        cursor.execute(
            FIRST_ADDS_SQL,
            [corp.id, ops.adapt_datetimefield_value(day_start(start, tz)), ops.adapt_datetimefield_value(day_start(end + timedelta(days=1), tz))],
        )
        rows = cursor.fetchall()
    total, groups = FunnelRow(key=None), {}
    for _customer, added_at, staff_id, channel_id, first, second in rows:
        added_at, first, second = (_aware(v) for v in (added_at, first, second))
        if by == "week":
            local = added_at.astimezone(tz).date()
            key = (local - timedelta(days=local.weekday())).isoformat()
        else:
            key = staff_id if by == "staff" else channel_id
        existing = first is not None and first < added_at
        to_first = (first - added_at).total_seconds() / 86400 if first is not None and not existing else None
        to_second = (second - first).total_seconds() / 86400 if second is not None and to_first is not None else None
        for row in (total, groups.setdefault(key, FunnelRow(key=key))):
            row.add(existing=existing, to_first=to_first, to_second=to_second)
    names = _names(corp, by, set(groups))
    for key, row in groups.items():
        row.name = names.get(key, str(key) if key is not None else "")
    ordered = sorted(groups.values(), key=lambda r: (r.key is None, str(r.key) if by == "week" else -r.added))
    return Funnel(start=start, end=end, by=by, total=total, rows=ordered)


def _aware(value):
    if value is None or isinstance(value, datetime) and value.tzinfo is not None:
        return value
    if isinstance(value, str):  # SQLite hands raw SQL datetimes back as text
        value = datetime.fromisoformat(value)

    return value.replace(tzinfo=UTC)


def _names(corp: Corp, by: str, keys: set) -> dict:
    ids = {k for k in keys if k is not None}
    if by == "staff":
        return dict(Staff.objects.filter(corp=corp, id__in=ids).values_list("id", "name"))
    if by == "channel":
        return {**dict(Channel.objects.filter(corp=corp, id__in=ids).values_list("id", "name")), None: _("No channel")}
    return {}


@dataclass
class GmvPeriod:
    start: date
    end: date
    reached: int
    buyers: int
    gmv_fen: int
    change_fen: int | None = None
    # Shapley shares of the change from the previous period, in fen; they add up to change_fen.
    from_reach_fen: float | None = None
    from_conversion_fen: float | None = None
    from_spend_fen: float | None = None
    to_date: date | None = None  # the period is still running: counted up to this day
    compared_to: tuple[date, date] | None = None  # the running period's change is against these days

    @property
    def conversion(self) -> float:
        return self.buyers / self.reached if self.reached else 0.0

    @property
    def spend_per_buyer_fen(self) -> float:
        return self.gmv_fen / self.buyers if self.buyers else 0.0


def _months(start: date, end: date) -> list[tuple[date, date]]:
    out, cur = [], start.replace(day=1)
    while cur <= end:
        nxt = (cur.replace(day=28) + timedelta(days=4)).replace(day=1)
        out.append((cur, nxt - timedelta(days=1)))
        cur = nxt
    return out


def _weeks(start: date, end: date) -> list[tuple[date, date]]:
    cur = start - timedelta(days=start.weekday())
    out = []
    while cur <= end:
        out.append((cur, cur + timedelta(days=6)))
        cur += timedelta(days=7)
    return out


def gmv_decomposition(corp: Corp, *, start: date, end: date, period: str = "month") -> list[GmvPeriod]:
    """Periods that have not begun are left out. The period running today counts up to today and is
    compared with the same number of days at the start of the period before (month to date
    against the previous month's first days), not with that whole period."""
    if period not in ("month", "week"):
        raise InvalidInput(_("The period is month or week."), code="bad_period", field="period")
    _check_period(start, end)
    today = corp_today(corp)
    out: list[GmvPeriod] = []
    for p_start, p_end in (_months if period == "month" else _weeks)(start, end):
        if p_start > today:
            break
        current = _gmv_period(corp, p_start, min(p_end, today))
        current.end = p_end
        if p_end > today:
            current.to_date = today
        if out:
            before = out[-1]
            if current.to_date:
                last = min(before.end, before.start + (today - p_start))
                before = _gmv_period(corp, before.start, last)
                current.compared_to = (before.start, last)
            current.change_fen = current.gmv_fen - before.gmv_fen
            current.from_reach_fen, current.from_conversion_fen, current.from_spend_fen = shapley(
                (before.reached, before.conversion, before.spend_per_buyer_fen),
                (current.reached, current.conversion, current.spend_per_buyer_fen),
            )
        out.append(current)
    return out


def _gmv_period(corp: Corp, first: date, last: date) -> GmvPeriod:
    lo, hi = day_start(first, corp.tzinfo), day_start(last + timedelta(days=1), corp.tzinfo)
    live = (
        Q(added_at__lt=hi)
        & (Q(deleted_by_staff_at__isnull=True) | Q(deleted_by_staff_at__gte=lo))
        & (Q(deleted_by_customer_at__isnull=True) | Q(deleted_by_customer_at__gte=lo))
    )
    reached_ids = Follow.objects.filter(live, corp=corp).values("customer_id")
    reached = Follow.objects.filter(live, corp=corp).values("customer_id").distinct().count()
    sales = Order.objects.filter(corp=corp, paid_on__gte=first, paid_on__lte=last, amount_fen__gt=F("refunded_fen"), customer_id__in=reached_ids)
    agg = sales.aggregate(buyers=Count("customer_id", distinct=True), gmv=Sum(F("amount_fen") - F("refunded_fen")))
    return GmvPeriod(start=first, end=last, reached=reached, buyers=agg["buyers"] or 0, gmv_fen=int(agg["gmv"] or 0))


def shapley(old: tuple[float, ...], new: tuple[float, ...]) -> tuple[float, ...]:
    """Each factor's share of the change of their product: its marginal effect averaged over
    every order in which the factors could have changed. The shares sum to the change exactly."""
    n = len(old)
    shares = [0.0] * n
    orders = list(permutations(range(n)))
    for order in orders:
        current = list(old)
        for i in order:
            before = _product(current)
            current[i] = new[i]
            shares[i] += _product(current) - before
    return tuple(s / len(orders) for s in shares)


def _product(values) -> float:
    out = 1.0
    for v in values:
        out *= v
    return out


@dataclass
class Cohort:
    month: date
    customers: int
    retained: list[int]  # customers with a counted order in month k after the first (k = 1.. up to this month)

    @property
    def rates(self) -> list[float]:
        return [r / self.customers if self.customers else 0.0 for r in self.retained]


def cohorts(corp: Corp, *, start: date, end: date, months: int = 12) -> list[Cohort]:
    """Monthly cohorts of first counted orders from start's month to end's month."""
    _check_period(start, end)
    first_month = start.replace(day=1)
    orders = Order.objects.filter(
        corp=corp,
        customer__isnull=False,
        amount_fen__gt=F("refunded_fen"),
        customer__value__first_paid_on__gte=first_month,
        customer__value__first_paid_on__lte=end,
    )
    cells = (
        orders.annotate(cohort=TruncMonth("customer__value__first_paid_on"), month=TruncMonth("paid_on"))
        .values("cohort", "month")
        .annotate(n=Count("customer_id", distinct=True))
        .order_by()
    )
    table: dict[date, dict[int, int]] = {}
    for cell in cells:
        cohort, month = _month(cell["cohort"]), _month(cell["month"])
        k = (month.year - cohort.year) * 12 + month.month - cohort.month
        table.setdefault(cohort, {})[k] = cell["n"]
    # Only months that have begun: a September cohort has no "+3" in November (not a 0%).
    today = corp_today(corp)
    out = []
    for cohort in sorted(table):
        counts = table[cohort]
        elapsed = (today.year - cohort.year) * 12 + today.month - cohort.month
        out.append(Cohort(month=cohort, customers=counts.get(0, 0), retained=[counts.get(k, 0) for k in range(1, min(months, elapsed) + 1)]))
    return out


def _month(value) -> date:
    if isinstance(value, datetime):
        value = value.date()
    return value.replace(day=1)
