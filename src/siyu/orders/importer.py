"""Order history from a file (CSV or Excel, as shop back-offices and tills export it).

Two passes. The first reads every row and checks it; one bad row and nothing is written, and the
report names every bad row (row number, column, problem). The second writes in batches, each one
transaction; orders are upserts on (source, order id), so running the same file again — or again
after a crash between batches — changes nothing that is already there.

A file has one row per order, or one row per order line (sku/product columns present; the rows of
one order are next to each other, as every export writes them, and repeat the order's columns).
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from django.db import transaction
from django.utils.translation import gettext as _

from siyu.corps.models import Corp
from siyu.kit.clock import now
from siyu.kit.due import DueWork
from siyu.kit.errors import InvalidInput
from siyu.kit.money import fen_from_yuan
from siyu.kit.tables import iter_table
from siyu.kit.tenancy import Actor

from . import history, services
from .models import Order, OrderImport, OrderLine, Refund
from .parse import order_in

# Accepted header names (case-insensitive) for each field; `--map field=Header` adds one.
COLUMNS: dict[str, set[str]] = {
    "order_no": {"order_no", "order_id", "订单号", "订单编号", "订单id"},
    "paid_at": {"paid_at", "支付时间", "付款时间", "下单时间"},
    "amount": {"amount", "实付金额", "支付金额", "实付", "订单金额"},
    "external_userid": {"external_userid", "外部联系人id", "外部联系人"},
    "unionid": {"unionid"},
    "phone": {"phone", "mobile", "手机号", "手机", "电话"},
    "store": {"store", "门店"},
    "staff_userid": {"staff", "staff_userid", "userid", "导购", "员工"},
    "refunded": {"refunded", "refund", "退款金额", "已退款"},
    "refunded_at": {"refunded_at", "退款时间"},
    "source": {"source", "来源", "渠道来源"},
    "coupon_code": {"coupon_code", "coupon", "券码", "优惠券码", "优惠券"},
    "mall_code": {"mall_code", "兑换码", "积分兑换码"},
    "sku": {"sku", "商品编码", "货号"},
    "product": {"product", "product_name", "商品名称", "商品"},
    "quantity": {"quantity", "qty", "数量"},
    "line_amount": {"line_amount", "商品金额", "小计"},
}
ORDER_FIELDS = (
    "order_no",
    "paid_at",
    "amount",
    "external_userid",
    "unionid",
    "phone",
    "store",
    "staff_userid",
    "refunded",
    "refunded_at",
    "source",
    "coupon_code",
    "mall_code",
)
LINE_FIELDS = ("sku", "product", "quantity", "line_amount")
MAX_REPORTED = 1000


@dataclass
class Report:
    rows: int = 0
    orders: int = 0
    errors: list[dict] = field(default_factory=list)
    error_count: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    matched: int = 0
    headers: dict[str, str] = field(default_factory=dict)  # field → the file's own heading for it

    def bad(self, row: int, column: str, code: str, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED:
            # `column` is the stable field name; `header` is what the operator sees in the file.
            self.errors.append({"row": row, "column": column, "header": self.headers.get(column, ""), "code": code, "message": message})


def header_map(header: list[str], mapping: dict[str, str]) -> dict[str, int]:
    """Which column holds which field. Explicit mappings win; unknown fields or headers are refused."""
    names = [h.strip().lower() for h in header]
    where: dict[str, int] = {}
    for fld, column in mapping.items():
        if fld not in COLUMNS:
            raise InvalidInput(
                _("--map %(fld)s=…: no field %(fld)r; fields are %(fields)s.") % {"fld": fld, "fields": ", ".join(COLUMNS)}, code="bad_mapping", field="map"
            )
        if column.strip().lower() not in names:
            raise InvalidInput(
                _("--map %(fld)s=%(column)s: the file has no column %(column)r.") % {"fld": fld, "column": column}, code="bad_mapping", field="map"
            )
        where[fld] = names.index(column.strip().lower())
    for i, name in enumerate(names):
        for fld, accepted in COLUMNS.items():
            if fld not in where and name in accepted and i not in where.values():
                where[fld] = i
    missing = [f for f in ("order_no", "paid_at") if f not in where]
    if "amount" not in where and "line_amount" not in where:
        missing.append("amount")
    if missing:
        raise InvalidInput(
            _("No column for %(fields)s: name it in the header or pass --map %(first)s=<column>.") % {"fields": ", ".join(missing), "first": missing[0]},
            code="missing_column",
            field="file",
        )
    return where


def _orders(rows: Iterator[list[str]], where: dict[str, int], width: int, source: str, report: Report) -> Iterator[tuple[int, dict]]:
    """Group rows into orders as dicts `order_in` reads; bad rows go to the report and are dropped."""
    has_lines = any(f in where for f in LINE_FIELDS)
    seen: set[str] = set()
    current: dict | None = None
    first_row = 0
    for n, row in enumerate(rows, start=2):
        if not "".join(row).strip():  # a blank row
            continue
        report.rows += 1
        if len(row) > width and "".join(row[width:]).strip():
            report.bad(n, "", "too_many_columns", _("%(cells)s cells in a table of %(columns)s columns") % {"cells": len(row), "columns": width})
            continue
        cells = {f: (row[i].strip() if i < len(row) else "") for f, i in where.items()}
        order_no = cells.get("order_no", "")
        if current is not None and has_lines and order_no == current["order_no"]:
            if any(cells.get(f, "") != current["_cells"].get(f, "") for f in ORDER_FIELDS if f in where and f not in ("amount", "refunded")):
                report.bad(
                    n,
                    "order_no",
                    "order_differs",
                    _("Order %(order_no)s has other order details than on row %(row)s") % {"order_no": order_no, "row": first_row},
                )
                current["_bad"] = True
            current["lines"].append(_line(cells))
            continue
        if current is not None:
            yield first_row, current
            current = None
        if order_no in seen:
            report.bad(
                n, "order_no", "duplicate", _("Order %(order_no)s appears again (rows of one order must be next to each other)") % {"order_no": order_no}
            )
            continue
        seen.add(order_no)
        first_row = n
        current = {
            "_cells": cells,
            "order_no": order_no,
            "source": cells.get("source") or source,
            "paid_at": cells.get("paid_at"),
            "amount": cells.get("amount") if "amount" in where else None,
            **{f: cells.get(f, "") for f in ("external_userid", "unionid", "phone", "store", "staff_userid", "coupon_code", "mall_code")},
            "lines": [_line(cells)] if has_lines else None,
            "refunded": cells.get("refunded", ""),
            "refunded_at": cells.get("refunded_at", ""),
        }
    if current is not None:
        yield first_row, current


def _line(cells: dict) -> dict:
    return {
        "sku": cells.get("sku", ""),
        "name": cells.get("product", ""),
        "quantity": cells.get("quantity") or 1,
        "amount": cells.get("line_amount") or cells.get("amount"),
    }


def _parse(corp: Corp, raw: dict, report: Report, row: int, staff_cache: dict) -> services.OrderIn | None:
    if raw.get("_bad"):
        return None
    order = dict(raw)
    try:
        if order["amount"] is None:  # no order total in the file: the lines make it
            total = sum(_fen(line["amount"], "lines.amount") for line in order["lines"])
            order["amount"] = f"{total // 100}.{total % 100:02d}"
        refunded = _fen(order["refunded"], "refunds.amount") if order["refunded"] else 0
        order["refunds"] = (
            [{"refund_no": f"{order['order_no']}/file", "amount": order["refunded"], "refunded_at": order["refunded_at"] or order["paid_at"]}]
            if refunded
            else []
        )
        data = order_in(corp, order)
        services.order_check(data)
        services.staff_id_for(corp, data.staff_userid, staff_cache)
    except InvalidInput as exc:
        where = exc.field or ""
        column = "line_amount" if where.startswith("lines") and where.endswith("amount") else where.rsplit(".", 1)[-1]
        if where.startswith("refunds"):
            column = "refunded_at" if where.endswith("refunded_at") else "refunded"
        report.bad(row, column, exc.code, exc.message)
        return None
    return data


def _fen(value, column: str) -> int:
    return fen_from_yuan(value, field=column)


def orders_import(
    *,
    corp: Corp,
    path: Path,
    source: str = "import",
    mapping: dict[str, str] | None = None,
    batch_size: int = 1000,
    check_only: bool = False,
    on_progress: Callable[[str, int, int], None] | None = None,
    user=None,
) -> Report:
    """Check the whole file, then (if every row is good and not check_only) write it in batches.
    Every import that reads its rows is recorded (OrderImport), rejected ones with their problems."""
    report = _check_and_write(corp, path, source, mapping, batch_size, check_only, on_progress)
    if not check_only:
        # The record of what was asked: each order's own source is checked.
        OrderImport.objects.create(corp=corp, file_name=path.name[:200], source=source[:32], created_by=user, **_outcome(report))
    return report


def _outcome(report: Report) -> dict:
    return {
        "status": OrderImport.Status.REJECTED if report.error_count else OrderImport.Status.IMPORTED,
        "rows": report.rows,
        "orders": report.orders,
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "matched": report.matched,
        "error_count": report.error_count,
        "errors": report.errors,
    }


# A console upload is imported by the worker: its page answers at once, and the file is written
# in batches of a transaction each, so callbacks and pages write between them. A worker that dies
# mid-file leaves a lease (the heartbeat is each progress report) that another takes over; it reads
# the file again from the start, and what was written before comes back unchanged.
IMPORT_WORK = DueWork(
    "order import",
    OrderImport,
    task="siyu.orders.tasks.run_order_import",
    waiting=(OrderImport.Status.QUEUED,),
    running=OrderImport.Status.RUNNING,
    done=OrderImport.Status.IMPORTED,
    failed=OrderImport.Status.FAILED,
    lease=timedelta(minutes=5),
    heartbeat="updated_at",
    max_attempts=3,
)


def orders_queue_import(*, actor: Actor, path: Path, source: str = "import") -> OrderImport:
    """A person's upload (the console): its heading is checked now (a file with no order number
    or amount column is refused at once, as the form's error); its rows by the worker."""
    actor.require_manager()
    _open(path, {})
    run = OrderImport.objects.create(
        corp=actor.corp, file_name=path.name[:200], source=source[:32], created_by=actor.user, status=OrderImport.Status.QUEUED, upload=path.read_bytes()
    )
    IMPORT_WORK.enqueue(run.pk)
    return run


