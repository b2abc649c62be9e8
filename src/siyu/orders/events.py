"""What orders publish (kit.events), inside the transaction that stored the change. Published the
same way whether the order came one by one (API) or in a file (`siyu orders import`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db.models import Q

from .models import Order

if TYPE_CHECKING:
    from siyu.corps.models import Corp


@dataclass(frozen=True)
class OrderPaid:
    """An order was stored for the first time. `order.customer_id` is None while unmatched."""

    corp: Corp
    order: Order


@dataclass(frozen=True)
class OrderRefunded:
    """An order's refunded total went up (`previous_fen` → `order.refunded_fen`)."""

    corp: Corp
    order: Order
    previous_fen: int


@dataclass(frozen=True)
class OrdersImported:
    """New orders a history import stored in bulk, a chunk of a file at a time: for each, what
    `OrderPaid` says, and `OrderRefunded` (from 0) for one that came refunded. A chunk is tens of
    thousands of orders, most of which no subscriber needs (its feature is off, or the orders are
    older than it), so the orders are read by what a subscriber asks for (`orders`), not handed over."""

    corp: Corp
    order_ids: tuple[int, ...]

    def orders(self, condition: Q | None = None) -> Iterator[Order]:
        """The chunk's orders matching `condition`, in the order they were stored."""
        for rows in self._reads(condition or Q()):
            yield from rows.order_by("pk")

    def customer_ids(self) -> set[int]:
        """The customers whose orders are in the chunk."""
        return {c for rows in self._reads(Q(customer__isnull=False)) for c in rows.values_list("customer_id", flat=True)}

    def _reads(self, condition: Q) -> Iterator:
        for start in range(0, len(self.order_ids), 5000):
            keys = self.order_ids[start : start + 5000]
            # The keys' range beside the keys: the planner walks that part of the primary key,
            # where a list alone may have it scan the table (whose statistics lag an import).
            yield Order.objects.filter(condition, pk__gte=min(keys), pk__lte=max(keys), pk__any_of=keys)
