"""Membership levels (会员等级): the rules, and which level each customer holds.

A customer holds the highest-ranked level whose rule holds now: their spend (what their orders paid
less refunds), their counted orders (not wholly refunded) and the points they earned (less what
refunds took back; a cancelled exchange's points are not growth). A level needs any one of its
thresholds, or all of them. A level without thresholds is everyone's.

The level is kept on the customer's points account and moved under its lock: when points are
earned (`points._write` asks `level_reached`), when an order is paid or refunded, and for every
customer by a worker task when the brand changes the levels. It goes down as well as up: a refund
that takes back what reached a level takes the level back too.

The corp's levels are read from the cache (one read per event; a save clears it), so a corp
without levels pays one cache read per order or earning.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q, Sum
from django.utils.translation import gettext as _

from siyu.corps.models import Corp
from siyu.kit.clock import now
from siyu.kit.errors import Conflict, InvalidInput
from siyu.kit.queue import enqueue_after_commit
from siyu.kit.tenancy import Actor
from siyu.orders.models import CustomerValue, Order

from .models import MemberLevel, PointsAccount

CACHE_SECONDS = 300
MAX_LEVELS = 20
BATCH = 2000


@dataclass(frozen=True)
class Rule:
    pk: int
    rank: int
    min_spend_fen: int | None
    min_orders: int | None
    min_points: int | None
    needs_all: bool

    def holds(self, spend_fen: int, orders: int, points: int) -> bool:
        checks = [
            value >= least for value, least in ((spend_fen, self.min_spend_fen), (orders, self.min_orders), (points, self.min_points)) if least is not None
        ]
        if not checks:
            return True
        return all(checks) if self.needs_all else any(checks)

    @property
    def reads_orders(self) -> bool:
        return self.min_spend_fen is not None or self.min_orders is not None


def _cache_key(corp_id: int) -> str:
    return f"siyu:member-levels:{corp_id}"


def rules_for(corp_id: int) -> list[Rule]:
    """The corp's levels as rules, highest rank first (cached)."""
    found = cache.get(_cache_key(corp_id))
    if found is None:
        found = [
            Rule(level.pk, level.rank, level.min_spend_fen, level.min_orders, level.min_points, level.needs == MemberLevel.Needs.ALL)
            for level in MemberLevel.objects.filter(corp_id=corp_id).order_by("-rank")
        ]
        cache.set(_cache_key(corp_id), found, CACHE_SECONDS)
    return found


def reached(rules: list[Rule], spend_fen: int, orders: int, points: int) -> int | None:
    """The pk of the highest level whose rule holds, or None."""
    return next((rule.pk for rule in rules if rule.holds(spend_fen, orders, points)), None)


def order_facts(customer_id: int) -> tuple[int, int]:
    """The customer's spend and counted orders, from their orders (current within the order's own
    transaction, before the customer's order figures are refreshed)."""
    facts = Order.objects.filter(customer_id=customer_id).aggregate(
        spend=Sum(F("amount_fen") - F("refunded_fen")), orders=Count("pk", filter=Q(amount_fen__gt=F("refunded_fen")))
    )
    return facts["spend"] or 0, facts["orders"] or 0


def level_reached(account: PointsAccount, at: datetime) -> bool:
    """Move the (locked) account to the level its customer holds now; True when it moved (the caller
    saves `level` and `level_since`)."""
    rules = rules_for(account.corp_id)
    if not rules and account.level_id is None:
        return False
    spend, orders = order_facts(account.customer_id) if any(rule.reads_orders for rule in rules) else (0, 0)
    level_id = reached(rules, spend, orders, account.earned)
    if level_id == account.level_id:
        return False
    account.level_id, account.level_since = level_id, at
    return True


