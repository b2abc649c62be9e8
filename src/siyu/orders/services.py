"""Writes for orders, refunds and customer value. The caller owns the transaction.

Every write is an upsert on the source's own identity — `(source, order_no)` for orders,
`(source, refund_no)` for refunds — so a source that retries, or a file imported twice, changes
nothing the second time. After each write the customers it touched have their value recomputed
from their orders (`customer_values_refresh`), which is what keeps the aggregates current.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils.translation import gettext as _

from siyu.corps.models import Corp, Staff
from siyu.customers.models import Customer, CustomerPhone, TimelineEvent
from siyu.customers.services import timeline_record_many
from siyu.kit.clock import now
from siyu.kit.db import statistics_refresh
from siyu.kit.errors import InvalidInput
from siyu.kit.events import publish
from siyu.kit.money import fen_from_yuan
from siyu.kit.phones import phone_normalise
from siyu.kit.tenancy import Actor

from .events import OrderPaid, OrderRefunded
from .models import CustomerValue, Order, OrderLine, Product, Refund

SOURCE_MAX = Order._meta.get_field("source").max_length
NO_MAX = Order._meta.get_field("order_no").max_length
CLOCK_SKEW = timedelta(hours=1)  # how far ahead of ours a source's clock may run


@dataclass
class LineIn:
    amount_fen: int
    sku: str = ""
    name: str = ""
    quantity: int = 1


@dataclass
class RefundIn:
    refund_no: str
    amount_fen: int
    refunded_at: datetime | None = None  # None: when first recorded


@dataclass
class OrderIn:
    """An order as a source describes it, already parsed (money in fen, aware times)."""

    order_no: str
    paid_at: datetime
    amount_fen: int
    source: str = "api"
    external_userid: str = ""
    unionid: str = ""
    phone: str = ""
    store: str = ""
    staff_userid: str = ""
    coupon_code: str = ""
    mall_code: str = ""
    lines: list[LineIn] | None = None  # None: keep the lines already stored
    refunds: list[RefundIn] = field(default_factory=list)


@dataclass
class Upserted:
    order: Order
    created: bool
    changed: bool


def order_check(data: OrderIn) -> None:
    """Refuse what no source should send, naming the field; nothing is written before this passes."""
    if not data.order_no.strip() or len(data.order_no) > NO_MAX:
        raise InvalidInput(_("The order number is 1–%(no_max)s characters.") % {"no_max": NO_MAX}, code="bad_order_no", field="order_no")
    if not data.source.strip() or len(data.source) > SOURCE_MAX:
        raise InvalidInput(_("The source is 1–%(source_max)s characters.") % {"source_max": SOURCE_MAX}, code="bad_source", field="source")
    if data.amount_fen < 0:
        raise InvalidInput(_("The amount must not be negative."), code="bad_amount", field="amount")
    if data.paid_at.tzinfo is None:
        raise InvalidInput(_("The payment time needs a timezone."), code="bad_time", field="paid_at")
    if data.paid_at > now() + CLOCK_SKEW:
        # A till with a wrong clock or a typed year (2062): it would count as the most recent
        # purchase of all and keep the customer "recent" for decades.
        raise InvalidInput(_("The payment time %(paid_at)s is in the future.") % {"paid_at": data.paid_at.isoformat()}, code="paid_in_future", field="paid_at")
    if data.phone:
        data.phone = phone_normalise(data.phone)
    for i, line in enumerate(data.lines or []):
        if line.amount_fen < 0:
            raise InvalidInput(_("Line %(i)s: the amount must not be negative.") % {"i": i}, code="bad_amount", field=f"lines.{i}.amount")
        if line.quantity < 1:
            raise InvalidInput(_("Line %(i)s: the quantity must be at least 1.") % {"i": i}, code="bad_quantity", field=f"lines.{i}.quantity")
    seen = set()
    for i, refund in enumerate(data.refunds):
        if refund.amount_fen <= 0:
            raise InvalidInput(_("Refund %(i)s: the amount must be positive.") % {"i": i}, code="bad_amount", field=f"refunds.{i}.amount")
        if refund.refund_no in seen or not refund.refund_no.strip() or len(refund.refund_no) > NO_MAX:
            raise InvalidInput(
                _("Refund %(i)s: the refund number must be unique and 1–%(no_max)s characters.") % {"i": i, "no_max": NO_MAX},
                code="bad_refund_no",
                field=f"refunds.{i}.refund_no",
            )
        seen.add(refund.refund_no)
    if sum(r.amount_fen for r in data.refunds) > data.amount_fen:
        raise InvalidInput(_("The refunds add up to more than the order amount."), code="refund_exceeds_amount", field="refunds")


def order_fields(corp: Corp, data: OrderIn, staff_cache: dict | None = None) -> dict:
    """The stored columns an incoming order sets (besides its identity, customer and refunds)."""
    return {
        "external_userid": data.external_userid.strip(),
        "unionid": data.unionid.strip(),
        "phone": data.phone,
        "paid_at": data.paid_at,
        "paid_on": data.paid_at.astimezone(corp.tzinfo).date(),
        "amount_fen": data.amount_fen,
        "store": data.store.strip()[:64],
        "coupon_code": data.coupon_code.strip().upper()[:16],
        "mall_code": data.mall_code.strip().upper()[:16],
        "staff_id": staff_id_for(corp, data.staff_userid, staff_cache),
    }


def line_values(lines: list[LineIn]) -> list[tuple]:
    """Lines as stored, in order: (sku, name, quantity, amount_fen)."""
    return [(ln.sku.strip()[:64], ln.name.strip()[:200], ln.quantity, ln.amount_fen) for ln in lines]


# -- the pieces every write path builds from (order_upsert, orders_import's bulk insert) ------------
def order_keys(data: OrderIn) -> tuple[str, str, str]:
    """What names the order's customer: (external_userid, unionid, phone), as stored."""
    return data.external_userid.strip(), data.unionid.strip(), data.phone


