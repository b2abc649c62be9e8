"""The key-metrics page (项目复盘): the company's figures equal a plain count over the rows behind
them, regions add up to the company, periods cut the days without gaps, and every count links to
the customer list filtered to the customers behind it."""

import re
from collections import defaultdict
from datetime import timedelta

import pytest
from django.test import Client

from siyu.customers.models import Follow
from siyu.guides import selectors
from siyu.guides.models import GuideContact, StaffDay
from siyu.kit.clock import now
from siyu.kit.errors import Forbidden, InvalidInput
from siyu.kit.tenancy import Role
from siyu.orders.models import Order

from .. import factories as f
from ..conftest import ApiClient
from .test_leaderboard import brand  # noqa: F401 — the fixture

pytestmark = pytest.mark.django_db


def _days(corp):
    last = now().astimezone(corp.tzinfo).date()
    return last - timedelta(days=29), last


def test_the_companys_figures_equal_a_plain_count(brand):
    corp, admin = brand["corp"], brand["admin"]
    a, b, c = brand["staff"]
    stamp = now()
    for i, fw in enumerate(Follow.objects.filter(corp=corp, staff=a).order_by("id")[:6]):
        GuideContact.objects.create(corp=corp, staff=a, customer=fw.customer, how="reply", at=fw.added_at + timedelta(days=3 if i % 2 else 20))
    first, last = _days(corp)
    # WeCom's group figures, day by day: a's two groups, b's one; a day outside the period too.
    StaffDay.objects.filter(corp=corp).update(group_chats=0, active_groups=0, group_messages=0)
    group_days = [(a, last, 2, 1, 9), (a, last - timedelta(days=1), 2, 2, 30), (b, last, 1, 0, 0), (b, first - timedelta(days=1), 1, 1, 50)]
    for staff, day, owned, active, messages in group_days:
        StaffDay.objects.update_or_create(
            corp=corp,
            staff=staff,
            day=day,
            defaults={"group_chats": owned, "active_groups": active, "group_messages": messages, "pulled_at": stamp, "groups_pulled_at": stamp},
        )
    inside_days = [g for g in group_days if first <= g[1] <= last]
    tz = corp.tzinfo
    start = stamp.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=29)
    end = start + timedelta(days=30)
    orders = list(Order.objects.filter(corp=corp))
    follows = list(Follow.objects.filter(corp=corp))
    inside = [o for o in orders if start <= o.paid_at < end]
    buyers = {o.customer_id for o in inside}
    repeat = {o.customer_id for o in inside if any(p.customer_id == o.customer_id and p.paid_at < o.paid_at for p in orders)}
    held = {fw.customer_id for fw in follows if fw.added_at < end and (fw.deleted_by_customer_at or end) >= end and (fw.deleted_by_staff_at or end) >= end}
    bought = {c for c in held if any(o.customer_id == c and o.paid_at < end for o in orders)}
    new = [fw for fw in follows if start <= fw.added_at < end and not any(o.customer_id == fw.customer_id and o.paid_at < fw.added_at for o in orders)]
    converted = [fw for fw in new if any(o.customer_id == fw.customer_id and o.paid_at >= fw.added_at for o in orders)]
    contacts = list(GuideContact.objects.filter(corp=corp))
    added = [fw for fw in follows if start <= fw.added_at < end]
    reached = [
        fw
        for fw in added
        if any(x.staff_id == fw.staff_id and x.customer_id == fw.customer_id and fw.added_at <= x.at < fw.added_at + timedelta(days=14) for x in contacts)
    ]

    (total,) = selectors.key_metrics(admin, first, last)["totals"]
    assert (total["orders"], total["gmv_fen"]) == (len(inside), sum(o.amount_fen - o.refunded_fen for o in inside))
    assert (total["buyers"], total["repeat_buyers"]) == (len(buyers), len(repeat))  # once each, though two guides share some
    assert (total["customers"], total["customers_bought"]) == (len(held), len(bought))
    assert (total["new_customers"], total["converted"]) == (len(new), len(converted))
    assert total["reached"] == len(reached) and total["golden_rate"] == pytest.approx(len(reached) / len(new))
    owned, active = sum(g[2] for g in inside_days), sum(g[3] for g in inside_days)
    assert (total["group_days"], total["active_group_days"], total["group_messages"]) == (owned, active, sum(g[4] for g in inside_days))
    assert total["group_activity"] == pytest.approx(active / owned)
    assert total["aov_fen"] == pytest.approx(total["gmv_fen"] / total["orders"])
    assert total["repurchase_rate"] == pytest.approx(len(repeat) / len(buyers))


