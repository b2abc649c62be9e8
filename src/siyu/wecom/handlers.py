"""What each callback means for Siyu's data. Every handler is safe to run twice.

A handler does its WeCom reads first, with no transaction open, and returns the function that
writes; services.callback_handle runs that in one short transaction. Holding a database lock
across an HTTP call would stall every other writer (and deadlock SQLite outright).

The port handles contacts and the tag library itself; a domain above that owns other WeCom
objects registers its handlers with `callback_handler` (groups does, for group chats).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.utils import timezone

from siyu.corps.models import Corp, Staff
from siyu.customers.models import Customer, Follow, TimelineEvent
from siyu.customers.services import follow_end, timeline_record
from siyu.kit.events import publish

from .client import WeComClient, WeComError
from .events import ADD_EVENTS, CALLBACK, ContactAddReading, ContactEdited, ContactLost, TagLibraryChanged
from .models import CallbackEvent
from .sync import apply_contacts, mirror_tag_library

# WeCom's answer when the relationship no longer exists (deleted before we asked).
NOT_A_CONTACT = {84061}

Handler = Callable[[CallbackEvent, WeComClient], Callable[[], str]]
_handlers: dict[tuple[str, str], Handler] = {}


def callback_handler(event: str, *change_types: str) -> Callable[[Handler], Handler]:
    """Decorator: handle callbacks of this Event and these ChangeTypes."""

    def register(handler: Handler) -> Handler:
        for change_type in change_types:
            _handlers[(event, change_type)] = handler
        return handler

    return register


def handler_for(event: CallbackEvent) -> Handler | None:
    return _handlers.get((event.event, event.change_type))


def event_time(event: CallbackEvent):
    return event.created_at_wecom or timezone.now()


def _follow(corp: Corp, userid: str, external_userid: str) -> Follow | None:
    return Follow.objects.select_related("customer", "staff").filter(corp=corp, staff__userid=userid, customer__external_userid=external_userid).first()


@callback_handler("change_external_contact", *ADD_EVENTS, "edit_external_contact")
def contact_added_or_edited(event: CallbackEvent, client: WeComClient):
    data = event.payload
    try:
        if event.change_type in ADD_EVENTS:
            # Tags the domains want on a new customer go to WeCom first, so the contact read next
            # already carries them and one apply mirrors everything; marking twice changes nothing.
            wanted = publish(
                ContactAddReading(corp=event.corp, userid=data.get("UserID", ""), external_userid=data["ExternalUserID"], state=data.get("State", ""))
            )
            tag_ids = list(dict.fromkeys(t for answer in wanted for t in answer or ()))
            if tag_ids:
                client.mark_tag(userid=data.get("UserID", ""), external_userid=data["ExternalUserID"], add=tag_ids)
        contact = client.get_external_contact(data["ExternalUserID"])
    except WeComError as exc:
        if exc.errcode in NOT_A_CONTACT:
            return lambda: "contact no longer exists in WeCom"
        raise

    return ContactWrite(event, contact)


@dataclass(frozen=True)
class ContactWrite:
    """What an add or edit writes: WeCom's answer about the contact, the truth for every member
    following it (the event names one). Called alone it applies it; a batch of events applies
    many of them together (contact_writes_apply)."""

    event: CallbackEvent
    contact: dict

    def __call__(self) -> str:
        contact_writes_apply([self])
        return "applied"


def contact_writes_apply(writes: list[ContactWrite]) -> None:
    """Apply a corp's contact reads in one go: one apply_contacts (one ContactsAdded for the
    follows that began), then ContactEdited for each edit."""
    corp = writes[0].event.corp
    applied = apply_contacts(corp, [(w.contact["external_contact"], w.contact["follow_user"]) for w in writes], source=CALLBACK)
    for write, (customer, follows) in zip(writes, applied, strict=True):
        if write.event.change_type not in ADD_EVENTS:
            publish(ContactEdited(corp=corp, customer=customer, follows=follows))


def _contact_deleted(event: CallbackEvent, by: str):
    data = event.payload

    def write() -> str:
        follow = _follow(event.corp, data.get("UserID", ""), data.get("ExternalUserID", ""))
        if follow is None:
            return "unknown follow"
        at = event_time(event)
        follow_end(follow=follow, by=by, at=at, dedupe_key=f"cb:{event.dedupe_key}")
        transfer = data.get("Source") == "DELETE_BY_TRANSFER"
        if transfer:
            TimelineEvent.objects.filter(corp=event.corp, dedupe_key=f"cb:{event.dedupe_key}").update(data={"source": "transfer"})
        publish(ContactLost(corp=event.corp, follow=follow, by=by, at=at, transfer=transfer))
        return "ended"

    return write


@callback_handler("change_external_contact", "del_external_contact")
def contact_deleted_by_staff(event: CallbackEvent, client: WeComClient):
    return _contact_deleted(event, by="staff")


@callback_handler("change_external_contact", "del_follow_user")
def contact_deleted_by_customer(event: CallbackEvent, client: WeComClient):
    return _contact_deleted(event, by="customer")


@callback_handler("change_external_contact", "transfer_fail")
def transfer_failed(event: CallbackEvent, client: WeComClient):
    return lambda: _record_transfer_failure(event)


def _record_transfer_failure(event: CallbackEvent) -> str:
    data = event.payload
    customer = Customer.objects.filter(corp=event.corp, external_userid=data.get("ExternalUserID", "")).first()
    if customer is None:
        return "unknown customer"
    staff = Staff.objects.filter(corp=event.corp, userid=data.get("UserID", "")).first()
    timeline_record(
        customer=customer,
        kind=TimelineEvent.Kind.TRANSFER_FAILED,
        occurred_at=event_time(event),
        staff=staff,
        data={"reason": data.get("FailReason", "")},
        dedupe_key=f"cb:{event.dedupe_key}",
    )
    return "recorded"


@callback_handler("change_external_tag", "create", "update", "delete", "shuffle")
def tag_library_changed(event: CallbackEvent, client: WeComClient):
    # Create, update, delete or shuffle: the event says what moved, the library says where it is
    # now. Re-reading the whole library is one call and can never apply changes out of order.
    groups = client.get_corp_tag_list()

    def write() -> str:
        counts = mirror_tag_library(event.corp, groups)
        publish(TagLibraryChanged(corp=event.corp, counts=counts))
        return f"tags mirrored: {counts}"

    return write
