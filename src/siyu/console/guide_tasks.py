"""Console pages for guide tasks: HQ's list, composer and a task's completion per guide, store and
region (urge, cancel, Excel); a guide's own to-do list and share, on a phone, where a revisit note,
the task's tag or a send is done in a tap."""

from __future__ import annotations

from datetime import datetime

from django import forms
from django.contrib import messages
from django.db import transaction
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from siyu.customers.selectors import customer_get
from siyu.customers.services import customer_note_add, customer_tags_change
from siyu.guides import selectors, services
from siyu.guides.models import GuideTask
from siyu.kit.errors import Conflict, InvalidInput
from siyu.kit.http import XLSX, attachment
from siyu.kit.pagination import keyset_page
from siyu.kit.sheets import workbook
from siyu.tags.models import Tag
from siyu.tags.selectors import live_tags

from .access import console_view, saved_or_form_error
from .attachments import AttachmentRows, attachment_formset
from .fields import WholeField
from .mass_sends import FIELDS as AUDIENCE_FIELDS
from .mass_sends import MassSendForm

PAGE_SIZE = 30
LOCAL_INPUT = {"type": "datetime-local"}


class GuideTaskForm(MassSendForm):
    """A mass send's audience and content fields, and what a task adds: what to do, the tags, the
    start, the notice hour, the deadline and the target."""

    kind = forms.ChoiceField(label=gettext_lazy("What to do"), choices=GuideTask.Kind.choices, widget=forms.RadioSelect, initial=GuideTask.Kind.REVISIT)
    instructions = forms.CharField(label=gettext_lazy("Instructions for the guides"), required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 2}))
    tags = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Tags"),
        coerce=int,
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 5}),
        help_text=gettext_lazy("A tag task: the tags to add. A moment: shown only to customers with one of them (none chosen: all)."),
    )
    starts_at = forms.DateTimeField(
        label=gettext_lazy("Starts"),
        required=False,
        widget=forms.DateTimeInput(attrs=LOCAL_INPUT, format="%Y-%m-%dT%H:%M"),
        help_text=gettext_lazy("Empty: now."),
    )
    notify_hour = WholeField(
        label=gettext_lazy("Tell the guides at (hour)"), required=False, min_value=0, max_value=23, help_text=gettext_lazy("Empty: at the start.")
    )
    ends_at = forms.DateTimeField(label=gettext_lazy("Deadline"), widget=forms.DateTimeInput(attrs=LOCAL_INPUT, format="%Y-%m-%dT%H:%M"))
    target = WholeField(label=gettext_lazy("Target (%)"), min_value=1, max_value=100, initial=100)

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, actor=actor, **kwargs)
        del self.fields["send_at"]
        self.fields["audience_kind"].label = gettext_lazy("For")
        self.fields["audience_kind"].help_text = gettext_lazy("Groups for a group send; customers for the rest. A moment has none: each guide posts once.")
        self.fields["staff"].label = gettext_lazy("Only these guides")
        self.fields["staff"].help_text = gettext_lazy("None chosen: every staff member, each with their own customers.")
        self.fields["departments"].label = gettext_lazy("Or guides in these departments")
        self.fields["text"].label = gettext_lazy("Content to send")
        self.fields["text"].help_text = gettext_lazy("What the guides put into each chat, send to their customers or groups, or post.")
        tags = live_tags(actor).select_related("group").order_by("group__order", "order", "id")
        self.fields["tags"].choices = [(t.id, f"{t.group.name} / {t.name}") for t in tags]


FIELDS = {**AUDIENCE_FIELDS, "tag_ids": "tags", "notify_hour": "notify_hour"}


@console_view
def guide_task_list(request):
    actor = request.actor
    rows, next_cursor = keyset_page(selectors.guide_tasks(actor), cursor=request.GET.get("cursor"), limit=PAGE_SIZE)
    return render(request, "console/guide_tasks.html", {"rows": rows, "next_cursor": next_cursor, "nav": "guide_tasks"})


@console_view
def guide_task_new(request):
    actor = request.actor
    initial = {"audience_kind": "segment", "segment": request.GET.get("segment")} if request.GET.get("segment") else {"audience_kind": "segment"}
    form = GuideTaskForm(request.POST or None, actor=actor, initial=initial)
    attachments = attachment_formset(request, [])
    if request.method == "POST" and form.is_valid():
        rows = AttachmentRows(actor, attachments, [])
        try:
            audience = None if form.cleaned_data["kind"] == GuideTask.Kind.MOMENT else form.audience()
            audience_ok = True
        except forms.ValidationError as exc:
            for field, errors in exc.error_dict.items():
                form.add_error(field, errors)
            audience_ok = False
        if audience_ok and rows.is_valid():
            d = form.cleaned_data
            task = saved_or_form_error(
                form,
                lambda: services.guide_task_create(
                    actor=actor,
                    name=d["name"],
                    kind=d["kind"],
                    audience=audience,
                    instructions=d["instructions"],
                    text=d["text"],
                    attachments=rows.attachments(),
                    tag_ids=d["tags"],
                    staff_ids=d["staff"],
                    department_ids=d["departments"],
                    starts_at=d["starts_at"],
                    notify_hour=d["notify_hour"],
                    ends_at=d["ends_at"],
                    target=d["target"],
                ),
                FIELDS,
            )
            if task is None and form.refusal:
                rows.show(form.refusal, form)
            if task:
                messages.success(request, _("Task “%(name)s” saved: the guides are told at %(at)s.") % {"name": task.name, "at": _local(task.notify_at)})
                return redirect("console:guide_task", task.id)
    context = {"form": form, "attachments": attachments, "nav": "guide_tasks"}
    return render(request, "console/guide_task_new.html", context, status=400 if form.errors or attachments.total_error_count() else 200)


