"""Reply statistics and the 14-day golden period: WeCom's behaviour data is pulled per member through
the real client (the whole 180 days for a new corp, then the days missing), a member WeCom refuses
is skipped and asked again later, and the figures per guide, store and region, per month, equal a
plain computation over the sandbox's own counters; the golden period counts a guide's contacts
with the customers they added within 14 days of the add, and nothing else."""

import random
from collections import defaultdict
from datetime import date, datetime, timedelta

import pytest
from django.test import Client, TestCase
from django.utils.module_loading import import_string
from django_tasks_db.models import DBTaskResult

from siyu.corps.models import Staff
from siyu.corps.services import department_upsert
from siyu.guides import selectors
from siyu.guides.behaviour import HISTORY_DAYS, behaviour_due, wecom_today
from siyu.guides.models import GuideContact, StaffDay
from siyu.kit.clock import now
from siyu.kit.errors import Forbidden
from siyu.kit.tenancy import Role
from siyu.sandbox import services as sandbox
from siyu.sandbox.models import CHINA, SbBehavior, SbCallLog, SbGroup, SbGroupDay
from siyu.wecom.client import WeComClient, WeComError

from .. import factories as f
from ..acquisition.conftest import hub  # noqa: F401 — the in-process WeCom
from ..conftest import ApiClient
from ..messaging.test_mass_sends import _customer


def _pull() -> int:
    """Run the queued behaviour pulls as the worker would; returns how many ran."""
    ran = 0
    for task in DBTaskResult.objects.filter(status="READY", task_path="siyu.guides.tasks.pull_behaviour").order_by("id"):
        task.delete()
        with TestCase.captureOnCommitCallbacks(execute=True):
            import_string(task.task_path).call(*task.args_kwargs["args"])
        ran += 1
    return ran


@pytest.fixture
def regions(hub):
    """guide0 and guide1 in store 北京一店 (region 华北), guide2 in 上海一店 (华东); forty days of
    WeCom counters for each, different every day."""
    north = department_upsert(corp=hub.corp, wecom_id=10, name="华北")
    east = department_upsert(corp=hub.corp, wecom_id=20, name="华东")
    stores = [
        department_upsert(corp=hub.corp, wecom_id=11, name="北京一店", parent=north),
        department_upsert(corp=hub.corp, wecom_id=21, name="上海一店", parent=east),
    ]
    for staff, store in zip(hub.staff, (stores[0], stores[0], stores[1]), strict=True):
        Staff.objects.filter(pk=staff.pk).update(department=store)
    rng = random.Random(4)
    today = wecom_today()
    for sb in hub.sb_staff:
        for back in range(1, 41):
            chats = rng.randint(0, 30)
            replied = rng.randint(0, chats)
            SbBehavior.objects.create(
                corp=hub.sb,
                staff=sb,
                day=today - timedelta(days=back),
                chat_cnt=chats,
                message_cnt=rng.randint(chats, chats * 5 + 1),
                replied_chat_cnt=replied,
                reply_minutes_total=replied * rng.randint(1, 20),
                negative_feedback_cnt=rng.randint(0, 1),
                new_contact_cnt=rng.randint(0, 4),
            )
    return {"north": north, "east": east}


def test_a_new_corp_gets_its_history_then_only_what_is_missing(hub, regions):
    assert behaviour_due() == 3
    assert _pull() == 1  # three members: one task
    assert StaffDay.objects.filter(corp=hub.corp).count() == 3 * HISTORY_DAYS  # a row per member and day, quiet days too
    calls = sandbox_calls(hub)
    assert calls == 3 * 6  # 180 days, 30 a call, per member
    # Pulled again: nothing is missing, nothing is asked.
    assert behaviour_due() == 0 and _pull() == 0
    # A day lost (a failed pull) is asked again, for that member only, over the recent window.
    StaffDay.objects.filter(staff=hub.staff[1], day=wecom_today() - timedelta(days=2)).delete()
    assert behaviour_due() == 1 and _pull() == 1
    assert sandbox_calls(hub) == calls + 1
    assert StaffDay.objects.filter(corp=hub.corp).count() == 3 * HISTORY_DAYS


def sandbox_calls(hub) -> int:
    return SbCallLog.objects.filter(corp=hub.sb, api="externalcontact/get_user_behavior_data", errcode=0).count()


