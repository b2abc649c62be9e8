"""What engagement hears: orders (points, coupons redeemed and given back, exchanges paid,
membership levels), adds and group joins (points), and the points tasks these complete. In the
publisher's transaction: a rolled-back order pays nothing and redeems nothing. For a corp with
points off, each costs a cached read."""

from siyu.groups.events import GroupMemberJoined
from siyu.kit.events import subscribe
from siyu.orders.events import OrderPaid, OrderRefunded
from siyu.wecom.events import CALLBACK, ContactsAdded

from . import coupons, earning, mall, points, points_tasks
from .models import PointsTask

ORDER = 200  # after attribution (acquisition); before journeys, which may read the balance


@subscribe(OrderPaid, order=ORDER)
def _order_paid(event: OrderPaid) -> None:
    if event.order.coupon_code:
        coupons.coupon_redeem_with_order(event.corp, event.order)
    if event.order.mall_code:
        mall.paid_with_order(event.corp, event.order)
    earning.order_paid(event.corp, event.order)
    points_tasks.completed(event.corp, event.order.customer_id, PointsTask.Kind.ORDER, at=event.order.paid_at)
    if event.order.customer_id:
        points.level_refresh(event.corp, event.order.customer_id)


@subscribe(OrderRefunded, order=ORDER)
def _order_refunded(event: OrderRefunded) -> None:
    earning.order_refunded(event.corp, event.order)
    coupons.coupon_release_for_refund(event.corp, event.order)
    if event.order.customer_id:
        points.level_refresh(event.corp, event.order.customer_id)


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
