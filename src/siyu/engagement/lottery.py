"""Lotteries (抽奖): a wheel or a scratch card with prizes at given chances, stocks and daily caps,
per-person draw limits and an optional points cost.

- **The odds shown are the odds run.** A draw takes a number below a million from the operating
  system's randomness (`secrets`). Each prize owns its `per_million` share of that range, in the
  prizes' order; the rest wins nothing. A draw landing on a prize whose stock or day's cap is gone
  wins nothing: the others' chances are never raised, so what the page shows stays true.
- **Never beyond the stock.** A prize is taken by a conditional UPDATE (awarded below stock), its
  day's counter the same way (below the cap), both inside the draw's transaction.
- **Once.** A draw is keyed (the page makes the key when it is shown): two taps submit one key
  and get one draw. The customer's entrant row is locked first, so their draws run one after the
  other and the per-day and total limits hold, also across tabs.
- **Paid at once.** Points are earned, a coupon is issued, goods get a code handed over in store,
  all in the draw's transaction, keyed by the draw.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils.translation import gettext as _

from siyu.corps.models import Corp
from siyu.kit.clock import now
from siyu.kit.db import locked_row
from siyu.kit.errors import Conflict, InvalidInput
from siyu.kit.tenancy import Actor

from . import coupons
from .models import CouponTemplate, Lottery, LotteryDraw, LotteryEntrant, LotteryPrize, LotteryPrizeDay
from .points import points_earn_fresh, points_spend

MILLION = 1_000_000
MAX_PRIZES = 12
PRIZE_PREFIX = "SIYU-PRIZE:"


def lottery_save(
    *,
    actor: Actor,
    lottery: Lottery | None = None,
    name: str,
    starts_at: datetime,
    ends_at: datetime,
    prizes: list[dict],
    kind: str = "wheel",
    points_cost: int = 0,
    draws_per_day: int = 1,
    draws_total: int | None = None,
    show_winners: bool = True,
    active: bool = True,
) -> Lottery:
    """A lottery with its prizes: [{"name", "kind", "per_million", "stock", "daily_cap", "points",
    "coupon_template_id"}]. A started lottery's prizes are not changed (its odds were promised)."""
    actor.require_manager()
    name = (name or "").strip()
    if not name or len(name) > 32:
        raise InvalidInput(_("The lottery needs a name of at most 32 characters."), code="bad_name", field="name")
    if kind not in Lottery.Kind.values:
        raise InvalidInput(_("The kind is one of %(kinds)s.") % {"kinds": ", ".join(Lottery.Kind.values)}, code="bad_kind", field="kind")
    if ends_at <= starts_at:
        raise InvalidInput(_("The end is before the start."), code="bad_dates", field="ends_at")
    if not 1 <= draws_per_day <= 100 or (draws_total is not None and not 1 <= draws_total <= 10_000):
        raise InvalidInput(_("Draws per day are 1–100 and in all 1–10,000."), code="bad_limit", field="draws_per_day")
    if not 0 <= points_cost <= 1_000_000:
        raise InvalidInput(_("Points are a whole number from 0 to 1,000,000."), code="bad_points", field="points_cost")
    rows = _prizes_clean(actor, prizes)
    values = {
        "name": name,
        "kind": kind,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "points_cost": points_cost,
        "draws_per_day": draws_per_day,
        "draws_total": draws_total,
        "show_winners": show_winners,
        "active": active,
    }
    with transaction.atomic():
        if lottery is None:
            lottery = Lottery.objects.create(corp=actor.corp, **values)
        else:
            if lottery.draws.exists():
                raise Conflict(_("People have drawn already: the prizes and their odds stay as promised."), code="lottery_started", field="prizes")
            for key, value in values.items():
                setattr(lottery, key, value)
            lottery.save()
            lottery.prizes.all().delete()
        LotteryPrize.objects.bulk_create([LotteryPrize(corp=actor.corp, lottery=lottery, position=i, **row) for i, row in enumerate(rows)])
    return lottery


