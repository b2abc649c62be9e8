"""Reads of customers. Every read starts from `visible_customers`: the corp, and for a guide only
the customers they follow — the single place where data scope is decided."""

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Count, Prefetch, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils.translation import gettext as _

from siyu.corps.selectors import staff_list
from siyu.kit.clock import day_start
from siyu.kit.errors import InvalidInput
from siyu.kit.tenancy import Actor, get_for
from siyu.tags.selectors import live_tags, resolve_tags

from .fields import parse_value, shown
from .models import Customer, CustomerFieldValue, CustomerPhone, CustomerStage, CustomField, Follow, FollowTag, LifecycleStage, TimelineEvent

PHONE_QUERY = re.compile(r"^\+?\d{3,20}$")


def visible_follows(actor: Actor) -> QuerySet[Follow]:
    follows = Follow.objects.for_corp(actor.corp)
    if actor.is_guide:
        follows = follows.filter(staff_id=actor.staff_id)
    return follows


def visible_customers(actor: Actor) -> QuerySet[Customer]:
    customers = Customer.objects.for_corp(actor.corp)
    if actor.is_guide:
        customers = customers.filter(id__in=Follow.objects.filter(staff_id=actor.staff_id).values("customer_id"))
    return customers


@dataclass
class CustomerFilters:
    """Filters on the customer list. Staff, channel state and added dates describe one follow
    together: "added by Wang through store-12 in March" is one relationship, not three."""

    tags_all: list[int] = field(default_factory=list)
    tags_any: list[int] = field(default_factory=list)
    staff_ids: list[int] = field(default_factory=list)
    state: str = ""
    added_from: date | None = None
    added_to: date | None = None
    q: str = ""


def customer_list(actor: Actor, filters: CustomerFilters) -> QuerySet[Customer]:
    # Each condition is a non-correlated `id IN (subquery)`: the database builds each set once
    # from its own index. A correlated EXISTS per customer made SQLite probe every tagged row
    # for every customer (21 s at 100k customers, benchmarks/customer_list.py).
    customers = visible_customers(actor)
    follows = visible_follows(actor)
    follow_conditions = Q()
    if filters.staff_ids:
        follow_conditions &= Q(staff_id__in=filters.staff_ids)
    if filters.state:
        follow_conditions &= Q(state=filters.state)
    # Dates are the corp's calendar days, not UTC ones: "added today" means today in Shanghai.
    tz = actor.corp.tzinfo
    if filters.added_from:
        follow_conditions &= Q(added_at__gte=day_start(filters.added_from, tz))
    if filters.added_to:
        follow_conditions &= Q(added_at__lt=day_start(filters.added_to + timedelta(days=1), tz))
    if follow_conditions:
        customers = customers.filter(id__in=follows.filter(follow_conditions).values("customer_id"))

    # Tag ids are resolved within the actor's corp, so the tag index alone finds the rows.
    follow_tags = FollowTag.objects.all()
    if actor.is_guide:
        follow_tags = follow_tags.filter(follow__staff_id=actor.staff_id)
    if filters.tags_all:
        for tag in resolve_tags(actor, filters.tags_all, "tags_all"):
            customers = customers.filter(id__in=follow_tags.filter(tag_id=tag.id).values("follow__customer_id"))
    if filters.tags_any:
        ids = [t.id for t in resolve_tags(actor, filters.tags_any, "tags_any")]
        customers = customers.filter(id__in=follow_tags.filter(tag_id__in=ids).values("follow__customer_id"))

    q = filters.q.strip()
    if q:
        match = Q(name__icontains=q) | Q(id__in=follows.filter(remark__icontains=q).values("customer_id"))
        if PHONE_QUERY.match(q):
            # A range, not LIKE 'q%': only a range can walk the (corp, phone) index on SQLite.
            prefix_end = q[:-1] + chr(ord(q[-1]) + 1)
            phones = CustomerPhone.objects.filter(corp=actor.corp, phone__gte=q, phone__lt=prefix_end)
            match |= Q(id__in=phones.values("customer_id"))
        customers = customers.filter(match)
    return customers


def customer_get(actor: Actor, customer_id: int) -> Customer:
    return get_for(actor, visible_customers(actor), _("No such customer."), pk=customer_id)


def customer_follows(actor: Actor, customer: Customer) -> list[Follow]:
    live_tags = FollowTag.objects.filter(tag__deleted_at__isnull=True).select_related("tag__group").order_by("tag__group__order", "tag__order")
    return list(
        visible_follows(actor)
        .filter(customer=customer)
        .select_related("staff")
        .prefetch_related(Prefetch("follow_tags", queryset=live_tags, to_attr="live_follow_tags"))
        .order_by("added_at")
    )


