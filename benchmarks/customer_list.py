#!/usr/bin/env python3
"""Customer list and filter latency at scale, through the real API (Django test client, token auth).

    .venv/bin/python benchmarks/customer_list.py [--customers 100000] [--runs 15]
    SIYU_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python benchmarks/customer_list.py

SQLite goes to a throw-away data directory. On PostgreSQL the benchmark corp is built once in the
given database and reused by later runs. Prints load time and p50/p95 per query; asserts nothing.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    if "SIYU_DATABASE_URL" not in os.environ:
        os.environ["SIYU_DATA_DIR"] = tempfile.mkdtemp(prefix="siyu-bench-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "siyu.settings")
    os.environ["SIYU_LOG_LEVEL"] = "ERROR"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from siyu.corps.models import Corp, Staff, User
    from siyu.corps.services import api_token_create, membership_grant, user_create
    from siyu.demo.seed import build_corp
    from siyu.tags.models import Tag

    call_command("migrate", verbosity=0)
    corp_id = f"wwbench{args.customers}"
    corp = Corp.objects.filter(corp_id=corp_id).first()
    if corp is None:
        started = time.perf_counter()
        from django.db import transaction

        with transaction.atomic():
            corp = build_corp(corp_id=corp_id, name="Benchmark", customers=args.customers, seed=7)
        print(f"load: {args.customers} customers with follows, tags, timeline in {time.perf_counter() - started:.1f}s ({connection.vendor})")
    else:
        print(f"load: reusing {corp_id} ({connection.vendor})")
    user = User.objects.filter(username=f"bench-{corp_id}").first() or user_create(username=f"bench-{corp_id}", password="bench-password")
    membership = membership_grant(user=user, corp=corp, role="admin")
    _, raw = api_token_create(membership=membership, name="bench")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")

    tags = {t.name: t.id for t in Tag.objects.for_corp(corp)}
    staff = Staff.objects.for_corp(corp).filter(position="导购").order_by("id").first()
    first_page = client.get("/api/v1/customers", {"limit": 50}).json()
    queries = {
        "first page, no filter": {},
        "page 2 via cursor": {"cursor": first_page["next_cursor"]},
        "tags_all (2 tags)": {"tags_all": [tags["门店"], tags["VIP"]]},
        "tags_any (3 tags)": {"tags_any": [tags["孕期"], tags["0-6月"], tags["6-12月"]]},
        "staff + added range": {"staff_id": [staff.id], "added_from": "2026-01-01", "added_to": "2026-12-31"},
        "channel state": {"state": "parcel"},
        "3 filters (tag, state, dates)": {"tags_all": [tags["VIP"]], "state": "store-0201", "added_from": "2026-06-01"},
        "phone prefix search": {"q": "1380"},
        "name search": {"q": "王"},
    }
    print(f"{'query':34} {'p50 ms':>8} {'p95 ms':>8} {'rows':>5}")
    for label, params in queries.items():
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            response = client.get("/api/v1/customers", {"limit": 50, **params})
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.content
        rows = len(response.json()["items"])
        times.sort()
        print(f"{label:34} {statistics.median(times):8.1f} {times[int(0.95 * (len(times) - 1))]:8.1f} {rows:5d}")
    from siyu.customers.selectors import CustomerFilters, customer_list
    from siyu.kit.tenancy import Actor

    actor = Actor(user=user, corp=corp, role="admin")
    times = []
    for _ in range(max(3, args.runs // 3)):
        started = time.perf_counter()
        total = customer_list(actor, CustomerFilters(tags_all=[tags["VIP"]])).count()
        times.append((time.perf_counter() - started) * 1000)
    print(f"{'console count (tags_all VIP)':34} {statistics.median(times):8.1f} {max(times):8.1f} {total:5d}")


if __name__ == "__main__":
    main()
