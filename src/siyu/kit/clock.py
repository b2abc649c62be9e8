import re
from datetime import date, datetime, time

from django.utils import timezone
from django.utils.translation import gettext as _

from .errors import InvalidInput


def now():
    """The one place that asks the time, so tests can move it."""
    return timezone.now()


def day_start(d: date, tz) -> datetime:
    """The first moment of day `d` in timezone `tz` (a corp's day starts at its own midnight)."""
    return datetime.combine(d, time.min, tzinfo=tz)


def parse_time(value, tz, *, field: str = "time"):
    """A moment from outside: ISO 8601 with an offset, or a local time (2024-05-01 10:30,
    2024/5/1 10:30:05, or a bare date meaning its start) read in `tz`, the corp's timezone."""

    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    else:
        text = str(value or "").strip().replace("/", "-")
        if not text:
            raise InvalidInput(_("A time is required."), code="bad_time", field=field)
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            moment = _loose_local(text)
        if moment is None:
            raise InvalidInput(_("%(value)r is not a time (use 2024-05-01 10:30 or ISO 8601).") % {"value": value}, code="bad_time", field=field) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    if not 1990 <= moment.year <= 2200:
        raise InvalidInput(_("%(value)r is out of range.") % {"value": value}, code="bad_time", field=field)
    return moment


def _loose_local(text: str):
    """2024-5-1 9:05 — how spreadsheets and Chinese tills write local times — or None."""

    m = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{1,2})(?::(\d{1,2}))?)?", text)
    if not m:
        return None
    try:
        return datetime(*(int(g) for g in m.groups(default="0")))
    except ValueError:
        return None
