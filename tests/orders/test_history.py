"""The bulk path of a history import (staging, INSERT … SELECT, OrdersImported, values at the end)
leaves a corp exactly as the per-order path (`order_upsert`, one order at a time, as the API
stores them) leaves an identical corp: orders and their customers, refunds, lines, timeline
entries, customer values, RFM, points earned and membership levels. On random histories, then
again after a second file that changes some orders and adds others."""

import csv
import io
import random
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from siyu.analytics.rfm import rfm_compute
from siyu.customers.models import Customer, TimelineEvent
from siyu.engagement import earning, members
from siyu.engagement.models import PointsAccount, PointsEntry, PointsPolicy
from siyu.orders import history, importer
from siyu.orders.models import CustomerValue, Order, OrderLine, Product, Refund
from siyu.orders.parse import order_in
from siyu.orders.services import order_upsert

from .. import factories as f

pytestmark = pytest.mark.django_db(transaction=False)

HEADER = ["订单号", "支付时间", "实付金额", "外部联系人ID", "unionid", "手机号", "门店", "导购", "退款金额", "商品编码", "商品名称", "数量", "小计"]


def brand(name: str):
    """A corp with the same staff, products, customers (some found only by unionid or phone, two
    sharing a phone and a unionid), points on since 30 days ago, and two levels."""
    corp = f.corp(name)
    f.staff(corp, userid="guide1")
    Product.objects.create(corp=corp, sku="MILK-1", name="一段奶粉")
    for i in range(12):
        f.customer(corp, external_userid=f"wmH{i:03d}", unionid=f"un{i:03d}" if i % 3 == 0 else "", phones=[f"1380000{i:04d}"] if i % 4 == 0 else [])
    f.customer(corp, external_userid="wmTwinA", phones=["13911112222"], unionid="unTwin")
    f.customer(corp, external_userid="wmTwinB", phones=["13911112222"], unionid="unTwin")
    actor = f.actor(corp)
    earning.policy_save(actor=actor, active=True, per_yuan=2, refund_days=7)
    PointsPolicy.objects.filter(corp=corp).update(since=timezone.now() - timedelta(days=30))
    members.level_save(actor=actor, name="银卡", rank=1, min_spend_fen=50_000)
    members.level_save(actor=actor, name="金卡", rank=2, min_orders=4)
    return corp


def history_of(rng: random.Random, count: int, prefix: str = "H") -> list[dict]:
    """Orders as a till exports them: buyers by external_userid, unionid, phone (one shared, naming
    nobody) or unknown; some refunded, some with two lines, some with the guide."""
    now = timezone.now()
    orders = []
    for k in range(count):
        who = rng.random()
        i = rng.randrange(14)
        paid_at = (now - timedelta(minutes=rng.randrange(60, 90 * 24 * 60))).astimezone(timezone.get_fixed_timezone(480))
        lines = None
        if rng.random() < 0.3:
            first, second = rng.randrange(100, 50_000), rng.randrange(100, 5_000)
            lines = [
                {"sku": "MILK-1", "name": "一段奶粉", "quantity": rng.randrange(1, 4), "amount": f"{first / 100:.2f}"},
                {"sku": "WIPES", "name": "湿巾", "quantity": 1, "amount": f"{second / 100:.2f}"},
            ]
            amount = first + second
        else:
            amount = rng.randrange(0, 200_000)
        orders.append(
            {
                "order_no": f"{prefix}{k:05d}",
                "paid_at": paid_at.strftime("%Y-%m-%d %H:%M:%S"),
                "amount": f"{amount / 100:.2f}",
                "external_userid": f"wmH{i:03d}" if who < 0.5 else ("wmStranger" if who > 0.9 else ""),
                "unionid": (f"un{i:03d}" if i < 12 else "unTwin") if 0.5 <= who < 0.65 else "",
                "phone": (f"1380000{i:04d}" if who < 0.8 else "13911112222") if 0.65 <= who <= 0.9 else "",
                "store": rng.choice(["静安店", "徐汇店", ""]),
                "staff_userid": "guide1" if rng.random() < 0.3 else "",
                "refunded": f"{rng.randrange(1, amount + 1) / 100:.2f}" if amount and rng.random() < 0.15 else "",
                "lines": lines,
            }
        )
    return orders


