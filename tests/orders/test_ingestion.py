"""Order ingestion through the JSON API: upserts on the source's ids, refunds in any order,
amounts exact to the fen, late matching, and customer value kept current."""

from datetime import UTC, date, datetime, timedelta

import pytest

from siyu.customers.models import TimelineEvent
from siyu.customers.services import customer_add_phones, customer_upsert
from siyu.kit.clock import now
from siyu.orders.models import CustomerValue, Order, OrderLine, Refund

from .. import factories as f


def order(no="T1001", amount="89.90", paid_at="2026-03-01 10:00", **kw):
    return {"order_no": no, "source": "youzan", "paid_at": paid_at, "amount": amount, **kw}


def value(customer):
    v = CustomerValue.objects.filter(customer=customer).first()
    return None if v is None else (v.order_count, v.paid_fen, v.refunded_fen, v.net_fen)


def test_the_same_order_posted_twice_is_one_order(api, corp):
    buyer = f.customer(corp, external_userid="wmBuyer")
    body = order(external_userid="wmBuyer", lines=[{"sku": "NEW-PACK", "name": "新客礼包", "amount": "89.90"}])
    first = api.post("/api/v1/orders", body)
    assert first.status_code == 201, first.content
    again = api.post("/api/v1/orders", body)
    assert again.status_code == 200
    assert again.json()["created"] is False and again.json()["changed"] is False
    assert again.json()["order"]["id"] == first.json()["order"]["id"]
    assert Order.objects.count() == 1 and OrderLine.objects.count() == 1
    assert TimelineEvent.objects.filter(kind="order", customer=buyer).count() == 1
    assert value(buyer) == (1, 8990, 0, 8990)
    # Paid time is read in the corp's timezone (Asia/Shanghai) when it carries no offset.
    o = first.json()["order"]
    assert datetime.fromisoformat(o["paid_at"]) == datetime(2026, 3, 1, 2, tzinfo=UTC) and o["paid_on"] == "2026-03-01"


def test_an_order_posted_again_with_changes_updates_it(api, corp):
    buyer = f.customer(corp, external_userid="wmBuyer")
    api.post("/api/v1/orders", order(external_userid="wmBuyer", lines=[{"sku": "A", "amount": "89.90"}]))
    r = api.post("/api/v1/orders", order(external_userid="wmBuyer", amount="120", lines=[{"sku": "A", "amount": "89.90"}, {"sku": "B", "amount": "30.10"}]))
    assert r.status_code == 200 and r.json()["changed"] is True
    assert [ln["sku"] for ln in r.json()["order"]["lines"]] == ["A", "B"]
    assert Order.objects.count() == 1 and OrderLine.objects.count() == 2
    assert value(buyer) == (1, 12000, 0, 12000)


