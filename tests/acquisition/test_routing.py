"""Routing: scans through the landing page and the sandbox land where the rules promise.

Exact mode: Siyu decides each scan and holds the guide it showed until the add arrives, so caps
(which count adds) are not passed while another seat has room, and the split follows the rules.
WeCom-list mode: WeCom rotates among the listed staff and Siyu edits the list after each add's
callback; a staff member can be over their cap by at most the scans that arrive during that lag
(docs/acquisition.md): ceil(scans during the lag / staff listed).
"""

import math
import random
import re
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from siyu.acquisition import routing, services, views
from siyu.acquisition.models import LiveCode, LiveCodeDay, LiveCodeHold
from siyu.sandbox import callbacks as sb
from siyu.sandbox.models import SbContactWay, SbCorp, SbFollow

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2026, 11, 23, tzinfo=SHANGHAI)  # a Monday
PHONE = Client()


def _exact_code(hub, members, **kw):
    channel = services.channel_create(actor=hub.actor, name="官网", group="website")
    code = services.live_code_save(actor=hub.actor, channel=channel, name="官网活码", mode="exact", members=members, **kw)
    return services.live_code_push(code.pk)


def _scan_through_landing(hub, code, at, monkeypatch, n: int = 0) -> str | None:
    """Phone `n` opens the code's landing page at `at` (from a network of its own), then scans
    the guide's code it shows; WeCom records the add at `at` too."""
    monkeypatch.setattr(views, "now", lambda: at)
    monkeypatch.setattr(sb, "now", lambda: at)
    PHONE.cookies.clear()  # a new visitor each time (one client: building one costs 20 ms)
    page = PHONE.get(f"/l/{hub.corp.corp_id}/{code.state}/", REMOTE_ADDR=f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}")
    if page.status_code == 409:
        return None
    assert page.status_code == 200
    config_id = re.search(r"/sandbox/qr/contact/([^/]+)\.png", page.content.decode()).group(1)
    follow, _ = sb.customer_scans_contact_way(SbContactWay.objects.get(config_id=config_id))
    return follow.staff.userid


@pytest.fixture
def quiet(hub):
    # 10,000 adds: the callbacks are not what these tests look at, so WeCom is told no receiver.
    SbCorp.objects.filter(pk=hub.sb.pk).update(callback_token="", callback_aes_key="")
    hub.sb.refresh_from_db()
    return hub


def test_weighted_split_over_900_scans(quiet, monkeypatch):
    # 900 scans: within 4σ of the weights that is ±5–7 points of share; a wrong weight (even shares
    # for 3:2:1) is 17 points off for the first guide.
    hub = quiet
    a, b, c = hub.staff
    code = _exact_code(hub, [{"staff_id": a.id, "weight": 3}, {"staff_id": b.id, "weight": 2}, {"staff_id": c.id, "weight": 1}], routing_mode="weighted")
    rng = random.Random(7)
    monkeypatch.setattr(routing.random, "choices", rng.choices)
    landed = Counter(_scan_through_landing(hub, code, MONDAY + timedelta(hours=10, seconds=i), monkeypatch, i) for i in range(900))
    assert sum(landed.values()) == 900
    for staff, share in ((a, 3 / 6), (b, 2 / 6), (c, 1 / 6)):
        sigma = math.sqrt(900 * share * (1 - share))
        assert abs(landed[staff.userid] - 900 * share) < 4 * sigma, (staff.userid, landed)
    # The sandbox's own record agrees with Siyu's counters.
    assert Counter(SbFollow.objects.filter(corp=hub.sb).values_list("staff__userid", flat=True)) == landed
    assert {d.staff.userid: d.picks for d in LiveCodeDay.objects.select_related("staff")} == dict(landed)


def test_caps_schedule_and_backup_over_300_scans(hub, monkeypatch):
    """Adds reach Siyu by callback up to five scans (12 minutes) late; the holds cover the lag, so no cap is passed."""
    a, b, c = hub.staff
    backup = hub.add_staff("guide_backup", "值班导购")
    code = _exact_code(
        hub,
        [
            {"staff_id": a.id, "daily_cap": 75},
            {"staff_id": b.id, "daily_cap": 75},
            {"staff_id": c.id, "daily_cap": 45, "schedule": {"weekly": {"1": [["12:00", "13:00"]]}}},
            {"staff_id": backup.id, "backup": True},
        ],
        routing_mode="least_loaded",
        schedule={"weekly": {"1": [["09:00", "18:00"]]}},
    )
    # 300 scans spread evenly over Monday 08:00–20:00: 225 inside the code's 09:00–18:00,
    # 25 of them inside guide2's own 12:00–13:00 lunch slot.
    start, span = MONDAY + timedelta(hours=8), timedelta(hours=12)
    landed = Counter()
    inside_lunch = 0
    for i in range(300):
        at = start + span * i / 300
        inside_lunch += 12 <= at.hour < 13
        landed[_scan_through_landing(hub, code, at, monkeypatch, i)] += 1
        if i % 5 == 4:
            hub.handle_callbacks()
    hub.handle_callbacks()
    assert None not in landed  # the backup always had room
    assert landed[a.userid] == 75 and landed[b.userid] == 75  # capped, not one more
    # guide2 only in their slot; least-loaded gives them every scan there until the others catch up.
    assert landed[c.userid] == inside_lunch == 25
    assert landed[backup.userid] == 300 - 150 - landed[c.userid]
    assert Counter(SbFollow.objects.filter(corp=hub.sb).values_list("staff__userid", flat=True)) == landed
    assert {d.staff.userid: d.adds for d in LiveCodeDay.objects.select_related("staff")} == dict(landed)
    assert not LiveCodeHold.objects.filter(expires_at__gt=start + span).exists()  # every add took its hold


