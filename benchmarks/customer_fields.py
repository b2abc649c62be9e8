#!/usr/bin/env python3
"""Custom fields at size: a sheet of every customer's baby birth date and formula stage imported
(all or nothing, in one transaction), the lifecycle stages placed for every customer, and a
segment of 6–12-month-old babies counted.

    SIYU_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python benchmarks/customer_fields.py --reuse CORPID

The corp is an earlier mass_send.py or guide_tasks.py run's. The fields and stages are made once
(a second run imports the same sheet again: nothing changes, which is timed too). Prints its
figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import timedelta

from _stack import setup_django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reuse", required=True, help="the corp id of an earlier mass_send.py or guide_tasks.py run")
    args = parser.parse_args()
    setup_django()
    from django.db import connection

    from siyu.analytics import segments
    from siyu.corps.models import Corp
    from siyu.customers import fields, stages
    from siyu.customers.models import Customer, CustomField, LifecycleStage
    from siyu.kit.clock import now
    from siyu.kit.tenancy import Actor, Role

    corp = Corp.objects.get(corp_id=args.reuse)
    hq = Actor(user=None, corp=corp, role=Role.ADMIN)
    if not CustomField.objects.filter(corp=corp, key="baby_birth_date").exists():
        fields.custom_field_save(actor=hq, name="宝宝生日", key="baby_birth_date", kind="date")
        fields.custom_field_save(actor=hq, name="奶粉段数", key="formula_stage", kind="choice", choices=["1段", "2段", "3段"])
    if not LifecycleStage.objects.filter(corp=corp).exists():
        for position, (name, first, until) in enumerate((("0-6月", 0, 180), ("6-12月", 180, 365), ("1-3岁", 365, 1095))):
            stages.stage_save(actor=hq, name=name, field_key="baby_birth_date", from_days=first, to_days=until, position=position)
    today = now().astimezone(corp.tzinfo).date()
    rng = random.Random(3)
    ids = list(Customer.objects.filter(corp=corp).order_by("id").values_list("external_userid", flat=True))
    lines = ["external_userid,宝宝生日,奶粉段数"]
    for external_userid in ids:
        born = today - timedelta(days=rng.randint(0, 3 * 365))
        lines.append(f"{external_userid},{born.isoformat()},{rng.choice(('1段', '2段', '3段'))}")
    sheet = "\n".join(lines).encode()
    print(f"corp {args.reuse}: {len(ids)} customers ({connection.vendor}); the sheet {len(sheet) / 1e6:.1f} MB")
    for attempt in ("first", "again"):
        started = time.perf_counter()
        done = fields.customer_fields_import(actor=hq, file_name="values.csv", content=sheet)
        took = time.perf_counter() - started
        print(
            f"import ({attempt}): {done.rows} rows in {took:.1f}s ({done.rows / took:,.0f} rows/s), "
            f"{done.values_changed} values changed for {done.customers_changed} customers"
        )
    started = time.perf_counter()
    moved = stages.stages_place(corp_id=corp.pk, today=today + timedelta(days=1))
    print(f"stages placed for every customer (a day later): {moved} moved in {time.perf_counter() - started:.1f}s")
    filters = segments.SegmentFilters.from_json(
        {"fields": [{"key": "baby_birth_date", "op": "age_days_gte", "value": 180}, {"key": "baby_birth_date", "op": "age_days_lte", "value": 365}]}
    )
    for attempt in ("first", "warm"):
        started = time.perf_counter()
        n = segments.segment_count(hq, filters)
        print(f"segment count, babies of 6–12 months ({attempt}): {n} in {time.perf_counter() - started:.2f}s")


if __name__ == "__main__":
    main()
