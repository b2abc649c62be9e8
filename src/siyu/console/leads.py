"""Console page for lead forms: their public links and leads, and creating one."""

from __future__ import annotations

from django import forms as django_forms
from django.contrib import messages
from django.db.models import Count, Q
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from siyu.acquisition import leads

from .access import console_view, saved_or_form_error
from .forms import LeadFormForm


@console_view
def lead_form_list(request):
    return _lead_form_page(request, None)


@console_view
def lead_form_edit(request, form_id: int):
    return _lead_form_page(request, leads.lead_form_for_editing(request.actor, form_id))


def _lead_form_page(request, lead_form):
    """The lead forms with their leads, and the editor: a new form, or `lead_form` being edited."""
    actor = request.actor
    initial = LeadFormForm.initial_for(lead_form) if lead_form else None
    form = LeadFormForm(request.POST or None, actor=actor, initial=initial)
    if request.method == "POST":
        saved = None
        if form.is_valid():
            try:
                routes = form.routes()
            except django_forms.ValidationError as exc:
                form.add_error("city_routes", exc)
            else:
                d = form.cleaned_data
                saved = saved_or_form_error(
                    form,
                    lambda: leads.lead_form_save(
                        actor=actor,
                        form=lead_form,
                        name=d["name"],
                        title=d["title"],
                        intro=d["intro"],
                        live_code_id=d["live_code"],
                        fields=form.field_list(),
                        city_routes=routes,
                        **({"status": lead_form.status} if lead_form else {}),
                    ),
                    {"live_code_id": "live_code", "fields": "questions"},
                )
        if saved:
            messages.success(request, _("Lead form “%(name)s” saved.") % {"name": saved.name})
            return redirect("console:lead_forms")
    rows = leads.lead_forms(actor).annotate(n_leads=Count("leads"), n_matched=Count("leads", filter=Q(leads__customer__isnull=False)))
    recent = {f.id: list(leads.leads_of(actor, f).select_related("staff", "customer")[:20]) for f in rows}
    return render(
        request,
        "console/lead_forms.html",
        {"form": form, "editing": lead_form, "rows": [(f, leads.lead_form_url(f), recent[f.id]) for f in rows], "nav": "lead_forms"},
        status=400 if form.errors else 200,
    )