def _prizes_clean(actor: Actor, prizes) -> list[dict]:
    if not isinstance(prizes, list) or not 1 <= len(prizes) <= MAX_PRIZES:
        raise InvalidInput(_("A lottery has 1 to %(n)s prizes.") % {"n": MAX_PRIZES}, code="bad_prizes", field="prizes")
    out, total = [], 0
    for i, p in enumerate(prizes):
        where = f"prizes.{i}"
        name, kind, chance = str(p.get("name") or "").strip(), p.get("kind"), p.get("per_million")
        if not name or len(name) > 32:
            raise InvalidInput(_("Each prize needs a name of at most 32 characters."), code="bad_prizes", field=f"{where}.name")
        if kind not in LotteryPrize.Kind.values:
            raise InvalidInput(_("A prize is a coupon, points or goods."), code="bad_prizes", field=f"{where}.kind")
        if not isinstance(chance, int) or isinstance(chance, bool) or not 1 <= chance <= MILLION:
            raise InvalidInput(_("A prize's chance is 1 to 1,000,000 in a million."), code="bad_prizes", field=f"{where}.per_million")
        total += chance
        template = None
        if kind == "coupon":
            template = CouponTemplate.objects.filter(corp=actor.corp, pk=p.get("coupon_template_id")).first()
            if template is None:
                raise InvalidInput(_("Choose the coupon it gives."), code="no_such_coupon", field=f"{where}.coupon_template_id")
        points = p.get("points") or 0
        if kind == "points" and (not isinstance(points, int) or not 1 <= points <= 1_000_000):
            raise InvalidInput(_("Points are a whole number from 1 to 1,000,000."), code="bad_prizes", field=f"{where}.points")
        out.append(
            {
                "name": name,
                "kind": kind,
                "per_million": chance,
                "stock": p.get("stock"),
                "daily_cap": p.get("daily_cap"),
                "coupon_template": template,
                "points": points if kind == "points" else 0,
            }
        )
    if total > MILLION:
        raise InvalidInput(_("The chances add up to more than 100%% (%(total)s in a million).") % {"total": total}, code="bad_odds", field="prizes")
    return out


def pick(prizes: list[LotteryPrize], roll: int) -> LotteryPrize | None:
    """The prize a number below a million lands on (the prizes' shares in their order), or None."""
    edge = 0
    for prize in prizes:
        edge += prize.per_million
        if roll < edge:
            return prize
    return None


def _take(prize: LotteryPrize, day) -> bool:
    """One of the prize, within its stock and its day's cap; False when either is gone."""
    if not LotteryPrize.objects.filter(Q(stock__isnull=True) | Q(awarded__lt=F("stock")), pk=prize.pk).update(awarded=F("awarded") + 1):
        return False
    if prize.daily_cap is None:
        return True
    LotteryPrizeDay.objects.get_or_create(corp_id=prize.corp_id, prize=prize, day=day)
    if LotteryPrizeDay.objects.filter(prize=prize, day=day, awarded__lt=prize.daily_cap).update(awarded=F("awarded") + 1):
        return True
    LotteryPrize.objects.filter(pk=prize.pk).update(awarded=F("awarded") - 1)  # the day's cap is reached: put it back
    return False


def draw(*, corp: Corp, lottery: Lottery, customer_id: int, key: str, at: datetime | None = None, roll: Callable[[], int] | None = None) -> LotteryDraw:
    key = (key or "").strip()[:64]
    if not key:
        raise InvalidInput(_("The draw has no key; open the page again."), code="no_key", field="key")
    try:
        return _draw(corp, lottery, customer_id, key, at or now(), roll or _roll)
    except IntegrityError:
        # Another customer's draw took the same key at the same moment (a key copied from their
        # page): all of this one was undone, and its second look finds that draw and refuses.
        return _draw(corp, lottery, customer_id, key, at or now(), roll or _roll)


