"""Opaque keyset cursors: stable under inserts, O(page) at any depth, unlike OFFSET."""

import base64
import binascii
import json

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
