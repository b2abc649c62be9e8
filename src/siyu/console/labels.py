"""What operators read instead of stored codes: an auto-tag rule's conditions in words, with the
names of the channels, staff and groups they point at."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from siyu.acquisition.selectors import channels, live_codes
from siyu.corps.selectors import department_list, staff_list
from siyu.groups.selectors import groups

WEEKDAY_NAMES = {
    1: gettext_lazy("Mon"),
    2: gettext_lazy("Tue"),
    3: gettext_lazy("Wed"),
    4: gettext_lazy("Thu"),
    5: gettext_lazy("Fri"),
    6: gettext_lazy("Sat"),
    7: gettext_lazy("Sun"),
}
ID_KINDS = {"channel": channels, "live_code": live_codes, "staff": staff_list, "department": department_list, "group_joined": groups}


def condition_names(actor, rules) -> dict[str, dict[int, str]]:
    """The names behind the ids the rules' conditions hold: one query per kind, for those ids only."""
    wanted: dict[str, set[int]] = {}
    for rule in rules:
        for cond in rule.conditions:
            if cond.get("kind") in ID_KINDS:
                wanted.setdefault(cond["kind"], set()).update(cond.get("in", []))
    names = {}
    for kind, ids in wanted.items():
        rows = ID_KINDS[kind](actor).filter(pk__in=ids)
        names[kind] = {row.pk: (getattr(row, "name", "") or getattr(row, "chat_id", "") or str(row.pk)) for row in rows}
    return names


def describe_conditions(conditions, names) -> list[str]:
    out = []
    for cond in conditions:
        kind = cond.get("kind")
        if kind in ID_KINDS:
            listed = "、".join(names.get(kind, {}).get(i, f"#{i}") for i in cond.get("in", []))
            label = {
                "channel": _("Channel: %(names)s"),
                "live_code": _("Live code: %(names)s"),
                "staff": _("Staff: %(names)s"),
                "department": _("Department: %(names)s"),
                "group_joined": _("Joined a group: %(names)s") if listed else _("Joined any group"),
            }[kind]
            out.append(label % {"names": listed} if listed else str(label))
        elif kind == "added_weekday":
            out.append(_("Added on %(days)s") % {"days": "、".join(str(WEEKDAY_NAMES[d]) for d in cond["in"])})
        elif kind == "added_hour":
            out.append(_("Added between %(start)02d:00 and %(end)02d:00") % {"start": cond["from"], "end": cond["to"]})
        elif kind == "added_between":
            out.append(_("Added from %(start)s to %(end)s") % {"start": cond["from"], "end": cond["to"]})
        elif kind == "lead_answer":
            out.append(_("Lead answer “%(field)s” is %(values)s") % {"field": cond["field"], "values": "、".join(cond["in"])})
    return out