def customer_timeline(actor: Actor, customer: Customer, limit: int = 100) -> list[TimelineEvent]:
    events = TimelineEvent.objects.filter(customer=customer).select_related("staff")
    if actor.is_guide:
        # Another guide's dealings with the same customer are theirs.
        events = events.filter(Q(staff__isnull=True) | Q(staff_id=actor.staff_id))
    return list(events.order_by("-occurred_at", "-id")[:limit])


def customer_tag_summary(follows: list[Follow]) -> list:
    """The distinct live tags over the given follows, for list and profile badges."""
    seen = {}
    for follow in follows:
        for ft in follow.live_follow_tags:
            seen.setdefault(ft.tag_id, ft.tag)
    return list(seen.values())


def dashboard_counts(actor: Actor) -> dict:
    return {
        "customers": visible_customers(actor).count(),
        "new_today": daily_new_customers(actor, days=1)[0][1],
        "staff": staff_list(actor).filter(status="active").count(),
        "tags": live_tags(actor).count(),
    }


def daily_new_customers(actor: Actor, days: int = 14) -> list[tuple[date, int]]:
    """Customers added per corp-calendar day over the last `days` days, oldest first, zero days
    included. A customer added by two staff members the same day counts once, as on the
    dashboard's "new today" card, which is this list's last day."""

    tz = actor.corp.tzinfo
    today = datetime.now(tz).date()
    start = today - timedelta(days=days - 1)
    rows = (
        visible_follows(actor)
        .filter(added_at__gte=day_start(start, tz))
        .annotate(day=TruncDate("added_at", tzinfo=tz))
        .values("day")
        .annotate(n=Count("customer_id", distinct=True))
    )
    counts = {r["day"]: r["n"] for r in rows}
    return [(start + timedelta(days=i), counts.get(start + timedelta(days=i), 0)) for i in range(days)]


@dataclass
class CustomerRow:
    """What a list shows beside a customer: its visible follows' staff and tags, and the first add."""

    staff: list = field(default_factory=list)
    tags: list = field(default_factory=list)
    first_added_at: datetime | None = None
    first_state: str = ""


def customer_rows(actor: Actor, customers) -> dict[int, CustomerRow]:
    """CustomerRow per customer id for one page, in two queries whatever the page size."""
    ids = [c.id for c in customers]
    follows = list(visible_follows(actor).filter(customer_id__in=ids).select_related("staff").order_by("added_at", "id"))
    rows = {i: CustomerRow() for i in ids}
    for f in follows:
        row = rows[f.customer_id]
        row.staff.append(f.staff)
        if row.first_added_at is None:
            row.first_added_at, row.first_state = f.added_at, f.state
    follow_customer = {f.id: f.customer_id for f in follows}
    seen = set()
    tag_rows = FollowTag.objects.filter(follow_id__in=follow_customer, tag__deleted_at__isnull=True).select_related("tag").order_by("tag__order", "tag_id")
    for ft in tag_rows:
        key = (follow_customer[ft.follow_id], ft.tag_id)
        if key not in seen:
            seen.add(key)
            rows[key[0]].tags.append(ft.tag)
    return rows


def tag_customer_counts(actor: Actor) -> dict[int, int]:
    """Customers carrying each tag (through a visible follow), in one grouped query."""

    rows = FollowTag.objects.filter(follow__in=visible_follows(actor)).values("tag_id").annotate(n=Count("follow__customer_id", distinct=True))
    return {r["tag_id"]: r["n"] for r in rows}


def customers_with_any_tag(actor: Actor, tag_ids) -> int:
    """How many customers carry at least one of these tags: what deleting them takes away."""
    return FollowTag.objects.filter(follow__in=visible_follows(actor), tag_id__in=list(tag_ids)).values("follow__customer_id").distinct().count()


def follow_counts_by_staff(actor: Actor, staff_ids) -> dict[int, int]:
    """Active customers each of these staff members follows, in one grouped query."""
    rows = (
        visible_follows(actor)
        .filter(staff_id__in=list(staff_ids), deleted_by_staff_at__isnull=True, deleted_by_customer_at__isnull=True)
        .values("staff_id")
        .annotate(n=Count("id"))
    )
    return {r["staff_id"]: r["n"] for r in rows}


# -- custom fields ------------------------------------------------------------------------------------------
def custom_fields(actor: Actor, *, archived: bool = False, to_edit: bool = False) -> QuerySet[CustomField]:
    """The corp's fields in their order; with `archived`, the archived ones too (last). Everyone
    reads them; `to_edit` is a manager's."""
    if to_edit:
        actor.require_manager()
    fields = CustomField.objects.for_corp(actor.corp)
    return fields.order_by("archived_at", "position", "id") if archived else fields.filter(archived_at__isnull=True)


def custom_field_get(actor: Actor, field_id: int, *, to_edit: bool = False) -> CustomField:
    if to_edit:
        actor.require_manager()
    return get_for(actor, CustomField.objects, _("No such field."), pk=field_id)


