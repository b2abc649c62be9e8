"""Journeys (客户旅程) and SOPs: an entry trigger and a graph of steps, versioned; each customer's
way through one version is an enrollment, due work of its own (kit.due)."""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from siyu.kit.tenancy import CorpOwned
from siyu.messaging.models import DueFields


class Journey(CorpOwned):
    """What operators edit: the draft definition and its problems, and the version customers walk."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ACTIVE = "active", pgettext_lazy("journey", "Active")
        PAUSED = "paused", _("Paused")
        ARCHIVED = "archived", _("Archived")

    name = models.CharField(max_length=64)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT)
    definition = models.JSONField(default=dict, help_text="the draft: trigger, audience, re-entry, goal, exits, holdout, steps")
    problems = models.JSONField(default=list, blank=True, help_text="what keeps the draft from going live: [{field, code, message}]")
    live_version = models.ForeignKey("JourneyVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Denormalised from the live version, so an event finds the journeys it starts with one indexed read.
    trigger_kind = models.CharField(max_length=16, blank=True, default="")
    trigger_event = models.CharField(max_length=20, blank=True, default="")
    alert = models.CharField(max_length=300, blank=True, default="", help_text="why the journey paused itself")
    secret = models.CharField(max_length=64, blank=True, default="", help_text="signs its webhook calls")
    forecast = models.JSONField(default=dict, blank=True, help_text="the last rehearsal's report")
    template = models.CharField(max_length=32, blank=True, default="", help_text="the playbook it was installed from")
    created_by = models.ForeignKey("corps.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Scheduled entry (plan, dates, segments, data): kit.due on entry_* fields, due at the next pass.
    entry_status = models.CharField(max_length=8, default="idle")
    entry_due_at = models.DateTimeField(null=True, blank=True)
    entry_claimed_at = models.DateTimeField(null=True, blank=True)
    entry_lease_until = models.DateTimeField(null=True, blank=True)
    entry_attempts = models.PositiveSmallIntegerField(default=0)
    entry_error = models.TextField(blank=True, default="")
    entry_task_id = models.CharField(max_length=64, blank=True, default="")
    entered_at = models.DateTimeField(null=True, blank=True, help_text="the last scheduled pass")

    class Meta:
        indexes = [
            models.Index(fields=["corp", "status", "trigger_event"]),
            models.Index(fields=["entry_status", "entry_due_at"]),
        ]

    def __str__(self) -> str:
        return self.name


class JourneyVersion(CorpOwned):
    """A definition as it went live; never edited, so customers mid-way finish the one they began."""

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    definition = models.JSONField()
    created_by = models.ForeignKey("corps.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["journey", "number"], name="journeyversion_unique_number")]


class Enrollment(CorpOwned, DueFields):
    """One customer on one journey: the step they are at, due when it is to run. Holdout
    enrollments take no step; they are there to measure conversion against.

    A million of these are written in a pass and each is updated at every step: indexes are only
    those reads need (every update of a step writes each one again), and the database checks no
    foreign keys (the engine writes them from rows it read; deletes go through Django's on_delete)."""

    class Status(models.TextChoices):
        WAITING = "waiting", _("In progress")
        RUNNING = "running", _("Running")
        DONE = "done", _("Finished")
        EXITED = "exited", _("Exited")
        HOLDOUT = "holdout", _("Holdout")
        FAILED = "failed", _("Failed")

    corp = models.ForeignKey("corps.Corp", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="enrollments", db_index=False, db_constraint=False)
    version = models.ForeignKey(JourneyVersion, on_delete=models.CASCADE, related_name="enrollments", db_index=False, db_constraint=False)
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    staff = models.ForeignKey("corps.Staff", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False, db_constraint=False)
    entry_key = models.CharField(max_length=64, help_text="the trigger's occasion (an event, a day): the same occasion enrolls once")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.WAITING)
    step = models.CharField(max_length=32, blank=True, default="", help_text="the step to run when due; empty once finished")
    waiting_for = models.CharField(max_length=20, blank=True, default="", help_text="a wait-for-event step's event")
    event_seen = models.BooleanField(default=False)
    entered_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    exit_reason = models.CharField(max_length=20, blank=True, default="")
    converted_at = models.DateTimeField(null=True, blank=True, help_text="the goal reached (an order within its days)")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["journey", "customer", "entry_key"], name="enrollment_unique_occasion")]
        indexes = [
            # Partial: the walks still to run, the only rows claimed by due time. A finished walk
            # leaves it (its last update writes no entry), so it stays the size of what is under way.
            models.Index(fields=["status", "due_at"], condition=models.Q(status__in=["waiting", "running", "failed"]), name="enrollment_due"),
            models.Index(fields=["customer", "status"]),
            models.Index(fields=["journey", "status", "step"]),
        ]


