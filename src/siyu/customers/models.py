from django.db import models
from django.db.models import Case, F, Q, When
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from siyu.kit.tenancy import CorpOwned


class Customer(CorpOwned):
    """An external contact (外部联系人). One person, possibly followed by several staff."""

    class Gender(models.IntegerChoices):
        UNKNOWN = 0, _("Unknown")
        MALE = 1, _("Male")
        FEMALE = 2, _("Female")

    class Type(models.IntegerChoices):
        WECHAT = 1, _("WeChat")
        WECOM = 2, _("WeCom")

    external_userid = models.CharField(max_length=64)
    unionid = models.CharField(max_length=64, blank=True, default="")
    name = models.CharField(max_length=64)
    avatar = models.URLField(max_length=500, blank=True, default="")
    gender = models.PositiveSmallIntegerField(choices=Gender.choices, default=Gender.UNKNOWN)
    type = models.PositiveSmallIntegerField(choices=Type.choices, default=Type.WECHAT)
    corp_name = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = pgettext_lazy("model", "customers")
        constraints = [models.UniqueConstraint(fields=["corp", "external_userid"], name="customer_unique_external_userid")]
        indexes = [models.Index(fields=["corp", "unionid"]), models.Index(fields=["corp", "name"])]

    def __str__(self) -> str:
        return self.name


class CustomerPhone(CorpOwned):
    """A phone number known for a customer (remark mobiles, lead forms, orders), searchable exactly."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="phones")
    phone = models.CharField(max_length=20)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer", "phone"], name="customerphone_unique")]
        indexes = [models.Index(fields=["corp", "phone"])]


class Follow(CorpOwned):
    """The staff↔customer edge (跟进关系): who added whom, how, through which channel `state`."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="follows")
    staff = models.ForeignKey("corps.Staff", on_delete=models.CASCADE, related_name="follows")
    remark = models.CharField(max_length=64, blank=True, default="")
    description = models.CharField(max_length=300, blank=True, default="")
    added_at = models.DateTimeField()
    add_way = models.IntegerField(default=0)
    state = models.CharField(max_length=30, blank=True, default="", help_text="channel code from the live code")
    oper_userid = models.CharField(max_length=64, blank=True, default="")
    # Either side may end the relationship; both are kept because churn is measured by who left.
    deleted_by_staff_at = models.DateTimeField(null=True, blank=True)
    deleted_by_customer_at = models.DateTimeField(null=True, blank=True)
    # When the relationship ended, whoever ended it (the earlier, should both have): kept by the
    # database, so statistics find the follows that ended in a period by an index.
    ended_at = models.GeneratedField(
        expression=Case(
            When(deleted_by_staff_at__isnull=True, then=F("deleted_by_customer_at")),
            When(deleted_by_customer_at__isnull=True, then=F("deleted_by_staff_at")),
            When(deleted_by_staff_at__lt=F("deleted_by_customer_at"), then=F("deleted_by_staff_at")),
            default=F("deleted_by_customer_at"),
        ),
        output_field=models.DateTimeField(null=True, blank=True),
        db_persist=True,
    )
    tags = models.ManyToManyField("tags.Tag", through="FollowTag", related_name="+")

    class Meta:
        verbose_name = _("follow")
        verbose_name_plural = _("follows")
        constraints = [models.UniqueConstraint(fields=["customer", "staff"], name="follow_unique_customer_staff")]
        indexes = [
            models.Index(fields=["staff", "added_at"]),
            models.Index(fields=["corp", "added_at"]),
            models.Index(fields=["corp", "state"]),
            models.Index(fields=["corp", "ended_at"]),
        ]

    @property
    def is_active(self) -> bool:
        return self.deleted_by_staff_at is None and self.deleted_by_customer_at is None


class FollowTag(CorpOwned):
    follow = models.ForeignKey(Follow, on_delete=models.CASCADE, related_name="follow_tags")
    tag = models.ForeignKey("tags.Tag", on_delete=models.CASCADE, related_name="follow_tags")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["follow", "tag"], name="followtag_unique")]
        indexes = [models.Index(fields=["tag", "follow"])]


class CustomField(CorpOwned):
    """A customer attribute the corp defines (birthday, baby's birth date, preferred sub-brand …):
    one value per customer, shared by every staff member who follows them. Archived fields keep
    their values but are no longer shown or asked for."""

    class Kind(models.TextChoices):
        TEXT = "text", pgettext_lazy("field kind", "Text")
        NUMBER = "number", _("Number")
        DATE = "date", _("Date")
        CHOICE = "choice", pgettext_lazy("field kind", "Choice")

    key = models.SlugField(max_length=40, help_text="the name the API, imports and conditions use")
    name = models.CharField(max_length=40)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    choices = models.JSONField(default=list, blank=True)
    position = models.PositiveIntegerField(default=0)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("customer field")
        verbose_name_plural = _("customer fields")
        constraints = [models.UniqueConstraint(fields=["corp", "key"], name="customfield_unique_key")]
        ordering = ["position", "id"]


