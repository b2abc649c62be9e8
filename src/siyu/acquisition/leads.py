"""Lead forms (留资): saving forms, taking a submission, routing it to a staff member's
temporary code, and matching the add that follows to the answers.

`lead_submit` calls WeCom (the temporary contact way) and so runs outside a transaction, like
the landing page that calls it.
"""

from __future__ import annotations

import secrets
import time
from datetime import date, timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from siyu.corps.models import Corp
from siyu.customers.selectors import custom_fields
from siyu.kit.clock import now
from siyu.kit.errors import InvalidInput, NotFound, TooManyRequests, Unavailable
from siyu.kit.phones import phone_normalise  # noqa: F401 — callers import it from here too
from siyu.kit.schema import text_within
from siyu.kit.tenancy import Actor, get_for
from siyu.wecom.client import WeComClient, WeComError

from . import services
from .models import Lead, LeadForm, LiveCode

LEAD_PREFIX = services.LEAD_PREFIX
FIELD_TYPES = ("phone", "city", "text", "select", "date", "number")
MAX_FIELDS = 12
TEMP_WAY_SECONDS = 86400  # the visitor has a day to add; WeCom deletes the temporary code after
# Spam safety: a visitor (IP) may send this many new leads per window; one phone gets one lead
# per form and day (submitting again shows the same guide's code).
IP_LIMIT, IP_WINDOW = 5, timedelta(minutes=10)
PHONE_WINDOW = timedelta(days=1)
# How long a reserved lead may wait for its WeCom code before it counts as abandoned.
PENDING_FOR = timedelta(seconds=settings.SIYU_WECOM_PAGE_SECONDS + 1)


def fields_clean(raw) -> list[dict]:
    if not isinstance(raw, list) or len(raw) > MAX_FIELDS:
        raise InvalidInput(_("A form has at most %(max_fields)s questions.") % {"max_fields": MAX_FIELDS}, code="bad_fields", field="fields")
    clean, keys = [], set()
    for i, f in enumerate(raw):
        where = f"fields.{i}"
        if not isinstance(f, dict) or f.get("type") not in FIELD_TYPES:
            raise InvalidInput(_("The type is one of %(value)s.") % {"value": ", ".join(FIELD_TYPES)}, code="bad_fields", field=f"{where}.type")
        key = f.get("key") or f["type"]
        if not isinstance(key, str) or not key.isidentifier() or len(key) > 32 or key in keys:
            raise InvalidInput(_("The key is a unique name of letters, digits and _ (at most 32)."), code="bad_fields", field=f"{where}.key")
        if (f["type"] == "phone") != (key == "phone"):
            raise InvalidInput(_('The phone question is the one with key "phone".'), code="bad_fields", field=where)
        options = f.get("options") or []
        if f["type"] == "select" and (not isinstance(options, list) or not options or not all(isinstance(o, str) for o in options)):
            raise InvalidInput(_("A choice question needs its options."), code="bad_fields", field=f"{where}.options")
        keys.add(key)
        target = f.get("customer_field") or ""
        if not isinstance(target, str) or (target and f["type"] == "phone"):
            raise InvalidInput(
                _("The phone is kept with the customer already; other questions may fill a field."), code="bad_fields", field=f"{where}.customer_field"
            )
        clean.append(
            {
                "key": key,
                "label": str(f.get("label") or key)[:40],
                "type": f["type"],
                "required": bool(f.get("required", f["type"] == "phone")),
                **({"options": [o[:40] for o in options]} if f["type"] in ("select", "city") and options else {}),
                **({"customer_field": target} if target else {}),
            }
        )
    if "phone" not in keys:
        clean.insert(0, {"key": "phone", "label": "手机号", "type": "phone", "required": True})
    return clean


def _exact_code(actor: Actor, live_code_id: int, field: str) -> LiveCode:
    code = LiveCode.objects.filter(corp=actor.corp, pk=live_code_id).exclude(status=LiveCode.Status.DELETED).first()
    if code is None:
        raise InvalidInput(_("No live code %(live_code_id)s in this corp.") % {"live_code_id": live_code_id}, code="unknown_live_code", field=field)
    if code.mode != LiveCode.Mode.EXACT:
        raise InvalidInput(_("A lead form routes through an exact-mode live code (it picks the staff per lead)."), code="not_exact_mode", field=field)
    return code