def standing(corp_id: int, customer_id: int, account: PointsAccount | None) -> dict:
    """What the customer's page shows: their level, the next one up, and what each of its
    thresholds still needs (spend in fen, orders, points; 0 for one met)."""
    levels = list(MemberLevel.objects.filter(corp_id=corp_id).order_by("rank"))
    current = next((level for level in levels if account and level.pk == account.level_id), None)
    above = [level for level in levels if current is None or level.rank > current.rank]
    if not above:
        return {"level": current, "next": None, "short": {}}
    upcoming = above[0]
    spend, orders = order_facts(customer_id)
    short = {}
    for key, have, least in (
        ("spend_fen", spend, upcoming.min_spend_fen),
        ("orders", orders, upcoming.min_orders),
        ("points", account.earned if account else 0, upcoming.min_points),
    ):
        if least is not None:
            short[key] = max(least - have, 0)
    if "spend_fen" in short:
        short["spend_yuan"] = -(-short["spend_fen"] // 100)  # whole yuan, rounded up
    return {"level": current, "next": upcoming, "short": short}


# -- the brand's levels ---------------------------------------------------------------------------------
def _threshold(value, field: str, most: int) -> int | None:
    if value in (None, ""):
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= most:
        raise InvalidInput(_("A threshold is a whole number from 0 to %(most)s.") % {"most": most}, code="bad_threshold", field=field)
    return value


@transaction.atomic
def level_save(
    *, actor: Actor, level: MemberLevel | None = None, name: str, rank: int, min_spend_fen: int | None = None, min_orders: int | None = None,
    min_points: int | None = None, needs: str = "any", benefits: str = "",
) -> MemberLevel:  # fmt: skip
    actor.require_manager()
    name = (name or "").strip()
    if not name or len(name) > 20:
        raise InvalidInput(_("A level needs a name of at most 20 characters."), code="bad_name", field="name")
    if not isinstance(rank, int) or isinstance(rank, bool) or not 1 <= rank <= MAX_LEVELS:
        raise InvalidInput(_("The rank is a whole number from 1 to %(n)s.") % {"n": MAX_LEVELS}, code="bad_rank", field="rank")
    if needs not in MemberLevel.Needs.values:
        raise InvalidInput(_("A level needs any one of its thresholds, or all of them."), code="bad_needs", field="needs")
    values = {
        "name": name,
        "rank": rank,
        "min_spend_fen": _threshold(min_spend_fen, "min_spend_fen", 10**12),
        "min_orders": _threshold(min_orders, "min_orders", 1_000_000),
        "min_points": _threshold(min_points, "min_points", 10**12),
        "needs": needs,
        "benefits": (benefits or "").strip()[:200],
    }
    if level is None:
        level = MemberLevel(corp=actor.corp)
    elif level.corp_id != actor.corp.pk:
        raise InvalidInput(_("No such level."), code="no_such_level", field="level")
    for key, value in values.items():
        setattr(level, key, value)
    try:
        with transaction.atomic():
            level.save()
    except IntegrityError:
        clash = "rank" if MemberLevel.objects.filter(corp=actor.corp, rank=rank).exclude(pk=level.pk).exists() else "name"
        message = _("Another level has this rank.") if clash == "rank" else _("Another level has this name.")
        raise Conflict(message, code=f"{clash}_taken", field=clash) from None
    _levels_changed(actor.corp)
    return level


@transaction.atomic
def level_delete(*, actor: Actor, level: MemberLevel) -> None:
    actor.require_manager()
    if level.corp_id != actor.corp.pk:
        raise InvalidInput(_("No such level."), code="no_such_level", field="level")
    level.delete()
    _levels_changed(actor.corp)


def _levels_changed(corp: Corp) -> None:
    cache.delete(_cache_key(corp.pk))
    transaction.on_commit(lambda: cache.delete(_cache_key(corp.pk)))
    enqueue_after_commit("siyu.engagement.tasks.levels_recompute", corp.pk)


def levels_recompute(corp_id: int) -> int:
    """Every customer of the corp moved to the level they hold under the current rules; returns how
    many moved. Customers with orders but no points account get one (their level lives there)."""
    cache.delete(_cache_key(corp_id))
    rules = rules_for(corp_id)
    buyers = CustomerValue.objects.filter(corp_id=corp_id, order_count__gte=1).values_list("customer_id", flat=True)
    after, moved = 0, 0
    while True:
        batch = list(buyers.filter(customer_id__gt=after).order_by("customer_id")[:BATCH])
        if not batch:
            break
        at = now()
        PointsAccount.objects.bulk_create([PointsAccount(corp_id=corp_id, customer_id=i, updated_at=at) for i in batch], ignore_conflicts=True)
        after = batch[-1]
    after = 0
    while True:
        with transaction.atomic():
            accounts = list(PointsAccount.objects.select_for_update().filter(corp_id=corp_id, customer_id__gt=after).order_by("customer_id")[:BATCH])
            if not accounts:
                break
            after = accounts[-1].customer_id
            facts = {
                v["customer_id"]: (v["net_fen"], v["order_count"])
                for v in CustomerValue.objects.filter(customer_id__in=[a.customer_id for a in accounts]).values("customer_id", "net_fen", "order_count")
            }
            changed = []
            for account in accounts:
                spend, orders = facts.get(account.customer_id, (0, 0))
                level_id = reached(rules, spend, orders, account.earned)
                if level_id != account.level_id:
                    account.level_id, account.level_since = level_id, now()
                    changed.append(account)
            PointsAccount.objects.bulk_update(changed, ["level", "level_since"])
            moved += len(changed)
    return moved
