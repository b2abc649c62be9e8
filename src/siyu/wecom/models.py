from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from siyu.kit.tenancy import CorpOwned


class ApiState(models.Model):
    """Per corp, what every worker's client shares: the access token and a rate-limit pause."""

    corp = models.OneToOneField("corps.Corp", on_delete=models.CASCADE, related_name="wecom_state")
    token_encrypted = models.TextField(blank=True, default="")
    token_expires_at = models.DateTimeField(null=True, blank=True)
    # Which secret the token was issued for: a replaced secret must not keep using the old token.
    secret_fingerprint = models.CharField(max_length=64, blank=True, default="")
    # After a 45009/45033 no worker calls this corp's API before this time.
    paused_until = models.DateTimeField(null=True, blank=True)
    # The app's JS-SDK ticket (wx.agentConfig), shared by every web process until shortly before
    # it expires: WeCom issues 100 an hour per app.
    agent_ticket = models.CharField(max_length=256, blank=True, default="")
    agent_ticket_expires_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)


class CallbackEvent(CorpOwned):
    """One callback from WeCom, stored before anything is done with it (house rule 3).

    Unique per (corp, dedupe_key): WeCom's retries and replays land on the same row.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", pgettext_lazy("callback status", "Received")
        PROCESSING = "processing", _("Processing")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        IGNORED = "ignored", _("Ignored")

    dedupe_key = models.CharField(max_length=300)
    event = models.CharField(max_length=64)
    change_type = models.CharField(max_length=64, blank=True, default="")
    payload = models.JSONField()
    created_at_wecom = models.DateTimeField(null=True, blank=True, help_text="CreateTime in the event")
    received_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    handled_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="when a worker took it")
    # kit.due: when it is next due (empty: now; a failed one waits out its backoff) and until
    # when the worker holding it may keep it before another takes it over.
    due_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    deliveries = models.PositiveIntegerField(default=1, help_text="how often WeCom sent it")
    task_id = models.CharField(max_length=64, blank=True, default="", help_text="the last task enqueued to handle it")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp", "dedupe_key"], name="callback_unique_dedupe_key")]
        indexes = [models.Index(fields=["status", "received_at"]), models.Index(fields=["corp", "-received_at"])]


class SyncRun(CorpOwned):
    """One full sync. Its state is saved after every committed page, so an interrupted run resumes."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    phase = models.CharField(max_length=20, default="staff")
    state = models.JSONField(default=dict, help_text="where to resume: member chunk and cursor")
    counts = models.JSONField(default=dict)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    api_calls = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    requested_by = models.ForeignKey("corps.User", null=True, blank=True, on_delete=models.SET_NULL, help_text="empty: the CLI or the schedule")
    started_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # kit.due (its lease is updated_at, the heartbeat): who holds the run, and its queued task.
    due_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    task_id = models.CharField(max_length=64, blank=True, default="")

    def save(self, *args, **kwargs):
        # updated_at is the run's heartbeat (a run silent for long is a dead worker's), so every
        # partial save moves it too; auto_now alone skips fields missing from update_fields.
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "updated_at"}
        super().save(*args, **kwargs)


# What operators read for WeCom's (event, ChangeType) pairs in the inbox.
EVENT_LABELS = {
    ("change_external_contact", "add_external_contact"): _("Customer added"),
    ("change_external_contact", "add_half_external_contact"): _("Customer added (not yet confirmed)"),
    ("change_external_contact", "edit_external_contact"): _("Customer edited"),
    ("change_external_contact", "del_external_contact"): _("Staff deleted a customer"),
    ("change_external_contact", "del_follow_user"): _("Customer deleted a staff member"),
    ("change_external_contact", "transfer_fail"): _("Customer transfer failed"),
    ("change_external_chat", "create"): _("Customer group created"),
    ("change_external_chat", "update"): _("Customer group changed"),
    ("change_external_chat", "dismiss"): _("Customer group dismissed"),
    ("change_external_tag", "create"): _("Corp tag created"),
    ("change_external_tag", "update"): _("Corp tag changed"),
    ("change_external_tag", "delete"): _("Corp tag deleted"),
    ("change_external_tag", "shuffle"): _("Corp tags reordered"),
}


def event_label(event: str, change_type: str) -> str:
    """An event's name in the reader's language; WeCom's own names for events Siyu does not name."""
    label = EVENT_LABELS.get((event, change_type))
    return str(label) if label else f"{event} {change_type}".strip()
