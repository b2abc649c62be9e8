"""The calendar holiday triggers read: China's public holidays (the `holidays` package, lunar dates
included, any year), the 24 solar terms (`chinesecalendar`, computed for 1901–2100) and the brand's
own dates (`BrandDate`, edited in the console).

A holiday is named as the operator chose it: "春节", "立春", or "brand:<id>"; it falls on the first
day of the holiday that year (春节's first day, not its days off in lieu).
"""

from __future__ import annotations

import functools
import re
from calendar import monthrange
from datetime import date, timedelta

import chinese_calendar
import holidays
from django.utils.translation import gettext as _

from siyu.kit.errors import InvalidInput
from siyu.kit.tenancy import Actor

from .models import BrandDate

SOLAR_TERMS = (
    "小寒", "大寒", "立春", "雨水", "惊蛰", "春分", "清明", "谷雨", "立夏", "小满", "芒种", "夏至",
    "小暑", "大暑", "立秋", "处暑", "白露", "秋分", "寒露", "霜降", "立冬", "小雪", "大雪", "冬至",
)  # fmt: skip
PUBLIC = ("元旦", "春节", "清明节", "劳动节", "端午节", "中秋节", "国庆节")


@functools.cache
def _public(year: int) -> dict[str, date]:
    """Each public holiday's first day in `year` (春节 from its first day off, not 除夕)."""
    first: dict[str, date] = {}
    for day, name in sorted(holidays.China(years=year, language="zh_CN").items()):
        base = re.sub(r"（.*?）|\(.*?\)", "", name).strip()
        if base in PUBLIC and base not in first:
            first[base] = day
    return first


@functools.cache
def _terms(year: int) -> dict[str, date]:
    return {name: day for day, name in chinese_calendar.get_solar_terms(date(year, 1, 1), date(year, 12, 31))}


def holiday_on(corp_id: int, name: str, year: int) -> date | None:
    """The day `name` falls on in `year`, or None when it does not that year."""
    if name.startswith("brand:"):
        found = BrandDate.objects.filter(corp_id=corp_id, pk=int(name.split(":", 1)[1] or 0)).first()
        if found is None or (found.year and found.year != year):
            return None
        return date(year, found.month, min(found.day, monthrange(year, found.month)[1]))
    if name in SOLAR_TERMS:
        return _terms(year).get(name)
    return _public(year).get(name)


def fires_on(corp_id: int, trigger: dict, day: date) -> bool:
    """Whether a holiday trigger's pass runs on `day` (its holiday is `offset_days` from it)."""
    target = day - timedelta(days=trigger.get("offset_days", 0))
    return holiday_on(corp_id, trigger["holiday"], target.year) == target


def known(corp_id: int, name) -> bool:
    if not isinstance(name, str):
        return False
    if name.startswith("brand:"):
        pk = name.split(":", 1)[1]
        return pk.isdigit() and BrandDate.objects.filter(corp_id=corp_id, pk=int(pk)).exists()
    return name in SOLAR_TERMS or name in PUBLIC


def choices(corp_id: int) -> list[tuple[str, str]]:
    """What a holiday trigger may name, for the console's select."""
    brand = [(f"brand:{d.pk}", d.name) for d in BrandDate.objects.filter(corp_id=corp_id).order_by("month", "day")]
    return [*((n, n) for n in PUBLIC), *((n, n) for n in SOLAR_TERMS), *brand]


def upcoming(corp_id: int, start: date, days: int = 60) -> list[tuple[date, str]]:
    """Every holiday, solar term and brand date in the next `days` days."""
    end = start + timedelta(days=days)
    found = []
    for name, label in choices(corp_id):
        for year in {start.year, end.year}:
            day = holiday_on(corp_id, name, year)
            if day is not None and start <= day < end:
                found.append((day, label))
    return sorted(found)


def brand_date_save(*, actor: Actor, name: str, month: int, day: int, year: int | None = None) -> BrandDate:
    actor.require_manager()
    name = str(name or "").strip()
    if not name or len(name) > 40:
        raise InvalidInput(_("Name the date (at most 40 characters)."), code="bad_name", field="name")
    check_year = year or 2024  # a leap year: 29 February is a date every fourth year
    try:
        date(check_year, month, day)
    except (TypeError, ValueError):
        raise InvalidInput(_("%(month)s-%(day)s is not a date.") % {"month": month, "day": day}, code="bad_date", field="day") from None
    if BrandDate.objects.filter(corp=actor.corp, name=name).exists():
        raise InvalidInput(_("There is already a date called “%(name)s”.") % {"name": name}, code="duplicate_name", field="name")
    return BrandDate.objects.create(corp=actor.corp, name=name, month=month, day=day, year=year)


def brand_date_delete(*, actor: Actor, brand_date: BrandDate) -> None:
    actor.require_manager()
    brand_date.delete()
