"""Staff handover (在职转接 / 离职继承) in the console: HQ hands a member's customers, and their
groups, to another; what WeCom's limits keep back is said before anything is sent; leavers'
customers WeCom lists as unassigned are shown with a way to hand them over."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from siyu.corps.models import Staff
from siyu.corps.selectors import staff_list
from siyu.guides import handover, selectors
from siyu.guides.models import HandoverItem
from siyu.kit.errors import InvalidInput, Unavailable
from siyu.kit.pagination import keyset_page

from .access import console_view, saved_or_form_error

PAGE_SIZE = 30


class HandoverForm(forms.Form):
    handover_staff = forms.TypedChoiceField(label=gettext_lazy("Whose customers"), coerce=int)
    takeover_staff = forms.TypedChoiceField(label=gettext_lazy("To"), coerce=int)
    groups = forms.BooleanField(label=gettext_lazy("Their customer groups too"), required=False, initial=True)
    message = forms.CharField(
        label=gettext_lazy("Message to the customers"),
        required=False,
        max_length=200,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy("On the job only: WeCom tells each customer, who has 24 hours to refuse."),
    )

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        staff = list(staff_list(actor))
        left = _("left")
        self.fields["handover_staff"].choices = [(s.id, f"{s.name} ({s.userid}){' · ' + left if s.status == Staff.Status.LEFT else ''}") for s in staff]
        self.fields["takeover_staff"].choices = [(s.id, f"{s.name} ({s.userid})") for s in staff if s.status == Staff.Status.ACTIVE]


FIELDS = {"handover_staff_id": "handover_staff", "takeover_staff_id": "takeover_staff", "customer_ids": "handover_staff"}


@console_view
def handover_list(request):
    actor = request.actor
    rows, next_cursor = keyset_page(selectors.handovers(actor), cursor=request.GET.get("cursor"), limit=PAGE_SIZE)
    form = HandoverForm(request.POST or None, actor=actor, initial={"handover_staff": request.GET.get("staff")})
    if request.method == "POST" and form.is_valid():
        d = form.cleaned_data
        created = saved_or_form_error(
            form,
            lambda: handover.handover_create(
                actor=actor, handover_staff_id=d["handover_staff"], takeover_staff_id=d["takeover_staff"], groups=d["groups"], message=d["message"]
            ),
            FIELDS,
        )
        if created:
            messages.success(request, _("Handover saved: WeCom is asked now."))
            return redirect("console:handover", created.id)
    context = {"rows": rows, "next_cursor": next_cursor, "form": form, "nav": "handovers"}
    return render(request, "console/handovers.html", context, status=400 if form.errors else 200)


@console_view
def handover_page(request, handover_id: int):
    actor = request.actor
    h = selectors.handover_get(actor, handover_id)
    counts = selectors.handover_counts(h)
    outcomes = [(s.value, s.label, counts[s.value]) for s in HandoverItem.Status]
    status = request.GET.get("status", "") if request.GET.get("status", "") in HandoverItem.Status.values else ""
    items = list(selectors.handover_items(h, status=status)[:500])
    context = {"h": h, "outcomes": outcomes, "items": items, "status": status, "nav": "handovers"}
    return render(request, "console/handover.html", context)


@console_view
def handover_unassigned(request):
    try:
        rows, problem = handover.unassigned(request.actor), ""
    except (InvalidInput, Unavailable) as exc:  # not connected to WeCom, or WeCom did not answer: said on the page
        rows, problem = [], exc.message
    return render(request, "console/handover_unassigned.html", {"rows": rows, "problem": problem, "nav": "handovers"})