def order_row(corp: Corp, data: OrderIn, *, customer_id: int | None, staff_cache: dict | None = None, refunded_fen: int = 0) -> Order:
    """A new order's row, not saved."""
    fields = order_fields(corp, data, staff_cache)
    return Order(corp=corp, source=data.source, order_no=data.order_no, customer_id=customer_id, refunded_fen=refunded_fen, **fields)


def order_line_rows(corp_id: int, orders_lines: list[tuple[Order, list[LineIn]]]) -> list[OrderLine]:
    """Line rows for saved orders, linked to their products by SKU (one read for all)."""
    values = [(order, line_values(lines)) for order, lines in orders_lines]
    skus = {v[0] for _, vs in values for v in vs if v[0]}
    products = dict(Product.objects.filter(corp_id=corp_id, sku__in=skus).values_list("sku", "id")) if skus else {}
    return [
        OrderLine(corp_id=corp_id, order=order, sku=sku, name=name, quantity=qty, amount_fen=fen, product_id=products.get(sku))
        for order, vs in values
        for sku, name, qty, fen in vs
    ]


def refund_row(corp: Corp, source: str, order_no: str, order: Order | None, r: RefundIn, *, at: datetime | None = None) -> Refund:
    """A new refund's row, not saved; without its own time it takes `at` (default: now)."""
    return Refund(
        corp=corp, source=source, refund_no=r.refund_no, order_no=order_no, order=order, amount_fen=r.amount_fen, refunded_at=r.refunded_at or at or now()
    )