def test_a_member_wecom_refuses_is_skipped_and_asked_again(hub, regions):
    sandbox.fault_inject(corp=hub.sb, api="externalcontact/get_user_behavior_data", errcode=60111)
    behaviour_due()
    _pull()
    assert set(StaffDay.objects.values_list("staff_id", flat=True).distinct()) == {hub.staff[1].id, hub.staff[2].id}
    assert behaviour_due() == 1  # guide0, whose first call was refused
    _pull()
    assert StaffDay.objects.filter(staff=hub.staff[0]).count() == HISTORY_DAYS


def test_reply_figures_per_store_region_and_month_equal_the_sandboxs_counters(hub, regions):
    behaviour_due()
    _pull()
    first, last = wecom_today() - timedelta(days=40), wecom_today() - timedelta(days=1)
    expected = defaultdict(lambda: defaultdict(int))
    region_of = {"guide0": "华北", "guide1": "华北", "guide2": "华东"}
    for b in SbBehavior.objects.filter(corp=hub.sb).select_related("staff"):
        month = b.day.replace(day=1)
        row = expected[(region_of[b.staff.userid], month)]
        row["chats"] += b.chat_cnt
        row["messages"] += b.message_cnt
        row["replied"] += b.replied_chat_cnt
        row["new_contacts"] += b.new_contact_cnt
    got = selectors.reply_stats(hub.actor, first, last, by="region", period="month")
    assert {(r["name"], _day(r["period"])): {k: r[k] for k in ("chats", "messages", "replied", "new_contacts")} for r in got} == {
        k: dict(v) for k, v in expected.items()
    }
    for r in got:
        assert r["rate"] == pytest.approx(r["replied"] / r["chats"])
    # Per guide over the whole window: the same sums.
    per_guide = {r["name"]: r["messages"] for r in selectors.reply_stats(hub.actor, first, last)}
    assert per_guide == {s.name: sum(SbBehavior.objects.filter(staff__userid=s.userid).values_list("message_cnt", flat=True)) for s in hub.staff}
    guide = f.actor(hub.corp, role=Role.GUIDE, staff=hub.staff[0])
    with pytest.raises(Forbidden):
        selectors.reply_stats(guide, first, last)


def _day(value) -> date:
    return value.date() if isinstance(value, datetime) else value


def test_the_golden_period_counts_a_guides_own_contacts_within_14_days(hub, regions):
    tz = hub.corp.tzinfo
    stamp = now()
    a = _customer(hub, 0, "wmG1", days_ago=20)  # reached on day 3: counts
    b = _customer(hub, 0, "wmG2", days_ago=20)  # reached on day 15 only: does not
    c = _customer(hub, 0, "wmG3", days_ago=20)  # reached by another guide: does not
    d = _customer(hub, 1, "wmG4", days_ago=5)  # still inside its 14 days, reached twice
    _customer(hub, 2, "wmG5", days_ago=60)  # added before the window: not in it
    for customer, staff, after_days in ((a, 0, 3), (a, 0, 4), (b, 0, 15), (c, 1, 2), (d, 1, 1), (d, 1, 2)):
        follow = customer.follows.get()  # the add the 14 days run from
        GuideContact.objects.create(corp=hub.corp, staff=hub.staff[staff], customer=customer, how="note", at=follow.added_at + timedelta(days=after_days))
    first = (stamp - timedelta(days=30)).astimezone(tz).date()
    last = stamp.astimezone(tz).date()
    rows = {r["name"]: r for r in selectors.golden_period(hub.actor, first, last)}
    assert {k: (r["customers"], r["reached"], r["contacts"], r["in_window"]) for k, r in rows.items()} == {
        "导购0": (3, 1, 2, 0),
        "导购1": (1, 1, 2, 1),
    }
    by_region = {r["name"]: (r["customers"], r["reached"]) for r in selectors.golden_period(hub.actor, first, last, by="region")}
    assert by_region == {"华北": (4, 2)}
    weeks = selectors.golden_period(hub.actor, first, last, period="week")
    assert sum(r["customers"] for r in weeks) == 4 and all(r["period"].weekday() == 0 for r in weeks)


def test_hq_reads_them_in_the_console(hub, regions):
    behaviour_due()
    _pull()
    client = Client()
    client.force_login(hub.actor.user)
    page = client.get("/replies/", {"by": "region", "period": "month"})
    assert page.status_code == 200
    text = page.content.decode()
    assert "华北" in text and "华东" in text and 'id="golden"' in text
    bad = client.get("/replies/", {"first": "2026-13-01"})
    assert bad.status_code == 400


