#!/usr/bin/env python3
"""Order history import at scale: what `siyu orders import FILE` does with a brand's export.

    .venv/bin/python benchmarks/order_import.py [--customers 100000] [--orders 1000000] [--excel] [--first-only]
    SIYU_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python benchmarks/order_import.py

Writes a CSV (or with --excel an .xlsx) with the Chinese headings a till exports (订单号, 支付时间,
实付金额, 外部联系人ID, 门店, 退款金额), a tenth of the rows for buyers who are not customers yet,
and imports it through the importer the command and the console use: every row checked while it
is streamed to a staging table, then written a chunk a transaction, customer values rebuilt at
the end. Then imports the same file again (every order known: nothing changes; skipped with
--first-only) and prints both, with orders per second and the phases (checking and staging,
then writing). SQLite goes to a throw-away directory; on PostgreSQL the corp is made anew
each run and removed after. Asserts nothing about speed.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

HEADER = ["订单号", "支付时间", "实付金额", "外部联系人ID", "门店", "退款金额"]


def write_file(path: Path, customers: int, orders: int, excel: bool) -> None:
    rng = np.random.default_rng(3)
    who = rng.integers(0, int(customers * 1.1), size=orders)  # ids past `customers` are not customers yet
    start = datetime.now(UTC) - timedelta(days=730)
    seconds = np.sort(rng.integers(0, 730 * 86400 - 3600, size=orders))
    fen = (np.exp(rng.normal(9.0, 1.0, size=orders))).astype(np.int64) + 100
    refund = np.where(rng.random(orders) < 0.04, fen // 2, 0)
    stores = ["静安店", "徐汇店", "天河店", "线上商城"]

    def rows():
        for k in range(orders):
            paid = (start + timedelta(seconds=int(seconds[k]))).astimezone().strftime("%Y-%m-%d %H:%M:%S")
            yield [
                f"T{k:09d}",
                paid,
                f"{fen[k] // 100}.{fen[k] % 100:02d}",
                f"wmIMP{int(who[k]):08d}",
                stores[k % 4],
                f"{refund[k] // 100}.{refund[k] % 100:02d}" if refund[k] else "",
            ]

    if excel:
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet()
        sheet.append(HEADER)
        for row in rows():
            sheet.append(row)
        book.save(path)
    else:
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(HEADER)
            w.writerows(rows())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--excel", action="store_true", help="an .xlsx file instead of CSV")
    parser.add_argument("--first-only", action="store_true", help="only the first import (at tens of millions the second takes long)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="siyu-bench-import-"))
    if "SIYU_DATABASE_URL" not in os.environ:
        os.environ["SIYU_DATA_DIR"] = str(work)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "siyu.settings")
    os.environ["SIYU_LOG_LEVEL"] = "ERROR"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from siyu.corps.models import Corp
    from siyu.corps.services import corp_create
    from siyu.customers.models import Customer
    from siyu.orders.importer import orders_import
    from siyu.orders.models import CustomerValue, Order

    call_command("migrate", verbosity=0)
    corp_id = f"wwimport{args.customers}"
    Corp.objects.filter(corp_id=corp_id).delete()
    corp = corp_create(corp_id=corp_id, name="Import benchmark", timezone="Asia/Shanghai")
    Customer.objects.bulk_create([Customer(corp=corp, external_userid=f"wmIMP{i:08d}", name=f"客户{i}") for i in range(args.customers)], batch_size=5000)
    path = work / ("orders.xlsx" if args.excel else "orders.csv")
    started = time.perf_counter()
    write_file(path, args.customers, args.orders, args.excel)
    print(
        f"Order import on {connection.vendor}, {os.cpu_count()} CPUs: {args.orders:,} orders ({path.stat().st_size / 1e6:.0f} MB {path.suffix}) "
        f"for {args.customers:,} customers, batches of {args.batch_size:,}; file written in {time.perf_counter() - started:.1f} s"
    )

    runs = ("first import (all new)",) if args.first_only else ("first import (all new)", "same file again (all unchanged)")
    for label in runs:
        phases: dict[str, float] = {}
        started = time.perf_counter()

        def on_progress(phase: str, done: int, total: int, phases=phases, started=started) -> None:
            phases[phase] = time.perf_counter() - started

        report = orders_import(corp=corp, path=path, source="till", batch_size=args.batch_size, on_progress=on_progress)
        took = time.perf_counter() - started
        check = phases.get("check", took)
        print(
            f"  {label:34} {took:7.1f} s  {args.orders / took:9,.0f} orders/s  (checking and staging {check:.1f} s, writing {took - check:.1f} s;"
            f" created {report.created:,}, unchanged {report.unchanged:,}, matched {report.matched:,}, bad rows {report.error_count})"
        )
    buyers = CustomerValue.objects.filter(corp=corp, order_count__gte=1).count()
    print(f"  {Order.objects.filter(corp=corp).count():,} orders stored, {buyers:,} customers with a counted order")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for table in ("orders_customervalue", "orders_refund", "orders_order", "customers_timelineevent", "customers_customer"):
                cursor.execute(f"DELETE FROM {table} WHERE corp_id = %s", [corp.id])
        corp.delete()


if __name__ == "__main__":
    main()