def orders_timeline(orders: list[Order]) -> None:
    """Each matched order on its customer's timeline, once (dedupe key order:<id>)."""
    timeline_record_many(
        [
            TimelineEvent(
                corp_id=o.corp_id,
                customer_id=o.customer_id,
                kind=TimelineEvent.Kind.ORDER,
                occurred_at=o.paid_at,
                dedupe_key=f"order:{o.id}",
                data={"order_no": o.order_no, "source": o.source, "amount_fen": o.amount_fen, "store": o.store},
            )
            for o in orders
            if o.customer_id
        ]
    )


def orders_announce_new(corp: Corp, orders: list[Order]) -> None:
    """OrderPaid for each new order, and OrderRefunded for one that came with refunds."""
    for order in orders:
        publish(OrderPaid(corp=corp, order=order))
        if order.refunded_fen:
            publish(OrderRefunded(corp=corp, order=order, previous_fen=0))


def order_upsert(*, corp: Corp, data: OrderIn, staff_cache: dict | None = None, refresh: bool = True) -> Upserted:
    """Create or update one order with its lines and refunds; returns what happened.

    With refresh=False the caller refreshes the touched customers' value itself (bulk imports do
    it once per batch); `Upserted.order.touched` lists them.
    """
    order_check(data)
    fields = order_fields(corp, data, staff_cache)
    order = Order.objects.select_for_update().filter(corp=corp, source=data.source, order_no=data.order_no).first()
    created = order is None
    if created:
        # Matched before the insert, so a new order is written once, not inserted then updated.
        matched = customer_match(corp, *order_keys(data))
        try:
            with transaction.atomic():
                order = order_row(corp, data, customer_id=matched, staff_cache=staff_cache)
                order.save(force_insert=True)
        except IntegrityError:
            # Another request created it a moment ago (a source's retry racing its original).
            order = Order.objects.select_for_update().get(corp=corp, source=data.source, order_no=data.order_no)
            created = False
    before_customer = None if created else order.customer_id
    changed, diff = created, []
    if not created:
        diff = [k for k, v in fields.items() if getattr(order, k) != v]
        for k in diff:
            setattr(order, k, fields[k])
        changed = bool(diff)
    if data.lines is not None and _lines_replace(order, data.lines, fresh=created):
        changed = True
    for r in data.refunds:
        changed |= _refund_put(corp, data.source, data.order_no, r, order)[2]
    refunded_before = 0 if created else order.refunded_fen
    changed |= _refunds_apply(order, known_total=sum(r.amount_fen for r in data.refunds) if created else None)
    keys_changed = any(k in diff for k in ("external_userid", "unionid", "phone"))
    if not created and (keys_changed or order.customer_id is None):
        customer_id = customer_match(corp, order.external_userid, order.unionid, order.phone)
        if customer_id != order.customer_id and (customer_id is not None or keys_changed):
            order.customer_id = customer_id
            changed = True
    if changed and not created:
        order.save()
    elif created and order.refunded_fen:
        order.save(update_fields=["refunded_fen", "updated_at"])
    touched = {c for c in (before_customer, order.customer_id) if c is not None}
    if changed and order.customer_id and order.customer_id != before_customer:
        orders_timeline([order])
    if created:
        orders_announce_new(corp, [order])
    elif order.refunded_fen > refunded_before:
        publish(OrderRefunded(corp=corp, order=order, previous_fen=refunded_before))
    order.touched = touched if changed else set()
    if refresh and order.touched:
        customer_values_refresh(corp_id=corp.id, customer_ids=order.touched)
    return Upserted(order=order, created=created, changed=changed)


