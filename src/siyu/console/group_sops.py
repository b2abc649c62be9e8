"""Group SOPs in the console: the calendars, one calendar's week (each slot's group-send task and how
far its owners got), and its editor (the layer of groups and up to eight weekly slots)."""

from __future__ import annotations

from datetime import date, timedelta

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from siyu.groups.models import CustomerGroup
from siyu.journeys import sops
from siyu.journeys.models import GroupSop
from siyu.kit.clock import now
from siyu.kit.errors import InvalidInput

from .access import console_view, form_refusal
from .fields import WholeField
from .journeys import WEEKDAYS

ROWS = 8
LAYER_FIELDS = {"layer": "name_contains", "layer.name_contains": "name_contains", "audience.name_contains": "name_contains", "audience.group_ids": "group_ids"}


class CalendarForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=64)
    name_contains = forms.CharField(
        label=gettext_lazy("Groups whose name contains"), max_length=100, required=False, help_text=gettext_lazy("e.g. mothers, VIP, city")
    )
    group_ids = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Or these groups"), coerce=int, required=False, widget=forms.SelectMultiple(attrs={"size": 6})
    )

    def __init__(self, *args, actor=None, **kwargs):
        super().__init__(*args, **kwargs)
        groups = CustomerGroup.objects.for_corp(actor.corp).filter(status=CustomerGroup.Status.ACTIVE).order_by("name")[:2000]
        self.fields["group_ids"].choices = [(g.pk, g.name or g.chat_id) for g in groups]


class SlotForm(forms.Form):
    weekday = forms.TypedChoiceField(label=gettext_lazy("Weekday"), choices=[(None, "—"), *WEEKDAYS], coerce=int, required=False, empty_value=None)
    at = forms.CharField(label=gettext_lazy("Time (HH:MM)"), max_length=5, required=False)
    title = forms.CharField(label=gettext_lazy("Theme"), max_length=40, required=False)
    text = forms.CharField(label=gettext_lazy("Text"), max_length=4000, required=False, widget=forms.Textarea(attrs={"rows": 2}))
    hours = WholeField(label=gettext_lazy("Hours to send"), min_value=1, max_value=72, required=False, initial=4)


SLOT_FIELDS = {"weekday": "weekday", "at": "at", "title": "title", "text": "text", "hours": "hours", "attachments": "text", "key": "title"}


def _slot_forms(data, slots: list[dict]):
    return [SlotForm(data, prefix=f"slot{i}", initial=slots[i] if i < len(slots) else {}) for i in range(max(ROWS, len(slots)))]


@console_view
def group_sop_list(request):
    actor = request.actor
    actor.require_manager()
    rows = list(GroupSop.objects.for_corp(actor.corp).order_by("-updated_at"))
    return render(request, "console/group_sops.html", {"rows": rows, "nav": "journeys"})


@console_view
def group_sop_edit(request, sop_id: int = 0):
    actor = request.actor
    actor.require_manager()
    sop = sops.group_sop_get(actor, sop_id) if sop_id else None
    initial = {"name": sop.name, "name_contains": sop.layer.get("name_contains", ""), "group_ids": sop.layer.get("group_ids", [])} if sop else {}
    form = CalendarForm(request.POST or None, initial=initial, actor=actor)
    slot_forms = _slot_forms(request.POST or None, sop.slots if sop else [])
    if request.method == "POST" and form.is_valid() and all(s.is_valid() for s in slot_forms):
        filled = [(s, s.cleaned_data) for s in slot_forms if s.cleaned_data.get("title") or s.cleaned_data.get("text")]
        slots = [{"key": f"s{i + 1}", **{k: v for k, v in d.items() if v not in (None, "")}} for i, (_s, d) in enumerate(filled)]
        d = form.cleaned_data
        try:
            saved = sops.group_sop_save(
                actor=actor, name=d["name"], layer={"name_contains": d["name_contains"], "group_ids": d["group_ids"]}, slots=slots, sop=sop
            )
        except InvalidInput as exc:
            field = exc.field or ""
            if field.startswith("slots.") and field.count(".") >= 2 and filled:
                index, name = int(field.split(".")[1]), field.split(".")[2]
                target = filled[index][0] if index < len(filled) else slot_forms[0]
                target.add_error(SLOT_FIELDS.get(name, None), exc.message)
            elif field == "slots" and slot_forms:
                slot_forms[0].add_error("title", exc.message)
            else:
                form_refusal(
                    form,
                    exc,
                    {"layer": "name_contains", "layer.group_ids": "group_ids", "layer.name_contains": "name_contains", "audience.group_ids": "group_ids"},
                )
        else:
            messages.success(request, _("Calendar “%(name)s” saved.") % {"name": saved.name})
            return redirect("console:group_sop", saved.pk)
    errors = bool(form.errors) or any(s.errors for s in slot_forms)
    context = {"sop": sop, "form": form, "slot_forms": slot_forms, "nav": "journeys"}
    return render(request, "console/group_sop_edit.html", context, status=400 if errors else 200)


@console_view
def group_sop_detail(request, sop_id: int):
    actor = request.actor
    sop = sops.group_sop_get(actor, sop_id)
    today = now().astimezone(actor.corp.tzinfo).date()
    try:
        start = date.fromisoformat(request.GET.get("week", ""))
    except ValueError:
        start = today
    monday = start - timedelta(days=start.weekday())
    context = {
        "sop": sop,
        "days": sops.week(sop, monday),
        "monday": monday,
        "previous": monday - timedelta(days=7),
        "next": monday + timedelta(days=7),
        "nav": "journeys",
    }
    return render(request, "console/group_sop.html", context)


@require_POST
@console_view
def group_sop_toggle(request, sop_id: int):
    actor = request.actor
    sop = sops.group_sop_get(actor, sop_id)
    try:
        sops.group_sop_status(actor=actor, sop=sop, active=sop.status != GroupSop.Status.ACTIVE)
    except InvalidInput as exc:
        messages.error(request, exc.message)
        return redirect("console:group_sop", sop.pk)
    messages.success(request, _("Running: each slot's task is made a day ahead.") if sop.status == GroupSop.Status.ACTIVE else _("Paused."))
    return redirect("console:group_sop", sop.pk)
