"""Group games (群游戏): pages a host shares in a customer group (seed 002).

- **Dice (掷骰子).** The host sets a number the game's dice can add up to. Each player rolls up to
  `rolls_each` times; the first roll that adds up to it wins the prize (points, a coupon, or both)
  and ends the game. The page shows the chance of one roll, worked out from the dice as they are
  rolled (`secrets`).
- **Red envelope (拼手气红包).** A pool of points split at random into N envelopes when the game is
  made (each at least one point, the parts adding up to the pool exactly). Each player opens one,
  in turn, until none is left: the pool is the cap, whoever comes.
- **Once, and in turn.** A play locks the game's row: plays of one game run one after the other (a
  group is a few hundred people), so there is one winner and no envelope is opened twice. A play is
  keyed by the page (two taps are one play) and numbered per player (a player's rolls stay within
  the limit; an envelope is one per player, also from two tabs).
- **Paid at once**, in the play's transaction, keyed by the game: the prize's points are the game's
  own (paid with points off too), its coupon issued once.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from fractions import Fraction
from itertools import product

from django.db import transaction
from django.db.models import Count, Sum
from django.utils.translation import gettext as _

from siyu.corps.models import Corp, Staff
from siyu.groups.models import CustomerGroup
from siyu.kit.clock import now
from siyu.kit.errors import Conflict, InvalidInput
from siyu.kit.tenancy import Actor

from . import coupons, earning
from .lottery import masked
from .models import CouponTemplate, GamePlay, GroupGame

MAX_DICE = 3
MAX_ROLLS = 20
MAX_ENVELOPES = 500
MAX_POOL = 1_000_000


def _whole(value, field: str, lo: int, hi: int, message: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise InvalidInput(message, code=f"bad_{field}", field=field)
    return value


@transaction.atomic
def game_create(
    *, actor: Actor, kind: str, name: str, starts_at: datetime, ends_at: datetime, host_id: int | None = None, group_id: int | None = None,
    dice: int = 1, target: int | None = None, rolls_each: int = 3, prize_points: int = 0, prize_coupon_id: int | None = None,
    envelopes: int = 0, total_points: int = 0,
) -> GroupGame:  # fmt: skip
    actor.require_manager()
    name = (name or "").strip()
    if not name or len(name) > 32:
        raise InvalidInput(_("A game needs a name of at most 32 characters."), code="bad_name", field="name")
    if kind not in GroupGame.Kind.values:
        raise InvalidInput(_("A game is dice or a red envelope."), code="bad_kind", field="kind")
    if not starts_at < ends_at:
        raise InvalidInput(_("The game ends after it starts."), code="bad_window", field="ends_at")
    corp = actor.corp
    if host_id is not None and not Staff.objects.filter(corp=corp, pk=host_id).exists():
        raise InvalidInput(_("No such staff member."), code="no_such_staff", field="host_id")
    if group_id is not None and not CustomerGroup.objects.filter(corp=corp, pk=group_id).exists():
        raise InvalidInput(_("No such customer group."), code="no_such_group", field="group_id")
    game = GroupGame(corp=corp, kind=kind, name=name, starts_at=starts_at, ends_at=ends_at, host_id=host_id, group_id=group_id)
    if kind == GroupGame.Kind.DICE:
        game.dice = _whole(dice, "dice", 1, MAX_DICE, _("Roll 1 to %(n)s dice.") % {"n": MAX_DICE})
        game.target = _whole(target, "target", dice, 6 * dice, _("With %(n)s dice the number is %(lo)s to %(hi)s.") % {"n": dice, "lo": dice, "hi": 6 * dice})
        game.rolls_each = _whole(rolls_each, "rolls_each", 1, MAX_ROLLS, _("Each player rolls 1 to %(n)s times.") % {"n": MAX_ROLLS})
        game.prize_points = _whole(prize_points, "prize_points", 0, MAX_POOL, _("Points are a whole number from 0 to 1,000,000."))
        if prize_coupon_id is not None:
            game.prize_coupon = CouponTemplate.objects.filter(corp=corp, pk=prize_coupon_id, active=True).first()
            if game.prize_coupon is None:
                raise InvalidInput(_("No such coupon."), code="no_such_coupon", field="prize_coupon_id")
        if not game.prize_points and game.prize_coupon is None:
            raise InvalidInput(_("The winner gets points, a coupon, or both."), code="no_prize", field="prize_points")
    else:
        envelopes = _whole(envelopes, "envelopes", 1, MAX_ENVELOPES, _("A red envelope game has 1 to %(n)s envelopes.") % {"n": MAX_ENVELOPES})
        total = _whole(total_points, "total_points", envelopes, MAX_POOL, _("The pool holds at least a point per envelope, and at most 1,000,000."))
        game.total_points, game.amounts = total, split(total, envelopes)
    game.save()
    return game


def split(total: int, parts: int) -> list[int]:
    """`total` in `parts` random whole parts of at least one each (cuts drawn without repeats)."""
    cuts = sorted(secrets.SystemRandom().sample(range(1, total), parts - 1))
    edges = [0, *cuts, total]
    return [b - a for a, b in zip(edges, edges[1:])]


def chance(dice: int, target: int) -> Fraction:
    """The chance that one roll of `dice` dice adds up to `target`."""
    rolls = list(product(range(1, 7), repeat=dice))  # at most 6³ = 216
    return Fraction(sum(1 for faces in rolls if sum(faces) == target), len(rolls))


def _roll(dice: int) -> list[int]:
    return [secrets.randbelow(6) + 1 for _ in range(dice)]


@transaction.atomic
def play(*, corp: Corp, game: GroupGame, customer_id: int, key: str, at: datetime | None = None, roll: Callable[[int], list[int]] | None = None) -> GamePlay:
    """One roll, or one envelope opened; refused with the reason when the game is over for the
    player or for everyone."""
    key = (key or "").strip()[:64]
    if not key:
        raise InvalidInput(_("The play has no key; open the page again."), code="no_key", field="key")
    earlier = GamePlay.objects.filter(corp=corp, key=key).first()
    if earlier is not None:
        return earlier
    if game.corp_id != corp.pk:
        raise Conflict(_("This game is not open now."), code="game_closed")
    game = GroupGame.objects.select_for_update().get(pk=game.pk)
    earlier = GamePlay.objects.filter(corp=corp, key=key).first()  # a twin that held the lock first
    if earlier is not None:
        return earlier
    at = at or now()
    if game.status == GroupGame.Status.WON:
        raise Conflict(_("Someone has already rolled the number; the game is over."), code="game_won")
    if game.status == GroupGame.Status.EMPTY:
        raise Conflict(_("All the envelopes have been opened."), code="game_empty")
    if game.status != GroupGame.Status.OPEN or not game.starts_at <= at < game.ends_at:
        raise Conflict(_("This game is not open now."), code="game_closed")
    mine = GamePlay.objects.filter(game=game, customer_id=customer_id).count()
    if game.kind == GroupGame.Kind.ENVELOPE:
        if mine:
            raise Conflict(_("You have opened your envelope already."), code="plays_used")
        return _open_envelope(corp, game, customer_id, key, at)
    if mine >= game.rolls_each:
        raise Conflict(_("You have used your %(n)s rolls.") % {"n": game.rolls_each}, code="plays_used")
    return _roll_dice(corp, game, customer_id, key, at, mine + 1, roll or _roll)


def _roll_dice(corp: Corp, game: GroupGame, customer_id: int, key: str, at: datetime, n: int, roll) -> GamePlay:
    rolled = list(roll(game.dice))
    won = sum(rolled) == game.target
    result = GamePlay.objects.create(corp=corp, game=game, customer_id=customer_id, key=key, n=n, rolled=rolled, won=won, at=at)
    if won:
        game.status, game.winner_id, game.won_at = GroupGame.Status.WON, customer_id, at
        game.save(update_fields=["status", "winner", "won_at"])
        if game.prize_points:
            earning.earn(corp, customer_id, game.prize_points, reason="game", source="game", source_id=str(game.pk), at=at, by_policy=False)
            result.points = game.prize_points
        if game.prize_coupon_id:
            try:
                result.coupon = coupons.coupon_issue(
                    corp=corp, template=game.prize_coupon, customer_id=customer_id, source="game", source_id=str(game.pk), at=at
                )
            except Conflict:  # the coupon ran out meanwhile: the win and its points stand
                result.coupon = None
        result.save(update_fields=["points", "coupon"])
    return result


def _open_envelope(corp: Corp, game: GroupGame, customer_id: int, key: str, at: datetime) -> GamePlay:
    points = game.amounts[game.opened]
    result = GamePlay.objects.create(corp=corp, game=game, customer_id=customer_id, key=key, n=1, points=points, at=at)
    game.opened += 1
    if game.opened == len(game.amounts):
        game.status = GroupGame.Status.EMPTY
    game.save(update_fields=["opened", "status"])
    earning.earn(corp, customer_id, points, reason="game", source="game", source_id=f"{game.pk}:{customer_id}", at=at, by_policy=False)
    return result


def game_stop(*, actor: Actor, game: GroupGame) -> GroupGame:
    actor.require_manager()
    with transaction.atomic():
        game = GroupGame.objects.select_for_update().get(pk=game.pk, corp=actor.corp)
        if game.status == GroupGame.Status.OPEN:
            game.status = GroupGame.Status.STOPPED
            game.save(update_fields=["status"])
    return game


def page_context(corp: Corp, game: GroupGame, customer_id: int) -> dict:
    """What the player's page shows: the number and its chance, their rolls and what is left of
    them, the winner; or the envelopes left and who opened what (names masked)."""
    mine = list(GamePlay.objects.filter(game=game, customer_id=customer_id).order_by("n"))
    plays = GamePlay.objects.filter(game=game).select_related("customer").order_by("-at", "-pk")[:20]
    context = {
        "corp": corp,
        "game": game,
        "mine": mine,
        "feed": [{"name": masked(p.customer.name), "play": p} for p in plays],
        "open": game.status == GroupGame.Status.OPEN and game.starts_at <= now() < game.ends_at,
    }
    if game.kind == GroupGame.Kind.DICE:
        odds = chance(game.dice, game.target)
        context |= {
            "chance": f"{odds.numerator}/{odds.denominator}",
            "left": max(0, game.rolls_each - len(mine)),
            "winner": masked(game.winner.name) if game.winner_id else "",
        }
    else:
        context |= {"left": len(game.amounts) - game.opened, "envelopes": len(game.amounts)}
    return context


def games_stats(game_ids: list[int]) -> dict[int, dict]:
    """Plays, players and points paid of each game, in one grouped query (a list of 100 games too)."""
    rows = (
        GamePlay.objects.filter(game_id__in=game_ids)
        .values("game_id")
        .annotate(plays=Count("pk"), players=Count("customer_id", distinct=True), points=Sum("points"))
    )
    found = {row.pop("game_id"): row for row in rows}
    return {pk: found.get(pk, {"plays": 0, "players": 0, "points": 0}) for pk in game_ids}
