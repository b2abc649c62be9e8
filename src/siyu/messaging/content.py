"""Message content: text plus up to 9 attachments, checked against WeCom's limits when saved.

The stored shape is WeCom's (`{"msgtype": "link", "link": {...}}`), except that a file Siyu holds
is named by `{"media": <Media id>}`; `attachments_for_wecom` turns those into fresh media ids.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.utils.translation import gettext as _

from siyu.corps.models import Corp
from siyu.kit.errors import InvalidInput

from .library import card_for
from .models import Media

MAX_TEXT_BYTES = 4000
MAX_ATTACHMENTS = 9
KINDS = ("image", "link", "miniprogram", "video", "file")
# The text fields each kind keeps, and the bytes WeCom documents for some of them.
TEXT_FIELDS = {"link": ("title", "desc", "url", "picurl"), "miniprogram": ("title", "appid", "page")}
LIMITS = {("link", "title"): 128, ("link", "desc"): 512, ("link", "url"): 2048, ("miniprogram", "title"): 64}


OWN_PAGES = "/h5/"
REQUIRED = {"image": (), "link": ("title", "url"), "miniprogram": ("title", "appid", "page"), "video": ("media",), "file": ("media",)}


def _bytes(value: str) -> int:
    return len(value.encode("utf-8"))


def _http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def text_clean(text: str, *, field: str = "text") -> str:
    text = (text or "").strip()
    if _bytes(text) > MAX_TEXT_BYTES:
        raise InvalidInput(
            _("The text is %(n)d bytes; WeCom takes at most %(max)d (a Chinese character is 3).") % {"n": _bytes(text), "max": MAX_TEXT_BYTES},
            code="text_too_long",
            field=field,
        )
    return text


def _media(corp: Corp, ref, kinds: tuple[str, ...], field: str) -> int:
    media = Media.objects.filter(corp=corp, pk=ref, kind__in=kinds).first() if isinstance(ref, int) and not isinstance(ref, bool) else None
    if media is None:
        raise InvalidInput(_("No such uploaded file."), code="no_such_media", field=field)
    return media.pk


def attachment_clean(corp: Corp, attachment, *, field: str) -> dict:
    kind = attachment.get("msgtype") if isinstance(attachment, dict) else None
    if kind not in KINDS:
        raise InvalidInput(_("msgtype is one of image, link, miniprogram, video, file."), code="bad_attachment", field=f"{field}.msgtype")
    body = attachment.get(kind)
    if not isinstance(body, dict):
        raise InvalidInput(_("%(kind)s: the attachment's fields are missing.") % {"kind": kind}, code="bad_attachment", field=f"{field}.{kind}")
    if kind == "link" and "content" in body:
        return card_for(corp, body["content"], field=f"{field}.link.content")
    where = f"{field}.{kind}"
    missing = [k for k in REQUIRED[kind] if not body.get(k)]
    if kind in ("image", "miniprogram") and not (body.get("media") is not None or body.get("pic_url" if kind == "image" else "pic_media_id")):
        missing.append(_("an uploaded image"))
    if missing:
        raise InvalidInput(_("%(kind)s: %(missing)s required.") % {"kind": kind, "missing": ", ".join(missing)}, code="bad_attachment", field=where)
    out: dict = {}
    for key in TEXT_FIELDS.get(kind, ()):
        limit = LIMITS.get((kind, key))
        value = body.get(key)
        if value in (None, ""):
            continue
        if not isinstance(value, str):
            raise InvalidInput(_("%(field)s must be text.") % {"field": key}, code="bad_attachment", field=f"{where}.{key}")
        if limit is not None and _bytes(value) > limit:
            raise InvalidInput(
                _("%(field)s is %(n)d bytes; WeCom takes at most %(max)d.") % {"field": key, "n": _bytes(value), "max": limit},
                code="attachment_too_long",
                field=f"{where}.{key}",
            )
        out[key] = value
    if kind == "image":
        if body.get("media") is not None:
            out["media"] = _media(corp, body["media"], ("image",), f"{where}.media")
        elif isinstance(body.get("pic_url"), str) and _http_url(body["pic_url"]):
            out["pic_url"] = body["pic_url"][:2048]
        else:
            raise InvalidInput(_("An image needs an uploaded file or an http(s) pic_url."), code="bad_attachment", field=f"{where}.pic_url")
    elif kind == "link":
        # Or a page of Siyu's own (/h5/…: a check-in, a coupon to claim): its address is made
        # whole with SIYU_PUBLIC_URL when the message goes out.
        if not (_http_url(out.get("url", "")) or out.get("url", "").startswith(OWN_PAGES)):
            raise InvalidInput(_("A link's url must start with http:// or https://, or be a customer page (/h5/…)."), code="bad_url", field=f"{where}.url")
        if out.get("picurl") and not _http_url(out["picurl"]):
            raise InvalidInput(_("A link's picture must be an http(s) URL."), code="bad_url", field=f"{where}.picurl")
    elif kind == "miniprogram":
        if body.get("media") is not None:
            out["media"] = _media(corp, body["media"], ("image",), f"{where}.media")
        else:
            out["pic_media_id"] = str(body["pic_media_id"])[:128]  # a WeCom media id the caller uploaded itself
    else:  # video, file
        out["media"] = _media(corp, body.get("media"), (kind,), f"{where}.media")
    return {"msgtype": kind, kind: out}


def content_clean(corp: Corp, *, text: str, attachments, max_attachments: int = MAX_ATTACHMENTS, required: bool = False) -> tuple[str, list[dict]]:
    """Checked text and attachments, or InvalidInput naming the field that breaks WeCom's rules."""
    text = text_clean(text)
    if not isinstance(attachments, (list, tuple)):
        raise InvalidInput(_("attachments must be a list."), code="bad_attachment", field="attachments")
    if len(attachments) > max_attachments:
        raise InvalidInput(_("At most %(max)d attachments.") % {"max": max_attachments}, code="too_many_attachments", field="attachments")
    cleaned = [attachment_clean(corp, a, field=f"attachments.{i}") for i, a in enumerate(attachments)]
    if required and not text and not cleaned:
        raise InvalidInput(_("A message needs text or an attachment."), code="empty_message", field="text")
    return text, cleaned
