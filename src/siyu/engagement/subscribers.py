"""What engagement hears: orders (points, coupons redeemed and given back, exchanges paid,
membership levels), adds and group joins (points), and the points tasks these complete. In the
publisher's transaction: a rolled-back order pays nothing and redeems nothing. For a corp with
points off, each costs a cached read."""

from django.db.models import Q

from siyu.groups.events import GroupMemberJoined
from siyu.kit.events import subscribe
from siyu.orders.events import OrderPaid, OrderRefunded, OrdersImported
from siyu.wecom.events import CALLBACK, ContactsAdded

from . import coupons, earning, mall, members, points, points_tasks
from .models import PointsTask

ORDER = 200  # after attribution (acquisition); before journeys, which may read the balance


@subscribe(OrderPaid, order=ORDER)
def _order_paid(event: OrderPaid) -> None:
    _paid(event.corp, event.order)
    if event.order.customer_id:
        points.level_refresh(event.corp, event.order.customer_id)


@subscribe(OrderRefunded, order=ORDER)
def _order_refunded(event: OrderRefunded) -> None:
    _refunded(event.corp, event.order)
    if event.order.customer_id:
        points.level_refresh(event.corp, event.order.customer_id)


@subscribe(OrdersImported, order=ORDER)
def _orders_imported(event: OrdersImported) -> None:
    """What OrderPaid and OrderRefunded do, for the orders of a history import that something here
    is for: those with a coupon or an exchange code, and, while points or order tasks are on, the
    customers' orders since these began. Levels are refreshed once a customer, not once an order:
    a level is what the customer's orders add up to after the last of them."""
    corp = event.corp
    wanted = Q(coupon_code__gt="") | Q(mall_code__gt="")
    policy = earning.policy_for(corp)
    if policy is not None and policy.since is not None:
        wanted |= Q(customer__isnull=False, paid_at__gte=policy.since)
    tasks = [task for task in points_tasks.live_tasks(corp.pk) if task.kind == PointsTask.Kind.ORDER]
    if tasks:
        wanted |= Q(customer__isnull=False, paid_at__gte=min(task.starts_at for task in tasks))
    for order in event.orders(wanted):
        _paid(corp, order)
        if order.refunded_fen:
            _refunded(corp, order)
    if members.rules_for(corp.pk):
        for customer_id in sorted(event.customer_ids()):
            points.level_refresh(corp, customer_id)


def _paid(corp, order) -> None:
    if order.coupon_code:
        coupons.coupon_redeem_with_order(corp, order)
    if order.mall_code:
        mall.paid_with_order(corp, order)
    earning.order_paid(corp, order)
    points_tasks.completed(corp, order.customer_id, PointsTask.Kind.ORDER, at=order.paid_at)


def _refunded(corp, order) -> None:
    earning.order_refunded(corp, order)
    coupons.coupon_release_for_refund(corp, order)


@subscribe(ContactsAdded, order=ORDER)
def _contacts_added(event: ContactsAdded) -> None:
    if event.source == CALLBACK:  # a relationship a full sync found is not a new add
        for added in event.added:
            earning.contact_added(event.corp, added.customer.pk)


@subscribe(GroupMemberJoined, order=ORDER)
def _group_joined(event: GroupMemberJoined) -> None:
    if event.source == CALLBACK and event.member.customer_id:
        earning.group_joined(event.corp, event.member.customer_id, event.group.pk)
        points_tasks.completed(event.corp, event.member.customer_id, PointsTask.Kind.JOIN_GROUP)
