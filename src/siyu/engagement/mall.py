"""The points mall (积分商城): items for points, exchanged never beyond their stock and never beyond
the customer's balance, once per exchange key.

- **One exchange, whole.** In one transaction: one unit taken by a conditional UPDATE (sold below
  stock: the item's row stays locked until commit, so 500 concurrent exchanges of 100 units sell
  100), the per-person limit counted under that lock, the order row, then the points spent under
  the account's lock (refused when short), and the coupon issued for a coupon item. A refusal at
  any step leaves nothing: not the unit, not the order, not the points.
- **Once.** The page's exchange carries a key made when the page was shown. Two taps or two tabs
  submit the same key and get the one order.
- **Delivery.** Goods are shipped (the customer's address; the brand marks them shipped with a
  tracking number) or picked up in a store (a code the guide scans in the sidebar, like a coupon).
  A cancelled order gives the points and the unit back.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils.translation import gettext as _

from siyu.corps.models import Corp
from siyu.kit.clock import now
from siyu.kit.errors import Conflict, InvalidInput
from siyu.kit.tenancy import Actor

from . import coupons
from .models import CouponTemplate, MallItem, MallOrder
from .points import points_earn, points_spend

PICKUP_PREFIX = "SIYU-PICKUP:"
PAY_WITHIN = timedelta(hours=24)  # an exchange's cash part is paid within this, or it is cancelled


def item_save(
    *,
    actor: Actor,
    item: MallItem | None = None,
    kind: str,
    name: str,
    points: int,
    description: str = "",
    cash_fen: int = 0,
    coupon_template_id: int | None = None,
    delivery: str = "none",
    stock: int | None = None,
    per_person: int | None = None,
    active: bool = True,
) -> MallItem:
    actor.require_manager()
    name = (name or "").strip()
    if not name or len(name) > 32:
        raise InvalidInput(_("The item needs a name of at most 32 characters."), code="bad_name", field="name")
    if kind not in MallItem.Kind.values:
        raise InvalidInput(_("The kind is one of %(kinds)s.") % {"kinds": ", ".join(MallItem.Kind.values)}, code="bad_kind", field="kind")
    if not isinstance(points, int) or not 1 <= points <= 10_000_000:
        raise InvalidInput(_("Points are a whole number from 1 to 10,000,000."), code="bad_points", field="points")
    template = None
    if kind == MallItem.Kind.COUPON:
        template = CouponTemplate.objects.filter(corp=actor.corp, pk=coupon_template_id).first() if coupon_template_id else None
        if template is None:
            raise InvalidInput(_("Choose the coupon it gives."), code="no_such_coupon", field="coupon_template_id")
        delivery = MallItem.Delivery.NONE
    elif kind == MallItem.Kind.GOODS and delivery not in (MallItem.Delivery.SHIP, MallItem.Delivery.PICKUP):
        raise InvalidInput(_("Goods are shipped or picked up in store."), code="bad_delivery", field="delivery")
    elif kind == MallItem.Kind.BENEFIT and delivery == MallItem.Delivery.SHIP:
        raise InvalidInput(_("A benefit is not shipped."), code="bad_delivery", field="delivery")
    if stock is not None and not 0 <= stock <= 100_000_000:
        raise InvalidInput(_("The stock is from 0 to 100,000,000."), code="bad_stock", field="stock")
    if per_person is not None and not 1 <= per_person <= 1000:
        raise InvalidInput(_("Per person is from 1 to 1000."), code="bad_limit", field="per_person")
    values = {
        "kind": kind,
        "name": name,
        "description": (description or "").strip()[:200],
        "points": points,
        "cash_fen": max(0, int(cash_fen or 0)),
        "coupon_template": template,
        "delivery": delivery,
        "stock": stock,
        "per_person": per_person,
        "active": active,
    }
    if item is None:
        return MallItem.objects.create(corp=actor.corp, **values)
    with transaction.atomic():
        item = MallItem.objects.select_for_update().get(pk=item.pk)
        if stock is not None and stock < item.sold:
            raise InvalidInput(_("%(sold)s are already exchanged: the stock cannot be below that.") % {"sold": item.sold}, code="bad_stock", field="stock")
        for key, value in values.items():
            setattr(item, key, value)
        item.save()
    return item


def _address_clean(address) -> dict:
    if not isinstance(address, dict):
        address = {}
    clean = {k: str(address.get(k) or "").strip()[:limit] for k, limit in (("name", 32), ("phone", 20), ("address", 200))}
    for key, label in (("name", _("the receiver's name")), ("phone", _("a phone number")), ("address", _("the address"))):
        if not clean[key]:
            raise InvalidInput(_("Shipping needs %(what)s.") % {"what": label}, code="address_incomplete", field=f"address.{key}")
    return clean


@transaction.atomic
def exchange(*, corp: Corp, item: MallItem, customer_id: int, key: str, address: dict | None = None, at: datetime | None = None) -> MallOrder:
    """Points for one unit of `item`, once per `key`."""
    key = (key or "").strip()[:64]
    if not key:
        raise InvalidInput(_("The exchange has no key; open the page again."), code="no_key", field="key")
    earlier = MallOrder.objects.filter(corp=corp, key=key).first()
    if earlier is not None:
        return earlier
    at = at or now()
    if item.corp_id != corp.pk or not item.active:
        raise Conflict(_("This item is no longer offered."), code="item_off")
    shipping = _address_clean(address) if item.delivery == MallItem.Delivery.SHIP else {}
    try:
        with transaction.atomic():
            taken = MallItem.objects.filter(Q(stock__isnull=True) | Q(sold__lt=F("stock")), pk=item.pk, active=True).update(sold=F("sold") + 1)
            if not taken:
                raise Conflict(_("This item has been exchanged out."), code="sold_out")
            if item.per_person is not None:
                held = MallOrder.objects.filter(item=item, customer_id=customer_id).exclude(status=MallOrder.Status.CANCELLED).count()
                if held >= item.per_person:
                    raise Conflict(_("You have exchanged this item already (at most %(n)s each).") % {"n": item.per_person}, code="mall_limit")
            order = MallOrder.objects.create(
                corp=corp,
                item=item,
                customer_id=customer_id,
                key=key,
                points=item.points,
                cash_fen=item.cash_fen,
                status=MallOrder.Status.AWAITING if item.cash_fen else _delivered_status(item),
                address=shipping,
                pickup_code=coupons.new_code() if item.delivery == MallItem.Delivery.PICKUP and not item.cash_fen else "",
                pay_code=coupons.new_code() if item.cash_fen else "",
                pay_by=at + PAY_WITHIN if item.cash_fen else None,
                created_at=at,
            )
            points_spend(corp=corp, customer_id=customer_id, points=item.points, reason="exchange", source="mall", source_id=str(order.pk), at=at)
            if not item.cash_fen:
                _deliver(corp, order, item, at)
            return order
    except IntegrityError:
        # The same key committed meanwhile (a second tab): that order stands, nothing of this one is kept.
        return MallOrder.objects.get(corp=corp, key=key)


def _delivered_status(item: MallItem) -> str:
    return MallOrder.Status.DONE if item.delivery == MallItem.Delivery.NONE else MallOrder.Status.PLACED


def _deliver(corp: Corp, order: MallOrder, item: MallItem, at: datetime) -> None:
    """The exchange is whole (its points spent, its cash paid): a coupon is issued, a pick-up code made."""
    fields = []
    if item.kind == MallItem.Kind.COUPON:
        order.coupon = coupons.coupon_issue(
            corp=corp, template=item.coupon_template, customer_id=order.customer_id, source="mall", source_id=str(order.pk), at=at
        )
        fields.append("coupon")
    if item.delivery == MallItem.Delivery.PICKUP and not order.pickup_code:
        order.pickup_code = coupons.new_code()
        fields.append("pickup_code")
    if fields:
        order.save(update_fields=fields)


@transaction.atomic
def paid_with_order(corp: Corp, order) -> MallOrder | None:
    """The brand's order names an exchange's pay code (`mall_code`): when it is the same customer's
    exchange waiting for its cash, and the order paid at least the cash part, the exchange is
    whole. Otherwise the order is stored all the same and the exchange left as it was (the till
    has taken the money; the brand sees the code on the order)."""
    code = (order.mall_code or "").strip().upper()
    waiting = MallOrder.objects.select_for_update().filter(corp=corp, pay_code=code, status=MallOrder.Status.AWAITING).first() if code else None
    if waiting is None or waiting.customer_id != order.customer_id or order.amount_fen - order.refunded_fen < waiting.cash_fen:
        return None
    item = MallItem.objects.select_related("coupon_template").get(pk=waiting.item_id)
    waiting.status, waiting.paid_order_id = _delivered_status(item), order.pk
    waiting.save(update_fields=["status", "paid_order"])
    _deliver(corp, waiting, item, order.paid_at)
    return waiting


def unpaid_cancel_due(*, corp: Corp, at: datetime | None = None) -> int:
    """Exchanges whose cash was not paid in time: cancelled, their points and unit given back."""
    at = at or now()
    cancelled = 0
    for pk in list(MallOrder.objects.filter(corp=corp, status=MallOrder.Status.AWAITING, pay_by__lt=at).values_list("pk", flat=True)):
        with transaction.atomic():
            order = MallOrder.objects.select_for_update().filter(pk=pk, status=MallOrder.Status.AWAITING).first()
            if order is not None:
                _give_back(corp, order)
                cancelled += 1
    return cancelled


def _give_back(corp: Corp, order: MallOrder) -> None:
    order.status = MallOrder.Status.CANCELLED
    order.save(update_fields=["status"])
    MallItem.objects.filter(pk=order.item_id).update(sold=F("sold") - 1)
    if order.coupon_id:
        type(order.coupon).objects.filter(pk=order.coupon_id).update(status="void")
    points_earn(corp=corp, customer_id=order.customer_id, points=order.points, reason="exchange_refund", source="mall_refund", source_id=str(order.pk))


@transaction.atomic
def order_ship(*, actor: Actor, order: MallOrder, tracking_no: str) -> MallOrder:
    actor.require_manager()
    order = MallOrder.objects.select_for_update().get(pk=order.pk, corp=actor.corp)
    if order.status != MallOrder.Status.PLACED or order.item.delivery != MallItem.Delivery.SHIP:
        raise Conflict(_("Only an order waiting to be shipped can be shipped."), code="not_to_ship")
    tracking_no = (tracking_no or "").strip()
    if not tracking_no or len(tracking_no) > 64:
        raise InvalidInput(_("Give the tracking number."), code="bad_tracking", field="tracking_no")
    order.status, order.tracking_no, order.delivered_at = MallOrder.Status.SHIPPED, tracking_no, now()
    order.save(update_fields=["status", "tracking_no", "delivered_at"])
    return order


@transaction.atomic
def pickup_verify(*, actor: Actor, code: str, store: str = "") -> MallOrder:
    """A guide hands over an exchanged item in store (its code scanned from the customer's page)."""
    if not actor.staff_id:
        raise InvalidInput(_("Only a staff member hands over items in store."), code="not_staff", field="code")
    code = (code or "").strip().upper().removeprefix(PICKUP_PREFIX)
    order = MallOrder.objects.select_for_update().select_related("item").filter(corp=actor.corp, pickup_code=code).first() if code else None
    if order is None:
        raise Conflict(_("This is not one of the brand's pick-up codes; check the code."), code="no_such_pickup", field="code")
    if order.status == MallOrder.Status.PICKED_UP:
        when = order.delivered_at.astimezone(actor.corp.tzinfo).strftime("%Y-%m-%d %H:%M")
        raise Conflict(_("This item was already picked up (%(when)s).") % {"when": when}, code="picked_up", field="code")
    if order.status != MallOrder.Status.PLACED:
        raise Conflict(_("This exchange was cancelled."), code="pickup_cancelled", field="code")
    order.status, order.delivered_at, order.staff_id, order.store = MallOrder.Status.PICKED_UP, now(), actor.staff_id, store.strip()[:64]
    order.save(update_fields=["status", "delivered_at", "staff", "store"])
    return order


@transaction.atomic
def order_cancel(*, actor: Actor, order: MallOrder) -> MallOrder:
    """Not yet delivered: the points and the unit go back (a coupon given is voided)."""
    actor.require_manager()
    order = MallOrder.objects.select_for_update().get(pk=order.pk, corp=actor.corp)
    cancellable = (MallOrder.Status.AWAITING, MallOrder.Status.PLACED, MallOrder.Status.DONE)
    if order.status not in cancellable or (order.coupon and order.coupon.status != "active"):
        raise Conflict(_("Only an exchange not yet delivered or used can be cancelled."), code="not_cancellable")
    _give_back(actor.corp, order)
    return order