def refund_record(*, corp: Corp, source: str, order_no: str, refund: RefundIn) -> tuple[Refund, bool, bool]:
    """Record one refund; if its order is not known yet it waits and applies when the order comes."""
    if refund.amount_fen <= 0:
        raise InvalidInput(_("The amount must be positive."), code="bad_amount", field="amount")
    if not refund.refund_no.strip() or len(refund.refund_no) > NO_MAX:
        raise InvalidInput(_("The refund number is 1–%(no_max)s characters.") % {"no_max": NO_MAX}, code="bad_refund_no", field="refund_no")
    if not order_no.strip() or len(order_no) > NO_MAX:
        raise InvalidInput(_("The order number is 1–%(no_max)s characters.") % {"no_max": NO_MAX}, code="bad_order_no", field="order_no")
    order = Order.objects.select_for_update().filter(corp=corp, source=source, order_no=order_no).first()
    row, created, changed = _refund_put(corp, source, order_no, refund, order)
    refunded_before = order.refunded_fen if order is not None else 0
    if order is not None and _refunds_apply(order):
        order.save(update_fields=["refunded_fen", "updated_at"])
        if order.refunded_fen > refunded_before:
            publish(OrderRefunded(corp=corp, order=order, previous_fen=refunded_before))
        if order.customer_id:
            customer_values_refresh(corp_id=corp.id, customer_ids={order.customer_id})
    return row, created, changed


def _refund_put(corp: Corp, source: str, order_no: str, r: RefundIn, order: Order | None) -> tuple[Refund, bool, bool]:
    """(refund, created, changed)."""
    row = Refund.objects.filter(corp=corp, source=source, refund_no=r.refund_no).first()
    if row is None:
        row = refund_row(corp, source, order_no, order, r)
        row.save(force_insert=True)
        return row, True, True
    if row.order_no != order_no:
        raise InvalidInput(
            _("Refund %(refund_no)s belongs to order %(order_no)s, not %(order_no2)s.")
            % {"refund_no": r.refund_no, "order_no": row.order_no, "order_no2": order_no},
            code="refund_other_order",
            field="refund_no",
        )
    wanted = {"amount_fen": r.amount_fen, "refunded_at": r.refunded_at or row.refunded_at, "order_id": order.id if order else row.order_id}
    diff = [k for k, v in wanted.items() if getattr(row, k) != v]
    for k in diff:
        setattr(row, k, wanted[k])
    if diff:
        row.save(update_fields=[k.removesuffix("_id") if k == "order_id" else k for k in diff])
    return row, False, bool(diff)


def _refunds_apply(order: Order, known_total: int | None = None) -> bool:
    """Link refunds that arrived before the order and set `refunded_fen` to their sum.

    `known_total`: a new order's refunds are the ones it came with, unless some were waiting for
    it; then their sum is known without reading them back."""
    linked = Refund.objects.filter(corp_id=order.corp_id, source=order.source, order_no=order.order_no, order__isnull=True).update(order=order)
    total = known_total if known_total is not None and not linked else Refund.objects.filter(order=order).aggregate(s=Sum("amount_fen"))["s"] or 0
    if total > order.amount_fen:
        raise InvalidInput(
            _("Refunds of order %(order_no)s add up to %(refunded)s yuan, more than its %(amount)s.")
            % {"order_no": order.order_no, "refunded": total / 100, "amount": order.amount_fen / 100},
            code="refund_exceeds_amount",
            field="amount",
        )
    if total == order.refunded_fen:
        return False
    order.refunded_fen = total
    return True


def _lines_replace(order: Order, lines: list[LineIn], *, fresh: bool) -> bool:
    wanted = line_values(lines)
    if not fresh:
        current = list(order.lines.order_by("id").values_list("sku", "name", "quantity", "amount_fen"))
        if current == wanted:
            return False
        order.lines.all().delete()
    OrderLine.objects.bulk_create(order_line_rows(order.corp_id, [(order, lines)]))
    return bool(wanted) or not fresh


def staff_cache_all(corp: Corp) -> dict:
    """A cache for `staff_id_for` holding every staff member of the corp: it reads nothing more."""
    return {"": None, **dict(Staff.objects.filter(corp=corp).values_list("userid", "id"))}