def as_file(tmp_path, orders: list[dict], name: str):
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow(HEADER)
    for o in orders:
        head = [
            o["order_no"],
            o["paid_at"],
            o["amount"],
            o["external_userid"],
            o["unionid"],
            o["phone"],
            o["store"],
            o["staff_userid"],
        ]
        for line in o["lines"] or [{"sku": "", "name": "", "quantity": "", "amount": ""}]:
            out.writerow([*head, o["refunded"], line["sku"], line["name"], line["quantity"], line["amount"]])
    path = tmp_path / name
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def one_by_one(corp, orders: list[dict]) -> None:
    """What the API does with each order, in the importer's terms (its refund number and time)."""
    for o in orders:
        # A file with line columns gives an order without lines one line of its whole amount.
        row = {**o, "source": "till", "refunds": [], "lines": o["lines"] or [{"sku": "", "name": "", "quantity": 1, "amount": o["amount"]}]}
        if o["refunded"]:
            row["refunds"] = [{"refund_no": f"{o['order_no']}/file", "amount": o["refunded"], "refunded_at": o["paid_at"]}]
        with transaction.atomic():
            order_upsert(corp=corp, data=order_in(corp, row))


def state(corp) -> dict:
    by_euid = lambda c: c.external_userid if c else None  # noqa: E731
    orders = sorted(
        (o.order_no, o.paid_at, o.paid_on, o.amount_fen, o.refunded_fen, o.store, o.phone, o.unionid, o.staff_id is not None, by_euid(o.customer))
        for o in Order.objects.filter(corp=corp).select_related("customer")
    )
    refunds = sorted(Refund.objects.filter(corp=corp).values_list("refund_no", "order_no", "order__order_no", "amount_fen", "refunded_at"))
    lines = list(
        OrderLine.objects.filter(corp=corp)
        .order_by("order__order_no", "id")
        .values_list("order__order_no", "sku", "name", "quantity", "amount_fen", "product__sku")
    )
    timeline = sorted(
        (e.customer.external_userid, e.occurred_at, e.data["order_no"], e.data["amount_fen"], e.data["store"], e.data["source"])
        for e in TimelineEvent.objects.filter(corp=corp, kind="order").select_related("customer")
    )
    values = sorted(
        (
            v.customer.external_userid,
            v.order_count,
            v.paid_fen,
            v.refunded_fen,
            v.net_fen,
            v.first_paid_at,
            v.first_paid_on,
            v.second_paid_at,
            v.last_paid_at,
            v.last_paid_on,
        )
        for v in CustomerValue.objects.filter(corp=corp).select_related("customer")
    )
    rfm = rfm_compute(corp)
    points = sorted(
        (e.customer.external_userid, e.kind, e.reason, e.points, e.pending_change, e.at)
        for e in PointsEntry.objects.filter(corp=corp).select_related("customer")
    )
    levels = sorted(
        (a.customer.external_userid, a.level.name if a.level_id else None, a.earned)
        for a in PointsAccount.objects.filter(corp=corp).select_related("customer", "level")
    )
    return {
        "orders": orders,
        "refunds": refunds,
        "lines": lines,
        "timeline": timeline,
        "values": values,
        "rfm": (rfm.thresholds, [(r.rfm.letter, r.customers, r.gmv_fen) for r in rfm.classes], rfm.buyers, rfm.gmv_fen),
        "points": points,
        "levels": levels,
    }


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_bulk_path_leaves_what_the_per_order_path_leaves(tmp_path, monkeypatch, seed):
    rng = random.Random(seed)
    monkeypatch.setattr(history, "chunk_size", lambda: 17)  # several chunks, and staging flushed mid-file
    monkeypatch.setattr(history, "STAGE_BATCH", 11)
    bulk, plain = brand("导入企业"), brand("逐单企业")
    first = history_of(rng, 90)
    report = importer.orders_import(corp=bulk, path=as_file(tmp_path, first, "first.csv"), source="till")
    assert (report.error_count, report.created) == (0, 90)
    one_by_one(plain, first)
    assert state(bulk) == state(plain)
    assert PointsEntry.objects.filter(corp=bulk).exists() and PointsAccount.objects.filter(corp=bulk, level__isnull=False).exists()

    # A second file: a third of the orders changed (amount, store), some lines and refunds changed,
    # the rest as they were, and new ones. Meanwhile the stranger became a customer without their
    # orders being matched (a row written straight, as a race with an import could leave it): the
    # file's orders that named nobody by that contact now name them.
    second = [dict(o) for o in first]
    changed = set()
    for o in rng.sample(second, 30):
        if o["lines"] is None and not o["refunded"]:
            o["amount"] = f"{rng.randrange(100, 90_000) / 100:.2f}"
        o["store"] = "天河店"
        changed.add(o["order_no"])
    lined = [o for o in second if o["lines"] and o["order_no"] not in changed]
    for o, change in zip(lined, [{"quantity": 5}, {"amount": "0.50"}, {"name": "湿巾（大）"}, {"sku": "MILK-1"}], strict=False):
        o["lines"] = [o["lines"][0], {**o["lines"][1], **change}]
        changed.add(o["order_no"])
    for o in [o for o in second if o["refunded"] and o["order_no"] not in changed][:3]:
        o["refunded"] = "0.01" if o["refunded"] != "0.01" else "0.02"
        changed.add(o["order_no"])
    changed |= {o["order_no"] for o in second if o["external_userid"] == "wmStranger"}
    for corp in (bulk, plain):
        Customer.objects.create(corp=corp, external_userid="wmStranger", name="陌生人")
    second += history_of(rng, 40, prefix="N")
    report = importer.orders_import(corp=bulk, path=as_file(tmp_path, second, "second.csv"), source="till")
    assert (report.error_count, report.created, report.updated, report.unchanged) == (0, 40, len(changed), 90 - len(changed))
    one_by_one(plain, second)
    assert state(bulk) == state(plain)

    # The same file once more: every order as it is, found so in SQL (no order goes to the upsert).
    upserted = []
    monkeypatch.setattr(importer, "_write_known", lambda *args, **kw: upserted.append(args))
    report = importer.orders_import(corp=bulk, path=as_file(tmp_path, second, "second.csv"), source="till")
    assert (report.error_count, report.created, report.updated, report.unchanged, upserted) == (0, 0, 0, 130, [])
    assert report.matched == Order.objects.filter(corp=bulk, customer__isnull=False).count()
    assert state(bulk) == state(plain)


