"""Customer value kept current order by order equals the one-statement rebuild, after random
sequences of orders, corrections, refunds (also before their orders) and late matches."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import F

from siyu.customers.services import customer_add_phones
from siyu.orders.models import CustomerValue, Order
from siyu.orders.services import OrderIn, RefundIn, customer_values_rebuild, order_upsert, refund_record

from .. import factories as f

FIELDS = (
    "customer_id",
    "order_count",
    "paid_fen",
    "refunded_fen",
    "net_fen",
    "first_paid_at",
    "first_paid_on",
    "second_paid_at",
    "last_paid_at",
    "last_paid_on",
)


def snapshot(corp):
    return sorted(CustomerValue.objects.filter(corp=corp).values_list(*FIELDS))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_and_rebuild_agree(corp, seed):
    rng = random.Random(seed)
    customers = [f.customer(corp, external_userid=f"wm{i}") for i in range(12)]
    start = datetime(2025, 1, 1, tzinfo=UTC)
    orders: dict[str, int] = {}
    refunds: dict[str, int] = {}  # refund_no → order_no
    for step in range(300):
        action = rng.random()
        if action < 0.55 or not orders:
            no = f"O{rng.randrange(120)}"  # re-posting a known number is a correction
            amount = rng.choice([0, 990, 8990, 12000, 50000])
            # Ties on purpose: several orders at the same moment, and around local midnight.
            paid_at = start + timedelta(hours=rng.choice([0, 16, 16, 40, 100, 1000, 3000]))
            who = rng.choice([*(c.external_userid for c in customers), "wmNobodyYet", ""])
            already = sum(a for r, a in refunds.items() if r.startswith(no + "/"))
            order_upsert(
                corp=corp,
                data=OrderIn(order_no=no, paid_at=paid_at, amount_fen=max(amount, already), external_userid=who, phone="13800138000" if who == "" else ""),
            )
            orders[no] = max(amount, already)
        elif action < 0.85:
            no = rng.choice([*orders, "O999"])  # O999: a refund for an order that never arrives
            refunded = sum(a for r, a in refunds.items() if r.startswith(no + "/"))
            left = orders.get(no, 10**6) - refunded
            if left <= 0:
                continue
            amount = rng.choice([left, max(1, left // 2), 1])
            refund_no = f"{no}/{step}"
            refund_record(corp=corp, source="api", order_no=no, refund=RefundIn(refund_no=refund_no, amount_fen=amount))
            refunds[refund_no] = amount
        else:
            # Someone's phone becomes known: orders that named only that phone are theirs now.
            customer_add_phones(customer=rng.choice(customers), phones=["13800138000"])
    incremental = snapshot(corp)
    assert any(row[1] >= 2 for row in incremental), "the sequence should give someone a second order"
    assert Order.objects.filter(corp=corp, refunded_fen=F("amount_fen"), amount_fen__gt=0).exists(), "and some order fully refunded"
    customer_values_rebuild(corp=corp)
    assert snapshot(corp) == incremental
