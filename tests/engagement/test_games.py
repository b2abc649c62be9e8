"""Group games: dice where the first to roll the host's number wins (one winner, also when many roll
at once; each within their rolls; the prize paid once), a red envelope whose random parts add up to
its pool and are opened once each (never more envelopes than made, also at once), the chance shown
worked out from the dice, and games that make no sense refused with the field named."""

import threading
from datetime import timedelta
from fractions import Fraction

import pytest
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from siyu.corps.services import corp_set_credentials
from siyu.engagement import coupons, games
from siyu.engagement.models import Coupon, GamePlay, GroupGame, PointsAccount, PointsEntry
from siyu.kit.clock import now
from siyu.kit.errors import Conflict, InvalidInput
from siyu.kit.tenancy import Role

from .. import factories as f
from ..acquisition.conftest import hub  # noqa: F401 — the in-process WeCom
from ..conftest import at_once
from ..messaging.test_mass_sends import _customer
from .test_reading import open_in_wechat

WINDOW = {"starts_at": now() - timedelta(hours=1), "ends_at": now() + timedelta(days=1)}


def _dice(actor, **fields):
    template = coupons.template_save(actor=actor, name="掷中礼券", kind="no_threshold", amount_fen=1000, valid_days=30)
    values = {"kind": "dice", "name": "群里掷骰子", "target": 4, "rolls_each": 2, "prize_points": 50, "prize_coupon_id": template.pk, **WINDOW}
    return games.game_create(actor=actor, **{**values, **fields})


def _balance(customer) -> int:
    account = PointsAccount.objects.filter(customer=customer).first()
    return account.available if account else 0


@pytest.mark.django_db
def test_the_first_to_roll_the_number_wins_once_and_rolls_stay_within_each_players_limit():
    corp = f.corp("骰子品牌")
    game = _dice(f.actor(corp))
    a, b, c = (f.customer(corp, name) for name in ("王小明", "李小红", "张三"))
    first = games.play(corp=corp, game=game, customer_id=a.pk, key="a1", roll=lambda n: [2])
    assert (first.rolled, first.won, first.n) == ([2], False, 1)
    assert games.play(corp=corp, game=game, customer_id=a.pk, key="a1", roll=lambda n: [4]) == first  # a second tap: the same roll
    games.play(corp=corp, game=game, customer_id=a.pk, key="a2", roll=lambda n: [5])
    with pytest.raises(Conflict) as used:
        games.play(corp=corp, game=game, customer_id=a.pk, key="a3", roll=lambda n: [4])
    assert used.value.code == "plays_used"
    won = games.play(corp=corp, game=game, customer_id=b.pk, key="b1", roll=lambda n: [4])
    assert won.won and won.points == 50 and won.coupon is not None
    game.refresh_from_db()
    assert (game.status, game.winner_id) == (GroupGame.Status.WON, b.pk)
    assert _balance(b) == 50 and [e.reason for e in PointsEntry.objects.filter(customer=b)] == ["game"]
    with pytest.raises(Conflict) as over:
        games.play(corp=corp, game=game, customer_id=c.pk, key="c1", roll=lambda n: [4])
    assert over.value.code == "game_won"
    context = games.page_context(corp, game, a.pk)
    assert context["winner"] == "李**" and context["chance"] == "1/6" and context["left"] == 0


@pytest.mark.django_db(transaction=True)
def test_many_rolling_the_number_at_once_make_one_winner_paid_once():
    corp = f.corp("抢骰品牌")
    game = _dice(f.actor(corp), rolls_each=3)
    people = [f.customer(corp, f"玩家{i}").pk for i in range(8)]
    lock, outcomes = threading.Lock(), []

    def roll():
        with lock:
            customer_id = people.pop()
        try:
            outcomes.append(games.play(corp=corp, game=game, customer_id=customer_id, key=f"k{customer_id}", roll=lambda n: [4]).won)
        except Conflict as exc:
            outcomes.append(exc.code)

    at_once(roll, 8)
    assert sorted(map(str, outcomes)) == sorted(["True"] + ["game_won"] * 7)
    assert GamePlay.objects.filter(game=game, won=True).count() == 1
    assert Coupon.objects.filter(source="game").count() == 1 and PointsEntry.objects.filter(reason="game").count() == 1


@given(total=st.integers(min_value=1, max_value=5000), data=st.data())
def test_an_envelope_pool_splits_into_positive_parts_that_add_up_to_it(total, data):
    parts = data.draw(st.integers(min_value=1, max_value=min(total, 500)))
    amounts = games.split(total, parts)
    assert len(amounts) == parts and sum(amounts) == total and min(amounts) >= 1


@pytest.mark.django_db(transaction=True)
def test_envelopes_are_opened_once_each_and_never_more_than_were_made():
    corp = f.corp("红包品牌")
    game = games.game_create(actor=f.actor(corp), kind="envelope", name="拼手气红包", envelopes=5, total_points=100, **WINDOW)
    people = [f.customer(corp, f"抢{i}").pk for i in range(8)]
    lock, outcomes = threading.Lock(), []

    def grab():
        with lock:
            customer_id = people.pop()
        for tab in ("a", "b"):  # two tabs of one player
            try:
                outcomes.append(games.play(corp=corp, game=game, customer_id=customer_id, key=f"{tab}{customer_id}").points)
            except Conflict as exc:
                outcomes.append(exc.code)

    at_once(grab, 8)
    game.refresh_from_db()
    plays = GamePlay.objects.filter(game=game)
    assert plays.count() == 5 == game.opened and game.status == GroupGame.Status.EMPTY
    assert sum(plays.values_list("points", flat=True)) == 100 == sum(PointsAccount.objects.filter(corp=corp).values_list("available", flat=True))
    assert plays.values("customer_id").distinct().count() == 5
    assert outcomes.count("game_empty") + outcomes.count("plays_used") == 11


