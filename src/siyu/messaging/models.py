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


class DueFields(models.Model):
    """The fields kit.due keeps on a row that waits for its time or its worker (status is the row's own)."""

    due_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    task_id = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        abstract = True


class PullFields(models.Model):
    """Results pulled from WeCom until the row closes (mass_sends.result_pulls)."""

    pull_status = models.CharField(max_length=10, default="idle")
    pull_due_at = models.DateTimeField(null=True, blank=True)
    pull_claimed_at = models.DateTimeField(null=True, blank=True)
    pull_lease_until = models.DateTimeField(null=True, blank=True)
    pull_attempts = models.PositiveSmallIntegerField(default=0)
    pull_error = models.TextField(blank=True, default="")
    pull_task_id = models.CharField(max_length=64, blank=True, default="")
    pulled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class ContactPolicy(CorpOwned):
    """How much a customer may be messaged: WeCom's receive cap for corp mass sends (the rule the
    corp's admin chose in 群发助手) and the brand's own stricter budget and quiet hours."""

    class Cap(models.TextChoices):
        MONTH_DAYS = "month_days", _("As many a month as the month has days")
        WEEK_7 = "week_7", _("7 a week")
        DAY_1 = "day_1", _("1 a day")

    wecom_cap = models.CharField(max_length=12, choices=Cap.choices, default=Cap.MONTH_DAYS)
    max_per_week = models.PositiveSmallIntegerField(null=True, blank=True, help_text="messages in any 7 days")
    min_gap_hours = models.PositiveSmallIntegerField(null=True, blank=True, help_text="hours after the last message")
    quiet_start = models.TimeField(null=True, blank=True)
    quiet_end = models.TimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp"], name="contactpolicy_one_per_corp")]


