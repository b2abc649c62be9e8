"""The domain events WeCom's port publishes once it has applied WeCom's truth (kit.events).

Subscribers live in the domains above (`AppConfig.ready()`); docs/architecture.md lists who
listens to what. Unless an event says otherwise it is published inside the transaction that wrote
the change, and handlers for one callback run once per handling (a replayed callback is stored once
and never handled twice, so it publishes nothing new).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from siyu.corps.models import Corp
    from siyu.customers.models import Customer, Follow

ADD_EVENTS = ("add_external_contact", "add_half_external_contact")  # the ChangeTypes of an add
CALLBACK = "callback"
SYNC = "sync"


@dataclass(frozen=True)
class ContactAddReceived:
    """An add callback was just stored in the inbox (first delivery only), before any handling.

    Published inside the inbox's own short transaction, while WeCom's 20-second welcome window
    runs: subscribers must be quick and must not call WeCom (queue the work after commit instead).
    """

    corp: Corp
    userid: str
    external_userid: str
    state: str
    welcome_code: str
    added_at: datetime
    received_at: datetime


@dataclass(frozen=True)
class ContactAddReading:
    """An add is about to be read from WeCom (no transaction open).

    A question to subscribers: each returns the WeCom tag ids this new customer should carry, and
    the port marks them in WeCom before reading the contact, so the one read and apply that follow
    mirror them too.
    """

    corp: Corp
    userid: str
    external_userid: str
    state: str


@dataclass(frozen=True)
class NewFollow:
    customer: Customer
    follow: Follow
    customer_created: bool


@dataclass(frozen=True)
class ContactsAdded:
    """Follows began (new relationships, or ones that had ended begun again): one event for what
    one write found, a callback's contact or a sync page's hundred.

    `source` is CALLBACK for adds WeCom reported, SYNC for ones a full sync found. `cache` is one
    dict shared by every event of a sync run or callback, for subscribers to memoise under their
    own keys.
    """

    corp: Corp
    added: tuple  # NewFollow, …
    source: str
    cache: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class ContactEdited:
    """An edit callback was applied: the customer's follows now match WeCom's."""

    corp: Corp
    customer: Customer
    follows: list


@dataclass(frozen=True)
class ContactLost:
    """A follow ended: `by` is "staff" (the staff deleted the customer) or "customer"; `transfer`
    when the staff side ended because the customer was handed over to a colleague."""

    corp: Corp
    follow: Follow
    by: str
    at: datetime
    transfer: bool = False


@dataclass(frozen=True)
class TagLibraryChanged:
    """Siyu's WeCom-linked tag library was made equal to WeCom's; `counts` says what moved."""

    corp: Corp
    counts: dict
