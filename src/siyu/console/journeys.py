"""Journeys in the console: the list, the catalog of playbooks, the editor (settings and trigger,
then the steps as a tree, each step edited in a form of its own kind), and a journey's page (its
problems, per-step counts, conversion against the holdout, forecast and actual, versions)."""

from __future__ import annotations

import re
from datetime import date, timedelta

from django import forms
from django.contrib import messages
from django.forms.utils import ErrorDict
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from siyu.analytics import flash
from siyu.analytics.models import Segment
from siyu.analytics.rfm import CLASSES
from siyu.customers.models import CustomField, LifecycleStage
from siyu.engagement.models import CouponTemplate
from siyu.groups.models import CustomerGroup, GroupCode
from siyu.journeys import catalog, dates, selectors, services
from siyu.journeys.definition import EVENTS, MAX_AWARD, PLACEHOLDER, STEP_KINDS, WAIT_EVENTS, next_keys
from siyu.journeys.models import BrandDate, Journey
from siyu.journeys.rehearsal import actual_by_day, rehearse
from siyu.kit.clock import now
from siyu.kit.errors import InvalidInput
from siyu.kit.pagination import keyset_page
from siyu.kit.tenancy import get_for
from siyu.tags.models import Tag

from .access import console_view, saved_or_form_error
from .fields import WholeField

EVENT_LABELS = {
    "contact_added": gettext_lazy("A customer added a staff member"),
    "lead_submitted": gettext_lazy("A lead form's visitor added their guide"),
    "tag_added": gettext_lazy("A tag was added"),
    "tag_removed": gettext_lazy("A tag was removed"),
    "field_changed": gettext_lazy("A customer field changed"),
    "stage_entered": gettext_lazy("A customer entered a lifecycle stage"),
    "order_paid": gettext_lazy("An order was paid"),
    "order_refunded": gettext_lazy("An order was refunded"),
    "group_joined": gettext_lazy("A customer joined a group"),
    "replied": gettext_lazy("The customer replied (a guide's quick reply or follow-up note)"),
}
KIND_LABELS = {
    "wait": gettext_lazy("Wait"),
    "wait_event": gettext_lazy("Wait for an event"),
    "branch": gettext_lazy("Branch on a condition"),
    "split": gettext_lazy("A/B split"),
    "send": gettext_lazy("Send through the staff"),
    "invite_group": gettext_lazy("Invite to a group"),
    "task": gettext_lazy("Guide task (1:1)"),
    "tag": gettext_lazy("Add or remove tags"),
    "set_field": gettext_lazy("Set a customer field"),
    "notify": gettext_lazy("Notify the staff member"),
    "webhook": gettext_lazy("Call the brand's system"),
    "points": gettext_lazy("Award points"),
    "coupon": gettext_lazy("Give a coupon"),
}
TRIGGER_KINDS = [
    ("event", gettext_lazy("An event")),
    ("plan", gettext_lazy("A plan (a date, or a repeating schedule)")),
    ("segment", gettext_lazy("Customers in a segment (daily)")),
    ("date_field", gettext_lazy("A date field (birthday, baby's birth date …)")),
    ("data", gettext_lazy("Data (no repurchase, P(alive), RFM class changed)")),
    ("holiday", gettext_lazy("A holiday, solar term or brand date")),
]
WEEKDAYS = [
    (1, gettext_lazy("Mon")),
    (2, gettext_lazy("Tue")),
    (3, gettext_lazy("Wed")),
    (4, gettext_lazy("Thu")),
    (5, gettext_lazy("Fri")),
    (6, gettext_lazy("Sat")),
    (7, gettext_lazy("Sun")),
]
END = ""


def _tag_choices(actor):
    return [
        (t.pk, f"{t.group.name} · {t.name}")
        for t in Tag.objects.for_corp(actor.corp).filter(deleted_at__isnull=True).select_related("group").order_by("group__order", "order", "pk")
    ]


def _ints(values) -> list[int]:
    return [int(v) for v in values or []]


def _numbers(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"-?\d+", text or "")]