class MassSend(CorpOwned, DueFields, PullFields):
    """A mass send (群发): HQ's message for customers, turned into one WeCom task per staff member
    that each confirms in 群发助手. Counters are kept here so lists need no aggregate query."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        PLANNING = "planning", _("Preparing")
        SENDING = "sending", _("Waiting for staff")
        CLOSED = "closed", _("Closed")
        CANCELLING = "cancelling", _("Cancelling")
        CANCELLED = "cancelled", _("Cancelled")
        FAILED = "failed", _("Failed")

    class ChatType(models.TextChoices):
        CUSTOMERS = "single", _("Customers")
        GROUPS = "group", _("Customer groups")

    name = models.CharField(max_length=64)
    chat_type = models.CharField(max_length=6, choices=ChatType.choices, default=ChatType.CUSTOMERS)
    text = models.TextField(blank=True, default="")
    attachments = models.JSONField(default=list, blank=True)
    audience = models.JSONField(default=dict, help_text="how the customers (or groups) were chosen: segment, filters, a list, groups")
    staff_ids = models.JSONField(default=list, blank=True, help_text="only these senders (with departments; none: every staff member)")
    department_ids = models.JSONField(default=list, blank=True, help_text="only staff in these departments or below them")
    send_at = models.DateTimeField()
    created_by = models.ForeignKey("corps.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # Planning (audience, budget, split) is due work of its own, at send_at.
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.SCHEDULED)
    # Results are pulled from WeCom often at first, then less, until the send closes.
    pulls = models.PositiveIntegerField(default=0)
    closes_at = models.DateTimeField(null=True, blank=True)
    # Counters.
    audience_total = models.PositiveIntegerField(default=0)
    planned = models.PositiveIntegerField(default=0)
    skipped = models.JSONField(default=dict, blank=True, help_text="customers left out, by reason")
    tasks_total = models.PositiveIntegerField(default=0)
    tasks_created = models.PositiveIntegerField(default=0)
    tasks_failed = models.PositiveIntegerField(default=0)
    tasks_sent = models.PositiveIntegerField(default=0)
    sent = models.PositiveIntegerField(default=0)
    not_friend = models.PositiveIntegerField(default=0)
    over_cap = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["corp", "-created_at"]), models.Index(fields=["status", "due_at"]), models.Index(fields=["pull_status", "pull_due_at"])]

    @property
    def skipped_by_budget(self) -> int:
        """Customers the contact-pressure budget left out (not those no sender follows)."""
        return sum(n for reason, n in (self.skipped or {}).items() if reason != "no_sender")


class MassSendTask(CorpOwned, DueFields):
    """One WeCom task: one sender and at most 10,000 of their customers (add_msg_template).

    WeCom's call is not idempotent: `attempted_at` is set (committed) before calling, so a worker
    that finds it set looks for the task WeCom may already have made before making another."""

    class Status(models.TextChoices):
        DUE = "due", _("To create")
        CREATING = "creating", _("Creating")
        CREATED = "created", _("Waiting for the staff member")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    send = models.ForeignKey(MassSend, on_delete=models.CASCADE, related_name="tasks")
    staff = models.ForeignKey("corps.Staff", on_delete=models.CASCADE, related_name="+")
    part = models.PositiveSmallIntegerField(default=0, help_text="0, 1, …: a sender's customers beyond 10,000 go in further parts")
    recipients = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DUE)
    attempted_at = models.DateTimeField(null=True, blank=True)
    msgid = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(null=True, blank=True, help_text="when WeCom made the task")
    sent_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.JSONField(default=list, blank=True, help_text="times WeCom reminded the staff member (3 in 24 h at most)")
    app_reminded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["send", "staff", "part"], name="masssendtask_unique_part")]
        indexes = [models.Index(fields=["status", "due_at"]), models.Index(fields=["send", "status"])]


class Delivery(CorpOwned):
    """One message Siyu caused to reach one customer: a mass send's recipient with WeCom's result,
    and the ledger the contact-pressure budget counts (journeys and campaigns will write here too)."""

    class Status(models.TextChoices):
        PLANNED = "planned", _("Waiting for the staff member")
        SENT = "sent", _("Sent")
        NOT_FRIEND = "not_friend", _("Not a contact any more")
        OVER_CAP = "over_cap", _("Over WeCom's receive limit")
        UNSENT = "unsent", _("Never sent")

    # A send writes millions of these in one statement, and what each row costs is multiplied:
    # - indexes: the single-column foreign-key ones are left out where a composite index below
    #   starts with the same column; staff rows are never deleted (a member who leaves is marked),
    #   so SET_NULL needs none;
    # - foreign-key constraints: checked row by row at commit (five lookups a row, two thirds of a
    #   3-million-row planning). The rows are written only by the planner, from the joined rows
    #   themselves, and deletes reach them through Django's on_delete, so the database is not
    #   asked to check again.
    corp = models.ForeignKey("corps.Corp", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    send = models.ForeignKey(MassSend, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries", db_index=False, db_constraint=False)
    task = models.ForeignKey(MassSendTask, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries", db_index=False, db_constraint=False)
    staff = models.ForeignKey("corps.Staff", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False, db_constraint=False)
    external_userid = models.CharField(max_length=64)
    planned_at = models.DateTimeField(help_text="when it counts against the customer's budget")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PLANNED)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["customer", "planned_at"]),
            models.Index(fields=["corp", "planned_at"]),
            models.Index(fields=["task", "external_userid"]),
            models.Index(fields=["send", "status"]),  # the send's counters
        ]


class StaffSend(CorpOwned):
    """A mass send a staff member made on their own in WeCom (create_type 1), mirrored from
    get_groupmsg_list_v2 so that a member's activity counts what they did unasked too."""

    msgid = models.CharField(max_length=64)
    creator = models.CharField(max_length=64)
    staff = models.ForeignKey("corps.Staff", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    chat_type = models.CharField(max_length=8, default="single")
    text = models.CharField(max_length=500, blank=True, default="")
    attachments = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp", "msgid"], name="staffsend_unique_msgid")]
        indexes = [models.Index(fields=["corp", "created_at"])]


class GroupDelivery(CorpOwned):
    """One message Siyu caused in one customer group: a group send's recipient with WeCom's
    result, and the ledger WeCom's receive cap for groups is counted on."""

    group = models.ForeignKey("groups.CustomerGroup", on_delete=models.CASCADE, related_name="+")
    send = models.ForeignKey(MassSend, on_delete=models.CASCADE, related_name="group_deliveries")
    task = models.ForeignKey(MassSendTask, on_delete=models.CASCADE, related_name="group_deliveries")
    staff = models.ForeignKey("corps.Staff", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    chat_id = models.CharField(max_length=64)
    planned_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Delivery.Status.choices, default=Delivery.Status.PLANNED)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["group", "planned_at"]), models.Index(fields=["task", "chat_id"])]


