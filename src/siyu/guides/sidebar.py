"""The chat sidebar (聊天工具栏): the page WeCom opens beside a guide's chat with a customer.

The guide is known by WeCom's OAuth2 (wecom.pages), kept in a short signed session for this corp
only; the customer is the one of the open chat (`getCurExternalContact`, after `wx.agentConfig`
signed with the app's ticket). The page shows the customer as the guide may see them — tags,
value, open tasks, the timeline — and the guide edits their tags (mirrored to WeCom) and the
corp's customer fields; one tap on a task's content or on a quick reply (话术库,
searchable by shelf and words) puts it into the chat (`sendChatMessage`, a call per message: the
text, then each file by a fresh media id); the send is then recorded against the task or the
reply. A follow-up note is written here too. Every write re-checks the session and the guide's
scope.
"""

from __future__ import annotations

import functools
import secrets
from datetime import timedelta

from django.db import transaction
from django.http import Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from siyu.acquisition.views import public_page
from siyu.analytics.selectors import customer_value
from siyu.corps.models import DEFAULT_API_BASE, Corp
from siyu.customers import selectors as customer_selectors
from siyu.customers.fields import customer_fields_set, refusal_shown, typed_again, values_from_form
from siyu.customers.models import Customer
from siyu.customers.services import customer_note_add, customer_tags_set
from siyu.engagement import coupons, lottery, mall
from siyu.engagement.selectors import customer_engagement
from siyu.kit.clock import now
from siyu.kit.errors import DomainError, InvalidInput, Unauthorized
from siyu.kit.schema import whole_in_range
from siyu.kit.tenancy import Actor, Role
from siyu.messaging.library import LinkSource
from siyu.tags.selectors import tag_library
from siyu.wecom import pages

from . import quick_replies, selectors, services

SESSION_KEY = "siyu_sidebar"
SESSION_HOURS = 8  # a working day; then WeCom's sign-in again (silent inside the client)
WECOM_JSSDK = "https://open.work.weixin.qq.com/wwopen/js/jwxwork-1.0.0.js"


def _corp(corp_id: str) -> Corp:
    return get_object_or_404(Corp, corp_id=corp_id)


def _guide(request, corp: Corp) -> Actor:
    """The signed-in guide of this corp's sidebar, or Unauthorized (no session, another corp's,
    or an expired one)."""
    held = request.session.get(SESSION_KEY) or {}
    if held.get("corp") != corp.pk or not held.get("staff") or held.get("until", 0) < now().timestamp():
        raise Unauthorized(_("Your sign-in has ended: open the sidebar again from WeCom."), code="sidebar_session")
    return Actor(user=None, corp=corp, role=Role.GUIDE, staff_id=held["staff"])


def _jssdk_url(corp: Corp) -> str:
    if corp.api_base == DEFAULT_API_BASE:
        return WECOM_JSSDK
    return corp.api_base.rstrip("/").removesuffix("cgi-bin") + "jssdk/jwxwork.js"  # the sandbox's stand-in


@public_page
def sidebar(request, corp_id: str):
    corp = _corp(corp_id)
    try:
        _guide(request, corp)
    except Unauthorized:
        state = secrets.token_urlsafe(16)
        request.session["siyu_sidebar_state"] = state
        back = request.build_absolute_uri(reverse("sidebar_oauth", args=[corp.corp_id]))
        return redirect(pages.authorize_url(corp, redirect_uri=back, state=state))
    response = render(request, "guides/sidebar.html", {"corp": corp, "jssdk": _jssdk_url(corp)})
    response._csp_update = {"script-src": [_jssdk_url(corp)]} if corp.api_base == DEFAULT_API_BASE else {}
    return response


@public_page
def sidebar_oauth(request, corp_id: str):
    """WeCom sends the guide back here with a code: exchanged once for who they are."""
    corp = _corp(corp_id)
    expected = request.session.pop("siyu_sidebar_state", None)
    if not expected or not secrets.compare_digest(expected, request.GET.get("state", "")):
        return render(request, "guides/sidebar_refused.html", {"message": _("This sign-in link is not from this page: open the sidebar again.")}, status=403)
    try:
        staff = pages.staff_for_code(corp, request.GET.get("code", ""))
    except DomainError as exc:
        return render(request, "guides/sidebar_refused.html", {"message": exc.message}, status=exc.status)
    request.session.cycle_key()
    request.session[SESSION_KEY] = {"corp": corp.pk, "staff": staff.pk, "until": (now() + timedelta(hours=SESSION_HOURS)).timestamp()}
    return redirect("sidebar", corp.corp_id)


