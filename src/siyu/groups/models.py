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
        verbose_name = _("customer group")
        verbose_name_plural = _("customer groups")
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
        verbose_name = _("group member")
        verbose_name_plural = _("group members")
        constraints = [models.UniqueConstraint(fields=["group", "userid"], name="groupmember_unique")]
        indexes = [models.Index(fields=["corp", "userid"]), models.Index(fields=["group"], condition=Q(left_at__isnull=True), name="groupmember_current")]


class GroupCode(CorpOwned):
    """A group live code (群活码): one QR over any number of groups, filled one after another.

    WeCom's join way (加入群聊) holds at most 5 groups; Siyu keeps in it the first groups of the
    pool that are below `member_limit`, so a group that reaches the limit gives way to the next.
    With `auto_create`, WeCom opens a new group (`room_base_name` + number) when every group on
    the code is full, and Siyu adds it to the pool when it learns of it.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        PAUSED = "paused", _("Paused")
        DELETED = "deleted", _("Deleted")

    name = models.CharField(max_length=64)
    state = models.CharField(max_length=30)
    member_limit = models.PositiveIntegerField(default=200)
    auto_create = models.BooleanField(default=False)
    room_base_name = models.CharField(max_length=40, blank=True, default="")
    room_base_id = models.PositiveIntegerField(default=1)
    # Warn when this few groups (or fewer) still have room, and no auto-create will add more.
    low_pool_alert = models.PositiveIntegerField(default=1)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    config_id = models.CharField(max_length=64, blank=True, default="")
    qr_url = models.URLField(max_length=500, blank=True, default="")
    pushed_chat_ids = models.JSONField(default=list, blank=True)
    pushed_at = models.DateTimeField(null=True, blank=True)
    push_error = models.CharField(max_length=300, blank=True, default="")
    # kit.due: bringing WeCom in step after a save (or when the list must change), retried with backoff.
    push_status = models.CharField(max_length=8, default="done")
    push_due_at = models.DateTimeField(null=True, blank=True)
    push_claimed_at = models.DateTimeField(null=True, blank=True)
    push_lease_until = models.DateTimeField(null=True, blank=True)
    push_attempts = models.PositiveSmallIntegerField(default=0)
    push_task_id = models.CharField(max_length=64, blank=True, default="")
    alert = models.CharField(max_length=200, blank=True, default="", help_text="the low-pool warning, while it holds")
    alert_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp", "state"], name="groupcode_unique_state")]

    def __str__(self) -> str:
        return self.name


class GroupCodeGroup(CorpOwned):
    """A group in a group code's pool, in fill order."""

    group_code = models.ForeignKey(GroupCode, on_delete=models.CASCADE, related_name="pool")
    group = models.ForeignKey(CustomerGroup, on_delete=models.CASCADE, related_name="+")
    order = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["group_code", "group"], name="groupcodegroup_unique")]
        ordering = ["order", "id"]
