"""What groups publish (kit.events) once a group chat as WeCom reports it is applied. Published
inside the transaction that applied it; `source` is "callback" or "sync" (wecom.events)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from siyu.corps.models import Corp
    from siyu.kit.tenancy import Actor

    from .models import CustomerGroup, GroupCode, GroupMember


@dataclass(frozen=True)
class GroupChanged:
    """A group was created or changed (members, owner, name, notice). `joined_customer_ids`: the
    known customers who are in it now and were not before."""

    corp: Corp
    group: CustomerGroup
    created: bool
    joined_customer_ids: frozenset
    source: str


@dataclass(frozen=True)
class GroupDismissed:
    corp: Corp
    group: CustomerGroup
    at: datetime


@dataclass(frozen=True)
class GroupMemberJoined:
    """Someone joined a group, or came back to it; `member.customer_id` is set for known customers."""

    corp: Corp
    group: CustomerGroup
    member: GroupMember
    source: str


@dataclass(frozen=True)
class GroupMemberLeft:
    """Someone left a group: `how` is "left", "removed" (by an admin) or "dismissed" (the group ended)."""

    corp: Corp
    group: CustomerGroup
    member: GroupMember
    how: str


@dataclass(frozen=True)
class GroupCodeSaved:
    """A group code was saved or its status changed (published in that transaction). `welcome`
    ({"text", "attachments"}) is the group welcome given with the save, for the domain that owns
    welcomes; None leaves it as it is. A deleted code's welcome goes with it."""

    actor: Actor
    code: GroupCode
    welcome: dict | None