def test_the_chance_shown_is_worked_out_from_the_dice():
    assert games.chance(1, 4) == Fraction(1, 6)
    assert games.chance(2, 7) == Fraction(1, 6)
    assert games.chance(2, 12) == Fraction(1, 36)
    assert games.chance(3, 3) == Fraction(1, 216)
    assert games.chance(3, 10) == Fraction(27, 216)


@pytest.mark.django_db
def test_games_that_make_no_sense_are_refused():
    corp = f.corp("坏游戏品牌")
    actor = f.actor(corp)
    for fields, code in (
        ({"target": 7}, "bad_target"),
        ({"dice": 2, "target": 1}, "bad_target"),
        ({"rolls_each": 0}, "bad_rolls_each"),
        ({"prize_points": 0, "prize_coupon_id": None}, "no_prize"),
        ({"name": ""}, "bad_name"),
        ({"ends_at": WINDOW["starts_at"]}, "bad_window"),
    ):
        with pytest.raises(InvalidInput) as refused:
            _dice(actor, **fields)
        assert refused.value.code == code
    with pytest.raises(InvalidInput) as small:
        games.game_create(actor=actor, kind="envelope", name="红包", envelopes=10, total_points=5, **WINDOW)
    assert (small.value.code, small.value.field) == ("bad_total_points", "total_points")
    assert not GroupGame.objects.exists()


def test_a_customer_rolls_on_the_page_and_is_told_in_chinese_when_someone_won(hub, monkeypatch):
    corp_set_credentials(corp=hub.corp, oa_appid=hub.sb.oa_appid, oa_secret=hub.sb.oa_secret)
    _customer(hub, 0, "wmG0", name="王妈妈")
    other = _customer(hub, 1, "wmG1", name="李妈妈")
    game = _dice(hub.actor)
    monkeypatch.setattr(games, "_roll", lambda n: [3])
    phone = Client()
    path = f"/h5/{hub.corp.corp_id}/game/{game.pk}"
    page = open_in_wechat(phone, hub, path, external_userid="wmG0").content.decode()
    assert 'id="target">4<' in page and "每次掷中的机会 1/6" in page and "掷骰子（还剩 2 次）" in page
    key = page.split('name="key" value="')[1].split('"')[0]
    rolled = phone.post(path, {"key": key}).content.decode()
    assert "你掷出了 3，没有掷中" in rolled and "掷骰子（还剩 1 次）" in rolled
    phone.post(path, {"key": key})  # the same tap again
    assert GamePlay.objects.filter(game=game).count() == 1
    games.play(corp=hub.corp, game=game, customer_id=other.pk, key="other", roll=lambda n: [4])
    refused = phone.post(path, {"key": "another"})
    text = refused.content.decode()
    assert refused.status_code == 409 and "已经有人掷中" in text and 'id="winner">李** 已掷中 4' in text


@pytest.mark.django_db
def test_the_console_creates_a_game_names_a_bad_field_and_stops_it():
    corp = f.corp("控制台游戏")
    client = Client()
    client.force_login(f.user(corp, role=Role.OPERATOR))
    host = f.staff(corp, "群主导购")
    window = {"starts_at": "2026-12-01 10:00", "ends_at": "2027-12-01 10:00"}
    refused = client.post(
        "/games/", {"kind": "dice", "name": "掷骰子", "host_id": host.pk, "dice": 2, "target": 13, "rolls_each": 3, "prize_points": 20, **window}
    )
    assert refused.status_code == 400 and 'id="id_target_error"' in refused.content.decode() and not GroupGame.objects.exists()
    made = client.post("/games/", {"kind": "envelope", "name": "周五红包", "envelopes": 10, "total_points": 200, **window})
    game = GroupGame.objects.get(corp=corp)
    assert made.status_code == 302 and sum(game.amounts) == 200 and len(game.amounts) == 10
    page = client.get(f"/games/{game.pk}/").content.decode()
    assert f"/h5/{corp.corp_id}/game/{game.pk}" in page and 'id="stop-game"' in page
    assert client.post(f"/games/{game.pk}/").status_code == 302
    game.refresh_from_db()
    assert game.status == GroupGame.Status.STOPPED
    with pytest.raises(Conflict) as closed:
        games.play(corp=corp, game=game, customer_id=f.customer(corp, "晚到").pk, key="late")
    assert closed.value.code == "game_closed"


def test_the_api_makes_a_game_and_lists_its_plays(corp, api):
    window = {k: v.isoformat() for k, v in WINDOW.items()}
    made = api.post("/api/v1/group-games", {"kind": "dice", "name": "掷骰子", "target": 6, "prize_points": 30, **window})
    assert made.status_code == 201, made.content
    game = made.json()
    assert game["link"].endswith(f"/h5/{corp.corp_id}/game/{game['id']}") and game["status"] == "open"
    bad = api.post(
        "/api/v1/group-games", {"kind": "envelope", "name": "红包", "envelopes": 3, "total_points": 2, **{k: v.isoformat() for k, v in WINDOW.items()}}
    )
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "total_points"
    mom = f.customer(corp, "妈妈")
    games.play(corp=corp, game=GroupGame.objects.get(pk=game["id"]), customer_id=mom.pk, key="k", roll=lambda n: [6])
    plays = api.get(f"/api/v1/group-games/{game['id']}/plays").json()["items"]
    assert [(p["customer_id"], p["rolled"], p["won"], p["points"]) for p in plays] == [(mom.pk, [6], True, 30)]
    shown = api.get(f"/api/v1/group-games/{game['id']}").json()
    assert (shown["status"], shown["winner_id"], shown["points_paid"]) == ("won", mom.pk, 30)
