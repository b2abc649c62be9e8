"""Guide tasks (导购任务): work HQ gives its guides, each guide's share as a to-do list of customers.

Three levels, like a mass send: the task (HQ's: what to do, for whom, by when, the target) → one
assignment per guide (their share, when they were told, reminded, escalated, urged) → one item per
customer (open or done, when, and by what). Counters are kept on the task and the assignment so
lists need no aggregate over millions of items."""

from django.db import models
from django.utils.translation import gettext_lazy as _

from siyu.kit.tenancy import CorpOwned
from siyu.messaging.models import DueFields, PullFields


class GuideTask(CorpOwned, DueFields):
    """Due (kit.due) at `starts_at` for its fan-out, then at `notify_at` for the guides' app
    message (notify_*), then for reminders (remind_*) until it closes."""

    class Kind(models.TextChoices):
        SEND = "send", _("Send content one to one")
        REVISIT = "revisit", _("Revisit (write a follow-up note)")
        TAG = "tag", _("Tag the customer")
        MASS_SEND = "mass_send", _("Confirm a WeCom mass send")
        GROUP_SEND = "group_send", _("Send to their customer groups")
        MOMENT = "moment", _("Post a moment")

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        ASSIGNING = "assigning", _("Assigning")
        ACTIVE = "active", _("In progress")
        CLOSED = "closed", _("Closed")
        CANCELLED = "cancelled", _("Cancelled")
        FAILED = "failed", _("Failed")

    name = models.CharField(max_length=64)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    instructions = models.CharField(max_length=500, blank=True, default="", help_text="what the guide is asked to do, in their words")
    # The content a send task puts into the chat (messaging.content): text and attachments.
    text = models.TextField(blank=True, default="")
    attachments = models.JSONField(default=list, blank=True)
    tag_ids = models.JSONField(
        default=list, blank=True, help_text="a tag task's tags (any one of them completes a customer); a moment task's: shown only to customers with one"
    )
    mass_send = models.ForeignKey(
        "messaging.MassSend",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="a mass-send or group-send task's send in WeCom, made at the start",
    )
    moment = models.ForeignKey(
        "messaging.Moment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="a moment task's moment in WeCom, made at the start"
    )
    audience = models.JSONField(default=dict)
    staff_ids = models.JSONField(default=list, blank=True)
    department_ids = models.JSONField(default=list, blank=True)
    starts_at = models.DateTimeField(help_text="only what guides do from now on counts")
    notify_at = models.DateTimeField(help_text="when the guides get the app message")
    ends_at = models.DateTimeField(help_text="the deadline")
    target = models.PositiveSmallIntegerField(default=100, help_text="the share of customers (%) a guide must complete")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    created_by = models.ForeignKey("corps.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    urged_at = models.DateTimeField(null=True, blank=True)
    # Counters, kept up to date by the services.
    guides_total = models.PositiveIntegerField(default=0)
    guides_done = models.PositiveIntegerField(default=0)
    items_total = models.PositiveIntegerField(default=0)
    items_done = models.PositiveIntegerField(default=0)
    # The guides' app message (notify) and the reminders (remind): kit.due on prefixed fields.
    notify_status = models.CharField(max_length=10, default="waiting")
    notify_due_at = models.DateTimeField(null=True, blank=True)
    notify_claimed_at = models.DateTimeField(null=True, blank=True)
    notify_lease_until = models.DateTimeField(null=True, blank=True)
    notify_attempts = models.PositiveSmallIntegerField(default=0)
    notify_error = models.TextField(blank=True, default="")
    notify_task_id = models.CharField(max_length=64, blank=True, default="")
    remind_status = models.CharField(max_length=10, default="waiting")
    remind_due_at = models.DateTimeField(null=True, blank=True)
    remind_claimed_at = models.DateTimeField(null=True, blank=True)
    remind_lease_until = models.DateTimeField(null=True, blank=True)
    remind_attempts = models.PositiveSmallIntegerField(default=0)
    remind_error = models.TextField(blank=True, default="")
    remind_task_id = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        indexes = [
            models.Index(fields=["corp", "-created_at"]),
            models.Index(fields=["status", "due_at"]),
            models.Index(fields=["notify_status", "notify_due_at"]),
            models.Index(fields=["remind_status", "remind_due_at"]),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def unit(self) -> str:
        """What the items are: a customer to act on, a group to send to, or the guide's one post."""
        return {self.Kind.GROUP_SEND: "groups", self.Kind.MOMENT: "posts"}.get(self.kind, "customers")

    @property
    def unit_label(self) -> str:
        return {"groups": _("Groups"), "posts": _("Posts")}.get(self.unit, _("Customers"))


class GuideAssignment(CorpOwned):
    """A guide's share of a task."""

    task = models.ForeignKey(GuideTask, on_delete=models.CASCADE, related_name="assignments")
    staff = models.ForeignKey("corps.Staff", on_delete=models.CASCADE, related_name="+")
    items_total = models.PositiveIntegerField(default=0)
    items_done = models.PositiveIntegerField(default=0)
    notified_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True, help_text="the guide was reminded (once)")
    escalated_at = models.DateTimeField(null=True, blank=True, help_text="the store manager was told (once)")
    completed_at = models.DateTimeField(null=True, blank=True, help_text="when the guide reached the target")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["task", "staff"], name="guideassignment_unique_staff")]
        indexes = [models.Index(fields=["staff", "task"])]