# -- settings and trigger ----------------------------------------------------------------------------------
class SettingsForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=64)
    trigger_kind = forms.ChoiceField(label=gettext_lazy("Starts on"), choices=TRIGGER_KINDS)
    event = forms.ChoiceField(label=gettext_lazy("Event"), choices=[(e, EVENT_LABELS[e]) for e in EVENTS], required=False)
    tag_ids = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Tags (tag events)"), coerce=int, required=False, widget=forms.SelectMultiple(attrs={"size": 5})
    )
    field = forms.ChoiceField(label=gettext_lazy("Customer field (field and date triggers)"), required=False)
    stage_ids = forms.TypedMultipleChoiceField(label=gettext_lazy("Stages (stage event)"), coerce=int, required=False)
    segment_id = forms.TypedChoiceField(label=gettext_lazy("Segment (segment trigger)"), coerce=int, required=False, empty_value=None)
    every = forms.ChoiceField(
        label=gettext_lazy("Plan runs"),
        required=False,
        choices=[
            ("once", gettext_lazy("Once")),
            ("day", gettext_lazy("Every day")),
            ("week", gettext_lazy("Every week")),
            ("month", gettext_lazy("Every month")),
        ],
    )
    at = forms.CharField(label=gettext_lazy("Once at (2026-12-24 10:00)"), required=False, max_length=20)
    weekdays = forms.TypedMultipleChoiceField(label=gettext_lazy("Weekdays"), choices=WEEKDAYS, coerce=int, required=False, widget=forms.CheckboxSelectMultiple)
    days = forms.CharField(label=gettext_lazy("Days of the month, or days for a data rule"), required=False, max_length=100)
    time = forms.CharField(label=gettext_lazy("Time of day (HH:MM)"), required=False, max_length=5, initial="09:00")
    repeat = forms.ChoiceField(
        label=gettext_lazy("The date repeats"),
        required=False,
        choices=[("none", gettext_lazy("No")), ("yearly", gettext_lazy("Every year")), ("months", gettext_lazy("At month ages"))],
    )
    months = forms.CharField(label=gettext_lazy("Month ages (1,2,3 …)"), required=False, max_length=200)
    offset_days = WholeField(label=gettext_lazy("Days after the date (negative: before)"), required=False, min_value=-366, max_value=366)
    rule = forms.ChoiceField(
        label=gettext_lazy("Data rule"),
        required=False,
        choices=[
            ("no_repurchase", gettext_lazy("No second order N days after the first")),
            ("p_alive_below", gettext_lazy("P(alive) below a threshold")),
            ("rfm_changed", gettext_lazy("RFM class changed")),
        ],
    )
    threshold = forms.FloatField(label=gettext_lazy("P(alive) threshold"), required=False, min_value=0, max_value=1)
    rfm_to = forms.MultipleChoiceField(label=gettext_lazy("Into RFM class"), required=False, widget=forms.CheckboxSelectMultiple)
    rfm_from = forms.MultipleChoiceField(
        label=gettext_lazy("From RFM class"), required=False, widget=forms.CheckboxSelectMultiple, help_text=gettext_lazy("None ticked: from any class.")
    )
    holiday = forms.ChoiceField(label=gettext_lazy("Holiday, solar term or brand date"), required=False)
    audience = forms.TypedChoiceField(label=gettext_lazy("Only customers in segment"), coerce=int, required=False, empty_value=None)
    reentry = forms.ChoiceField(
        label=gettext_lazy("Customers enter"),
        choices=[
            ("once", gettext_lazy("Once ever")),
            ("after_days", gettext_lazy("Again after some days")),
            ("every", gettext_lazy("Every time (one walk at a time)")),
        ],
    )
    reentry_days = WholeField(label=gettext_lazy("Days before entering again"), required=False, min_value=1, max_value=3650)
    goal_days = WholeField(
        label=gettext_lazy("Goal: an order within (days)"),
        required=False,
        min_value=1,
        max_value=365,
        help_text=gettext_lazy("Conversion is counted against the holdout."),
    )
    goal_exit = forms.BooleanField(label=gettext_lazy("Leave the journey at the goal"), required=False)
    exit_order = forms.BooleanField(label=gettext_lazy("Exit on any order"), required=False)
    exit_lost = forms.BooleanField(label=gettext_lazy("Exit when the customer deletes the staff member"), required=False)
    exit_replied = forms.BooleanField(
        label=gettext_lazy("Exit when the customer replies"),
        required=False,
        help_text=gettext_lazy("Seen when a guide answers with a quick reply or writes a follow-up note; WeCom's chat archive is not used."),
    )
    exit_tag_ids = forms.TypedMultipleChoiceField(label=gettext_lazy("Exit when one of these tags is added"), coerce=int, required=False)
    holdout_percent = WholeField(
        label=gettext_lazy("Holdout (%)"), min_value=0, max_value=50, initial=0, help_text=gettext_lazy("A stable share left out, to measure uplift.")
    )
    late_hours = WholeField(label=gettext_lazy("A step may run late by (hours)"), min_value=1, max_value=720, initial=24)

    def __init__(self, *args, actor=None, **kwargs):
        super().__init__(*args, **kwargs)
        tags = _tag_choices(actor)
        self.fields["tag_ids"].choices = tags
        self.fields["exit_tag_ids"].choices = tags
        self.fields["field"].choices = [("", "—")] + [(f.key, f.name) for f in CustomField.objects.for_corp(actor.corp).filter(archived_at__isnull=True)]
        self.fields["stage_ids"].choices = [(s.pk, s.name) for s in LifecycleStage.objects.for_corp(actor.corp)]
        self.fields["holiday"].choices = [("", "—"), *dates.choices(actor.corp.pk)]
        self.fields["rfm_to"].choices = self.fields["rfm_from"].choices = [(c.letter, f"{c.letter} {c.name}") for c in CLASSES]
        segments = [(None, "—")] + [(s.pk, s.name) for s in Segment.objects.for_corp(actor.corp).order_by("name")]
        self.fields["segment_id"].choices = segments
        self.fields["audience"].choices = segments

    @classmethod
    def initial_from(cls, journey: Journey) -> dict:
        d = journey.definition
        t = d.get("trigger") or {}
        reentry = d.get("reentry") or {}
        goal = d.get("goal") or {}
        exits = d.get("exits") or []
        return {
            "name": journey.name,
            "trigger_kind": t.get("kind", "event"),
            "event": t.get("event", ""),
            "tag_ids": t.get("tag_ids", []),
            "field": t.get("field", ""),
            "stage_ids": t.get("stage_ids", []),
            "segment_id": t.get("segment_id"),
            "every": t.get("every", "once"),
            "at": t.get("at", ""),
            "weekdays": t.get("weekdays", []),
            "days": ",".join(str(x) for x in t.get("days", [])) if isinstance(t.get("days"), list) else t.get("days", ""),
            "time": t.get("time", "09:00"),
            "repeat": t.get("repeat", "none"),
            "months": ",".join(str(x) for x in t.get("months", [])),
            "offset_days": t.get("offset_days", 0),
            "rule": t.get("rule", "no_repurchase"),
            "threshold": t.get("threshold"),
            "rfm_to": t.get("to", []),
            "rfm_from": t.get("from", []),
            "holiday": t.get("holiday", ""),
            "audience": (d.get("audience") or {}).get("segment_id"),
            "reentry": reentry.get("rule", "once"),
            "reentry_days": reentry.get("days"),
            "goal_days": goal.get("within_days"),
            "goal_exit": goal.get("exit", False),
            "exit_order": any(e.get("kind") == "order_paid" for e in exits),
            "exit_lost": any(e.get("kind") == "lost" for e in exits),
            "exit_replied": any(e.get("kind") == "replied" for e in exits),
            "exit_tag_ids": next((e.get("tag_ids", []) for e in exits if e.get("kind") == "tag_added"), []),
            "holdout_percent": d.get("holdout_percent", 0),
            "late_hours": d.get("late_hours", 24),
        }

    def definition(self, steps: list) -> dict:
        c = self.cleaned_data
        kind = c["trigger_kind"]
        trigger: dict = {"kind": kind}
        if kind == "event":
            trigger["event"] = c["event"]
            if c["event"] in ("tag_added", "tag_removed"):
                trigger["tag_ids"] = c["tag_ids"]
            elif c["event"] == "field_changed":
                trigger["field"] = c["field"]
            elif c["event"] == "stage_entered":
                trigger["stage_ids"] = c["stage_ids"]
        else:
            trigger["time"] = c["time"] or "09:00"
        if kind == "plan":
            trigger["every"] = c["every"] or "once"
            if trigger["every"] == "once":
                trigger["at"] = (c["at"] or "").strip()
            elif trigger["every"] == "week":
                trigger["weekdays"] = c["weekdays"]
            elif trigger["every"] == "month":
                trigger["days"] = _numbers(c["days"])
        elif kind == "segment":
            trigger["segment_id"] = c["segment_id"]
        elif kind == "date_field":
            trigger.update(field=c["field"], repeat=c["repeat"] or "none", offset_days=c["offset_days"] or 0)
            if trigger["repeat"] == "months":
                trigger["months"] = _numbers(c["months"])
        elif kind == "holiday":
            trigger.update(holiday=c["holiday"], offset_days=c["offset_days"] or 0)
        elif kind == "data":
            trigger["rule"] = c["rule"] or "no_repurchase"
            if trigger["rule"] == "no_repurchase":
                days = _numbers(c["days"])
                trigger["days"] = days[0] if days else None
            elif trigger["rule"] == "rfm_changed":
                trigger.update(to=c["rfm_to"], **({"from": c["rfm_from"]} if c["rfm_from"] else {}))
            else:
                trigger["threshold"] = c["threshold"]
        exits = []
        if c["exit_order"]:
            exits.append({"kind": "order_paid"})
        if c["exit_lost"]:
            exits.append({"kind": "lost"})
        if c["exit_replied"]:
            exits.append({"kind": "replied"})
        if c["exit_tag_ids"]:
            exits.append({"kind": "tag_added", "tag_ids": c["exit_tag_ids"]})
        definition = {
            "trigger": trigger,
            "reentry": {"rule": c["reentry"], **({"days": c["reentry_days"]} if c["reentry"] == "after_days" else {})},
            "exits": exits,
            "holdout_percent": c["holdout_percent"],
            "late_hours": c["late_hours"],
            "steps": steps,
        }
        if c["audience"]:
            definition["audience"] = {"segment_id": c["audience"]}
        if c["goal_days"]:
            definition["goal"] = {"within_days": c["goal_days"], "exit": c["goal_exit"]}
        return definition


