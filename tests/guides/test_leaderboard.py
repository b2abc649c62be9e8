"""Leaderboards per guide, store and region equal a plain count over the rows behind them (adds, net
adds, task completion, WeCom's answered chats, GMV credited to the order's guide or the customer's
newest follow, first-order conversion of new customers); a guide sees their own figures and place,
nobody else's; HQ reads them in the console and the API."""

import random
from collections import defaultdict
from datetime import timedelta

import pytest
from django.test import Client

from siyu.corps.models import Staff
from siyu.corps.services import department_upsert
from siyu.customers.models import Follow
from siyu.guides import selectors
from siyu.guides.models import GuideAssignment, GuideTask, GuideTaskItem, StaffDay
from siyu.kit.clock import now
from siyu.kit.errors import Forbidden
from siyu.kit.tenancy import Role
from siyu.orders.models import Order
from siyu.orders.services import OrderIn, order_upsert

from .. import factories as f
from ..conftest import ApiClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def brand():
    corp = f.corp(timezone="Asia/Shanghai")
    east = department_upsert(corp=corp, wecom_id=10, name="华东")
    north = department_upsert(corp=corp, wecom_id=20, name="华北")
    stores = {
        "上海店": department_upsert(corp=corp, wecom_id=11, name="上海店", parent=east),
        "北京店": department_upsert(corp=corp, wecom_id=21, name="北京店", parent=north),
    }
    staff = [f.staff(corp, name=n) for n in ("小王", "小李", "小张")]
    for s, store in zip(staff, ("上海店", "上海店", "北京店"), strict=True):
        Staff.objects.filter(pk=s.pk).update(department=stores[store])
    rng = random.Random(9)
    stamp = now()
    task = GuideTask.objects.create(
        corp=corp,
        name="回访",
        kind="revisit",
        audience={"kind": "filters", "filters": {}},
        starts_at=stamp - timedelta(days=5),
        notify_at=stamp - timedelta(days=5),
        ends_at=stamp + timedelta(days=1),
        status="active",
    )
    for i in range(60):
        s = staff[i % 3]
        c = f.customer(corp, f"客户{i}", external_userid=f"wmLB{i}")
        added = stamp - timedelta(days=rng.randint(0, 40), hours=rng.randint(0, 20))
        follow = f.follow(c, s, added_at=added)
        if i % 7 == 0:
            Follow.objects.filter(pk=follow.pk).update(deleted_by_customer_at=added + timedelta(days=1))
        elif i % 13 == 5:  # removed by the guide, then (WeCom tells it so) deleted by the customer weeks later
            Follow.objects.filter(pk=follow.pk).update(deleted_by_staff_at=added + timedelta(days=2), deleted_by_customer_at=added + timedelta(days=33))
        if i % 11 == 0:  # a second guide, later: the customer's newest follow
            f.follow(c, staff[(i + 1) % 3], added_at=added + timedelta(hours=1))
        for n in range(rng.randint(0, 3)):
            paid = added + timedelta(days=rng.randint(-20, 20))
            if paid < stamp:
                credited = staff[2] if n == 2 else None  # an order with its own guide
                order = OrderIn(
                    order_no=f"LB{i}-{n}",
                    paid_at=paid,
                    amount_fen=1000 * (n + 1),
                    external_userid=c.external_userid,
                    staff_userid=credited.userid if credited else "",
                )
                order_upsert(corp=corp, data=order)
        share, _ = GuideAssignment.objects.get_or_create(corp=corp, task=task, staff=s)
        GuideTaskItem.objects.create(corp=corp, task=task, assignment=share, staff=s, customer=c, status="done" if i % 2 else "open")
    for s in staff:
        for back in range(1, 35):
            StaffDay.objects.create(corp=corp, staff=s, day=(stamp - timedelta(days=back)).date(), replied_chats=rng.randint(0, 9), pulled_at=stamp)
    return {"corp": corp, "staff": staff, "stores": stores, "admin": f.actor(corp)}


def _expected(corp, first, last):
    """The plain computation: every row looked at once, in Python."""
    tz = corp.tzinfo
    day = lambda at: at.astimezone(tz).date()  # noqa: E731
    inside = lambda at: at is not None and first <= day(at) <= last  # noqa: E731
    out = defaultdict(lambda: defaultdict(int))
    follows = list(Follow.objects.filter(corp=corp))
    orders = list(Order.objects.filter(corp=corp))
    for fw in follows:
        if inside(fw.added_at):
            out[fw.staff_id]["adds"] += 1
            earlier = [o for o in orders if o.customer_id == fw.customer_id and o.paid_at < fw.added_at]
            if not earlier:
                out[fw.staff_id]["new_customers"] += 1
                out[fw.staff_id]["converted"] += any(o.customer_id == fw.customer_id and o.paid_at >= fw.added_at for o in orders)
        ends = [at for at in (fw.deleted_by_customer_at, fw.deleted_by_staff_at) if at is not None]
        if ends and inside(min(ends)):  # the relationship ended when the first side ended it
            out[fw.staff_id]["lost"] += 1
    for o in orders:
        if inside(o.paid_at):
            newest = max((fw for fw in follows if fw.customer_id == o.customer_id), key=lambda fw: (fw.added_at, fw.id))
            out[o.staff_id or newest.staff_id]["gmv_fen"] += o.amount_fen - o.refunded_fen
    for item in GuideTaskItem.objects.filter(corp=corp).select_related("task"):
        if inside(item.task.starts_at):
            out[item.staff_id]["items"] += 1
            out[item.staff_id]["items_done"] += item.status == "done"
    for d in StaffDay.objects.filter(corp=corp):
        if first <= d.day <= last:
            out[d.staff_id]["replied"] += d.replied_chats
    return out


