"""Acquisition: channels, live codes and how each scan is routed, welcome messages, attribution."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from siyu.kit.tenancy import CorpOwned


class Channel(CorpOwned):
    """Where customers come from (渠道): one or more live codes belong to it."""

    class Group(models.TextChoices):
        WEBSITE = "website", _("Website")
        STORE = "store", _("Store")
        GROUND_PUSH = "ground_push", _("Ground push")
        PARCEL_CARD = "parcel_card", _("Parcel card")
        CONTENT = "content", _("Content platform")
        ADS = "ads", _("Ads")
        EVENT = "event", _("Event")
        OTHER = "other", _("Other")

    name = models.CharField(max_length=64)
    group = models.CharField(max_length=16, choices=Group.choices, default=Group.OTHER)
    created_at = models.DateTimeField(auto_now_add=True)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp", "name"], condition=Q(archived_at__isnull=True), name="channel_unique_live_name")]

    def __str__(self) -> str:
        return self.name


class ChannelCost(CorpOwned):
    """Money spent on a channel on one day (fen), for cost per add."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="costs")
    day = models.DateField()
    amount_fen = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel", "day"], name="channelcost_unique_day")]


class LiveCode(CorpOwned):
    """A channel live code (渠道活码): one QR code whose scans Siyu routes to staff by rules.

    `state` is the short code WeCom hands back with every add through this code; it is how a new
    follow is attributed to the code and its channel.
    """

    class Mode(models.TextChoices):
        # WeCom's contact way lists the staff; WeCom rotates among them and Siyu edits the list.
        WECOM_LIST = "wecom_list", _("WeCom list")
        # A Siyu page behind the QR picks the staff at scan time and shows that staff's own code.
        EXACT = "exact", _("Exact (landing page)")

    class Routing(models.TextChoices):
        ROTATE = "rotate", _("In turn")
        WEIGHTED = "weighted", _("Weighted random")
        LEAST_LOADED = "least_loaded", _("Least loaded today")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        PAUSED = "paused", _("Paused")
        DELETED = "deleted", _("Deleted")

    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="live_codes")
    name = models.CharField(max_length=64)
    state = models.CharField(max_length=30)
    mode = models.CharField(max_length=12, choices=Mode.choices, default=Mode.WECOM_LIST)
    routing = models.CharField(max_length=14, choices=Routing.choices, default=Routing.ROTATE)
    total_cap = models.PositiveIntegerField(null=True, blank=True)
    # Weekly slots, date ranges and holidays in the corp's timezone (schedule.py); {} = always on.
    schedule = models.JSONField(default=dict, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    skip_verify = models.BooleanField(default=True)
    tags = models.ManyToManyField("tags.Tag", blank=True, related_name="+")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    turn = models.PositiveBigIntegerField(default=0, help_text="scans routed so far, for in-turn routing")
    # The WeCom side (list mode): the contact way and the user list last pushed to it.
    config_id = models.CharField(max_length=64, blank=True, default="")
    qr_url = models.URLField(max_length=500, blank=True, default="")
    qr_content = models.CharField(max_length=500, blank=True, default="", help_text="what WeCom's QR image encodes")
    pushed_users = models.JSONField(default=list, blank=True)
    pushed_at = models.DateTimeField(null=True, blank=True)
    push_error = models.CharField(max_length=300, blank=True, default="")
    # kit.due: bringing WeCom in step after a save (or when the list must change), retried with backoff.
    push_status = models.CharField(max_length=8, default="done")
    push_due_at = models.DateTimeField(null=True, blank=True)
    push_claimed_at = models.DateTimeField(null=True, blank=True)
    push_lease_until = models.DateTimeField(null=True, blank=True)
    push_attempts = models.PositiveSmallIntegerField(default=0)
    push_task_id = models.CharField(max_length=64, blank=True, default="")
    # Nobody may take customers right now (all capped/offline, no backup): the code still works
    # in WeCom with its last list, and the console warns.
    overflowing = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp", "state"], name="livecode_unique_state")]

    def __str__(self) -> str:
        return self.name


class LiveCodeMember(CorpOwned):
    """A staff member, or a whole department, in a live code's pool."""

    live_code = models.ForeignKey(LiveCode, on_delete=models.CASCADE, related_name="members")
    staff = models.ForeignKey("corps.Staff", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    department = models.ForeignKey("corps.Department", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    weight = models.PositiveIntegerField(default=1)
    daily_cap = models.PositiveIntegerField(null=True, blank=True, help_text="per staff member, per day")
    backup = models.BooleanField(default=False, help_text="used only when every primary member is capped or offline")
    schedule = models.JSONField(default=dict, blank=True, help_text="overrides the live code's schedule for this member")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(staff__isnull=False) | Q(department__isnull=False), name="livecodemember_staff_or_department"),
            models.CheckConstraint(condition=Q(weight__gte=1), name="livecodemember_weight_positive"),
        ]


class LiveCodeStaffWay(CorpOwned):
    """Exact mode: the single-person contact way shown for one staff member of a live code."""

    live_code = models.ForeignKey(LiveCode, on_delete=models.CASCADE, related_name="staff_ways")
    staff = models.ForeignKey("corps.Staff", on_delete=models.CASCADE, related_name="+")
    config_id = models.CharField(max_length=64)
    qr_url = models.URLField(max_length=500)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["live_code", "staff"], name="livecodestaffway_unique")]


