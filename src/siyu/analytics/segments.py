"""Segments: saved filters over customers, evaluated live.

The customer-list filters (tags, staff, channel state, added dates) are the customers domain's
own; a segment adds channels, RFM classes and order facts. Each condition is an `id IN (subquery)`
or a condition on the one-row-per-customer value table, so the database answers from indexes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime

from django.db.models import OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from siyu.acquisition.models import Acquisition
from siyu.customers.models import Customer
from siyu.customers.selectors import CustomerFilters, customer_list, field_conditions_check, field_conditions_q, visible_follows
from siyu.groups.models import GroupMember
from siyu.kit.clock import now
from siyu.kit.errors import Conflict, InvalidInput, save_or_conflict
from siyu.kit.pagination import keyset_page, sorted_page
from siyu.kit.tenancy import Actor, get_for
from siyu.orders.models import CustomerValue

from . import rfm
from .models import Segment


@dataclass
class SegmentFilters(CustomerFilters):
    """The customer list's filters (tags, staff, channel state, added dates, search) and more."""

    channel_ids: list[int] = field(default_factory=list)
    group_ids: list[int] = field(default_factory=list)  # in any of these customer groups now
    gender: list[int] = field(default_factory=list)  # WeCom's 0 unknown, 1 male, 2 female
    rfm: list[str] = field(default_factory=list)
    buyers: bool | None = None  # True: at least one counted order; False: none
    orders_min: int | None = None
    orders_max: int | None = None
    spent_min_fen: int | None = None
    spent_max_fen: int | None = None
    first_order_from: date | None = None
    first_order_to: date | None = None
    last_order_from: date | None = None
    last_order_to: date | None = None
    clv_min_fen: int | None = None
    clv_max_fen: int | None = None
    p_alive_min: float | None = None
    p_alive_max: float | None = None
    fields: list[dict] = field(default_factory=list)  # custom-field conditions (customers.selectors.FIELD_OPS)
    stages: list[int] = field(default_factory=list)  # in any of these lifecycle stages now

    @classmethod
    def from_json(cls, data: dict) -> SegmentFilters:
        known = {f.name: f for f in fields(cls)}
        unknown = set(data) - set(known)
        if unknown:
            raise InvalidInput(_("Unknown segment filter %(value)r.") % {"value": sorted(unknown)[0]}, code="bad_filter", field=sorted(unknown)[0])
        values = {}
        for name, value in data.items():
            if value in (None, "", []):
                continue
            kind = str(known[name].type)
            if name == "fields":
                values[name] = field_conditions_check(value)
                continue
            try:
                if "date" in kind:
                    values[name] = value if isinstance(value, date) else date.fromisoformat(str(value))
                elif "list[int]" in kind:
                    values[name] = [int(v) for v in value]
                elif "list[str]" in kind:
                    values[name] = [str(v) for v in value]
                elif "bool" in kind:
                    values[name] = bool(value)
                elif "float" in kind:
                    values[name] = float(value)
                elif "int" in kind:
                    values[name] = int(value)
                else:
                    values[name] = str(value)
            except (TypeError, ValueError):
                raise InvalidInput(_("%(name)s: %(value)r is not valid here.") % {"name": name, "value": value}, code="bad_filter", field=name) from None
        return cls(**values)

    def to_json(self) -> dict:
        out = {}
        for name, value in asdict(self).items():
            if value in (None, "", []):
                continue
            out[name] = value.isoformat() if isinstance(value, date) else value
        return out


def segment_customers(actor: Actor, filters: SegmentFilters, *, as_of: date | None = None) -> QuerySet[Customer]:
    actor.require_manager()
    return customers_matching(actor, filters, as_of=as_of)