def test_partial_and_full_refunds_update_the_order_and_never_duplicate(api, corp):
    buyer = f.customer(corp, external_userid="wmBuyer")
    api.post("/api/v1/orders", order(no="A", amount="100", paid_at="2026-03-01 10:00", external_userid="wmBuyer"))
    api.post("/api/v1/orders", order(no="B", amount="50", paid_at="2026-03-05 10:00", external_userid="wmBuyer"))
    refund = {"order_no": "B", "source": "youzan", "refund_no": "R1", "amount": "20"}
    assert api.post("/api/v1/refunds", refund).status_code == 201
    assert api.post("/api/v1/refunds", refund).status_code == 200  # the same refund again
    assert Refund.objects.count() == 1
    assert Order.objects.get(order_no="B").refund_state == "partial"
    assert value(buyer) == (2, 15000, 2000, 13000)
    # The rest of B refunded: B no longer counts as a purchase, A is the last order again.
    assert api.post("/api/v1/refunds", {**refund, "refund_no": "R2", "amount": "30"}).status_code == 201
    v = CustomerValue.objects.get(customer=buyer)
    assert (v.order_count, v.net_fen, v.last_paid_on, v.second_paid_at) == (1, 10000, date(2026, 3, 1), None)
    # More than what is left is refused, and nothing changes.
    r = api.post("/api/v1/refunds", {**refund, "refund_no": "R3", "amount": "0.01"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "refund_exceeds_amount"
    assert Refund.objects.count() == 2 and Order.objects.get(order_no="B").refunded_fen == 5000


def test_a_refund_before_its_order_waits_and_applies_when_the_order_arrives(api, corp):
    buyer = f.customer(corp, external_userid="wmBuyer")
    r = api.post("/api/v1/refunds", {"order_no": "LATE", "source": "youzan", "refund_no": "R9", "amount": "10"})
    assert r.status_code == 201 and r.json()["order_id"] is None
    assert not Order.objects.exists()
    created = api.post("/api/v1/orders", order(no="LATE", amount="60", external_userid="wmBuyer"))
    assert created.status_code == 201
    assert created.json()["order"]["refunded_fen"] == 1000 and created.json()["order"]["refund_state"] == "partial"
    assert Refund.objects.get().order_id == created.json()["order"]["id"]
    assert value(buyer) == (1, 6000, 1000, 5000)
    # The refund posted again after its order arrived changes nothing.
    assert api.post("/api/v1/refunds", {"order_no": "LATE", "source": "youzan", "refund_no": "R9", "amount": "10"}).json()["changed"] is False
    # A new order with refunds of its own, one more already waiting: both count, once each.
    api.post("/api/v1/refunds", {"order_no": "BOTH", "source": "youzan", "refund_no": "W1", "amount": "5"})
    both = api.post("/api/v1/orders", order(no="BOTH", amount="40", external_userid="wmBuyer", refunds=[{"refund_no": "B1", "amount": "15"}]))
    assert both.status_code == 201 and both.json()["order"]["refunded_fen"] == 2000
    # And one that comes with its refunds and finds none waiting.
    alone = api.post(
        "/api/v1/orders",
        order(no="ALONE", amount="40", external_userid="wmBuyer", refunds=[{"refund_no": "A1", "amount": "15"}, {"refund_no": "A2", "amount": "5"}]),
    )
    assert alone.json()["order"]["refunded_fen"] == 2000 and Refund.objects.filter(order__order_no="ALONE").count() == 2
    assert value(buyer) == (3, 6000 + 4000 + 4000, 1000 + 2000 + 2000, 5000 + 2000 + 2000)


@pytest.mark.parametrize(
    "amount,code", [("89.999", "amount_precision"), (89.999, "amount_precision"), ("-1", "bad_amount"), ("abc", "bad_amount"), ("", "bad_amount")]
)
def test_amounts_are_exact_to_the_fen_or_refused(api, amount, code):
    r = api.post("/api/v1/orders", order(amount=amount))
    assert r.status_code == 400, r.content
    assert r.json()["error"]["code"] == code and r.json()["error"]["field"] == "amount"
    assert not Order.objects.exists()


@pytest.mark.parametrize("amount,fen", [("89.9", 8990), (89.9, 8990), ("1,299.00", 129900), (5, 500), ("0.01", 1)])
def test_amounts_in_yuan_become_fen(api, amount, fen):
    r = api.post("/api/v1/orders", order(amount=amount))
    assert r.status_code == 201 and r.json()["order"]["amount_fen"] == fen


def test_bad_fields_are_named(api):
    r = api.post("/api/v1/orders", order(paid_at="yesterday"))
    assert (r.status_code, r.json()["error"]["field"], r.json()["error"]["code"]) == (400, "paid_at", "bad_time")
    r = api.post("/api/v1/orders", order(phone="12345"))
    assert (r.status_code, r.json()["error"]["field"]) == (400, "phone")
    r = api.post("/api/v1/orders", order(staff_userid="nobody"))
    assert (r.status_code, r.json()["error"]["code"]) == (400, "unknown_staff")
    r = api.post("/api/v1/orders", order(lines=[{"sku": "A", "amount": "1.001"}]))
    assert (r.status_code, r.json()["error"]["field"]) == (400, "lines.0.amount")
    # A paid time in the future (a till's wrong clock, a typed 2062) would make its buyer "recent" for years.
    r = api.post("/api/v1/orders", order(paid_at="2062-03-01 10:00"))
    assert (r.status_code, r.json()["error"]["field"], r.json()["error"]["code"]) == (400, "paid_at", "paid_in_future")
    assert not Order.objects.exists()
    soon = (now() + timedelta(minutes=20)).isoformat()  # a clock a little ahead is tolerated
    assert api.post("/api/v1/orders", order(paid_at=soon)).status_code == 201


def test_a_batch_is_all_or_nothing_and_lists_every_bad_order(api, corp):
    good = [order(no=f"G{i}", amount="10") for i in range(3)]
    r = api.post("/api/v1/orders/batch", {"orders": [*good, order(no="X1", amount="1.234"), order(no="X2", paid_at="soon")]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "batch_rejected"
    assert [(d["index"], d["field"]) for d in r.json()["error"]["details"]] == [(3, "amount"), (4, "paid_at")]
    assert not Order.objects.exists()
    r = api.post("/api/v1/orders/batch", {"orders": good})
    assert r.json()["created"] == 3
    r = api.post("/api/v1/orders/batch", {"orders": good})
    assert (r.json()["created"], r.json()["unchanged"]) == (0, 3) and Order.objects.count() == 3


def test_unmatched_orders_are_kept_and_matched_when_the_customer_appears(api, corp):
    api.post("/api/v1/orders", order(no="P1", external_userid="wmLater"))
    api.post("/api/v1/orders", order(no="P2", phone="+86 138-0013-8000", paid_at="2026-03-02 09:00"))
    api.post("/api/v1/orders", order(no="P3", unionid="oUnion1", paid_at="2026-03-03 09:00"))
    assert Order.objects.filter(customer__isnull=True).count() == 3
    unmatched = api.get("/api/v1/orders", unmatched="true").json()["items"]
    assert {o["order_no"] for o in unmatched} == {"P1", "P2", "P3"}
    # The customer is added on WeCom (a callback or a sync upserts them), with their unionid.
    customer = customer_upsert(corp=corp, external_userid="wmLater", name="Later", unionid="oUnion1")
    assert set(Order.objects.filter(customer=customer).values_list("order_no", flat=True)) == {"P1", "P3"}
    # Later their phone is learned (a remark mobile, a lead form).
    customer_add_phones(customer=customer, phones=["13800138000"])
    assert Order.objects.filter(customer=customer).count() == 3
    assert value(customer) == (3, 3 * 8990, 0, 3 * 8990)
    assert TimelineEvent.objects.filter(customer=customer, kind="order").count() == 3


def test_a_phone_shared_by_two_customers_matches_neither(api, corp):
    f.customer(corp, phones=["13900139000"])
    f.customer(corp, phones=["13900139000"])
    r = api.post("/api/v1/orders", order(phone="13900139000"))
    assert r.json()["order"]["customer_id"] is None


def test_guides_see_only_their_customers_orders_and_cannot_post(corp, make_api):
    staff = f.staff(corp)
    mine, other = f.customer(corp, external_userid="wmMine"), f.customer(corp, external_userid="wmOther")
    f.follow(mine, staff)
    admin = make_api(f.user(corp), corp)
    admin.post("/api/v1/orders", order(no="M", external_userid="wmMine"))
    admin.post("/api/v1/orders", order(no="O", external_userid="wmOther"))
    guide = make_api(f.user(corp, role="guide", staff=staff), corp)
    assert [o["order_no"] for o in guide.get("/api/v1/orders").json()["items"]] == ["M"]
    assert guide.post("/api/v1/orders", order(no="G")).status_code == 403
    assert guide.get(f"/api/v1/customers/{other.id}/value").status_code == 404
    assert guide.get(f"/api/v1/customers/{mine.id}/value").json()["net_fen"] == 8990


def test_products_are_upserted_by_sku_and_lines_link_to_them(api, corp):
    api.post("/api/v1/orders", order(lines=[{"sku": "NEW-PACK", "amount": "89.90"}]))
    r = api.put("/api/v1/products", {"sku": "NEW-PACK", "name": "新客礼包", "role": "traffic", "price": "89.90"})
    assert r.status_code == 200 and r.json()["price_fen"] == 8990
    assert OrderLine.objects.get().product_id == r.json()["id"]
    r = api.put("/api/v1/products", {"sku": "NEW-PACK", "name": "新客礼包", "role": "star"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "role"
