"""The contact-pressure budget: the one place that decides whether a customer may get one more
message from Siyu.

Three rules, each a setting of the corp's (`ContactPolicy`):
- WeCom's receive cap for corp mass sends: as many a month as the month has days, or 7 a week, or
  1 a day (the rule the corp's admin chose in 群发助手). A message over it fails in WeCom (status 3)
  and spends the staff member's effort for nothing, so it is never planned.
- The brand's budget: at most N messages in any 7 days, and none within H hours of the last.
- Quiet hours (the corp's clock): nothing is scheduled to go out then.

Every message Siyu causes is a `Delivery` row: what counts is what is planned or sent, by the time
it was planned for. Mass sends ask here today; journeys and campaigns will ask the same place.
"""

from __future__ import annotations

from calendar import monthrange
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.db.models import Count, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from siyu.corps.models import Corp
from siyu.kit.errors import InvalidInput
from siyu.kit.tenancy import Actor

from .models import ContactPolicy, Delivery, GroupDelivery

COUNTED = (Delivery.Status.PLANNED, Delivery.Status.SENT)
# Why a customer is left out of a send, in the order the rules are applied.
REASONS = {
    "wecom_cap": gettext_lazy("WeCom's receive limit reached"),
    "brand_week": gettext_lazy("The brand's weekly budget reached"),
    "brand_gap": gettext_lazy("Messaged too recently"),
}


def policy_for(corp: Corp) -> ContactPolicy:
    """The corp's policy; WeCom's default rule and no budget of the brand's until one is saved."""
    return ContactPolicy.objects.filter(corp=corp).first() or ContactPolicy(corp=corp)


def policy_save(*, actor: Actor, wecom_cap: str, max_per_week: int | None, min_gap_hours: int | None, quiet_start: time | None, quiet_end: time | None):
    actor.require_manager()
    if wecom_cap not in ContactPolicy.Cap.values:
        raise InvalidInput(_("The receive limit is one of %(value)s.") % {"value": ", ".join(ContactPolicy.Cap.values)}, code="bad_cap", field="wecom_cap")
    if max_per_week is not None and not 1 <= max_per_week <= 100:
        raise InvalidInput(_("A weekly budget is 1 to 100 messages."), code="bad_budget", field="max_per_week")
    if min_gap_hours is not None and not 1 <= min_gap_hours <= 24 * 30:
        raise InvalidInput(_("The gap is 1 to 720 hours."), code="bad_budget", field="min_gap_hours")
    if (quiet_start is None) != (quiet_end is None) or (quiet_start is not None and quiet_start == quiet_end):
        raise InvalidInput(_("Quiet hours need a start and a different end."), code="bad_quiet_hours", field="quiet_end")
    policy = policy_for(actor.corp)
    policy.wecom_cap, policy.max_per_week, policy.min_gap_hours = wecom_cap, max_per_week, min_gap_hours
    policy.quiet_start, policy.quiet_end = quiet_start, quiet_end
    policy.save()
    return policy


@dataclass(frozen=True)
class Windows:
    """For a message planned at `at`: the cap and since when it counts, and the brand's windows."""

    cap: int
    cap_since: datetime
    cap_until: datetime
    week_since: datetime | None
    gap_since: datetime | None


def windows(policy: ContactPolicy, at: datetime) -> Windows:
    tz = policy.corp.tzinfo
    local = at.astimezone(tz)
    midnight = datetime.combine(local.date(), time.min, tzinfo=tz)
    if policy.wecom_cap == ContactPolicy.Cap.DAY_1:
        cap, since, until = 1, midnight, midnight + timedelta(days=1)
    elif policy.wecom_cap == ContactPolicy.Cap.WEEK_7:
        since = midnight - timedelta(days=local.weekday())
        cap, until = 7, since + timedelta(days=7)
    else:
        days = monthrange(local.year, local.month)[1]
        since = midnight.replace(day=1)
        cap, until = days, since + timedelta(days=days)
    return Windows(
        cap=cap,
        cap_since=since,
        cap_until=until,
        week_since=at - timedelta(days=7) if policy.max_per_week else None,
        gap_since=at - timedelta(hours=policy.min_gap_hours) if policy.min_gap_hours else None,
    )


