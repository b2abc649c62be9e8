"""A journey's definition: what it is made of, what makes it unfit to go live, and the times its
steps wake at.

A definition is JSON, the same in the API, the console's editor, the catalog's playbooks and a
stored version:

    {"trigger": {...}, "audience": {"segment_id": 3} | {"filters": {...}} | {},
     "reentry": {"rule": "once" | "every" | "after_days", "days": 30},
     "goal": {"within_days": 14, "exit": true} | {},
     "exits": [{"kind": "tag_added", "tag_ids": [1]}, {"kind": "lost"}, {"kind": "order_paid"}],
     "holdout_percent": 10, "late_hours": 24,
     "steps": [{"key": "s1", "kind": "wait", "days": 1, "next": "s2"}, …]}

The first step is where customers start; a step without `next` ends the journey. Checking never
raises: each problem is named by the field it is about (`steps.2.next`), the draft is kept, and
only a definition without problems goes live.
"""

from __future__ import annotations

import re
from calendar import monthrange
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.utils.translation import gettext as _

from siyu.acquisition.models import Channel, LeadForm, LiveCode
from siyu.analytics.models import Segment
from siyu.analytics.rfm import BY_LETTER
from siyu.analytics.segments import SegmentFilters, customers_matching
from siyu.customers.fields import parse_value
from siyu.customers.models import CustomField, LifecycleStage
from siyu.engagement.models import CouponTemplate
from siyu.groups.models import CustomerGroup, GroupCode
from siyu.kit.errors import DomainError, InvalidInput
from siyu.kit.tenancy import Actor
from siyu.messaging import budget
from siyu.messaging.content import content_clean
from siyu.tags.models import Tag

from .dates import known as holiday_known

# What starts a journey on an event, and what a wait-for-event step waits for.
EVENTS = ("contact_added", "lead_submitted", "tag_added", "tag_removed", "field_changed", "stage_entered", "order_paid", "order_refunded", "group_joined")
WAIT_EVENTS = ("order_paid", "tag_added", "group_joined", "field_changed", "replied")
TRIGGERS = ("event", "plan", "segment", "date_field", "data", "holiday")
DATA_RULES = ("no_repurchase", "p_alive_below", "rfm_changed")
EXITS = ("order_paid", "tag_added", "lost", "left_audience", "replied")
STEP_KINDS = ("wait", "wait_event", "branch", "split", "send", "invite_group", "task", "tag", "set_field", "notify", "webhook", "points", "coupon")
MAX_AWARD = 100_000  # points one step gives
# The fields of each kind that name the steps it goes on to.
EXITS_OF = {"wait_event": ("next", "timeout_next"), "branch": ("yes", "no"), "split": ()}
REENTRY = ("once", "every", "after_days")
MAX_STEPS = 60
PLACEHOLDER = "【待填写】"  # a playbook's mark where the brand's own content goes
KEY = re.compile(r"[a-z0-9_]{1,32}")
CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


@dataclass(frozen=True)
class Problem:
    field: str
    code: str
    message: str

    def as_json(self) -> dict:
        return {"field": self.field, "code": self.code, "message": self.message}


class Checker:
    """Collects problems instead of stopping at the first."""

    def __init__(self, actor: Actor):
        self.actor = actor
        self.problems: list[Problem] = []

    def add(self, field: str, code: str, message: str) -> None:
        self.problems.append(Problem(field, code, str(message)))

    def run(self, field: str, check, *args, **kwargs):
        """Run a domain's own check; its refusal becomes a problem at `field` (its own field appended)."""
        try:
            return check(*args, **kwargs)
        except DomainError as exc:
            inner = getattr(exc, "field", "") or ""
            self.add(f"{field}.{inner}" if inner else field, getattr(exc, "code", "invalid"), str(exc))
            return None


