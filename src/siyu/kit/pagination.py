"""Opaque keyset cursors: stable under inserts, O(page) at any depth, unlike OFFSET."""

import base64
import binascii
import json
from datetime import datetime

from django.db.models import Q
from django.utils.translation import gettext as _

from .errors import InvalidInput

MAX_LIMIT = 200


def encode_cursor(last_id: int) -> str:
    raw = json.dumps({"v": 1, "id": last_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, field: str = "cursor") -> int | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        last_id = data["id"]
        if data.get("v") != 1 or not isinstance(last_id, int) or isinstance(last_id, bool) or last_id < 0:
            raise ValueError
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeEncodeError):
        raise InvalidInput(_("The cursor is malformed; pass back next_cursor exactly as received."), code="invalid_cursor", field=field) from None
    return last_id


def check_limit(limit: int, field: str = "limit") -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(_("The limit is 1 to %(max_limit)s.") % {"max_limit": MAX_LIMIT}, field=field)
    return limit


def keyset_page(queryset, *, cursor: str | None, limit: int):
    """One page of `queryset` ordered by descending id, and the cursor of the next page (or None)."""
    check_limit(limit)
    last_id = decode_cursor(cursor)
    if last_id is not None:
        queryset = queryset.filter(id__lt=last_id)
    rows = list(queryset.order_by("-id")[: limit + 1])
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor


def _cursor_value(value):
    if isinstance(value, datetime):
        return {"dt": value.isoformat()}
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise TypeError(f"cannot page on {type(value).__name__} keys")


def _value_from_cursor(raw):
    if isinstance(raw, dict) and isinstance(raw.get("dt"), str):
        return datetime.fromisoformat(raw["dt"])
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    raise ValueError


def sorted_page(queryset, *, key: str, descending: bool, cursor: str | None, limit: int):
    """One page of `queryset` ordered by the annotation `key` (never NULL: coalesce it), then id,
    and the next page's cursor. A keyset like `keyset_page`'s: a page deep in a sorted list costs
    what the first one does, and rows moving between pages are neither repeated nor skipped."""
    check_limit(limit)
    if cursor:
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
            if data.get("v") != 2 or data.get("key") != key or not isinstance(data.get("id"), int):
                raise ValueError
            last_key, last_id = _value_from_cursor(data["k"]), data["id"]
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error, UnicodeEncodeError):
            raise InvalidInput(_("The cursor is malformed; pass back next_cursor exactly as received."), code="invalid_cursor", field="cursor") from None
        op = "lt" if descending else "gt"
        queryset = queryset.filter(Q(**{f"{key}__{op}": last_key}) | Q(**{key: last_key, f"id__{op}": last_id}))
    sign = "-" if descending else ""
    rows = list(queryset.order_by(f"{sign}{key}", f"{sign}id")[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        raw = json.dumps({"v": 2, "key": key, "k": _cursor_value(getattr(last, key)), "id": last.id}, separators=(",", ":")).encode()
        next_cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    return rows[:limit], next_cursor
