"""Every move of points. Each is one transaction (a savepoint within the caller's) and locks the
customer's account row first, so two spends of one balance happen one after the other and the
second sees what the first left: a balance never goes negative, also under concurrent spends (and
the database's CHECK holds it if a caller forgot). Each move is recorded once per (source,
source_id)."""

from __future__ import annotations

from datetime import date, datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.translation import gettext as _

from siyu.corps.models import Corp
from siyu.customers.models import Customer
from siyu.kit.clock import now
from siyu.kit.db import locked_row
from siyu.kit.errors import Conflict, InvalidInput
from siyu.kit.tenancy import Actor

from . import members
from .models import PointsAccount, PointsEntry

Kind = PointsEntry.Kind
POINTS_MAX = 10_000_000  # one move; a typo of a brand's operator should not mint a fortune


LOTS_AT_ONCE = 32
GROWTH = (Kind.EARN, Kind.RELEASE, Kind.VOID)  # the moves that count towards membership levels
NOT_GROWTH = ("exchange_refund",)  # a cancelled exchange's points come back; they were earned before


def _account(corp: Corp, customer_id: int) -> PointsAccount:
    """The customer's account, locked until the transaction ends (made on first use). A customer
    with an account costs one statement; the first move of a new one three."""

    def new() -> PointsAccount:
        if not Customer.objects.filter(corp=corp, pk=customer_id).exists():
            raise InvalidInput(_("No such customer."), code="no_such_customer", field="customer_id")
        return PointsAccount(corp=corp, customer_id=customer_id, updated_at=now())

    account = locked_row(PointsAccount.objects.filter(customer_id=customer_id), new)
    if account.corp_id != corp.pk:
        raise InvalidInput(_("No such customer."), code="no_such_customer", field="customer_id")
    return account


def _amount(points) -> int:
    if not isinstance(points, int) or isinstance(points, bool) or not 0 < points <= POINTS_MAX:
        raise InvalidInput(_("Points are a whole number from 1 to %(max)s.") % {"max": POINTS_MAX}, code="bad_points", field="points")
    return points


def _done_before(corp: Corp, source: str, source_id: str) -> PointsEntry | None:
    return PointsEntry.objects.filter(corp=corp, source=source, source_id=str(source_id)).first()


def _write(
    account: PointsAccount, *, kind: str, reason: str, points: int, pending_change: int, source: str, source_id: str, at: datetime, save: bool = True,
    **fields,
) -> PointsEntry:  # fmt: skip
    """One entry and the account after it (neither saved when `save` is False: the caller saves
    the entries together and the account once)."""
    available, pending = account.available + points, account.pending + pending_change
    if available < 0 or pending < 0:  # the callers refuse first; this is the guard behind them
        raise Conflict(_("Not enough points."), code="insufficient_points", field="points")
    entry = PointsEntry(
        corp_id=account.corp_id, customer_id=account.customer_id, kind=kind, reason=reason[:32], points=points, pending_change=pending_change,
        available_after=available, pending_after=pending, source=source[:32], source_id=str(source_id)[:64], at=at, **fields,
    )  # fmt: skip
    account.available, account.pending, account.updated_at = available, pending, at
    grew = bool(points) and kind in GROWTH and reason not in NOT_GROWTH
    if grew:
        account.earned += points
    if save:
        entry.save(force_insert=True)
        _save(account, at, grew=grew)
    return entry


def _save(account: PointsAccount, at: datetime, *, grew: bool) -> None:
    """The account after its moves; when its earned points grew, at the level they reach now
    (looked up once, however many moves came before)."""
    fields = ["available", "pending", "updated_at"]
    if grew:
        fields.append("earned")
        if members.level_reached(account, at):
            fields += ["level", "level_since"]
    account.save(update_fields=fields)


@transaction.atomic
def level_refresh(corp: Corp, customer_id: int) -> None:
    """The customer's level after an order moved their spend (paid, refunded). Nothing is read
    or locked for a corp without levels (deleting the last one cleared every account's)."""
    if not members.rules_for(corp.pk):
        return
    account = _account(corp, customer_id)
    if members.level_reached(account, now()):
        account.save(update_fields=["level", "level_since"])


