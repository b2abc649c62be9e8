"""Console pages for customer moments: the list with its composer, and a moment's page with who
published, whom it reached, likes and comments, remind and cancel."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from siyu.corps.selectors import department_list, staff_list
from siyu.kit.pagination import keyset_page
from siyu.messaging import moments, selectors
from siyu.tags.selectors import live_tags

from .access import console_view, saved_or_form_error
from .attachments import AttachmentRows, attachment_formset


class MomentForm(forms.Form):
    text = forms.CharField(label=gettext_lazy("Text"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 4}))
    staff = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Published by"),
        coerce=int,
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 5}),
        help_text=gettext_lazy("None chosen, and no department: every staff member."),
    )
    departments = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Or staff in these departments"), coerce=int, required=False, widget=forms.SelectMultiple(attrs={"size": 5})
    )
    tags = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Shown only to customers with"), coerce=int, required=False, widget=forms.SelectMultiple(attrs={"size": 5})
    )
    like_tag = forms.TypedChoiceField(label=gettext_lazy("Tag who likes it"), coerce=int, required=False, empty_value=None)
    comment_tag = forms.TypedChoiceField(label=gettext_lazy("Tag who comments"), coerce=int, required=False, empty_value=None)

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        tags = [(t.id, f"{t.group.name} / {t.name}") for t in live_tags(actor).select_related("group").order_by("group__order", "order", "id")]
        self.fields["staff"].choices = [(s.id, s.name) for s in staff_list(actor).filter(status="active")]
        self.fields["departments"].choices = [(d.id, d.name) for d in department_list(actor)]
        self.fields["tags"].choices = tags
        self.fields["like_tag"].choices = self.fields["comment_tag"].choices = [("", "—"), *tags]


FIELDS = {"staff_ids": "staff", "department_ids": "departments", "tag_ids": "tags", "like_tag_id": "like_tag", "comment_tag_id": "comment_tag"}


@console_view
def moment_list(request):
    actor = request.actor
    form = MomentForm(request.POST or None, actor=actor)
    attachments = attachment_formset(request, [])
    if request.method == "POST" and form.is_valid():
        rows = AttachmentRows(actor, attachments, [])
        if rows.is_valid():
            d = form.cleaned_data
            moment = saved_or_form_error(
                form,
                lambda: moments.moment_create(
                    actor=actor,
                    text=d["text"],
                    attachments=rows.attachments(),
                    staff_ids=d["staff"],
                    department_ids=d["departments"],
                    tag_ids=d["tags"],
                    like_tag_id=d["like_tag"],
                    comment_tag_id=d["comment_tag"],
                ),
                FIELDS,
            )
            if moment is None and form.refusal:
                rows.show(form.refusal, form)
            if moment:
                messages.success(request, _("The moment goes to its staff now; they publish it from WeCom."))
                return redirect("console:moment", moment.id)
    page, next_cursor = keyset_page(selectors.moments(actor), cursor=request.GET.get("cursor"), limit=30)
    context = {"form": form, "attachments": attachments, "rows": page, "next_cursor": next_cursor, "nav": "moments"}
    return render(request, "console/moments.html", context, status=400 if form.errors or attachments.total_error_count() else 200)


@console_view
def moment_page(request, moment_id: int):
    actor = request.actor
    moment = selectors.moment_get(actor, moment_id)
    executors = list(selectors.moment_executors(actor, moment)[:500])
    return render(request, "console/moment.html", {"moment": moment, "executors": executors, "nav": "moments"})


@require_POST
@console_view
def moment_remind(request, moment_id: int):
    actor = request.actor
    moments.moment_remind(actor=actor, moment=selectors.moment_get(actor, moment_id))
    messages.success(request, _("Staff who have not published are being reminded."))
    return redirect("console:moment", moment_id)


@require_POST
@console_view
def moment_cancel(request, moment_id: int):
    actor = request.actor
    moments.moment_cancel(actor=actor, moment=selectors.moment_get(actor, moment_id))
    messages.success(request, _("The moment is being cancelled."))
    return redirect("console:moment", moment_id)