class GuideTaskItem(CorpOwned):
    """One customer in a guide's to-do list (or, for a group send, one of the guide's groups; for a
    moment, the guide's one post, with neither). A 1M-customer task writes 1M of these in one
    statement: as with messaging's Delivery, indexes are only the composite ones reads need, and
    the database checks no foreign keys (the fan-out writes them from the joined rows; deletes go
    through Django's on_delete)."""

    class Status(models.TextChoices):
        OPEN = "open", _("To do")
        DONE = "done", _("Done")

    class How(models.TextChoices):
        SENT = "sent", _("Sent from the sidebar")
        NOTE = "note", _("Follow-up note written")
        TAGGED = "tagged", _("Tagged")
        WECOM = "wecom", _("Sent (WeCom's result)")
        POSTED = "posted", _("Posted (WeCom's result)")

    corp = models.ForeignKey("corps.Corp", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    task = models.ForeignKey(GuideTask, on_delete=models.CASCADE, related_name="items", db_index=False, db_constraint=False)
    assignment = models.ForeignKey(GuideAssignment, on_delete=models.CASCADE, related_name="items", db_index=False, db_constraint=False)
    staff = models.ForeignKey("corps.Staff", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    customer = models.ForeignKey("customers.Customer", null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    group = models.ForeignKey("groups.CustomerGroup", null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    status = models.CharField(max_length=4, choices=Status.choices, default=Status.OPEN)
    done_at = models.DateTimeField(null=True, blank=True)
    how = models.CharField(max_length=6, choices=How.choices, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task", "customer"], name="guidetaskitem_unique_customer"),
            # Partial: the customer items of a million-customer task carry no entry for it.
            models.UniqueConstraint(fields=["task", "group"], condition=models.Q(group__isnull=False), name="guidetaskitem_unique_group"),
        ]
        indexes = [
            models.Index(fields=["assignment", "status"]),
            # A guide's action on a customer finds the open items it completes.
            models.Index(fields=["customer", "staff"]),
        ]


class QuickReplyGroup(CorpOwned):
    """A shelf of the quick-reply library (话术库), e.g. 新客欢迎, 喂养知识, 售后."""

    name = models.CharField(max_length=32)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp", "name"], name="quickreplygroup_unique_name")]
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class QuickReply(CorpOwned):
    """A ready answer HQ writes once for every guide: text and attachments (messaging.content's
    shape) that the sidebar puts into a chat in one tap."""

    group = models.ForeignKey(QuickReplyGroup, on_delete=models.CASCADE, related_name="replies")
    title = models.CharField(max_length=64)
    text = models.TextField(blank=True, default="")
    attachments = models.JSONField(default=list, blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    sent_count = models.PositiveIntegerField(default=0, help_text="times guides put it into a chat")
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey("corps.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["corp", "group", "position"])]

    def __str__(self) -> str:
        return self.title


class GuideContact(CorpOwned):
    """A guide reached a customer one to one, as Siyu saw it: content put into the chat from the
    sidebar (a task's or a quick reply), or a follow-up note after a conversation. The 14-day
    golden period and reply leaderboards count these; WeCom's per-customer chat record needs its
    paid chat archive (会话存档), which Siyu does not use."""

    class How(models.TextChoices):
        TASK = "task", _("Task content sent")
        REPLY = "reply", _("Quick reply sent")
        NOTE = "note", _("Follow-up note")

    staff = models.ForeignKey("corps.Staff", on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    how = models.CharField(max_length=5, choices=How.choices)
    at = models.DateTimeField()
    reply = models.ForeignKey(QuickReply, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    task = models.ForeignKey(GuideTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        indexes = [models.Index(fields=["corp", "customer", "at"]), models.Index(fields=["corp", "staff", "at"])]


class StaffDay(CorpOwned):
    """A staff member's day with customers as WeCom counts it (get_user_behavior_data, and
    groupchat/statistic for the groups they own), pulled daily and backfilled. WeCom reports a
    day's reply share and average reply time; the replied chats and reply minutes are kept as
    counts so that weeks, stores and regions add up exactly."""

    staff = models.ForeignKey("corps.Staff", on_delete=models.CASCADE, related_name="+")
    day = models.DateField(help_text="WeCom's day (China time)")
    chats = models.PositiveIntegerField(default=0, help_text="chats the member sent in")
    messages = models.PositiveIntegerField(default=0, help_text="messages the member sent")
    reply_percentage = models.FloatField(default=0, help_text="as WeCom reports it: chats customers began that the member answered that day")
    avg_reply_minutes = models.PositiveIntegerField(default=0)
    replied_chats = models.PositiveIntegerField(default=0, help_text="chats × reply share, rounded")
    reply_minutes = models.PositiveIntegerField(default=0, help_text="replied chats × average reply time")
    negative_feedback = models.PositiveIntegerField(default=0, help_text="customers who deleted or blocked the member")
    new_applies = models.PositiveIntegerField(default=0)
    new_contacts = models.PositiveIntegerField(default=0)
    pulled_at = models.DateTimeField()
    # The customer groups the member owns, that day (groupchat/statistic, owner by owner).
    group_chats = models.PositiveIntegerField(default=0, help_text="groups owned")
    active_groups = models.PositiveIntegerField(default=0, help_text="of them, groups with messages")
    group_members = models.PositiveIntegerField(default=0)
    active_members = models.PositiveIntegerField(default=0, help_text="members who sent messages")
    group_messages = models.PositiveIntegerField(default=0)
    groups_pulled_at = models.DateTimeField(null=True, blank=True, help_text="empty: the group figures are still to pull")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["staff", "day"], name="staffday_unique_day")]
        indexes = [models.Index(fields=["corp", "day"])]


class Handover(CorpOwned, DueFields, PullFields):
    """A staff member's customers (and groups) handed to another: on the job (在职转接) or after
    they left (离职继承). Sent to WeCom 100 customers a call (due work), then WeCom's answers pulled
    (`transfer_result`, pull_*) until every customer is taken over, refused or failed."""

    class Status(models.TextChoices):
        DUE = "due", _("Waiting to send")
        SENDING = "sending", _("Sending to WeCom")
        WAITING = "waiting", _("Waiting for the customers")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    handover_staff = models.ForeignKey("corps.Staff", on_delete=models.CASCADE, related_name="+")
    takeover_staff = models.ForeignKey("corps.Staff", on_delete=models.CASCADE, related_name="+")
    resigned = models.BooleanField(help_text="the member has left (WeCom's resigned/ endpoints)")
    message = models.CharField(max_length=200, blank=True, default="", help_text="what customers are told (on the job only)")
    groups = models.BooleanField(default=False, help_text="their customer groups go to the taker too")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DUE)
    created_by = models.ForeignKey("corps.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    customers = models.PositiveIntegerField(default=0)
    over_limit = models.PositiveIntegerField(default=0, help_text="refused before WeCom: moved twice in 90 days already")
    groups_moved = models.PositiveIntegerField(default=0)
    groups_failed = models.JSONField(default=list, blank=True, help_text="[{chat_id, errcode}] WeCom refused")

    class Meta:
        indexes = [models.Index(fields=["corp", "-created_at"]), models.Index(fields=["status", "due_at"]), models.Index(fields=["pull_status", "pull_due_at"])]


class HandoverItem(CorpOwned):
    """One customer of a handover, and what became of them."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("To send")
        SENDING = "sending", _("Sending")
        OVER_LIMIT = "limit", _("Moved twice in 90 days already")
        REFUSED_BY_WECOM = "rejected", _("WeCom refused")
        WAITING = "waiting", _("Waiting for the customer")
        DONE = "done", _("Taken over")
        REFUSED = "refused", _("The customer refused")
        TAKER_FULL = "full", _("The taker has too many customers")

    handover = models.ForeignKey(Handover, on_delete=models.CASCADE, related_name="items")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    errcode = models.IntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="when WeCom took it: the 90 days count from here")
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["handover", "customer"], name="handoveritem_unique_customer")]
        indexes = [models.Index(fields=["handover", "status"]), models.Index(fields=["customer", "sent_at"])]