def customers_matching(actor: Actor, filters: SegmentFilters, *, as_of: date | None = None) -> QuerySet[Customer]:
    """The customers the actor may see that the filters take: the customer list's reading of a
    segment, for every role (a guide's list filters their own customers by value and class too)."""
    customers = customer_list(actor, CustomerFilters(**{f.name: getattr(filters, f.name) for f in fields(CustomerFilters)}))
    if filters.channel_ids:
        adds = Acquisition.objects.filter(corp=actor.corp, channel_id__in=filters.channel_ids)
        if actor.is_guide:
            adds = adds.filter(staff_id=actor.staff_id)  # came to this guide through the channel
        customers = customers.filter(id__in=adds.values("customer_id"))
    if filters.group_ids:
        members = GroupMember.objects.filter(corp=actor.corp, group_id__in=filters.group_ids, left_at__isnull=True, customer__isnull=False)
        customers = customers.filter(id__in=members.values("customer_id"))
    if filters.gender:
        unknown = set(filters.gender) - set(Customer.Gender.values)
        if unknown:
            raise InvalidInput(
                _("Gender is 0 (unknown), 1 (male) or 2 (female), not %(value)s.") % {"value": sorted(unknown)[0]}, code="bad_filter", field="gender"
            )
        customers = customers.filter(gender__in=filters.gender)
    if filters.buyers is False:
        customers = customers.exclude(value__order_count__gte=1)
    value = _value_q(filters, prefix="value__")
    if value:
        customers = customers.filter(value)
    if filters.rfm:
        customers = customers.filter(rfm.class_q(actor.corp, _rfm_result(actor, as_of), filters.rfm))
    if filters.stages:
        customers = customers.filter(stage__stage_id__in=filters.stages)
    if filters.fields:
        customers = customers.filter(field_conditions_q(actor, filters.fields, today=as_of or now().astimezone(actor.corp.tzinfo).date()))
    return customers


# Segment filter → the CustomerValue field it bounds (or the stored CLV's, through the customer).
VALUE_BOUNDS = (
    ("orders_min", "order_count__gte"),
    ("orders_max", "order_count__lte"),
    ("spent_min_fen", "net_fen__gte"),
    ("spent_max_fen", "net_fen__lte"),
    ("first_order_from", "first_paid_on__gte"),
    ("first_order_to", "first_paid_on__lte"),
    ("last_order_from", "last_paid_on__gte"),
    ("last_order_to", "last_paid_on__lte"),
)
CLV_BOUNDS = (("clv_min_fen", "clv_fen__gte"), ("clv_max_fen", "clv_fen__lte"), ("p_alive_min", "p_alive__gte"), ("p_alive_max", "p_alive__lte"))


def _value_q(filters: SegmentFilters, *, prefix: str) -> Q:
    """Conditions on the customer's value row; `prefix` is the path to it ("value__" from a customer)."""
    clv_prefix = "clv__" if prefix else "customer__clv__"
    q = Q(**{f"{prefix}order_count__gte": 1}) if filters.buyers is True else Q()
    for name, lookup in VALUE_BOUNDS:
        if getattr(filters, name) is not None:
            q &= Q(**{prefix + lookup: getattr(filters, name)})
    for name, lookup in CLV_BOUNDS:
        if getattr(filters, name) is not None:
            q &= Q(**{clv_prefix + lookup: getattr(filters, name)})
    return q


def _rfm_result(actor: Actor, as_of: date | None):
    # Today's classes as last computed (at most ten minutes ago): counting a segment must not
    # recompute the medians over every buyer each time.
    return rfm.current_result(actor.corp) if as_of is None else rfm.rfm_compute(actor.corp, as_of=as_of)


def segment_count(actor: Actor, filters: SegmentFilters, *, as_of: date | None = None) -> int:
    """How many customers the filters take now. When they only bound order facts, CLV or RFM class
    (the common case for value segments), the count runs on the one-row-per-buyer value table
    alone: joining three million customers to it only to count them cost 4× as much (PostgreSQL)."""
    actor.require_manager()
    customer_side = (
        any(getattr(filters, f.name) not in (None, "", []) for f in fields(CustomerFilters))
        or filters.channel_ids
        or filters.group_ids
        or filters.gender
        or filters.fields
        or filters.stages
    )
    value = _value_q(filters, prefix="")
    if actor.is_guide or customer_side or filters.buyers is False or not (value or filters.rfm):
        return segment_customers(actor, filters, as_of=as_of).count()
    rows = CustomerValue.objects.filter(corp=actor.corp).filter(value)
    if filters.rfm:
        rows = rows.filter(rfm.class_q(actor.corp, _rfm_result(actor, as_of), filters.rfm, on_value=True))
    return rows.count()


