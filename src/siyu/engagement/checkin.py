"""Check-in (签到/打卡): one a day per customer and campaign, on the corp's calendar.

- **Once a day.** The row is unique per (campaign, customer, day): two taps in the same second, or
  two tabs, give one check-in, and the second sees the first.
- **Streak and count.** A check-in the day after the last one continues the streak; a gap starts it
  again. The count of days in all only grows.
- **Stages** (e.g. 5/7/15/21 days, counted as the campaign says) pay their points and coupon once
  per campaign and customer (a unique row). A stage reached is paid in the check-in's own
  transaction, so a retry finds it paid.
- **The day's content**: a 21-day play names a library item for each day of the customer's count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from siyu.corps.models import Corp
from siyu.kit.clock import now
from siyu.kit.errors import Conflict, InvalidInput
from siyu.kit.tenancy import Actor
from siyu.messaging.models import ContentItem

from . import coupons, earning
from .models import Checkin, CheckinCampaign, CheckinReward, CouponTemplate

MAX_STAGES = 10


@dataclass
class CheckinResult:
    checkin: Checkin
    created: bool
    points: int = 0
    rewards: list[CheckinReward] = field(default_factory=list)
    paid: set[int] | None = None  # the stages paid after it, when the check-in read them


def _stages_clean(corp: Corp, stages) -> list[dict]:
    if not isinstance(stages, list) or len(stages) > MAX_STAGES:
        raise InvalidInput(_("At most %(n)s reward stages.") % {"n": MAX_STAGES}, code="bad_stages", field="stages")
    out, seen = [], set()
    for i, stage in enumerate(stages):
        where = f"stages.{i}"
        if not isinstance(stage, dict):
            raise InvalidInput(_("A stage has days, points and optionally a coupon."), code="bad_stages", field=where)
        days, points, template = stage.get("days"), stage.get("points", 0), stage.get("coupon_template_id")
        if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 366 or days in seen:
            raise InvalidInput(_("Each stage's days are a different whole number from 1 to 366."), code="bad_stages", field=f"{where}.days")
        if not isinstance(points, int) or isinstance(points, bool) or not 0 <= points <= 1_000_000:
            raise InvalidInput(_("Points are a whole number from 0 to 1,000,000."), code="bad_stages", field=f"{where}.points")
        if template is not None and not CouponTemplate.objects.filter(corp=corp, pk=template).exists():
            raise InvalidInput(_("No such coupon."), code="no_such_coupon", field=f"{where}.coupon_template_id")
        if not points and template is None:
            raise InvalidInput(_("A stage pays points, a coupon, or both."), code="bad_stages", field=where)
        seen.add(days)
        out.append({"days": days, "points": points, "coupon_template_id": template})
    return sorted(out, key=lambda s: s["days"])


def campaign_save(
    *,
    actor: Actor,
    campaign: CheckinCampaign | None = None,
    name: str,
    starts_on: date,
    ends_on: date | None = None,
    daily_points: int = 0,
    counting: str = "streak",
    stages=(),
    day_items=(),
    active: bool = True,
) -> CheckinCampaign:
    actor.require_manager()
    name = (name or "").strip()
    if not name or len(name) > 32:
        raise InvalidInput(_("The campaign needs a name of at most 32 characters."), code="bad_name", field="name")
    if ends_on is not None and ends_on < starts_on:
        raise InvalidInput(_("The end is before the start."), code="bad_dates", field="ends_on")
    if counting not in CheckinCampaign.Counting.values:
        raise InvalidInput(_("Counting is streak or total."), code="bad_counting", field="counting")
    if not 0 <= daily_points <= 1_000_000:
        raise InvalidInput(_("Points are a whole number from 0 to 1,000,000."), code="bad_points", field="daily_points")
    day_items = list(day_items or [])
    if len(day_items) > 366:
        raise InvalidInput(_("At most 366 days of content."), code="bad_day_items", field="day_items")
    known = set(ContentItem.objects.filter(corp=actor.corp, pk__in=[i for i in day_items if isinstance(i, int)]).values_list("pk", flat=True))
    for i, item in enumerate(day_items):
        if item is not None and item not in known:
            raise InvalidInput(_("Day %(n)s: no such item in the content library.") % {"n": i + 1}, code="no_such_content", field=f"day_items.{i}")
    values = {
        "name": name,
        "starts_on": starts_on,
        "ends_on": ends_on,
        "daily_points": daily_points,
        "counting": counting,
        "stages": _stages_clean(actor.corp, list(stages or [])),
        "day_items": day_items,
        "active": active,
    }
    if campaign is None:
        return CheckinCampaign.objects.create(corp=actor.corp, **values)
    for key, value in values.items():
        setattr(campaign, key, value)
    campaign.save()
    return campaign


def today_for(corp: Corp, at: datetime | None = None) -> date:
    return (at or now()).astimezone(corp.tzinfo).date()


def check_in(*, corp: Corp, campaign: CheckinCampaign, customer_id: int, at: datetime | None = None) -> CheckinResult:
    at = at or now()
    day = today_for(corp, at)
    if not campaign.active or day < campaign.starts_on or (campaign.ends_on and day > campaign.ends_on):
        raise Conflict(_("This check-in is not open today."), code="checkin_closed")
    try:
        return _check_in(corp, campaign, customer_id, day, at)
    except IntegrityError:
        # Two taps at once both found no check-in today; the unique row let the other through and
        # undid all of this one. Its second look finds the other's check-in, which stands.
        return _check_in(corp, campaign, customer_id, day, at)


@transaction.atomic
def _check_in(corp: Corp, campaign: CheckinCampaign, customer_id: int, day: date, at: datetime) -> CheckinResult:
    """The check-in and what it pays, in one transaction without savepoints: a second tap is found
    by a read first (the usual case), and a conflict of rows undoes everything (see check_in)."""
    last = Checkin.objects.filter(campaign=campaign, customer_id=customer_id, day__lte=day).order_by("-day").first()
    if last is not None and last.day == day:
        return CheckinResult(last, created=False)  # a second tap, another tab: that check-in stands
    streak = last.streak + 1 if last and last.day == day - timedelta(days=1) else 1
    total = last.total + 1 if last else 1
    checkin = Checkin.objects.create(corp=corp, campaign=campaign, customer_id=customer_id, day=day, streak=streak, total=total, at=at)
    result = CheckinResult(checkin, created=True)
    # The day's points and each stage's are new for certain: their keys derive from the check-in's
    # row and the stages' reward rows, inserted here (unique). One lock of the account pays them all.
    earnings = []
    if campaign.daily_points:
        earnings.append({"points": campaign.daily_points, "reason": "checkin", "source": "checkin", "source_id": f"{campaign.pk}:{customer_id}:{day}"})
    count = streak if campaign.counting == CheckinCampaign.Counting.STREAK else total
    reached = [stage for stage in campaign.stages if stage["days"] <= count]
    paid = set(CheckinReward.objects.filter(campaign=campaign, customer_id=customer_id).values_list("days", flat=True)) if reached else set()
    for stage in reached:
        if stage["days"] not in paid:
            reward = _stage_reward(corp, campaign, customer_id, stage, at)
            result.rewards.append(reward)
            paid.add(stage["days"])
            if reward.points:
                key = f"{campaign.pk}:{customer_id}:{stage['days']}"
                earnings.append({"points": reward.points, "reason": "checkin_stage", "source": "checkin_stage", "source_id": key})
    earning.earn_fresh(corp, customer_id, earnings, at=at)
    result.points = sum(e["points"] for e in earnings)
    result.paid = paid if reached or not campaign.stages else None
    return result


def _stage_reward(corp: Corp, campaign: CheckinCampaign, customer_id: int, stage: dict, at: datetime) -> CheckinReward:
    """A stage reached and not paid before: its reward row (unique per campaign and customer) and
    its coupon; its points are paid with the day's by the caller."""
    reward = CheckinReward.objects.create(corp=corp, campaign=campaign, customer_id=customer_id, days=stage["days"], points=stage.get("points") or 0, at=at)
    key = f"{campaign.pk}:{customer_id}:{stage['days']}"
    template = CouponTemplate.objects.filter(corp=corp, pk=stage.get("coupon_template_id")).first() if stage.get("coupon_template_id") else None
    if template is not None:
        try:
            with transaction.atomic():
                reward.coupon = coupons.coupon_issue(corp=corp, template=template, customer_id=customer_id, source="checkin", source_id=key, at=at)
        except Conflict:
            pass  # sold out or the customer holds their share: the stage pays its points alone
        if reward.coupon is not None:
            reward.save(update_fields=["coupon"])
    return reward


