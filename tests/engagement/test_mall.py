"""The points mall: an exchange spends the points and gives the coupon, once per key; a short
balance, a spent per-person share or an empty stock refuses it and leaves nothing; 500 concurrent
exchanges of 100 units sell exactly 100; goods are shipped with a tracking number or handed over
in store once; a cancelled exchange gives the points and the unit back."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connections

from siyu.engagement import coupons, mall
from siyu.engagement import points as ledger
from siyu.engagement.models import Coupon, MallItem, MallOrder, PointsAccount
from siyu.kit.clock import now
from siyu.kit.errors import Conflict, InvalidInput
from siyu.kit.tenancy import Role
from siyu.orders.importer import orders_import
from siyu.orders.services import OrderIn, order_upsert

from .. import factories as f
from ..orders.test_import import write_csv


def _give(corp, customer, points, key="gift"):
    ledger.points_earn(corp=corp, customer_id=customer.pk, points=points, reason="manual", source="test", source_id=f"{key}:{customer.pk}")


def _available(customer) -> int:
    return PointsAccount.objects.get(customer=customer).available


@pytest.fixture
def shop(db):
    corp = f.corp("商城品牌")
    actor = f.actor(corp)
    template = coupons.template_save(actor=actor, name="兑换券", kind="no_threshold", amount_fen=1000, valid_days=30, per_person=5)
    voucher = mall.item_save(actor=actor, kind="coupon", name="10元券", points=100, coupon_template_id=template.pk, stock=5, per_person=2)
    bottle = mall.item_save(actor=actor, kind="goods", name="奶瓶", points=350, delivery="ship", stock=10)
    bib = mall.item_save(actor=actor, kind="goods", name="围兜", points=50, delivery="pickup")
    mom = f.customer(corp, "兑换妈妈")
    _give(corp, mom, 500)
    return corp, actor, voucher, bottle, bib, mom


def test_an_exchange_spends_the_points_and_gives_the_coupon_once_per_key(shop):
    corp, _actor, voucher, _bottle, _bib, mom = shop
    order = mall.exchange(corp=corp, item=voucher, customer_id=mom.pk, key="page-1")
    again = mall.exchange(corp=corp, item=voucher, customer_id=mom.pk, key="page-1")  # a second tap
    assert again.pk == order.pk and order.status == "done" and order.coupon.template.name == "兑换券"
    assert _available(mom) == 400 and MallItem.objects.get(pk=voucher.pk).sold == 1 and Coupon.objects.count() == 1


def test_refusals_leave_nothing_behind(shop):
    corp, _actor, voucher, bottle, _bib, mom = shop
    mall.exchange(corp=corp, item=voucher, customer_id=mom.pk, key="a")
    mall.exchange(corp=corp, item=voucher, customer_id=mom.pk, key="b")
    with pytest.raises(Conflict) as limit:
        mall.exchange(corp=corp, item=voucher, customer_id=mom.pk, key="c")
    assert limit.value.code == "mall_limit"
    with pytest.raises(Conflict) as short:
        mall.exchange(corp=corp, item=bottle, customer_id=mom.pk, key="d", address={"name": "王", "phone": "13900000000", "address": "上海"})
    assert short.value.code == "insufficient_points" and "350" in short.value.message
    with pytest.raises(InvalidInput) as no_address:
        mall.exchange(corp=corp, item=bottle, customer_id=mom.pk, key="e", address={"name": "王"})
    assert no_address.value.field == "address.phone"
    assert _available(mom) == 300 and MallOrder.objects.count() == 2
    assert MallItem.objects.get(pk=voucher.pk).sold == 2 and MallItem.objects.get(pk=bottle.pk).sold == 0 and Coupon.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_500_concurrent_exchanges_of_100_units_sell_exactly_100():
    corp = f.corp("抢兑品牌")
    item = mall.item_save(actor=f.actor(corp), kind="benefit", name="会员日特权", points=10, stock=100)
    people = [f.customer(corp, f"抢兑{i}") for i in range(500)]
    for p in people:
        _give(corp, p, 10)
    outcomes = []

    def attempt(customer):
        try:
            outcomes.append(mall.exchange(corp=corp, item=item, customer_id=customer.pk, key=f"k{customer.pk}").status)
        except Conflict as exc:
            outcomes.append(exc.code)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(attempt, people))
    assert outcomes.count("done") == 100 and outcomes.count("sold_out") == 400
    assert MallItem.objects.get(pk=item.pk).sold == 100 == MallOrder.objects.count()
    assert sum(PointsAccount.objects.filter(corp=corp).values_list("available", flat=True)) == 500 * 10 - 100 * 10


def test_goods_are_shipped_or_handed_over_once_and_a_cancel_gives_back(shop):
    corp, actor, _voucher, bottle, bib, mom = shop
    shipped = mall.exchange(corp=corp, item=bottle, customer_id=mom.pk, key="s", address={"name": "王", "phone": "13900000000", "address": "上海徐汇"})
    with pytest.raises(InvalidInput):
        mall.order_ship(actor=actor, order=shipped, tracking_no="")
    assert mall.order_ship(actor=actor, order=shipped, tracking_no="SF123").status == "shipped"
    picked = mall.exchange(corp=corp, item=bib, customer_id=mom.pk, key="p")
    guide = f.actor(corp, Role.GUIDE, staff=f.staff(corp, "店员"))
    assert mall.pickup_verify(actor=guide, code=f"SIYU-PICKUP:{picked.pickup_code}", store="静安店").status == "picked_up"
    with pytest.raises(Conflict) as twice:
        mall.pickup_verify(actor=guide, code=picked.pickup_code)
    assert twice.value.code == "picked_up"
    kept = mall.exchange(corp=corp, item=bib, customer_id=mom.pk, key="q")
    before = _available(mom)
    mall.order_cancel(actor=actor, order=kept)
    assert _available(mom) == before + 50 and MallItem.objects.get(pk=bib.pk).sold == 1
    with pytest.raises(Conflict):
        mall.order_cancel(actor=actor, order=shipped)


def test_points_plus_cash_is_paid_by_the_brands_order_or_cancelled_in_time(shop, tmp_path):
    corp, actor, voucher, bottle, bib, mom = shop
    mom.external_userid = "wmCASH"
    mom.save()
    stroller = mall.item_save(actor=actor, kind="goods", name="推车", points=200, cash_fen=9_900, delivery="pickup", stock=3)
    waiting = mall.exchange(corp=corp, item=stroller, customer_id=mom.pk, key="s1")
    assert (waiting.status, waiting.pickup_code, _available(mom)) == ("awaiting", "", 300)
    assert waiting.pay_code and waiting.pay_by > waiting.created_at
    other = f.customer(corp, "别人", external_userid="wmOTHER")
    # Someone else's order, or one paying less than the cash part, leaves the exchange waiting.
    order_upsert(corp=corp, data=OrderIn(order_no="X1", paid_at=now(), amount_fen=9_900, external_userid="wmOTHER", mall_code=waiting.pay_code))
    order_upsert(corp=corp, data=OrderIn(order_no="X2", paid_at=now(), amount_fen=5_000, external_userid="wmCASH", mall_code=waiting.pay_code))
    waiting.refresh_from_db()
    assert waiting.status == "awaiting" and other.pk
    # The brand's import carries the code (兑换码): the exchange is whole, with its pick-up code.
    paid_at = now().astimezone(corp.tzinfo).strftime("%Y-%m-%d %H:%M:%S")
    rows = [["订单号", "支付时间", "实付金额", "外部联系人ID", "兑换码"], ["X3", paid_at, "99.00", "wmCASH", waiting.pay_code.lower()]]
    report = orders_import(corp=corp, path=write_csv(tmp_path, rows))
    assert report.error_count == 0 and report.created == 1
    waiting.refresh_from_db()
    assert waiting.status == "placed" and waiting.pickup_code and waiting.paid_order.order_no == "X3"
    # Unpaid in time: cancelled by the job, the points and the unit given back.
    late = mall.exchange(corp=corp, item=stroller, customer_id=mom.pk, key="s2")
    assert _available(mom) == 100
    assert mall.unpaid_cancel_due(corp=corp, at=late.pay_by - timedelta(minutes=1)) == 0
    assert mall.unpaid_cancel_due(corp=corp, at=late.pay_by + timedelta(minutes=1)) == 1
    late.refresh_from_db()
    stroller.refresh_from_db()
    assert (late.status, _available(mom), stroller.sold) == ("cancelled", 300, 1)
