"""Check-in: once a day on the corp's calendar (two taps, two tabs, two threads: one check-in),
streaks that continue on consecutive days and start again after a gap, reward stages paid once
across retries (points and a coupon, or points alone when the coupon ran out), and a day's content
for a 21-day play."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from siyu.engagement import checkin, coupons
from siyu.engagement.models import Checkin, CheckinReward, Coupon, PointsAccount, PointsEntry
from siyu.kit.errors import Conflict, InvalidInput
from siyu.messaging import library

from .. import factories as f
from ..conftest import at_once

CN = ZoneInfo("Asia/Shanghai")
DAY1 = datetime(2026, 12, 1, 9, tzinfo=CN)


@pytest.fixture
def shop(db):
    corp = f.corp("签到品牌")
    actor = f.actor(corp)
    template = coupons.template_save(actor=actor, name="7天奖励券", kind="no_threshold", amount_fen=1000, valid_days=30, stock=1)
    campaign = checkin.campaign_save(
        actor=actor,
        name="21天养胃打卡",
        starts_on=date(2026, 12, 1),
        ends_on=date(2026, 12, 31),
        daily_points=5,
        stages=[{"days": 3, "points": 30}, {"days": 7, "points": 70, "coupon_template_id": template.pk}],
    )
    return corp, actor, campaign, template, f.customer(corp, "张妈妈"), f.customer(corp, "李妈妈")


def _available(customer) -> int:
    account = PointsAccount.objects.filter(customer=customer).first()
    return account.available if account else 0


def test_streaks_continue_on_consecutive_days_and_start_again_after_a_gap(shop):
    corp, _actor, campaign, _t, mom, _other = shop
    days = [DAY1, DAY1 + timedelta(days=1), DAY1 + timedelta(days=2), DAY1 + timedelta(days=4), DAY1 + timedelta(days=5)]
    got = [checkin.check_in(corp=corp, campaign=campaign, customer_id=mom.pk, at=at).checkin for at in days]
    assert [(c.streak, c.total) for c in got] == [(1, 1), (2, 2), (3, 3), (1, 4), (2, 5)]
    # 5 a day, and the 3-day stage's 30 once: the second run of days 1–2 after the gap pays no stage again.
    assert _available(mom) == 5 * 5 + 30
    assert list(CheckinReward.objects.filter(customer=mom).values_list("days", flat=True)) == [3]


def test_the_day_is_the_corps_day_not_utcs(shop):
    corp, _actor, campaign, _t, mom, _other = shop
    late = datetime(2026, 12, 2, 23, 30, tzinfo=CN)  # 15:30 UTC on the 2nd
    early = datetime(2026, 12, 3, 0, 30, tzinfo=CN)  # 16:30 UTC, still the 2nd in UTC
    assert checkin.check_in(corp=corp, campaign=campaign, customer_id=mom.pk, at=late).checkin.day == date(2026, 12, 2)
    second = checkin.check_in(corp=corp, campaign=campaign, customer_id=mom.pk, at=early)
    assert second.created and second.checkin.day == date(2026, 12, 3) and second.checkin.streak == 2


def test_a_second_tap_the_same_day_counts_once(shop):
    corp, _actor, campaign, _t, mom, _other = shop
    first = checkin.check_in(corp=corp, campaign=campaign, customer_id=mom.pk, at=DAY1)
    again = checkin.check_in(corp=corp, campaign=campaign, customer_id=mom.pk, at=DAY1 + timedelta(seconds=1))
    assert first.created and not again.created and again.checkin.pk == first.checkin.pk
    assert Checkin.objects.count() == 1 and _available(mom) == 5


@pytest.mark.django_db(transaction=True)
def test_two_tabs_at_once_check_in_once():
    corp = f.corp("并发签到")
    campaign = checkin.campaign_save(actor=f.actor(corp), name="每日签到", starts_on=date(2026, 1, 1), daily_points=5, stages=[{"days": 1, "points": 10}])
    mom = f.customer(corp, "并发妈妈")
    at_once(lambda: checkin.check_in(corp=corp, campaign=campaign, customer_id=mom.pk, at=DAY1), 6)
    assert Checkin.objects.filter(customer=mom).count() == 1 and CheckinReward.objects.filter(customer=mom).count() == 1
    assert PointsEntry.objects.filter(customer=mom).count() == 2 and _available(mom) == 15


def test_a_stage_pays_points_and_a_coupon_once_and_points_alone_when_coupons_ran_out(shop):
    corp, _actor, campaign, template, mom, other = shop
    for i in range(8):
        for who in (mom, other):
            checkin.check_in(corp=corp, campaign=campaign, customer_id=who.pk, at=DAY1 + timedelta(days=i))
            checkin.check_in(corp=corp, campaign=campaign, customer_id=who.pk, at=DAY1 + timedelta(days=i, hours=1))  # a retry
    first, second = (CheckinReward.objects.get(customer=who, days=7) for who in (mom, other))
    assert first.coupon is not None and first.points == 70
    assert second.coupon is None and second.points == 70  # the one coupon in stock went to the first
    assert Coupon.objects.count() == 1 and Coupon.objects.get().template == template
    assert _available(mom) == 8 * 5 + 30 + 70 == _available(other)


def test_closed_days_and_bad_stages_are_refused(shop):
    corp, actor, campaign, _t, mom, _other = shop
    with pytest.raises(Conflict) as closed:
        checkin.check_in(corp=corp, campaign=campaign, customer_id=mom.pk, at=datetime(2027, 1, 1, 9, tzinfo=CN))
    assert closed.value.code == "checkin_closed" and not Checkin.objects.exists()
    with pytest.raises(InvalidInput) as bad:
        checkin.campaign_save(actor=actor, name="坏", starts_on=date(2026, 12, 1), stages=[{"days": 5, "points": 10}, {"days": 5, "points": 20}])
    assert bad.value.field == "stages.1.days"
    with pytest.raises(InvalidInput) as nothing:
        checkin.campaign_save(actor=actor, name="坏", starts_on=date(2026, 12, 1), stages=[{"days": 5}])
    assert nothing.value.field == "stages.0"


def test_a_21_day_play_shows_each_days_content(shop):
    corp, actor, _campaign, _t, mom, _other = shop
    items = [library.item_save(actor=actor, kind="article", title=f"养胃第{i}天", body=f"<p>第{i}天</p>") for i in range(1, 4)]
    play = checkin.campaign_save(actor=actor, name="养胃打卡", starts_on=date(2026, 12, 1), day_items=[i.pk for i in items])
    checkin.check_in(corp=corp, campaign=play, customer_id=mom.pk, at=DAY1)
    checkin.check_in(corp=corp, campaign=play, customer_id=mom.pk, at=DAY1 + timedelta(days=2))
    page = checkin.checkin_page(corp, play, mom.pk, at=DAY1 + timedelta(days=2))
    assert page["day_item"] == items[1].pk and page["total"] == 2 and page["streak"] == 1 and page["done_today"]
    with pytest.raises(InvalidInput) as unknown:
        checkin.campaign_save(actor=actor, name="坏", starts_on=date(2026, 12, 1), day_items=[items[0].pk, 999_999])
    assert unknown.value.field == "day_items.1"
