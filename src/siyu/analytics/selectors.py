"""Reads for analytics pages and the API that are more than a one-liner."""

from __future__ import annotations

from django.db import connection
from django.db.models import Sum

from siyu.kit.tenancy import Actor

from .models import ClvFit, CustomerClv

DECILES = 10


def clv_overview(actor: Actor) -> tuple[ClvFit, list[dict], int]:
    """The corp's fit (an unsaved blank one before the first), CLV by decile of buyers, and the total."""
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
    from siyu.orders.selectors import customer_value as order_value

    from . import rfm

    value = order_value(actor, customer_id)
    cls = None
    if value.order_count:
        cls = rfm.customer_classes(actor.corp, rfm.current_result(actor.corp), [customer_id]).get(customer_id)
    return value, cls, CustomerClv.objects.filter(customer_id=customer_id, corp=actor.corp).first()


def clv_top(actor: Actor, n: int = 20) -> list[CustomerClv]:
    return list(CustomerClv.objects.filter(corp=actor.corp).select_related("customer", "customer__value").order_by("-clv_fen")[:n])


def value_rows(actor: Actor, customer_ids: list[int]) -> dict[int, dict]:
    """For a page of customers: orders, spend, last order, RFM class and CLV, keyed by customer."""
    from siyu.orders.models import CustomerValue

    from . import rfm

    result = rfm.current_result(actor.corp)
    classes = rfm.customer_classes(actor.corp, result, customer_ids)
    clv = {c.customer_id: c for c in CustomerClv.objects.filter(corp=actor.corp, customer_id__in=customer_ids)}
    out = {}
    for v in CustomerValue.objects.filter(corp=actor.corp, customer_id__in=customer_ids):
        out[v.customer_id] = {"value": v, "rfm": classes.get(v.customer_id), "clv": clv.get(v.customer_id)}
    return out