TRIGGER_FIELDS = {
    "kind": "trigger_kind",
    "event": "event",
    "tag_ids": "tag_ids",
    "field": "field",
    "stage_ids": "stage_ids",
    "segment_id": "segment_id",
    "every": "every",
    "at": "at",
    "weekdays": "weekdays",
    "days": "days",
    "time": "time",
    "repeat": "repeat",
    "months": "months",
    "offset_days": "offset_days",
    "rule": "rule",
    "threshold": "threshold",
    "to": "rfm_to",
    "from": "rfm_from",
    "holiday": "holiday",
}


def _note(form: forms.Form, field: str | None, message: str) -> None:
    """A draft's saved problem shown on its field, also on a form not yet posted."""
    if not form.is_bound and form._errors is None:
        form._errors, form.cleaned_data = ErrorDict(), {}
    form.add_error(field, message)


def _problems_on_settings(form: SettingsForm, problems: list[dict]) -> None:
    """The draft's problems about the trigger and settings, next to their fields."""
    for p in problems:
        head, _dot, rest = p["field"].partition(".")
        target = None
        if head == "trigger":
            target = TRIGGER_FIELDS.get(rest.split(".")[0])
        elif head == "reentry":
            target = "reentry_days" if rest == "days" else "reentry"
        elif head == "goal":
            target = "goal_days"
        elif head == "exits":
            target = "exit_tag_ids"
        elif head == "audience":
            target = "audience"
        elif head in ("holdout_percent", "late_hours", "name"):
            target = head
        if target:
            _note(form, target, p["message"])