class CustomerFieldValue(CorpOwned):
    """A customer's value of one custom field, in the column of the field's kind, so conditions
    (month-age from a birth date, a number above a threshold) are indexed reads."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="field_values")
    field = models.ForeignKey(CustomField, on_delete=models.CASCADE, related_name="values")
    text = models.CharField(max_length=200, blank=True, default="")
    number = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    date = models.DateField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customer", "field"], name="customerfieldvalue_unique")]
        indexes = [models.Index(fields=["field", "date"]), models.Index(fields=["field", "number"]), models.Index(fields=["field", "text"])]


class LifecycleStage(CorpOwned):
    """A stage of the customer's life the brand speaks to (孕期, 0–6月, 6–12月 …), defined on a date
    field: a customer is in it while the days since their date (negative before it, as for a due
    date) are within [from_days, to_days). Stages are tried in order; the first that holds is the
    customer's stage, kept current every day and whenever the field changes."""

    name = models.CharField(max_length=40)
    # Fields are archived, never deleted, but for the corp's own deletion, which takes its stages too.
    field = models.ForeignKey(CustomField, on_delete=models.CASCADE, related_name="stages")
    from_days = models.IntegerField()
    to_days = models.IntegerField()
    position = models.PositiveIntegerField(default=0)
    refreshed_on = models.DateField(null=True, blank=True, help_text="the corp day its customers were last placed")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp", "name"], name="lifecyclestage_unique_name")]
        ordering = ["position", "id"]


class CustomerStage(CorpOwned):
    """The customer's current lifecycle stage, and since which day."""

    customer = models.OneToOneField(Customer, primary_key=True, on_delete=models.CASCADE, related_name="stage")
    stage = models.ForeignKey(LifecycleStage, on_delete=models.CASCADE, related_name="customers")
    since = models.DateField()

    class Meta:
        indexes = [models.Index(fields=["stage", "since"])]


class TimelineEvent(CorpOwned):
    """One thing that happened to a customer. Written by services only, never edited."""

    class Kind(models.TextChoices):
        ADDED = "added", pgettext_lazy("timeline", "Added")  # an event, not the "added" column
        DELETED_BY_STAFF = "deleted_by_staff", _("Removed by staff")
        DELETED_BY_CUSTOMER = "deleted_by_customer", _("Deleted the staff")
        TAGGED = "tagged", _("Tagged")
        UNTAGGED = "untagged", _("Untagged")
        PROFILE_UPDATED = "profile_updated", _("Profile updated")
        TRANSFER_FAILED = "transfer_failed", _("Transfer failed")
        JOINED_GROUP = "joined_group", _("Joined a group")
        LEFT_GROUP = "left_group", _("Left a group")
        MESSAGE_SENT = "message_sent", _("Message sent")
        ORDER = "order", _("Order")
        NOTE = "note", _("Follow-up note")
        STAGE = "stage", _("Lifecycle stage")

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="timeline")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    staff = models.ForeignKey("corps.Staff", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    occurred_at = models.DateTimeField()
    data = models.JSONField(default=dict, blank=True)
    # Set by event sources that can repeat (WeCom callbacks, imports) so a replay writes nothing.
    dedupe_key = models.CharField(max_length=200, null=True, blank=True)

    class Meta:
        verbose_name = _("timeline event")
        verbose_name_plural = _("timeline events")
        constraints = [models.UniqueConstraint(fields=["corp", "dedupe_key"], condition=Q(dedupe_key__isnull=False), name="timeline_unique_dedupe_key")]
        indexes = [models.Index(fields=["customer", "-occurred_at"])]


# WeCom's add_way codes (how the customer was added), for display.
ADD_WAY_LABELS = {
    0: _("Unknown"),
    1: _("Scanned QR code"),
    2: _("Phone number search"),
    3: _("Shared contact card"),
    4: _("Group chat"),
    5: _("Phone contacts"),
    6: _("WeChat contacts"),
    7: _("WeChat friend request"),
    8: _("Third-party customer service"),
    9: _("Email search"),
    10: _("WeChat Channels"),
    11: _("Calendar"),
    12: _("Meeting"),
    13: _("WeChat friend's WeCom"),
    14: _("Smart hardware"),
    15: _("On-site service"),
    16: _("Acquisition link"),
    17: _("Custom development"),
    18: _("Demand reply"),
    201: _("Internal share"),
    202: _("Assigned by admin"),
}
