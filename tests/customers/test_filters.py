"""Customer filters on a small dataset whose answers are worked out by hand."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from siyu.corps.models import User
from siyu.customers.selectors import CustomerFilters, customer_list
from siyu.kit.tenancy import Role

from .. import factories as f

SH = ZoneInfo("Asia/Shanghai")


def sh(*args):
    return datetime(*args, tzinfo=SH)


@pytest.fixture
def world(db):
    corp = f.corp(timezone="Asia/Shanghai")
    admin = f.actor(corp, Role.ADMIN)
    group = f.tag_group(admin, tags=["T1", "T2", "T3"])
    t1, t2, t3 = group.tags.order_by("order")
    s1, s2 = f.staff(corp, "S1"), f.staff(corp, "S2")
    c = {}
    c[1] = f.customer(corp, "一号")
    f.follow(c[1], s1, sh(2026, 3, 1, 10), tags=[t1, t2], state="store")
    c[2] = f.customer(corp, "二号", phones=["13800000000"])
    f.follow(c[2], s1, sh(2026, 3, 5, 10), tags=[t1], state="web")
    c[3] = f.customer(corp, "三号")
    f.follow(c[3], s2, sh(2026, 3, 10, 10), tags=[t2, t3], state="store")
    c[4] = f.customer(corp, "四号")
    f.follow(c[4], s2, sh(2026, 4, 1, 10))
    c[5] = f.customer(corp, "五号")
    # 00:30 on 1 March in Shanghai is still 28 February in UTC: the corp's calendar must win.
    f.follow(c[5], s1, sh(2026, 3, 1, 0, 30), remark="VIP 王姐")
    f.follow(c[5], s2, sh(2026, 3, 2, 9), tags=[t3], state="ads")
    other = f.corp()
    f.follow(f.customer(other, "别家"), f.staff(other), sh(2026, 3, 1, 10), state="store")
    return {"actor": admin, "c": c, "t": (t1, t2, t3), "s": (s1, s2)}


def names(world, **filters):
    rows = customer_list(world["actor"], CustomerFilters(**filters))
    ids = {cust.id for cust in rows}
    return {n for n, cust in world["c"].items() if cust.id in ids}, len(ids)


def test_tags_all_and_any(world):
    t1, t2, t3 = world["t"]
    assert names(world, tags_all=[t1.id, t2.id]) == ({1}, 1)
    assert names(world, tags_all=[t2.id]) == ({1, 3}, 2)
    assert names(world, tags_any=[t1.id, t3.id]) == ({1, 2, 3, 5}, 4)
    assert names(world, tags_all=[t2.id], tags_any=[t1.id, t3.id]) == ({1, 3}, 2)


def test_staff_state_and_dates_describe_one_follow(world):
    s1, s2 = world["s"]
    assert names(world, staff_ids=[s1.id]) == ({1, 2, 5}, 3)
    assert names(world, staff_ids=[s1.id, s2.id]) == ({1, 2, 3, 4, 5}, 5)
    assert names(world, state="store") == ({1, 3}, 2)
    # c5 has an "ads" follow by S2, but not by S1.
    assert names(world, staff_ids=[s1.id], state="ads") == (set(), 0)
    assert names(world, staff_ids=[s2.id], state="ads") == ({5}, 1)


def test_dates_are_corp_calendar_days(world):
    s1, _ = world["s"]
    assert names(world, staff_ids=[s1.id], added_from=datetime(2026, 3, 1).date()) == ({1, 2, 5}, 3)
    assert names(world, staff_ids=[s1.id], added_to=datetime(2026, 2, 28).date()) == (set(), 0)
    assert names(world, added_from=datetime(2026, 3, 2).date(), added_to=datetime(2026, 3, 5).date()) == ({2, 5}, 2)
    assert names(world, added_from=datetime(2026, 3, 11).date()) == ({4}, 1)


def test_tags_combine_with_follow_filters(world):
    t1, t2, t3 = world["t"]
    _, s2 = world["s"]
    assert names(world, tags_all=[t2.id], added_from=datetime(2026, 3, 1).date(), added_to=datetime(2026, 3, 5).date()) == ({1}, 1)
    assert names(world, tags_all=[t3.id], staff_ids=[s2.id]) == ({3, 5}, 2)


def test_search_by_name_remark_and_phone(world):
    assert names(world, q="二号") == ({2}, 1)
    assert names(world, q="王姐") == ({5}, 1)
    assert names(world, q="138") == ({2}, 1)
    assert names(world, q="13800000000") == ({2}, 1)
    assert names(world, q="139") == (set(), 0)


def test_no_filters_is_the_whole_corp_and_only_it(world):
    assert names(world) == ({1, 2, 3, 4, 5}, 5)


def test_cursor_walks_every_customer_once(world, make_api):
    api = make_api(User.objects.get(pk=world["actor"].user.pk), world["actor"].corp)
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = api.get("/api/v1/customers", **params).json()
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(c.id for c in world["c"].values())
    assert len(seen) == len(set(seen))


def test_api_filters_match_selector(world, make_api):
    t1, t2, _ = world["t"]
    s1, _ = world["s"]
    api = make_api(User.objects.get(pk=world["actor"].user.pk), world["actor"].corp)
    body = api.get("/api/v1/customers", tags_all=[t1.id, t2.id]).json()
    assert [i["id"] for i in body["items"]] == [world["c"][1].id]
    assert {t["name"] for t in body["items"][0]["tags"]} == {"T1", "T2"}
    body = api.get("/api/v1/customers", staff_id=[s1.id], added_from="2026-03-01", added_to="2026-03-01").json()
    assert {i["id"] for i in body["items"]} == {world["c"][1].id, world["c"][5].id}


def test_phone_prefix_ending_in_nine(db):
    corp = f.corp()
    admin = f.actor(corp)
    near = f.customer(corp, "甲", phones=["13899999999"])
    f.customer(corp, "乙", phones=["13900000000"])
    f.customer(corp, "丙", phones=["1389"])
    found = customer_list(admin, CustomerFilters(q="1389"))
    assert sorted(c.name for c in found) == ["丙", "甲"]
    assert [c.id for c in customer_list(admin, CustomerFilters(q="13899999999"))] == [near.id]
