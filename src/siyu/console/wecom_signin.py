"""Signing in from inside WeCom. A guide taps a task's app card (message/send) in WeCom and lands
on their task page: WeCom's OAuth2 says who they are (silently inside the client), and the Siyu
user tied to that staff member is signed in; an active staff member without one gets a guide's
(corps.services.guide_membership_for_staff), as in the chat sidebar. No password on a phone."""

from __future__ import annotations

import secrets

from django.contrib.auth import login
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from siyu.acquisition.views import public_page
from siyu.corps.models import Corp
from siyu.corps.selectors import memberships_of
from siyu.corps.services import guide_membership_for_staff
from siyu.kit.errors import DomainError
from siyu.wecom import pages

from .access import SESSION_CORP_KEY

STATE_KEY = "siyu_wecom_signin"
LANDING = "/my/tasks/"


def _refused(request, message: str, status: int = 403):
    return render(request, "guides/sidebar_refused.html", {"message": message}, status=status)


@public_page
def wecom_signin(request, corp_id: str):
    """The app card's link: straight to `next` for someone signed in to this corp, else to WeCom's
    authorize page and back."""
    corp = get_object_or_404(Corp, corp_id=corp_id)
    wanted = request.GET.get("next", "")
    wanted = wanted if wanted.startswith("/") and url_has_allowed_host_and_scheme(wanted, allowed_hosts={request.get_host()}) else LANDING
    if request.user.is_authenticated and memberships_of(request.user).filter(corp=corp).exists():
        request.session[SESSION_CORP_KEY] = corp.pk
        return redirect(wanted)
    state = secrets.token_urlsafe(16)
    request.session[STATE_KEY] = {"state": state, "next": wanted}
    back = request.build_absolute_uri(reverse("console:wecom_signin_back", args=[corp.corp_id]))
    return redirect(pages.authorize_url(corp, redirect_uri=back, state=state))


@public_page
def wecom_signin_back(request, corp_id: str):
    """WeCom sends the member back with a code: exchanged once for who they are."""
    corp = get_object_or_404(Corp, corp_id=corp_id)
    held = request.session.pop(STATE_KEY, None) or {}
    if not held.get("state") or not secrets.compare_digest(held["state"], request.GET.get("state", "")):
        return _refused(request, _("This sign-in link is not from this page: open it again from WeCom."))
    try:
        staff = pages.staff_for_code(corp, request.GET.get("code", ""))
        membership = guide_membership_for_staff(corp=corp, staff=staff)
    except DomainError as exc:
        return _refused(request, exc.message, exc.status)
    login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")  # cycles the session key
    request.session[SESSION_CORP_KEY] = corp.pk
    return redirect(held.get("next") or LANDING)
