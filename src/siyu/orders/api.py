"""Orders API: sources post orders and refunds as they happen; both are upserts on the source's ids."""

from __future__ import annotations

from datetime import date, datetime

from ninja import Field, Query, Router, Schema, Status

from siyu.kit.pagination import MAX_LIMIT, keyset_page
from siyu.kit.schema import Int32, Yuan

from . import selectors, services
from .parse import order_in, refund_in

router = Router(tags=["orders"])

YUAN_HELP = 'yuan, at most 2 decimals (send a string such as "89.90" to avoid float surprises)'


class LineSchema(Schema):
    sku: str = Field("", max_length=64)
    name: str = Field("", max_length=200)
    quantity: Int32 = Field(1, ge=1)
    amount: Yuan = Field(..., description=YUAN_HELP)


class RefundSchema(Schema):
    refund_no: str = Field(..., min_length=1, max_length=64)
    amount: Yuan = Field(..., description=YUAN_HELP)
    refunded_at: str | None = Field(None, description="ISO 8601, or a local time in the corp's timezone; default now")


class OrderSchema(Schema):
    order_no: str = Field(..., min_length=1, max_length=64, description="the source's order id; posting it again updates the order")
    source: str = Field("api", min_length=1, max_length=32, description="which system the order comes from (shop, till, mini program)")
    paid_at: str = Field(..., description="ISO 8601, or a local time in the corp's timezone")
    amount: Yuan = Field(..., description=YUAN_HELP)
    external_userid: str = Field("", max_length=64)
    unionid: str = Field("", max_length=64)
    phone: str = Field("", max_length=20)
    store: str = Field("", max_length=64)
    staff_userid: str = Field("", max_length=64, description="the staff member credited with the sale")
    coupon_code: str = Field("", max_length=16, description="the customer's Siyu coupon used: redeemed with this order, given back on a full refund")
    mall_code: str = Field("", max_length=16, description="the points-mall exchange whose cash part this order paid")
    lines: list[LineSchema] | None = Field(None, max_length=500, description="omit to keep the stored lines")
    refunds: list[RefundSchema] = Field(default_factory=list, max_length=100)


class OrderBatchIn(Schema):
    orders: list[OrderSchema] = Field(..., min_length=1, max_length=1000)


class RefundPostIn(RefundSchema):
    order_no: str = Field(..., min_length=1, max_length=64)
    source: str = Field("api", min_length=1, max_length=32)


class LineOut(Schema):
    sku: str
    name: str
    quantity: int
    amount_fen: int


class OrderOut(Schema):
    id: int
    source: str
    order_no: str
    customer_id: int | None
    external_userid: str
    unionid: str
    phone: str
    paid_at: datetime
    paid_on: date
    amount_fen: int
    refunded_fen: int
    refund_state: str
    store: str
    coupon_code: str
    mall_code: str
    staff_id: int | None
    lines: list[LineOut]


class UpsertOut(Schema):
    created: bool
    changed: bool
    order: OrderOut


class BatchOut(Schema):
    created: int
    changed: int
    unchanged: int
    order_ids: list[int]


class RefundOut(Schema):
    refund_no: str
    order_no: str
    source: str
    amount_fen: int
    refunded_at: datetime
    order_id: int | None = Field(..., description="null while the refund waits for its order")
    created: bool
    changed: bool


class OrderPage(Schema):
    items: list[OrderOut]
    next_cursor: str | None


class OrderListQuery(Schema):
    customer_id: int | None = None
    source: str = Field("", max_length=32)
    unmatched: bool = Field(False, description="only orders that match no customer yet")
    paid_from: date | None = Field(None, description="paid on or after this day (corp timezone)")
    paid_to: date | None = Field(None, description="paid on or before this day (corp timezone)")
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=MAX_LIMIT)


