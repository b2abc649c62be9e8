"""Media upload to WeCom, in one place. A temporary media id lives 3 days; a send re-uploads the
file when its id is older than MEDIA_FRESH, so WeCom never sees an expired one."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from siyu.corps.models import Corp
from siyu.kit.clock import now
from siyu.kit.errors import InvalidInput
from siyu.kit.tenancy import Actor
from siyu.wecom.client import WeComClient

from .library import LinkSource, card_for_sender
from .models import Media

MEDIA_LIFETIME = timedelta(days=3)
MEDIA_FRESH = MEDIA_LIFETIME - timedelta(hours=6)  # leaves a send started now time to finish
# WeCom's media/upload limits, bytes (images jpg/png, videos mp4).
MAX_SIZE = {"image": 10 * 1024 * 1024, "video": 10 * 1024 * 1024, "file": 20 * 1024 * 1024}
MIN_SIZE = 5
IMAGE_TYPES = {"image/jpeg", "image/png"}


def sniff(content: bytes) -> str:
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content[4:8] == b"ftyp":
        return "video/mp4"
    return ""


def media_create(*, actor: Actor, kind: str, name: str, content: bytes, content_type: str = "") -> Media:
    """Keep a file for attachments (the same bytes twice are one Media). Uploaded to WeCom on use."""
    actor.require_manager()
    if kind not in MAX_SIZE:
        raise InvalidInput(_("A file is an image, a video or a file."), code="bad_media_kind", field="kind")
    size = len(content)
    if size < MIN_SIZE or size > MAX_SIZE[kind]:
        raise InvalidInput(
            _("The file is %(n)d bytes; WeCom takes %(min)d bytes to %(max)d MB for this kind.") % {"n": size, "min": MIN_SIZE, "max": MAX_SIZE[kind] // 2**20},
            code="bad_media_size",
            field="file",
        )
    # The bytes say what a file is, not the name or the header the browser sent.
    sniffed = sniff(content)
    if kind == "image" and sniffed not in IMAGE_TYPES:
        raise InvalidInput(_("Images are JPG or PNG."), code="bad_media_type", field="file")
    if kind == "video" and sniffed != "video/mp4":
        raise InvalidInput(_("Videos are MP4."), code="bad_media_type", field="file")
    content_type = sniffed or content_type
    digest = hashlib.sha256(content).hexdigest()
    try:
        with transaction.atomic():
            return Media.objects.create(
                corp=actor.corp,
                kind=kind,
                name=(name or kind)[:128],
                content_type=content_type[:100],
                content=content,
                size=size,
                sha256=digest,
            )
    except IntegrityError:
        return Media.objects.get(corp=actor.corp, kind=kind, sha256=digest)


def media_id_fresh(media: Media, client: WeComClient) -> str:
    """The media's WeCom id, uploading it (again) when it has none or it is about to expire."""
    if media.media_id and media.uploaded_at and media.uploaded_at > now() - MEDIA_FRESH:
        return media.media_id
    media_id = client.upload_media(kind=media.kind, filename=media.name, content=bytes(media.content), content_type=media.content_type)
    Media.objects.filter(pk=media.pk).update(media_id=media_id, uploaded_at=now())
    media.media_id, media.uploaded_at = media_id, now()
    return media_id


def attachments_for_wecom(corp: Corp, attachments: list[dict], client: WeComClient, *, link: LinkSource | None = None) -> list[dict]:
    """Stored attachments (messaging.content) as WeCom takes them: media references become fresh
    ids, and library cards get the address tracked for `link` (the sender and the send)."""
    refs = {a[a["msgtype"]]["media"] for a in attachments if "media" in a.get(a.get("msgtype"), {})}
    media = {m.pk: m for m in Media.objects.filter(corp=corp, pk__in=refs)}
    out = []
    for a in attachments:
        kind = a["msgtype"]
        body = dict(a[kind])
        if kind == "link" and "content" in body:
            body = card_for_sender(corp, body, link)
        elif kind == "link" and body.get("url", "").startswith("/"):
            body["url"] = settings.SIYU_PUBLIC_URL + body["url"]
        ref = body.pop("media", None)
        if ref is not None:
            if ref not in media:
                continue  # the file was deleted since the message was saved
            body["pic_media_id" if kind == "miniprogram" else "media_id"] = media_id_fresh(media[ref], client)
        out.append({"msgtype": kind, kind: body})
    return out
