"""What orders publish (kit.events), inside the transaction that stored the change. Published the
same way whether the order came one by one (API) or in a file (`siyu orders import`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from siyu.corps.models import Corp

    from .models import Order


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
