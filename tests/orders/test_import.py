"""`siyu orders import FILE`: every row checked first, the report names every bad row, nothing
written unless all are good; the same file twice changes nothing."""

import csv
import io
import json
from datetime import datetime

import pytest
from django.core.management import CommandError, call_command
from openpyxl import Workbook

from siyu.customers.models import Customer, TimelineEvent
from siyu.orders import history
from siyu.orders.models import CustomerValue, Order, OrderLine, Refund

from .. import factories as f


def write_csv(tmp_path, rows, name="orders.csv", encoding="utf-8"):
    path = tmp_path / name
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def run(corp, path, *extra):
    out = io.StringIO()
    call_command("orders", "import", str(path), "--corp", corp.corp_id, *extra, stdout=out)
    return out.getvalue()


HEADER = ["订单号", "支付时间", "实付金额", "外部联系人ID", "手机号", "门店", "导购", "退款金额"]


def test_a_good_file_is_imported_matched_and_idempotent(tmp_path, corp):
    f.staff(corp, userid="guide1")
    known = f.customer(corp, external_userid="wmKnown")
    by_phone = f.customer(corp, phones=["13800138000"])
    path = write_csv(
        tmp_path,
        [
            HEADER,
            ["E1", "2026-01-05 10:00", "89.90", "wmKnown", "", "徐汇店", "guide1", ""],
            ["E2", "2026/2/1 9:30", "199", "wmKnown", "", "徐汇店", "guide1", "50"],
            ["E3", "2026-02-03 20:00", "45.5", "", "13800138000", "静安店", "", ""],
            ["E4", "2026-02-04 20:00", "10", "wmStranger", "", "", "", ""],
        ],
        encoding="gb18030",
    )  # a GBK export from a Chinese till
    out = run(corp, path)
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary == {"rows": 4, "orders": 4, "created": 4, "updated": 0, "unchanged": 0, "matched": 3}
    assert Order.objects.get(order_no="E2").refunded_fen == 5000 and Refund.objects.count() == 1
    assert Order.objects.get(order_no="E1").staff.userid == "guide1"
    v = CustomerValue.objects.get(customer=known)
    assert (v.order_count, v.net_fen) == (2, 8990 + 14900)
    assert CustomerValue.objects.get(customer=by_phone).net_fen == 4550
    assert Order.objects.get(order_no="E4").customer_id is None
    summary = json.loads(run(corp, path).strip().splitlines()[-1])
    assert (summary["created"], summary["unchanged"]) == (0, 4)
    assert Order.objects.count() == 4 and Refund.objects.count() == 1
    # The stranger is added later: their order is theirs.
    stranger = f.customer(corp, external_userid="wmStranger")
    assert CustomerValue.objects.get(customer=stranger).net_fen == 1000


def test_bad_rows_are_all_reported_and_nothing_is_written(tmp_path, corp):
    path = write_csv(
        tmp_path,
        [
            HEADER,
            ["B1", "2026-01-05 10:00", "89.90", "", "", "", "", ""],
            ["B2", "2026-01-05 10:00", "89.999", "", "", "", "", ""],
            ["B3", "not a date", "10", "", "", "", "", ""],
            ["B1", "2026-01-06 10:00", "5", "", "", "", "", ""],
            ["B4", "2026-01-05 10:00", "10", "", "12345", "", "", ""],
            ["B5", "2026-01-05 10:00", "10", "", "", "", "nobody", ""],
            ["B6", "2026-01-05 10:00", "10", "", "", "", "", "11"],
            ["B7", "2026-01-05 10:00", "10", "", "", "", "", "", "extra"],
        ],
    )
    report = tmp_path / "report.csv"
    with pytest.raises(CommandError, match="7 bad rows"):
        run(corp, path, "--report", str(report))
    assert not Order.objects.exists() and not Refund.objects.exists()
    with report.open(encoding="utf-8-sig") as fh:
        report_rows = list(csv.DictReader(fh))
    rows = [(int(r["row"]), r["column"], r["code"]) for r in report_rows]
    # Each problem also names the column as the file heads it, for the operator fixing the file.
    assert [r["header"] for r in report_rows] == [HEADER[2], HEADER[1], HEADER[0], HEADER[4], HEADER[6], HEADER[7], ""]
    assert rows == [
        (3, "amount", "amount_precision"),
        (4, "paid_at", "bad_time"),
        (5, "order_no", "duplicate"),
        (6, "phone", "bad_phone"),
        (7, "staff_userid", "unknown_staff"),
        (8, "refunded", "refund_exceeds_amount"),
        (9, "", "too_many_columns"),
    ]


