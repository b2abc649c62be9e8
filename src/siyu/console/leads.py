"""Console page for lead forms: their public links and leads, and creating one."""

from __future__ import annotations

from django.contrib import messages
from django.db.models import Count, Q
from django.forms.forms import NON_FIELD_ERRORS
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from siyu.acquisition import leads
from siyu.customers import selectors as customer_selectors

from .access import console_view, saved_or_form_error
from .forms import CityRouteFormSet, LeadFormForm, LeadQuestionForm, LeadQuestionFormSet, city_routes, lead_questions


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
    codes = form.fields["live_code"].choices
    post = request.POST if request.method == "POST" else None
    # Bound, the rows are what was sent: compared with stored initial values, unchanged rows would
    # count as blank ones and be dropped.
    stored = [LeadQuestionForm.initial_for(q) for q in (lead_form.fields if lead_form else []) if q.get("key") != "phone"]
    targets = [(f.key, f.name) for f in customer_selectors.custom_fields(actor)]
    questions = LeadQuestionFormSet(post, prefix="q", initial=None if post else stored, form_kwargs={"customer_fields": targets})
    stored_routes = [{"city": city, "live_code": code} for city, code in (lead_form.city_routes.items() if lead_form else [])]
    routes = CityRouteFormSet(post, prefix="r", form_kwargs={"live_codes": codes}, initial=None if post else stored_routes)
    if request.method == "POST":
        saved = None
        # Every part is checked, so each shows its errors at once.
        valid = [part.is_valid() for part in (form, questions, routes)]
        if all(valid):
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
                    fields=lead_questions(questions),
                    city_routes=city_routes(routes),
                    **({"status": lead_form.status} if lead_form else {}),
                ),
                {"live_code_id": "live_code"},
            )
            if saved is None:
                _refusal_on_row(form, questions, routes)
        if saved:
            messages.success(request, _("Lead form “%(name)s” saved.") % {"name": saved.name})
            return redirect("console:lead_forms")
    rows = leads.lead_forms(actor).annotate(n_leads=Count("leads"), n_matched=Count("leads", filter=Q(leads__customer__isnull=False)))
    recent = {f.id: list(leads.leads_of(actor, f).select_related("staff", "customer")[:20]) for f in rows}
    code_names = dict(codes)
    for f in rows:
        f.routes_named = [(city, code_names.get(code, f"#{code}")) for city, code in f.city_routes.items()]
        own = [q for q in f.fields if q["key"] != "phone"]
        asked = {q["key"] for q in own}
        for lead in recent[f.id]:
            # In the form's order (PostgreSQL's jsonb keeps no order), then answers to questions since dropped.
            lead.labelled = [(q.get("label", q["key"]), lead.answers[q["key"]]) for q in own if q["key"] in lead.answers]
            lead.labelled += [(k, v) for k, v in sorted(lead.answers.items()) if k != "phone" and k not in asked]
    failed = form.errors or questions.total_error_count() or routes.total_error_count()
    return render(
        request,
        "console/lead_forms.html",
        {
            "form": form,
            "questions": questions,
            "routes": routes,
            "editing": lead_form,
            "rows": [(f, leads.lead_form_url(f), recent[f.id]) for f in rows],
            "nav": "lead_forms",
        },
        status=400 if failed else 200,
    )


def _refusal_on_row(form, questions, routes) -> None:
    """The service names a question as `fields.N.part` (phone is 0) and a route as `city_routes.CITY`:
    show its refusal on that row instead of at the top."""
    exc = getattr(form, "refusal", None)
    parts = (exc.field or "").split(".") if exc else []
    rows = [f for f in questions.forms if f.question()]
    if parts[:1] == ["fields"] and len(parts) > 1 and parts[1].isdigit() and 0 < int(parts[1]) <= len(rows):
        field = {"options": "options", "type": "type", "customer_field": "customer_field"}.get(parts[-1], "label")
        rows[int(parts[1]) - 1].add_error(field, exc.message)
    elif parts[:1] == ["city_routes"] and len(parts) > 1:
        for f in routes.forms:
            if f.cleaned_data.get("city", "").strip() == parts[1]:
                f.add_error("live_code", exc.message)
    else:
        return
    form.errors.pop(NON_FIELD_ERRORS, None)  # shown on its row, not again at the top
