"""Lotteries: 100,000 rolls land on the prizes at their configured chances; draws in the database
never give a prize beyond its stock or its day's cap (the chance of winning nothing absorbs what is
gone); a draw is once per key and within the per-person limits; a points cost is refused when
short and leaves nothing; prizes are paid at once (points, a coupon) or handed over in store once."""

import math
import random
from datetime import timedelta

import pytest

from siyu.engagement import coupons, lottery
from siyu.engagement import points as ledger
from siyu.engagement.models import Coupon, LotteryDraw, LotteryPrize, PointsAccount
from siyu.kit.clock import now
from siyu.kit.errors import Conflict, InvalidInput
from siyu.kit.tenancy import Role

from .. import factories as f
from ..conftest import at_once


@pytest.fixture
def wheel(db):
    corp = f.corp("抽奖品牌")
    actor = f.actor(corp)
    template = coupons.template_save(actor=actor, name="抽中券", kind="no_threshold", amount_fen=500, valid_days=7, per_person=100)
    prizes = [
        {"name": "奶粉一罐", "kind": "goods", "per_million": 100_000, "stock": 50},
        {"name": "5元券", "kind": "coupon", "per_million": 300_000, "daily_cap": 200, "coupon_template_id": template.pk},
        {"name": "10积分", "kind": "points", "per_million": 200_000, "points": 10},
    ]
    spin = lottery.lottery_save(
        actor=actor, name="幸运大转盘", starts_at=now() - timedelta(hours=1), ends_at=now() + timedelta(days=7), prizes=prizes, draws_per_day=100
    )
    return corp, actor, spin


def test_100000_rolls_land_on_the_prizes_at_their_chances(wheel):
    _corp, _actor, spin = wheel
    prizes = list(spin.prizes.order_by("position"))
    rng = random.Random(20261207)
    counts = {p.pk: 0 for p in prizes} | {None: 0}
    n = 100_000
    for _ in range(n):
        won = lottery.pick(prizes, rng.randrange(lottery.MILLION))
        counts[won.pk if won else None] += 1
    for prize in [*prizes, None]:
        share = (prize.per_million if prize else lottery.MILLION - sum(p.per_million for p in prizes)) / lottery.MILLION
        sigma = math.sqrt(n * share * (1 - share))
        assert abs(counts[prize.pk if prize else None] - n * share) < 4 * sigma, (prize, counts)


def test_draws_never_give_more_than_a_prizes_stock_or_its_days_cap(wheel):
    corp, _actor, spin = wheel
    people = [f.customer(corp, f"转盘{i}") for i in range(10)]
    rng = random.Random(7)
    for person in people:
        for i in range(100):
            lottery.draw(corp=corp, lottery=spin, customer_id=person.pk, key=f"{person.pk}:{i}", roll=lambda: rng.randrange(lottery.MILLION))
    goods, coupon, points = spin.prizes.order_by("position")
    won = {p.pk: LotteryDraw.objects.filter(prize=p).count() for p in (goods, coupon, points)}
    # 1,000 draws: about 100 land on the goods (50 in stock) and 300 on the coupon (200 a day).
    assert won[goods.pk] == 50 == LotteryPrize.objects.get(pk=goods.pk).awarded
    assert won[coupon.pk] == 200 == Coupon.objects.count()
    assert 200 - 4 * math.sqrt(1000 * 0.2 * 0.8) < won[points.pk] < 200 + 4 * math.sqrt(1000 * 0.2 * 0.8)
    assert sum(PointsAccount.objects.filter(corp=corp).values_list("available", flat=True)) == 10 * won[points.pk]
    assert LotteryDraw.objects.count() == 1000