def _int(value, lo: int, hi: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        return None
    return value


def clock(value) -> time | None:
    m = CLOCK.fullmatch(str(value or ""))
    return time(int(m.group(1)), int(m.group(2))) if m else None


def _ids(value) -> list[int] | None:
    if not isinstance(value, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in value):
        return None
    return sorted(set(value))


# -- references -------------------------------------------------------------------------------------
def _check_tags(c: Checker, field: str, ids, *, required: bool = True) -> None:
    ids = _ids(ids if ids is not None else [])
    if ids is None or (required and not ids):
        c.add(field, "bad_tags", _("Choose this corp's tags."))
        return
    live = set(Tag.objects.for_corp(c.actor.corp).filter(pk__in=ids, deleted_at__isnull=True).values_list("pk", flat=True))
    for i in ids:
        if i not in live:
            c.add(field, "unknown_tag", _("Tag %(id)s does not exist any more.") % {"id": i})


def _check_known(c: Checker, field: str, model, ids, code: str, message: str, *, required: bool = False) -> None:
    ids = _ids(ids if ids is not None else [])
    if ids is None or (required and not ids):
        c.add(field, code, message % {"id": ""})
        return
    known = set(model.objects.for_corp(c.actor.corp).filter(pk__in=ids).values_list("pk", flat=True))
    for i in ids:
        if i not in known:
            c.add(field, code, message % {"id": i})


def _live_field(c: Checker, field: str, key, *, kind: str | None = None) -> CustomField | None:
    found = CustomField.objects.for_corp(c.actor.corp).filter(key=str(key or ""), archived_at__isnull=True).first()
    if found is None:
        c.add(field, "unknown_field", _("There is no field “%(key)s”.") % {"key": key or ""})
        return None
    if kind and found.kind != kind:
        c.add(field, "bad_field_kind", _("“%(name)s” is not a date field.") % {"name": found.name})
    return found


def _check_filters(c: Checker, field: str, filters) -> None:
    if not isinstance(filters, dict):
        c.add(field, "bad_filter", _("A condition is a set of segment filters."))
        return
    parsed = c.run(field, SegmentFilters.from_json, filters)
    if parsed is not None:
        c.run(field, lambda: customers_matching(c.actor, parsed).exists())  # foreign tags, archived fields: named now


def _check_audience(c: Checker, audience) -> None:
    if audience in (None, {}):
        return
    if not isinstance(audience, dict):
        c.add("audience", "bad_audience", _("The audience is a segment or filters."))
        return
    if audience.get("segment_id") is not None:
        _check_known(c, "audience.segment_id", Segment, [audience["segment_id"]], "unknown_segment", _("Segment %(id)s does not exist any more."))
    if audience.get("filters"):
        _check_filters(c, "audience.filters", audience["filters"])


# -- the trigger --------------------------------------------------------------------------------------
def _check_trigger(c: Checker, trigger) -> None:
    if not isinstance(trigger, dict) or trigger.get("kind") not in TRIGGERS:
        c.add("trigger.kind", "bad_trigger", _("A journey starts on one of %(value)s.") % {"value": ", ".join(TRIGGERS)})
        return
    kind = trigger["kind"]
    if kind == "event":
        event = trigger.get("event")
        if event not in EVENTS:
            c.add("trigger.event", "bad_trigger", _("The event is one of %(value)s.") % {"value": ", ".join(EVENTS)})
        elif event in ("tag_added", "tag_removed"):
            _check_tags(c, "trigger.tag_ids", trigger.get("tag_ids"))
        elif event == "field_changed":
            _live_field(c, "trigger.field", trigger.get("field"))
        elif event == "stage_entered":
            _check_known(
                c, "trigger.stage_ids", LifecycleStage, trigger.get("stage_ids"), "unknown_stage", _("Stage %(id)s does not exist any more."), required=True
            )
        elif event == "group_joined":
            _check_known(c, "trigger.group_ids", CustomerGroup, trigger.get("group_ids"), "unknown_group", _("Group %(id)s does not exist in this corp."))
        elif event == "lead_submitted":
            _check_known(c, "trigger.form_ids", LeadForm, trigger.get("form_ids"), "unknown_form", _("Lead form %(id)s does not exist any more."))
        elif event == "contact_added":
            _check_known(c, "trigger.channel_ids", Channel, trigger.get("channel_ids"), "unknown_channel", _("Channel %(id)s does not exist any more."))
            _check_known(
                c, "trigger.live_code_ids", LiveCode, trigger.get("live_code_ids"), "unknown_live_code", _("Live code %(id)s does not exist any more.")
            )
    elif kind == "plan":
        _check_plan(c, trigger)
    elif kind == "segment":
        _check_known(
            c,
            "trigger.segment_id",
            Segment,
            [trigger.get("segment_id")] if trigger.get("segment_id") is not None else None,
            "unknown_segment",
            _("Segment %(id)s does not exist any more."),
            required=True,
        )
    elif kind == "date_field":
        _live_field(c, "trigger.field", trigger.get("field"), kind=CustomField.Kind.DATE)
        if _int(trigger.get("offset_days", 0), -366, 366) is None:
            c.add("trigger.offset_days", "bad_offset", _("The offset is -366 to 366 days."))
        repeat = trigger.get("repeat", "none")
        if repeat not in ("none", "yearly", "months"):
            c.add("trigger.repeat", "bad_repeat", _("A date repeats never, yearly, or at month ages."))
        if repeat == "months":
            months = _ids(trigger.get("months"))
            if not months or not all(1 <= m <= 240 for m in months):
                c.add("trigger.months", "bad_months", _("List the month ages, 1 to 240."))
    elif kind == "data":
        rule = trigger.get("rule")
        if rule not in DATA_RULES:
            c.add("trigger.rule", "bad_rule", _("The rule is one of %(value)s.") % {"value": ", ".join(DATA_RULES)})
        elif rule == "no_repurchase" and _int(trigger.get("days"), 1, 730) is None:
            c.add("trigger.days", "bad_days", _("The days are 1 to 730."))
        elif rule == "p_alive_below" and not (isinstance(trigger.get("threshold"), (int, float)) and 0 < trigger["threshold"] < 1):
            c.add("trigger.threshold", "bad_threshold", _("The threshold is between 0 and 1."))
        elif rule == "rfm_changed":
            for name, required in (("to", True), ("from", False)):
                letters = trigger.get(name) or []
                if not isinstance(letters, list) or (required and not letters) or not set(letters) <= set(BY_LETTER):
                    c.add(f"trigger.{name}", "bad_rfm_class", _("Choose RFM classes among A–H."))
    elif kind == "holiday":
        if not holiday_known(c.actor.corp.pk, trigger.get("holiday")):
            c.add("trigger.holiday", "unknown_holiday", _("Choose a public holiday, a solar term or one of the brand's dates."))
        if _int(trigger.get("offset_days", 0), -60, 60) is None:
            c.add("trigger.offset_days", "bad_offset", _("The offset is -60 to 60 days."))
    if kind in ("plan", "segment", "date_field", "data", "holiday") and clock(trigger.get("time", "09:00")) is None:
        c.add("trigger.time", "bad_time", _("The time of day is HH:MM."))


def _check_plan(c: Checker, trigger: dict) -> None:
    every = trigger.get("every", "once")
    if every == "once":
        try:
            datetime.fromisoformat(str(trigger.get("at") or ""))
        except ValueError:
            c.add("trigger.at", "bad_time", _("A planned start needs its date and time (2026-12-24 10:00)."))
    elif every == "week":
        days = _ids(trigger.get("weekdays"))
        if not days or not all(1 <= d <= 7 for d in days):
            c.add("trigger.weekdays", "bad_weekdays", _("Choose weekdays, 1 (Monday) to 7 (Sunday)."))
    elif every == "month":
        days = _ids(trigger.get("days"))
        if not days or not all(1 <= d <= 31 for d in days):
            c.add("trigger.days", "bad_days", _("Choose days of the month, 1 to 31."))
    elif every != "day":
        c.add("trigger.every", "bad_every", _("A plan runs once, every day, every week or every month."))


def steps_of(definition: dict) -> dict[str, dict]:
    return {s["key"]: s for s in definition["steps"]}


# -- steps --------------------------------------------------------------------------------------------
def next_keys(step: dict) -> list[str]:
    """The steps this one goes on to (empty: the journey ends here)."""
    if step.get("kind") == "split":
        return [p.get("next") for p in step.get("paths") or [] if isinstance(p, dict) and p.get("next")]
    names = EXITS_OF.get(step.get("kind"), ("next",))
    return [step[n] for n in names if step.get(n)]


def _check_step(c: Checker, i: int, step: dict, policy) -> None:
    at = f"steps.{i}"
    kind = step.get("kind")
    if kind == "wait":
        if step.get("until_time") or step.get("weekday"):
            if clock(step.get("until_time")) is None:
                c.add(f"{at}.until_time", "bad_time", _("The time of day is HH:MM."))
            if step.get("weekday") is not None and _int(step.get("weekday"), 1, 7) is None:
                c.add(f"{at}.weekday", "bad_weekday", _("The weekday is 1 (Monday) to 7 (Sunday)."))
        else:
            days, hours, minutes = (_int(step.get(k, 0), 0, 3650) for k in ("days", "hours", "minutes"))
            if None in (days, hours, minutes) or not (days or hours or minutes):
                c.add(f"{at}.days", "bad_wait", _("A wait lasts some days, hours or minutes, or until a time of day."))
    elif kind == "wait_event":
        if step.get("event") not in WAIT_EVENTS:
            c.add(f"{at}.event", "bad_event", _("The event is one of %(value)s.") % {"value": ", ".join(WAIT_EVENTS)})
        elif step["event"] == "tag_added":
            _check_tags(c, f"{at}.tag_ids", step.get("tag_ids"))
        if _int(step.get("timeout_days"), 1, 365) is None:
            c.add(f"{at}.timeout_days", "no_way_out", _("A wait for an event needs a timeout (1 to 365 days), or customers could wait for ever."))
    elif kind == "branch":
        _check_filters(c, f"{at}.if", step.get("if"))
    elif kind == "split":
        paths = step.get("paths")
        shares = [p.get("share") for p in paths] if isinstance(paths, list) and all(isinstance(p, dict) for p in paths) else None
        if not shares or len(shares) < 2 or not all(_int(s, 1, 99) for s in shares) or sum(shares) != 100:
            c.add(f"{at}.paths", "bad_split", _("A split has two or more paths whose shares add up to 100."))
    if any(PLACEHOLDER in str(step.get(k) or "") for k in ("text", "name")):
        c.add(f"{at}.text", "placeholder", _("Step “%(key)s” still has content to fill in (%(mark)s).") % {"key": step.get("key", ""), "mark": PLACEHOLDER})
    if kind == "invite_group":
        code = step.get("group_code_id")
        gone = _("Group live code %(id)s does not exist any more.")
        _check_known(c, f"{at}.group_code_id", GroupCode, [code] if code is not None else None, "unknown_group_code", gone, required=True)
    if kind in ("send", "task", "invite_group"):
        c.run(at, content_clean, c.actor.corp, text=step.get("text", ""), attachments=step.get("attachments") or [], required=kind == "send")
        when = clock(step.get("at", "10:00"))
        if when is None:
            c.add(f"{at}.at", "bad_time", _("The sending time is HH:MM."))
        elif budget.in_quiet_hours(policy, datetime.combine(date(2026, 1, 5), when, tzinfo=c.actor.corp.tzinfo)):
            c.add(f"{at}.at", "quiet_hours", _("%(time)s is within the quiet hours; choose another sending time.") % {"time": when.strftime("%H:%M")})
        if kind == "task":
            if not str(step.get("name") or "").strip() or len(str(step.get("name"))) > 40:
                c.add(f"{at}.name", "bad_name", _("A task needs a name (at most 40 characters)."))
            if _int(step.get("hours", 24), 1, 24 * 14) is None:
                c.add(f"{at}.hours", "bad_hours", _("Guides have 1 to 336 hours."))
    elif kind == "tag":
        _check_tags(c, f"{at}.add", step.get("add"), required=False)
        _check_tags(c, f"{at}.remove", step.get("remove"), required=False)
        if not step.get("add") and not step.get("remove"):
            c.add(f"{at}.add", "no_tags", _("Choose at least one tag to add or remove."))
    elif kind == "set_field":
        field = _live_field(c, f"{at}.field", step.get("field"))
        if field is not None:
            c.run(f"{at}.value", parse_value, field, step.get("value"))
    elif kind == "notify":
        text = str(step.get("text") or "").strip()
        if not text or len(text) > 200:
            c.add(f"{at}.text", "bad_text", _("A notice has 1 to 200 characters."))
    elif kind == "webhook":
        url = str(step.get("url") or "")
        if not re.fullmatch(r"https?://[^\s]{3,500}", url):
            c.add(f"{at}.url", "bad_url", _("The address is an http(s) URL."))
    elif kind == "points":
        if _int(step.get("points"), 1, MAX_AWARD) is None:
            c.add(f"{at}.points", "bad_points", _("A step awards 1 to %(max)s points.") % {"max": MAX_AWARD})
    elif kind == "coupon":
        template = step.get("template_id")
        gone = _("Coupon %(id)s does not exist.")
        _check_known(c, f"{at}.template_id", CouponTemplate, [template] if template is not None else None, "unknown_coupon", gone, required=True)
    elif kind not in ("wait", "wait_event", "branch", "split"):
        c.add(f"{at}.kind", "bad_step", _("A step is one of %(value)s.") % {"value": ", ".join(STEP_KINDS)})


def _check_graph(c: Checker, steps: list) -> None:
    keys: dict[str, int] = {}
    for i, step in enumerate(steps):
        key = step.get("key")
        if not isinstance(key, str) or not KEY.fullmatch(key):
            c.add(f"steps.{i}.key", "bad_key", _("A step's key is 1 to 32 of a–z, 0–9 and _."))
        elif key in keys:
            c.add(f"steps.{i}.key", "duplicate_key", _("Two steps are called “%(key)s”.") % {"key": key})
        else:
            keys[key] = i
    for i, step in enumerate(steps):
        for name in (*EXITS_OF.get(step.get("kind"), ("next",)), *(() if step.get("kind") != "split" else ("paths",))):
            targets = [p.get("next") for p in step.get("paths") or [] if isinstance(p, dict)] if name == "paths" else [step.get(name)]
            for target in targets:
                if target and not isinstance(target, str):
                    c.add(f"steps.{i}.{name}", "unknown_step", _("A step is named by its key."))
                elif target and target not in keys:
                    c.add(f"steps.{i}.{name}", "unknown_step", _("There is no step “%(key)s”.") % {"key": target})
    if not steps or len(keys) != len(steps):
        return
    # Reachable from the first step, and no way back to a step already on the path.
    graph = {s["key"]: [k for k in next_keys(s) if isinstance(k, str) and k in keys] for s in steps}
    seen: set[str] = set()
    on_path: set[str] = set()
    cycle: list[str] = []

    def visit(key: str) -> None:
        seen.add(key)
        on_path.add(key)
        for target in graph[key]:
            if target in on_path and not cycle:
                cycle.append(key)
            elif target not in seen:
                visit(target)
        on_path.discard(key)

    visit(steps[0]["key"])
    if cycle:
        c.add(f"steps.{keys[cycle[0]]}", "cycle", _("Step “%(key)s” leads back to a step before it: a journey goes forward only.") % {"key": cycle[0]})
    for key, i in keys.items():
        if key not in seen:
            c.add(f"steps.{i}", "unreachable", _("No path leads to step “%(key)s”.") % {"key": key})


def definition_problems(actor: Actor, definition) -> list[Problem]:
    """Every problem that keeps the definition from going live (none: it may)."""
    try:
        return _problems(actor, definition)
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError):
        # A shape no check foresaw (a list where a key belongs): named as such, never a crash.
        return [Problem("definition", "bad_definition", _("The definition's shape is not valid: see the documented format."))]


