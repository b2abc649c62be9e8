"""What each callback means for Siyu's data. Every handler is safe to run twice.

A handler does its WeCom reads first, with no transaction open, and returns the function that
writes; services.callback_handle runs that in one short transaction. Holding a database lock
across an HTTP call would stall every other writer (and deadlock SQLite outright).
"""

from __future__ import annotations

from django.utils import timezone

from siyu.acquisition.services import acquisition_lost, live_code_tags_for_add
from siyu.autotag.services import rules_apply
from siyu.corps.models import Corp, Staff
from siyu.customers.models import Customer, Follow, TimelineEvent
from siyu.customers.services import follow_end, timeline_record
from siyu.groups.codes import group_codes_after_change
from siyu.groups.models import GroupMember
from siyu.groups.services import group_apply, group_dismissed

from .client import WeComClient, WeComError
from .models import CallbackEvent
from .sync import apply_contact, mirror_tag_library

ADD_EVENTS = ("add_external_contact", "add_half_external_contact")
# WeCom's answer when the relationship no longer exists (deleted before we asked).
NOT_A_CONTACT = {84061}
# groupchat/get for a group that was dismissed (or never visible to this app).
CHAT_GONE = {86003}


def _when(event: CallbackEvent):
    return event.created_at_wecom or timezone.now()


def _follow(corp: Corp, userid: str, external_userid: str) -> Follow | None:
    return Follow.objects.select_related("customer", "staff").filter(corp=corp, staff__userid=userid, customer__external_userid=external_userid).first()


def contact_added_or_edited(event: CallbackEvent, client: WeComClient) -> str:
    data = event.payload
    try:
        if event.change_type in ADD_EVENTS:
            # The live code's tags go to WeCom first, so the contact read next already carries
            # them and one apply mirrors everything; marking twice on a retry changes nothing.
            tag_ids = live_code_tags_for_add(event.corp, data.get("State", ""))
            if tag_ids:
                client.mark_tag(userid=data.get("UserID", ""), external_userid=data["ExternalUserID"], add=tag_ids)
        contact = client.get_external_contact(data["ExternalUserID"])
    except WeComError as exc:
        if exc.errcode in NOT_A_CONTACT:
            return lambda: "contact no longer exists in WeCom"
        raise

    def write():
        # The event names one member; WeCom's answer is the truth for all of them.
        _customer, follows = apply_contact(event.corp, contact["external_contact"], contact["follow_user"])
        # Auto-tag rules for new relationships (not for a sync's: backfilling is the rules' tool there).
        tagged = rules_apply(corp=event.corp, follows=[f for f in follows if getattr(f, "just_added", False)])
        return "applied" + (f", {tagged} rule change(s)" if tagged else "")

    return write


def contact_deleted(event: CallbackEvent, client: WeComClient, by: str):
    return lambda: _end_follow(event, by)


def _end_follow(event: CallbackEvent, by: str) -> str:
    data = event.payload
    follow = _follow(event.corp, data.get("UserID", ""), data.get("ExternalUserID", ""))
    if follow is None:
        return "unknown follow"
    follow_end(follow=follow, by=by, at=_when(event), dedupe_key=f"cb:{event.dedupe_key}")
    acquisition_lost(follow=follow, at=_when(event), by=by)
    if data.get("Source") == "DELETE_BY_TRANSFER":
        TimelineEvent.objects.filter(corp=event.corp, dedupe_key=f"cb:{event.dedupe_key}").update(data={"source": "transfer"})
    return "ended"


def transfer_failed(event: CallbackEvent, client: WeComClient):
    return lambda: _record_transfer_failure(event)


def _record_transfer_failure(event: CallbackEvent) -> str:
    data = event.payload
    customer = Customer.objects.filter(corp=event.corp, external_userid=data.get("ExternalUserID", "")).first()
    if customer is None:
        return "unknown customer"
    staff = Staff.objects.filter(corp=event.corp, userid=data.get("UserID", "")).first()
    timeline_record(
        customer=customer, kind=TimelineEvent.Kind.TRANSFER_FAILED, occurred_at=_when(event), staff=staff,
        data={"reason": data.get("FailReason", "")}, dedupe_key=f"cb:{event.dedupe_key}",
    )
    return "recorded"


CONTACT_HANDLERS = {
    "add_external_contact": contact_added_or_edited,
    "add_half_external_contact": contact_added_or_edited,
    "edit_external_contact": contact_added_or_edited,
    "del_external_contact": lambda e, c: contact_deleted(e, c, by="staff"),
    "del_follow_user": lambda e, c: contact_deleted(e, c, by="customer"),
    "transfer_fail": transfer_failed,
}


def tag_library_changed(event: CallbackEvent, client: WeComClient):
    # Create, update, delete or shuffle: the event says what moved, the library says where it is
    # now. Re-reading the whole library is one call and can never apply changes out of order.
    groups = client.get_corp_tag_list()
    return lambda: f"tags mirrored: {mirror_tag_library(event.corp, groups)}"


def group_changed(event: CallbackEvent, client: WeComClient):
    # Create and every kind of update (members, owner, name, notice): the event says what moved,
    # groupchat/get says what the group is now; applying "now" is idempotent and order-proof.
    data = event.payload
    fetched_at = timezone.now()
    try:
        chat = client.groupchat_get(data.get("ChatId", ""))
    except WeComError as exc:
        if exc.errcode in CHAT_GONE:
            return group_gone(event, client)
        raise
    removed = set(data.get("MemChangeList") or []) if data.get("UpdateDetail") == "del_member" and str(data.get("QuitScene")) == "1" else set()

    def write():
        before = _group_customers(event.corp, chat["chat_id"])
        group, counts = group_apply(corp=event.corp, data=chat, removed=removed, fetched_at=fetched_at)
        if counts.get("stale"):
            return "skipped: a newer answer was already applied"
        group_codes_after_change(corp=event.corp, group=group)
        joined = _group_customers(event.corp, chat["chat_id"]) - before
        tagged = rules_apply(corp=event.corp, follows=list(Follow.objects.filter(corp=event.corp, customer_id__in=joined))) if joined else 0
        return f"group applied: {counts['joined']} joined, {counts['left']} left" + (f", {tagged} rule change(s)" if tagged else "")

    return write


def _group_customers(corp: Corp, chat_id: str) -> set[int]:
    return set(GroupMember.objects.filter(corp=corp, group__chat_id=chat_id, left_at__isnull=True, customer__isnull=False).values_list("customer_id", flat=True))


def group_gone(event: CallbackEvent, client: WeComClient):
    chat_id = event.payload.get("ChatId", "")
    return lambda: "dismissed" if group_dismissed(corp=event.corp, chat_id=chat_id, at=_when(event)) else "unknown group"


def handler_for(event: CallbackEvent):
    if event.event == "change_external_chat":
        return {"create": group_changed, "update": group_changed, "dismiss": group_gone}.get(event.change_type)
    if event.event == "change_external_contact":
        return CONTACT_HANDLERS.get(event.change_type)
    if event.event == "change_external_tag" and event.change_type in ("create", "update", "delete", "shuffle"):
        return tag_library_changed
    return None
