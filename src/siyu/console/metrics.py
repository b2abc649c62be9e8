"""The key-metrics page (项目复盘): the programme's figures by week or month, for the company or per
region, store and guide, with ECharts trends; each count links to the customers behind it."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django import forms
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from siyu.guides import selectors
from siyu.kit.clock import now

from .access import console_view, saved_or_form_error
from .forms import DayField
from .replies import PERIOD

BY = [("", gettext_lazy("Whole company")), ("region", gettext_lazy("Region")), ("department", gettext_lazy("Store")), ("staff", gettext_lazy("Guide"))]


class MetricsForm(forms.Form):
    first = DayField(label=gettext_lazy("From"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    last = DayField(label=gettext_lazy("To"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    by = forms.ChoiceField(label=gettext_lazy("Group by"), choices=BY, required=False)
    period = forms.ChoiceField(label=gettext_lazy("Period"), choices=PERIOD, required=False)


def _customers(row: dict, **filters) -> str:
    """The customer list filtered to the row's guides (all, for the company) and `filters`."""
    query = [("staff", pk) for pk in row["staff_ids"]] + list(filters.items())
    return reverse("console:customers") + "?" + urlencode(query)


def _links(row: dict) -> dict:
    added = {"added_from": row["first"].isoformat(), "added_to": row["last"].isoformat()}
    return {
        "new_customers": _customers(row, **added),
        "converted": _customers(row, buyers="yes", **added),
        "customers": _customers(row),
        "customers_bought": _customers(row, buyers="yes"),
        "orders": reverse("console:orders") + "?" + urlencode({"paid_from": row["first"].isoformat(), "paid_to": row["last"].isoformat()}),
    }


@console_view
def key_metrics(request):
    actor = request.actor
    today = now().astimezone(actor.corp.tzinfo).date()
    defaults = {"first": (today - timedelta(days=89)).isoformat(), "last": today.isoformat(), "by": "", "period": "month"}
    form = MetricsForm({**defaults, **{k: v for k, v in request.GET.items() if k in defaults}})
    context = {"form": form, "nav": "metrics"}
    if not form.is_valid():
        return render(request, "console/metrics.html", context, status=400)
    d = form.cleaned_data
    by, period = d["by"] or None, d["period"] or None
    found = saved_or_form_error(form, lambda: selectors.key_metrics(actor, d["first"], d["last"], by=by, period=period))
    if found is None:
        return render(request, "console/metrics.html", context, status=400)
    whole = found["totals"][0] if not period else selectors.key_metrics(actor, d["first"], d["last"])["totals"][0]
    for row in [whole, *found["totals"], *found["rows"]]:
        row["links"] = _links(row)
    chart = {
        "periods": [r["first"].isoformat() for r in found["totals"]],
        "gmv": [round(r["gmv_fen"] / 100, 2) for r in found["totals"]],
        "conversion": [round(100 * r["conversion"], 1) if r["conversion"] is not None else None for r in found["totals"]],
        "repurchase": [round(100 * r["repurchase_rate"], 1) if r["repurchase_rate"] is not None else None for r in found["totals"]],
        "golden": [round(100 * r["golden_rate"], 1) if r["golden_rate"] is not None else None for r in found["totals"]],
        "labels": {"gmv": _("GMV (yuan)"), "conversion": _("New-customer conversion"), "repurchase": _("Repurchase rate"), "golden": _("14-day reach")},
    }
    context.update({"whole": whole, "totals": found["totals"], "rows": found["rows"], "by": by, "period": period, "chart": chart})
    return render(request, "console/metrics.html", context)
