"""What Siyu sends to customers: message content (text + attachments), the media it uploads to
WeCom, welcome messages and their sends, and group welcome templates."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from siyu.kit.tenancy import CorpOwned


class Media(CorpOwned):
    """A file an attachment refers to. WeCom's temporary media ids expire after 3 days, so the
    bytes stay here and are uploaded again before a send that needs a fresh id."""

    class Kind(models.TextChoices):
        IMAGE = "image", _("Image")
        VIDEO = "video", _("Video")
        FILE = "file", _("File")

    kind = models.CharField(max_length=5, choices=Kind.choices)
    name = models.CharField(max_length=128)
    content_type = models.CharField(max_length=100, blank=True, default="")
    content = models.BinaryField()
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    media_id = models.CharField(max_length=128, blank=True, default="")
    uploaded_at = models.DateTimeField(null=True, blank=True, help_text="when media_id was issued")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp", "kind", "sha256"], name="media_unique_content")]


class WelcomeMessage(CorpOwned):
    """A welcome message (欢迎语): for a live code, for a staff member, or the corp default (neither)."""

    live_code = models.OneToOneField("acquisition.LiveCode", null=True, blank=True, on_delete=models.CASCADE, related_name="welcome")
    staff = models.OneToOneField("corps.Staff", null=True, blank=True, on_delete=models.CASCADE, related_name="welcome")
    text = models.TextField(blank=True, default="")
    # Message content attachments (messaging.content): at most 9.
    attachments = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "acquisition_welcomemessage"
        constraints = [
            models.CheckConstraint(condition=Q(live_code__isnull=True) | Q(staff__isnull=True), name="welcome_one_scope"),
            models.UniqueConstraint(fields=["corp"], condition=Q(live_code__isnull=True, staff__isnull=True), name="welcome_one_corp_default"),
        ]


class WelcomeSend(CorpOwned):
    """One welcome_code WeCom handed us, and what became of it. At most one send per code."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        MISSED = "missed", _("Missed (window passed)")
        FAILED = "failed", _("Failed")
        NONE = "none", _("No welcome configured")

    welcome_code = models.CharField(max_length=128)
    userid = models.CharField(max_length=64)
    external_userid = models.CharField(max_length=64)
    state = models.CharField(max_length=30, blank=True, default="")
    received_at = models.DateTimeField()
    deadline = models.DateTimeField(help_text="WeCom's 20-second window, from the add")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    message = models.ForeignKey(WelcomeMessage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    text = models.TextField(blank=True, default="")
    error = models.CharField(max_length=300, blank=True, default="")
    # kit.due: due when received (the worker takes over after a grace), held until lease_until.
    due_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    task_id = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        db_table = "acquisition_welcomesend"
        constraints = [models.UniqueConstraint(fields=["corp", "welcome_code"], name="welcomesend_unique_code")]
        indexes = [models.Index(fields=["corp", "status", "received_at"], name="acquisition_corp_id_158782_idx")]


class GroupWelcome(CorpOwned):
    """A group code's welcome (入群欢迎语), kept in WeCom as a group welcome template."""

    group_code = models.OneToOneField("groups.GroupCode", on_delete=models.CASCADE, related_name="welcome")
    text = models.TextField(blank=True, default="")
    attachments = models.JSONField(default=list, blank=True, help_text="at most one (WeCom's template holds one)")
    template_id = models.CharField(max_length=64, blank=True, default="")
    pushed_at = models.DateTimeField(null=True, blank=True)
    # kit.due: bringing WeCom's template in step after a save, retried with backoff.
    push_status = models.CharField(max_length=8, default="done")
    push_due_at = models.DateTimeField(null=True, blank=True)
    push_claimed_at = models.DateTimeField(null=True, blank=True)
    push_lease_until = models.DateTimeField(null=True, blank=True)
    push_attempts = models.PositiveSmallIntegerField(default=0)
    push_error = models.CharField(max_length=300, blank=True, default="")
    push_task_id = models.CharField(max_length=64, blank=True, default="")