def day_item(campaign: CheckinCampaign, count: int) -> int | None:
    """The library item for the customer's day `count` (1-based) of a content play."""
    items = campaign.day_items or []
    return items[count - 1] if 0 < count <= len(items) else None


def checkin_page(corp: Corp, campaign: CheckinCampaign, customer_id: int, at: datetime | None = None, done: CheckinResult | None = None) -> dict:
    """What the customer's check-in page shows: today, the streak and count, this month's days,
    the stages and which are reached, and the day's content. `done`: today's check-in as the
    caller just made or found it (what it read is not read again)."""
    today = today_for(corp, at)
    mine = Checkin.objects.filter(campaign=campaign, customer_id=customer_id)
    done = done if done is not None and done.checkin.day == today else None
    last = done.checkin if done else mine.filter(day__lte=today).order_by("-day").first()
    streak = last.streak if last and last.day >= today - timedelta(days=1) else 0
    first = today.replace(day=1)
    days = set(mine.filter(day__gte=first, day__lte=today).values_list("day", flat=True))
    month = [{"day": d, "done": d in days, "today": d == today} for d in (first + timedelta(days=i) for i in range((today - first).days + 1))]
    if done is not None and done.paid is not None:
        paid = done.paid
    else:
        paid = set(CheckinReward.objects.filter(campaign=campaign, customer_id=customer_id).values_list("days", flat=True))
    total = last.total if last else 0
    return {
        "today": today,
        "done_today": bool(last and last.day == today),
        "streak": streak,
        "total": total,
        "month": month,
        "stages": [{**s, "paid": s["days"] in paid} for s in campaign.stages],
        "day_item": day_item(campaign, total) if last else None,
    }