def order_import_run(run_pk: int) -> str:
    return IMPORT_WORK.run(run_pk, _run)


def _run(claim) -> str:
    run = OrderImport.objects.select_related("corp").get(pk=claim.pk)

    def progress(phase: str, done: int, total: int) -> None:
        OrderImport.objects.filter(pk=run.pk).update(phase=phase, progress_done=done, progress_total=total, updated_at=now())

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / (Path(run.file_name).name or "orders.csv")
        path.write_bytes(bytes(run.upload or b""))
        try:
            report = _check_and_write(run.corp, path, run.source, None, 1000, False, progress)
        except InvalidInput as exc:  # the heading changed since it was checked: refused whole, as a bad row is
            report = Report()
            report.bad(0, exc.field or "file", exc.code, exc.message)
    outcome = _outcome(report)
    claim.finish(status=outcome.pop("status"), upload=None, phase="", **outcome)
    return "rejected" if report.error_count else "imported"


def order_imports_sweep(older_than: timedelta) -> int:
    return IMPORT_WORK.sweep(older_than=older_than)


def _check_and_write(corp, path, source, mapping, batch_size, check_only, on_progress) -> Report:
    report = Report()
    # Every guide read now: on PostgreSQL the connection is busy streaming the file to staging.
    staff_cache = services.staff_cache_all(corp)
    where, header = _open(path, mapping or {})
    width = len(header)
    report.headers = {f: header[i].strip() for f, i in where.items()}
    staging = None if check_only else history.Staging(corp)
    try:
        for row, raw in _orders(_rows(path), where, width, source, report):
            report.orders += 1
            data = _parse(corp, raw, report, row, staff_cache)
            if staging is not None and report.error_count:
                staging.drop()  # nothing of this file will be written
                staging = None
            if staging is not None and data is not None:
                staging.add(data, staff_cache)
            if on_progress and report.rows % 2000 == 0:
                _report(on_progress, staging, "check", report.rows)
        if on_progress:
            _report(on_progress, staging, "check", report.rows)
        report.errors.sort(key=lambda e: e["row"])
        if staging is None:
            return report
        outcome = staging.write(lambda done: on_progress("write", done, report.orders) if on_progress else None)
        report.created += outcome.created
        report.matched += outcome.matched
        report.unchanged += outcome.unchanged
        if outcome.known:
            _write_known(corp, path, where, width, source, outcome.known, batch_size, report, staff_cache)
        staging.finish(outcome.customers, created=outcome.created)
        if on_progress:
            on_progress("write", report.orders, report.orders)
        return report
    finally:
        if staging is not None:
            staging.drop()