def _problems(actor: Actor, definition) -> list[Problem]:
    c = Checker(actor)
    if not isinstance(definition, dict):
        return [Problem("definition", "bad_definition", _("A journey's definition is an object."))]
    _check_trigger(c, definition.get("trigger"))
    _check_audience(c, definition.get("audience"))
    reentry = definition.get("reentry") or {"rule": "once"}
    if not isinstance(reentry, dict) or reentry.get("rule") not in REENTRY:
        c.add("reentry.rule", "bad_reentry", _("Customers enter once, every time, or again after some days."))
    elif reentry["rule"] == "after_days" and _int(reentry.get("days"), 1, 3650) is None:
        c.add("reentry.days", "bad_days", _("The days are 1 to 3650."))
    goal = definition.get("goal") or {}
    if goal and (not isinstance(goal, dict) or _int(goal.get("within_days"), 1, 365) is None):
        c.add("goal.within_days", "bad_goal", _("The goal is an order within 1 to 365 days."))
    exits = definition.get("exits") or []
    if not isinstance(exits, list):
        c.add("exits", "bad_exit", _("Exit rules are a list."))
    else:
        for i, rule in enumerate(exits):
            if not isinstance(rule, dict) or rule.get("kind") not in EXITS:
                c.add(f"exits.{i}.kind", "bad_exit", _("An exit is one of %(value)s.") % {"value": ", ".join(EXITS)})
            elif rule["kind"] == "tag_added":
                _check_tags(c, f"exits.{i}.tag_ids", rule.get("tag_ids"))
    if _int(definition.get("holdout_percent", 0), 0, 50) is None:
        c.add("holdout_percent", "bad_holdout", _("The holdout is 0 to 50 (%)."))
    if _int(definition.get("late_hours", 24), 1, 24 * 30) is None:
        c.add("late_hours", "bad_late", _("A step may run 1 to 720 hours late."))
    steps = definition.get("steps")
    if not isinstance(steps, list) or not steps or not all(isinstance(s, dict) and isinstance(s.get("kind", ""), str) for s in steps):
        c.add("steps", "no_steps", _("A journey needs at least one step."))
        return c.problems
    if len(steps) > MAX_STEPS:
        c.add("steps", "too_many_steps", _("A journey has at most %(max)d steps.") % {"max": MAX_STEPS})
    policy = budget.policy_for(actor.corp)
    for i, step in enumerate(steps):
        _check_step(c, i, step, policy)
    _check_graph(c, steps)
    return c.problems