class LiveCodeDay(CorpOwned):
    """Per live code, staff and day (corp timezone): landing-page picks and attributed adds.

    Caps count adds, in both modes: an add is what WeCom counts and what a guide has to serve. A
    pick (a landing page showing a guide) is a statistic and, while its LiveCodeHold lasts,
    steers the next pick elsewhere; a page view alone never closes a guide or a code.
    """

    live_code = models.ForeignKey(LiveCode, on_delete=models.CASCADE, related_name="days")
    staff = models.ForeignKey("corps.Staff", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    picks = models.PositiveIntegerField(default=0)
    adds = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["live_code", "staff", "day"], name="livecodeday_unique")]


class LiveCodeHold(CorpOwned):
    """Exact mode: a guide shown on a landing page, holding a place under their cap until the
    visitor adds them (the add takes the hold) or the hold expires (SIYU_LIVE_CODE_HOLD_MINUTES).

    Holds keep a burst of scans from all landing on one guide before their adds arrive; they only
    steer: when every open seat is held, the next visitor still gets one (caps count adds)."""

    live_code = models.ForeignKey(LiveCode, on_delete=models.CASCADE, related_name="holds")
    staff = models.ForeignKey("corps.Staff", on_delete=models.CASCADE, related_name="+")
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["live_code", "expires_at"])]


class Acquisition(CorpOwned):
    """A new follow and where it came from: the fact table of channel statistics."""

    follow = models.ForeignKey("customers.Follow", on_delete=models.CASCADE, related_name="acquisitions")
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    staff = models.ForeignKey("corps.Staff", on_delete=models.CASCADE, related_name="+")
    live_code = models.ForeignKey(LiveCode, null=True, blank=True, on_delete=models.SET_NULL, related_name="acquisitions")
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.SET_NULL, related_name="acquisitions")
    state = models.CharField(max_length=30, blank=True, default="")
    campaign_id = models.CharField(max_length=64, blank=True, default="")
    lead = models.ForeignKey("Lead", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    added_at = models.DateTimeField()
    day = models.DateField(help_text="added_at's date in the corp's timezone")
    # The relationship this add began ended (either side deleted): churn within 1 or 7 days is
    # counted from `lost_after_s` so the statistics need no date arithmetic in SQL.
    lost_at = models.DateTimeField(null=True, blank=True)
    lost_by = models.CharField(max_length=8, blank=True, default="", help_text="staff or customer")
    lost_after_s = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["follow", "added_at"], name="acquisition_unique_follow_add")]
        indexes = [models.Index(fields=["corp", "day"]), models.Index(fields=["channel", "day"]), models.Index(fields=["live_code", "day"])]