def _report(on_progress, staging, phase: str, done: int) -> None:
    if staging is not None:
        staging.pause()  # the report is a write on the connection the staging COPY holds
    on_progress(phase, done, 0)


def _write_known(corp, path, where, width, source, known: set[int], batch_size: int, report: Report, staff_cache: dict) -> None:
    """The file's orders the corp has already (or has refunds waiting for), read again and upserted."""
    batch: list[services.OrderIn] = []
    for n, (row, raw) in enumerate(_orders(_rows(path), where, width, source, Report())):
        if n not in known:
            continue
        batch.append(_parse(corp, raw, Report(), row, staff_cache))
        if len(batch) >= batch_size:
            _write(corp, batch, report, staff_cache)
            batch = []
    if batch:
        _write(corp, batch, report, staff_cache)


def _open(path: Path, mapping: dict[str, str]) -> tuple[dict[str, int], list[str]]:
    rows = _rows(path, with_header=True)
    header = next((r for r in rows if any(c.strip() for c in r)), None)
    if header is None:
        raise InvalidInput(_("%(name)s is empty.") % {"name": path.name}, code="empty_file", field="file")
    return header_map(header, mapping), header


def _rows(path: Path, *, with_header: bool = False) -> Iterator[list[str]]:
    if not path.is_file():
        raise InvalidInput(_("No file %(path)s.") % {"path": path}, code="no_file", field="file")
    with path.open("rb") as stream:
        rows = iter_table(path.name, stream)
        if not with_header:
            for r in rows:
                if any(c.strip() for c in r):
                    break
        yield from rows