def in_quiet_hours(policy: ContactPolicy, at: datetime) -> bool:
    if policy.quiet_start is None or policy.quiet_end is None:
        return False
    clock = at.astimezone(policy.corp.tzinfo).time()
    start, end = policy.quiet_start, policy.quiet_end
    return start <= clock < end if start < end else (clock >= start or clock < end)  # e.g. 22:00–08:00


def refuse_quiet_hours(policy: ContactPolicy, at: datetime, field: str = "send_at") -> None:
    if in_quiet_hours(policy, at):
        raise InvalidInput(
            _("%(time)s is within the quiet hours (%(start)s–%(end)s); choose another time.")
            % {
                "time": at.astimezone(policy.corp.tzinfo).strftime("%H:%M"),
                "start": policy.quiet_start.strftime("%H:%M"),
                "end": policy.quiet_end.strftime("%H:%M"),
            },
            code="quiet_hours",
            field=field,
        )


def blocked(policy: ContactPolicy, at: datetime, *, exclude_send_id: int | None = None, customer_ids: list[int] | None = None) -> list[tuple[str, QuerySet]]:
    """For each rule in force, the customers it leaves out of a message planned at `at`, as a
    subquery of customer ids (the database answers, however many customers there are). With
    `customer_ids`, only their messages are counted (a batch of a journey's step: its customers'
    rows by index, not the corp's month)."""
    w = windows(policy, at)
    ledger = Delivery.objects.filter(corp=policy.corp, status__in=COUNTED)
    if customer_ids is not None:
        ledger = ledger.filter(customer_id__any_of=customer_ids)
    if exclude_send_id is not None:
        ledger = ledger.exclude(send_id=exclude_send_id)  # a send being planned again does not count itself
    rules = [("wecom_cap", ledger.filter(planned_at__gte=w.cap_since, planned_at__lt=w.cap_until), w.cap)]
    if w.week_since is not None:
        rules.append(("brand_week", ledger.filter(planned_at__gte=w.week_since, planned_at__lte=at), policy.max_per_week))
    if w.gap_since is not None:
        rules.append(("brand_gap", ledger.filter(planned_at__gt=w.gap_since, planned_at__lte=at), 1))
    return [(reason, rows.values("customer_id").annotate(n=Count("id")).filter(n__gte=limit).values("customer_id")) for reason, rows, limit in rules]


def apply(
    policy: ContactPolicy, customers: QuerySet, at: datetime, *, count: bool = True, exclude_send_id: int | None = None, customer_ids: list[int] | None = None
) -> tuple[QuerySet, dict[str, int]]:
    """The customers the budget allows at `at`, and how many each rule left out (a customer left
    out by an earlier rule is not counted again)."""
    skipped: dict[str, int] = {}
    allowed = customers
    for reason, ids in blocked(policy, at, exclude_send_id=exclude_send_id, customer_ids=customer_ids):
        if count:
            skipped[reason] = allowed.filter(id__in=ids).count()
        allowed = allowed.exclude(id__in=ids)
    return allowed, skipped


def apply_groups(policy: ContactPolicy, groups: QuerySet, at: datetime, *, exclude_send_id: int | None = None) -> tuple[QuerySet, dict]:
    """Groups under WeCom's receive cap at `at` (it counts per group as per customer; the brand's
    budget is about people, not groups), and how many it left out."""
    w = windows(policy, at)
    ledger = GroupDelivery.objects.filter(corp=policy.corp, status__in=COUNTED, planned_at__gte=w.cap_since, planned_at__lt=w.cap_until)
    if exclude_send_id is not None:
        ledger = ledger.exclude(send_id=exclude_send_id)
    full = ledger.values("group_id").annotate(n=Count("id")).filter(n__gte=w.cap).values("group_id")
    return groups.exclude(id__in=full), {"wecom_cap": groups.filter(id__in=full).count()}
