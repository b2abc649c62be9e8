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
        cls = rfm.customer_classes(actor.corp, rfm.rfm_compute(actor.corp), [customer_id]).get(customer_id)
    return value, cls, CustomerClv.objects.filter(customer_id=customer_id, corp=actor.corp).first()