def staff_id_for(corp: Corp, userid: str, cache: dict | None) -> int | None:
    userid = (userid or "").strip()
    if not userid:
        return None
    if cache is not None and userid in cache:
        return cache[userid]
    complete = cache is not None and "" in cache  # from staff_cache_all
    staff_id = None if complete else Staff.objects.filter(corp=corp, userid=userid).values_list("id", flat=True).first()
    if staff_id is None:
        raise InvalidInput(_("No staff member %(userid)r in this corp.") % {"userid": userid}, code="unknown_staff", field="staff_userid")
    if cache is not None:
        cache[userid] = staff_id
    return staff_id


def customer_match(corp: Corp, external_userid: str, unionid: str, phone: str) -> int | None:
    """The one customer these keys name (see customers_match)."""
    return customers_match(corp, [(external_userid, unionid, phone)])[0]


def customers_match(corp: Corp, keys: list[tuple[str, str, str]]) -> list[int | None]:
    """For each (external_userid, unionid, phone): the one customer it names, external_userid
    first, then unionid, then phone; a unionid or phone shared by several customers names nobody
    (the order stays unmatched). At most three reads for any number of orders, and the later
    keys are read only for those the earlier left unmatched."""
    found: list[int | None] = [None] * len(keys)
    euids = {k[0] for k in keys if k[0]}
    if euids:
        by_euid = dict(Customer.objects.filter(corp=corp, external_userid__any_of=list(euids)).values_list("external_userid", "id"))
        found = [by_euid.get(k[0]) for k in keys]
    for position, rows in (
        (1, lambda values: Customer.objects.filter(corp=corp, unionid__any_of=list(values)).values_list("unionid", "id")),
        (2, lambda values: CustomerPhone.objects.filter(corp=corp, phone__any_of=list(values)).values_list("phone", "customer_id").distinct()),
    ):
        values = {k[position] for k, f in zip(keys, found) if f is None and k[position]}
        if values:
            unique = _unique_map(rows(values))
            found = [f if f is not None else unique.get(k[position]) for k, f in zip(keys, found)]
    return found


def _unique_map(pairs) -> dict:
    """key → id for keys naming exactly one customer."""
    out: dict = {}
    for key, value in pairs:
        out[key] = value if key not in out else None
    return {k: v for k, v in out.items() if v is not None}


def orders_match_customers(*, corp_id: int, customers, phones: dict | None = None) -> int:
    """Attach the unmatched orders that name these customers (they were just added, or `phones`,
    customer id → phones, were just learned); returns how many. Called from the customer services
    with a sync page's customers, so it must stay cheap: a read per key however many customers."""
    # One query per key, each answered by its partial index on unmatched orders (an OR of the
    # three would scan every order of the corp on SQLite).
    unmatched = Order.objects.filter(corp_id=corp_id, customer__isnull=True)
    unionids = [c.unionid for c in customers if c.unionid]
    phone_list = sorted({p for found in (phones or {}).values() for p in found})
    queries = [unmatched.filter(external_userid__in=[c.external_userid for c in customers])]
    if unionids:
        queries.append(unmatched.filter(unionid__in=unionids))
    if phone_list:
        queries.append(unmatched.filter(phone__in=phone_list))
    candidates = list({o.id: o for q in queries for o in q}.values())
    if not candidates:
        return 0
    ours = {c.pk for c in customers}
    matched = []
    for order, customer_id in zip(candidates, customers_match(corp_id, [(o.external_userid, o.unionid, o.phone) for o in candidates])):
        if customer_id in ours:
            order.customer_id = customer_id
            matched.append(order)
    if matched:
        Order.objects.bulk_update(matched, ["customer"])
        orders_timeline(matched)
        customer_values_refresh(corp_id=corp_id, customer_ids={o.customer_id for o in matched})
    return len(matched)


