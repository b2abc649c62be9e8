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


class WechatVisitor(CorpOwned):
    """Someone who opened a customer page in WeChat, as the brand's Official Account knows them
    (openid; unionid when the open platform is bound). `customer` once WeCom says they are one;
    until then WeCom's pending_id, which WeCom later maps to their external_userid."""

    openid = models.CharField(max_length=64)
    unionid = models.CharField(max_length=64, blank=True, default="")
    customer = models.ForeignKey("customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    pending_id = models.CharField(max_length=64, blank=True, default="")
    nickname = models.CharField(max_length=64, blank=True, default="")
    avatar = models.URLField(max_length=500, blank=True, default="")
    # Bumped to end every session this visitor holds (a customer merged away, a phone lost).
    session_epoch = models.PositiveIntegerField(default=0)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp", "openid"], name="wechatvisitor_unique_openid")]
        indexes = [models.Index(fields=["corp", "unionid"]), models.Index(fields=["customer"])]


class ContentView(CorpOwned):
    """One opening of a library item's page: who (the visitor, and the customer when known), from
    whose link and which send, from whose shared copy, and how long and how far they read (the
    page reports dwell and scroll while it is open, by its secret `key`)."""

    item = models.ForeignKey("messaging.ContentItem", on_delete=models.CASCADE, related_name="+")
    visitor = models.ForeignKey(WechatVisitor, on_delete=models.CASCADE, related_name="views")
    customer = models.ForeignKey("customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    staff = models.ForeignKey("corps.Staff", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="whose link it was")
    via = models.CharField(max_length=16, blank=True, default="", help_text="the send: m12 mass send, o3 moment, w welcome, s sidebar, t7 task")
    shared_by = models.ForeignKey(WechatVisitor, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    opened_at = models.DateTimeField()
    dwell_seconds = models.PositiveIntegerField(default=0)
    scroll_percent = models.PositiveSmallIntegerField(default=0)
    key = models.CharField(max_length=32, unique=True)

    class Meta:
        indexes = [models.Index(fields=["corp", "item", "opened_at"]), models.Index(fields=["customer", "opened_at"])]


class InterestRule(CorpOwned):
    """Reading makes interest: a customer who has read `reads` different items carrying the
    library tag `content_tag` gets the customer tag `tag` (read 3 items tagged 辅食 → 关注辅食)."""

    content_tag = models.CharField(max_length=16)
    reads = models.PositiveSmallIntegerField(default=3)
    tag = models.ForeignKey("tags.Tag", on_delete=models.CASCADE, related_name="+")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp", "content_tag", "tag"], name="interestrule_unique")]