def _write(corp: Corp, batch: list[services.OrderIn], report: Report, staff_cache: dict) -> None:
    """One batch of the file's known orders, one transaction: those left as they are found with a
    few reads, the rest through the upsert that handles every case."""
    with transaction.atomic():
        by_key = {(d.source, d.order_no): d for d in batch}
        stored: dict[tuple[str, str], Order] = {}
        waiting: set[tuple[str, str]] = set()
        for src in {d.source for d in batch}:
            nos = [d.order_no for d in batch if d.source == src]
            stored |= {(src, o.order_no): o for o in Order.objects.filter(corp=corp, source=src, order_no__in=nos)}
            waiting |= {
                (src, no) for no in Refund.objects.filter(corp=corp, source=src, order_no__in=nos, order__isnull=True).values_list("order_no", flat=True)
            }
        same = _unchanged(corp, stored, by_key, waiting, staff_cache)
        report.unchanged += len(same)
        report.matched += sum(1 for k in same if stored[k].customer_id is not None)
        touched: set[int] = set()
        # The rest through the upsert: changed orders, and any not stored after all (removed, or
        # staged as known and gone since).
        for key in by_key.keys() - same:
            result = services.order_upsert(corp=corp, data=by_key[key], staff_cache=staff_cache, refresh=False)
            touched |= result.order.touched
            report.updated += result.changed and not result.created
            report.created += result.created
            report.unchanged += not result.changed
            report.matched += result.order.customer_id is not None
        services.customer_values_refresh(corp_id=corp.id, customer_ids=touched)


def _unchanged(corp: Corp, stored: dict, by_key: dict, waiting: set, staff_cache: dict) -> set:
    """Keys of stored orders that this batch leaves as they are, found with three reads per batch:
    a file imported again then costs little instead of an upsert per order. What may change goes
    through `order_upsert`, whose change test this mirrors (fields, lines, refunds, the customer
    match of an unmatched order; one with refunds waiting always goes there, to be linked)."""
    candidates = {k: o for k, o in stored.items() if k not in waiting}
    if not candidates:
        return set()
    # An unmatched order stays as it is only while its keys still match nobody.
    unmatched = [k for k, o in candidates.items() if o.customer_id is None]
    for key, customer_id in zip(unmatched, services.customers_match(corp, [services.order_keys(by_key[k]) for k in unmatched]), strict=True):
        if customer_id is not None:
            del candidates[key]
    ids = [o.id for o in candidates.values()]
    refunds: dict[int, dict] = defaultdict(dict)
    for order_id, refund_no, fen, at in Refund.objects.filter(order_id__in=ids).values_list("order_id", "refund_no", "amount_fen", "refunded_at"):
        refunds[order_id][refund_no] = (fen, at)
    lines: dict[int, list] = defaultdict(list)
    if any(by_key[k].lines is not None for k in candidates):
        for order_id, *line in OrderLine.objects.filter(order_id__in=ids).order_by("id").values_list("order_id", "sku", "name", "quantity", "amount_fen"):
            lines[order_id].append(tuple(line))
    same = set()
    for key, order in candidates.items():
        data, have = by_key[key], refunds[order.id]
        if any(getattr(order, k) != v for k, v in services.order_fields(corp, data, staff_cache).items()):
            continue
        if data.lines is not None and lines[order.id] != services.line_values(data.lines):
            continue
        if any(
            r.refund_no not in have or have[r.refund_no][0] != r.amount_fen or (r.refunded_at is not None and have[r.refund_no][1] != r.refunded_at)
            for r in data.refunds
        ):
            continue
        if sum(fen for fen, _ in have.values()) != order.refunded_fen:
            continue
        same.add(key)
    return same
