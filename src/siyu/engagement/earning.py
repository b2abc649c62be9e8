"""How customers earn points (the corp's PointsPolicy) and the events that pay them.

- An order paid from the policy's `since` on earns `per_yuan` a whole yuan of what was paid, pending
  until its refund window ends; a full refund voids them (inside the window nothing was available
  yet; after it, what is unspent is taken back). An order's points are keyed by the order, so an
  order delivered twice earns once.
- Adding a staff member earns once per customer, joining a group once per customer and group,
  reading content once per item, at most `content_read_daily` readings a day.
- Lots expire as the policy says, decided when they are earned.

The policy is read from the cache (one read per event; a save clears it): an import of a million
orders with points off costs a cache read each.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta

from django.core.cache import cache
from django.db import transaction
from django.utils.translation import gettext as _

from siyu.corps.models import Corp
from siyu.kit.clock import now
from siyu.kit.errors import InvalidInput
from siyu.kit.tenancy import Actor

from .models import PointsEntry, PointsPolicy
from .points import points_earn, points_earn_fresh, points_void

CACHE_SECONDS = 300
LIMITS = {
    "per_yuan": 1000,
    "refund_days": 90,
    "contact_added": 100_000,
    "group_joined": 100_000,
    "content_read": 100_000,
    "content_read_daily": 100,
    "expiry_months": 120,
}


def _cache_key(corp_id: int) -> str:
    return f"siyu:points-policy:{corp_id}"


def policy_for(corp: Corp) -> PointsPolicy | None:
    """The corp's active policy, or None (points are off)."""
    found = cache.get(_cache_key(corp.pk))
    if found is None:
        found = PointsPolicy.objects.filter(corp=corp, active=True).first() or False
        cache.set(_cache_key(corp.pk), found, CACHE_SECONDS)
    return found or None


def policy_save(*, actor: Actor, active: bool, **values) -> PointsPolicy:
    actor.require_manager()
    for key, value in values.items():
        if key not in LIMITS and key != "expiry":
            raise InvalidInput(_("Unknown setting %(key)s.") % {"key": key}, code="bad_setting", field=key)
        if key in LIMITS and (not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= LIMITS[key]):
            raise InvalidInput(_("%(key)s is a whole number from 0 to %(max)s.") % {"key": key, "max": LIMITS[key]}, code="bad_setting", field=key)
    if values.get("expiry", PointsPolicy.Expiry.YEAR_END) not in PointsPolicy.Expiry.values:
        raise InvalidInput(_("Expiry is one of %(values)s.") % {"values": ", ".join(PointsPolicy.Expiry.values)}, code="bad_setting", field="expiry")
    with transaction.atomic():
        policy, _created = PointsPolicy.objects.select_for_update().get_or_create(corp=actor.corp)
        if active and not policy.since:
            policy.since = now()  # orders from now on earn; the history already stored does not
        policy.active = active
        for key, value in values.items():
            setattr(policy, key, value)
        policy.save()
    # Now (this transaction's own events see it) and after commit (a reader meanwhile cached the old one).
    cache.delete(_cache_key(actor.corp.pk))
    transaction.on_commit(lambda: cache.delete(_cache_key(actor.corp.pk)))
    return policy


def expires_on(policy: PointsPolicy, earned: datetime, tz) -> date | None:
    day = earned.astimezone(tz).date()
    if policy.expiry == PointsPolicy.Expiry.YEAR_END:
        return date(day.year + 1, 12, 31)
    if policy.expiry == PointsPolicy.Expiry.MONTHS:
        month = day.month - 1 + policy.expiry_months
        year, month = day.year + month // 12, month % 12 + 1
        return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
    return None


def earn(corp: Corp, customer_id: int, points: int, *, reason: str, source: str, source_id: str, at: datetime | None = None, available_on=None, by_policy=True):
    """Points earned under the corp's policy (its expiry). `by_policy=False`: points a campaign
    promised itself (a check-in's), paid when points are off too, then without an end."""
    policy = policy_for(corp)
    if (policy is None and by_policy) or points <= 0:
        return None
    at = at or now()
    return points_earn(
        corp=corp,
        customer_id=customer_id,
        points=points,
        reason=reason,
        source=source,
        source_id=source_id,
        at=at,
        expires_on=expires_on(policy, at, corp.tzinfo) if policy else None,
        available_on=available_on,
    )


def earn_fresh(corp: Corp, customer_id: int, earnings: list[dict], *, at: datetime) -> list[PointsEntry]:
    """A campaign's own earnings (a check-in and its stages) with keys made fresh by the caller's
    unique rows: paid whatever the policy says, ending as it says when points are on."""
    policy = policy_for(corp)
    ends = expires_on(policy, at, corp.tzinfo) if policy else None
    return points_earn_fresh(corp=corp, customer_id=customer_id, earnings=[{**e, "expires_on": ends} for e in earnings], at=at)


def order_paid(corp: Corp, order) -> PointsEntry | None:
    policy = policy_for(corp)
    if policy is None or order.customer_id is None or policy.since is None or order.paid_at < policy.since:
        return None
    points = (order.amount_fen - order.refunded_fen) // 100 * policy.per_yuan
    return earn(
        corp,
        order.customer_id,
        points,
        reason="order",
        source="order",
        source_id=str(order.pk),
        at=order.paid_at,
        available_on=order.paid_at + timedelta(days=policy.refund_days),
    )


def order_refunded(corp: Corp, order) -> PointsEntry | None:
    """A full refund takes the order's points back. A partial one leaves them (the order still
    earned what was kept; see docs/engagement.md)."""
    if order.refunded_fen < order.amount_fen:
        return None
    return points_void(corp=corp, source="order", source_id=str(order.pk), reason="refund")


def contact_added(corp: Corp, customer_id: int) -> PointsEntry | None:
    policy = policy_for(corp)
    return earn(corp, customer_id, policy.contact_added, reason="contact_added", source="contact_added", source_id=str(customer_id)) if policy else None


def group_joined(corp: Corp, customer_id: int, group_id: int) -> PointsEntry | None:
    policy = policy_for(corp)
    if policy is None:
        return None
    return earn(corp, customer_id, policy.group_joined, reason="group_joined", source="group_joined", source_id=f"{group_id}:{customer_id}")


def content_read(corp: Corp, customer_id: int, item_id: int) -> PointsEntry | None:
    policy = policy_for(corp)
    if policy is None or not policy.content_read:
        return None
    day_start = now().astimezone(corp.tzinfo).replace(hour=0, minute=0, second=0, microsecond=0)
    today = PointsEntry.objects.filter(corp=corp, customer_id=customer_id, reason="content_read", at__gte=day_start).count()
    if today >= policy.content_read_daily:
        return None
    return earn(corp, customer_id, policy.content_read, reason="content_read", source="content_read", source_id=f"{item_id}:{customer_id}")
