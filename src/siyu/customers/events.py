"""What customers publish (kit.events), inside the transaction that wrote the change."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class CustomersIdentified:
    """Something that identifies customers became known: they were just created (`created`), their
    unionid changed, or `phones` (customer id → the phones learned) were learned. Rows that name a
    customer by those keys before it existed (orders from a till, group memberships) can be linked
    now. One event per write, however many customers it wrote (a sync page: up to 100)."""

    corp_id: int
    customers: tuple  # Customer rows
    created: bool
    phones: dict = field(default_factory=dict)


@dataclass(frozen=True)
class FollowTagsChanged:
    """A person in Siyu tagged or untagged customers: ((follow id, added tag ids, removed tag
    ids), …). WeCom holds follow tags too, and a contact read mirrors WeCom, so it must be told."""

    corp_id: int
    changes: tuple


@dataclass(frozen=True)
class CustomerNoted:
    """A staff member wrote a follow-up note (跟进记录) about a customer: work asked of them (a
    guide task's revisit) may be done by it."""

    corp_id: int
    customer_id: int
    staff_id: int | None
    at: object  # datetime


@dataclass(frozen=True)
class CustomerFieldsChanged:
    """Custom fields of a customer were set or cleared in Siyu: ((key, old, new), …), the values
    as shown ("" for unset). Journeys and lifecycle stages read fields."""

    corp_id: int
    customer_id: int
    changed: tuple


@dataclass(frozen=True)
class CustomerStagesChanged:
    """Customers moved between lifecycle stages (the daily pass, or a field changed):
    ((customer id, old stage id or None, new stage id or None), …). Journeys enroll on a stage."""

    corp_id: int
    changes: tuple