class Moment(CorpOwned, DueFields, PullFields):
    """A customer-moments task (客户朋友圈): HQ's post that each executor publishes to their
    customers' feed from WeCom. Likes and comments come back and can tag who made them."""

    class Status(models.TextChoices):
        DUE = "due", _("To create")
        CREATING = "creating", _("Creating")
        CREATED = "created", _("Waiting for staff")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")
        CLOSED = "closed", _("Closed")

    text = models.TextField(blank=True, default="")
    attachments = models.JSONField(default=list, blank=True)
    staff_ids = models.JSONField(default=list, blank=True)
    department_ids = models.JSONField(default=list, blank=True)
    tag_ids = models.JSONField(default=list, blank=True, help_text="shown only to customers with one of these corp tags")
    like_tag = models.ForeignKey("tags.Tag", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    comment_tag = models.ForeignKey("tags.Tag", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey("corps.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DUE)
    attempted_at = models.DateTimeField(null=True, blank=True)
    jobid = models.CharField(max_length=64, blank=True, default="")
    moment_id = models.CharField(max_length=64, blank=True, default="")
    invalid_senders = models.JSONField(default=list, blank=True)
    executors = models.PositiveIntegerField(default=0)
    published = models.PositiveIntegerField(default=0)
    reached = models.PositiveIntegerField(default=0)
    likes = models.PositiveIntegerField(default=0)
    comments = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["corp", "-created_at"]), models.Index(fields=["status", "due_at"]), models.Index(fields=["pull_status", "pull_due_at"])]


class MomentExecutor(CorpOwned):
    moment = models.ForeignKey(Moment, on_delete=models.CASCADE, related_name="executor_rows")
    staff = models.ForeignKey("corps.Staff", on_delete=models.CASCADE, related_name="+")
    published = models.BooleanField(default=False)
    reached = models.PositiveIntegerField(default=0)
    reminded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["moment", "staff"], name="momentexecutor_unique")]


class MomentReaction(CorpOwned):
    """A customer liked or commented on a staff member's published moment."""

    class Kind(models.TextChoices):
        LIKE = "like", _("Like")
        COMMENT = "comment", _("Comment")

    moment = models.ForeignKey(Moment, on_delete=models.CASCADE, related_name="reactions")
    staff = models.ForeignKey("corps.Staff", on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey("customers.Customer", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    external_userid = models.CharField(max_length=64)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["moment", "staff", "external_userid", "kind"], name="momentreaction_unique")]


class CustomerList(CorpOwned):
    """A list of customers a send or a task goes to, kept as rows (a journey's bundle of a day can
    hold millions; a JSON list of ids could not)."""

    name = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)


class CustomerListMember(models.Model):
    # No foreign key checked: a journey's step lists thousands of customers a statement.
    customers = models.ForeignKey(CustomerList, on_delete=models.CASCADE, related_name="members", db_index=False, db_constraint=False)
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["customers", "customer"], name="customerlistmember_unique")]


class ContentFolder(CorpOwned):
    """A folder of the content library (素材库)."""

    name = models.CharField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp", "name"], name="contentfolder_unique_name")]

    def __str__(self) -> str:
        return self.name


class ContentItem(CorpOwned):
    """One piece of the content library: an article Siyu hosts, a poster, an image, a video, a file,
    a link or a mini-program card. Sent as a link card whose address is tracked per sender and
    send (a mini-program card opens in WeChat, where Siyu cannot see it)."""

    class Kind(models.TextChoices):
        ARTICLE = "article", _("Article")
        POSTER = "poster", _("Poster")
        IMAGE = "image", _("Image")
        VIDEO = "video", _("Video")
        FILE = "file", _("File")
        LINK = "link", _("Link")
        MINIPROGRAM = "miniprogram", _("Mini-program")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        ARCHIVED = "archived", _("Archived")

    folder = models.ForeignKey(ContentFolder, null=True, blank=True, on_delete=models.SET_NULL, related_name="items")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    title = models.CharField(max_length=64)
    summary = models.CharField(max_length=170, blank=True, default="", help_text="the link card's description")
    body = models.TextField(blank=True, default="", help_text="an article's text: HTML, cleaned when saved")
    cover = models.ForeignKey(Media, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="the link card's picture")
    media = models.ForeignKey(Media, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="a poster's, image's, video's or file")
    url = models.URLField(max_length=2048, blank=True, default="")
    appid = models.CharField(max_length=64, blank=True, default="")
    page = models.CharField(max_length=1024, blank=True, default="")
    tags = models.JSONField(default=list, blank=True, help_text="the library's own tags (辅食, 新品 …): what interest rules count")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    created_by = models.ForeignKey("corps.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["corp", "status", "folder"])]

    def __str__(self) -> str:
        return self.title