def test_the_api_gives_the_same_figures_and_refuses_a_bad_range(hub, regions):
    behaviour_due()
    _pull()
    api = ApiClient(f.token(f.user(hub.corp, Role.OPERATOR), hub.corp))
    first, last = wecom_today() - timedelta(days=40), wecom_today() - timedelta(days=1)
    got = api.get("/api/v1/replies", first=first.isoformat(), last=last.isoformat(), by="region", period="month").json()
    want = selectors.reply_stats(hub.actor, first, last, by="region", period="month")
    assert [(r["name"], r["period"], r["replied"]) for r in got] == [(r["name"], r["period"].isoformat(), r["replied"]) for r in want]
    refused = api.get("/api/v1/replies", first=last.isoformat(), last=first.isoformat())
    assert refused.status_code == 400 and refused.json()["error"] == {"code": "bad_range", "message": refused.json()["error"]["message"], "field": "last"}
    assert api.get("/api/v1/replies/golden-period", by="bogus").status_code == 422
    guide = ApiClient(f.token(f.user(hub.corp, Role.GUIDE, staff=hub.staff[0]), hub.corp))
    assert guide.get("/api/v1/replies").status_code == 403


def test_group_figures_come_day_by_day_from_wecoms_group_statistics_and_a_refused_day_is_asked_again(hub, regions):
    today = wecom_today()
    groups = [sandbox.group_add(corp=hub.sb, owner=hub.sb_staff[owner], name=f"群{i}") for i, owner in enumerate((0, 0, 2))]
    rng = random.Random(9)
    for group in groups:
        for back in range(1, 41, 3):
            for _ in range(rng.randint(1, 3)):
                sandbox.group_chat(group=group, userid=f"wm{rng.randint(1, 4)}", messages=rng.randint(1, 9), day=today - timedelta(days=back))
    refused = today - timedelta(days=5)
    sandbox.fault_inject(corp=hub.sb, api="externalcontact/groupchat/statistic", errcode=600018, after=HISTORY_DAYS - 5)
    behaviour_due()
    _pull()
    calls = SbCallLog.objects.filter(corp=hub.sb, api="externalcontact/groupchat/statistic").count()
    assert calls == HISTORY_DAYS  # the three owners together, a call a day
    assert not StaffDay.objects.filter(day=refused, groups_pulled_at__isnull=False).exists()
    assert behaviour_due() == 3 and _pull() == 1  # the refused day is asked again
    assert not StaffDay.objects.filter(groups_pulled_at__isnull=True).exists()
    # Each member's day equals a plain count over the sandbox's groups.
    days = defaultdict(lambda: [0, 0, set()])
    for row in SbGroupDay.objects.select_related("group__owner"):
        if row.messages:
            d = days[(row.group.owner.userid, row.day)]
            d[0] += 1
            d[1] += row.messages
            d[2] |= {(row.group_id, u) for u in row.speakers}
    owned = {s.userid: SbGroup.objects.filter(owner=s, dismissed=False).count() for s in hub.sb_staff}
    for row in StaffDay.objects.select_related("staff"):
        active, messages, speakers = days.get((row.staff.userid, row.day), (0, 0, set()))
        assert (row.group_chats, row.active_groups, row.group_messages, row.active_members) == (owned[row.staff.userid], active, messages, len(speakers))
    assert StaffDay.objects.filter(group_messages__gt=0).exists()


def test_wecoms_group_statistics_rules_hold_in_the_sandbox(hub):
    client = WeComClient(hub.corp)
    yesterday = wecom_today() - timedelta(days=1)
    stamp = lambda d: int(datetime(d.year, d.month, d.day, tzinfo=CHINA).timestamp())  # noqa: E731
    for kwargs, errcode in (
        ({"day_begin": stamp(yesterday + timedelta(days=1)), "owners": ["guide0"]}, 600018),  # today is not over
        ({"day_begin": stamp(yesterday - timedelta(days=30)), "day_end": stamp(yesterday), "owners": ["guide0"]}, 600018),  # 31 days
        ({"day_begin": stamp(yesterday - timedelta(days=181)), "owners": ["guide0"]}, 600018),  # older than 180 days
        ({"day_begin": stamp(yesterday), "owners": [f"u{i}" for i in range(101)]}, 40058),  # 100 owners at most
    ):
        with pytest.raises(WeComError) as refused:
            client.groupchat_statistic(**kwargs)
        assert refused.value.errcode == errcode
    answer = client.groupchat_statistic(day_begin=stamp(yesterday - timedelta(days=29)), day_end=stamp(yesterday), owners=["guide0"])
    assert [i["owner"] for i in answer["items"]] == ["guide0"]
