"""Leaderboards (排行榜): HQ ranks guides, stores and regions by adds, net adds, task completion,
answered chats, GMV and first-order conversion; a guide sees their own figures and place."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.shortcuts import render
from django.utils.translation import gettext_lazy

from siyu.guides import selectors
from siyu.kit.clock import now

from .access import console_view, saved_or_form_error
from .forms import DayField
from .replies import BY

METRICS = [
    ("gmv_fen", gettext_lazy("GMV")),
    ("adds", gettext_lazy("Adds")),
    ("net_adds", gettext_lazy("Net adds")),
    ("task_rate", gettext_lazy("Task completion")),
    ("replied", gettext_lazy("Chats answered")),
    ("conversion", gettext_lazy("First-order conversion")),
]


class BoardForm(forms.Form):
    first = DayField(label=gettext_lazy("From"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    last = DayField(label=gettext_lazy("To"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    by = forms.ChoiceField(label=gettext_lazy("Group by"), choices=BY, required=False)
    sort = forms.ChoiceField(label=gettext_lazy("Rank by"), choices=METRICS, required=False)


def _form(request):
    today = now().astimezone(request.actor.corp.tzinfo).date()
    defaults = {"first": (today - timedelta(days=29)).isoformat(), "last": today.isoformat(), "by": "department", "sort": "gmv_fen"}
    return BoardForm({**defaults, **{k: v for k, v in request.GET.items() if k in defaults}})


@console_view
def leaderboard(request):
    form = _form(request)
    context = {"form": form, "metrics": METRICS, "nav": "leaderboard"}
    if not form.is_valid():
        return render(request, "console/leaderboard.html", context, status=400)
    d = form.cleaned_data
    rows = saved_or_form_error(
        form, lambda: selectors.leaderboard(request.actor, d["first"], d["last"], by=d["by"] or "department", sort=d["sort"] or "gmv_fen")
    )
    if rows is None:
        return render(request, "console/leaderboard.html", context, status=400)
    context.update({"rows": rows, "by": d["by"] or "department", "sort": d["sort"] or "gmv_fen"})
    return render(request, "console/leaderboard.html", context)


@console_view
def my_rank(request):
    form = _form(request)
    if not form.is_valid():
        return render(request, "console/my_rank.html", {"form": form, "nav": "my_rank"}, status=400)
    d = form.cleaned_data
    mine = selectors.my_rank(request.actor, d["first"], d["last"])
    rows = [(key, label, mine["figures"][key], mine["places"][key]) for key, label in METRICS] if mine else []
    return render(request, "console/my_rank.html", {"form": form, "mine": mine, "rows": rows, "nav": "my_rank"})