def refused(problems: list[Problem]) -> InvalidInput:
    first = problems[0]
    return InvalidInput(first.message, code=first.code, field=first.field)


# -- times ------------------------------------------------------------------------------------------------
def wake_at(step: dict, at: datetime, tz) -> datetime:
    """When a wait step that began at `at` ends, in the corp's timezone `tz` (a wait across midnight
    or a month's end is counted on the corp's own clock)."""
    if step["kind"] == "wait_event":
        return at + timedelta(days=step["timeout_days"])
    if step.get("until_time") or step.get("weekday"):
        local = at.astimezone(tz)
        when = clock(step.get("until_time")) or time(9)
        candidate = datetime.combine(local.date(), when, tzinfo=tz)
        if step.get("weekday"):
            candidate += timedelta(days=(step["weekday"] - 1 - local.weekday()) % 7)
        if candidate <= local:
            candidate += timedelta(days=7 if step.get("weekday") else 1)
        return candidate
    return at + timedelta(days=step.get("days", 0), hours=step.get("hours", 0), minutes=step.get("minutes", 0))


def next_send_time(step: dict, at: datetime, tz) -> datetime:
    """The next sending time of a send or task step at or after `at` (today's, or tomorrow's once passed)."""
    local = at.astimezone(tz)
    candidate = datetime.combine(local.date(), clock(step.get("at", "10:00")) or time(10), tzinfo=tz)
    return candidate if candidate >= local else candidate + timedelta(days=1)


def add_months(d: date, months: int) -> date:
    """The same day `months` later, or the month's last day when it has no such day (31 Jan + 1 → 28/29 Feb)."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, monthrange(year, month)[1]))
