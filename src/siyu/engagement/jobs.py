"""Engagement's periodic work (kit.periodic), registered in EngagementConfig.ready(). Each pass goes
corp by corp over the corps that use points or coupons (a handful of rows, not a scan of lots)."""

from siyu.corps.models import Corp
from siyu.kit.clock import now
from siyu.kit.periodic import periodic

from .coupons import coupons_expire_due
from .mall import unpaid_cancel_due
from .models import CouponTemplate, MallOrder, PointsPolicy
from .points import points_expire_due, points_release_due


def _corps_with_points():
    return Corp.objects.filter(pk__in=PointsPolicy.objects.values("corp_id"))


@periodic("points: pending order points released", every=600)
def points_release() -> int:
    return sum(points_release_due(corp=corp) for corp in _corps_with_points())


@periodic("points: lots past their end expired", every=3600)
def points_expire() -> int:
    # Each corp on its own calendar: a lot ending 31 December expires when the corp's 1 January begins.
    return sum(points_expire_due(corp=corp, on=now().astimezone(corp.tzinfo).date()) for corp in _corps_with_points())


@periodic("points mall: exchanges whose cash was not paid in time cancelled", every=600)
def mall_unpaid_cancel() -> int:
    awaiting = MallOrder.objects.filter(status=MallOrder.Status.AWAITING).values("corp_id")
    return sum(unpaid_cancel_due(corp=corp) for corp in Corp.objects.filter(pk__in=awaiting))


@periodic("coupons: past their end expired", every=3600)
def coupons_expire() -> int:
    return sum(coupons_expire_due(corp=corp) for corp in Corp.objects.filter(pk__in=CouponTemplate.objects.values("corp_id")))
