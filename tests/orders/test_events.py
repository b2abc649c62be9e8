"""Orders announce what happened whichever path stored them: OrderPaid once per new order and
OrderRefunded when the refunded total goes up from the API; from a file import, OrdersImported
naming each new order once (its subscribers treat each as those two would). The file path writes the
same rows, customer match and timeline entries as the one-by-one path."""

from datetime import timedelta

import pytest
from django.utils import timezone

from siyu.customers.models import TimelineEvent
from siyu.kit.events import subscribed
from siyu.orders.events import OrderPaid, OrderRefunded, OrdersImported
from siyu.orders.models import Order, OrderLine, Product, Refund
from siyu.orders.services import LineIn, OrderIn, RefundIn, order_upsert, refund_record

from .. import factories as f
from .test_import import HEADER, run, write_csv

pytestmark = pytest.mark.django_db


@pytest.fixture
def corp(db):
    return f.corp("订单企业")


def test_the_api_path_announces_paid_once_and_each_refund(corp):
    customer = f.customer(corp, external_userid="wmA")
    paid, refunded = [], []
    with (
        subscribed(OrderPaid, lambda e: paid.append(e.order.order_no)),
        subscribed(OrderRefunded, lambda e: refunded.append((e.previous_fen, e.order.refunded_fen))),
    ):
        data = OrderIn(order_no="A1", paid_at=timezone.now() - timedelta(days=1), amount_fen=10000, external_userid="wmA")
        assert order_upsert(corp=corp, data=data).created
        assert not order_upsert(corp=corp, data=data).changed  # a retry: nothing announced
        refund_record(corp=corp, source="api", order_no="A1", refund=RefundIn(refund_no="R1", amount_fen=3000))
        refund_record(corp=corp, source="api", order_no="A1", refund=RefundIn(refund_no="R1", amount_fen=3000))  # again: the same
    assert paid == ["A1"] and refunded == [(0, 3000)]
    assert Order.objects.get().customer_id == customer.id


def test_the_file_path_announces_the_same_and_writes_what_the_one_by_one_path_writes(tmp_path, corp):
    f.staff(corp, userid="guide1")
    f.customer(corp, external_userid="wmKnown")
    f.customer(corp, phones=["13800138000"], external_userid="wmPhone")
    rows = [
        HEADER,
        ["F1", "2026-01-05 10:00", "89.90", "wmKnown", "", "徐汇店", "guide1", ""],
        ["F2", "2026-02-01 09:30", "199", " wmKnown ", "", "徐汇店", "guide1", "50"],
        ["F3", "2026-02-03 20:00", "45.5", "", "13800138000", "静安店", "", ""],
    ]
    paid, refunded, one_by_one = [], [], []

    def imported(event):
        paid.extend(o.order_no for o in event.orders())
        refunded.extend(o.order_no for o in event.orders() if o.refunded_fen)

    with (
        subscribed(OrdersImported, imported),
        subscribed(OrderPaid, lambda e: one_by_one.append(e.order.order_no)),
        subscribed(OrderRefunded, lambda e: one_by_one.append(e.order.order_no)),
    ):
        run(corp, write_csv(tmp_path, rows))
        run(corp, write_csv(tmp_path, rows))  # the same file again announces nothing
    assert paid == ["F1", "F2", "F3"] and refunded == ["F2"] and one_by_one == []
    imported = _stored(corp)

    # The same orders through order_upsert, in a second corp with the same customers.
    other = f.corp("对照企业")
    f.staff(other, userid="guide1")
    f.customer(other, external_userid="wmKnown")
    f.customer(other, phones=["13800138000"], external_userid="wmPhone")
    tz = other.tzinfo
    for no, at, fen, euid, phone, store, guide, refund in rows[1:]:
        paid_at = timezone.datetime.fromisoformat(at).replace(tzinfo=tz)
        order_upsert(
            corp=other,
            data=OrderIn(
                order_no=no,
                source="import",
                paid_at=paid_at,
                amount_fen=round(float(fen) * 100),
                external_userid=euid,
                phone=phone,
                store=store,
                staff_userid=guide,
                refunds=[RefundIn(refund_no=f"{no}-refund", amount_fen=round(float(refund) * 100), refunded_at=paid_at)] if refund else [],
            ),
        )
    assert _stored(other) == imported


def _stored(corp):
    orders = [
        (
            o.order_no,
            o.external_userid,
            o.phone,
            o.paid_at,
            o.amount_fen,
            o.refunded_fen,
            o.store,
            o.staff.userid if o.staff else None,
            o.customer.external_userid if o.customer else None,
        )
        for o in Order.objects.filter(corp=corp).select_related("staff", "customer").order_by("order_no")
    ]
    refunds = sorted((r.order_no, r.amount_fen, r.refunded_at) for r in Refund.objects.filter(corp=corp))
    timeline = sorted((e.data["order_no"], e.data["amount_fen"], e.data["store"], e.occurred_at) for e in TimelineEvent.objects.filter(corp=corp, kind="order"))
    lines = sorted((ln.order.order_no, ln.sku, ln.quantity, ln.amount_fen) for ln in OrderLine.objects.filter(corp=corp).select_related("order"))
    return orders, refunds, timeline, lines


def test_lines_come_out_the_same_from_both_paths(tmp_path, corp):
    for c in (corp, other := f.corp("对照企业")):
        Product.objects.create(corp=c, sku="MILK-1", name="一段奶粉")
    rows = [
        ["order_id", "paid_at", "sku", "product_name", "quantity", "line_amount"],
        ["L1", "2026-03-01 10:00", "MILK-1", "一段奶粉", "2", "398.00"],
        ["L1", "2026-03-01 10:00", "WIPES", "湿巾", "1", "19.9"],
    ]
    run(corp, write_csv(tmp_path, rows))
    paid_at = timezone.datetime(2026, 3, 1, 10, 0, tzinfo=other.tzinfo)
    lines = [LineIn(sku="MILK-1", name="一段奶粉", quantity=2, amount_fen=39800), LineIn(sku="WIPES", name="湿巾", quantity=1, amount_fen=1990)]
    order_upsert(corp=other, data=OrderIn(order_no="L1", source="import", paid_at=paid_at, amount_fen=41790, lines=lines))

    def stored(c):
        return list(OrderLine.objects.filter(corp=c).order_by("id").values_list("sku", "name", "quantity", "amount_fen", "product__sku"))

    assert stored(corp) == stored(other) == [("MILK-1", "一段奶粉", 2, 39800, "MILK-1"), ("WIPES", "湿巾", 1, 1990, None)]