def test_exact_mode_closes_on_adds_and_then_says_full(hub, monkeypatch):
    code = _exact_code(hub, [{"staff_id": s.id, "daily_cap": 5} for s in hub.staff], total_cap=12)
    at = MONDAY + timedelta(hours=10)
    landed = Counter()
    for i in range(20):
        landed[_scan_through_landing(hub, code, at, monkeypatch, i)] += 1
        hub.handle_callbacks()
    assert landed[None] == 8 and sum(n for k, n in landed.items() if k) == 12
    assert max(n for k, n in landed.items() if k) <= 5
    assert Client().get(f"/l/{hub.corp.corp_id}/{code.state}/").status_code == 409


def test_page_views_alone_never_close_a_code(hub, monkeypatch):
    """Link previews and crawlers open the page without adding anyone: they spread, never close."""
    code = _exact_code(hub, [{"staff_id": s.id, "daily_cap": 2} for s in hub.staff[:2]], total_cap=3, routing_mode="least_loaded")
    at = MONDAY + timedelta(hours=10)
    monkeypatch.setattr(views, "now", lambda: at)
    shown = Counter()
    for n in range(12):
        page = Client().get(f"/l/{hub.corp.corp_id}/{code.state}/", REMOTE_ADDR=f"10.9.0.{n}")
        assert page.status_code == 200
        shown[re.search(r"/sandbox/qr/contact/([^/]+)\.png", page.content.decode()).group(1)] += 1
    assert sorted(shown.values()) == [6, 6]  # the holds spread them evenly
    assert sum(LiveCodeDay.objects.values_list("picks", flat=True)) == 12
    assert sum(LiveCodeDay.objects.values_list("adds", flat=True)) == 0
    # Three visitors add: the total cap is reached, and only now is the code full.
    for config_id in list(shown)[:1] * 2 + list(shown)[1:]:
        sb.customer_scans_contact_way(SbContactWay.objects.get(config_id=config_id))
    hub.handle_callbacks()
    assert Client().get(f"/l/{hub.corp.corp_id}/{code.state}/", REMOTE_ADDR="10.9.1.1").status_code == 409


def test_holds_expire_and_an_add_takes_one(hub, monkeypatch, settings):
    settings.SIYU_LIVE_CODE_HOLD_MINUTES = 10
    a, b, _ = hub.staff
    code = _exact_code(hub, [{"staff_id": a.id}, {"staff_id": b.id}], routing_mode="least_loaded")
    at = MONDAY + timedelta(hours=10)
    first = services.assign_staff_for_scan(live_code=code, at=at)
    second = services.assign_staff_for_scan(live_code=code, at=at)
    assert {first.staff_id, second.staff_id} == {a.id, b.id}  # the first pick's hold sent the second elsewhere
    assert routing.live_holds(code, at) == {a.id: 1, b.id: 1}
    assert routing.live_holds(code, at + timedelta(minutes=10)) == {}
    # The visitor shown `first` adds them: their hold is taken, the other stays.
    monkeypatch.setattr(sb, "now", lambda: at + timedelta(minutes=2))
    way = services.staff_way_for(code, first)
    sb.customer_scans_contact_way(SbContactWay.objects.get(config_id=way.config_id))
    hub.handle_callbacks()
    assert routing.live_holds(code, at + timedelta(minutes=2)) == {second.staff_id: 1}
    assert routing.today_counts(code, at.date()) == {first.staff_id: 1}
    # The worker's minute tick clears expired holds; scans only count live ones.
    services.live_codes_refresh_due(at=at + timedelta(minutes=11))
    assert not LiveCodeHold.objects.exists()