class Arrival(CorpOwned):
    """An add that starts journeys, recorded in the callback's transaction and enrolled by the
    engine's next pass (seconds later, `engine.arrivals_enter`): one narrow row on the path of every
    add callback instead of an enrollment per journey it starts, each with its indexes."""

    corp = models.ForeignKey("corps.Corp", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    staff = models.ForeignKey("corps.Staff", null=True, on_delete=models.SET_NULL, related_name="+", db_index=False, db_constraint=False)
    journey_ids = models.TextField(help_text="the journeys it starts, comma-separated")
    entry_key = models.CharField(max_length=64)
    at = models.DateTimeField()
    new_customer = models.BooleanField(default=False, help_text="created by this add: no earlier walks to read")


class StepRun(CorpOwned):
    """A step done for one enrollment, with its outcome: written with the step's effects in one
    transaction, and at most one per (enrollment, step), so a step runs once. Written by the
    million, with Enrollment's rule: the indexes reads need, no foreign keys checked."""

    corp = models.ForeignKey("corps.Corp", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="runs", db_index=False, db_constraint=False)
    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    version = models.ForeignKey(JourneyVersion, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    step = models.CharField(max_length=32)
    outcome = models.CharField(max_length=20, help_text="done, yes/no, a path, timeout/event, budget, late, skipped")
    at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["enrollment", "step"], name="steprun_once")]
        indexes = [models.Index(fields=["version", "step", "outcome"])]


class Bundle(CorpOwned, DueFields):
    """The customers a send or task step reached for one sending time: one mass send (one WeCom
    task per staff member) or one guide task, instead of one per customer."""

    class Status(models.TextChoices):
        DUE = "due", _("Collecting")
        MAKING = "making", _("Making")
        MADE = "made", _("Made")
        FAILED = "failed", _("Failed")

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="bundles")
    version = models.ForeignKey(JourneyVersion, on_delete=models.CASCADE, related_name="+")
    step = models.CharField(max_length=32)
    kind = models.CharField(max_length=6, help_text="send or task")
    send_at = models.DateTimeField()
    customers = models.ForeignKey("messaging.CustomerList", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DUE)
    mass_send = models.ForeignKey("messaging.MassSend", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    guide_task = models.ForeignKey("guides.GuideTask", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    outcome = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "step", "send_at"], name="bundle_unique_time")]
        indexes = [models.Index(fields=["status", "due_at"])]


class Call(CorpOwned, DueFields):
    """A staff notice (app message) or a call to the brand's system (a signed webhook) a step made."""

    class Status(models.TextChoices):
        DUE = "due", _("Due")
        CALLING = "calling", _("Calling")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="calls")
    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="+", db_index=False)
    step = models.CharField(max_length=32)
    kind = models.CharField(max_length=8, help_text="notify or webhook")
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DUE)
    answered = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["status", "due_at"])]


class GroupSop(CorpOwned):
    """A group SOP (群 SOP): a weekly calendar for a layer of customer groups, each slot made, on
    its day, into a group-send task for the groups' owners (reminders, completion and punctuality
    as any guide task's)."""

    class Status(models.TextChoices):
        ACTIVE = "active", pgettext_lazy("journey", "Active")
        PAUSED = "paused", _("Paused")

    name = models.CharField(max_length=64)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PAUSED)
    layer = models.JSONField(default=dict, help_text="which groups: {group_ids, name_contains} (the group sends' audience)")
    slots = models.JSONField(default=list, help_text="[{key, weekday 1–7, at HH:MM, title, text, attachments, hours}]")
    template = models.CharField(max_length=32, blank=True, default="")
    created_by = models.ForeignKey("corps.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name


class GroupSopRun(CorpOwned):
    """One slot on one day: its guide task, made once (unique), or why none was."""

    sop = models.ForeignKey(GroupSop, on_delete=models.CASCADE, related_name="runs")
    slot = models.CharField(max_length=32)
    day = models.DateField()
    starts_at = models.DateTimeField()
    guide_task = models.ForeignKey("guides.GuideTask", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    outcome = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sop", "slot", "day"], name="groupsoprun_once")]
        indexes = [models.Index(fields=["sop", "day"])]


class BrandDate(CorpOwned):
    """The brand's own dates for holiday triggers (会员日, the brand's anniversary): every year on
    its month and day, or once."""

    name = models.CharField(max_length=40)
    month = models.PositiveSmallIntegerField()
    day = models.PositiveSmallIntegerField()
    year = models.PositiveSmallIntegerField(null=True, blank=True, help_text="once, in this year; empty: every year")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["corp", "name"], name="branddate_unique_name")]

    def __str__(self) -> str:
        return self.name