def test_a_draw_is_once_per_key_and_within_the_limits(wheel):
    corp, actor, spin = wheel
    mom = f.customer(corp, "抽奖妈妈")
    first = lottery.draw(corp=corp, lottery=spin, customer_id=mom.pk, key="tap", roll=lambda: 950_000)
    assert lottery.draw(corp=corp, lottery=spin, customer_id=mom.pk, key="tap").pk == first.pk and first.prize is None
    # Another customer sending her key (copied from her page) learns nothing of her draw and draws nothing.
    dad = f.customer(corp, "抽奖爸爸")
    with pytest.raises(InvalidInput) as copied:
        lottery.draw(corp=corp, lottery=spin, customer_id=dad.pk, key="tap")
    assert copied.value.code == "no_key" and not LotteryDraw.objects.filter(customer=dad).exists()
    once = lottery.lottery_save(
        actor=actor,
        name="每日一次",
        starts_at=now() - timedelta(hours=1),
        ends_at=now() + timedelta(days=1),
        prizes=[{"name": "积分", "kind": "points", "per_million": 1, "points": 1}],
        points_cost=30,
    )
    with pytest.raises(Conflict) as short:
        lottery.draw(corp=corp, lottery=once, customer_id=mom.pk, key="a")
    assert short.value.code == "insufficient_points" and not LotteryDraw.objects.filter(lottery=once).exists()
    ledger.points_earn(corp=corp, customer_id=mom.pk, points=100, reason="manual", source="test", source_id="x")
    lottery.draw(corp=corp, lottery=once, customer_id=mom.pk, key="b")
    with pytest.raises(Conflict) as used:
        lottery.draw(corp=corp, lottery=once, customer_id=mom.pk, key="c")
    assert used.value.code == "draws_used" and PointsAccount.objects.get(customer=mom).available == 70


@pytest.mark.django_db(transaction=True)
def test_two_taps_at_once_draw_once_and_pay_once():
    corp = f.corp("并发抽奖")
    spin = lottery.lottery_save(
        actor=f.actor(corp),
        name="并发转盘",
        starts_at=now() - timedelta(hours=1),
        ends_at=now() + timedelta(days=1),
        prizes=[{"name": "10积分", "kind": "points", "per_million": 1_000_000, "points": 10}],
    )
    mom = f.customer(corp, "并发妈妈")
    drawn = []
    at_once(lambda: drawn.append(lottery.draw(corp=corp, lottery=spin, customer_id=mom.pk, key="same-tap").pk), 6)
    assert len(set(drawn)) == 1 and LotteryDraw.objects.filter(customer=mom).count() == 1
    assert PointsAccount.objects.get(customer=mom).available == 10


def test_prizes_are_paid_at_once_and_goods_handed_over_once(wheel):
    corp, _actor, spin = wheel
    mom = f.customer(corp, "中奖妈妈")
    goods = lottery.draw(corp=corp, lottery=spin, customer_id=mom.pk, key="g", roll=lambda: 0)
    coupon = lottery.draw(corp=corp, lottery=spin, customer_id=mom.pk, key="c", roll=lambda: 150_000)
    points = lottery.draw(corp=corp, lottery=spin, customer_id=mom.pk, key="p", roll=lambda: 450_000)
    assert goods.prize.name == "奶粉一罐" and goods.prize_code and coupon.coupon.template.name == "抽中券"
    assert points.prize.name == "10积分" and PointsAccount.objects.get(customer=mom).available == 10
    guide = f.actor(corp, Role.GUIDE, staff=f.staff(corp, "店员"))
    assert lottery.prize_hand_over(actor=guide, code=f"SIYU-PRIZE:{goods.prize_code}").handed_over_at is not None
    with pytest.raises(Conflict):
        lottery.prize_hand_over(actor=guide, code=goods.prize_code)


def test_odds_over_100_percent_and_a_started_lotterys_prizes_are_refused(wheel):
    corp, actor, spin = wheel
    window = {"starts_at": now(), "ends_at": now() + timedelta(days=1)}
    with pytest.raises(InvalidInput) as over:
        lottery.lottery_save(actor=actor, name="坏", prizes=[{"name": "a", "kind": "points", "per_million": 700_000, "points": 1}] * 2, **window)
    assert over.value.code == "bad_odds"
    lottery.draw(corp=corp, lottery=spin, customer_id=f.customer(corp).pk, key="k")
    with pytest.raises(Conflict) as started:
        lottery.lottery_save(actor=actor, lottery=spin, name="改", prizes=[{"name": "a", "kind": "points", "per_million": 1, "points": 1}], **window)
    assert started.value.code == "lottery_started"