class LeadForm(CorpOwned):
    """A lead form (留资): a public mobile page that asks for a phone and a few answers, then shows
    the code of the staff member it routes to. `fields`: [{key, label, type, required, options}]
    with type phone (always present, key "phone"), city, text, select, date or number."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        PAUSED = "paused", _("Paused")

    name = models.CharField(max_length=64)
    slug = models.CharField(max_length=24)
    title = models.CharField(max_length=100, blank=True, default="")
    intro = models.TextField(blank=True, default="")
    fields = models.JSONField(default=list)
    live_code = models.ForeignKey(LiveCode, on_delete=models.PROTECT, related_name="+", help_text="exact-mode code whose pool takes the leads")
    # city answer -> the live code (a store's pool) that takes leads from that city.
    city_routes = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["slug"], name="leadform_unique_slug")]

    def __str__(self) -> str:
        return self.name


class Lead(CorpOwned):
    """One submitted form. Its `state` is on the temporary contact way shown to this visitor, so
    the add callback that carries it says exactly whose answers these are."""

    form = models.ForeignKey(LeadForm, on_delete=models.CASCADE, related_name="leads")
    phone = models.CharField(max_length=20)
    city = models.CharField(max_length=32, blank=True, default="")
    answers = models.JSONField(default=dict)
    ip = models.GenericIPAddressField(null=True, blank=True)
    # The ad campaign the visitor came from (?campaign= or ?utm_campaign= on the form's link).
    campaign_id = models.CharField(max_length=64, blank=True, default="")
    state = models.CharField(max_length=30)
    live_code = models.ForeignKey(LiveCode, on_delete=models.SET_NULL, null=True, related_name="leads")
    staff = models.ForeignKey("corps.Staff", on_delete=models.SET_NULL, null=True, related_name="+")
    config_id = models.CharField(max_length=64, blank=True, default="")
    qr_url = models.URLField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    customer = models.ForeignKey("customers.Customer", on_delete=models.SET_NULL, null=True, blank=True, related_name="leads")
    matched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp", "state"], name="lead_unique_state")]
        indexes = [models.Index(fields=["form", "phone", "created_at"]), models.Index(fields=["form", "ip", "created_at"])]


class StaffPacing(CorpOwned):
    """How many add-friend tasks a staff member's WeCom account may take a day (养号): a newly
    opened account is limited harder, or WeCom restricts it."""

    staff = models.OneToOneField("corps.Staff", on_delete=models.CASCADE, related_name="pacing")
    daily_limit = models.PositiveIntegerField(null=True, blank=True, help_text="overrides the batch's limit")
    account_opened_on = models.DateField(null=True, blank=True, help_text="when the WeCom account was opened")


class PhoneImport(CorpOwned):
    """A batch of phone numbers turned into add-friend tasks (手机号拓客). A console upload waits
    for the worker (queued, running) with its file, which is dropped once read; it ends imported
    whole, or rejected whole with the problem rows, or failed (its tasks removed)."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Importing")
        IMPORTED = "imported", _("Imported")
        REJECTED = "rejected", _("Rejected")
        FAILED = "failed", _("Failed")

    name = models.CharField(max_length=64)
    file_name = models.CharField(max_length=200, blank=True, default="")
    created_by = models.ForeignKey("corps.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    daily_limit = models.PositiveIntegerField(default=20, help_text="tasks per staff member per day")
    new_account_limit = models.PositiveIntegerField(default=5, help_text="… for an account opened within new_account_days")
    new_account_days = models.PositiveIntegerField(default=30)
    work_start = models.TimeField()
    work_end = models.TimeField()
    first_day = models.DateField()
    rows = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.IMPORTED)
    # What the worker needs: the file (in the database, so a worker on another machine reads it),
    # the staff to share rows among and whether existing customers are skipped.
    upload = models.BinaryField(null=True, blank=True)
    staff_ids = models.JSONField(default=list, blank=True)
    skip_existing = models.BooleanField(default=False)
    skipped = models.PositiveIntegerField(default=0, help_text="rows skipped as existing customers")
    phase = models.CharField(max_length=8, blank=True, default="", help_text="check or write, while running")
    progress_done = models.IntegerField(default=0)
    progress_total = models.IntegerField(default=0)
    error = models.TextField(blank=True, default="")
    errors = models.JSONField(default=list, blank=True, help_text="a rejected file's problem rows")
    # kit.due (the lease is updated_at, which every written batch moves).
    updated_at = models.DateTimeField(auto_now=True)
    due_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    task_id = models.CharField(max_length=64, blank=True, default="")


class AddTask(CorpOwned):
    """Add this phone number as a friend, on this staff member's account, at about this time."""

    class Status(models.TextChoices):
        PENDING = "pending", _("To add")
        REQUESTED = "requested", _("Request sent")  # the guide did their part; the customer has not accepted yet
        DONE = "done", _("Added")
        CANCELLED = "cancelled", _("Cancelled")

    # Waiting for the customer: an add of this phone completes the task.
    OPEN = (Status.PENDING, Status.REQUESTED)

    batch = models.ForeignKey(PhoneImport, on_delete=models.CASCADE, related_name="tasks")
    phone = models.CharField(max_length=20)
    name = models.CharField(max_length=64, blank=True, default="")
    tags = models.ManyToManyField("tags.Tag", blank=True, related_name="+")
    staff = models.ForeignKey("corps.Staff", on_delete=models.CASCADE, related_name="add_tasks")
    due_day = models.DateField()
    due_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    done_at = models.DateTimeField(null=True, blank=True)
    requested_at = models.DateTimeField(null=True, blank=True)
    customer = models.ForeignKey("customers.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["batch", "phone"], name="addtask_unique_phone_in_batch")]
        indexes = [models.Index(fields=["corp", "phone", "status"]), models.Index(fields=["staff", "due_day"])]
