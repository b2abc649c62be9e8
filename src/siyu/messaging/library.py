"""The content library (素材库): what HQ writes once and every send uses, with links tracked per
sender and send.

- An item is sent as a link card (a mini-program item as a mini-program card). The card's address
  is the item's page on Siyu's customer pages (`/h5/<corp>/c/<token>`), signed for (item, staff
  member, send, customer when one is known): whoever opens it is identified by WeChat there, and
  the view is counted for that staff member and that send. A forged or altered token is refused.
- A WeCom mass send is one message to all of a staff member's customers, so its links name the
  staff member and the send, never the customer: WeChat's sign-in names the reader.
- In stored message content an item is `{"msgtype": "link", "link": {"content": <id>, …}}`; the
  card's text and picture are filled from the item when the message is saved, and the tracked
  address is made when the message goes to WeCom (`attachments_for_wecom(…, link=…)`).
"""

from __future__ import annotations

from dataclasses import dataclass

import nh3
from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils.translation import gettext as _

from siyu.corps.models import Corp
from siyu.kit.errors import Conflict, InvalidInput
from siyu.kit.schema import text_within
from siyu.kit.tenancy import Actor

from .models import ContentFolder, ContentItem, Media

LINK_SALT = "siyu-content-link"
MEDIA_SALT = "siyu-content-media"
MAX_BODY = 100_000
MAX_TAGS, MAX_TAG = 10, 16
# What an article may hold: text, headings, lists, quotes, pictures and links; no scripts, styles,
# forms or frames (nh3, the Ammonia sanitizer, removes the rest).
ARTICLE_TAGS = {"p", "br", "h2", "h3", "h4", "strong", "b", "em", "i", "u", "s", "ul", "ol", "li", "blockquote", "img", "a", "hr", "figure", "figcaption"}
ARTICLE_ATTRIBUTES = {"img": {"src", "alt", "width", "height"}, "a": {"href", "title"}}
# What each kind needs besides a title.
NEEDS = {
    "article": ("body",),
    "poster": ("media",),
    "image": ("media",),
    "video": ("media",),
    "file": ("media",),
    "link": ("url",),
    "miniprogram": ("appid", "page", "cover"),
}
MEDIA_KIND = {"poster": "image", "image": "image", "video": "video", "file": "file"}


@dataclass(frozen=True)
class LinkSource:
    """Who sends the link and through what: `via` is a short name of the send, e.g. "m12" (mass
    send 12), "o3" (moment 3), "w" (a welcome), "s" (the sidebar), "t7" (guide task 7)."""

    staff_id: int | None
    via: str
    customer_id: int | None = None


@dataclass(frozen=True)
class LinkOpened:
    item_id: int
    staff_id: int | None
    via: str
    customer_id: int | None


# -- tracked links ----------------------------------------------------------------------------------
def tracked_path(corp: Corp, item_id: int, source: LinkSource | None) -> str:
    source = source or LinkSource(None, "")
    value = f"{item_id}.{source.staff_id or 0}.{source.via}.{source.customer_id or 0}"
    token = signing.Signer(salt=LINK_SALT).sign(value)
    return reverse("h5_content", args=[corp.corp_id, token])


def tracked_url(corp: Corp, item_id: int, source: LinkSource | None) -> str:
    return settings.SIYU_PUBLIC_URL + tracked_path(corp, item_id, source)


def link_read(token: str) -> LinkOpened | None:
    """What a tracked link names, or None when it was not made here (forged or altered)."""
    try:
        value = signing.Signer(salt=LINK_SALT).unsign(token)
        item, staff, via, customer = value.split(".")
        return LinkOpened(int(item), int(staff) or None, via[:16], int(customer) or None)
    except (signing.BadSignature, ValueError):
        return None


def media_path(corp: Corp, media_id: int) -> str:
    """The public address of a library file (a card's picture, a poster): signed, so the corp's
    other files cannot be fetched by guessing ids."""
    return reverse("h5_media", args=[corp.corp_id, signing.Signer(salt=MEDIA_SALT).sign(str(media_id))])


def media_url(corp: Corp, media_id: int) -> str:
    return settings.SIYU_PUBLIC_URL + media_path(corp, media_id)


def media_read(token: str) -> int | None:
    try:
        return int(signing.Signer(salt=MEDIA_SALT).unsign(token))
    except (signing.BadSignature, ValueError):
        return None


# -- the library's rows -------------------------------------------------------------------------------
def folder_create(*, actor: Actor, name: str) -> ContentFolder:
    actor.require_manager()
    name = text_within((name or "").strip(), 32, "name")
    if not name:
        raise InvalidInput(_("The folder needs a name."), code="name_required", field="name")
    try:
        with transaction.atomic():
            return ContentFolder.objects.create(corp=actor.corp, name=name)
    except IntegrityError:
        raise Conflict(_("A folder named %(name)s exists.") % {"name": name}, code="folder_exists", field="name") from None


def body_clean(body: str) -> str:
    text_within(body, MAX_BODY, "body")
    return nh3.clean(body, tags=ARTICLE_TAGS, attributes=ARTICLE_ATTRIBUTES, url_schemes={"http", "https"}, link_rel="noopener noreferrer").strip()


