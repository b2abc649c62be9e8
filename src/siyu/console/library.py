"""Console pages for the content library (素材库): items in folders with tags, each item's page with
who read it and what it led to, and the interest rules that tag readers."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from siyu.engagement import reading
from siyu.engagement import selectors as engagement_selectors
from siyu.kit.errors import InvalidInput
from siyu.messaging import library, selectors
from siyu.messaging.media import media_create
from siyu.messaging.models import ContentItem
from siyu.tags.selectors import live_tags

from .access import console_view, saved_or_form_error
from .fields import WholeField

KINDS = ContentItem.Kind.choices


class ItemForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("Type"), choices=KINDS)
    title = forms.CharField(label=gettext_lazy("Title"), max_length=64)
    summary = forms.CharField(label=gettext_lazy("Summary"), required=False, max_length=170, help_text=gettext_lazy("Shown on the link card."))
    body = forms.CharField(
        label=gettext_lazy("Article text"),
        required=False,
        max_length=library.MAX_BODY,
        widget=forms.Textarea(attrs={"rows": 12}),
        help_text=gettext_lazy("HTML paragraphs, headings, lists, pictures and links; scripts and styles are removed."),
    )
    cover = forms.ImageField(label=gettext_lazy("Card picture"), required=False)
    upload = forms.FileField(label=gettext_lazy("Poster, image, video or file"), required=False)
    url = forms.CharField(label=gettext_lazy("Link URL"), required=False, max_length=2048)
    appid = forms.CharField(label=gettext_lazy("Mini-program AppID"), required=False, max_length=64)
    page = forms.CharField(label=gettext_lazy("Mini-program page"), required=False, max_length=1024)
    tags = forms.CharField(
        label=gettext_lazy("Library tags"), required=False, max_length=200, help_text=gettext_lazy("Separated by commas, e.g. weaning, new in.")
    )
    folder = forms.TypedChoiceField(label=gettext_lazy("Folder"), coerce=int, required=False, empty_value=None)

    def __init__(self, *args, actor, item: ContentItem | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["folder"].choices = [("", "—"), *((f.id, f.name) for f in selectors.content_folders_to_edit(actor))]
        if item is not None:
            self.fields["kind"].disabled = True


FIELDS = {"media": "upload", "tags": "tags", "folder": "folder", "cover": "cover"}
UPLOAD_KIND = {"poster": "image", "image": "image", "video": "video", "file": "file"}


def _initial(item: ContentItem) -> dict:
    return {
        "kind": item.kind,
        "title": item.title,
        "summary": item.summary,
        "body": item.body,
        "url": item.url,
        "appid": item.appid,
        "page": item.page,
        "tags": ", ".join(item.tags),
        "folder": item.folder_id,
    }


def _save(request, form: ItemForm, item: ContentItem | None):
    actor, d = request.actor, form.cleaned_data
    kind = item.kind if item else d["kind"]

    def save():
        cover = item.cover_id if item else None
        media = item.media_id if item else None
        if d.get("cover"):
            cover = _upload(actor, "image", d["cover"], "cover")
        if d.get("upload") and kind in UPLOAD_KIND:
            media = _upload(actor, UPLOAD_KIND[kind], d["upload"], "media")
        tags = [t.strip() for t in d["tags"].replace("，", ",").split(",")]
        return library.item_save(
            actor=actor,
            item=item,
            kind=kind,
            title=d["title"],
            summary=d["summary"],
            body=d["body"],
            cover=cover,
            media=media,
            url=d["url"],
            appid=d["appid"],
            page=d["page"],
            tags=tags,
            folder=d["folder"],
        )

    return saved_or_form_error(form, save, FIELDS)


def _upload(actor, kind: str, upload, field: str) -> int:
    try:
        return media_create(actor=actor, kind=kind, name=upload.name, content=upload.read()).pk
    except InvalidInput as exc:
        exc.field = field  # the form has two file fields; say which one
        raise


@console_view
def library_list(request):
    actor = request.actor
    g = request.GET
    folder = g.get("folder", "")
    items = selectors.content_items(
        actor,
        kind=g.get("kind", ""),
        folder=int(folder) if folder.isdigit() else None,
        tag=g.get("tag", "")[:16],
        q=g.get("q", "")[:64],
        archived=bool(g.get("archived")),
    )
    folder_form = FolderForm(request.POST or None)
    if request.method == "POST" and folder_form.is_valid():
        if saved_or_form_error(folder_form, lambda: library.folder_create(actor=actor, name=folder_form.cleaned_data["name"])):
            messages.success(request, _("Folder created."))
            return redirect("console:library")
    context = {
        "items": items[:200],
        "folders": selectors.content_folders(actor),
        "tags": selectors.content_tags(actor),
        "kinds": KINDS,
        "folder_form": folder_form,
        "filters": g,
        "nav": "library",
    }
    return render(request, "console/library.html", context, status=400 if folder_form.errors else 200)


class FolderForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("New folder"), max_length=32)


@console_view
def library_new(request):
    return _editor(request, None, initial={"kind": request.GET.get("kind", "article")})


@console_view
def library_edit(request, item_id: int):
    item = selectors.content_item_get(request.actor, item_id)
    return _editor(request, item, initial=_initial(item))


def _editor(request, item: ContentItem | None, *, initial: dict):
    form = ItemForm(request.POST or None, request.FILES or None, actor=request.actor, item=item, initial=initial)
    if request.method == "POST" and form.is_valid():
        saved = _save(request, form, item)
        if saved:
            messages.success(request, _("Saved to the library.") if item is None else _("Saved."))
            return redirect("console:library_item", saved.id)
    return render(request, "console/library_form.html", {"form": form, "item": item, "nav": "library"}, status=400 if form.errors else 200)


@console_view
def library_item(request, item_id: int):
    actor = request.actor
    item = selectors.content_item_get(actor, item_id)
    days = request.GET.get("days", "")
    order_days = int(days) if days.isdigit() and 0 < int(days) <= engagement_selectors.MAX_ORDER_DAYS else engagement_selectors.ORDER_WINDOW_DAYS
    stats = engagement_selectors.content_stats(actor, item, order_days=order_days)
    views = engagement_selectors.content_views(actor, item).select_related("customer", "staff", "visitor").order_by("-opened_at")[:50]
    context = {"item": item, "stats": stats, "views": views, "preview": library.tracked_url(actor.corp, item.pk, None), "nav": "library"}
    return render(request, "console/library_item.html", context)


@require_POST
@console_view
def library_archive(request, item_id: int):
    actor = request.actor
    item = selectors.content_item_get(actor, item_id)
    archived = item.status == ContentItem.Status.ACTIVE
    library.item_archive(actor=actor, item=item, archived=archived)
    messages.success(request, _("Archived: it leaves the pickers, and sent links keep working.") if archived else _("Back in the library."))
    return redirect("console:library_item", item.id)


class RuleForm(forms.Form):
    content_tag = forms.CharField(label=gettext_lazy("Library tag"), max_length=16)
    reads = WholeField(label=gettext_lazy("Items read"), min_value=1, max_value=100, initial=3)
    tag_id = forms.TypedChoiceField(label=gettext_lazy("Then tag the customer"), coerce=int)

    def __init__(self, *args, actor, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tag_id"].choices = [
            (t.id, f"{t.group.name} / {t.name}") for t in live_tags(actor).select_related("group").order_by("group__order", "order", "id")
        ]


@console_view
def interest_rules(request):
    actor = request.actor
    form = RuleForm(request.POST or None, actor=actor)
    if request.method == "POST" and form.is_valid():
        if saved_or_form_error(form, lambda: reading.interest_rule_create(actor=actor, **form.cleaned_data)):
            messages.success(request, _("Rule saved: it counts each customer's next reading."))
            return redirect("console:interest_rules")
    context = {"rules": engagement_selectors.interest_rules(actor), "form": form, "nav": "library"}
    return render(request, "console/interest_rules.html", context, status=400 if form.errors else 200)


@require_POST
@console_view
def interest_rule_toggle(request, interest_rule_id: int):
    actor = request.actor
    rule = engagement_selectors.interest_rule_get(actor, interest_rule_id)
    reading.interest_rule_set_active(actor=actor, rule=rule, active=not rule.active)
    return redirect("console:interest_rules")