# -- steps --------------------------------------------------------------------------------------------------
class StepForm(forms.Form):
    """One step; which fields show depends on its kind (the template shows the kind's)."""

    key = forms.RegexField(
        label=gettext_lazy("Key"), regex=r"^[a-z0-9_]{1,32}$", max_length=32, help_text=gettext_lazy("a–z, 0–9 and _; what counts and the API call the step")
    )
    next = forms.ChoiceField(label=gettext_lazy("Then"), required=False)
    days = WholeField(label=gettext_lazy("Days"), required=False, min_value=0, max_value=3650)
    hours = WholeField(label=gettext_lazy("Hours"), required=False, min_value=0, max_value=3650)
    minutes = WholeField(label=gettext_lazy("Minutes"), required=False, min_value=0, max_value=3650)
    until_time = forms.CharField(label=gettext_lazy("Or until the time of day (HH:MM)"), required=False, max_length=5)
    weekday = forms.TypedChoiceField(label=gettext_lazy("… on the weekday"), choices=[(None, "—"), *WEEKDAYS], coerce=int, required=False, empty_value=None)
    event = forms.ChoiceField(label=gettext_lazy("Event"), choices=[(e, EVENT_LABELS[e]) for e in WAIT_EVENTS], required=False)
    tag_ids = forms.TypedMultipleChoiceField(label=gettext_lazy("Tags"), coerce=int, required=False, widget=forms.SelectMultiple(attrs={"size": 5}))
    timeout_days = WholeField(label=gettext_lazy("Give up after (days)"), required=False, min_value=1, max_value=365)
    timeout_next = forms.ChoiceField(label=gettext_lazy("Then, when it did not happen"), required=False)
    if_tags = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Has one of these tags"), coerce=int, required=False, widget=forms.SelectMultiple(attrs={"size": 5})
    )
    if_rfm = forms.MultipleChoiceField(label=gettext_lazy("Is in RFM class"), required=False, widget=forms.CheckboxSelectMultiple)
    if_buyers = forms.ChoiceField(
        label=gettext_lazy("Has bought"), required=False, choices=[("", "—"), ("yes", gettext_lazy("Yes")), ("no", gettext_lazy("No"))]
    )
    if_stages = forms.TypedMultipleChoiceField(label=gettext_lazy("Is in lifecycle stage"), coerce=int, required=False)
    yes = forms.ChoiceField(label=gettext_lazy("Then, when it holds"), required=False)
    no = forms.ChoiceField(label=gettext_lazy("Then, when it does not"), required=False)
    share_1 = WholeField(label=gettext_lazy("Path A share (%)"), required=False, min_value=1, max_value=99)
    next_1 = forms.ChoiceField(label=gettext_lazy("Path A goes to"), required=False)
    share_2 = WholeField(label=gettext_lazy("Path B share (%)"), required=False, min_value=1, max_value=99)
    next_2 = forms.ChoiceField(label=gettext_lazy("Path B goes to"), required=False)
    name = forms.CharField(label=gettext_lazy("Task name"), required=False, max_length=40)
    text = forms.CharField(label=gettext_lazy("Text"), required=False, widget=forms.Textarea(attrs={"rows": 4}), max_length=4000)
    at = forms.CharField(label=gettext_lazy("Sending time (HH:MM)"), required=False, max_length=5, initial="10:00")
    task_hours = WholeField(label=gettext_lazy("Hours the guides have"), required=False, min_value=1, max_value=336, initial=24)
    add = forms.TypedMultipleChoiceField(label=gettext_lazy("Add tags"), coerce=int, required=False, widget=forms.SelectMultiple(attrs={"size": 5}))
    remove = forms.TypedMultipleChoiceField(label=gettext_lazy("Remove tags"), coerce=int, required=False, widget=forms.SelectMultiple(attrs={"size": 5}))
    field = forms.ChoiceField(label=gettext_lazy("Field"), required=False)
    value = forms.CharField(label=gettext_lazy("Value"), required=False, max_length=200)
    url = forms.CharField(label=gettext_lazy("Address (https://…)"), required=False, max_length=500)
    group_code_id = forms.TypedChoiceField(label=gettext_lazy("Group live code"), coerce=int, required=False, empty_value=None)
    points = WholeField(label=gettext_lazy("Points"), required=False, min_value=1, max_value=MAX_AWARD)
    template_id = forms.TypedChoiceField(label=gettext_lazy("Coupon"), coerce=int, required=False, empty_value=None)

    SHOWN = {
        "wait": ("days", "hours", "minutes", "until_time", "weekday", "next"),
        "wait_event": ("event", "tag_ids", "timeout_days", "next", "timeout_next"),
        "branch": ("if_tags", "if_rfm", "if_buyers", "if_stages", "yes", "no"),
        "split": ("share_1", "next_1", "share_2", "next_2"),
        "send": ("text", "at", "next"),
        "invite_group": ("group_code_id", "text", "at", "next"),
        "task": ("name", "text", "at", "task_hours", "next"),
        "tag": ("add", "remove", "next"),
        "set_field": ("field", "value", "next"),
        "notify": ("text", "next"),
        "webhook": ("url", "next"),
        "points": ("points", "next"),
        "coupon": ("template_id", "next"),
    }

    def __init__(self, *args, actor=None, kind: str = "wait", keys=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind
        targets = [(END, _("(the journey ends)"))] + [(k, k) for k in keys]
        for name in ("next", "timeout_next", "yes", "no", "next_1", "next_2"):
            self.fields[name].choices = targets
        tags = _tag_choices(actor)
        for name in ("tag_ids", "if_tags", "add", "remove"):
            self.fields[name].choices = tags
        self.fields["if_rfm"].choices = [(c.letter, f"{c.letter} {c.name}") for c in CLASSES]
        self.fields["if_stages"].choices = [(s.pk, s.name) for s in LifecycleStage.objects.for_corp(actor.corp)]
        self.fields["field"].choices = [(f.key, f.name) for f in CustomField.objects.for_corp(actor.corp).filter(archived_at__isnull=True)]
        self.fields["group_code_id"].choices = [(None, "—")] + list(GroupCode.objects.for_corp(actor.corp).values_list("pk", "name"))
        self.fields["template_id"].choices = [(None, "—")] + list(CouponTemplate.objects.for_corp(actor.corp).filter(active=True).values_list("pk", "name"))

    def shown(self):
        return [self["key"], *(self[n] for n in self.SHOWN[self.kind])]

    @classmethod
    def initial_from(cls, step: dict) -> dict:
        condition = step.get("if") or {}
        paths = step.get("paths") or [{}, {}]
        initial = {k: v for k, v in step.items() if k in cls.base_fields and not isinstance(v, dict)}
        initial.update(
            if_tags=condition.get("tags_any", []),
            if_rfm=condition.get("rfm", []),
            if_buyers={True: "yes", False: "no"}.get(condition.get("buyers"), ""),
            if_stages=condition.get("stages", []),
            task_hours=step.get("hours", 24) if step.get("kind") == "task" else None,
            share_1=paths[0].get("share") if paths else None,
            next_1=paths[0].get("next") if paths else "",
            share_2=paths[1].get("share") if len(paths) > 1 else None,
            next_2=paths[1].get("next") if len(paths) > 1 else "",
        )
        if step.get("kind") == "task":
            initial.pop("hours", None)
        return initial

    def step(self, old: dict) -> dict:
        c = self.cleaned_data
        step = {"key": c["key"], "kind": self.kind}
        for name in self.SHOWN[self.kind]:
            value = c.get(name)
            if name.startswith(("if_", "share_", "next_")) or name == "task_hours":
                continue
            if value in (None, "", []) and name not in ("text",):
                continue
            step[name] = value
        if self.kind == "task":
            step["hours"] = c.get("task_hours") or 24
            step.setdefault("text", "")
        if self.kind == "branch":
            condition = dict(old.get("if") or {})  # conditions the form does not show (fields) are kept
            for name, key in (("if_tags", "tags_any"), ("if_rfm", "rfm"), ("if_stages", "stages")):
                condition.pop(key, None)
                if c[name]:
                    condition[key] = c[name]
            condition.pop("buyers", None)
            if c["if_buyers"]:
                condition["buyers"] = c["if_buyers"] == "yes"
            step["if"] = condition
        if self.kind == "split":
            step["paths"] = [{"share": c["share_1"], "next": c["next_1"] or None}, {"share": c["share_2"], "next": c["next_2"] or None}]
        for name in ("next", "timeout_next", "yes", "no"):
            if step.get(name) == END:
                step.pop(name)
        for name in ("attachments",):
            if name in old:
                step[name] = old[name]
        return step


STEP_FIELDS = {"tags_any": "if_tags", "rfm": "if_rfm", "stages": "if_stages", "buyers": "if_buyers", "paths": "share_1", "hours": "task_hours", "if": "if_tags"}


def _problems_on_step(form: StepForm, problems: list[dict], index: int) -> None:
    prefix = f"steps.{index}"
    for p in problems:
        if p["field"] != prefix and not p["field"].startswith(prefix + "."):
            continue
        rest = p["field"][len(prefix) + 1 :].split(".")
        name = rest[0] if rest and rest[0] else None
        if name == "hours" and form.kind != "task":
            target = "hours"
        else:
            target = STEP_FIELDS.get(name, name)
        if name == "if" and len(rest) > 1:
            target = STEP_FIELDS.get(rest[1], "if_tags")
        _note(form, target if target in form.fields else None, p["message"])


# -- the tree -------------------------------------------------------------------------------------------------
def describe(step: dict, names: dict) -> str:
    kind = step.get("kind")
    if kind == "wait":
        if step.get("weekday"):
            return _("Wait until %(day)s %(time)s") % {"day": dict(WEEKDAYS).get(step["weekday"], ""), "time": step.get("until_time", "")}
        if step.get("until_time"):
            return _("Wait until %(time)s") % {"time": step["until_time"]}
        return _("Wait %(days)s d %(hours)s h %(minutes)s min") % {k: step.get(k, 0) for k in ("days", "hours", "minutes")}
    if kind == "wait_event":
        return _("Wait up to %(days)s days for: %(event)s") % {
            "days": step.get("timeout_days", "?"),
            "event": EVENT_LABELS.get(step.get("event"), step.get("event")),
        }
    if kind == "branch":
        return _("If: %(condition)s") % {"condition": _condition(step.get("if") or {}, names)}
    if kind == "split":
        return _("A/B split: %(shares)s") % {"shares": " / ".join(f"{p.get('share')}%" for p in step.get("paths") or [])}
    if kind == "send":
        return _("Send at %(time)s: %(text)s") % {"time": step.get("at", "10:00"), "text": (step.get("text") or "")[:60]}
    if kind == "invite_group":
        return _("Invite at %(time)s with the group code %(code)s") % {
            "time": step.get("at", "10:00"),
            "code": names["codes"].get(step.get("group_code_id"), "?"),
        }
    if kind == "task":
        return _("Guide task at %(time)s: %(name)s") % {"time": step.get("at", "10:00"), "name": step.get("name", "")}
    if kind == "tag":
        plus = ", ".join(names["tags"].get(t, str(t)) for t in step.get("add") or [])
        minus = ", ".join(names["tags"].get(t, str(t)) for t in step.get("remove") or [])
        return _("Tags: +%(add)s −%(remove)s") % {"add": plus or "—", "remove": minus or "—"}
    if kind == "set_field":
        return _("Set %(field)s to %(value)s") % {"field": names["fields"].get(step.get("field"), step.get("field")), "value": step.get("value", "")}
    if kind == "notify":
        return _("Notify the staff member: %(text)s") % {"text": (step.get("text") or "")[:60]}
    if kind == "webhook":
        return _("Call %(url)s") % {"url": step.get("url", "")}
    if kind == "points":
        return _("Award %(n)s points") % {"n": step.get("points", "?")}
    if kind == "coupon":
        return _("Give the coupon %(name)s") % {"name": names["coupons"].get(step.get("template_id"), "?")}
    return str(kind)


def _condition(condition: dict, names: dict) -> str:
    parts = []
    if condition.get("tags_any"):
        parts.append(_("has a tag of %(tags)s") % {"tags": ", ".join(names["tags"].get(t, str(t)) for t in condition["tags_any"])})
    if condition.get("rfm"):
        parts.append(_("RFM class %(classes)s") % {"classes": "/".join(condition["rfm"])})
    if condition.get("buyers") is True:
        parts.append(_("has bought"))
    if condition.get("buyers") is False:
        parts.append(_("has not bought"))
    if condition.get("stages"):
        parts.append(_("in stage %(stages)s") % {"stages": ", ".join(names["stages"].get(s, str(s)) for s in condition["stages"])})
    if condition.get("fields"):
        parts.append(_("%(n)s field conditions") % {"n": len(condition["fields"])})
    others = set(condition) - {"tags_any", "rfm", "buyers", "stages", "fields"}
    if others:
        parts.append(", ".join(sorted(others)))
    return _(" and ").join(parts) if parts else _("(no condition: always yes)")


def tree(definition: dict, names: dict, counts: dict | None = None, problems: list[dict] = ()) -> list[dict]:
    """The steps as rows of a tree, in walking order: each with its depth, how it was reached (then,
    yes, no, path A …), and a link back when it was shown already (two paths meeting)."""
    steps = [s for s in definition.get("steps") or [] if isinstance(s, dict)]
    by_key = {s.get("key"): (i, s) for i, s in enumerate(steps) if isinstance(s.get("key"), str)}
    with_problems = {int(p["field"].split(".")[1]) for p in problems if re.match(r"steps\.\d+", p["field"])}
    rows: list[dict] = []
    shown: set[str] = set()
    # Each kind's ways on and how the tree labels them ("then" goes unlabelled, at the same depth).
    ways = {
        "wait_event": (("next", _("happened")), ("timeout_next", _("did not happen"))),
        "branch": (("yes", _("yes")), ("no", _("no"))),
    }

    def add(key: str, depth: int, via: str) -> None:
        if key not in by_key:
            rows.append({"depth": depth, "via": via, "missing": key})
            return
        i, step = by_key[key]
        if key in shown:
            rows.append({"depth": depth, "via": via, "goto": key})
            return
        shown.add(key)
        rows.append(
            {
                "depth": depth,
                "via": via,
                "index": i,
                "key": key,
                "kind": step.get("kind"),
                "kind_label": KIND_LABELS.get(step.get("kind"), step.get("kind")),
                "text": describe(step, names),
                "counts": (counts or {}).get(key),
                "problem": i in with_problems,
                "placeholder": PLACEHOLDER in str(step.get("text", "")) + str(step.get("name", "")),
            }
        )
        if step.get("kind") == "split":
            branches = [
                (p.get("next"), _("path %(n)s") % {"n": chr(65 + n)}) for n, p in enumerate(step.get("paths") or []) if isinstance(p, dict) and p.get("next")
            ]
        else:
            branches = [(step.get(name), label) for name, label in ways.get(step.get("kind"), (("next", ""),)) if step.get(name)]
        single = len(branches) == 1 and not branches[0][1]
        for target, label in branches:
            if isinstance(target, str):
                add(target, depth if single else depth + 1, label)

    if steps and isinstance(steps[0].get("key"), str):
        add(steps[0]["key"], 0, "")
    for key in by_key:
        if key not in shown:
            add(key, 0, _("not reached"))
    return rows


def _names(actor) -> dict:
    return {
        "tags": dict(Tag.objects.for_corp(actor.corp).values_list("pk", "name")),
        "fields": dict(CustomField.objects.for_corp(actor.corp).values_list("key", "name")),
        "stages": dict(LifecycleStage.objects.for_corp(actor.corp).values_list("pk", "name")),
        "codes": dict(GroupCode.objects.for_corp(actor.corp).values_list("pk", "name")),
        "coupons": dict(CouponTemplate.objects.for_corp(actor.corp).values_list("pk", "name")),
    }


# -- views ------------------------------------------------------------------------------------------------------
@console_view
def journey_list(request):
    actor = request.actor
    rows, next_cursor = keyset_page(selectors.journeys(actor), cursor=request.GET.get("cursor"), limit=50)
    for journey in rows:
        journey.summary = selectors.journey_summary(journey)
    form = NewJourneyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        journey = saved_or_form_error(
            form,
            lambda: services.journey_create(
                actor=actor, name=form.cleaned_data["name"], definition={"trigger": {"kind": "event", "event": "contact_added"}, "steps": []}
            ),
        )
        if journey:
            return redirect("console:journey_edit", journey.pk)
    return render(
        request, "console/journeys.html", {"rows": rows, "next_cursor": next_cursor, "form": form, "nav": "journeys"}, status=400 if form.errors else 200
    )


class NewJourneyForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=64)


