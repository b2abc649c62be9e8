"""The quick-reply library (话术库) in the console: HQ keeps shelves of ready answers that guides
put into chats from the sidebar; everyone can read and search it (a guide on a phone too), only a
manager edits it (the services refuse anyone else)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from siyu.guides import quick_replies, selectors

from .access import console_view, saved_or_form_error
from .attachments import AttachmentRows, attachment_formset
from .fields import WholeField


class QuickReplyGroupForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Reply group name"), max_length=32)
    position = WholeField(label=gettext_lazy("Position in the list"), min_value=0, max_value=999, initial=0, required=False)


class QuickReplyForm(forms.Form):
    group = forms.TypedChoiceField(label=gettext_lazy("Reply group"), coerce=int)
    title = forms.CharField(label=gettext_lazy("Title"), max_length=64, help_text=gettext_lazy("What guides find it by."))
    text = forms.CharField(label=gettext_lazy("Text"), required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 5}))
    position = WholeField(label=gettext_lazy("Position in the list"), min_value=0, max_value=999, initial=0, required=False)

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["group"].choices = [(g.id, g.name) for g in selectors.quick_reply_groups(actor, to_edit=True)]


FIELDS = {"group_id": "group"}


@console_view
def quick_reply_list(request):
    actor = request.actor
    q = request.GET.get("q", "")[:50]
    rows = list(selectors.quick_replies(actor, q=q)[:500])
    group_form = QuickReplyGroupForm(request.POST or None, prefix="g")
    if request.method == "POST" and group_form.is_valid():
        d = group_form.cleaned_data
        group = saved_or_form_error(group_form, lambda: quick_replies.quick_reply_group_save(actor=actor, name=d["name"], position=d["position"] or 0))
        if group:
            messages.success(request, _("Group “%(name)s” added.") % {"name": group.name})
            return redirect("console:quick_replies")
    context = {"rows": rows, "q": q, "groups": list(selectors.quick_reply_groups(actor)), "group_form": group_form, "nav": "quick_replies"}
    return render(request, "console/quick_replies.html", context, status=400 if group_form.errors else 200)


@console_view
def quick_reply_edit(request, quick_reply_id: int | None = None):
    actor = request.actor
    reply = selectors.quick_reply_get(actor, quick_reply_id, to_edit=True) if quick_reply_id else None
    initial = {"group": reply.group_id, "title": reply.title, "text": reply.text, "position": reply.position} if reply else {"group": request.GET.get("group")}
    form = QuickReplyForm(request.POST or None, actor=actor, initial=initial)
    attachments = attachment_formset(request, reply.attachments if reply else [])
    if request.method == "POST" and form.is_valid():
        rows = AttachmentRows(actor, attachments, reply.attachments if reply else [])
        if rows.is_valid():
            d = form.cleaned_data
            saved = saved_or_form_error(
                form,
                lambda: quick_replies.quick_reply_save(
                    actor=actor,
                    reply=reply,
                    group_id=d["group"],
                    title=d["title"],
                    text=d["text"],
                    attachments=rows.attachments(),
                    position=d["position"] or 0,
                ),
                FIELDS,
            )
            if saved is None and form.refusal:
                rows.show(form.refusal, form)
            if saved:
                messages.success(request, _("Reply “%(title)s” saved: guides see it in the sidebar now.") % {"title": saved.title})
                return redirect("console:quick_replies")
    context = {"form": form, "reply": reply, "attachments": attachments, "nav": "quick_replies"}
    return render(request, "console/quick_reply_edit.html", context, status=400 if form.errors or attachments.total_error_count() else 200)


@require_POST
@console_view
def quick_reply_delete(request, quick_reply_id: int):
    actor = request.actor
    reply = selectors.quick_reply_get(actor, quick_reply_id, to_edit=True)
    quick_replies.quick_reply_delete(actor=actor, reply=reply)
    messages.success(request, _("Reply “%(title)s” deleted.") % {"title": reply.title})
    return redirect("console:quick_replies")


@require_POST
@console_view
def quick_reply_group_delete(request, quick_reply_group_id: int):
    actor = request.actor
    group = selectors.quick_reply_group_get(actor, quick_reply_group_id, to_edit=True)
    quick_replies.quick_reply_group_delete(actor=actor, group=group)
    messages.success(request, _("Group “%(name)s” deleted.") % {"name": group.name})
    return redirect("console:quick_replies")
