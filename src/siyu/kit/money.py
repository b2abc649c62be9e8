"""Money in from the outside world: yuan as text or number, to integer fen, never rounded."""

import re
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from .errors import InvalidInput

MAX_FEN = 10**15  # ten trillion yuan: anything larger is a mistake in the source, not an order
# How nearly every till writes an amount ("89.9", "199"): read without Decimal, which costs more
# than the rest of an order's checks in a history file of millions.
PLAIN_YUAN = re.compile(r"([0-9]{1,13})(?:\.([0-9]{1,2}))?")


def fen_from_yuan(value, *, field: str = "amount", allow_negative: bool = False) -> int:
    """ "89.9" → 8990. More than two decimals is refused (not rounded): a source that sends 89.999
    has a bug the brand should see, and rounding would make totals disagree with the source."""
    plain = PLAIN_YUAN.fullmatch(value) if type(value) is str else None
    if plain is not None:
        whole, cents = plain.groups()
        return int(whole) * 100 + (int(cents.ljust(2, "0")) if cents else 0)
    if isinstance(value, bool) or value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidInput(_("An amount in yuan is required."), code="bad_amount", field=field)
    text = str(value).strip().replace(",", "").removeprefix("¥").removeprefix("￥").strip()
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise InvalidInput(_("%(value)r is not an amount in yuan.") % {"value": value}, code="bad_amount", field=field) from None
    if not amount.is_finite():
        raise InvalidInput(_("%(value)r is not an amount in yuan.") % {"value": value}, code="bad_amount", field=field)
    fen = amount * 100
    if fen != fen.to_integral_value():
        raise InvalidInput(_("%(value)r has more than 2 decimals (yuan are counted to the fen).") % {"value": value}, code="amount_precision", field=field)
    fen = int(fen)
    if fen < 0 and not allow_negative:
        raise InvalidInput(_("%(value)r is negative.") % {"value": value}, code="bad_amount", field=field)
    if abs(fen) >= MAX_FEN:
        raise InvalidInput(_("%(value)r is too large.") % {"value": value}, code="bad_amount", field=field)
    return fen