@dataclass
class FieldShown:
    field: CustomField
    value: str  # as shown; "" when unset


def customer_fields(actor: Actor, customer: Customer) -> list[FieldShown]:
    """Every live field with the customer's value, in the fields' order (the caller found the
    customer among those the actor may see)."""
    values = {v.field_id: v for v in CustomerFieldValue.objects.filter(customer=customer)}
    return [FieldShown(f, shown(f, values.get(f.pk))) for f in custom_fields(actor)]


# Conditions on custom fields, as segments (and journeys' branches) hold them: a list of
# {"key": field key, "op": one of FIELD_OPS, "value": …}, all of which a customer must meet.
FIELD_OPS = ("set", "unset", "eq", "in", "gte", "lte", "age_days_gte", "age_days_lte")
MAX_FIELD_CONDITIONS = 10


def field_conditions_check(raw) -> list[dict]:
    """The conditions' shape, before any corp is known: refusals name the condition."""
    if not isinstance(raw, list) or len(raw) > MAX_FIELD_CONDITIONS:
        raise InvalidInput(_("Field conditions are a list of at most %(n)s.") % {"n": MAX_FIELD_CONDITIONS}, code="bad_filter", field="fields")
    out = []
    for i, c in enumerate(raw):
        if not isinstance(c, dict) or not isinstance(c.get("key"), str) or c.get("op") not in FIELD_OPS:
            raise InvalidInput(
                _("Field condition %(n)s needs a field key and one of: %(ops)s.") % {"n": i + 1, "ops": ", ".join(FIELD_OPS)},
                code="bad_filter",
                field=f"fields.{i}",
            )
        out.append({"key": c["key"], "op": c["op"], "value": c.get("value")})
    return out


def field_conditions_q(actor: Actor, conditions: list[dict], *, today: date) -> Q:
    """The customers meeting every condition, as `id IN (values…)` subqueries the field's indexes
    answer. A date field's age counts whole days to `today` (the corp's day): a baby of 6–12 months
    is age_days_gte 180 and age_days_lte 365 on the birth date."""
    fields_by_key = {f.key: f for f in custom_fields(actor).filter(key__in=[c["key"] for c in conditions])}
    q = Q()
    for i, c in enumerate(conditions):
        f = fields_by_key.get(c["key"])
        where = f"fields.{i}"
        if f is None:
            raise InvalidInput(_("There is no field “%(key)s”.") % {"key": c["key"]}, code="unknown_field", field=where)
        values = CustomerFieldValue.objects.filter(corp=actor.corp, field=f)
        op, raw = c["op"], c["value"]
        column = {"number": "number", "date": "date"}.get(f.kind, "text")
        if op in ("age_days_gte", "age_days_lte"):
            days = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
            if f.kind != "date" or days is None or days < 0:
                raise InvalidInput(_("An age in days is a whole number on a date field."), code="bad_filter", field=where)
            edge = today - timedelta(days=days)
            values = values.filter(**{"date__lte" if op == "age_days_gte" else "date__gte": edge})
        elif op == "in":
            if not isinstance(raw, list) or not raw:
                raise InvalidInput(_("“In” takes a list of values."), code="bad_filter", field=where)
            values = values.filter(**{f"{column}__in": [_condition_value(f, v, where)[column] for v in raw]})
        elif op in ("eq", "gte", "lte"):
            lookup = {"eq": "", "gte": "__gte", "lte": "__lte"}[op]
            if lookup and f.kind not in ("number", "date"):
                raise InvalidInput(_("Only number and date fields have bounds."), code="bad_filter", field=where)
            values = values.filter(**{column + lookup: _condition_value(f, raw, where)[column]})
        q &= ~Q(id__in=values.values("customer_id")) if op == "unset" else Q(id__in=values.values("customer_id"))
    return q


def _condition_value(field: CustomField, raw, where: str) -> dict:
    try:
        cells = parse_value(field, raw)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, code="bad_filter", field=where) from None
    if cells is None:
        raise InvalidInput(_("Give the value to compare with."), code="bad_filter", field=where)
    return dict(zip(("text", "number", "date"), cells, strict=True))


# -- lifecycle stages ---------------------------------------------------------------------------------------
def lifecycle_stages(actor: Actor, *, to_edit: bool = False) -> QuerySet[LifecycleStage]:
    if to_edit:
        actor.require_manager()
    return LifecycleStage.objects.for_corp(actor.corp).select_related("field").order_by("position", "id")


def lifecycle_stage_get(actor: Actor, stage_id: int, *, to_edit: bool = False) -> LifecycleStage:
    if to_edit:
        actor.require_manager()
    return get_for(actor, LifecycleStage.objects, _("No such stage."), pk=stage_id)


def customer_stage(customer: Customer) -> CustomerStage | None:
    return CustomerStage.objects.select_related("stage").filter(customer=customer).first()
