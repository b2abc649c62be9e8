"""Online/offline schedules of live codes and their members, in the corp's local time.

    {"weekly": {"1": [["09:00", "12:00"], ["13:30", "18:00"]], ..., "7": []},
     "dates": [{"from": "2026-12-01", "to": "2026-12-31"}],
     "holidays": ["2026-12-25"]}

Every key is optional and {} means always online. `weekly` keys are ISO weekdays (1 = Monday);
a weekday missing from `weekly` is offline that day once `weekly` is given. `dates` limits the
schedule to those ranges (inclusive); `holidays` are offline all day. A slot ends before its end
time; "24:00" ends at midnight.
"""

from __future__ import annotations

from datetime import date, datetime, time

from django.utils.translation import gettext as _

from siyu.kit.errors import InvalidInput


def _time(value, field: str) -> time | None:
    # None stands for 24:00, the end of the day.
    if value == "24:00":
        return None
    try:
        return time.fromisoformat(value) if isinstance(value, str) and len(value) == 5 else _bad(field, value)
    except ValueError:
        _bad(field, value)


def _bad(field: str, value):
    raise InvalidInput(_("%(value)r is not a valid time or date in this schedule.") % {"value": value}, code="bad_schedule", field=field)


def _date(value, field: str) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        _bad(field, value)


def schedule_clean(raw: dict | None, field: str = "schedule") -> dict:
    """Validate a schedule and return it normalised; raises InvalidInput naming the bad part."""
    if not raw:
        return {}
    if not isinstance(raw, dict) or set(raw) - {"weekly", "dates", "holidays"}:
        raise InvalidInput(_("A schedule has only weekly, dates and holidays."), code="bad_schedule", field=field)
    clean: dict = {}
    if "weekly" in raw:
        weekly = raw["weekly"]
        if not isinstance(weekly, dict) or any(str(k) not in {"1", "2", "3", "4", "5", "6", "7"} for k in weekly):
            raise InvalidInput(_("Weekdays are 1 (Monday) to 7."), code="bad_schedule", field=f"{field}.weekly")
        clean["weekly"] = {}
        for day, slots in sorted(weekly.items()):
            where = f"{field}.weekly.{day}"
            if not isinstance(slots, list) or any(not isinstance(s, (list, tuple)) or len(s) != 2 for s in slots):
                raise InvalidInput(_("A list of [start, end] pairs."), code="bad_schedule", field=where)
            for start, end in slots:
                t0, t1 = _time(start, where), _time(end, where)
                if t0 is None or (t1 is not None and t1 <= t0):
                    raise InvalidInput(_("%(start)s–%(end)s must end after it starts.") % {"start": start, "end": end}, code="bad_schedule", field=where)
            clean["weekly"][str(day)] = [[s, e] for s, e in slots]
    if "dates" in raw:
        ranges = raw["dates"]
        if not isinstance(ranges, list):
            raise InvalidInput(_("A list of {from, to}."), code="bad_schedule", field=f"{field}.dates")
        for r in ranges:
            if not isinstance(r, dict) or _date(r.get("from"), f"{field}.dates") > _date(r.get("to"), f"{field}.dates"):
                raise InvalidInput(_("Each range needs from ≤ to."), code="bad_schedule", field=f"{field}.dates")
        clean["dates"] = [{"from": r["from"], "to": r["to"]} for r in ranges]
    if "holidays" in raw:
        if not isinstance(raw["holidays"], list):
            raise InvalidInput(_("A list of dates."), code="bad_schedule", field=f"{field}.holidays")
        clean["holidays"] = sorted({_date(d, f"{field}.holidays").isoformat() for d in raw["holidays"]})
    return clean


def is_online(schedule: dict | None, local: datetime) -> bool:
    """Whether `local` (a naive or aware datetime in the corp's timezone) falls inside the schedule."""
    if not schedule:
        return True
    day = local.date()
    iso = day.isoformat()
    if iso in schedule.get("holidays", ()):
        return False
    ranges = schedule.get("dates")
    if ranges and not any(r["from"] <= iso <= r["to"] for r in ranges):
        return False
    weekly = schedule.get("weekly")
    if weekly is None:
        return True
    now_t = local.time().replace(tzinfo=None)
    for start, end in weekly.get(str(day.isoweekday()), ()):
        if time.fromisoformat(start) <= now_t and (end == "24:00" or now_t < time.fromisoformat(end)):
            return True
    return False