def test_reloading_the_landing_page_keeps_the_guide_and_the_count(hub, monkeypatch):
    code = _exact_code(hub, [{"staff_id": s.id} for s in hub.staff])
    phone = Client()
    first = phone.get(f"/l/{hub.corp.corp_id}/{code.state}/").content
    for _ in range(3):
        assert phone.get(f"/l/{hub.corp.corp_id}/{code.state}/").content == first
    assert sum(LiveCodeDay.objects.values_list("picks", flat=True)) == 1
    assert Client().get(f"/l/{hub.corp.corp_id}/nosuchcode/").status_code == 404


def test_list_mode_overshoot_stays_within_the_bound(hub):
    """Two capped guides and a backup; callbacks are handled every `lag` scans."""
    a, b, backup = hub.staff
    channel = services.channel_create(actor=hub.actor, name="快递卡", group="parcel_card")
    code = services.live_code_save(
        actor=hub.actor,
        channel=channel,
        name="包裹卡",
        members=[{"staff_id": a.id, "daily_cap": 40}, {"staff_id": b.id, "daily_cap": 40}, {"staff_id": backup.id, "backup": True}],
    )
    code = services.live_code_push(code.pk)
    way = SbContactWay.objects.get(config_id=code.config_id)
    assert way.users == [a.userid, b.userid]
    lag, listed = 10, 2
    bound = math.ceil(lag / listed)
    landed = Counter()
    for i in range(200):
        follow, _ = sb.customer_scans_contact_way(way)
        landed[follow.staff.userid] += 1
        if (i + 1) % lag == 0:
            hub.handle_callbacks()
    hub.handle_callbacks()
    for guide in (a, b):
        assert 40 <= landed[guide.userid] <= 40 + bound, landed
    assert landed[backup.userid] == 200 - landed[a.userid] - landed[b.userid]
    way.refresh_from_db()
    code.refresh_from_db()
    assert way.users == [backup.userid] == code.pushed_users
    counted = {d.staff.userid: d.adds for d in LiveCodeDay.objects.select_related("staff")}
    assert counted == dict(landed)  # every add attributed, once


def test_list_mode_follows_the_schedule_on_the_minute_tick(hub, django_capture_on_commit_callbacks):
    a, b, c = hub.staff
    channel = services.channel_create(actor=hub.actor, name="地推", group="ground_push")
    code = services.live_code_save(
        actor=hub.actor,
        channel=channel,
        name="商场地推",
        members=[{"staff_id": a.id}, {"staff_id": b.id, "schedule": {"weekly": {"1": [["09:00", "12:00"]]}}}, {"staff_id": c.id, "backup": True}],
    )
    morning = MONDAY + timedelta(hours=10)
    services.live_code_push(code.pk, at=morning)
    assert SbContactWay.objects.get(config_id=LiveCode.objects.get().config_id).users == [a.userid, b.userid]
    afternoon = MONDAY + timedelta(hours=13)
    with django_capture_on_commit_callbacks(execute=True):  # the worker's tick runs outside a transaction
        assert services.live_codes_refresh_due(at=afternoon) == 1
    hub.at = afternoon
    hub.handle_callbacks()
    assert SbContactWay.objects.get(config_id=LiveCode.objects.get().config_id).users == [a.userid]
    assert services.live_codes_refresh_due(at=afternoon) == 0  # nothing more to do


def test_one_network_is_rate_limited_on_landing_pages(hub, settings):
    settings.SIYU_PUBLIC_PAGE_RATE = "5/minute"
    code = _exact_code(hub, [{"staff_id": s.id} for s in hub.staff])
    url = f"/l/{hub.corp.corp_id}/{code.state}/"
    assert [Client().get(url, REMOTE_ADDR="10.8.0.1").status_code for _ in range(5)] == [200] * 5
    refused = Client().get(url, REMOTE_ADDR="10.8.0.1")
    assert refused.status_code == 429 and "请稍后再试" in refused.content.decode()
    assert sum(LiveCodeDay.objects.values_list("picks", flat=True)) == 5  # the refused view picked nobody
    assert Client().get(url, REMOTE_ADDR="10.8.0.2").status_code == 200  # another network is not held up
    # Without a configured proxy, X-Forwarded-For is anyone's to write and changes nothing.
    assert Client().get(url, REMOTE_ADDR="10.8.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4").status_code == 429


def test_behind_a_proxy_each_visitor_counts_for_their_own_network(hub, settings):
    settings.SIYU_PUBLIC_PAGE_RATE = "2/minute"
    settings.SIYU_PROXY_COUNT = 1
    code = _exact_code(hub, [{"staff_id": s.id} for s in hub.staff])
    url = f"/l/{hub.corp.corp_id}/{code.state}/"
    for visitor in ("203.0.113.5", "203.0.113.6"):
        # The proxy appends what it saw; whatever the visitor wrote before that is not trusted.
        assert Client().get(url, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=f"9.9.9.9, {visitor}").status_code == 200
        assert Client().get(url, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=visitor).status_code == 200
        assert Client().get(url, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=f"8.8.8.8, {visitor}").status_code == 429
