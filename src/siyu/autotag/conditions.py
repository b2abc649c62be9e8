"""The conditions an auto-tag rule can test, each validated and compiled to a query on Follow.

    {"kind": "channel", "in": [channel ids]}          added through a live code of these channels
    {"kind": "live_code", "in": [live code ids]}
    {"kind": "staff", "in": [staff ids]}              the follow's staff member
    {"kind": "department", "in": [department ids]}    … in one of these departments
    {"kind": "added_weekday", "in": [1..7]}           ISO weekday of the add, corp time
    {"kind": "added_hour", "from": 0..23, "to": 1..24}  hour of the add, corp time, [from, to)
    {"kind": "added_between", "from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}  inclusive, corp dates
    {"kind": "group_joined", "in": [group ids]}       the customer is or was in one of these
                                                      groups ("in" left out: any group)
    {"kind": "lead_answer", "field": key, "in": [values]}  a lead form answer of the customer's

Compiled queries use EXISTS for the related tables, so a follow matches once however many rows
stand behind it. Hour, weekday and date lookups run in the active timezone: evaluate inside
`timezone.override(corp.tzinfo)`.
"""

from __future__ import annotations

import functools
import operator
from datetime import date

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext as _

from siyu.acquisition.models import Acquisition, Channel, Lead, LiveCode
from siyu.corps.models import Department, Staff
from siyu.groups.models import CustomerGroup, GroupMember
from siyu.kit.errors import InvalidInput

MAX_CONDITIONS = 20


def _bad(where: str, message: str):
    raise InvalidInput(message, code="bad_condition", field=where)


def _ids(cond: dict, where: str, model, corp, *, required: bool = True) -> list[int]:
    raw = cond.get("in")
    if raw is None and not required:
        return []
    if not isinstance(raw, list) or not raw or not all(isinstance(i, int) and not isinstance(i, bool) for i in raw) or len(raw) > 500:
        _bad(f"{where}.in", _("A list of 1 to 500 ids."))
    found = set(model.objects.filter(corp=corp, pk__in=raw).values_list("pk", flat=True))
    missing = sorted(set(raw) - found)
    if missing:
        raise InvalidInput(
            _("%(id)s is not one of this corp's.") % {"id": missing[0]},
            code="unknown_id",
            field=f"{where}.in",
        )
    return sorted(found)


def _models():
    return Acquisition, Channel, LiveCode, Department, Staff, CustomerGroup, GroupMember


def conditions_clean(corp, raw) -> list[dict]:
    """Validate a rule's conditions; returns them normalised, or raises InvalidInput naming the part."""
    Acquisition, Channel, LiveCode, Department, Staff, CustomerGroup, GroupMember = _models()
    if not isinstance(raw, list) or not raw:
        raise InvalidInput(_("A rule needs at least one condition."), code="bad_condition", field="conditions")
    if len(raw) > MAX_CONDITIONS:
        raise InvalidInput(_("At most %(max_conditions)s conditions.") % {"max_conditions": MAX_CONDITIONS}, code="bad_condition", field="conditions")
    clean = []
    for i, cond in enumerate(raw):
        where = f"conditions.{i}"
        kind = cond.get("kind") if isinstance(cond, dict) else None
        if kind in ("channel", "live_code", "staff", "department"):
            model = {"channel": Channel, "live_code": LiveCode, "staff": Staff, "department": Department}[kind]
            clean.append({"kind": kind, "in": _ids(cond, where, model, corp)})
        elif kind == "group_joined":
            ids = _ids(cond, where, CustomerGroup, corp, required=False)
            clean.append({"kind": kind, **({"in": ids} if ids else {})})
        elif kind == "added_weekday":
            days = cond.get("in")
            if not isinstance(days, list) or not days or any(d not in range(1, 8) or isinstance(d, bool) for d in days):
                _bad(f"{where}.in", _("Weekdays, 1 (Monday) to 7."))
            clean.append({"kind": kind, "in": sorted(set(days))})
        elif kind == "added_hour":
            start, end = cond.get("from"), cond.get("to")
            if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= 24):
                _bad(where, _("From and to are hours with 0 ≤ from < to ≤ 24."))
            clean.append({"kind": kind, "from": start, "to": end})
        elif kind == "added_between":
            try:
                start, end = date.fromisoformat(cond.get("from", "")), date.fromisoformat(cond.get("to", ""))
            except (TypeError, ValueError):
                _bad(where, _("From and to are dates like 2026-11-01."))
            if end < start:
                _bad(where, _("The end must not be before the start."))
            clean.append({"kind": kind, "from": start.isoformat(), "to": end.isoformat()})
        elif kind == "lead_answer":
            key, values = cond.get("field"), cond.get("in")
            if not isinstance(key, str) or not key.isidentifier() or len(key) > 32:
                _bad(f"{where}.field", _("The question's key, as in the form."))
            if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values) or len(values) > 100:
                _bad(f"{where}.in", _("A list of 1 to 100 answers."))
            clean.append({"kind": kind, "field": key, "in": sorted(set(values))})
        else:
            _bad(
                f"{where}.kind",
                _(
                    "Unknown condition %(kind)r; one of channel, live_code, staff, department, "
                    "added_weekday, added_hour, added_between, group_joined, lead_answer."
                )
                % {"kind": kind},
            )
    return clean


def compile_condition(cond: dict) -> Q:
    Acquisition, *_rest, GroupMember = _models()
    kind = cond["kind"]
    if kind == "channel":
        return Q(Exists(Acquisition.objects.filter(follow=OuterRef("pk"), channel_id__in=cond["in"])))
    if kind == "live_code":
        return Q(Exists(Acquisition.objects.filter(follow=OuterRef("pk"), live_code_id__in=cond["in"])))
    if kind == "staff":
        return Q(staff_id__in=cond["in"])
    if kind == "department":
        return Q(staff__department_id__in=cond["in"])
    if kind == "added_weekday":
        return Q(added_at__iso_week_day__in=cond["in"])
    if kind == "added_hour":
        return Q(added_at__hour__gte=cond["from"], added_at__hour__lt=cond["to"])
    if kind == "added_between":
        return Q(added_at__date__gte=cond["from"], added_at__date__lte=cond["to"])
    if kind == "group_joined":
        members = GroupMember.objects.filter(customer_id=OuterRef("customer_id"))
        return Q(Exists(members.filter(group_id__in=cond["in"]) if cond.get("in") else members))
    if kind == "lead_answer":
        leads = Lead.objects.filter(customer_id=OuterRef("customer_id"), **{f"answers__{cond['field']}__in": cond["in"]})
        return Q(Exists(leads))
    raise ValueError(f"unknown condition kind {kind!r}")


def compile_rule(conditions: list[dict], match: str) -> Q:
    combine = operator.and_ if match == "all" else operator.or_
    return functools.reduce(combine, (compile_condition(c) for c in conditions))