def test_a_file_imported_again_changes_exactly_what_differs(tmp_path, corp):
    known = f.customer(corp, external_userid="wmKnown")
    rows = [
        HEADER,
        ["E1", "2026-01-05 10:00", "89.90", "wmKnown", "", "徐汇店", "", ""],
        ["E2", "2026-02-01 09:30", "199", "wmKnown", "", "徐汇店", "", "50"],
        ["E3", "2026-02-03 20:00", "45.5", "wmKnown", "", "静安店", "", ""],
        ["E4", "2026-02-04 20:00", "10", "wmLater", "", "", "", ""],
        ["E5", "2026-02-05 20:00", "10", "wmNobody", "", "", "", ""],
    ]
    run(corp, write_csv(tmp_path, rows))
    # A customer written straight into the table, past the services that match orders on arrival:
    # the import itself must see that E4 now has its buyer.
    later = Customer.objects.create(corp=corp, external_userid="wmLater", name="later")
    rows[1][2] = "99.90"  # E1 corrected at the till
    rows[2][7] = "80"  # E2's refund grew
    summary = json.loads(run(corp, write_csv(tmp_path, rows)).strip().splitlines()[-1])
    assert (summary["created"], summary["updated"], summary["unchanged"], summary["matched"]) == (0, 3, 2, 4)
    assert Order.objects.get(order_no="E1").amount_fen == 9990
    assert Order.objects.get(order_no="E2").refunded_fen == 8000 and Refund.objects.count() == 1
    assert Order.objects.get(order_no="E4").customer_id == later.id and Order.objects.get(order_no="E5").customer_id is None
    assert CustomerValue.objects.get(customer=known).net_fen == 9990 + 19900 - 8000 + 4550
    assert CustomerValue.objects.get(customer=later).net_fen == 1000
    # And once more: nothing left to change.
    summary = json.loads(run(corp, write_csv(tmp_path, rows)).strip().splitlines()[-1])
    assert (summary["updated"], summary["unchanged"]) == (0, 5)


def test_a_file_of_order_lines_makes_orders_with_lines(tmp_path, corp):
    path = write_csv(
        tmp_path,
        [
            ["order_id", "paid_at", "external_userid", "sku", "product_name", "quantity", "line_amount"],
            ["L1", "2026-03-01 10:00", "wmA", "MILK-1", "一段奶粉", "2", "398.00"],
            ["L1", "2026-03-01 10:00", "wmA", "WIPES", "湿巾", "1", "19.9"],
            ["L2", "2026-03-02 10:00", "wmA", "MILK-1", "一段奶粉", "1", "199"],
        ],
    )
    run(corp, path)
    l1 = Order.objects.get(order_no="L1")
    assert l1.amount_fen == 39800 + 1990
    assert list(l1.lines.order_by("id").values_list("sku", "quantity", "amount_fen")) == [("MILK-1", 2, 39800), ("WIPES", 1, 1990)]
    assert OrderLine.objects.count() == 3
    assert json.loads(run(corp, path).strip().splitlines()[-1])["unchanged"] == 2
    path = write_csv(
        tmp_path,
        [
            ["order_id", "paid_at", "external_userid", "sku", "product_name", "quantity", "line_amount"],
            ["L1", "2026-03-01 10:00", "wmA", "MILK-1", "一段奶粉", "2", "398.00"],
            ["L1", "2026-03-01 10:00", "wmA", "WIPES", "湿巾", "2", "39.8"],  # one more pack of wipes
            ["L2", "2026-03-02 10:00", "wmA", "MILK-1", "一段奶粉", "1", "199"],
        ],
    )
    summary = json.loads(run(corp, path).strip().splitlines()[-1])
    assert (summary["updated"], summary["unchanged"]) == (1, 1)
    assert list(Order.objects.get(order_no="L1").lines.order_by("id").values_list("sku", "quantity", "amount_fen")) == [
        ("MILK-1", 2, 39800),
        ("WIPES", 2, 3980),
    ]
    assert Order.objects.get(order_no="L1").amount_fen == 39800 + 3980 and OrderLine.objects.count() == 3


