"""Super users (seed 000 §3.5: "20% of users make 80% of GMV"): the smallest set of buyers whose
spend reaches a chosen share of GMV, and the concentration (Lorenz) curve with its Gini index."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from fractions import Fraction

from siyu.corps.models import Corp

from .rfm import _rows, buyers_sql, corp_today, rfm_settings


@dataclass
class Pareto:
    as_of: date
    share: float
    buyers: int
    gmv_fen: int
    super_users: int  # the smallest number of buyers whose spend reaches `share` of GMV
    super_users_gmv_fen: int
    spent_min_fen: int  # the spend of the last of them: buyers spending at least this are the segment
    segment_size: int  # buyers spending at least spent_min_fen (ties included)
    lorenz: list[tuple[float, float]]  # (share of buyers from the smallest spender up, share of GMV)
    gini: float
    top20_gmv_share: float

    @property
    def super_users_share(self) -> float:
        return self.super_users / self.buyers if self.buyers else 0.0


def pareto(corp: Corp, *, share: float = 0.8, as_of: date | None = None, points: int = 100) -> Pareto:
    as_of = as_of or corp_today(corp)
    src, params = buyers_sql(corp, as_of, rfm_settings(corp).window_days, index="spend")
    # Spend values repeat (prices, packs): grouping first keeps the transfer small at millions of buyers.
    hist = [(int(m), int(c)) for m, c in _rows(f"SELECT m, COUNT(*) FROM {src} GROUP BY m ORDER BY m DESC", params)]
    buyers = sum(c for _, c in hist)
    gmv = sum(m * c for m, c in hist)
    result = Pareto(
        as_of=as_of,
        share=share,
        buyers=buyers,
        gmv_fen=gmv,
        super_users=0,
        super_users_gmv_fen=0,
        spent_min_fen=0,
        segment_size=0,
        lorenz=[(0.0, 0.0), (1.0, 1.0)],
        gini=0.0,
        top20_gmv_share=0.0,
    )
    if not buyers or gmv <= 0:
        return result
    # Largest spenders first: take whole groups while short of the target, then part of the next.
    target = Fraction(share).limit_denominator(10**6) * gmv
    taken = taken_gmv = 0
    for m, c in hist:
        if taken_gmv >= target:
            break
        need = c if m <= 0 else min(c, -(-(target - taken_gmv) // m))
        taken += int(need)
        taken_gmv += int(need) * m
        result.spent_min_fen = m
        result.segment_size = taken - int(need) + c
    result.super_users, result.super_users_gmv_fen = taken, taken_gmv
    top20 = -(-buyers * 20 // 100)
    result.top20_gmv_share = _top_gmv(hist, top20) / gmv
    result.lorenz, result.gini = _lorenz(hist, buyers, gmv, points)
    return result


def _top_gmv(hist, k: int) -> int:
    total = 0
    for m, c in hist:
        if k <= 0:
            break
        n = min(c, k)
        total += n * m
        k -= n
    return total


def _lorenz(hist, buyers: int, gmv: int, points: int) -> tuple[list[tuple[float, float]], float]:
    """The curve from the smallest spender up, sampled at `points` equal steps of buyers, and the
    Gini index computed exactly from all buyers (1 − 2·area under the curve, trapezoids per group)."""
    ascending = list(reversed(hist))
    curve, twice_area = [(0.0, 0.0)], 0  # 2·area·buyers·gmv, kept an integer
    people = spent = 0
    marks = [Fraction(i, points) * buyers for i in range(1, points + 1)]
    mark = 0
    for m, c in ascending:
        before_people, before_spent = people, spent
        people += c
        spent += m * c
        twice_area += c * (before_spent + spent)
        while mark < len(marks) and marks[mark] <= people:
            at = marks[mark]
            curve.append((float(at / buyers), float((before_spent + (at - before_people) * m) / gmv)))
            mark += 1
    gini = 1 - twice_area / (buyers * gmv)
    return curve, gini
