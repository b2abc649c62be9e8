"""Reads of the customer's side: what was read, by whom, and what it led to."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Avg, Count, Max, Min, Q, Sum
from django.utils.translation import gettext as _

from siyu.customers.models import Follow
from siyu.kit.clock import now
from siyu.kit.errors import InvalidInput
from siyu.kit.tenancy import Actor, get_for
from siyu.messaging.models import ContentItem
from siyu.orders.models import Order

from .models import (
    Checkin,
    CheckinCampaign,
    CheckinReward,
    ContentView,
    Coupon,
    CouponTemplate,
    GamePlay,
    GroupGame,
    InterestRule,
    Lottery,
    LotteryDraw,
    MallItem,
    MallOrder,
    MemberLevel,
    PointsAccount,
    PointsEntry,
    PointsPolicy,
    PointsTask,
)

ORDER_WINDOW_DAYS = 7
MAX_ORDER_DAYS = 90


def content_views(actor: Actor, item: ContentItem | None = None, *, customer_id: int | None = None):
    """Views a manager sees all of; a guide those of their own links and customers."""
    rows = ContentView.objects.for_corp(actor.corp)
    if item is not None:
        rows = rows.filter(item=item)
    if customer_id is not None:
        rows = rows.filter(customer_id=customer_id)
    if actor.is_guide:
        rows = rows.filter(
            Q(staff_id=actor.staff_id) | Q(customer_id__in=Follow.objects.filter(corp=actor.corp, staff_id=actor.staff_id).values("customer_id"))
        )
    return rows


def content_stats(actor: Actor, item: ContentItem, *, order_days: int = ORDER_WINDOW_DAYS) -> dict:
    """Views, unique readers, customers among them, average dwell and scroll, shares (views of a
    shared copy) and sharers, and the orders readers paid within `order_days` of their first view."""
    if not 1 <= order_days <= MAX_ORDER_DAYS:
        raise InvalidInput(_("order_days is from 1 to %(max)s.") % {"max": MAX_ORDER_DAYS}, code="bad_order_days", field="order_days")
    views = content_views(actor, item)
    totals = views.aggregate(
        views=Count("id"),
        readers=Count("visitor", distinct=True),
        customers=Count("customer", distinct=True),
        dwell=Avg("dwell_seconds"),
        scroll=Avg("scroll_percent"),
        shares=Count("id", filter=Q(shared_by__isnull=False)),
        sharers=Count("shared_by", distinct=True),
    )
    first_views = dict(views.filter(customer__isnull=False).values_list("customer_id").annotate(first=Min("opened_at")).order_by())
    orders, amount = 0, 0
    ids = list(first_views)
    for start in range(0, len(ids), 2000):
        chunk = ids[start : start + 2000]
        for customer_id, paid_at, fen in Order.objects.filter(corp=actor.corp, customer_id__in=chunk).values_list("customer_id", "paid_at", "amount_fen"):
            if first_views[customer_id] <= paid_at <= first_views[customer_id] + timedelta(days=order_days):
                orders, amount = orders + 1, amount + fen
    return {
        **totals,
        "dwell": round(totals["dwell"] or 0),
        "scroll": round(totals["scroll"] or 0),
        "order_days": order_days,
        "orders": orders,
        "order_amount_fen": amount,
    }


def interest_rules(actor: Actor):
    actor.require_manager()  # what tags customers is a manager's to see and change
    return InterestRule.objects.for_corp(actor.corp).select_related("tag", "tag__group").order_by("content_tag", "id")


def interest_rule_get(actor: Actor, rule_id: int) -> InterestRule:
    return get_for(actor, InterestRule.objects.all(), _("No such rule."), pk=rule_id)


def customer_engagement(actor: Actor, customer_id: int) -> dict:
    """What the customer profile and the sidebar show: points, usable coupons, check-ins and reading
    (the caller has already checked the actor may see this customer)."""
    account = PointsAccount.objects.filter(corp=actor.corp, customer_id=customer_id).select_related("level").first()
    coupons = Coupon.objects.filter(corp=actor.corp, customer_id=customer_id).select_related("template")
    return {
        "points_available": account.available if account else 0,
        "points_pending": account.pending if account else 0,
        "level": account.level if account else None,
        "points_entries": list(PointsEntry.objects.filter(corp=actor.corp, customer_id=customer_id).order_by("-at", "-pk")[:10]),
        "coupons_usable": list(coupons.filter(status=Coupon.Status.ACTIVE).order_by("valid_until")[:10]),
        "coupons_redeemed": coupons.filter(status=Coupon.Status.REDEEMED).count(),
        "checkins": list(Checkin.objects.filter(corp=actor.corp, customer_id=customer_id).select_related("campaign").order_by("-day")[:7]),
        "reading": list(ContentView.objects.filter(corp=actor.corp, customer_id=customer_id).select_related("item").order_by("-opened_at")[:10]),
    }


# -- points, check-in and coupons, for the brand's managers -------------------------------------------
def points_policy(actor: Actor) -> PointsPolicy:
    actor.require_manager()
    return PointsPolicy.objects.filter(corp=actor.corp).first() or PointsPolicy(corp=actor.corp)


def points_entries(actor: Actor):
    actor.require_manager()
    return PointsEntry.objects.for_corp(actor.corp).select_related("customer", "by").order_by("-at", "-pk")


def points_totals(actor: Actor) -> dict:
    actor.require_manager()
    totals = PointsAccount.objects.for_corp(actor.corp).aggregate(available=Sum("available"), pending=Sum("pending"), accounts=Count("pk"))
    return {k: v or 0 for k, v in totals.items()}


def member_levels(actor: Actor):
    actor.require_manager()
    return MemberLevel.objects.for_corp(actor.corp).order_by("rank")


def member_level_get(actor: Actor, level_id: int) -> MemberLevel:
    return get_for(actor, member_levels(actor), _("No such level."), pk=level_id)


def level_counts(actor: Actor) -> dict[int, int]:
    """Customers holding each level."""
    rows = PointsAccount.objects.for_corp(actor.corp).filter(level__isnull=False).values("level_id").annotate(n=Count("pk"))
    return {row["level_id"]: row["n"] for row in rows}


def checkin_campaigns(actor: Actor):
    actor.require_manager()
    return CheckinCampaign.objects.for_corp(actor.corp).order_by("-starts_on", "-pk")


def checkin_campaign_get(actor: Actor, campaign_id: int) -> CheckinCampaign:
    return get_for(actor, checkin_campaigns(actor), _("No such check-in campaign."), pk=campaign_id)


def checkin_stats(actor: Actor, campaign: CheckinCampaign, days: int = 14) -> dict:
    rows = Checkin.objects.filter(campaign=campaign)
    today = now().astimezone(actor.corp.tzinfo).date()
    by_day = dict(rows.filter(day__gt=today - timedelta(days=days)).values_list("day").annotate(n=Count("pk")).order_by())
    return {
        "participants": rows.values("customer_id").distinct().count(),
        "checkins": rows.count(),
        "today": by_day.get(today, 0),
        "days": [(today - timedelta(days=i), by_day.get(today - timedelta(days=i), 0)) for i in range(days)],
        "stages": dict(CheckinReward.objects.filter(campaign=campaign).values_list("days").annotate(n=Count("pk")).order_by()),
        "longest": rows.aggregate(m=Max("streak"))["m"] or 0,
    }


def coupon_templates(actor: Actor):
    actor.require_manager()
    return CouponTemplate.objects.for_corp(actor.corp).order_by("-pk")


def coupon_template_get(actor: Actor, template_id: int) -> CouponTemplate:
    return get_for(actor, coupon_templates(actor), _("No such coupon."), pk=template_id)


def coupons_of(actor: Actor, template: CouponTemplate):
    return Coupon.objects.filter(corp=actor.corp, template=template).select_related("customer", "staff", "order").order_by("-pk")


def mall_items(actor: Actor):
    actor.require_manager()
    return MallItem.objects.for_corp(actor.corp).select_related("coupon_template").order_by("-active", "points", "pk")


def mall_orders(actor: Actor):
    actor.require_manager()
    return MallOrder.objects.for_corp(actor.corp).select_related("item", "customer", "staff").order_by("-pk")


def mall_order_get(actor: Actor, order_id: int) -> MallOrder:
    return get_for(actor, mall_orders(actor), _("No such exchange."), pk=order_id)


def lotteries(actor: Actor):
    actor.require_manager()
    return Lottery.objects.for_corp(actor.corp).order_by("-starts_at", "-pk")


def lottery_get(actor: Actor, lottery_id: int) -> Lottery:
    return get_for(actor, lotteries(actor), _("No such lottery."), pk=lottery_id)


def lottery_stats(actor: Actor, game: Lottery) -> dict:
    draws = LotteryDraw.objects.filter(lottery=game)
    won = dict(draws.filter(prize__isnull=False).values_list("prize_id").annotate(n=Count("pk")).order_by())
    prizes = [{"prize": p, "won": won.get(p.pk, 0), "percent": f"{p.per_million / 10_000:g}"} for p in game.prizes.order_by("position", "pk")]
    return {
        "draws": draws.count(),
        "players": draws.values("customer_id").distinct().count(),
        "prizes": prizes,
        "recent": draws.select_related("customer", "prize").order_by("-at")[:30],
    }


def group_games(actor: Actor):
    actor.require_manager()
    return GroupGame.objects.for_corp(actor.corp).select_related("host", "group", "winner").order_by("-pk")


def group_game_get(actor: Actor, game_id: int) -> GroupGame:
    return get_for(actor, group_games(actor), _("No such game."), pk=game_id)


def game_plays(actor: Actor, game: GroupGame):
    actor.require_manager()
    return GamePlay.objects.filter(corp=actor.corp, game=game).select_related("customer").order_by("-at", "-pk")


def points_tasks(actor: Actor) -> list[dict]:
    """The corp's points tasks, each with how many customers completed it."""
    actor.require_manager()
    tasks = PointsTask.objects.for_corp(actor.corp).select_related("item", "coupon_template").annotate(done=Count("completions")).order_by("position", "pk")
    return list(tasks)


def points_task_get(actor: Actor, task_id: int) -> PointsTask:
    actor.require_manager()
    return get_for(actor, PointsTask.objects.for_corp(actor.corp), _("No such task."), pk=task_id)
