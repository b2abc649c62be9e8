"""Console page for phone imports: upload with a row-by-row report, batches and their
conversion, and a guide's add-friend tasks for today."""

from __future__ import annotations

from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from siyu.acquisition import phone_import
from siyu.kit.clock import now

from .access import console_view, saved_or_form_error
from .forms import PhoneImportForm


@console_view
def phone_import_page(request):
    actor = request.actor
    form = PhoneImportForm(request.POST or None, request.FILES or None, actor=actor)
    if request.method == "POST":
        d = form.cleaned_data if form.is_valid() else None
        batch = d and saved_or_form_error(
            form,
            lambda: phone_import.phone_import_create(
                actor=actor,
                name=d["name"],
                file_name=d["file"].name,
                content=d["file"].read(),
                staff_ids=d["staff"],
                daily_limit=d["daily_limit"],
                new_account_limit=d["new_account_limit"],
                work_start=d["work_start"],
                work_end=d["work_end"],
                skip_existing=d["skip_existing"],
                queue=True,
            ),
        )
        if batch:  # checked and written by the worker; its page shows how far it is
            return redirect("console:phone_import_report", batch.pk)
    today = now().astimezone(actor.corp.tzinfo).date()
    return render(
        request,
        "console/phone_imports.html",
        {
            "form": form,
            "batches": phone_import.phone_imports(actor),
            "nav": "phone_imports",
            "today_tasks": list(phone_import.add_tasks_to_do(actor, today)[:200]) if actor.staff_id else [],
            "today": today,
        },
        status=400 if form.errors else 200,
    )


@require_POST
@console_view
def add_task_mark(request, task_id: int):
    """The guide's list: a friend request sent (or taken back)."""
    actor = request.actor
    task = phone_import.add_task_get(actor, task_id)
    phone_import.add_task_mark(actor=actor, task=task, requested=request.POST.get("requested") == "yes")
    return redirect(reverse("console:phone_imports") + "#my-tasks")


@console_view
def phone_import_report(request, phone_import_id: int):
    """One import: waiting, its progress while the worker writes it, then its outcome (the problem
    rows of a rejected file). The card polls itself until the import is over."""
    batch = phone_import.phone_import_get(request.actor, phone_import_id)
    template = "console/_phone_import_card.html" if request.htmx else "console/phone_import_report.html"
    return render(request, template, {"batch": batch, "nav": "phone_imports"})
