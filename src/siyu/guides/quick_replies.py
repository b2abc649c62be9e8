"""The quick-reply library (话术库) and what the sidebar puts into a chat.

HQ keeps ready answers on shelves (groups); a guide finds one by its shelf or by searching, and
one tap puts it into the open chat with the JS-SDK's `sendChatMessage`, one call a message: the
text, then each attachment. Files go as WeCom media ids, uploaded (again) when they are missing or
about to expire, so that call is made before the page invokes anything and never inside a
transaction. What the guide sent is recorded as a `GuideContact`, which the golden-period and
reply statistics count.

`sendChatMessage` takes text, an image, a video or a file by media id, a link (`news`) and a
mini-program whose cover is a picture URL. Siyu keeps a mini-program's cover as an uploaded file,
and an image given only by URL has no media id: chat content refuses both when it is saved,
rather than sending half of it later.
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.translation import gettext as _

from siyu.corps.models import Corp, Staff
from siyu.customers.models import Customer
from siyu.customers.services import timeline_record
from siyu.kit.clock import now
from siyu.kit.errors import Conflict, InvalidInput, Unavailable
from siyu.kit.events import publish
from siyu.kit.schema import text_within
from siyu.kit.tenancy import Actor
from siyu.messaging.content import content_clean
from siyu.messaging.library import LinkSource
from siyu.messaging.media import attachments_for_wecom
from siyu.wecom.client import WeComClient, WeComError

from .events import CustomerConversed
from .models import GuideContact, QuickReply, QuickReplyGroup

CHAT_KINDS = ("image", "link", "video", "file")


def chat_content_clean(corp: Corp, *, text: str, attachments, required: bool = True) -> tuple[str, list[dict]]:
    """Content a guide puts into a chat: messaging's checks, then what `sendChatMessage` can send."""
    text, cleaned = content_clean(corp, text=text, attachments=attachments, required=required)
    for i, a in enumerate(cleaned):
        kind = a["msgtype"]
        if kind not in CHAT_KINDS:
            raise InvalidInput(
                _("A chat takes text, images, links, videos and files; a mini-program cannot be put into a chat from the sidebar."),
                code="not_for_chat",
                field=f"attachments.{i}.msgtype",
            )
        if kind == "image" and "media" not in a[kind]:
            raise InvalidInput(_("An image for a chat must be an uploaded file, not a URL."), code="not_for_chat", field=f"attachments.{i}.image.pic_url")
    return text, cleaned


def chat_messages(corp: Corp, text: str, attachments: list[dict], client: WeComClient | None = None, *, link: LinkSource | None = None) -> list[dict]:
    """The `sendChatMessage` arguments for stored chat content, in order: the text, then each
    attachment with a fresh media id. Calls WeCom (uploads): never inside a transaction."""
    out = [{"msgtype": "text", "enterChat": True, "text": {"content": text}}] if text else []
    try:
        ready = attachments_for_wecom(corp, attachments, client or WeComClient(corp), link=link) if attachments else []
    except WeComError as exc:
        raise Unavailable(_("WeCom did not take the files (%(error)s); try again in a moment.") % {"error": exc.errmsg}, code="wecom_upload") from exc
    for a in ready:
        kind, body = a["msgtype"], a[a["msgtype"]]
        if kind == "link":
            news = {"link": body["url"], "title": body["title"], "desc": body.get("desc", ""), "imgUrl": body.get("picurl", "")}
            out.append({"msgtype": "news", "enterChat": True, "news": news})
        elif kind in ("image", "video", "file") and body.get("media_id"):
            out.append({"msgtype": kind, "enterChat": True, kind: {"mediaid": body["media_id"]}})
    return out


# -- the library ------------------------------------------------------------------------------------------
def quick_reply_group_save(*, actor: Actor, name: str, position: int = 0, group: QuickReplyGroup | None = None) -> QuickReplyGroup:
    actor.require_manager()
    name = text_within((name or "").strip(), 32, "name")
    if not name:
        raise InvalidInput(_("A group needs a name."), code="bad_name", field="name")
    if not isinstance(position, int) or isinstance(position, bool) or not 0 <= position <= 999:
        raise InvalidInput(_("The position is 0 to 999."), code="bad_position", field="position")
    group = group or QuickReplyGroup(corp=actor.corp)
    group.name, group.position = name, position
    try:
        with transaction.atomic():
            group.save()
    except IntegrityError:
        raise Conflict(_("A group with this name exists."), code="name_taken", field="name") from None
    return group


def quick_reply_group_delete(*, actor: Actor, group: QuickReplyGroup) -> None:
    actor.require_manager()
    if group.replies.exists():
        raise Conflict(_("This group still has replies: move or delete them first."), code="group_not_empty", field="group_id")
    group.delete()


def quick_reply_save(
    *, actor: Actor, group_id: int, title: str, text: str = "", attachments=(), position: int = 0, reply: QuickReply | None = None
) -> QuickReply:
    """Add a reply to the library, or change one; guides see the change at their next search."""
    actor.require_manager()
    group = QuickReplyGroup.objects.for_corp(actor.corp).filter(pk=group_id).first() if isinstance(group_id, int) else None
    if group is None:
        raise InvalidInput(_("Choose one of this corp's reply groups."), code="no_such_group", field="group_id")
    title = text_within((title or "").strip(), 64, "title")
    if not title:
        raise InvalidInput(_("A reply needs a title guides can find it by."), code="bad_title", field="title")
    if not isinstance(position, int) or isinstance(position, bool) or not 0 <= position <= 999:
        raise InvalidInput(_("The position is 0 to 999."), code="bad_position", field="position")
    text, attachments = chat_content_clean(actor.corp, text=text, attachments=list(attachments))
    reply = reply or QuickReply(corp=actor.corp)
    reply.group, reply.title, reply.text, reply.attachments, reply.position, reply.updated_by = group, title, text, attachments, position, actor.user
    reply.save()
    return reply


def quick_reply_delete(*, actor: Actor, reply: QuickReply) -> None:
    actor.require_manager()
    reply.delete()


# -- what guides did --------------------------------------------------------------------------------------
def contact_record(*, corp_id: int, staff_id: int, customer_id: int, how: str, at: datetime, reply_id: int | None = None, task_id: int | None = None) -> None:
    GuideContact.objects.create(corp_id=corp_id, staff_id=staff_id, customer_id=customer_id, how=how, at=at, reply_id=reply_id, task_id=task_id)
    if how in (GuideContact.How.REPLY, GuideContact.How.NOTE):  # task content sent is the guide speaking, not a conversation
        publish(CustomerConversed(corp_id=corp_id, customer_id=customer_id, staff_id=staff_id, how=how, at=at))


def quick_reply_sent(*, actor: Actor, reply: QuickReply, customer: Customer) -> None:
    """A guide put this reply into the customer's chat (sendChatMessage answered ok)."""
    if actor.staff_id is None:
        raise Conflict(_("Only a staff member sends in a chat."), code="not_staff", field="reply_id")
    stamp = now()
    with transaction.atomic():
        QuickReply.objects.filter(pk=reply.pk).update(sent_count=F("sent_count") + 1)
        contact_record(corp_id=actor.corp.pk, staff_id=actor.staff_id, customer_id=customer.pk, how=GuideContact.How.REPLY, at=stamp, reply_id=reply.pk)
        timeline_record(
            customer=customer,
            kind="message_sent",
            staff=Staff.objects.filter(pk=actor.staff_id).first(),
            data={"via": "quick_reply", "quick_reply": reply.pk, "title": reply.title, "text": reply.text[:200]},
        )
