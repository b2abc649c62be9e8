"""How a console request becomes an Actor: the logged-in user in the corp chosen in the switcher."""

import functools

from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.shortcuts import render
from django.utils import timezone

from siyu.corps.selectors import actor_for
from siyu.kit.errors import DomainError, InvalidInput
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


def saved_or_form_error(form, action):
    """Run a service for a valid form: its refusal (InvalidInput) shows on the form instead of an
    error page, and the savepoint keeps a refused save from writing anything. Returns the
    service's result, or None when it refused."""
    try:
        with transaction.atomic():
            return action()
    except InvalidInput as exc:
        form.add_error(None, exc.message)
        form.refusal = exc
        return None