@console_view
def journey_catalog(request):
    actor = request.actor
    actor.require_manager()
    if request.method == "POST" and request.POST.get("key") == "group_week":
        sop = catalog.group_week_install(actor=actor)
        messages.success(
            request, _("“%(name)s” installed, paused: fill in the content marked %(mark)s, then run it.") % {"name": sop.name, "mark": PLACEHOLDER}
        )
        return redirect("console:group_sop_edit", sop.pk)
    if request.method == "POST":
        journey = catalog.playbook_install(actor=actor, key=request.POST.get("key", ""))
        messages.success(
            request,
            _("“%(name)s” installed as a draft: fill in the content marked %(mark)s, rehearse it, then activate it.")
            % {"name": journey.name, "mark": PLACEHOLDER},
        )
        return redirect("console:journey_edit", journey.pk)
    return render(request, "console/journey_catalog.html", {"playbooks": catalog.playbooks(), "nav": "journeys"})


@console_view
def journey_edit(request, journey_id: int):
    actor = request.actor
    journey = selectors.journey_get(actor, journey_id)
    form = SettingsForm(request.POST or None, initial=SettingsForm.initial_from(journey), actor=actor)
    if request.method == "POST" and form.is_valid():
        saved = saved_or_form_error(
            form,
            lambda: services.journey_save(
                actor=actor, journey=journey, name=form.cleaned_data["name"], definition=form.definition(journey.definition.get("steps") or [])
            ),
        )
        if saved:
            messages.success(request, _("Draft saved.") if not saved.problems else _("Draft saved; it has problems to fix before it can go live."))
            return redirect("console:journey_edit", journey.pk)
    elif request.method == "GET":
        _problems_on_settings(form, journey.problems)
    names = _names(actor)
    context = {
        "journey": journey,
        "form": form,
        "rows": tree(journey.definition, names, problems=journey.problems),
        "kinds": [(k, KIND_LABELS[k]) for k in STEP_KINDS],
        "nav": "journeys",
    }
    return render(request, "console/journey_edit.html", context, status=400 if request.method == "POST" and form.errors else 200)


