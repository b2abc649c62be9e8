"""Public pages behind QR codes: the exact-mode landing page (no login; a phone opens it)."""

from __future__ import annotations

from django.db import transaction
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from siyu.corps.models import Corp
from siyu.kit.clock import now
from siyu.kit.errors import DomainError

from . import routing, services
from .leads import lead_submit
from .models import LeadForm, LiveCode

# One visitor reloading the page keeps their guide for the day instead of using up caps.
STICKY_MAX_AGE = 86400


def _sticky_key(code: LiveCode) -> str:
    return f"siyu_lc_{code.state}"


@never_cache
@transaction.non_atomic_requests
def landing(request, corp_id: str, state: str):
    # Not one transaction per request: routing locks the code briefly, and showing a guide the
    # first time may call WeCom to create their code, which must not hold the database.
    corp = Corp.objects.filter(corp_id=corp_id).first()
    code = LiveCode.objects.select_related("corp").filter(corp=corp, state=state).exclude(status=LiveCode.Status.DELETED).first() if corp else None
    if code is None or code.mode != LiveCode.Mode.EXACT:
        raise Http404("no such live code")
    at = now()
    day = routing.local_now(code, at).date().isoformat()
    seat = None
    remembered_day, _, remembered_staff = (request.get_signed_cookie(_sticky_key(code), default="", salt="live-code", max_age=STICKY_MAX_AGE)).partition(":")
    if remembered_day == day and routing.is_open(code, at):
        seat = next((s for s in routing.pool_for_scan(code) if str(s.staff_id) == remembered_staff), None)
    fresh = seat is None
    if fresh:
        try:
            seat = services.assign_staff_for_scan(live_code=code, at=at)
        except services.NoStaffAvailable:
            return render(request, "acquisition/landing_full.html", {"code": code}, status=409)
    way = services.staff_way_for(code, seat)
    response = render(request, "acquisition/landing.html", {"code": code, "way": way, "staff_name": seat.name or seat.userid})
    if fresh:
        response.set_signed_cookie(_sticky_key(code), f"{day}:{seat.staff_id}", salt="live-code", max_age=STICKY_MAX_AGE, httponly=True, samesite="Lax")
    return response


@never_cache
@transaction.non_atomic_requests
def lead_form(request, slug: str):
    """The public lead form; on a valid submission, the routed staff member's own code."""

    form = LeadForm.objects.select_related("corp").filter(slug=slug).first()
    if form is None:
        raise Http404("no such form")
    campaign = (request.POST.get("campaign") or request.GET.get("campaign") or request.GET.get("utm_campaign") or "")[:64]
    context = {"form": form, "rows": [(f, "") for f in form.fields], "error": None, "campaign": campaign}
    if request.method == "POST":
        context["rows"] = [(f, request.POST.get(f["key"], "")[:100]) for f in form.fields]
        try:
            lead, _created = lead_submit(form=form, data=request.POST, ip=request.META.get("REMOTE_ADDR"), campaign_id=campaign)
        except services.NoStaffAvailable:
            return render(request, "acquisition/landing_full.html", {"code": form.live_code}, status=409)
        except DomainError as exc:
            context["error"] = exc
            return render(request, "acquisition/lead_form.html", context, status=exc.status)
        staff_name = lead.staff.name if lead.staff else ""
        return render(request, "acquisition/lead_done.html", {"form": form, "lead": lead, "staff_name": staff_name})
    return render(request, "acquisition/lead_form.html", context)
