"""Reply statistics (回复统计) for HQ: WeCom's behaviour data per guide, store and region, by week
or month, and the 14-day golden period of new customers by cohort."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from siyu.guides import selectors
from siyu.guides.behaviour import wecom_today

from .access import console_view, saved_or_form_error
from .forms import DayField

BY = [("staff", gettext_lazy("Guide")), ("department", gettext_lazy("Store")), ("region", gettext_lazy("Region"))]
PERIOD = [("", gettext_lazy("Whole period")), ("week", gettext_lazy("By week")), ("month", gettext_lazy("By month"))]
SORT = [("", gettext_lazy("Largest first")), ("rate", gettext_lazy("Lowest rate first")), ("-rate", gettext_lazy("Highest rate first"))]


class ReplyFilterForm(forms.Form):
    first = DayField(label=gettext_lazy("From"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    last = DayField(label=gettext_lazy("To"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    by = forms.ChoiceField(label=gettext_lazy("Group by"), choices=BY, required=False)
    period = forms.ChoiceField(label=gettext_lazy("Period"), choices=PERIOD, required=False)
    sort = forms.ChoiceField(label=gettext_lazy("Sort by"), choices=SORT, required=False)


@console_view
def reply_stats(request):
    actor = request.actor
    yesterday = wecom_today() - timedelta(days=1)
    defaults = {"first": (yesterday - timedelta(days=29)).isoformat(), "last": yesterday.isoformat(), "by": "region", "period": "month"}
    form = ReplyFilterForm({**defaults, **{k: v for k, v in request.GET.items() if k in defaults or k == "sort"}})
    context = {"form": form, "nav": "replies"}
    if not form.is_valid():
        return render(request, "console/replies.html", context, status=400)
    d = form.cleaned_data
    by, period, sort = d["by"] or "region", d["period"] or None, d["sort"]
    replies = saved_or_form_error(form, lambda: selectors.reply_stats(actor, d["first"], d["last"], by=by, period=period, sort=sort))
    if replies is None:
        return render(request, "console/replies.html", context, status=400)
    golden = selectors.golden_period(actor, d["first"], d["last"], by=by, period=period, sort=sort)
    periods = sorted({r["period"] for r in replies if r["period"]})
    names = sorted({r["name"] for r in replies})[:12]
    cells = {(r["name"], r["period"]): r for r in replies}
    chart = {
        "periods": [p.isoformat() for p in periods],
        "series": [{"name": n, "data": [cells[(n, p)]["replied"] if (n, p) in cells else 0 for p in periods]} for n in names],
        "label": _("Chats answered"),
    }
    context.update({"replies": replies, "golden": golden, "by": by, "period": period, "chart": chart})
    return render(request, "console/replies.html", context)