KEYS = ("adds", "lost", "items", "items_done", "replied", "gmv_fen", "new_customers", "converted")


def test_each_guides_figures_equal_a_plain_count_and_stores_and_regions_add_up(brand):
    corp, admin = brand["corp"], brand["admin"]
    last = now().astimezone(corp.tzinfo).date()
    first = last - timedelta(days=29)
    want = _expected(corp, first, last)
    rows = selectors.leaderboard(admin, first, last, by="staff", sort="gmv_fen")
    assert {r["id"]: {k: r[k] for k in KEYS} for r in rows} == {pk: {k: v.get(k, 0) for k in KEYS} for pk, v in want.items()}
    assert [r["rank"] for r in rows] == [1, 2, 3] and rows[0]["gmv_fen"] >= rows[1]["gmv_fen"] >= rows[2]["gmv_fen"]
    for r in rows:
        assert r["net_adds"] == r["adds"] - r["lost"]
        assert r["task_rate"] == pytest.approx(r["items_done"] / r["items"])
    stores = {r["name"]: r for r in selectors.leaderboard(admin, first, last, by="department")}
    a, b, c = brand["staff"]
    assert stores["上海店"]["gmv_fen"] == want[a.pk]["gmv_fen"] + want[b.pk]["gmv_fen"] and stores["上海店"]["guides"] == 2
    regions = {r["name"]: r for r in selectors.leaderboard(admin, first, last, by="region", sort="conversion")}
    assert regions["华北"]["converted"] == want[c.pk]["converted"]
    assert regions["华东"]["conversion"] == pytest.approx(
        (want[a.pk]["converted"] + want[b.pk]["converted"]) / (want[a.pk]["new_customers"] + want[b.pk]["new_customers"])
    )


def test_a_guide_sees_their_own_place_and_nobody_elses_figures(brand):
    corp = brand["corp"]
    last = now().astimezone(corp.tzinfo).date()
    first = last - timedelta(days=29)
    a, b, c = brand["staff"]
    guide = f.actor(corp, role=Role.GUIDE, staff=b)
    with pytest.raises(Forbidden):
        selectors.leaderboard(guide, first, last)
    mine = selectors.my_rank(guide, first, last)
    board = {r["id"]: r for r in selectors.leaderboard(brand["admin"], first, last, by="staff")}
    assert mine["figures"]["gmv_fen"] == board[b.pk]["gmv_fen"]
    place = mine["places"]["gmv_fen"]
    assert place["corp"] == 1 + sum(r["gmv_fen"] > board[b.pk]["gmv_fen"] for r in board.values()) and place["corp_of"] == 3
    assert place["store"] == 1 + (board[a.pk]["gmv_fen"] > board[b.pk]["gmv_fen"]) and place["store_of"] == 2
    client = Client()
    client.force_login(guide.user)
    page = client.get("/my/rank/").content.decode()
    assert "小李" in page and "小王" not in page and "小张" not in page


def test_hq_reads_the_board_in_the_console_and_the_api(brand):
    corp = brand["corp"]
    client = Client()
    client.force_login(brand["admin"].user)
    page = client.get("/leaderboard/", {"by": "region", "sort": "adds"})
    assert page.status_code == 200 and "华东" in page.content.decode() and "华北" in page.content.decode()
    assert client.get("/leaderboard/", {"first": "2026-02-30"}).status_code == 400
    api = ApiClient(f.token(brand["admin"].user, corp))
    rows = api.get("/api/v1/leaderboard", by="staff", sort="adds").json()
    assert [r["rank"] for r in rows] == [1, 2, 3] and rows[0]["adds"] >= rows[-1]["adds"]
    guide = ApiClient(f.token(f.user(corp, Role.GUIDE, staff=brand["staff"][0]), corp))
    assert guide.get("/api/v1/leaderboard").status_code == 403
    mine = guide.get("/api/v1/my/rank").json()
    assert mine["staff_name"] == "小王" and set(mine["places"]) == {"adds", "net_adds", "task_rate", "replied", "gmv_fen", "conversion"}