def _local(at: datetime) -> str:
    return timezone.localtime(at).strftime("%Y-%m-%d %H:%M")


@console_view
def guide_task_page(request, guide_task_id: int):
    actor = request.actor
    task = selectors.guide_task_managed(actor, guide_task_id)
    by = request.GET.get("by") if request.GET.get("by") in ("department", "region") else "staff"
    sort = request.GET.get("sort", "")
    context = {
        "task": task,
        "by": by,
        "sort": sort,
        "completion": selectors.guide_task_completion(actor, task, by=by, sort=sort),
        "tags": list(Tag.objects.filter(corp=actor.corp, pk__in=task.tag_ids).values_list("name", flat=True)),
        "nav": "guide_tasks",
    }
    return render(request, "console/guide_task.html", context)


@require_POST
@console_view
def guide_task_urge(request, guide_task_id: int):
    actor = request.actor
    n = services.guide_task_urge(actor=actor, task=selectors.guide_task_managed(actor, guide_task_id))
    messages.success(request, _("Urged: the task is now first in its guides' lists; %(n)d behind get a message.") % {"n": n})
    return redirect("console:guide_task", guide_task_id)


@require_POST
@console_view
def guide_task_cancel(request, guide_task_id: int):
    actor = request.actor
    services.guide_task_cancel(actor=actor, task=selectors.guide_task_managed(actor, guide_task_id))
    messages.success(request, _("The task is cancelled."))
    return redirect("console:guide_task", guide_task_id)


@console_view
def guide_task_completion_xlsx(request, guide_task_id: int):
    actor = request.actor
    task = selectors.guide_task_managed(actor, guide_task_id)
    heading = [_("Name"), _("Guides"), _("Reached the target"), _("Customers"), _("Done"), _("Done by the deadline"), _("Completion")]
    sheets = []
    for by, title in (("staff", _("By staff member")), ("department", _("By department")), ("region", _("By region"))):
        rows = selectors.guide_task_completion(actor, task, by=by)
        sheets.append(
            (title, by, heading, [[r["name"], r["guides"], r["guides_done"], r["customers"], r["done"], r["on_time"], round(r["rate"], 4)] for r in rows])
        )
    return attachment(workbook(sheets), XLSX, f"guide-task-{task.id}-completion.xlsx")


# -- the guide's side ------------------------------------------------------------------------------------
@console_view
def my_tasks(request):
    actor = request.actor
    return render(request, "console/my_tasks.html", {"rows": list(selectors.my_assignments(actor)[:200]), "nav": "my_tasks"})


@console_view
def my_task(request, guide_task_id: int):
    return _my_task_page(request, selectors.guide_task_get(request.actor, guide_task_id))


def _my_task_page(request, task: GuideTask, refusal: tuple[int, str] | None = None):
    actor = request.actor
    assignment = selectors.my_assignment(actor, task)
    status = request.GET.get("status") if request.GET.get("status") in ("open", "done") else "open"
    items = list(selectors.assignment_items(actor, assignment, status=status)[:500]) if assignment else []
    context = {
        "task": task,
        "assignment": assignment,
        "items": items,
        "status": status,
        "tags": list(Tag.objects.filter(corp=actor.corp, pk__in=task.tag_ids).values_list("name", flat=True)),
        "refused_customer": refusal[0] if refusal else None,
        "refusal": refusal[1] if refusal else "",
        "nav": "my_tasks",
    }
    return render(request, "console/my_task.html", context, status=400 if refusal else 200)


@require_POST
@console_view
def my_task_done(request, guide_task_id: int):
    """One tap on a customer of the guide's share: the note written, the task's tags added, or
    the content marked sent. A refusal shows on that customer's row."""
    actor = request.actor
    task = selectors.guide_task_get(actor, guide_task_id)
    raw = request.POST.get("customer_id", "")
    customer = customer_get(actor, int(raw)) if raw.isdigit() else None
    if customer is None:
        raise InvalidInput(_("Which customer?"), code="bad_customer", field="customer_id")
    try:
        with transaction.atomic():
            if task.kind == GuideTask.Kind.REVISIT:
                customer_note_add(actor=actor, customer=customer, text=request.POST.get("text", ""))
            elif task.kind == GuideTask.Kind.TAG:
                tags = list(Tag.objects.filter(corp=actor.corp, pk__in=task.tag_ids, deleted_at__isnull=True))
                customer_tags_change(actor=actor, customer=customer, add=tags)
            else:
                services.item_sent(actor=actor, task=task, customer=customer, via="manual")
    except (InvalidInput, Conflict) as exc:
        return _my_task_page(request, task, refusal=(customer.pk, exc.message))
    messages.success(request, _("%(name)s: done.") % {"name": customer.name})
    return redirect("console:my_task", task.id)
