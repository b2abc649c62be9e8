from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from siyu.kit.tenancy import CorpOwned


class CustomerGroup(CorpOwned):
    """A customer group chat (客户群)."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        DISMISSED = "dismissed", _("Dismissed")

    chat_id = models.CharField(max_length=64)
    name = models.CharField(max_length=100, blank=True, default="")
    owner = models.ForeignKey("corps.Staff", null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_groups")
    notice = models.TextField(blank=True, default="")
    created_at_wecom = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    member_count = models.PositiveIntegerField(default=0, help_text="current members, kept with the member rows")
    member_version = models.CharField(max_length=64, blank=True, default="")
    # When the applied groupchat/get answer was read: two workers applying answers for one group
    # in the wrong order must not let the older answer win.
    fetched_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp", "chat_id"], name="group_unique_chat_id")]

    def __str__(self) -> str:
        return self.name or self.chat_id


class GroupMember(CorpOwned):
    """Someone in a group, now or before (left_at). Members are staff (type 1) or customers (type 2)."""

    class Type(models.IntegerChoices):
        STAFF = 1, _("Staff")
        EXTERNAL = 2, _("Customer")

    group = models.ForeignKey(CustomerGroup, on_delete=models.CASCADE, related_name="members")
    userid = models.CharField(max_length=64, help_text="member userid or external_userid")
    type = models.PositiveSmallIntegerField(choices=Type.choices)
    customer = models.ForeignKey("customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="group_memberships")
    name = models.CharField(max_length=64, blank=True, default="")
    group_nickname = models.CharField(max_length=64, blank=True, default="")
    join_time = models.DateTimeField(null=True, blank=True)
    join_scene = models.PositiveSmallIntegerField(default=0, help_text="1 direct invite, 2 invite link, 3 group QR")
    invitor_userid = models.CharField(max_length=64, blank=True, default="")
    state = models.CharField(max_length=30, blank=True, default="")
    left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group", "userid"], name="groupmember_unique")]
        indexes = [models.Index(fields=["corp", "userid"]), models.Index(fields=["group"], condition=Q(left_at__isnull=True), name="groupmember_current")]