def _step_at(journey: Journey, key: str) -> tuple[int, dict]:
    for i, step in enumerate(journey.definition.get("steps") or []):
        if isinstance(step, dict) and step.get("key") == key:
            return i, step
    raise Http404


def _new_key(steps: list, kind: str) -> str:
    keys = {s.get("key") for s in steps if isinstance(s, dict)}
    n = 1
    while f"{kind}_{n}" in keys:
        n += 1
    return f"{kind}_{n}"


@console_view
def journey_step(request, journey_id: int, key: str = ""):
    """Edit a step, or (no key) add one of ?kind= after ?after= on its ?via= path."""
    actor = request.actor
    journey = selectors.journey_get(actor, journey_id)
    steps = [s for s in journey.definition.get("steps") or [] if isinstance(s, dict)]
    if key:
        index, old = _step_at(journey, key)
        kind = old.get("kind")
    else:
        kind = request.GET.get("kind") or "wait"
        if kind not in STEP_KINDS:
            raise InvalidInput(_("A step is one of %(value)s.") % {"value": ", ".join(STEP_KINDS)}, code="bad_step", field="kind")
        index, old = len(steps), {"key": _new_key(steps, kind), "kind": kind}
    keys = [s.get("key") for s in steps if isinstance(s.get("key"), str) and s.get("key") != old["key"]]
    form = StepForm(request.POST or None, initial=StepForm.initial_from(old), actor=actor, kind=kind, keys=keys)
    if request.method == "POST" and form.is_valid():
        step = form.step(old)
        new_steps = list(steps)
        if key:
            new_steps[index] = step
            if step["key"] != key:  # renamed: links to it follow
                new_steps = [_relinked(s, key, step["key"]) for s in new_steps]
        else:
            new_steps.append(step)
            after, via = request.GET.get("after", ""), request.GET.get("via", "next")
            if after:
                new_steps = [_linked(s, via, step["key"]) if s.get("key") == after else s for s in new_steps]
        if len({s.get("key") for s in new_steps}) != len(new_steps):
            form.add_error("key", _("Two steps are called “%(key)s”.") % {"key": step["key"]})
        else:
            saved = saved_or_form_error(
                form, lambda: services.journey_save(actor=actor, journey=journey, definition={**journey.definition, "steps": new_steps})
            )
            if saved:
                mine = [p for p in saved.problems if p["field"] == f"steps.{index}" or p["field"].startswith(f"steps.{index}.")]
                if not mine:
                    messages.success(request, _("Step “%(key)s” saved.") % {"key": step["key"]})
                    return redirect("console:journey_edit", journey.pk)
                _problems_on_step(form, mine, index)  # saved in the draft, and shown where they are
    elif request.method == "GET" and key:
        _problems_on_step(form, journey.problems, index)
    context = {"journey": journey, "form": form, "kind_label": KIND_LABELS.get(kind, kind), "key": key, "nav": "journeys"}
    return render(request, "console/journey_step.html", context, status=400 if request.method == "POST" and form.errors else 200)


