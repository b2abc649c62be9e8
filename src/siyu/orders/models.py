"""Orders from the brand's shops and tills, and each customer's value as the orders make it.

Money is fen (integer). An order *counts* as a paid order while some of it is not refunded
(`amount_fen > refunded_fen`); a fully refunded order is kept but is not a purchase for RFM,
funnels or CLV. `paid_on` is the paid time's date in the corp's timezone, kept so days, months
and cohorts are the same on every database.
"""

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from siyu.kit.tenancy import CorpOwned


class Product(CorpOwned):
    class Role(models.TextChoices):
        NONE = "", _("No role")
        TRAFFIC = "traffic", _("Traffic item (引流品)")
        HIT = "hit", _("Hit item (爆品)")
        PROFIT = "profit", _("Profit item (利润品)")
        RELATIONSHIP = "relationship", _("Relationship item (关系品)")

    sku = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    category = models.CharField(max_length=64, blank=True, default="")
    role = models.CharField(max_length=16, choices=Role.choices, blank=True, default="")
    price_fen = models.BigIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp", "sku"], name="product_unique_sku")]

    def __str__(self) -> str:
        return self.name


class Order(CorpOwned):
    """One order as its source system knows it; `(source, order_no)` is its identity in a corp."""

    source = models.CharField(max_length=32, default="api")
    order_no = models.CharField(max_length=64)
    customer = models.ForeignKey("customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="orders")
    # What the source said about the buyer; kept so an order that matches nobody yet can be
    # matched when the customer appears (added on WeCom, or a phone learned later).
    external_userid = models.CharField(max_length=64, blank=True, default="")
    unionid = models.CharField(max_length=64, blank=True, default="")
    phone = models.CharField(max_length=20, blank=True, default="")
    paid_at = models.DateTimeField()
    paid_on = models.DateField()
    amount_fen = models.BigIntegerField()
    refunded_fen = models.BigIntegerField(default=0)
    store = models.CharField(max_length=64, blank=True, default="")
    coupon_code = models.CharField(max_length=16, blank=True, default="", help_text="the customer's coupon the order used (redeemed with it)")
    mall_code = models.CharField(max_length=16, blank=True, default="", help_text="the points-mall exchange whose cash part the order paid")
    staff = models.ForeignKey("corps.Staff", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["corp", "source", "order_no"], name="order_unique_source_no"),
            models.CheckConstraint(condition=Q(amount_fen__gte=0), name="order_amount_not_negative"),
            models.CheckConstraint(condition=Q(refunded_fen__gte=0, refunded_fen__lte=F("amount_fen")), name="order_refund_within_amount"),
        ]
        indexes = [
            models.Index(fields=["customer", "paid_at"]),
            models.Index(fields=["corp", "paid_on"]),
            models.Index(fields=["corp", "external_userid"], condition=Q(customer__isnull=True), name="order_unmatched_euid"),
            models.Index(fields=["corp", "unionid"], condition=Q(customer__isnull=True), name="order_unmatched_unionid"),
            models.Index(fields=["corp", "phone"], condition=Q(customer__isnull=True), name="order_unmatched_phone"),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.order_no}"

    @property
    def net_fen(self) -> int:
        return self.amount_fen - self.refunded_fen

    @property
    def counts(self) -> bool:
        return self.amount_fen > self.refunded_fen

    @property
    def refund_state(self) -> str:
        if not self.refunded_fen:
            return "none"
        return "full" if self.refunded_fen >= self.amount_fen else "partial"


class OrderLine(CorpOwned):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    sku = models.CharField(max_length=64, blank=True, default="")
    name = models.CharField(max_length=200, blank=True, default="")
    quantity = models.IntegerField(default=1)
    amount_fen = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["product"])]


class Refund(CorpOwned):
    """One refund; the order's `refunded_fen` is the sum of its refunds. A refund may arrive before
    its order (sources do not promise order): it waits here, unlinked, and applies on arrival."""

    source = models.CharField(max_length=32, default="api")
    refund_no = models.CharField(max_length=64)
    order_no = models.CharField(max_length=64)
    order = models.ForeignKey(Order, null=True, blank=True, on_delete=models.CASCADE, related_name="refunds")
    amount_fen = models.BigIntegerField()
    refunded_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["corp", "source", "refund_no"], name="refund_unique_source_no"),
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="refund_amount_positive"),
        ]
        indexes = [models.Index(fields=["corp", "source", "order_no"])]


class CustomerValue(CorpOwned):
    """A customer's order facts, kept current as orders and refunds arrive (and rebuildable).

    Counted orders only for counts and dates; `paid_fen` and `refunded_fen` cover every order.
    """

    customer = models.OneToOneField("customers.Customer", primary_key=True, on_delete=models.CASCADE, related_name="value")
    order_count = models.IntegerField(default=0)
    paid_fen = models.BigIntegerField(default=0)
    refunded_fen = models.BigIntegerField(default=0)
    net_fen = models.BigIntegerField(default=0)
    first_paid_at = models.DateTimeField(null=True, blank=True)
    first_paid_on = models.DateField(null=True, blank=True)
    second_paid_at = models.DateTimeField(null=True, blank=True)
    last_paid_at = models.DateTimeField(null=True, blank=True)
    last_paid_on = models.DateField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["corp", "last_paid_on"]),
            models.Index(fields=["corp", "order_count"]),
            models.Index(fields=["corp", "net_fen"]),
            models.Index(fields=["corp", "first_paid_on"]),
            # RFM reads only buyers' (last day, F, M): these partial indexes hold exactly that, so
            # the class counts scan an index instead of the table, and the median of M walks one.
            models.Index(fields=["corp", "last_paid_on", "order_count", "net_fen"], condition=Q(order_count__gte=1), name="cv_buyer_facts"),
            models.Index(fields=["corp", "net_fen"], condition=Q(order_count__gte=1), name="cv_buyer_spend"),
            models.Index(fields=["corp", "order_count"], condition=Q(order_count__gte=1), name="cv_buyer_count"),
        ]


class OrderImport(CorpOwned):
    """One order file read from the console or the command line, and what came of it: imported
    whole, or rejected whole with the problem rows (the first MAX_REPORTED of them). A console
    upload waits for the worker (queued, running) with its file, which is dropped once read."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Importing")
        IMPORTED = "imported", _("Imported")
        REJECTED = "rejected", _("Rejected")
        FAILED = "failed", _("Failed")

    file_name = models.CharField(max_length=200)
    source = models.CharField(max_length=32)
    created_by = models.ForeignKey("corps.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=8, choices=Status.choices)
    # A console upload's file, kept in the database (a worker on another machine reads it) until
    # the import is over; then emptied.
    upload = models.BinaryField(null=True, blank=True)
    phase = models.CharField(max_length=8, blank=True, default="", help_text="check or write, while running")
    progress_done = models.IntegerField(default=0)
    progress_total = models.IntegerField(default=0)
    error = models.TextField(blank=True, default="")
    # kit.due (the lease is updated_at, the heartbeat every progress report moves).
    updated_at = models.DateTimeField(auto_now=True)
    due_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    task_id = models.CharField(max_length=64, blank=True, default="")
    rows = models.IntegerField(default=0)
    orders = models.IntegerField(default=0)
    created = models.IntegerField(default=0)
    updated = models.IntegerField(default=0)
    unchanged = models.IntegerField(default=0)
    matched = models.IntegerField(default=0)
    error_count = models.IntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)

    class Meta:
        indexes = [models.Index(fields=["corp", "-created_at"])]
