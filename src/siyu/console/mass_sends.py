"""Console pages for mass sends: the list with live counters, the composer with its preview (the
split per staff member and who the budget leaves out, and why), a send's page with completion per
staff member or department, remind and cancel, the completion as Excel, and the contact policy."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import QueryDict
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from siyu.analytics import segments
from siyu.corps.selectors import department_list, staff_list
from siyu.groups.selectors import group_choices
from siyu.kit.http import XLSX, attachment
from siyu.kit.pagination import keyset_page
from siyu.kit.sheets import workbook
from siyu.messaging import budget, mass_sends, selectors
from siyu.messaging.models import ContactPolicy

from .access import console_view, saved_or_form_error
from .attachments import AttachmentRows, attachment_formset
from .fields import WholeField
from .forms import CustomerFilterForm

PAGE_SIZE = 30


class MassSendForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=64)
    audience_kind = forms.ChoiceField(
        label=gettext_lazy("Send to"),
        choices=[
            ("segment", gettext_lazy("A saved segment")),
            ("filters", gettext_lazy("The customers the list's filters take")),
            ("customers", gettext_lazy("Customers listed here")),
            ("groups", gettext_lazy("Customer groups (through their owners)")),
        ],
        widget=forms.RadioSelect,
        initial="segment",
    )
    segment = forms.TypedChoiceField(label=gettext_lazy("Segment"), coerce=int, required=False, empty_value=None)
    query = forms.CharField(required=False, max_length=4000, widget=forms.HiddenInput)
    listed = forms.CharField(
        label=gettext_lazy("Customers"),
        required=False,
        max_length=4_000_000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=gettext_lazy("One per line: a phone number or an external_userid."),
    )
    group_name = forms.CharField(label=gettext_lazy("Groups whose name contains"), required=False, max_length=100)
    groups = forms.TypedMultipleChoiceField(label=gettext_lazy("Or these groups"), coerce=int, required=False, widget=forms.SelectMultiple(attrs={"size": 5}))
    staff = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Only these senders"),
        coerce=int,
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 5}),
        help_text=gettext_lazy("None chosen: every staff member sends to their own customers."),
    )
    departments = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Or staff in these departments"),
        coerce=int,
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 5}),
        help_text=gettext_lazy("A region takes its stores with it."),
    )
    text = forms.CharField(label=gettext_lazy("Message"), required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 5}))
    send_at = forms.DateTimeField(
        label=gettext_lazy("Send at"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=gettext_lazy("Empty: now. Staff still confirm it in WeCom's 群发助手."),
    )

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.actor = actor
        self.fields["segment"].choices = [("", "—")] + [(s.id, s.name) for s in segments.segment_list(actor)]
        self.fields["staff"].choices = [(s.id, s.name) for s in staff_list(actor).filter(status="active")]
        self.fields["departments"].choices = [(d.id, d.name) for d in department_list(actor)]
        self.fields["groups"].choices = [(g.id, g.name or g.chat_id) for g in group_choices(actor, active_only=True)]

    def audience(self) -> dict:
        d = self.cleaned_data
        if d["audience_kind"] == "segment":
            if not d.get("segment"):
                raise forms.ValidationError({"segment": _("Choose a segment.")})
            return {"kind": "segment", "segment_id": d["segment"]}
        if d["audience_kind"] == "filters":
            filters = CustomerFilterForm(QueryDict(d.get("query") or ""), actor=self.actor)
            if not filters.is_valid():
                raise forms.ValidationError({"audience_kind": _("The list's filters are not valid any more; filter again.")})
            return {"kind": "filters", "filters": filters.to_filters().to_json()}
        if d["audience_kind"] == "groups":
            return {"kind": "groups", "group_ids": d.get("groups") or [], "name_contains": d.get("group_name") or ""}
        lines = [line.strip() for line in (d.get("listed") or "").splitlines() if line.strip()]
        phones = [line for line in lines if line.lstrip("+").isdigit()]
        return {"kind": "customers", "phones": phones, "external_userids": [line for line in lines if line not in phones]}


FIELDS = {
    "audience.kind": "audience_kind",
    "audience.segment_id": "segment",
    "audience.external_userids": "listed",
    "audience.group_ids": "groups",
    "audience.name_contains": "group_name",
    "audience": "audience_kind",
    "staff_ids": "staff",
    "department_ids": "departments",
}


@console_view
def mass_send_list(request):
    actor = request.actor
    rows, next_cursor = keyset_page(selectors.mass_sends(actor), cursor=request.GET.get("cursor"), limit=PAGE_SIZE)
    own = selectors.staff_send_counts(actor) if actor.can_manage else []
    return render(request, "console/mass_sends.html", {"rows": rows, "next_cursor": next_cursor, "own": own, "nav": "mass_sends"})


@console_view
def mass_send_new(request):
    actor = request.actor
    initial = {"query": request.GET.urlencode(), "audience_kind": "filters"} if request.GET else {"audience_kind": "segment"}
    if request.GET.get("segment"):
        initial = {"audience_kind": "segment", "segment": request.GET.get("segment")}
    form = MassSendForm(request.POST or None, actor=actor, initial=initial)
    attachments = attachment_formset(request, [])
    preview = None
    if request.method == "POST" and form.is_valid():
        rows = AttachmentRows(actor, attachments, [])
        try:
            audience = form.audience()
        except forms.ValidationError as exc:
            for field, errors in exc.error_dict.items():
                form.add_error(field, errors)
            audience = None
        if audience is not None and rows.is_valid():
            d = form.cleaned_data
            if request.POST.get("action") == "preview":
                preview = saved_or_form_error(
                    form,
                    lambda: mass_sends.mass_send_preview(actor, audience=audience, staff_ids=d["staff"], department_ids=d["departments"], send_at=d["send_at"]),
                    FIELDS,
                )
            else:
                send = saved_or_form_error(
                    form,
                    lambda: mass_sends.mass_send_create(
                        actor=actor,
                        name=d["name"],
                        audience=audience,
                        text=d["text"],
                        attachments=rows.attachments(),
                        staff_ids=d["staff"],
                        department_ids=d["departments"],
                        send_at=d["send_at"],
                        chat_type="group" if audience["kind"] == "groups" else "single",
                    ),
                    FIELDS,
                )
                if send is None and form.refusal:
                    rows.show(form.refusal, form)
                if send:
                    messages.success(
                        request, _("Mass send “%(name)s” saved: staff get their tasks at %(at)s.") % {"name": send.name, "at": _local(send.send_at)}
                    )
                    return redirect("console:mass_send", send.id)
    if preview:
        preview["skipped_rows"] = [(budget.REASONS.get(k, _("No allowed sender follows them")), n) for k, n in preview["skipped"].items() if n]
    context = {"form": form, "attachments": attachments, "preview": preview, "nav": "mass_sends"}
    return render(request, "console/mass_send_new.html", context, status=400 if form.errors or attachments.total_error_count() else 200)


def _local(at) -> str:
    return timezone.localtime(at).strftime("%Y-%m-%d %H:%M")


@console_view
def mass_send_page(request, send_id: int):
    actor = request.actor
    send = selectors.mass_send_get(actor, send_id)
    by = request.GET.get("by") if request.GET.get("by") in ("department", "region") else "staff"
    context = {
        "send": send,
        "by": by,
        "completion": selectors.mass_send_completion(actor, send, by=by, sort=request.GET.get("sort", "")) if actor.can_manage else [],
        "sort": request.GET.get("sort", ""),
        "my_tasks": list(selectors.mass_send_tasks(actor, send)) if actor.is_guide else [],
        "failed": list(selectors.mass_send_tasks(actor, send, status="failed")[:50]) if actor.can_manage else [],
        "nav": "mass_sends",
    }
    return render(request, "console/mass_send.html", context)


@require_POST
@console_view
def mass_send_remind(request, send_id: int):
    actor = request.actor
    mass_sends.mass_send_remind(actor=actor, send=selectors.mass_send_get(actor, send_id))
    messages.success(request, _("Staff who have not sent are being reminded."))
    return redirect("console:mass_send", send_id)


@require_POST
@console_view
def mass_send_cancel(request, send_id: int):
    actor = request.actor
    mass_sends.mass_send_cancel(actor=actor, send=selectors.mass_send_get(actor, send_id))
    messages.success(request, _("The send is being cancelled; what staff already sent stays sent."))
    return redirect("console:mass_send", send_id)


@console_view
def mass_send_completion_xlsx(request, send_id: int):
    actor = request.actor
    send = selectors.mass_send_get(actor, send_id)
    heading = [_("Name"), _("Tasks"), _("Sent"), _("On time"), _("Customers"), _("Completion")]
    sheets = []
    for by, title in (("staff", _("By staff member")), ("department", _("By department"))):
        rows = selectors.mass_send_completion(actor, send, by=by)
        sheets.append((title, by, heading, [[r["name"], r["assigned"], r["sent"], r["on_time"], r["customers"], round(r["rate"], 4)] for r in rows]))
    return attachment(workbook(sheets), XLSX, f"mass-send-{send.id}-completion.xlsx")


class PolicyForm(forms.Form):
    wecom_cap = forms.ChoiceField(
        label=gettext_lazy("WeCom's receive limit"),
        choices=ContactPolicy.Cap.choices,
        help_text=gettext_lazy("As your corp's admin set it in WeCom: 群发助手 → 设置群发规则."),
    )
    max_per_week = WholeField(label=gettext_lazy("At most, in any 7 days"), required=False, min_value=1, max_value=100)
    min_gap_hours = WholeField(label=gettext_lazy("Not within hours of the last message"), required=False, min_value=1, max_value=720)
    quiet_start = forms.TimeField(label=gettext_lazy("Quiet hours from"), required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))
    quiet_end = forms.TimeField(label=gettext_lazy("Quiet hours until"), required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))


@console_view
def contact_policy_page(request):
    actor = request.actor
    policy = selectors.contact_policy(actor)
    initial = {f: getattr(policy, f) for f in ("wecom_cap", "max_per_week", "min_gap_hours", "quiet_start", "quiet_end")}
    form = PolicyForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        if saved_or_form_error(form, lambda: budget.policy_save(actor=actor, **form.cleaned_data)):
            messages.success(request, _("Contact policy saved."))
            return redirect("console:contact_policy")
    return render(request, "console/contact_policy.html", {"form": form, "nav": "mass_sends"}, status=400 if form.errors else 200)
