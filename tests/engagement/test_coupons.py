"""Coupons: claimed within the stock and the per-person limit (never oversold, also when many claim
at once), redeemed with an imported or posted order and given back by its full refund, refused with
their reason when used, expired or not yet valid, verified once in a store, and expired by the job."""

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import translation

from siyu.engagement import coupons
from siyu.engagement.models import Coupon, CouponTemplate
from siyu.kit.errors import Conflict, InvalidInput
from siyu.kit.tenancy import Role
from siyu.orders.importer import orders_import
from siyu.orders.services import OrderIn, RefundIn, order_upsert, refund_record

from .. import factories as f
from ..conftest import at_once
from ..orders.test_import import write_csv

CN = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def brand(db):
    corp = f.corp("券品牌")
    actor = f.actor(corp)
    template = coupons.template_save(
        actor=actor, name="满100减20", kind="amount_off", threshold_fen=10_000, amount_fen=2_000, valid_days=30, stock=3, per_person=1, claimable=True
    )
    return corp, actor, template


def paid_while_valid(coupon) -> datetime:
    """An hour ago, but not before the coupon's first day: in China's first hour of a day, an hour
    ago is yesterday, when a coupon claimed today cannot be used yet."""
    return max(datetime.now(CN) - timedelta(hours=1), datetime.combine(coupon.valid_from, time.min, CN))


def test_claims_stop_at_the_stock_and_at_each_persons_share(brand):
    corp, _actor, template = brand
    people = [f.customer(corp, f"顾客{i}") for i in range(4)]
    first = coupons.coupon_claim(corp=corp, template=template, customer_id=people[0].pk)
    assert first.status == "active" and len(first.code) == 10 and first.valid_until - first.valid_from == timedelta(days=29)
    with pytest.raises(Conflict) as again:
        coupons.coupon_claim(corp=corp, template=template, customer_id=people[0].pk)
    assert again.value.code == "coupon_limit"
    coupons.coupon_claim(corp=corp, template=template, customer_id=people[1].pk)
    coupons.coupon_claim(corp=corp, template=template, customer_id=people[2].pk)
    with pytest.raises(Conflict) as gone:
        coupons.coupon_claim(corp=corp, template=template, customer_id=people[3].pk)
    assert gone.value.code == "sold_out"
    template.refresh_from_db()
    assert template.issued == 3 == Coupon.objects.count()


def test_the_claiming_window_and_issuing_once_per_key(brand):
    corp, actor, template = brand
    mom = f.customer(corp, "窗口妈妈")
    later = coupons.template_save(
        actor=actor, name="限时券", kind="discount", pay_percent=85, valid_days=7, claimable=True, claim_starts_at=datetime(2030, 1, 1, tzinfo=CN)
    )
    with pytest.raises(Conflict) as early:
        coupons.coupon_claim(corp=corp, template=later, customer_id=mom.pk)
    assert early.value.code == "not_yet"
    one = coupons.coupon_issue(corp=corp, template=template, customer_id=mom.pk, source="journey", source_id="j1:step3:mom")
    twin = coupons.coupon_issue(corp=corp, template=template, customer_id=mom.pk, source="journey", source_id="j1:step3:mom")
    assert one.pk == twin.pk and Coupon.objects.count() == 1
    assert coupons.describe(later) == "8.5折" and coupons.describe(template) == "满100减20"


@pytest.mark.django_db(transaction=True)
def test_many_claiming_at_once_never_get_more_than_the_stock():
    corp = f.corp("抢券品牌")
    template = coupons.template_save(actor=f.actor(corp), name="前5名", kind="no_threshold", amount_fen=500, valid_days=3, stock=5, claimable=True)
    people = iter([f.customer(corp, f"抢{i}").pk for i in range(12)])
    won, refused = [], []

    def claim():
        customer_id = next(people)
        try:
            won.append(coupons.coupon_claim(corp=corp, template=template, customer_id=customer_id).pk)
        except Conflict as exc:
            refused.append(exc.code)

    at_once(claim, 12)
    template.refresh_from_db()
    assert len(won) == 5 == template.issued == Coupon.objects.filter(template=template).count()
    assert refused == ["sold_out"] * 7