def lead_form_save(
    *,
    actor: Actor,
    form: LeadForm | None = None,
    name: str,
    live_code_id: int,
    fields: list,
    title: str = "",
    intro: str = "",
    city_routes: dict | None = None,
    status: str = LeadForm.Status.ACTIVE,
) -> LeadForm:
    actor.require_manager()
    if not (name or "").strip():
        raise InvalidInput(_("A lead form needs a name."), field="name")
    code = _exact_code(actor, live_code_id, "live_code_id")
    routes = {}
    for city, code_id in (city_routes or {}).items():
        if not isinstance(code_id, int):
            raise InvalidInput(_("%(city)s: a live code id.") % {"city": city}, field=f"city_routes.{city}")
        routes[str(city).strip()[:32]] = _exact_code(actor, code_id, f"city_routes.{city}").pk
    form = form or LeadForm(corp=actor.corp, slug=secrets.token_urlsafe(9))
    form.name, form.title, form.intro = text_within(name.strip(), 64, "name"), text_within(title, 100, "title"), text_within(intro, 2000, "intro")
    form.live_code = code
    form.fields, form.city_routes, form.status = _fields_for_customer_fields(actor, fields_clean(fields)), routes, status
    form.save()
    return form


# Which customer fields an answer can fill: a date a date, a number a number, a choice or a city a
# choice field (its options among the field's choices) or a text field.
FILLS = {"date": {"date"}, "number": {"number"}, "select": {"choice", "text"}, "city": {"choice", "text"}, "text": {"text"}}


def _fields_for_customer_fields(actor: Actor, questions: list[dict]) -> list[dict]:
    """Questions that fill a customer field name a live field of a kind the answer fits."""
    named = [q["customer_field"] for q in questions if q.get("customer_field")]
    live = {f.key: f for f in custom_fields(actor).filter(key__in=named)}
    for i, q in enumerate(questions):
        target = q.get("customer_field")
        if not target:
            continue
        where = f"fields.{i}.customer_field"
        field = live.get(target)
        if field is None:
            raise InvalidInput(_("There is no field “%(key)s”.") % {"key": target}, code="unknown_field", field=where)
        if field.kind not in FILLS[q["type"]]:
            raise InvalidInput(
                _("“%(label)s” cannot fill “%(field)s”: the answer is not of the field's kind.") % {"label": q["label"], "field": field.name},
                code="bad_fields",
                field=where,
            )
        outside = [o for o in q.get("options", []) if field.kind == "choice" and o not in field.choices]
        if outside or (field.kind == "choice" and not q.get("options")):
            raise InvalidInput(
                _("The options must be choices of “%(field)s” (%(choices)s).") % {"field": field.name, "choices": " / ".join(field.choices)},
                code="bad_fields",
                field=f"fields.{i}.options",
            )
    return questions


def answers_clean(form: LeadForm, data: dict) -> dict:
    answers = {}
    for f in form.fields:
        value = text_within(str(data.get(f["key"], "") or "").strip(), 100, f["key"])
        if not value:
            if f["required"]:
                raise InvalidInput(_("%(label)s is required.") % {"label": f["label"]}, code="missing_answer", field=f["key"])
            continue
        if f["type"] == "phone":
            value = phone_normalise(value, f["key"])
        elif f["type"] in ("select", "city") and f.get("options") and value not in f["options"]:
            raise InvalidInput(_("%(label)s: choose one of the options.") % {"label": f["label"]}, code="bad_answer", field=f["key"])
        elif f["type"] == "date":
            try:
                date.fromisoformat(value)
            except ValueError:
                raise InvalidInput(_("%(label)s: a date like 2026-05-01.") % {"label": f["label"]}, code="bad_answer", field=f["key"]) from None
        elif f["type"] == "number":
            try:
                float(value)
            except ValueError:
                raise InvalidInput(_("%(label)s: a number.") % {"label": f["label"]}, code="bad_answer", field=f["key"]) from None
        answers[f["key"]] = value
    return answers