def test_rows_of_one_order_must_agree(tmp_path, corp):
    path = write_csv(
        tmp_path,
        [
            ["order_id", "paid_at", "external_userid", "sku", "line_amount"],
            ["L1", "2026-03-01 10:00", "wmA", "A", "1"],
            ["L1", "2026-03-01 10:00", "wmB", "B", "1"],
        ],
    )
    with pytest.raises(CommandError, match="1 bad rows"):
        run(corp, path)
    assert not Order.objects.exists()


def test_columns_are_mapped_by_name(tmp_path, corp):
    path = write_csv(tmp_path, [["单据", "时间", "金额(元)"], ["M1", "2026-03-01 10:00", "12.30"]])
    with pytest.raises(CommandError, match="没有 order_no, paid_at, amount 对应的列"):
        run(corp, path)
    with pytest.raises(CommandError, match="文件中没有列 '单号'"):
        run(corp, path, "--map", "order_no=单号")
    run(corp, path, "--map", "order_no=单据", "--map", "paid_at=时间", "--map", "amount=金额(元)", "--source", "pos")
    assert Order.objects.get().amount_fen == 1230 and Order.objects.get().source == "pos"


def test_excel_with_numbers_and_dates(tmp_path, corp):
    wb = Workbook()
    ws = wb.active
    ws.append(["订单号", "支付时间", "实付金额", "手机号"])
    ws.append([20260301001, datetime(2026, 3, 1, 10, 0), 89.9, 13800138000])
    ws.append([20260301002, datetime(2026, 3, 2, 10, 0), 100, 13800138001])
    path = tmp_path / "orders.xlsx"
    wb.save(path)
    run(corp, path)
    o = Order.objects.get(order_no="20260301001")
    assert (o.amount_fen, o.phone, o.paid_on.isoformat()) == (8990, "13800138000", "2026-03-01")


def test_check_only_writes_nothing(tmp_path, corp):
    path = write_csv(tmp_path, [HEADER, ["C1", "2026-01-05 10:00", "1", "", "", "", "", ""]])
    assert "all good" in run(corp, path, "--check")
    assert not Order.objects.exists()


def test_a_chunk_is_one_transaction_and_running_again_finishes_it(tmp_path, corp, monkeypatch):
    """A failure while writing the second chunk keeps the first and leaves no part of the second;
    the same file again writes the rest, and the values count the orders of both runs."""
    buyer = f.customer(corp, external_userid="wmBuyer")
    path = write_csv(tmp_path, [HEADER, *[[f"T{i}", f"2026-01-0{i + 1} 10:00", "1", "wmBuyer", "", "", "", ""] for i in range(5)]])
    monkeypatch.setattr(history, "chunk_size", lambda: 2)
    real = history.Staging._write_chunk
    calls = []

    def failing(self, start, end, **kw):
        calls.append(start)
        written = real(self, start, end, **kw)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return written

    monkeypatch.setattr(history.Staging, "_write_chunk", failing)
    with pytest.raises(RuntimeError):
        run(corp, path)
    assert sorted(Order.objects.values_list("order_no", flat=True)) == ["T0", "T1"]
    assert TimelineEvent.objects.filter(customer=buyer, kind="order").count() == 2
    monkeypatch.setattr(history.Staging, "_write_chunk", real)
    summary = json.loads(run(corp, path).strip().splitlines()[-1])
    assert (summary["created"], summary["unchanged"], summary["matched"]) == (3, 2, 5) and Order.objects.count() == 5
    assert TimelineEvent.objects.filter(customer=buyer, kind="order").count() == 5
    value = CustomerValue.objects.get(customer=buyer)
    assert (value.order_count, value.net_fen, value.last_paid_on.day) == (5, 500, 5)


def test_unknown_corp_and_missing_file(tmp_path, corp):
    with pytest.raises(CommandError, match="No corp"):
        call_command("orders", "import", "x.csv", "--corp", "nope")
    with pytest.raises(CommandError, match="没有文件"):
        run(corp, tmp_path / "missing.csv")
