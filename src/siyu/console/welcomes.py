"""The welcome-send log: every add's welcome and what became of it, with staff and customers by name."""

from __future__ import annotations

from django.shortcuts import render

from siyu.corps.selectors import staff_list
from siyu.customers.selectors import visible_customers
from siyu.kit.pagination import keyset_page
from siyu.messaging.models import WelcomeSend
from siyu.messaging.selectors import welcome_send_counts, welcome_sends

from .access import console_view

PAGE_SIZE = 50


@console_view
def welcome_log(request):
    actor = request.actor
    status = request.GET.get("status", "")
    if status not in WelcomeSend.Status.values:
        status = ""
    sends = welcome_sends(actor, status=status or None)
    rows, next_cursor = keyset_page(sends, cursor=request.GET.get("cursor"), limit=PAGE_SIZE)
    staff = dict(staff_list(actor).filter(userid__in={r.userid for r in rows}).values_list("userid", "name"))
    customers = {c.external_userid: c for c in visible_customers(actor).filter(external_userid__in={r.external_userid for r in rows})}
    for r in rows:
        r.staff_name, r.customer = staff.get(r.userid, r.userid), customers.get(r.external_userid)
    counts = welcome_send_counts(actor)
    context = {
        "rows": rows,
        "status": status,
        "statuses": [(s.value, s.label, counts.get(s.value, 0)) for s in WelcomeSend.Status],
        "next_query": f"status={status}&cursor={next_cursor}" if next_cursor else None,
        "nav": "welcomes",
    }
    return render(request, "console/welcomes.html", context)
