"""Console pages for what came in: the orders list with search, and the history of order imports
with each one's report."""

from __future__ import annotations

from django import forms
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from siyu.kit.pagination import keyset_page
from siyu.orders.selectors import order_import_get, order_list

from .access import console_view
from .fields import DayField

PAGE_SIZE = 50


class OrderFilterForm(forms.Form):
    q = forms.CharField(
        label=_("Search"), required=False, max_length=64, widget=forms.TextInput(attrs={"placeholder": _("Order no., phone, customer or store")})
    )
    source = forms.CharField(label=_("Source system"), required=False, max_length=32)
    matched = forms.ChoiceField(label=_("Customer"), required=False, choices=[("", _("All")), ("no", _("Not matched to a customer yet"))], initial="")
    paid_from = DayField(label=_("Paid from"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    paid_to = DayField(label=_("Paid to"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))


@console_view
def order_list_page(request):
    actor = request.actor
    form = OrderFilterForm(request.GET or {})
    rows, next_cursor, total = [], None, 0
    if form.is_valid():
        d = form.cleaned_data
        qs = order_list(
            actor, q=d["q"].strip(), source=d["source"].strip(), unmatched=d["matched"] == "no", paid_from=d["paid_from"], paid_to=d["paid_to"]
        ).select_related("customer", "staff")
        total = qs.count()
        rows, next_cursor = keyset_page(qs, cursor=request.GET.get("cursor"), limit=PAGE_SIZE)
    query = request.GET.copy()
    query.pop("cursor", None)
    if next_cursor:
        query["cursor"] = next_cursor
    context = {"form": form, "rows": rows, "total": total, "next_query": query.urlencode() if next_cursor else None, "nav": "orders"}
    return render(request, "console/orders.html", context, status=400 if form.errors else 200)


@console_view
def order_import_report(request, import_id: int):
    run = order_import_get(request.actor, import_id)
    # While the worker reads the file, the card asks again every second (htmx) and shows the progress.
    template = "console/_order_import_card.html" if request.htmx else "console/order_import_report.html"
    return render(request, template, {"run": run, "nav": "order_import"})
