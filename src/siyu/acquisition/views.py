"""Public pages behind QR codes: the exact-mode landing page (no login; a phone opens it)."""

from __future__ import annotations

import functools

from django.conf import settings
from django.db import transaction
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

from siyu.corps.models import Corp
from siyu.kit.clock import now
from siyu.kit.errors import DomainError, TooManyRequests
from siyu.kit.http import client_ip
from siyu.kit.schema import refuse_nul
from siyu.kit.throttle import network_hit
from siyu.wecom.client import WeComClient, WeComError

from . import routing, services
from .leads import lead_submit
from .models import LeadForm, LiveCode

# One visitor reloading the page keeps their guide for the day instead of using up caps.
STICKY_MAX_AGE = 86400


def public_page(view):
    """A page a customer opens on their phone: in Chinese whatever the browser or a console cookie
    says, never cached, and outside the request's transaction (routing locks the code briefly, and
    WeCom may be called, which must not hold the database)."""

    @never_cache
    @transaction.non_atomic_requests
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        with translation.override("zh-hans"):
            return view(request, *args, **kwargs)

    return wrapper


def _sticky_key(code: LiveCode) -> str:
    return f"siyu_lc_{code.state}"


@public_page
def landing(request, corp_id: str, state: str):
    if limited := _over_network_rate(request, "landing"):
        return limited
    corp = Corp.objects.filter(corp_id=corp_id).first()
    code = LiveCode.objects.select_related("corp").filter(corp=corp, state=state).exclude(status=LiveCode.Status.DELETED).first() if corp else None
    if code is None or code.mode != LiveCode.Mode.EXACT:
        return _gone(request, corp)
    at = now()
    day = routing.local_now(code, at).date().isoformat()
    seat = None
    remembered_day, _sep, remembered_staff = (request.get_signed_cookie(_sticky_key(code), default="", salt="live-code", max_age=STICKY_MAX_AGE)).partition(":")
    if remembered_day == day and routing.is_open(code, at):
        seat = next((s for s in routing.pool_for_scan(code) if str(s.staff_id) == remembered_staff), None)
    fresh = seat is None
    if fresh:
        try:
            seat = services.assign_staff_for_scan(live_code=code, at=at)
        except services.NoStaffAvailable:
            return _busy(request, code.corp, "", 409)
    try:
        way = services.staff_way_for(code, seat, client=WeComClient.for_page(code.corp))
    except WeComError:
        if fresh:
            services.assign_release(live_code=code, staff_id=seat.staff_id, at=at)
        return _busy(request, code.corp, _("We could not show an advisor's code just now. Please try again."), 503)
    response = render(request, "acquisition/landing.html", {"code": code, "way": way, "staff_name": seat.name or seat.userid})
    if fresh:
        response.set_signed_cookie(_sticky_key(code), f"{day}:{seat.staff_id}", salt="live-code", max_age=STICKY_MAX_AGE, httponly=True, samesite="Lax")
    return response


@public_page
def lead_form(request, slug: str):
    """The public lead form; on a valid submission, the routed staff member's own code."""

    if limited := _over_network_rate(request, "lead_form"):
        return limited
    form = LeadForm.objects.select_related("corp").filter(slug=slug).first()
    if form is None:
        return _gone(request, None)
    campaign = (request.POST.get("campaign") or request.GET.get("campaign") or request.GET.get("utm_campaign") or "")[:64]
    context = {"form": form, "rows": [(f, "") for f in form.fields], "error": None, "campaign": campaign}
    if request.method == "POST":
        context["rows"] = [(f, request.POST.get(f["key"], "").replace("\x00", "")[:100]) for f in form.fields]
        try:
            refuse_nul(request.POST, labels={f["key"]: f["label"] for f in form.fields})
            lead, _created = lead_submit(form=form, data=request.POST, ip=client_ip(request), campaign_id=campaign)
        except services.NoStaffAvailable:
            return _busy(request, form.corp, "", 409)
        except DomainError as exc:
            context["error"] = exc
            return render(request, "acquisition/lead_form.html", context, status=exc.status)
        staff_name = lead.staff.name if lead.staff else ""
        return render(request, "acquisition/lead_done.html", {"form": form, "lead": lead, "staff_name": staff_name})
    return render(request, "acquisition/lead_form.html", context)


def _gone(request, corp: Corp | None):
    """An unknown or deleted code or form: a page that says so, not a bare "Not Found"."""
    return render(request, "acquisition/gone.html", {"corp": corp}, status=404)


def _busy(request, corp: Corp | None, message: str, status: int):
    """The page a visitor gets when no guide can be shown now (message empty: everyone is busy)."""
    return render(request, "acquisition/landing_full.html", {"corp": corp, "message": message}, status=status)


def _over_network_rate(request, scope: str):
    """The 429 page when the visitor's network is past SIYU_PUBLIC_PAGE_RATE for `scope`, else None."""
    try:
        network_hit(scope, client_ip(request), settings.SIYU_PUBLIC_PAGE_RATE)
    except TooManyRequests:
        return _busy(request, None, _("Too many visits from your network just now. Please try again in a minute."), 429)
    return None