def customer_values_refresh(*, corp_id: int, customer_ids) -> None:
    """Recompute these customers' value from their orders (the incremental path).

    Deliberately plain Python over each customer's orders: the full rebuild computes the same in
    one SQL statement, and tests hold the two to the same answer.
    """
    ids = sorted(set(customer_ids))
    if not ids:
        return
    facts: dict[int, dict] = {}
    # By customer only (their orders are all this corp's): with a corp condition beside it SQLite
    # without statistics walks the corp index, every order of the corp, for each refresh.
    rows = (
        Order.objects.filter(customer_id__in=ids)
        .order_by("customer_id", "paid_at", "id")
        .values_list("customer_id", "paid_at", "paid_on", "amount_fen", "refunded_fen")
    )
    for customer_id, paid_at, paid_on, amount, refunded in rows.iterator(chunk_size=5000):
        v = facts.setdefault(
            customer_id,
            {
                "order_count": 0,
                "paid_fen": 0,
                "refunded_fen": 0,
                "first_paid_at": None,
                "first_paid_on": None,
                "second_paid_at": None,
                "last_paid_at": None,
                "last_paid_on": None,
            },
        )
        v["paid_fen"] += amount
        v["refunded_fen"] += refunded
        if amount > refunded:
            v["order_count"] += 1
            if v["order_count"] == 1:
                v["first_paid_at"], v["first_paid_on"] = paid_at, paid_on
            elif v["order_count"] == 2:
                v["second_paid_at"] = paid_at
            v["last_paid_at"], v["last_paid_on"] = paid_at, paid_on
    CustomerValue.objects.filter(corp_id=corp_id, customer_id__in=[i for i in ids if i not in facts]).delete()
    CustomerValue.objects.bulk_create(
        [CustomerValue(corp_id=corp_id, customer_id=c, net_fen=v["paid_fen"] - v["refunded_fen"], **v) for c, v in facts.items()],
        update_conflicts=True,
        unique_fields=["customer"],
        update_fields=[
            "order_count",
            "paid_fen",
            "refunded_fen",
            "net_fen",
            "first_paid_at",
            "first_paid_on",
            "second_paid_at",
            "last_paid_at",
            "last_paid_on",
        ],
    )


def customer_values_rebuild(*, corp: Corp) -> int:
    """Recompute every customer's value of a corp from its orders in one statement; returns rows."""

    with transaction.atomic():
        CustomerValue.objects.filter(corp=corp).delete()
        with connection.cursor() as cursor:
            cursor.execute(REBUILD_SQL, [corp.id])
            rows = cursor.rowcount
        statistics_refresh(CustomerValue, sampled=False)  # RFM plans on these; the table is one row per customer
        return rows


# The second counted order is found with ROW_NUMBER over counted orders in paid order (ties by id),
# the same order the incremental path walks.
REBUILD_SQL = """
INSERT INTO orders_customervalue (customer_id, corp_id, order_count, paid_fen, refunded_fen, net_fen,
    first_paid_at, first_paid_on, second_paid_at, last_paid_at, last_paid_on)
SELECT customer_id, MIN(corp_id),
    SUM(counted), SUM(amount_fen), SUM(refunded_fen), SUM(amount_fen) - SUM(refunded_fen),
    MIN(CASE WHEN counted = 1 THEN paid_at END), MIN(CASE WHEN counted = 1 THEN paid_on END),
    MIN(CASE WHEN counted = 1 AND n = 2 THEN paid_at END),
    MAX(CASE WHEN counted = 1 THEN paid_at END), MAX(CASE WHEN counted = 1 THEN paid_on END)
FROM (
    SELECT customer_id, corp_id, paid_at, paid_on, amount_fen, refunded_fen, counted,
        CASE WHEN counted = 1 THEN ROW_NUMBER() OVER (PARTITION BY customer_id, counted ORDER BY paid_at, id) END AS n
    FROM (
        SELECT customer_id, corp_id, paid_at, paid_on, amount_fen, refunded_fen, id,
            CASE WHEN amount_fen > refunded_fen THEN 1 ELSE 0 END AS counted
        FROM orders_order WHERE corp_id = %s AND customer_id IS NOT NULL
    ) o
) w
GROUP BY customer_id
"""


