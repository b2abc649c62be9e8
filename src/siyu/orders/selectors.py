"""Reads for orders and customer value, always inside the actor's corp and what the actor may see."""

from __future__ import annotations

from datetime import date

from django.db.models import Q
from django.utils.translation import gettext as _

from siyu.customers.selectors import customer_get, visible_customers
from siyu.kit.tenancy import Actor, get_for

from .models import CustomerValue, Order, OrderImport, Product


def visible_orders(actor: Actor):
    orders = Order.objects.for_corp(actor.corp)
    if actor.is_guide:
        # A guide sees the orders of the customers they follow, nothing unmatched.
        orders = orders.filter(customer__in=visible_customers(actor))
    return orders


def order_list(
    actor: Actor,
    *,
    customer_id: int | None = None,
    source: str = "",
    unmatched: bool = False,
    paid_from: date | None = None,
    paid_to: date | None = None,
    q: str = "",
):
    orders = visible_orders(actor)
    if q:
        # An order number, a phone, a WeCom id or the customer's name: what a person has at hand.
        orders = orders.filter(Q(order_no__icontains=q) | Q(phone__contains=q) | Q(external_userid=q) | Q(customer__name__icontains=q) | Q(store__icontains=q))
    if customer_id is not None:
        orders = orders.filter(customer=customer_get(actor, customer_id))
    if source:
        orders = orders.filter(source=source)
    if unmatched:
        orders = orders.filter(customer__isnull=True)
    if paid_from:
        orders = orders.filter(paid_on__gte=paid_from)
    if paid_to:
        orders = orders.filter(paid_on__lte=paid_to)
    return orders


def order_get(actor: Actor, order_id: int) -> Order:
    return get_for(actor, visible_orders(actor), _("No such order."), pk=order_id)


def customer_value(actor: Actor, customer_id: int) -> CustomerValue:
    customer = customer_get(actor, customer_id)
    value = CustomerValue.objects.filter(customer=customer).first()
    if value is None:
        return CustomerValue(corp=actor.corp, customer=customer)  # no orders yet: all zero
    return value


def product_list(actor: Actor):
    return list(Product.objects.for_corp(actor.corp).order_by("sku"))


def order_counts(actor: Actor) -> dict:
    """How many orders the corp has, and how many match no customer yet."""
    actor.require_manager()
    orders = Order.objects.for_corp(actor.corp)
    return {"orders": orders.count(), "unmatched": orders.filter(customer__isnull=True).count()}


def order_sources(actor: Actor) -> list[str]:
    """The sources the corp's orders came from (the import page offers them); a manager's."""
    actor.require_manager()
    return list(Order.objects.for_corp(actor.corp).order_by().values_list("source", flat=True).distinct()[:50])


def order_imports(actor: Actor):
    """The order files read so far, newest first: a manager's."""
    actor.require_manager()
    return OrderImport.objects.for_corp(actor.corp).select_related("created_by").order_by("-created_at", "-id")


def order_import_get(actor: Actor, import_id: int) -> OrderImport:
    return get_for(actor, order_imports(actor), _("No such import."), pk=import_id)
