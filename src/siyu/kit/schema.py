"""Field types for API schemas. JSON `true` is not a number, though Python counts it as 1:
these refuse booleans with one error on the field (strict pydantic unions would report one error
per branch, and strict ints would refuse query strings)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator


def _not_bool(value):
    if isinstance(value, bool):
        raise ValueError("a number is required, not true or false")
    return value


NotBool = BeforeValidator(_not_bool)
Whole = Annotated[int, NotBool]
Number = Annotated[float, NotBool]
Yuan = Annotated[str | int | float, NotBool]