def _relinked(step: dict, old: str, new: str) -> dict:
    out = {k: (new if k in ("next", "timeout_next", "yes", "no") and v == old else v) for k, v in step.items()}
    if isinstance(out.get("paths"), list):
        out["paths"] = [{**p, "next": new if p.get("next") == old else p.get("next")} for p in out["paths"] if isinstance(p, dict)]
    return out


def _linked(step: dict, via: str, target: str) -> dict:
    """`step` goes on to `target` by `via` (then, yes, no, timeout, path_N); what it went to before
    now follows the new step, so adding a step in the middle keeps the rest of the walk."""
    if via.startswith("path_") and isinstance(step.get("paths"), list):
        n = int(via.removeprefix("path_") or 1) - 1
        return {**step, "paths": [{**p, "next": target} if i == n else p for i, p in enumerate(step["paths"])]}
    if via not in ("next", "timeout_next", "yes", "no"):
        via = "next"
    return {**step, via: target}


@require_POST
@console_view
def journey_step_delete(request, journey_id: int, key: str):
    """Remove a step; what led to it now leads where it went (its first way on)."""
    actor = request.actor
    journey = selectors.journey_get(actor, journey_id)
    _index, gone = _step_at(journey, key)
    onward = next((k for k in next_keys(gone) if isinstance(k, str)), None)
    steps = [s for s in journey.definition.get("steps") or [] if isinstance(s, dict) and s.get("key") != key]
    steps = [_relinked(s, key, onward) for s in steps]
    steps = [{k: v for k, v in s.items() if not (k in ("next", "timeout_next", "yes", "no") and v is None)} for s in steps]
    services.journey_save(actor=actor, journey=journey, definition={**journey.definition, "steps": steps})
    messages.success(request, _("Step “%(key)s” removed.") % {"key": key})
    return redirect("console:journey_edit", journey.pk)


