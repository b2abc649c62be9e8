"""Console page for phone imports: upload with a row-by-row report, batches and their
conversion, and a guide's add-friend tasks for today."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from siyu.acquisition import phone_import
from siyu.kit.clock import now
from siyu.kit.errors import InvalidInput

from .access import console_view
from .forms import PhoneImportForm


@console_view
def phone_import_page(request):
    actor = request.actor
    form = PhoneImportForm(request.POST or None, request.FILES or None, actor=actor)
    report = None
    if request.method == "POST":
        actor.require_manager()
        if form.is_valid():
            d = form.cleaned_data
            upload = d["file"]
            try:
                batch = phone_import.phone_import_create(
                    actor=actor, name=d["name"], file_name=upload.name, content=upload.read(), staff_ids=d["staff"], daily_limit=d["daily_limit"],
                    new_account_limit=d["new_account_limit"], work_start=d["work_start"], work_end=d["work_end"], skip_existing=d["skip_existing"],
                )
            except InvalidInput as exc:
                form.add_error(None, exc.message)
                report = exc.details
            else:
                messages.success(request, _("Imported %(n)d numbers as add-friend tasks (%(skipped)d already customers skipped).") % {"n": batch.rows, "skipped": batch.skipped})
                return redirect("console:phone_imports")
    today = now().astimezone(actor.corp.tzinfo).date()
    return render(
        request, "console/phone_imports.html",
        {
            "form": form, "report": report, "batches": phone_import.phone_imports(actor), "nav": "phone_imports",
            "today_tasks": list(phone_import.add_tasks(actor, staff_id=actor.staff_id, day=today)[:200]) if actor.staff_id else [],
        },
        status=400 if form.errors else 200,
    )