def _once(corp: Corp, source: str, source_id: str, move):
    """Run a move whole; should its key be recorded meanwhile (a twin submitted at once), the twin
    stands and nothing of this one is kept (its lots untouched, its balance unmoved)."""
    try:
        with transaction.atomic():
            return move()
    except IntegrityError:
        twin = _done_before(corp, source, source_id)
        if twin is None:
            raise
        return twin


@transaction.atomic
def points_earn(
    *, corp: Corp, customer_id: int, points: int, reason: str, source: str, source_id: str, at: datetime | None = None,
    expires_on: date | None = None, available_on: datetime | None = None,
) -> PointsEntry:  # fmt: skip
    """Points earned, once per (source, source_id). With `available_on` in the future (an order's
    refund window) they wait as pending until `points_release_due`; `expires_on`: the lot's end."""
    points, at = _amount(points), at or now()
    account = _account(corp, customer_id)
    # No look for an earlier move first: the key's unique constraint finds it (`_once`), and a
    # new key, the usual case, costs no extra statement.
    if available_on is not None and available_on > at:
        fields = {"kind": Kind.PENDING, "points": 0, "pending_change": points, "available_on": available_on}
    else:
        fields = {"kind": Kind.EARN, "points": points, "pending_change": 0, "remaining": points}
    return _once(corp, source, source_id, lambda: _write(account, reason=reason, source=source, source_id=source_id, at=at, expires_on=expires_on, **fields))


@transaction.atomic(savepoint=False)  # nothing in it is caught and undone alone: it fails with its caller
def points_earn_fresh(*, corp: Corp, customer_id: int, earnings: list[dict], at: datetime | None = None) -> list[PointsEntry]:
    """Several earnings of one customer whose keys are new for certain: the caller inserted, in this
    same transaction, a unique row each key derives from (a check-in's day, a stage's reward), so no
    earlier move can hold them. One lock and one account update for all, and no look for twins.
    `earnings`: [{"points", "reason", "source", "source_id", "expires_on"}]."""
    at = at or now()
    earnings = [e for e in earnings if e["points"] > 0]
    if not earnings:
        return []
    account = _account(corp, customer_id)
    entries = [
        _write(account, kind=Kind.EARN, reason=e["reason"], points=_amount(e["points"]), pending_change=0, source=e["source"], source_id=e["source_id"],
               at=at, remaining=e["points"], expires_on=e.get("expires_on"), save=False)
        for e in earnings
    ]  # fmt: skip
    PointsEntry.objects.bulk_create(entries)
    _save(account, at, grew=True)
    return entries


def _consume(account: PointsAccount, points: int) -> None:
    """Take `points` from the customer's lots, soonest to expire first (lots without an end last)."""
    lots = PointsEntry.objects.filter(customer_id=account.customer_id, remaining__gt=0).order_by(F("expires_on").asc(nulls_last=True), "pk")
    left = points
    # The account's row is locked (every move takes it first), so no other move touches these lots
    # meanwhile; they are read a few at a time, not all of a customer's thousands at each spend.
    while left:
        batch = list(lots.values_list("pk", "remaining")[:LOTS_AT_ONCE])
        if not batch:
            raise Conflict(_("Not enough points."), code="insufficient_points", field="points")  # lots and balance disagree: never half-written
        for pk, remaining in batch:
            take = min(left, remaining)
            PointsEntry.objects.filter(pk=pk).update(remaining=F("remaining") - take)
            left -= take
            if not left:
                return


@transaction.atomic
def points_spend(*, corp: Corp, customer_id: int, points: int, reason: str, source: str, source_id: str, at: datetime | None = None) -> PointsEntry:
    """Points spent (an exchange, a draw), once per (source, source_id); refused when the
    available balance is short, with the balance in the message."""
    points, at = _amount(points), at or now()
    account = _account(corp, customer_id)
    earlier = _done_before(corp, source, source_id)
    if earlier is not None:
        return earlier
    if account.available < points:
        raise Conflict(
            _("Not enough points: %(points)s needed, %(available)s available.") % {"points": points, "available": account.available},
            code="insufficient_points",
            field="points",
        )

    def move() -> PointsEntry:
        _consume(account, points)
        return _write(account, kind=Kind.SPEND, reason=reason, points=-points, pending_change=0, source=source, source_id=source_id, at=at)

    return _once(corp, source, source_id, move)