@transaction.atomic
def _draw(corp: Corp, lottery: Lottery, customer_id: int, key: str, at: datetime, roll: Callable[[], int]) -> LotteryDraw:
    """One draw in one transaction without savepoints: the customer's entrant row is locked first,
    so their draws run in turn and a second tap finds the first's key."""
    entrant = _entrant(corp, lottery, customer_id)
    earlier = LotteryDraw.objects.filter(corp=corp, key=key).first()
    if earlier is not None:
        if earlier.customer_id != customer_id:
            raise InvalidInput(_("The draw has no key; open the page again."), code="no_key", field="key")
        return earlier
    if lottery.corp_id != corp.pk or not lottery.active or not lottery.starts_at <= at < lottery.ends_at:
        raise Conflict(_("This lottery is not open now."), code="lottery_closed")
    day = at.astimezone(corp.tzinfo).date()
    today = entrant.draws_that_day if entrant.day == day else 0
    if today >= lottery.draws_per_day:
        raise Conflict(_("You have used today's draws (%(n)s a day); come back tomorrow.") % {"n": lottery.draws_per_day}, code="draws_used")
    if lottery.draws_total is not None and entrant.draws >= lottery.draws_total:
        raise Conflict(_("You have used all your draws (%(n)s).") % {"n": lottery.draws_total}, code="draws_used")
    won = pick(list(lottery.prizes.order_by("position", "pk")), roll())
    if won is not None and not _take(won, day):
        won = None
    result = LotteryDraw.objects.create(
        corp=corp, lottery=lottery, customer_id=customer_id, key=key, prize=won, at=at, prize_code=coupons.new_code() if won and won.kind == "goods" else ""
    )
    if lottery.points_cost:
        points_spend(corp=corp, customer_id=customer_id, points=lottery.points_cost, reason="lottery", source="lottery_cost", source_id=str(result.pk), at=at)
    if won is not None and won.kind == "points":
        # The key is the new draw's row: no earlier move can hold it.
        earning = {"points": won.points, "reason": "lottery", "source": "lottery", "source_id": str(result.pk)}
        points_earn_fresh(corp=corp, customer_id=customer_id, earnings=[earning], at=at)
    elif won is not None and won.kind == "coupon":
        result.coupon = coupons.coupon_issue(
            corp=corp, template=won.coupon_template, customer_id=customer_id, source="lottery", source_id=str(result.pk), at=at
        )
        result.save(update_fields=["coupon"])
    LotteryEntrant.objects.filter(pk=entrant.pk).update(draws=F("draws") + 1, day=day, draws_that_day=today + 1)
    return result


def _entrant(corp: Corp, lottery: Lottery, customer_id: int) -> LotteryEntrant:
    """The customer's entrant row, locked until the transaction ends (made on the first draw)."""
    return locked_row(
        LotteryEntrant.objects.filter(lottery=lottery, customer_id=customer_id), lambda: LotteryEntrant(corp=corp, lottery=lottery, customer_id=customer_id)
    )


def _roll() -> int:
    return secrets.randbelow(MILLION)


@transaction.atomic
def prize_hand_over(*, actor: Actor, code: str, store: str = "") -> LotteryDraw:
    """A guide hands a won prize over in store (its code scanned from the customer's page)."""
    if not actor.staff_id:
        raise InvalidInput(_("Only a staff member hands over items in store."), code="not_staff", field="code")
    code = (code or "").strip().upper().removeprefix(PRIZE_PREFIX)
    won = LotteryDraw.objects.select_for_update(of=("self",)).select_related("prize").filter(corp=actor.corp, prize_code=code).first() if code else None
    if won is None:
        raise Conflict(_("This is not one of the brand's prize codes; check the code."), code="no_such_prize", field="code")
    if won.handed_over_at is not None:
        when = won.handed_over_at.astimezone(actor.corp.tzinfo).strftime("%Y-%m-%d %H:%M")
        raise Conflict(_("This prize was already handed over (%(when)s).") % {"when": when}, code="prize_handed_over", field="code")
    won.handed_over_at, won.staff_id = now(), actor.staff_id
    won.save(update_fields=["handed_over_at", "staff"])
    return won


def page_context(corp: Corp, game: Lottery, customer_id: int) -> dict:
    """What the customer's page shows: each prize's chance as run (and whether any is left), the
    draws left today, their wins, and the latest winners (names masked)."""
    prizes = list(game.prizes.order_by("position", "pk"))
    day = now().astimezone(corp.tzinfo).date()
    entrant = LotteryEntrant.objects.filter(lottery=game, customer_id=customer_id).first()
    used = entrant.draws_that_day if entrant and entrant.day == day else 0
    left = game.draws_per_day - used
    if game.draws_total is not None:
        left = min(left, game.draws_total - (entrant.draws if entrant else 0))
    winners = (
        LotteryDraw.objects.filter(lottery=game, prize__isnull=False).select_related("customer", "prize").order_by("-at")[:10] if game.show_winners else []
    )
    return {
        "corp": corp,
        "game": game,
        "prizes": [{"prize": p, "percent": f"{p.per_million / 10_000:g}", "gone": p.stock is not None and p.awarded >= p.stock} for p in prizes],
        "nothing_percent": f"{(MILLION - sum(p.per_million for p in prizes)) / 10_000:g}",
        "left": max(0, left),
        "mine": LotteryDraw.objects.filter(lottery=game, customer_id=customer_id, prize__isnull=False).select_related("prize").order_by("-at")[:20],
        "winners": [{"name": masked(w.customer.name), "prize": w.prize.name} for w in winners],
    }


def masked(name: str) -> str:
    return (name[:1] + "*" * min(2, max(1, len(name) - 1))) if name else "*"
