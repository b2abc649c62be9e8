"""Reads for analytics pages and the API that are more than a one-liner."""

from __future__ import annotations

from datetime import date

from django.db import connection
from django.db.models import Sum

from siyu.kit.tenancy import Actor
from siyu.orders.models import CustomerValue
from siyu.orders.selectors import customer_value as order_value

from . import funnels, pareto, rfm
from .models import ClvFit, CustomerClv

DECILES = 10


# -- the API's and the console's reads of customer value: the role is decided here, once ----------
# Corp-wide figures are a manager's (admin, operator); a guide is refused.
def rfm_for(actor: Actor, *, as_of: date | None = None, quintiles: bool = False) -> rfm.RfmResult:
    actor.require_manager()
    result = rfm.rfm_compute(actor.corp, as_of=as_of, quintiles=quintiles)
    rfm.remember(actor.corp, result)
    return result


def rfm_settings_for(actor: Actor) -> rfm.RfmSettings:
    actor.require_manager()
    return rfm.rfm_settings(actor.corp)


def super_users_for(actor: Actor, *, share: float = 0.8, as_of: date | None = None) -> pareto.Pareto:
    actor.require_manager()
    return pareto.pareto(actor.corp, share=share, as_of=as_of)


def funnel_for(actor: Actor, *, start: date, end: date, by: str = "week") -> funnels.Funnel:
    actor.require_manager()
    return funnels.funnel(actor.corp, start=start, end=end, by=by)


def gmv_for(actor: Actor, *, start: date, end: date, period: str = "month") -> list[funnels.GmvPeriod]:
    actor.require_manager()
    return funnels.gmv_decomposition(actor.corp, start=start, end=end, period=period)


def cohorts_for(actor: Actor, *, start: date, end: date, months: int = 12) -> list[funnels.Cohort]:
    actor.require_manager()
    return funnels.cohorts(actor.corp, start=start, end=end, months=months)


def clv_overview(actor: Actor) -> tuple[ClvFit, list[dict], int]:
    """The corp's fit (an unsaved blank one before the first), CLV by decile of buyers, and the total."""
    actor.require_manager()
    fit = ClvFit.objects.filter(corp=actor.corp).first() or ClvFit(corp=actor.corp)
    rows = CustomerClv.objects.filter(corp=actor.corp)
    n = rows.count()
    total = rows.aggregate(s=Sum("clv_fen"))["s"] or 0
    deciles = []
    if n and total:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT tile, COUNT(*), SUM(clv_fen) FROM (SELECT clv_fen, NTILE(%s) OVER (ORDER BY clv_fen DESC) AS tile"
                f" FROM {CustomerClv._meta.db_table} WHERE corp_id = %s) t GROUP BY tile ORDER BY tile",
                [DECILES, actor.corp.id],
            )
            for tile, count, s in cursor.fetchall():
                deciles.append({"decile": int(tile), "customers": int(count), "clv_fen": int(s), "share": int(s) / total})
    return fit, deciles, int(total)


def customer_value(actor: Actor, customer_id: int):
    """A customer's order facts, RFM class today and CLV (guides: their own customers only)."""

    value = order_value(actor, customer_id)
    cls = None
    if value.order_count:
        cls = rfm.customer_classes(actor.corp, rfm.current_result(actor.corp), [customer_id]).get(customer_id)
    return value, cls, CustomerClv.objects.filter(customer_id=customer_id, corp=actor.corp).first()


def clv_top(actor: Actor, n: int = 20) -> list[CustomerClv]:
    actor.require_manager()
    return list(CustomerClv.objects.filter(corp=actor.corp).select_related("customer", "customer__value").order_by("-clv_fen")[:n])


def value_rows(actor: Actor, customer_ids: list[int]) -> dict[int, dict]:
    """For a page of customers: orders, spend, last order, RFM class and CLV, keyed by customer."""

    result = rfm.current_result(actor.corp)
    classes = rfm.customer_classes(actor.corp, result, customer_ids)
    clv = {c.customer_id: c for c in CustomerClv.objects.filter(corp=actor.corp, customer_id__in=customer_ids)}
    out = {}
    for v in CustomerValue.objects.filter(corp=actor.corp, customer_id__in=customer_ids):
        out[v.customer_id] = {"value": v, "rfm": classes.get(v.customer_id), "clv": clv.get(v.customer_id)}
    return out
