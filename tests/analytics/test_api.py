"""RFM and segments through the API: settings, one-click class segments, live counts, preview, Excel."""

import io
from datetime import timedelta

import pytest
from openpyxl import load_workbook

from siyu.analytics.models import Segment
from siyu.kit.clock import now
from siyu.orders.services import OrderIn, order_upsert

from .. import factories as f


@pytest.fixture
def buyers(corp):
    """Six buyers and two customers without orders; amounts and recency spread over the classes."""
    staff = f.staff(corp, userid="guide1")
    group = f.tag_group(f.actor(corp), name="会员", tags=["金卡", "银卡"])
    gold = group.tags.get(name="金卡")
    people = []
    for i, (days_ago, orders, fen) in enumerate([(1, 3, 90000), (2, 1, 5000), (3, 2, 30000), (100, 4, 200000), (200, 1, 1000), (300, 1, 80000)]):
        c = f.customer(corp, external_userid=f"wmB{i}", name=f"买家{i}")
        f.follow(c, staff, tags=[gold] if i % 2 == 0 else [])
        for k in range(orders):
            order_upsert(
                corp=corp,
                data=OrderIn(order_no=f"B{i}-{k}", paid_at=now() - timedelta(days=days_ago + k), amount_fen=fen // orders, external_userid=c.external_userid),
            )
        people.append(c)
    for i in range(2):
        f.customer(corp, external_userid=f"wmN{i}")
    return people, gold, staff


def test_rfm_grid_and_settings(api, buyers):
    r = api.get("/api/v1/rfm")
    assert r.status_code == 200
    body = r.json()
    assert (body["buyers"], body["non_buyers"], body["method"]) == (6, 2, "median")
    assert sum(c["customers"] for c in body["classes"]) == 6
    assert sum(c["gmv_fen"] for c in body["classes"]) == body["gmv_fen"] == 90000 + 5000 + 30000 + 200000 + 1000 + 80000
    assert [c["name"] for c in body["classes"]] == ["近高高", "近高低", "近低高", "近低低", "久高高", "久高低", "久低高", "久低低"]
    r = api.put("/api/v1/rfm/settings", {"method": "fixed", "recency_days": 30, "frequency": 1, "monetary_fen": 50000, "strategies": {"A": "专属导购"}})
    assert r.status_code == 200
    body = api.get("/api/v1/rfm").json()
    by = {c["letter"]: c for c in body["classes"]}
    # Fixed: recent ≤ 30 days, more than 1 order, more than 500 yuan.
    assert (by["A"]["customers"], by["B"]["customers"], by["D"]["customers"], by["E"]["customers"], by["G"]["customers"], by["H"]["customers"]) == (
        1,
        1,
        1,
        1,
        1,
        1,
    )
    assert by["A"]["strategy"] == "专属导购"
    q = api.get("/api/v1/rfm", quintiles="true").json()["quintiles"]
    assert sum(cell["customers"] for cell in q["grid"]) == 6


def test_bad_settings_are_refused(api, buyers):
    r = api.put("/api/v1/rfm/settings", {"method": "mode"})
    assert (r.status_code, r.json()["error"]["field"]) == (400, "method")
    r = api.put("/api/v1/rfm/settings", {"strategies": {"Z": "?"}})
    assert (r.status_code, r.json()["error"]["code"]) == (400, "bad_rfm_class")
    r = api.put("/api/v1/rfm/settings", {"window_days": 0})
    assert r.status_code == 422


def test_one_click_class_segment_count_preview_and_excel(api, corp, buyers):
    api.put("/api/v1/rfm/settings", {"method": "fixed", "recency_days": 150, "frequency": 1, "monetary_fen": 0})
    rfm = {c["letter"]: c for c in api.get("/api/v1/rfm").json()["classes"]}
    letter = "A"
    assert rfm[letter]["customers"] == 3
    r = api.post("/api/v1/rfm/segments", {"letter": letter})
    assert r.status_code == 201
    segment = r.json()
    assert api.post("/api/v1/rfm/segments", {"letter": letter}).status_code == 200  # found, not made twice
    assert Segment.objects.filter(corp=corp).count() == 1
    assert api.get(f"/api/v1/segments/{segment['id']}/count").json()["customers"] == rfm[letter]["customers"]
    preview = api.get(f"/api/v1/segments/{segment['id']}/customers", limit=1).json()
    assert len(preview["items"]) == 1 and preview["next_cursor"]
    r = api.get(f"/api/v1/segments/{segment['id']}/customers.xlsx")
    assert r.status_code == 200
    sheet = load_workbook(io.BytesIO(r.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert len(rows) == 1 + rfm[letter]["customers"]
    rfm_column = rows[0].index("RFM 类型")
    assert all(row[rfm_column].startswith(letter) for row in rows[1:])
    assert api.post("/api/v1/rfm/segments", {"letter": "Z"}).status_code == 400


def test_segments_combine_tags_staff_rfm_and_order_facts(api, corp, buyers):
    people, gold, staff = buyers
    filters = {"tags_all": [gold.id], "staff_ids": [staff.id], "orders_min": 2}
    r = api.post("/api/v1/segments", {"name": "金卡复购", "filters": filters})
    assert r.status_code == 201, r.content
    # Gold: buyers 0, 2, 4; of those with ≥ 2 orders: 0 and 2.
    ids = {c["id"] for c in api.get(f"/api/v1/segments/{r.json()['id']}/customers").json()["items"]}
    assert ids == {people[0].id, people[2].id}
    assert api.post("/api/v1/segments/count", {"buyers": False}).json()["customers"] == 2
    assert api.post("/api/v1/segments/count", {"spent_min_fen": 80000}).json()["customers"] == 3
    assert api.post("/api/v1/segments", {"name": "金卡复购", "filters": {}}).status_code == 409
    other = f.tag_group(f.actor(f.corp("Beta")), name="x", tags=["y"]).tags.get()
    r = api.post("/api/v1/segments", {"name": "other", "filters": {"tags_all": [other.id]}})
    assert r.status_code in (400, 404) and not Segment.objects.filter(name="other").exists()


def test_guides_cannot_read_rfm(corp, make_api, buyers):
    _, _, staff = buyers
    guide = make_api(f.user(corp, role="guide", staff=staff), corp)
    assert guide.get("/api/v1/rfm").status_code == 403
    assert guide.post("/api/v1/segments", {"name": "x", "filters": {}}).status_code == 403


def test_super_users(api, buyers):
    body = api.get("/api/v1/super-users", share="0.8").json()
    # Spend 2000, 900, 800, 300, 50, 10 yuan: the top three make 3700 of 4060 (≥ 80%).
    assert (body["buyers"], body["super_users"], body["spent_min_fen"], body["segment_size"]) == (6, 3, 80000, 3)
    count = api.post("/api/v1/segments/count", {"spent_min_fen": body["spent_min_fen"]}).json()["customers"]
    assert count == body["segment_size"]
    assert api.get("/api/v1/super-users", share="1.5").status_code == 422
