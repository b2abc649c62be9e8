#!/usr/bin/env python3
"""HQ's statistics of the guide's day on a large corp: reply figures, the 14-day golden period,
leaderboards, a guide's own rank and the key-metrics page.

    SIYU_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python benchmarks/guide_stats.py --reuse CORPID

The corp is an earlier mass_send.py or guide_tasks.py run's (customers, guides). Once, this script
gives it what the statistics read: the guides in 500 stores under 20 regions, the adds spread over
the last 90 days, 90 days of WeCom behaviour data per guide, orders for a fifth of the customers,
and guides' contacts with a third of them. Then it times each read as HQ's page asks it (a cold
run, then the median of three). Prints its figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import timedelta

from _stack import setup_django

BATCH = 20_000


def prepare(corp) -> None:
    from django.db import connection, transaction

    from siyu.corps.models import Department, Staff
    from siyu.customers.models import Follow
    from siyu.guides.models import GuideContact, StaffDay
    from siyu.kit.clock import now
    from siyu.orders.models import Order

    if Department.objects.filter(corp=corp, wecom_id=900000).exists():
        return  # prepared by an earlier run
    rng = random.Random(5)
    stamp = now()
    started = time.perf_counter()
    with transaction.atomic():
        regions = [Department.objects.create(corp=corp, wecom_id=900000 + r, name=f"大区{r}") for r in range(20)]
        stores = [Department.objects.create(corp=corp, wecom_id=910000 + s, name=f"门店{s}", parent=regions[s % 20]) for s in range(500)]
        staff = list(Staff.objects.filter(corp=corp).order_by("id").values_list("pk", flat=True))
        for i, store in enumerate(stores):
            Staff.objects.filter(pk__in=staff[i::500]).update(department=store)
        with connection.cursor() as cursor:
            # Adds spread over 90 days, one in twenty later ended.
            cursor.execute(
                "UPDATE customers_follow SET added_at = %s - (id %% 90) * interval '1 day' - (id %% 24) * interval '1 hour' WHERE corp_id = %s",
                [stamp, corp.pk],
            )
            cursor.execute("UPDATE customers_follow SET deleted_by_customer_at = added_at + interval '2 days' WHERE corp_id = %s AND id %% 20 = 0", [corp.pk])
        days = [(stamp - timedelta(days=d)).date() for d in range(1, 91)]
        StaffDay.objects.bulk_create(
            [
                StaffDay(corp=corp, staff_id=s, day=d, chats=(c := rng.randint(0, 20)), messages=3 * c, replied_chats=rng.randint(0, c), pulled_at=stamp)
                for s in staff
                for d in days
            ],
            batch_size=BATCH,
            ignore_conflicts=True,  # a day guide_tasks.py's behaviour pull wrote
        )
        follows = list(Follow.objects.filter(corp=corp).values_list("customer_id", "staff_id", "added_at"))
        orders, contacts = [], []
        for n, (customer_id, staff_id, added_at) in enumerate(follows):
            if n % 5 == 0:
                for k in range(1 + n % 3):
                    paid = added_at + timedelta(days=rng.randint(-30, 30))
                    if paid < stamp:
                        orders.append(
                            Order(
                                corp=corp,
                                order_no=f"GS{n}-{k}",
                                customer_id=customer_id,
                                paid_at=paid,
                                paid_on=paid.date(),
                                amount_fen=rng.randint(5000, 40000),
                            )
                        )
            if n % 3 == 0:
                contacts.append(
                    GuideContact(corp=corp, staff_id=staff_id, customer_id=customer_id, how="reply", at=added_at + timedelta(days=rng.randint(0, 20)))
                )
        Order.objects.bulk_create(orders, batch_size=BATCH)
        GuideContact.objects.bulk_create(contacts, batch_size=BATCH)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    took = time.perf_counter() - started
    print(f"prepared: {len(staff)} guides in 500 stores, {len(follows)} follows, {len(orders)} orders, {len(contacts)} contacts in {took:.1f}s")


def timed(label: str, function) -> None:
    started = time.perf_counter()
    result = function()
    cold = time.perf_counter() - started
    warm = []
    for _ in range(3):
        started = time.perf_counter()
        function()
        warm.append(time.perf_counter() - started)
    size = len(result) if isinstance(result, list) else len(result.get("rows") or result.get("totals") or []) if isinstance(result, dict) else 1
    print(f"{label}: {size} rows, first {cold:.2f}s, median {statistics.median(warm):.2f}s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reuse", required=True, help="the corp id of an earlier mass_send.py or guide_tasks.py run")
    args = parser.parse_args()
    setup_django()
    from django.db import connection

    from siyu.corps.models import Corp, Staff
    from siyu.customers.models import Follow
    from siyu.guides import selectors
    from siyu.kit.clock import now
    from siyu.kit.tenancy import Actor, Role

    if connection.vendor != "postgresql":
        raise SystemExit("guide_stats.py prepares its corp with PostgreSQL's SQL: set SIYU_DATABASE_URL.")
    corp = Corp.objects.get(corp_id=args.reuse)
    print(f"corp {args.reuse}: {Staff.objects.filter(corp=corp).count()} guides, {Follow.objects.filter(corp=corp).count()} follows ({connection.vendor})")
    prepare(corp)
    hq = Actor(user=None, corp=corp, role=Role.ADMIN)
    last = now().astimezone(corp.tzinfo).date()
    month = last - timedelta(days=29)
    quarter = last - timedelta(days=89)
    timed("reply figures, regions by month, 90 days", lambda: selectors.reply_stats(hq, quarter, last, by="region", period="month"))
    timed("golden period, stores, 30 days", lambda: selectors.golden_period(hq, month, last, by="department"))
    timed("leaderboard, stores, 30 days", lambda: selectors.leaderboard(hq, month, last, by="department"))
    timed("leaderboard, guides, 30 days", lambda: selectors.leaderboard(hq, month, last, by="staff"))
    guide = Actor(user=None, corp=corp, role=Role.GUIDE, staff_id=Staff.objects.filter(corp=corp).order_by("id").values_list("pk", flat=True).first())
    timed("a guide's own rank, 30 days", lambda: [selectors.my_rank(guide, month, last)])
    timed("key metrics, the company by month, 90 days", lambda: selectors.key_metrics(hq, quarter, last, period="month"))
    timed("key metrics, regions, 30 days", lambda: selectors.key_metrics(hq, month, last, by="region"))


if __name__ == "__main__":
    main()
