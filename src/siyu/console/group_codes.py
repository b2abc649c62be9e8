"""Console page for group live codes: the pools and how full they are, alerts, creating one."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.groups import codes, selectors
from siyu.groups.models import GroupCode
from siyu.kit.errors import InvalidInput

from .access import console_view, saved_or_form_error
from .forms import GroupCodeForm


@console_view
def group_code_list(request):
    actor = request.actor
    form = GroupCodeForm(request.POST or None, actor=actor)
    if request.method == "POST":
        d = form.cleaned_data if form.is_valid() else None
        code = d and saved_or_form_error(form, lambda: _save(actor, d))
        if code:
            messages.success(request, _("Group code “%(name)s” saved.") % {"name": code.name})
            return redirect("console:group_codes")
    return render(
        request, "console/group_codes.html", {"form": form, "codes": selectors.group_codes(actor), "nav": "group_codes"}, status=400 if form.errors else 200
    )


def _save(actor, d: dict) -> GroupCode:
    return codes.group_code_save(
        actor=actor,
        name=d["name"],
        group_ids=d["groups"],
        member_limit=d["member_limit"],
        auto_create=d["auto_create"],
        room_base_name=d["room_base_name"],
        room_base_id=d["room_base_id"],
        low_pool_alert=d["low_pool_alert"],
        welcome_text=d["welcome_text"],
    )


@require_POST
@console_view
def group_code_status(request, group_code_id: int):
    code = selectors.group_code_get(request.actor, group_code_id)
    status = request.POST.get("status", "")
    if status not in GroupCode.Status.values:
        raise InvalidInput(_("Unknown status."), field="status")
    codes.group_code_set_status(actor=request.actor, code=code, status=status)
    return redirect("console:group_codes")