@transaction.atomic
def points_release_due(*, corp: Corp, at: datetime | None = None) -> int:
    """Pending points whose refund window has passed become available (each a lot of its own)."""
    at = at or now()
    released = 0
    due = PointsEntry.objects.filter(corp=corp, kind=Kind.PENDING, released_at__isnull=True, available_on__lte=at)
    for entry in list(due.only("pk", "customer_id", "pending_change", "reason", "source", "source_id")):
        account = _account(corp, entry.customer_id)
        if not PointsEntry.objects.filter(pk=entry.pk, released_at__isnull=True).update(released_at=at, remaining=entry.pending_change):
            continue  # voided or released meanwhile
        _write(account, kind=Kind.RELEASE, reason=entry.reason, points=entry.pending_change, pending_change=-entry.pending_change,
               source="release", source_id=str(entry.pk), at=at)  # fmt: skip
        released += 1
    return released


@transaction.atomic
def points_void(*, corp: Corp, source: str, source_id: str, reason: str = "refund", at: datetime | None = None) -> PointsEntry | None:
    """An earning undone (its order refunded): pending points are voided; points already available
    are taken back as far as they are unspent (what was spent stays spent, never below zero).
    Once per earning; None when there was nothing to void."""
    at = at or now()
    earning = _done_before(corp, source, source_id)
    if earning is None or earning.kind not in (Kind.EARN, Kind.PENDING):
        return None
    account = _account(corp, earning.customer_id)
    key = f"{source}:{source_id}"[:64]
    earlier = _done_before(corp, "void", key)
    if earlier is not None:
        return earlier
    earning.refresh_from_db()  # read again under the account's lock
    if earning.kind == Kind.PENDING and earning.released_at is None:
        PointsEntry.objects.filter(pk=earning.pk).update(released_at=at)  # never to be released
        return _write(account, kind=Kind.VOID, reason=reason, points=0, pending_change=-earning.pending_change, source="void", source_id=key, at=at)
    total, unspent = earning.points + earning.pending_change, earning.remaining
    note = _("%(n)s of %(total)s points were spent before the refund.") % {"n": total - unspent, "total": total} if unspent < total else ""
    PointsEntry.objects.filter(pk=earning.pk).update(remaining=0)
    return _write(account, kind=Kind.VOID, reason=reason, points=-unspent, pending_change=0, source="void", source_id=key, at=at, note=note)


@transaction.atomic
def points_expire_due(*, corp: Corp, on: date) -> int:
    """Lots whose end is before `on` lose what is left of them (e.g. the year's points at its end)."""
    expired = 0
    lots = PointsEntry.objects.filter(corp=corp, remaining__gt=0, expires_on__lt=on)
    for lot in list(lots.only("pk", "customer_id")):
        account = _account(corp, lot.customer_id)
        left = PointsEntry.objects.filter(pk=lot.pk).values_list("remaining", flat=True).get()
        if left <= 0 or _done_before(corp, "expire", str(lot.pk)):
            continue
        PointsEntry.objects.filter(pk=lot.pk).update(remaining=0)
        _write(account, kind=Kind.EXPIRE, reason="expiry", points=-left, pending_change=0, source="expire", source_id=str(lot.pk), at=now())
        expired += 1
    return expired


@transaction.atomic
def points_adjust(*, actor: Actor, customer: Customer, points: int, note: str) -> PointsEntry:
    """A manager's correction, with its reason and author on the ledger: added points are a lot
    without an end; taken points come from the lots and may not exceed the balance."""
    actor.require_manager()
    note = (note or "").strip()
    if not note:
        raise InvalidInput(_("Say why the points are adjusted."), code="note_required", field="note")
    if not isinstance(points, int) or isinstance(points, bool) or points == 0:
        raise InvalidInput(_("Adjust by a whole number of points, not zero."), code="bad_points", field="points")
    _amount(abs(points))
    at = now()
    account = _account(actor.corp, customer.pk)
    if points < 0:
        if account.available < -points:
            raise Conflict(
                _("Not enough points: %(points)s needed, %(available)s available.") % {"points": -points, "available": account.available},
                code="insufficient_points",
                field="points",
            )
        _consume(account, -points)
    by = actor.user if actor.user is not None and actor.user.pk else None
    return _write(account, kind=Kind.ADJUST, reason="manual", points=points, pending_change=0, source="adjust", source_id=f"{customer.pk}:{at.timestamp()}",
                  at=at, remaining=max(points, 0), note=note[:200], by=by)  # fmt: skip