def test_regions_add_up_and_periods_cover_the_days(brand):
    corp, admin = brand["corp"], brand["admin"]
    first, last = _days(corp)
    found = selectors.key_metrics(admin, first, last, by="region", period="week")
    slices = found["slices"]
    assert slices[0][0] == first and slices[-1][1] == last
    assert all((b[0] - a[1]).days == 1 for a, b in zip(slices, slices[1:])) and all(s[1].weekday() == 6 for s in slices[:-1])
    per = defaultdict(int)
    for r in found["rows"]:
        per[r["first"]] += r["gmv_fen"]
    assert {t["first"]: t["gmv_fen"] for t in found["totals"]} == dict(per)
    (whole,) = selectors.key_metrics(admin, first, last)["totals"]
    assert sum(t["gmv_fen"] for t in found["totals"]) == whole["gmv_fen"]
    # Read in one pass over all the weeks, each week is what reading that week alone gives.
    counts = ("adds", "lost", "items", "replied", "gmv_fen", "orders", "buyers", "repeat_buyers", "customers", "customers_bought", "new_customers", "reached")
    for total, (a, b) in zip(found["totals"], slices, strict=True):
        (alone,) = selectors.key_metrics(admin, a, b)["totals"]
        assert {k: total[k] for k in counts} == {k: alone[k] for k in counts}, (a, b)
    by_week = {(r["first"], r["name"]): r["customers"] for r in found["rows"]}
    for a, b in slices:
        alone = {(r["first"], r["name"]): r["customers"] for r in selectors.key_metrics(admin, a, b, by="region")["rows"]}
        assert alone == {k: v for k, v in by_week.items() if k[0] == a}
    with pytest.raises(InvalidInput):
        selectors.key_metrics(admin, last - timedelta(days=300), last, period="week")
    with pytest.raises(Forbidden):
        selectors.key_metrics(f.actor(corp, role=Role.GUIDE, staff=brand["staff"][0]), first, last)


def test_hq_reads_them_with_links_to_the_customers(brand):
    corp = brand["corp"]
    client = Client()
    client.force_login(brand["admin"].user)
    page = client.get("/metrics/", {"by": "region", "period": "month"})
    text = page.content.decode()
    assert page.status_code == 200 and 'id="chart-trend"' in text and "华东" in text
    a, b, _c = brand["staff"]
    assert f"staff={a.id}&amp;staff={b.id}&amp;buyers=yes" in text  # 华东's converted customers
    # The link lists exactly the region's customers who have bought.
    listed = client.get("/customers/", {"staff": [a.id, b.id], "buyers": "yes"}).content.decode()
    shown = {int(pk) for pk in re.findall(r'name="customers" value="(\d+)"', listed)}
    theirs = set(Follow.objects.filter(staff__in=[a, b]).values_list("customer_id", flat=True))  # ended follows too, as the list filters
    bought = set(Order.objects.filter(corp=corp).values_list("customer_id", flat=True))
    assert shown and shown == theirs & bought
    assert client.get("/metrics/", {"first": "2026-13-01"}).status_code == 400
    api = ApiClient(f.token(brand["admin"].user, corp))
    got = api.get("/api/v1/metrics", by="department", period="month").json()
    assert {r["name"] for r in got["rows"]} == {"上海店", "北京店"} and got["totals"]
