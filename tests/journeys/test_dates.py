"""Holiday triggers: China's public holidays (lunar ones included), the solar terms and the brand's
own dates, N days before or after, in the corp's days; a brand date deleted later pauses the
journey at its next pass with an alert."""

from datetime import date, datetime

import pytest

from siyu.journeys import dates, entries, services
from siyu.journeys.models import Enrollment, Journey

from .. import factories as f

pytestmark = pytest.mark.django_db


def test_holidays_solar_terms_and_brand_dates_fall_on_their_days():
    corp = f.corp()
    actor = f.actor(corp)
    assert dates.holiday_on(corp.pk, "春节", 2027) == date(2027, 2, 6)  # the lunar new year's first day
    assert dates.holiday_on(corp.pk, "中秋节", 2026) == date(2026, 9, 25)
    assert dates.holiday_on(corp.pk, "立春", 2027) == date(2027, 2, 4)
    member_day = dates.brand_date_save(actor=actor, name="会员日", month=5, day=20)
    leap = dates.brand_date_save(actor=actor, name="周年庆", month=2, day=29)
    assert dates.holiday_on(corp.pk, f"brand:{member_day.pk}", 2027) == date(2027, 5, 20)
    assert dates.holiday_on(corp.pk, f"brand:{leap.pk}", 2027) == date(2027, 2, 28)  # no 29th that year
    trigger = {"kind": "holiday", "holiday": "春节", "offset_days": -3}
    assert [d for d in (date(2027, 2, 2), date(2027, 2, 3), date(2027, 2, 6)) if dates.fires_on(corp.pk, trigger, d)] == [date(2027, 2, 3)]
    with pytest.raises(Exception) as refused:
        dates.brand_date_save(actor=actor, name="会员日", month=5, day=21)
    assert refused.value.code == "duplicate_name"
    with pytest.raises(Exception) as refused:
        dates.brand_date_save(actor=actor, name="坏", month=2, day=30)
    assert refused.value.code == "bad_date"


def test_a_holiday_journey_enrolls_its_customers_days_ahead_and_pauses_when_its_date_is_gone():
    corp = f.corp()
    actor = f.actor(corp)
    staff = f.staff(corp)
    for _ in range(3):
        f.follow(f.customer(corp), staff)
    member_day = dates.brand_date_save(actor=actor, name="会员日", month=5, day=20)
    definition = {
        "trigger": {"kind": "holiday", "holiday": f"brand:{member_day.pk}", "offset_days": -2, "time": "10:00"},
        "reentry": {"rule": "every"},
        "steps": [{"key": "w", "kind": "wait", "days": 1}],
    }
    journey = services.journey_create(actor=actor, name="会员日预热", definition=definition)
    assert journey.problems == []
    services.journey_activate(actor=actor, journey=journey)
    journey.refresh_from_db()
    tz = corp.tzinfo
    first = entries.next_entry(journey, definition["trigger"], datetime(2027, 1, 1, tzinfo=tz), first=True)
    assert first == datetime(2027, 5, 18, 10, 0, tzinfo=tz)
    assert entries.pass_run(journey, definition["trigger"], first) == 3
    assert Enrollment.objects.filter(journey=journey).count() == 3
    dates.brand_date_delete(actor=actor, brand_date=member_day)
    services.journey_check(actor=actor, journey=journey)
    assert {p["code"] for p in journey.problems} == {"unknown_holiday"}
    Journey.objects.filter(pk=journey.pk).update(entry_status="due", entry_due_at=datetime(2028, 5, 18, 10, tzinfo=tz))
    entries.enter_due(at=datetime(2028, 5, 18, 10, 1, tzinfo=tz))
    journey.refresh_from_db()
    assert journey.status == Journey.Status.PAUSED and "会员日" not in journey.alert and journey.alert