def orders_check_batch(*, corp: Corp, rows: list, parse, staff_cache: dict) -> tuple[list[OrderIn], list[dict]]:
    """Parse and check every row before anything is written; returns (orders, errors by index)."""
    good, errors, seen = [], [], {}
    for i, row in enumerate(rows):
        try:
            data = parse(row)
            order_check(data)
            staff_id_for(corp, data.staff_userid, staff_cache)
            key = (data.source, data.order_no)
            if key in seen:
                # Two versions of one order in one batch: which is meant is the source's to say.
                raise InvalidInput(
                    _("Order %(order_no)s is in this batch twice (also at %(first)s).") % {"order_no": data.order_no, "first": seen[key]},
                    code="duplicate_order",
                    field="order_no",
                )
            seen[key] = i
            good.append(data)
        except InvalidInput as exc:
            errors.append({"index": i, "field": exc.field, "code": exc.code, "message": exc.message})
    return good, errors


def orders_upsert_batch(*, corp: Corp, rows: list, parse) -> dict:
    """All of these orders or none: a bad one rejects the batch, listing every bad one."""
    staff_cache: dict = {}
    orders, errors = orders_check_batch(corp=corp, rows=rows, parse=parse, staff_cache=staff_cache)
    if errors:
        raise InvalidInput(
            _("%(invalid)s of %(total)s orders are invalid; none was stored.") % {"invalid": len(errors), "total": len(rows)},
            code="batch_rejected",
            details=errors,
        )
    counts = {"created": 0, "changed": 0, "unchanged": 0, "order_ids": []}
    touched: set[int] = set()
    with transaction.atomic():
        for data in orders:
            result = order_upsert(corp=corp, data=data, staff_cache=staff_cache, refresh=False)
            touched |= result.order.touched
            counts["created" if result.created else "changed" if result.changed else "unchanged"] += 1
            counts["order_ids"].append(result.order.id)
        customer_values_refresh(corp_id=corp.id, customer_ids=touched)
    return counts


def product_put(*, corp: Corp, sku: str, name: str, category: str = "", role: str = "", price=None) -> Product:
    fields = {
        "name": name.strip(),
        "category": category.strip(),
        "role": role,
        "price_fen": None if price in (None, "") else fen_from_yuan(price, field="price"),
    }
    product, created = Product.objects.get_or_create(corp=corp, sku=sku.strip(), defaults=fields)
    if not created:
        for k, v in fields.items():
            setattr(product, k, v)
        product.save()
        return product
    # Lines that named this SKU before the product existed now point at it (for product-role reports).
    OrderLine.objects.filter(corp=corp, sku=product.sku, product__isnull=True).update(product=product)
    return product


# -- what a person or an API client submits: the role is decided here ------------------------------
# The corp-level functions above serve trusted callers (the importer, the CLI, demo data).
def order_submit(*, actor: Actor, data: OrderIn) -> Upserted:
    actor.require_manager()
    return order_upsert(corp=actor.corp, data=data)


def orders_submit_batch(*, actor: Actor, rows: list, parse) -> dict:
    actor.require_manager()
    return orders_upsert_batch(corp=actor.corp, rows=rows, parse=parse)


def refund_submit(*, actor: Actor, source: str, order_no: str, refund: RefundIn) -> tuple[Refund, bool, bool]:
    actor.require_manager()
    return refund_record(corp=actor.corp, source=source, order_no=order_no, refund=refund)


def product_save(*, actor: Actor, sku: str, name: str, category: str = "", role: str = "", price=None) -> Product:
    actor.require_manager()
    if role not in Product.Role.values:
        raise InvalidInput(
            _("The role is one of %(value)s, or empty.") % {"value": ", ".join(v for v in Product.Role.values if v)}, code="bad_role", field="role"
        )
    return product_put(corp=actor.corp, sku=sku, name=name, category=category, role=role, price=price)
