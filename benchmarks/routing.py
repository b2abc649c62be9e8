#!/usr/bin/env python3
"""Routing decision cost per scan for an exact-mode live code with a large staff pool.

    .venv/bin/python benchmarks/routing.py [--staff 10000] [--scans 500] [--as department|staff]
    SIYU_DATABASE_URL=postgres://postgres@127.0.0.1:5432/siyu_bench .venv/bin/python benchmarks/routing.py

Times `assign_staff_for_scan` (pool expansion, today's counters, schedule and cap checks, the
choice, the counter update, in one locked transaction) for each routing mode, and prints p50/p99.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import time

from _stack import pct, setup_django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--staff", type=int, default=10_000)
    parser.add_argument("--scans", type=int, default=500)
    parser.add_argument("--as", dest="as_", choices=("department", "staff"), default="staff", help="pool listed staff by staff, or as one department")
    args = parser.parse_args()
    setup_django()
    from django.db import connection, transaction

    from siyu.acquisition import services
    from siyu.acquisition.models import LiveCode
    from siyu.corps.models import Corp, Department, Staff
    from siyu.corps.services import corp_create
    from siyu.kit.tenancy import Actor, Role

    corp_id = f"wwroute{args.staff}{args.as_[0]}"
    corp = Corp.objects.filter(corp_id=corp_id).first()
    if corp is None:
        t0 = time.perf_counter()
        with transaction.atomic():
            corp = corp_create(corp_id=corp_id, name="路由压测")
            dept = Department.objects.create(corp=corp, wecom_id=2, name="门店")
            Staff.objects.bulk_create([Staff(corp=corp, userid=f"g{i:05d}", name=f"导购{i}", department=dept) for i in range(args.staff)], batch_size=2000)
        print(f"built {args.staff} staff in {time.perf_counter() - t0:.1f}s")
    actor = Actor(user=None, corp=corp, role=Role.OWNER)
    # Routing only: no WeCom behind this corp, so saving a code does not push it anywhere.
    services.live_code_push_or_queue = lambda live_code_id: None
    dept = Department.objects.get(corp=corp, wecom_id=2)
    staff_ids = list(Staff.objects.filter(corp=corp).values_list("id", flat=True))
    members = (
        [{"department_id": dept.id, "daily_cap": 1000}]
        if args.as_ == "department"
        else [{"staff_id": s, "weight": 1 + s % 3, "daily_cap": 1000} for s in staff_ids]
    )
    channel = services.Channel.objects.filter(corp=corp).first() or services.channel_create(actor=actor, name="压测", group="store")
    print(f"{connection.vendor}, pool of {args.staff} staff listed as {args.as_}, {args.scans} scans per mode")
    for mode in ("rotate", "weighted", "least_loaded"):
        with transaction.atomic():
            code = services.live_code_save(
                actor=actor,
                channel=channel,
                name=f"压测-{mode}",
                mode="exact",
                routing_mode=mode,
                members=members,
                schedule={"weekly": {str(d): [["00:00", "24:00"]] for d in range(1, 8)}},
            )
        code = LiveCode.objects.select_related("corp").get(pk=code.pk)
        times = []
        for _ in range(args.scans):
            t0 = time.perf_counter()
            services.assign_staff_for_scan(live_code=code)
            times.append((time.perf_counter() - t0) * 1000)
        print(f"  {mode:<13} p50 {pct(times, 0.5):7.1f} ms   p99 {pct(times, 0.99):7.1f} ms")


if __name__ == "__main__":
    main()
