"""How a console request becomes an Actor: the logged-in user in the corp chosen in the switcher."""

import functools

from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from siyu.corps.selectors import actor_for
from siyu.kit.errors import Conflict, DomainError, InvalidInput
from siyu.kit.schema import refuse_nul

SESSION_CORP_KEY = "siyu_corp_id"


def console_view(view):
    @login_required
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        actor = actor_for(request.user, request.session.get(SESSION_CORP_KEY))
        if actor is None:
            return render(request, "console/no_corp.html", status=403)
        request.actor = actor
        # Operators read times in their corp's timezone, whatever the server's.
        with timezone.override(actor.corp.tzinfo):
            try:
                # A savepoint per view: a refused action writes nothing, and the error page
                # can still read (the membership switcher) in the request's transaction.
                with transaction.atomic():
                    # Every page, form or not: the text no field stores.
                    refuse_nul(request.GET, request.POST)
                    return view(request, *args, **kwargs)
            except DomainError as exc:
                return render(request, "console/error.html", {"error": exc}, status=exc.status)

    return wrapper


def saved_or_form_error(form, action, fields: dict[str, str] | None = None):
    """Run a service for a valid form: its refusal (InvalidInput, Conflict) shows on the form, next
    to the field it names, instead of an error page, and the savepoint keeps a refused save from
    writing anything. Returns the service's result, or None when it refused."""
    try:
        with transaction.atomic():
            return action()
    except (InvalidInput, Conflict) as exc:
        form_refusal(form, exc, fields)
        return None


def form_refusal(form, exc: DomainError, fields: dict[str, str] | None = None) -> None:
    """Put a service's refusal on the form field it is about. Services name fields as the API
    does (`channel_id`, `members.2.weight`); `fields` maps those onto the form's where they differ."""
    form.add_error(refusal_field(form, exc.field, fields), exc.message)
    form.refusal = exc


def refusal_field(form, name: str | None, fields: dict[str, str] | None = None) -> str | None:
    if not name:
        return None
    fields = fields or {}
    head = name.split(".", 1)[0]
    for candidate in (fields.get(name), fields.get(head), name, head, head.removesuffix("_ids"), head.removesuffix("_id"), head.removesuffix("_fen")):
        if candidate and candidate in form.fields:
            return candidate
    return None


def form_error_text(form) -> str:
    """A form's errors as one line, each under its field's label, for pages that have no form to show them on."""
    parts = [str(e) for e in form.non_field_errors()]
    parts += [f"{form[name].label}{_(':')} {e}" for name, errors in form.errors.items() if name in form.fields for e in errors]
    return " ".join(parts)