def _tags_clean(tags) -> list[str]:
    if not isinstance(tags, (list, tuple)):
        raise InvalidInput(_("tags must be a list."), code="bad_tags", field="tags")
    out = []
    for tag in tags:
        tag = str(tag).strip()
        if not tag:
            continue
        if len(tag) > MAX_TAG:
            raise InvalidInput(_("A library tag is at most %(max)s characters: %(tag)s") % {"max": MAX_TAG, "tag": tag}, code="bad_tags", field="tags")
        if tag not in out:
            out.append(tag)
    if len(out) > MAX_TAGS:
        raise InvalidInput(_("At most %(max)s tags.") % {"max": MAX_TAGS}, code="bad_tags", field="tags")
    return out


def _media_of(corp: Corp, ref, kind: str, field: str) -> Media | None:
    if ref in (None, ""):
        return None
    media = Media.objects.filter(corp=corp, pk=ref, kind=kind).first() if isinstance(ref, int) and not isinstance(ref, bool) else None
    if media is None:
        raise InvalidInput(_("No such uploaded file."), code="no_such_media", field=field)
    return media


def item_save(
    *,
    actor: Actor,
    item: ContentItem | None = None,
    kind: str = "",
    title: str,
    summary: str = "",
    body: str = "",
    cover: int | None = None,
    media: int | None = None,
    url: str = "",
    appid: str = "",
    page: str = "",
    tags=(),
    folder: int | None = None,
) -> ContentItem:
    """Create (no `item`) or change a library item; a kind is set once."""
    actor.require_manager()
    corp = actor.corp
    kind = item.kind if item is not None else kind
    if kind not in ContentItem.Kind.values:
        raise InvalidInput(_("The kind is one of %(kinds)s.") % {"kinds": ", ".join(ContentItem.Kind.values)}, code="bad_kind", field="kind")
    title = text_within((title or "").strip(), 64, "title")
    if not title:
        raise InvalidInput(_("The item needs a title."), code="title_required", field="title")
    values = {
        "kind": kind,
        "title": title,
        "summary": text_within((summary or "").strip(), 170, "summary"),
        "body": body_clean(body or "") if kind == "article" else "",
        "cover": _media_of(corp, cover, "image", "cover"),
        "media": _media_of(corp, media, MEDIA_KIND[kind], "media") if kind in MEDIA_KIND else None,
        "url": text_within((url or "").strip(), 2048, "url") if kind == "link" else "",
        "appid": text_within((appid or "").strip(), 64, "appid") if kind == "miniprogram" else "",
        "page": text_within((page or "").strip(), 1024, "page") if kind == "miniprogram" else "",
        "tags": _tags_clean(tags),
        "folder": ContentFolder.objects.filter(corp=corp, pk=folder).first() if folder else None,
    }
    if folder and values["folder"] is None:
        raise InvalidInput(_("No such folder."), code="no_such_folder", field="folder")
    if kind == "link" and not values["url"].startswith(("http://", "https://")):
        raise InvalidInput(_("A link's url must start with http:// or https://."), code="bad_url", field="url")
    missing = [need for need in NEEDS[kind] if not values[need]]
    if missing:
        raise InvalidInput(_("This kind needs: %(fields)s.") % {"fields": ", ".join(missing)}, code="incomplete_item", field=missing[0])
    if item is None:
        return ContentItem.objects.create(corp=corp, created_by=actor.user, **values)
    for key, value in values.items():
        setattr(item, key, value)
    item.save()
    return item


def item_archive(*, actor: Actor, item: ContentItem, archived: bool = True) -> ContentItem:
    """Archived items leave the pickers; their links keep working (sent messages stay readable)."""
    actor.require_manager()
    item.status = ContentItem.Status.ARCHIVED if archived else ContentItem.Status.ACTIVE
    item.save(update_fields=["status", "updated_at"])
    return item


# -- in message content ------------------------------------------------------------------------------
def card_for(corp: Corp, ref, *, field: str) -> dict:
    """A message attachment body for the library item `ref`: its card's text and picture, and its
    untracked address (the tracked one is made per sender when the message goes out)."""
    item = None
    if isinstance(ref, int) and not isinstance(ref, bool):
        item = ContentItem.objects.filter(corp=corp, pk=ref, status=ContentItem.Status.ACTIVE).first()
    if item is None:
        raise InvalidInput(_("No such item in the content library."), code="no_such_content", field=field)
    if item.kind == ContentItem.Kind.MINIPROGRAM:
        return {"msgtype": "miniprogram", "miniprogram": {"title": item.title[:21], "appid": item.appid, "page": item.page, "media": item.cover_id}}
    picture = item.cover_id or (item.media_id if item.kind in ("poster", "image") else None)
    card = {"content": item.pk, "title": item.title, "url": tracked_url(corp, item.pk, None)}
    if item.summary:
        card["desc"] = item.summary
    if picture:
        card["picurl"] = media_url(corp, picture)
    return {"msgtype": "link", "link": card}


def card_for_sender(corp: Corp, body: dict, source: LinkSource | None) -> dict:
    """A stored library card as it goes to WeCom: the address tracked for this sender and send."""
    body = dict(body)
    item_id = body.pop("content")
    body["url"] = tracked_url(corp, item_id, source)
    return body