def _sidebar_view(answer):
    """A sidebar request for the corp in its URL; a refusal (no session, another corp's, an
    expired one …) answered by `answer(request, exc)`: JSON for the page's scripts, HTML for its
    fragments."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, corp_id: str, *args, **kwargs):
            try:
                return view(request, _corp(corp_id), *args, **kwargs)
            except DomainError as exc:
                return answer(request, exc)

        return public_page(wrapper)

    return decorate


_json_refusal = _sidebar_view(lambda request, exc: JsonResponse(exc.as_dict(), status=exc.status))
_html_refusal = _sidebar_view(lambda request, exc: render(request, "guides/sidebar_refused.html", {"message": exc.message}, status=exc.status))


@_json_refusal
def sidebar_config(request, corp: Corp):
    """wx.agentConfig's arguments for the page's own address."""
    _guide(request, corp)
    return JsonResponse(pages.agent_config(corp, request.GET.get("url", "")))


def _customer(actor: Actor, external_userid: str) -> Customer:
    customer = customer_selectors.visible_customers(actor).filter(external_userid=external_userid).first()
    if customer is None:
        raise Http404  # not this guide's customer: nothing of them is shown
    return customer


@_html_refusal
def sidebar_customer(request, corp: Corp):
    """The customer of the open chat, as the guide may see them (an HTML fragment)."""
    actor = _guide(request, corp)
    customer = _customer(actor, request.GET.get("external_userid", ""))
    return render(request, "guides/sidebar_customer.html", _customer_context(actor, customer))


def _customer_context(actor: Actor, customer: Customer, **extra) -> dict:
    follows = customer_selectors.customer_follows(actor, customer)
    value, cls, clv = customer_value(actor, customer.id)
    return {
        "corp": actor.corp,
        "customer": customer,
        "tags": customer_selectors.customer_tag_summary(follows),
        "tag_groups": tag_library(actor),
        "current_tag_ids": {ft.tag_id for f in follows if f.is_active for ft in f.live_follow_tags},
        "fields": customer_selectors.customer_fields(actor, customer),
        "stage": customer_selectors.customer_stage(customer),
        "remark": next((f.remark for f in follows if f.remark), ""),
        "value": value,
        "rfm": cls,
        "clv": clv,
        "timeline": list(customer_selectors.customer_timeline(actor, customer, limit=10)),
        "items": selectors.customer_open_items(actor, customer.id),
        "engagement": customer_engagement(actor, customer.id),
        **_replies_context(actor, ""),
        **extra,
    }


REPLIES_SHOWN = 30  # a phone screen's worth; the search finds the rest


def _replies_context(actor: Actor, q: str) -> dict:
    rows = list(selectors.quick_replies(actor, q=q)[: REPLIES_SHOWN + 1])
    return {"replies": rows[:REPLIES_SHOWN], "replies_more": len(rows) > REPLIES_SHOWN, "replies_q": q}


@_html_refusal
def sidebar_replies(request, corp: Corp):
    """The quick replies that match a search (an HTML fragment)."""
    actor = _guide(request, corp)
    return render(request, "guides/sidebar_replies.html", {"corp": corp, **_replies_context(actor, request.GET.get("q", "")[:50])})


@_json_refusal
def sidebar_chat(request, corp: Corp):
    """What one tap puts into the chat: the `sendChatMessage` arguments of a task's content or a
    quick reply, files uploaded to WeCom (outside any transaction) for fresh media ids."""
    actor = _guide(request, corp)
    task_id, reply_id = request.GET.get("task_id", ""), request.GET.get("reply_id", "")
    if task_id.isdigit():
        task = selectors.guide_task_get(actor, int(task_id))
        text, attachments, via = task.text, task.attachments, f"t{task.pk}"
    elif reply_id.isdigit():
        reply = selectors.quick_reply_get(actor, int(reply_id))
        text, attachments, via = reply.text, reply.attachments, "s"
    else:
        raise Http404
    link = LinkSource(actor.staff_id, via)
    return JsonResponse({"messages": quick_replies.chat_messages(corp, text, attachments, link=link)})


@require_POST
@_json_refusal
def sidebar_reply_sent(request, corp: Corp):
    """The chat has the quick reply (every sendChatMessage answered ok): recorded once per tap."""
    actor = _guide(request, corp)
    customer = _customer(actor, request.POST.get("external_userid", ""))
    raw = request.POST.get("reply_id", "")
    if not raw.isdigit():
        raise Http404
    quick_replies.quick_reply_sent(actor=actor, reply=selectors.quick_reply_get(actor, int(raw)), customer=customer)
    return JsonResponse({"recorded": True})


@require_POST
@_json_refusal
def sidebar_sent(request, corp: Corp):
    """The chat has the task's content (sendChatMessage answered ok): recorded, the customer done."""
    actor = _guide(request, corp)
    customer = _customer(actor, request.POST.get("external_userid", ""))
    raw = request.POST.get("task_id", "")
    task = selectors.guide_task_get(actor, int(raw)) if raw.isdigit() else None
    if task is None:
        raise Http404
    with transaction.atomic():
        done = services.item_sent(actor=actor, task=task, customer=customer, via="sidebar")
    return JsonResponse({"done": done})


