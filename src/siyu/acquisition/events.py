"""What acquisition publishes (kit.events), inside the transaction of the change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from siyu.kit.tenancy import Actor

    from .models import LiveCode


@dataclass(frozen=True)
class LiveCodeSaved:
    """A live code was created or its rules replaced. `welcome` is the welcome message given with
    the save ({"text", "attachments"}), for the domain that owns welcomes; None leaves it as it is.
    A subscriber's refusal (InvalidInput) refuses the whole save."""

    actor: Actor
    live_code: LiveCode
    created: bool
    welcome: dict | None
