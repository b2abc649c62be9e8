"""Flash-group analysis (seed 004): a group opened for a few days (a 7-day flash-sale group) and
what its members bought, by day since each joined: first orders, orders and GMV, and the day the
orders stop — the evidence for how long such a group needs to stay open.

Orders count from the member's joining, net of refunds (a fully refunded order does not count);
"first order" is a member's first counted order after joining.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils.translation import gettext as _

from siyu.groups.models import CustomerGroup, GroupMember
from siyu.kit.errors import InvalidInput
from siyu.kit.tenancy import Actor, get_for
from siyu.orders.models import Order

SHARE = 0.9  # "the orders stop": the day by which this share of the GMV was made


@dataclass
class FlashDay:
    day: int  # days since joining: 0 is the joining day
    first_orders: int = 0
    orders: int = 0
    gmv_fen: int = 0
    share: float = 0.0  # of the GMV made by the end of this day


@dataclass
class FlashAnalysis:
    group_id: int
    group_name: str
    members: int
    buyers: int
    orders: int
    gmv_fen: int
    days: list[FlashDay] = field(default_factory=list)
    last_order_day: int | None = None
    day_of_share: int | None = None  # by the end of this day SHARE of the GMV was made

    @property
    def conversion(self) -> float:
        return self.buyers / self.members if self.members else 0.0


def flash_group_get(actor: Actor, group_id: int) -> CustomerGroup:
    actor.require_manager()
    return get_for(actor, CustomerGroup.objects, _("No such group."), pk=group_id)


def flash_analysis(actor: Actor, group: CustomerGroup, *, days: int = 14, at: datetime | None = None) -> FlashAnalysis:
    """The group's customers (members now or before) and their orders in the `days` days from each
    one's joining."""
    actor.require_manager()
    if not 1 <= days <= 90:
        raise InvalidInput(_("Look 1 to 90 days from joining."), code="bad_days", field="days")
    tz = actor.corp.tzinfo
    joined = dict(
        GroupMember.objects.filter(group=group, type=GroupMember.Type.EXTERNAL, customer__isnull=False, join_time__isnull=False).values_list(
            "customer_id", "join_time"
        )
    )
    out = FlashAnalysis(group.pk, group.name, len(joined), 0, 0, 0, [FlashDay(d) for d in range(days)])
    if not joined:
        return out
    first_seen: dict[int, int] = {}
    earliest = min(joined.values())
    orders = Order.objects.filter(
        corp=actor.corp, customer_id__in=list(joined), paid_at__gte=earliest, paid_at__lt=max(joined.values()) + timedelta(days=days + 1)
    )
    for customer_id, paid_at, amount, refunded in orders.order_by("paid_at").values_list("customer_id", "paid_at", "amount_fen", "refunded_fen").iterator():
        start = joined[customer_id]
        if paid_at < start or amount - refunded <= 0:
            continue
        day = (paid_at.astimezone(tz).date() - start.astimezone(tz).date()).days
        if not 0 <= day < days:
            continue
        row = out.days[day]
        row.orders += 1
        row.gmv_fen += amount - refunded
        if customer_id not in first_seen:
            first_seen[customer_id] = day
            row.first_orders += 1
    out.buyers = len(first_seen)
    out.orders = sum(d.orders for d in out.days)
    out.gmv_fen = sum(d.gmv_fen for d in out.days)
    running = 0
    for row in out.days:
        running += row.gmv_fen
        row.share = running / out.gmv_fen if out.gmv_fen else 0.0
        if row.orders:
            out.last_order_day = row.day
        if out.day_of_share is None and out.gmv_fen and row.share >= SHARE:
            out.day_of_share = row.day
    return out