class ProductIn(Schema):
    sku: str = Field(..., min_length=1, max_length=64)
    name: str = Field(..., min_length=1, max_length=200)
    category: str = Field("", max_length=64)
    role: str = Field("", description="traffic (引流品), hit (爆品), profit (利润品), relationship (关系品), or empty")
    price: Yuan | None = Field(None, description=YUAN_HELP)


class ProductOut(Schema):
    id: int
    sku: str
    name: str
    category: str
    role: str
    price_fen: int | None


def _order_out(order) -> OrderOut:
    return OrderOut(
        id=order.id,
        source=order.source,
        order_no=order.order_no,
        customer_id=order.customer_id,
        external_userid=order.external_userid,
        unionid=order.unionid,
        phone=order.phone,
        paid_at=order.paid_at,
        paid_on=order.paid_on,
        amount_fen=order.amount_fen,
        refunded_fen=order.refunded_fen,
        refund_state=order.refund_state,
        store=order.store,
        coupon_code=order.coupon_code,
        mall_code=order.mall_code,
        staff_id=order.staff_id,
        lines=[LineOut(sku=ln.sku, name=ln.name, quantity=ln.quantity, amount_fen=ln.amount_fen) for ln in order.lines.order_by("id")],
    )


@router.post("/orders", response={200: UpsertOut, 201: UpsertOut})
def order_post(request, payload: OrderSchema):
    actor = request.auth
    result = services.order_submit(actor=actor, data=order_in(actor.corp, payload.dict()))
    return Status(201 if result.created else 200, UpsertOut(created=result.created, changed=result.changed, order=_order_out(result.order)))


@router.post("/orders/batch", response=BatchOut)
def order_batch_post(request, payload: OrderBatchIn):
    """Up to 1,000 orders in one transaction: all are stored, or none and every bad one is listed."""
    actor = request.auth
    result = services.orders_submit_batch(actor=actor, rows=[o.dict() for o in payload.orders], parse=lambda row: order_in(actor.corp, row))
    return BatchOut(**result)


@router.post("/refunds", response={200: RefundOut, 201: RefundOut})
def refund_post(request, payload: RefundPostIn):
    actor = request.auth
    data = payload.dict()
    refund, created, changed = services.refund_submit(actor=actor, source=data["source"], order_no=data["order_no"], refund=refund_in(actor.corp, data))
    out = RefundOut(
        refund_no=refund.refund_no,
        order_no=refund.order_no,
        source=refund.source,
        amount_fen=refund.amount_fen,
        refunded_at=refund.refunded_at,
        order_id=refund.order_id,
        created=created,
        changed=changed,
    )
    return Status(201 if created else 200, out)


@router.get("/orders", response=OrderPage)
def order_list(request, filters: Query[OrderListQuery]):
    actor = request.auth
    qs = selectors.order_list(
        actor, customer_id=filters.customer_id, source=filters.source, unmatched=filters.unmatched, paid_from=filters.paid_from, paid_to=filters.paid_to
    )
    rows, next_cursor = keyset_page(qs.prefetch_related("lines"), cursor=filters.cursor, limit=filters.limit)
    return OrderPage(items=[_order_out(o) for o in rows], next_cursor=next_cursor)


@router.get("/orders/{order_id}", response=OrderOut)
def order_detail(request, order_id: int):
    return _order_out(selectors.order_get(request.auth, order_id))


@router.put("/products", response=ProductOut)
def product_put(request, payload: ProductIn):
    """Create or update a product by SKU."""
    product = services.product_save(actor=request.auth, sku=payload.sku, name=payload.name, category=payload.category, role=payload.role, price=payload.price)
    return ProductOut(id=product.id, sku=product.sku, name=product.name, category=product.category, role=product.role, price_fen=product.price_fen)


@router.get("/products", response=list[ProductOut])
def product_list(request):
    return [ProductOut(id=p.id, sku=p.sku, name=p.name, category=p.category, role=p.role, price_fen=p.price_fen) for p in selectors.product_list(request.auth)]
