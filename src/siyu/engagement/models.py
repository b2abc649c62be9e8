"""Points (积分): an account per customer and the append-only ledger that moves it.

The account holds what the entries add up to: `available` (spendable) and `pending` (earned from
orders, spendable once their refund window has passed). Each entry records its change to both
and the balances after it, so the ledger reads as a statement. Earned points are kept in lots
(`remaining` on the earning entry) that spends consume soonest-expiring first, so expiry takes
exactly what was not spent. An entry's (source, source_id) is its idempotency key: the same
check-in, order or exchange moves points once, however often it is submitted.
"""

from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from siyu.kit.tenancy import CorpOwned


class PointsAccount(CorpOwned):
    customer = models.OneToOneField("customers.Customer", primary_key=True, on_delete=models.CASCADE, related_name="points")
    available = models.BigIntegerField(default=0)
    pending = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            # The last line of "never negative": the services check under the account's lock first.
            models.CheckConstraint(condition=Q(available__gte=0), name="points_available_not_negative"),
            models.CheckConstraint(condition=Q(pending__gte=0), name="points_pending_not_negative"),
        ]


class PointsEntry(CorpOwned):
    class Kind(models.TextChoices):
        EARN = "earn", _("Earned")
        PENDING = "pending", _("Earned, pending")
        RELEASE = "release", _("Became available")
        SPEND = "spend", _("Spent")
        VOID = "void", _("Voided")
        EXPIRE = "expire", _("Expired")
        ADJUST = "adjust", _("Adjusted")

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    reason = models.CharField(max_length=32, help_text="checkin, order, group_joined, contact_added, content_read, task, exchange, lottery, manual …")
    points = models.BigIntegerField(help_text="change to the available balance")
    pending_change = models.BigIntegerField(default=0, help_text="change to the pending balance")
    available_after = models.BigIntegerField()
    pending_after = models.BigIntegerField()
    source = models.CharField(max_length=32)
    source_id = models.CharField(max_length=64)
    at = models.DateTimeField()
    # Lots: an earning entry's points not yet spent, voided or expired, and when they expire.
    remaining = models.BigIntegerField(default=0)
    expires_on = models.DateField(null=True, blank=True)
    # A pending entry: when it becomes available, and when it did.
    available_on = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    note = models.CharField(max_length=200, blank=True, default="")
    by = models.ForeignKey("corps.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="who adjusted by hand")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["corp", "source", "source_id"], name="points_entry_once"),
            models.CheckConstraint(
                condition=Q(remaining=0) | (Q(remaining__gt=0) & Q(remaining__lte=F("points") + F("pending_change"))), name="points_lot_within_entry"
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "at"]),
            # The lots a spend consumes and the expiry pass reads: only those with points left.
            models.Index(fields=["customer", "expires_on"], condition=Q(remaining__gt=0), name="points_open_lots"),
            models.Index(fields=["corp", "available_on"], condition=Q(kind="pending", released_at__isnull=True), name="points_pending_due"),
        ]
