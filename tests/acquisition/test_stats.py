"""Channel statistics: adds, churn within 1 and 7 days, net adds, cost per add, per key and day."""

import io
import time
from datetime import timedelta

import openpyxl
import pytest
from django.conf import settings
from django.utils import translation

from siyu.acquisition import services
from siyu.acquisition.models import Acquisition
from siyu.acquisition.selectors import acquisition_stats
from siyu.kit.clock import now
from siyu.kit.tenancy import Actor, Role
from siyu.sandbox import callbacks as sb
from siyu.sandbox.models import SbContactWay

from .. import factories as f
from ..conftest import ApiClient

HOUR = 3600


def _scan(hub, way, n):
    follows = [sb.customer_scans_contact_way(way, name=f"客户{i}")[0] for i in range(n)]
    hub.handle_callbacks()
    return follows


@pytest.fixture
def world(hub):
    """Store channel: 4 adds through its code (3 guides in turn), ads channel: 2 adds, 1 direct add;
    then one store customer leaves after 2 hours, one after 3 days, one ads customer after 10 days."""
    store = services.channel_create(actor=hub.actor, name="门店", group="store")
    ads = services.channel_create(actor=hub.actor, name="朋友圈广告", group="ads")
    members = [{"staff_id": s.id} for s in hub.staff]
    store_code = services.live_code_push(services.live_code_save(actor=hub.actor, channel=store, name="南京西路店", members=members).pk)
    ads_code = services.live_code_push(services.live_code_save(actor=hub.actor, channel=ads, name="广告A", members=members[:1]).pk)
    store_follows = _scan(hub, SbContactWay.objects.get(config_id=store_code.config_id), 4)
    ads_follows = _scan(hub, SbContactWay.objects.get(config_id=ads_code.config_id), 2)
    sb.customer_adds_staff(hub.sb, hub.sb_staff[1], name="直接加")
    hub.handle_callbacks()
    t0 = int(time.time())
    entries = [
        sb.customer_deletes_staff(store_follows[0], at=t0 + 2 * HOUR),
        sb.staff_deletes_customer(store_follows[1], at=t0 + 3 * 24 * HOUR),
        sb.customer_deletes_staff(ads_follows[0], at=t0 + 10 * 24 * HOUR),
    ]
    hub.handle_callbacks()
    # WeCom delivers a deletion again: still one loss.
    for entry in entries:
        hub.redeliver(entry)
    hub.handle_callbacks()
    today = now().astimezone(hub.corp.tzinfo).date()
    services.channel_cost_set(actor=hub.actor, channel=store, day=today, amount_fen=10000)
    services.channel_cost_set(actor=hub.actor, channel=ads, day=today - timedelta(days=1), amount_fen=3000)
    return {"store": store, "ads": ads, "store_code": store_code, "today": today, "store_follows": store_follows}


def test_channel_view_counts_adds_churn_net_and_cost(hub, world):
    today = world["today"]
    with translation.override("en"):
        stats = acquisition_stats(hub.actor, start=today - timedelta(days=1), end=today, by="channel")
    rows = {r.name: r for r in stats.rows}
    assert set(rows) == {"门店", "朋友圈广告", "No channel (direct adds)"}
    store, ads, direct = rows["门店"], rows["朋友圈广告"], rows["No channel (direct adds)"]
    assert (store.adds, store.lost_1d, store.lost_7d, store.lost, store.net) == (4, 1, 2, 2, 2)
    assert (ads.adds, ads.lost_1d, ads.lost_7d, ads.lost, ads.net) == (2, 0, 0, 1, 1)
    assert (direct.adds, direct.lost, direct.cost_fen) == (1, 0, None)
    assert store.cost_fen == 10000 and store.cost_per_add_fen == 2500 and store.churn_1d == 0.25 and store.churn_7d == 0.5
    # The ads money was spent the day before anyone came: a cost with no adds has no cost per add.
    assert ads.cost_fen == 3000 and ads.cost_per_add_fen == 1500
    assert (stats.totals.adds, stats.totals.lost, stats.totals.cost_fen) == (7, 3, 13000)
    yesterday, day = stats.days
    assert (yesterday.adds, yesterday.cost_fen, yesterday.cost_per_add_fen) == (0, 3000, None)
    assert (day.adds, day.net, day.cost_fen) == (7, 4, 10000)
    # Every add is in the fact table once, whatever the callbacks' retries.
    assert Acquisition.objects.filter(corp=hub.corp).count() == 7