def lead_submit(*, form: LeadForm, data: dict, ip: str | None, campaign_id: str = "") -> tuple[Lead, bool]:
    """Take one submission: validate, limit, route, give the visitor a staff code of their own.
    Returns (lead, created); the same phone again within a day gets its earlier lead back.

    The lead is reserved first, under the form's lock, so the per-network limit and the
    one-lead-per-phone rule hold however many submissions arrive at once; WeCom is then asked
    for the code outside any transaction, within a page's time bound. If that fails, the
    reservation and the guide's hold are taken back: nothing of the submission remains.
    """
    if form.status != LeadForm.Status.ACTIVE:
        raise NotFound(_("This form is closed."), code="form_closed")
    answers = answers_clean(form, data)
    lead, created = _lead_reserve(form, answers, ip, campaign_id)
    if not created:
        return _lead_completed(lead), False
    code = seat = None
    try:
        code = LiveCode.objects.select_related("corp").get(pk=lead.live_code_id)
        seat = services.assign_staff_for_scan(live_code=code, at=lead.created_at)
        answer = WeComClient.for_page(form.corp).add_contact_way(
            type=1,
            scene=2,
            users=[seat.userid],
            state=lead.state,
            remark=f"留资 {form.name}"[:30],
            skip_verify=code.skip_verify,
            is_temp=True,
            expires_in=TEMP_WAY_SECONDS,
        )
    except BaseException as exc:
        if seat is not None:
            services.assign_release(live_code=code, staff_id=seat.staff_id, at=lead.created_at)
        Lead.objects.filter(pk=lead.pk).delete()
        if isinstance(exc, WeComError):
            raise _wecom_unavailable() from exc
        raise
    Lead.objects.filter(pk=lead.pk).update(staff_id=seat.staff_id, config_id=answer["config_id"], qr_url=answer.get("qr_code", ""))
    lead.refresh_from_db()
    return lead, True


def _lead_reserve(form: LeadForm, answers: dict, ip: str | None, campaign_id: str) -> tuple[Lead, bool]:
    """The lead row before its code exists (config_id empty), or the phone's earlier lead."""
    phone, city = answers["phone"], answers.get("city", "")
    with transaction.atomic():
        LeadForm.objects.select_for_update().filter(pk=form.pk).first()
        stamp = now()
        recent = Lead.objects.filter(form=form, phone=phone, created_at__gte=stamp - PHONE_WINDOW).order_by("-id")
        # A reservation older than a page's time bound belongs to a request that died.
        earlier = recent.exclude(config_id="", created_at__lt=stamp - PENDING_FOR).first()
        if earlier is not None:
            return earlier, False
        if ip and Lead.objects.filter(form=form, ip=ip, created_at__gte=stamp - IP_WINDOW).count() >= IP_LIMIT:
            raise TooManyRequests(_("Too many submissions from your network. Please try again in a few minutes."))
        lead = Lead.objects.create(
            corp=form.corp,
            form=form,
            phone=phone,
            city=city,
            answers=answers,
            ip=ip,
            campaign_id=campaign_id[:64],
            state=_new_state(form.corp),
            live_code_id=form.city_routes.get(city, form.live_code_id),
        )
    return lead, True


def _lead_completed(lead: Lead) -> Lead:
    """The phone's earlier lead; if another request is still asking WeCom for its code (a double
    tap on the button), wait for that within the page's bound and show the same code."""
    deadline = time.monotonic() + PENDING_FOR.total_seconds()
    while not lead.config_id:
        if time.monotonic() > deadline:
            raise Unavailable(_("This submission is still being handled. Please submit again."), code="lead_pending")
        time.sleep(0.1)
        lead = Lead.objects.filter(pk=lead.pk).first()
        if lead is None:
            raise _wecom_unavailable()
    return lead


def _wecom_unavailable() -> Unavailable:
    return Unavailable(_("We could not show an advisor's code just now. Please submit again."), code="wecom_unavailable")


def _new_state(corp: Corp) -> str:
    while True:
        state = LEAD_PREFIX + secrets.token_urlsafe(12).replace("-", "x").replace("_", "y")
        if not Lead.objects.filter(corp=corp, state=state).exists():
            return state


def lead_forms(actor: Actor):
    return LeadForm.objects.for_corp(actor.corp).select_related("live_code").order_by("-id")


def lead_form_get(actor: Actor, form_id: int) -> LeadForm:
    return get_for(actor, lead_forms(actor), _("No such lead form."), pk=form_id)


def lead_form_for_editing(actor: Actor, form_id: int) -> LeadForm:
    actor.require_manager()
    return lead_form_get(actor, form_id)


def leads_of(actor: Actor, form: LeadForm):
    # Reservations still waiting for their WeCom code are not leads yet.
    qs = Lead.objects.for_corp(actor.corp).filter(form=form).exclude(config_id="")
    # A guide sees the leads routed to them.
    return (qs.filter(staff_id=actor.staff_id) if actor.is_guide else qs).order_by("-id")


def lead_form_url(form: LeadForm) -> str:
    return settings.SIYU_PUBLIC_URL + reverse("lead_form", args=[form.slug])