@console_view
def journey_detail(request, journey_id: int):
    actor = request.actor
    journey = selectors.journey_get(actor, journey_id)
    version = journey.live_version
    counts = {c.key: c for c in selectors.step_counts(version)} if version else {}
    names = _names(actor)
    forecast = journey.forecast or {}
    comparison = []
    if forecast.get("starts_on"):
        start = date.fromisoformat(forecast["starts_on"])
        actual = actual_by_day(journey, start, forecast["days"])
        for d in range(forecast["days"]):
            numbers = (forecast["entered_by_day"][d], actual["entered_by_day"][d], forecast["sends_by_day"][d], actual["sends_by_day"][d])
            if not any(numbers) and not forecast["tasks_by_day"][d] and not actual["tasks_by_day"][d]:
                continue  # quiet days are left out of the table
            comparison.append(
                {
                    "day": start + timedelta(days=d),
                    "entered": (forecast["entered_by_day"][d], actual["entered_by_day"][d]),
                    "sends": (forecast["sends_by_day"][d], actual["sends_by_day"][d]),
                    "tasks": (forecast["tasks_by_day"][d], actual["tasks_by_day"][d]),
                }
            )
    context = {
        "journey": journey,
        "rows": tree(version.definition if version else journey.definition, names, counts),
        "conversion": selectors.conversion(journey),
        "summary": selectors.journey_summary(journey),
        "forecast": forecast,
        "comparison": comparison,
        "versions": list(journey.versions.order_by("-number")),
        "draft_differs": version is not None and version.definition != journey.definition,
        "nav": "journeys",
    }
    return render(request, "console/journey.html", context)


@require_POST
@console_view
def journey_action(request, journey_id: int, action: str):
    actor = request.actor
    journey = selectors.journey_get(actor, journey_id)
    try:
        if action == "activate":
            version = services.journey_activate(actor=actor, journey=journey)
            messages.success(request, _("Version %(n)s is live.") % {"n": version.number})
        elif action == "pause":
            services.journey_pause(actor=actor, journey=journey)
            messages.success(request, _("Paused: nothing runs or enters until it is resumed."))
        elif action == "resume":
            services.journey_resume(actor=actor, journey=journey)
            messages.success(request, _("Resumed."))
        elif action == "archive":
            services.journey_archive(actor=actor, journey=journey)
            messages.success(request, _("Archived: every walk still going has ended."))
        elif action == "rehearse":
            population = "simulated" if request.POST.get("population") == "simulated" else "corp"
            report = rehearse(actor=actor, journey=journey, days=30, population=population, customers=10_000)
            messages.success(request, _("Rehearsed over 30 days: %(n)s customers would enter.") % {"n": report.entered})
        elif action == "move":
            version = selectors.version_get(actor, journey, int(request.POST.get("version_id") or 0))
            moved = services.journey_move(actor=actor, journey=journey, version=version)
            messages.success(request, _("%(n)s customers moved to the live version.") % {"n": moved})
        else:
            raise Http404
    except InvalidInput as exc:
        messages.error(request, exc.message)
        return redirect("console:journey_edit" if action in ("activate", "rehearse") else "console:journey", journey.pk)
    return redirect("console:journey", journey.pk)


@console_view
def flash_groups(request):
    """A flash group's members' orders by day since joining: how long such a group needs to stay open."""
    actor = request.actor
    actor.require_manager()
    groups = list(CustomerGroup.objects.for_corp(actor.corp).order_by("-created_at_wecom", "-pk").values_list("pk", "name")[:500])
    chosen = request.GET.get("group", "")
    try:
        days = max(1, min(90, int(request.GET.get("days") or 14)))
    except ValueError:
        days = 14
    analysis = None
    if chosen.isdigit():
        analysis = flash.flash_analysis(actor, flash.flash_group_get(actor, int(chosen)), days=days)
    peak = max((d.gmv_fen for d in analysis.days), default=0) if analysis else 0
    context = {"groups": groups, "chosen": chosen, "days": days, "analysis": analysis, "peak": peak or 1, "nav": "journeys"}
    return render(request, "console/flash_groups.html", context)


class BrandDateForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=40)
    month = WholeField(label=gettext_lazy("Month"), min_value=1, max_value=12)
    day = WholeField(label=gettext_lazy("Day"), min_value=1, max_value=31)
    year = WholeField(label=gettext_lazy("Only in the year (empty: every year)"), min_value=2000, max_value=2199, required=False)


@console_view
def journey_calendar(request):
    """The holidays, solar terms and brand dates of the next two months; the brand's own dates edited."""
    actor = request.actor
    actor.require_manager()
    form = BrandDateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        saved = saved_or_form_error(form, lambda: dates.brand_date_save(actor=actor, name=d["name"], month=d["month"], day=d["day"], year=d["year"]))
        if saved:
            messages.success(request, _("“%(name)s” added.") % {"name": saved.name})
            return redirect("console:journey_calendar")
    today = now().astimezone(actor.corp.tzinfo).date()
    context = {
        "upcoming": dates.upcoming(actor.corp.pk, today),
        "brand_dates": list(BrandDate.objects.for_corp(actor.corp).order_by("month", "day")),
        "form": form,
        "nav": "journeys",
    }
    return render(request, "console/journey_calendar.html", context, status=400 if form.errors else 200)


@require_POST
@console_view
def brand_date_delete(request, brand_date_id: int):
    actor = request.actor
    actor.require_manager()
    found = get_for(actor, BrandDate.objects, _("No such date."), pk=brand_date_id)
    dates.brand_date_delete(actor=actor, brand_date=found)
    messages.success(request, _("“%(name)s” deleted: journeys starting on it pause with an alert.") % {"name": found.name})
    return redirect("console:journey_calendar")
