"""RFM: recency, frequency, monetary, each high or low, gives the eight classes of seed 000 §3.5.

R is the number of days from a buyer's last counted order (its local date) to the as-of date,
F the number of counted orders, M the net amount paid, over a window ending at the as-of date
(default: all time). Thresholds are the median over buyers (customers with at least one counted
order in the window), the mean, or fixed values. Recent means R ≤ the threshold; high F or M means
strictly above it. Customers without an order are "no purchase", not a class.

Because R, F and M are integers, each threshold becomes an exact integer bound (last order on or
after a date, at least n orders, at least m fen); the same bounds classify one customer, count the
classes, and filter a segment, so the three can never disagree.

The source of (last order day, F, M) per buyer is the maintained `CustomerValue` table for the
all-time window up to today, and the orders themselves for any other window or as-of date.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from fractions import Fraction

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, ExpressionWrapper, F, Max, Q, Sum, fields
from django.db.models.expressions import RawSQL
from django.utils.translation import gettext_lazy as _

from siyu.corps.models import Corp
from siyu.customers.models import Customer
from siyu.kit.clock import now
from siyu.kit.errors import InvalidInput
from siyu.orders.models import CustomerValue, Order

from .models import RfmSettings


@dataclass(frozen=True)
class RfmClass:
    letter: str
    recent: bool
    frequent: bool
    big: bool
    name: str  # in Chinese the seed's own three characters: 近/久, 高/低, 高/低
    label: str


CLASSES = [
    RfmClass("A", True, True, True, _("Recent-High-High"), _("Recent, frequent, high spend")),
    RfmClass("B", True, True, False, _("Recent-High-Low"), _("Recent, frequent, low spend")),
    RfmClass("C", True, False, True, _("Recent-Low-High"), _("Recent, infrequent, high spend")),
    RfmClass("D", True, False, False, _("Recent-Low-Low"), _("Recent, infrequent, low spend")),
    RfmClass("E", False, True, True, _("Lapsed-High-High"), _("Lapsed, frequent, high spend")),
    RfmClass("F", False, True, False, _("Lapsed-High-Low"), _("Lapsed, frequent, low spend")),
    RfmClass("G", False, False, True, _("Lapsed-Low-High"), _("Lapsed, infrequent, high spend")),
    RfmClass("H", False, False, False, _("Lapsed-Low-Low"), _("Lapsed, infrequent, low spend")),
]
BY_LETTER = {c.letter: c for c in CLASSES}
BY_FLAGS = {(c.recent, c.frequent, c.big): c for c in CLASSES}

# The seed's approach: A are the super users to serve first; every other class has its own plan,
# the aim being to move customers step by step towards A; its worked example (long gone, few
# orders, little spend) is H. Operators replace these with their own texts.
DEFAULT_STRATEGIES = {
    "A": _("Super users: serve them first, one guide each; new products and member benefits first; invite them to become distribution partners."),
    "B": _("Buy often but spend little: recommend bundles, spend-and-save offers and add-on deals to raise the order value."),
    "C": _(
        "Buy rarely but spend a lot: high-value customers; send premium new products and member benefits related to what they bought, "
        "to raise how often they buy."
    ),
    "D": _("New customers who just bought: serve and follow up after the first order; a second-order coupon turns it into a habit."),
    "E": _("Important customers who are slipping away: a guide's personal call to learn why, and an exclusive coupon to win them back soon."),
    "F": _("Used to buy often with small orders, not for a long time: offers on what they used to buy and new-product trials to wake them up."),
    "G": _("Spent a lot on few orders, not for a long time: brand stories and premium products, and exclusive treatment to reconnect."),
    "H": _(
        "Hardly bought lately and little before: try different product bundles, brand content and discounts; "
        "if nothing works they may not be the audience, and can be let go."
    ),
}


@dataclass
class Thresholds:
    """A threshold per dimension (as computed, possibly fractional) and its exact integer bound."""

    recency_days: float
    frequency: float
    monetary_fen: float

    def recent_since(self, as_of: date) -> date:
        # R ≤ t  ⟺  R ≤ ⌊t⌋  ⟺  last order on or after as_of − ⌊t⌋.
        return as_of - timedelta(days=math.floor(self.recency_days))

    @property
    def frequent_from(self) -> int:
        return math.floor(self.frequency) + 1  # F > t ⟺ F ≥ ⌊t⌋ + 1

    @property
    def big_from(self) -> int:
        return math.floor(self.monetary_fen) + 1


@dataclass
class ClassRow:
    rfm: RfmClass
    strategy: str
    customers: int = 0
    gmv_fen: int = 0
    share: float = 0.0
    gmv_share: float = 0.0


@dataclass
class Quintiles:
    """The classic 1–5 scores: cut points at the 20/40/60/80th percentiles (nearest rank). R scores
    5 for the most recent; F and M score 5 for the most. Equal values always score the same."""

    recency_cuts: list[int]
    frequency_cuts: list[int]
    monetary_cuts: list[int]
    grid: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)  # (R score, F score) → (customers, GMV fen)


@dataclass
class RfmResult:
    as_of: date
    window_days: int | None
    method: str
    buyers: int
    non_buyers: int
    gmv_fen: int
    thresholds: Thresholds
    classes: list[ClassRow]
    quintiles: Quintiles | None = None

    def row(self, letter: str) -> ClassRow:
        return next(r for r in self.classes if r.rfm.letter == letter)


def rfm_settings(corp: Corp) -> RfmSettings:
    return RfmSettings.objects.filter(corp=corp).first() or RfmSettings(corp=corp)


def corp_today(corp: Corp) -> date:
    return now().astimezone(corp.tzinfo).date()


def source(corp: Corp, as_of: date, window_days: int | None):
    """A queryset of one row per buyer: customer_id, last_on, f, m."""
    if window_days is None and as_of >= corp_today(corp):
        return (
            CustomerValue.objects.filter(corp=corp, order_count__gte=1)
            .annotate(last_on=F("last_paid_on"), f=F("order_count"), m=F("net_fen"))
            .values("customer_id", "last_on", "f", "m")
        )
    orders = Order.objects.filter(corp=corp, customer__isnull=False, amount_fen__gt=F("refunded_fen"), paid_on__lte=as_of)
    if window_days is not None:
        orders = orders.filter(paid_on__gt=as_of - timedelta(days=window_days))
    net = ExpressionWrapper(F("amount_fen") - F("refunded_fen"), output_field=fields.BigIntegerField())
    return orders.values("customer_id").annotate(last_on=Max("paid_on"), f=Count("id"), m=Sum(net)).order_by()


def _sql(qs) -> tuple[str, list]:
    sql, params = qs.query.sql_with_params()
    return f"({sql}) s", list(params)


BUYER_INDEXES = {"facts": "cv_buyer_facts", "spend": "cv_buyer_spend", "count": "cv_buyer_count"}


def buyers_sql(corp: Corp, as_of: date, window_days: int | None, *, index: str = "facts") -> tuple[str, list]:
    """`source` as SQL for whole-population scans. From the value table it reads one of the partial
    indexes that hold exactly the buyers' facts; SQLite is told which (INDEXED BY), since its
    planner, seeing `order_count >= 1`, would rather walk another index and visit every row."""
    if window_days is None and as_of >= corp_today(corp):
        hint = f" INDEXED BY {BUYER_INDEXES[index]}" if connection.vendor == "sqlite" else ""
        table = CustomerValue._meta.db_table
        return (
            f"(SELECT customer_id, last_paid_on AS last_on, order_count AS f, net_fen AS m FROM {table}{hint} WHERE corp_id = %s AND order_count >= 1) s",
            [corp.id],
        )
    return _sql(source(corp, as_of, window_days))


def _rows(query: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall()


def _date_param(d: date):
    return connection.ops.adapt_datefield_value(d)


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _nearest_rank(histogram: list[tuple[int, int]], p: Fraction) -> int:
    """The value at rank ⌈p·n⌉ of a sorted (value, count) histogram."""
    n = sum(c for _, c in histogram)
    rank, seen = max(1, math.ceil(p * n)), 0
    for value, count in histogram:
        seen += count
        if seen >= rank:
            return value
    raise ValueError("empty histogram")


def _median(histogram: list[tuple[int, int]]) -> Fraction:
    n = sum(c for _, c in histogram)
    low, high = _kth(histogram, (n - 1) // 2), _kth(histogram, n // 2)
    return Fraction(low + high, 2)


def _kth(histogram, k: int) -> int:
    seen = 0
    for value, count in histogram:
        seen += count
        if seen > k:
            return value
    raise ValueError("k out of range")


def _m_pair(src: str, params: list, k: int) -> tuple[int, int]:
    """The k-th and (k+1)-th smallest M (0-based), in one walk."""
    rows = _rows(f"SELECT m FROM {src} ORDER BY m LIMIT 2 OFFSET %s", [*params, k])
    return int(rows[0][0]), int(rows[-1][0])


def _m_at(src: str, params: list, k: int) -> int:
    (value,) = _rows(f"SELECT m FROM {src} ORDER BY m LIMIT 1 OFFSET %s", [*params, k])[0]
    return int(value)


def rfm_compute(corp: Corp, *, as_of: date | None = None, settings: RfmSettings | None = None, quintiles: bool = False) -> RfmResult:
    settings = settings or rfm_settings(corp)
    as_of = as_of or corp_today(corp)
    if settings.window_days is not None and settings.window_days < 1:
        raise InvalidInput(_("The window is at least 1 day, or empty for all time."), code="bad_window", field="window_days")
    src, params = buyers_sql(corp, as_of, settings.window_days)
    spend_src, spend_params = buyers_sql(corp, as_of, settings.window_days, index="spend")
    count_src, count_params = buyers_sql(corp, as_of, settings.window_days, index="count")
    # R and F take few distinct values (days, order counts): their histograms are small and give
    # medians, means and percentiles exactly. M is summed in SQL and ranked with OFFSET.
    # R and F histograms are small (days, order counts) and each is read in index order.
    r_hist, gmv = [], 0
    for d, count, total in _rows(f"SELECT last_on, COUNT(*), SUM(m) FROM {src} GROUP BY last_on", params):
        r_hist.append(((as_of - _as_date(d)).days, count))
        gmv += int(total)
    r_hist.sort()
    f_hist = sorted((int(f), count) for f, count in _rows(f"SELECT f, COUNT(*) FROM {count_src} GROUP BY f", count_params))
    buyers = sum(count for _, count in f_hist)
    non_buyers = Customer.objects.filter(corp=corp).count() - buyers
    if not buyers:
        thresholds = Thresholds(0, 0, 0)
    elif settings.method == RfmSettings.Method.FIXED:
        thresholds = Thresholds(settings.recency_days, settings.frequency, settings.monetary_fen)
    elif settings.method == RfmSettings.Method.MEAN:
        thresholds = Thresholds(
            float(Fraction(sum(v * c for v, c in r_hist), buyers)),
            float(Fraction(sum(v * c for v, c in f_hist), buyers)),
            float(Fraction(gmv, buyers)),
        )
    else:
        low, high = _m_pair(spend_src, spend_params, (buyers - 1) // 2)
        m_median = Fraction(low + (high if buyers % 2 == 0 else low), 2)
        thresholds = Thresholds(float(_median(r_hist)), float(_median(f_hist)), float(m_median))
    strategies = {**DEFAULT_STRATEGIES, **{k: v for k, v in (settings.strategies or {}).items() if v}}
    rows = {c.letter: ClassRow(rfm=c, strategy=strategies[c.letter]) for c in CLASSES}
    if buyers:
        # Recent and lapsed buyers are two ranges of the index; within each, a few sums give the
        # four classes (frequent and big, by inclusion–exclusion) without grouping.
        since, f_from, m_from = _date_param(thresholds.recent_since(as_of)), thresholds.frequent_from, thresholds.big_from
        for recent in (True, False):
            n, total, n_f, n_m, n_fm, g_f, g_m, g_fm = (
                int(v or 0)
                for v in _rows(
                    "SELECT COUNT(*), SUM(m), SUM(CASE WHEN f >= %s THEN 1 ELSE 0 END), SUM(CASE WHEN m >= %s THEN 1 ELSE 0 END),"
                    " SUM(CASE WHEN f >= %s AND m >= %s THEN 1 ELSE 0 END), SUM(CASE WHEN f >= %s THEN m ELSE 0 END),"
                    " SUM(CASE WHEN m >= %s THEN m ELSE 0 END), SUM(CASE WHEN f >= %s AND m >= %s THEN m ELSE 0 END)"
                    f" FROM {src} WHERE last_on {'>=' if recent else '<'} %s",
                    [f_from, m_from, f_from, m_from, f_from, m_from, f_from, m_from, *params, since],
                )[0]
            )
            split = {
                (True, True): (n_fm, g_fm),
                (True, False): (n_f - n_fm, g_f - g_fm),
                (False, True): (n_m - n_fm, g_m - g_fm),
                (False, False): (n - n_f - n_m + n_fm, total - g_f - g_m + g_fm),
            }
            for (frequent, big), (count, money) in split.items():
                row = rows[BY_FLAGS[(recent, frequent, big)].letter]
                row.customers, row.gmv_fen = count, money
                row.share, row.gmv_share = count / buyers, (money / gmv if gmv else 0.0)
    result = RfmResult(
        as_of=as_of,
        window_days=settings.window_days,
        method=settings.method,
        buyers=buyers,
        non_buyers=non_buyers,
        gmv_fen=gmv,
        thresholds=thresholds,
        classes=list(rows.values()),
    )
    if quintiles and buyers:
        result.quintiles = _quintiles(src, params, spend_src, spend_params, r_hist, f_hist, buyers, as_of)
    return result


def _quintiles(src: str, params: list, spend_src: str, spend_params: list, r_hist, f_hist, buyers: int, as_of: date) -> Quintiles:
    ps = [Fraction(k, 5) for k in range(1, 5)]
    q = Quintiles(
        recency_cuts=[_nearest_rank(r_hist, p) for p in ps],
        frequency_cuts=[_nearest_rank(f_hist, p) for p in ps],
        monetary_cuts=[_m_at(spend_src, spend_params, max(1, math.ceil(p * buyers)) - 1) for p in ps],
    )
    r_score = " + ".join(["1"] + ["CASE WHEN last_on >= %s THEN 1 ELSE 0 END" for _ in q.recency_cuts])
    f_score = " + ".join(["1"] + ["CASE WHEN f > %s THEN 1 ELSE 0 END" for _ in q.frequency_cuts])
    r_params = [_date_param(as_of - timedelta(days=cut)) for cut in q.recency_cuts]  # R ≤ cut ⟺ last_on ≥ as_of − cut
    cells = _rows(
        f"SELECT r, fs, COUNT(*), COALESCE(SUM(m), 0) FROM (SELECT {r_score} AS r, {f_score} AS fs, m FROM {src}) g GROUP BY r, fs",
        [*r_params, *q.frequency_cuts, *params],
    )
    q.grid = {(int(r), int(fs)): (count, int(total)) for r, fs, count, total in cells}
    return q


CACHE_SECONDS = 600


def current_result(corp: Corp) -> RfmResult:
    """Today's classes for per-customer labels and segment filters, computed at most every ten
    minutes per corp (thresholds move slowly; the RFM page itself always computes afresh)."""

    settings = rfm_settings(corp)
    result = cache.get(_cache_key(corp, settings))
    if result is None:
        result = rfm_compute(corp, settings=settings)
        remember(corp, result, settings)
    return result


def remember(corp: Corp, result: RfmResult, settings: RfmSettings | None = None) -> None:
    """Keep a result just computed (the RFM page's) so labels and segments agree with what was shown."""

    settings = settings or rfm_settings(corp)
    if result.as_of == corp_today(corp) and result.window_days == settings.window_days:
        cache.set(_cache_key(corp, settings), result, CACHE_SECONDS)


def _cache_key(corp: Corp, settings: RfmSettings) -> str:
    return f"siyu:rfm:{corp.id}:{corp_today(corp).isoformat()}:{settings.updated_at.timestamp() if settings.updated_at else 0}"


def quintile_scores(q: Quintiles, *, r_days: int, f: int, m: int) -> tuple[int, int, int]:
    return (
        1 + sum(r_days <= cut for cut in q.recency_cuts),
        1 + sum(f > cut for cut in q.frequency_cuts),
        1 + sum(m > cut for cut in q.monetary_cuts),
    )


def class_of(thresholds: Thresholds, as_of: date, *, last_on: date, f: int, m: int) -> RfmClass:
    return BY_FLAGS[(last_on >= thresholds.recent_since(as_of), f >= thresholds.frequent_from, m >= thresholds.big_from)]


def customer_classes(corp: Corp, result: RfmResult, customer_ids) -> dict[int, RfmClass]:
    """The class of each of these customers under `result` (customers without orders are absent)."""
    ids = list(customer_ids)
    if not ids:
        return {}
    qs = source(corp, result.as_of, result.window_days).filter(customer_id__in=ids)
    return {row["customer_id"]: class_of(result.thresholds, result.as_of, last_on=_as_date(row["last_on"]), f=row["f"], m=row["m"]) for row in qs}


def class_q(corp: Corp, result: RfmResult, letters, *, on_value: bool = False) -> Q:
    """A filter on customers (or, with on_value, on their `CustomerValue` rows): in any of these
    classes under `result`."""
    letters = set(letters)
    unknown = letters - set(BY_LETTER)
    if unknown:
        raise InvalidInput(_("No RFM class %(value)r; classes are A–H.") % {"value": sorted(unknown)[0]}, code="bad_rfm_class", field="rfm")
    t, since = result.thresholds, result.thresholds.recent_since(result.as_of)
    chosen = [c for c in CLASSES if c.letter in letters]
    if not chosen:
        return Q(pk__in=[])
    if result.window_days is not None or result.as_of < corp_today(corp):
        # Another window or day: the classes come from the orders, as customer ids.
        src, params = _sql(source(corp, result.as_of, result.window_days))
        conditions = [f"(last_on {'>=' if c.recent else '<'} %s AND f {'>=' if c.frequent else '<'} %s AND m {'>=' if c.big else '<'} %s)" for c in chosen]
        cond_params = [p for _c in chosen for p in (_date_param(since), t.frequent_from, t.big_from)]
        ids = RawSQL(f"SELECT customer_id FROM {src} WHERE {' OR '.join(conditions)}", [*params, *cond_params])
        return Q(customer_id__in=ids) if on_value else Q(id__in=ids)
    prefix = "" if on_value else "value__"
    last, f, m = f"{prefix}last_paid_on", f"{prefix}order_count", f"{prefix}net_fen"
    q = Q(pk__in=[])
    for c in chosen:
        q |= (
            Q(**{f"{f}__gte": 1})
            & (Q(**{f"{last}__gte": since}) if c.recent else Q(**{f"{last}__lt": since}))
            & (Q(**{f"{f}__gte": t.frequent_from}) if c.frequent else Q(**{f"{f}__lt": t.frequent_from}))
            & (Q(**{f"{m}__gte": t.big_from}) if c.big else Q(**{f"{m}__lt": t.big_from}))
        )
    return q