@pytest.mark.django_db(transaction=True)
def test_chunks_written_by_several_connections_leave_the_same(tmp_path, monkeypatch):
    """Outside a caller's transaction PostgreSQL writes the chunks on several connections at once
    (SQLite one after another): the corp ends as the per-order path leaves it, every order once,
    and no staging table is left behind."""
    monkeypatch.setattr(history, "chunk_size", lambda: 13)
    opened = []
    real = history.Staging._write_chunk

    def counted(self, start, end, **kw):
        opened.append(connection.connection)  # this thread's
        return real(self, start, end, **kw)

    monkeypatch.setattr(history.Staging, "_write_chunk", counted)
    bulk, plain = brand("导入企业"), brand("逐单企业")
    orders = history_of(random.Random(7), 120)
    report = importer.orders_import(corp=bulk, path=as_file(tmp_path, orders, "orders.csv"), source="till")
    assert (report.error_count, report.created, report.updated) == (0, 120, 0)
    one_by_one(plain, orders)
    assert state(bulk) == state(plain)
    postgres = connection.vendor == "postgresql"
    assert len({id(c) for c in opened}) == (history.WRITERS if postgres else 1)  # the chunks were shared out

    # Again with two orders changed: each writer finds its chunks' known orders unchanged or not.
    opened.clear()
    again = [dict(o) for o in orders]
    for o in (again[5], again[100]):
        o["store"] = "天河店"
    report = importer.orders_import(corp=bulk, path=as_file(tmp_path, again, "again.csv"), source="till")
    assert (report.error_count, report.created, report.updated, report.unchanged) == (0, 0, 2, 118)
    assert len({id(c) for c in opened}) == (history.WRITERS if postgres else 1)
    one_by_one(plain, again)
    assert state(bulk) == state(plain)
    if postgres:
        with connection.cursor() as cursor:
            cursor.execute("SELECT COUNT(*) FROM pg_class WHERE relname LIKE 'orders_staging%%' AND relpersistence = 'u'")
            assert cursor.fetchone()[0] == 0
