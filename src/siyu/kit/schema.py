"""Field types for API schemas. JSON `true` is not a number, though Python counts it as 1:
these refuse booleans with one error on the field (strict pydantic unions would report one error
per branch, and strict ints would refuse query strings)."""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated

from django.utils.translation import gettext as _
from pydantic import AfterValidator, BeforeValidator, Field

from .errors import InvalidInput


def _not_bool(value):
    if isinstance(value, bool):
        raise ValueError("a number is required, not true or false")
    return value


def _clock_time(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("a clock time in the corp's timezone, like 09:00, without an offset")
    return value


NotBool = BeforeValidator(_not_bool)
Whole = Annotated[int, NotBool]
Number = Annotated[float, NotBool]
Yuan = Annotated[str | int | float, NotBool]
# Columns that are 32-bit integers in the database (positions, quantities): PostgreSQL refuses more.
Int32 = Annotated[int, NotBool, Field(ge=-(2**31), le=2**31 - 1)]
# Working hours and schedules are read on the corp's clock: an offset would say another one.
ClockTime = Annotated[time, AfterValidator(_clock_time)]


# -- what no field of any route may hold (checked on every JSON body and query string) ------------
INT_MAX = 2**63 - 1  # the database's BIGINT; a larger number would end in a 500 there
DAY_RANGE = (1900, 2199)  # no date Siyu handles lies outside; year 1 or 9999 break timezone arithmetic
_DATE = re.compile(r"^(\d{4,})-\d{2}-\d{2}")


def input_problem(value, path: str = "") -> tuple[str, str, str] | None:
    """(field, code, message) for the first value no route takes, else None: a NUL character
    (PostgreSQL cannot store it), an integer beyond 64 bits, a date outside 1900–2199."""
    if isinstance(value, dict):
        for key, item in value.items():
            found = input_problem(item, f"{path}.{key}" if path else str(key))
            if found:
                return found
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = input_problem(item, f"{path}.{i}" if path else str(i))
            if found:
                return found
    elif isinstance(value, str):
        if "\x00" in value:
            return path, "nul_character", _("Text must not contain NUL characters.")
        day = _DATE.match(value)
        if day and not DAY_RANGE[0] <= int(day.group(1)) <= DAY_RANGE[1]:
            return path, "date_out_of_range", _("Dates run from %(first)s to %(last)s.") % {"first": DAY_RANGE[0], "last": DAY_RANGE[1]}
        if value.lstrip("-").isdigit() and len(value) > 18 and abs(int(value)) > INT_MAX:
            return path, "number_too_large", _("The number is too large.")
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > INT_MAX:
        return path, "number_too_large", _("The number is too large.")
    return None


def refuse_nul(*querydicts, labels: dict | None = None) -> None:
    """Refuse submitted form data (QueryDicts) with a NUL character in any field, naming it (by
    its label when given): no page takes one, and PostgreSQL cannot store it."""
    for data in querydicts:
        for key, values in data.lists():
            if "\x00" in key or any("\x00" in v for v in values):
                field = key.replace("\x00", "")
                name = (labels or {}).get(field, field)
                raise InvalidInput(_("%(field)s: text must not contain NUL characters.") % {"field": name}, code="nul_character", field=field)


def text_within(value: str, limit: int, field: str) -> str:
    """Operator text that a column holds up to `limit` characters: refused when longer, never cut."""
    if len(value) > limit:
        raise InvalidInput(_("At most %(limit)s characters (now %(length)s).") % {"limit": limit, "length": len(value)}, code="too_long", field=field)
    return value


def whole_in_range(text: str) -> int | None:
    """Digits (and a sign) within the database's 64 bits as an int, else None."""
    text = str(text).strip()
    if not text.lstrip("-").isdigit() or len(text) > 20 or abs(int(text)) > INT_MAX:
        return None
    return int(text)