@require_POST
@_html_refusal
def sidebar_note(request, corp: Corp):
    actor = _guide(request, corp)
    customer = _customer(actor, request.POST.get("external_userid", ""))
    try:
        with transaction.atomic():
            customer_note_add(actor=actor, customer=customer, text=request.POST.get("text", ""))
    except DomainError as exc:
        context = _customer_context(actor, customer, note_error=exc.message, note_text=request.POST.get("text", ""))
        return render(request, "guides/sidebar_customer.html", context, status=exc.status)
    return render(request, "guides/sidebar_customer.html", _customer_context(actor, customer, note_saved=True))


@require_POST
@_html_refusal
def sidebar_profile(request, corp: Corp):
    """The guide's tags on this customer (the checked set, on their own follow; WeCom is told) and
    the customer's fields: saved together, or nothing is, with the refusal next to its field."""
    actor = _guide(request, corp)
    customer = _customer(actor, request.POST.get("external_userid", ""))
    fields = customer_selectors.customer_fields(actor, customer)
    try:
        with transaction.atomic():
            customer_fields_set(actor=actor, customer=customer, values=values_from_form(fields, request.POST))
            checked = {whole_in_range(v) for v in request.POST.getlist("tags")}
            if None in checked:
                raise InvalidInput(_("Tag ids must be numbers."), code="bad_tag", field="tags")
            customer_tags_set(actor=actor, customer=customer, tag_ids=checked)
    except InvalidInput as exc:
        typed_again(fields, request.POST)
        context = _customer_context(actor, customer, field_error=refusal_shown(exc), profile_error=exc.message)
        context["fields"] = fields
        return render(request, "guides/sidebar_customer.html", context, status=exc.status)
    return render(request, "guides/sidebar_customer.html", _customer_context(actor, customer, profile_saved=True))


@require_POST
@_json_refusal
def sidebar_coupon_verify(request, corp: Corp):
    """The guide scanned (or typed) a customer's coupon in the store: redeemed once, with the guide
    and the store recorded; a refusal says why (used, expired, not this brand's)."""
    actor = _guide(request, corp)
    code, store = request.POST.get("code", ""), request.POST.get("store", "")
    if code.strip().upper().startswith(mall.PICKUP_PREFIX):  # an exchanged item to hand over, scanned the same way
        order = mall.pickup_verify(actor=actor, code=code, store=store)
        return JsonResponse({"code": order.pickup_code, "coupon": order.item.name, "worth": _("picked up"), "status": order.status})
    if code.strip().upper().startswith(lottery.PRIZE_PREFIX):  # a prize won in a lottery
        won = lottery.prize_hand_over(actor=actor, code=code, store=store)
        return JsonResponse({"code": won.prize_code, "coupon": won.prize.name, "worth": _("picked up"), "status": "handed_over"})
    coupon = coupons.coupon_verify(actor=actor, code=code, store=store)
    return JsonResponse({"code": coupon.code, "coupon": coupon.template.name, "worth": coupons.describe(coupon.template), "status": coupon.status})