def segment_list(actor: Actor) -> list[Segment]:
    actor.require_manager()
    return list(Segment.objects.for_corp(actor.corp).order_by("name"))


def segment_get(actor: Actor, segment_id: int) -> Segment:
    actor.require_manager()
    return get_for(actor, Segment.objects.all(), _("No such segment."), pk=segment_id)


def segment_save(*, actor: Actor, name: str, filters: SegmentFilters, segment: Segment | None = None) -> Segment:
    actor.require_manager()
    name = name.strip()
    if not name or len(name) > 64:
        raise InvalidInput(_("A segment needs a name of at most 64 characters."), code="bad_name", field="name")
    segment_customers(actor, filters).exists()  # refuse filters that name other corps' tags or unknown classes now, not at send time
    segment = segment or Segment(corp=actor.corp, created_by=actor.user)
    segment.name, segment.filters = name, filters.to_json()
    return save_or_conflict(segment, Conflict(_("A segment named “%(name)s” exists already.") % {"name": name}, code="segment_name_taken", field="name"))


def segment_for_rfm_class(*, actor: Actor, letter: str) -> tuple[Segment, bool]:
    """The one-click segment of an RFM class: made once, found again after."""
    cls = rfm.BY_LETTER.get(letter.upper())
    if cls is None:
        raise InvalidInput(_("No RFM class %(letter)r; classes are A–H.") % {"letter": letter}, code="bad_rfm_class", field="letter")
    name = f"RFM {cls.letter} {cls.name}"
    existing = Segment.objects.for_corp(actor.corp).filter(name=name).first()
    if existing:
        return existing, False
    return segment_save(actor=actor, name=name, filters=SegmentFilters(rfm=[cls.letter])), True


def segment_delete(*, actor: Actor, segment: Segment) -> None:
    actor.require_manager()
    segment.delete()


# The customer list's orders, each a never-NULL key (customers without orders or CLV sort as 0 and
# last, never first) and its direction; "" is the newest customer record first, the fast default.
EPOCH = datetime(1900, 1, 1, tzinfo=UTC)
CUSTOMER_SORTS = {
    "-added": True,
    "added": False,
    "-last_order": True,
    "-spent": True,
    "-clv": True,
}


def customers_sorted_page(actor: Actor, customers: QuerySet[Customer], *, sort: str, cursor: str | None, limit: int):
    """A page of `customers` in the named order, with the next page's cursor."""
    if not sort:
        return keyset_page(customers, cursor=cursor, limit=limit)
    return sorted_page(customers.annotate(sort_key=_sort_key(actor, sort)), key="sort_key", descending=CUSTOMER_SORTS[sort], cursor=cursor, limit=limit)


def customers_in_order(actor: Actor, customers: QuerySet[Customer], *, sort: str) -> QuerySet[Customer]:
    """`customers` ordered as the list shows them (an export keeps the operator's order)."""
    if not sort:
        return customers.order_by("-id")
    sign = "-" if CUSTOMER_SORTS[sort] else ""
    return customers.annotate(sort_key=_sort_key(actor, sort)).order_by(f"{sign}sort_key", f"{sign}id")


def _sort_key(actor: Actor, sort: str):
    if sort not in CUSTOMER_SORTS:
        raise InvalidInput(_("Unknown order %(value)r.") % {"value": sort}, code="bad_sort", field="sort")
    key = sort.lstrip("-")
    if key == "added":
        # The first add the actor can see: a guide's list sorts by when they added the customer.
        firsts = visible_follows(actor).filter(customer=OuterRef("pk")).order_by("added_at").values("added_at")[:1]
        return Coalesce(Subquery(firsts), Value(EPOCH))
    if key == "last_order":
        return Coalesce("value__last_paid_at", Value(EPOCH))
    if key == "spent":
        return Coalesce("value__net_fen", Value(0))
    return Coalesce("clv__clv_fen", Value(0))


def customers_export(actor: Actor, filters: SegmentFilters, *, sort: str = "") -> QuerySet[Customer]:
    """What the customer list's export writes: a manager's, as segment exports are (a guide's
    customers leave the company with a spreadsheet otherwise)."""
    actor.require_manager()
    return customers_in_order(actor, customers_matching(actor, filters), sort=sort)