def test_staff_and_live_code_views_and_a_guides_own_view(hub, world):
    today = world["today"]
    by_staff = {r.name: r.adds for r in acquisition_stats(hub.actor, start=today, end=today, by="staff").rows}
    # In turn over three guides: 2, 1, 1 from the store code; guide0 also has both ads adds; guide1 the direct add.
    assert by_staff == {"导购0": 4, "导购1": 2, "导购2": 1}
    by_code = acquisition_stats(hub.actor, start=today, end=today, by="live_code", channel_id=world["store"].id)
    assert [(r.name, r.adds, r.cost_fen) for r in by_code.rows] == [("南京西路店", 4, None)]
    guide = Actor(user=f.user(hub.corp, role=Role.GUIDE, staff=hub.staff[1]), corp=hub.corp, role=Role.GUIDE, staff_id=hub.staff[1].id)
    own = acquisition_stats(guide, start=today, end=today, by="channel")
    assert own.totals.adds == 2 and own.totals.cost_fen is None


def test_api_json_and_excel_export(hub, world):
    api = ApiClient(f.token(hub.actor.user, hub.corp))
    today = world["today"].isoformat()
    body = api.get("/api/v1/acquisition-stats", start=today, end=today, by="channel").json()
    assert body["totals"]["adds"] == 7 and body["totals"]["net"] == 4
    assert {r["name"]: r["cost_per_add_fen"] for r in body["rows"]}["门店"] == 2500

    # The language switcher's cookie picks English (Chinese is the default, whatever the browser says).
    api.client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    response = api.get("/api/v1/acquisition-stats.xlsx", start=today, end=today, by="channel")
    assert response.status_code == 200 and '.xlsx"' in response["Content-Disposition"]
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["Summary", "By day", "Detail"]
    summary = list(book["Summary"].values)
    assert summary[0][:3] == ("Channel", "Adds", "Landing scans")
    by_name = {row[0]: row for row in summary[1:]}
    assert by_name["门店"][1] == 4 and by_name["门店"][10] == 25.0 and by_name["Total"][1] == 7
    detail = list(book["Detail"].values)
    assert (today, "门店", 4) in {row[:3] for row in detail[1:]}
    # Operators reading Chinese get Chinese headings.
    api.client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    book = openpyxl.load_workbook(io.BytesIO(api.get("/api/v1/acquisition-stats.xlsx", start=today, end=today).content))
    assert book.sheetnames[0] == "概览" and list(book["概览"].values)[0][:2] == ("渠道", "添加数")


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"start": "2026-11-10", "end": "2026-11-01"}, 400, "bad_range"),
        ({"start": "2024-01-01", "end": "2026-01-01"}, 400, "bad_range"),
        ({"start": "2026-11-01", "end": "2026-11-02", "by": "city"}, 422, None),
        ({"start": "yesterday", "end": "2026-11-02"}, 422, None),
        ({"start": "2026-11-01", "end": "2026-11-02", "channel_id": 999999}, 404, "not_found"),
    ],
)
def test_bad_stats_queries_are_named(hub, params, status, code):
    response = ApiClient(f.token(hub.actor.user, hub.corp)).get("/api/v1/acquisition-stats", **params)
    assert response.status_code == status, response.content
    if code:
        assert response.json()["error"]["code"] == code
