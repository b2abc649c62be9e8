"""What guides publish (kit.events), inside the transaction that recorded it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class CustomerConversed:
    """A guide and a customer talked one to one, as Siyu sees it: the guide answered the customer
    with a quick reply from the sidebar, or wrote a follow-up note after a conversation. This is
    Siyu's evidence that the customer replied; WeCom's per-message record needs its paid chat
    archive (会话存档), which Siyu does not use."""

    corp_id: int
    customer_id: int
    staff_id: int
    how: str  # GuideContact.How: "reply" or "note"
    at: datetime