def test_an_imported_order_redeems_its_coupon_and_a_full_refund_gives_it_back(brand, tmp_path):
    corp, _actor, template = brand
    mom = f.customer(corp, "下单妈妈", external_userid="wmBUY")
    coupon = coupons.coupon_claim(corp=corp, template=template, customer_id=mom.pk)
    paid = paid_while_valid(coupon)
    rows = [
        ["订单号", "支付时间", "实付金额", "外部联系人ID", "门店", "券码"],
        ["A1", paid.strftime("%Y-%m-%d %H:%M"), "98.00", "wmBUY", "徐汇店", coupon.code.lower()],
    ]
    report = orders_import(corp=corp, path=write_csv(tmp_path, rows))
    assert report.error_count == 0 and report.created == 1
    coupon.refresh_from_db()
    assert coupon.status == "redeemed" and coupon.order.order_no == "A1" and coupon.store == "徐汇店"
    # The same code on another order does nothing more: it is used.
    order_upsert(corp=corp, data=OrderIn(order_no="A2", paid_at=paid, amount_fen=20_000, external_userid="wmBUY", coupon_code=coupon.code))
    coupon.refresh_from_db()
    assert coupon.order.order_no == "A1"
    # A partial refund keeps it used; the full refund gives it back.
    refund_record(corp=corp, source="import", order_no="A1", refund=RefundIn(refund_no="R1", amount_fen=1_000))
    coupon.refresh_from_db()
    assert coupon.status == "redeemed"
    refund_record(corp=corp, source="import", order_no="A1", refund=RefundIn(refund_no="R2", amount_fen=8_800))
    coupon.refresh_from_db()
    assert coupon.status == "active" and coupon.order is None


def test_orders_naming_someone_elses_or_an_unusable_coupon_are_stored_and_leave_it_be(brand):
    corp, _actor, template = brand
    mom, stranger = f.customer(corp, "券主", external_userid="wmOWN"), f.customer(corp, "别人", external_userid="wmOTHER")
    coupon = coupons.coupon_claim(corp=corp, template=template, customer_id=mom.pk)
    paid = paid_while_valid(coupon)
    order_upsert(corp=corp, data=OrderIn(order_no="B1", paid_at=paid, amount_fen=20_000, external_userid="wmOTHER", coupon_code=coupon.code))
    order_upsert(corp=corp, data=OrderIn(order_no="B2", paid_at=paid, amount_fen=5_000, external_userid="wmOWN", coupon_code=coupon.code))  # below 满100
    order_upsert(corp=corp, data=OrderIn(order_no="B3", paid_at=paid, amount_fen=20_000, external_userid="wmOWN", coupon_code="NOSUCHCODE"))
    coupon.refresh_from_db()
    assert coupon.status == "active" and stranger.pk != mom.pk


def test_verifying_in_store_redeems_once_and_refusals_say_why_in_chinese(brand):
    corp, actor, template = brand
    guide_staff = f.staff(corp, "王导购")
    guide = f.actor(corp, Role.GUIDE, staff=guide_staff)
    mom = f.customer(corp, "到店妈妈")
    coupon = coupons.coupon_claim(corp=corp, template=template, customer_id=mom.pk)
    verified = coupons.coupon_verify(actor=guide, code=f"SIYU-COUPON:{coupon.code}", store="静安店")
    assert verified.status == "redeemed" and verified.staff == guide_staff and verified.store == "静安店"
    with translation.override("zh-hans"), pytest.raises(Conflict) as used:
        coupons.coupon_verify(actor=guide, code=coupon.code)
    assert used.value.code == "coupon_used" and "已使用" in used.value.message
    with pytest.raises(Conflict) as foreign:
        other = f.corp("别家")
        coupons.coupon_verify(actor=f.actor(other, Role.GUIDE, staff=f.staff(other)), code=coupon.code)
    assert foreign.value.code == "no_such_coupon"
    expired = coupons.coupon_issue(corp=corp, template=template, customer_id=f.customer(corp).pk, source="manual", source_id="x1")
    Coupon.objects.filter(pk=expired.pk).update(valid_until=date(2020, 1, 1))
    with pytest.raises(Conflict) as late:
        coupons.coupon_verify(actor=guide, code=expired.code)
    assert late.value.code == "coupon_expired" and "2020-01-01" in late.value.message
    assert coupons.coupons_expire_due(corp=corp) == 1 and Coupon.objects.get(pk=expired.pk).status == "expired"
    with pytest.raises(InvalidInput):
        coupons.coupon_verify(actor=actor, code=coupon.code)  # not a staff member


def test_templates_refuse_what_makes_no_sense(brand):
    _corp, actor, template = brand
    cases = [
        ({"kind": "amount_off", "threshold_fen": 1000, "amount_fen": 2000, "valid_days": 3}, "threshold_fen"),
        ({"kind": "discount", "pay_percent": 100, "valid_days": 3}, "pay_percent"),
        ({"kind": "gift", "valid_days": 3}, "gift"),
        ({"kind": "no_threshold", "amount_fen": 100}, "valid_until"),
    ]
    for fields, field in cases:
        with pytest.raises(InvalidInput) as refused:
            coupons.template_save(actor=actor, name="坏券", **fields)
        assert refused.value.field == field
    coupons.coupon_claim(corp=_corp, template=template, customer_id=f.customer(_corp).pk)
    with pytest.raises(InvalidInput) as below:
        coupons.template_save(
            actor=actor, template=template, name="满100减20", kind="amount_off", threshold_fen=10_000, amount_fen=2_000, valid_days=30, stock=0
        )
    assert below.value.field == "stock" and CouponTemplate.objects.get(pk=template.pk).stock == 3
