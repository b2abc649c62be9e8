"""The journey engine on a simulated clock: what makes a draft unfit to go live, who enters and
how often, waits in China time, branches and splits, actions run exactly once (also after a worker
dies mid-step), versions with customers mid-way, holdout and conversion, and a reference deleted
later pausing the journey instead of failing in a loop."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from django.utils import timezone

from siyu.acquisition.models import Acquisition, Lead, LeadForm
from siyu.acquisition.services import channel_create, live_code_save
from siyu.analytics.models import CustomerRfmClass, RfmSettings, Segment
from siyu.analytics.services import rfm_classes_record, rfm_settings_save
from siyu.customers import services as customer_services
from siyu.customers.fields import custom_field_save, customer_fields_set
from siyu.customers.models import CustomerFieldValue, FollowTag
from siyu.customers.services import customer_tags_change, follow_end
from siyu.guides import quick_replies
from siyu.journeys import engine, entries, services, subscribers
from siyu.journeys.definition import wake_at
from siyu.journeys.models import Arrival, Bundle, Enrollment, Journey, StepRun
from siyu.journeys.rehearsal import rehearse
from siyu.kit.errors import InvalidInput
from siyu.messaging import budget
from siyu.messaging.models import CustomerListMember, Delivery
from siyu.orders.services import OrderIn, RefundIn, order_upsert, refund_record
from siyu.tags.services import tag_delete
from siyu.wecom.events import CALLBACK, ContactLost, ContactsAdded, NewFollow

from .. import factories as f

CN = ZoneInfo("Asia/Shanghai")
pytestmark = pytest.mark.django_db


def t(*args) -> datetime:
    return datetime(*args, tzinfo=CN)


def tomorrow(hour: int) -> datetime:
    """An hour of tomorrow in China: after anything a test enrolls on the real clock today."""
    day = datetime.now(CN).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, tzinfo=CN)


@pytest.fixture
def after_ten(monkeypatch):
    """Customers enter no earlier than 10:01 today in China, so a send step at 10:00 falls
    tomorrow whenever the suite runs: before 10:00 in China, the next 10:00 would be today's."""
    day = datetime.now(CN).date()
    floor = datetime(day.year, day.month, day.day, 10, 1, tzinfo=CN)
    monkeypatch.setattr(engine, "now", lambda: max(timezone.now(), floor))


@pytest.fixture
def world():
    corp = f.corp()
    actor = f.actor(corp)
    group = f.tag_group(actor, "旅程", tags=["新客", "已回访", "VIP"])
    tags = {tag.name: tag for tag in group.tags.all()}
    staff = f.staff(corp, "导购甲")
    return corp, actor, tags, staff


def _customers(corp, staff, n, added=None):
    out = []
    for _ in range(n):
        c = f.customer(corp)
        f.follow(c, staff, added_at=added)
        out.append(c)
    return out


def _live(actor, definition, name="旅程"):
    journey = services.journey_create(actor=actor, name=name, definition=definition)
    services.journey_activate(actor=actor, journey=journey)
    journey.refresh_from_db()
    return journey


def _tagged(tags, *names):
    return {"kind": "event", "event": "tag_added", "tag_ids": [tags[n].pk for n in names]}


def _run(at):
    return engine.run_due(at=at)


def _outcomes(enrollment):
    return dict(StepRun.objects.filter(enrollment=enrollment).values_list("step", "outcome"))


def test_a_draft_names_each_problem_and_cannot_go_live(world):
    corp, actor, tags, _ = world
    definition = {
        "trigger": {"kind": "event", "event": "tag_added", "tag_ids": [999999]},
        "steps": [
            {"key": "a", "kind": "wait", "days": 1, "next": "b"},
            {"key": "b", "kind": "wait_event", "event": "order_paid", "next": "a"},  # no timeout, and back to a
            {"key": "c", "kind": "tag", "add": [tags["VIP"].pk]},  # nothing leads here
            {"key": "d", "kind": "send", "text": "", "next": "zzz"},
        ],
    }
    journey = services.journey_create(actor=actor, name="坏的", definition=definition)
    codes = {(p["field"], p["code"]) for p in journey.problems}
    assert ("trigger.tag_ids", "unknown_tag") in codes
    assert ("steps.1.timeout_days", "no_way_out") in codes
    assert ("steps.1", "cycle") in codes
    assert ("steps.2", "unreachable") in codes
    assert ("steps.3.text", "empty_message") in codes
    assert ("steps.3.next", "unknown_step") in codes
    with pytest.raises(InvalidInput) as refused:
        services.journey_activate(actor=actor, journey=journey)
    assert refused.value.code == "unknown_tag" and len(refused.value.details) == len(journey.problems)
    journey.refresh_from_db()
    assert journey.status == Journey.Status.DRAFT and journey.live_version_id is None


def test_waits_end_on_china_time_across_midnight_and_month_ends():
    # 23:30 on 31 January in Shanghai (15:30 UTC): "until 09:00" is 1 February, not the same UTC day's 09:00.
    started = t(2027, 1, 31, 23, 30)
    assert wake_at({"kind": "wait", "until_time": "09:00"}, started, CN) == t(2027, 2, 1, 9, 0)
    assert wake_at({"kind": "wait", "until_time": "23:45"}, started, CN) == t(2027, 1, 31, 23, 45)
    # A day's wait from 28 February 2028 (leap year) ends on the 29th; two days from 28 Feb 2027 on 2 March.
    assert wake_at({"kind": "wait", "days": 1}, t(2028, 2, 28, 10), CN) == t(2028, 2, 29, 10)
    assert wake_at({"kind": "wait", "days": 2}, t(2027, 2, 28, 10), CN) == t(2027, 3, 2, 10)
    # Until Monday 10:00 from Sunday night, and from Monday 10:00 itself: the next Monday.
    assert wake_at({"kind": "wait", "weekday": 1, "until_time": "10:00"}, t(2026, 12, 6, 22), CN) == t(2026, 12, 7, 10)
    assert wake_at({"kind": "wait", "weekday": 1, "until_time": "10:00"}, t(2026, 12, 7, 10), CN) == t(2026, 12, 14, 10)


def test_a_tag_starts_the_journey_which_waits_branches_and_acts_once(world):
    corp, actor, tags, staff = world
    level = custom_field_save(actor=actor, name="等级", key="level", kind="choice", choices=["普通", "重点"])
    journey = _live(
        actor,
        {
            "trigger": _tagged(tags, "新客"),
            "steps": [
                {"key": "wait", "kind": "wait", "days": 1, "next": "check"},
                {"key": "check", "kind": "branch", "if": {"tags_any": [tags["VIP"].pk]}, "yes": "mark", "no": "tag"},
                {"key": "mark", "kind": "set_field", "field": level.key, "value": "重点"},
                {"key": "tag", "kind": "tag", "add": [tags["已回访"].pk]},
            ],
        },
    )
    vip, plain, other = _customers(corp, staff, 3)
    start = engine.now()  # the tags below enroll on the real clock
    for c, names in ((vip, ["新客", "VIP"]), (plain, ["新客"]), (other, ["VIP"])):
        customer_tags_change(actor=actor, customer=c, add=[tags[n] for n in names])
    assert set(Enrollment.objects.filter(journey=journey).values_list("customer_id", flat=True)) == {vip.pk, plain.pk}
    assert _run(start) == 0  # the wait has not ended
    assert _run(start + timedelta(days=1, minutes=1)) == 6  # the wait, the branch and one action, for each
    e_vip, e_plain = (Enrollment.objects.get(journey=journey, customer=c) for c in (vip, plain))
    assert _outcomes(e_vip) == {"wait": "done", "check": "yes", "mark": "done"}
    assert _outcomes(e_plain) == {"wait": "done", "check": "no", "tag": "done"}
    assert CustomerFieldValue.objects.get(customer=vip, field=level).text == "重点"
    assert FollowTag.objects.filter(follow__customer=plain, tag=tags["已回访"]).exists()
    assert not FollowTag.objects.filter(follow__customer=vip, tag=tags["已回访"]).exists()
    assert {e_vip.status, e_plain.status} == {Enrollment.Status.DONE}
    assert _run(start + timedelta(days=3)) == 0  # nothing runs twice


def test_re_entry_rules(world):
    corp, actor, tags, staff = world
    (c,) = _customers(corp, staff, 1)
    once = _live(actor, {"trigger": _tagged(tags, "新客"), "steps": [{"key": "w", "kind": "wait", "days": 1}]}, "once")
    again = _live(
        actor, {"trigger": _tagged(tags, "新客"), "reentry": {"rule": "after_days", "days": 10}, "steps": [{"key": "w", "kind": "wait", "days": 1}]}, "10d"
    )
    every = _live(actor, {"trigger": _tagged(tags, "新客"), "reentry": {"rule": "every"}, "steps": [{"key": "w", "kind": "wait", "days": 1}]}, "every")
    for at in (t(2026, 12, 1, 9), t(2026, 12, 1, 12), t(2026, 12, 5, 9), t(2026, 12, 12, 9)):
        _run(at)  # walks that began a day or more before have finished
        with _clock(at):
            customer_tags_change(actor=actor, customer=c, add=[tags["新客"]])
            customer_tags_change(actor=actor, customer=c, remove=[tags["新客"]])
    assert Enrollment.objects.filter(journey=once).count() == 1
    assert Enrollment.objects.filter(journey=again).count() == 2  # on the 1st, and 11 days later on the 12th
    assert Enrollment.objects.filter(journey=every).count() == 3  # not while the 1 December walk was still going at noon


def test_the_holdout_is_stable_and_conversion_is_counted_for_both(world):
    corp, actor, tags, staff = world
    journey = _live(
        actor,
        {"trigger": _tagged(tags, "新客"), "holdout_percent": 30, "goal": {"within_days": 7}, "steps": [{"key": "w", "kind": "wait", "days": 30}]},
    )
    people = _customers(corp, staff, 60)
    for c in people:
        customer_tags_change(actor=actor, customer=c, add=[tags["新客"]])
    held = set(Enrollment.objects.filter(journey=journey, status=Enrollment.Status.HOLDOUT).values_list("customer_id", flat=True))
    assert held == {c.pk for c in people if engine.in_holdout(journey.pk, c.pk, 30)}
    assert 5 <= len(held) <= 35
    # A second version keeps the same people held out.
    services.journey_save(actor=actor, journey=journey, definition={**journey.definition, "reentry": {"rule": "every"}})
    services.journey_activate(actor=actor, journey=journey)
    assert all(engine.in_holdout(journey.pk, pk, 30) for pk in held)
    entered = Enrollment.objects.get(journey=journey, customer=people[0]).entered_at
    engine.goal_reached(corp.pk, people[0].pk, entered + timedelta(days=3))
    engine.goal_reached(corp.pk, people[1].pk, entered + timedelta(days=9))  # outside the goal's days
    assert Enrollment.objects.get(journey=journey, customer=people[0]).converted_at is not None
    assert Enrollment.objects.get(journey=journey, customer=people[1]).converted_at is None


def test_a_step_runs_once_when_its_worker_dies_mid_step(world):
    corp, actor, tags, staff = world
    _live(actor, {"trigger": _tagged(tags, "新客"), "steps": [{"key": "tag", "kind": "tag", "add": [tags["已回访"].pk]}]})
    (c,) = _customers(corp, staff, 1)
    customer_tags_change(actor=actor, customer=c, add=[tags["新客"]])
    at = engine.now()

    class Died(Exception):
        pass

    with pytest.raises(Died), transaction.atomic():  # the worker dies before its batch commits
        claims = engine.ENROLLMENT_WORK.lock_due(at=at, fields=engine.WALKED)
        assert len(claims) == 1
        engine.run_claims(claims, at=at)
        assert StepRun.objects.count() == 1  # the step ran, in the batch's transaction
        raise Died
    assert not StepRun.objects.exists() and not FollowTag.objects.filter(tag=tags["已回访"]).exists()
    assert _run(at) == 1  # due again at once: nothing held it but the dead transaction
    assert _run(at + timedelta(minutes=12)) == 0
    assert StepRun.objects.filter(step="tag").count() == 1
    assert FollowTag.objects.filter(tag=tags["已回访"]).count() == 1


def test_customers_mid_way_finish_their_version_unless_moved(world):
    corp, actor, tags, staff = world
    journey = _live(
        actor,
        {
            "trigger": _tagged(tags, "新客"),
            "steps": [{"key": "w", "kind": "wait", "days": 2, "next": "a"}, {"key": "a", "kind": "tag", "add": [tags["VIP"].pk]}],
        },
    )
    first, second, third = _customers(corp, staff, 3)
    customer_tags_change(actor=actor, customer=first, add=[tags["新客"]])
    customer_tags_change(actor=actor, customer=third, add=[tags["新客"]])
    v1 = journey.live_version
    services.journey_save(
        actor=actor,
        journey=journey,
        definition={
            **journey.definition,
            "steps": [{"key": "w", "kind": "wait", "days": 2, "next": "b"}, {"key": "b", "kind": "tag", "add": [tags["已回访"].pk]}],
        },
    )
    v2 = services.journey_activate(actor=actor, journey=journey)
    customer_tags_change(actor=actor, customer=second, add=[tags["新客"]])
    assert Enrollment.objects.get(customer=second).version == v2
    assert Enrollment.objects.get(customer=first).version == v1
    _run(t(2030, 1, 1))
    assert FollowTag.objects.filter(follow__customer=first, tag=tags["VIP"]).exists()  # v1's step
    assert FollowTag.objects.filter(follow__customer=second, tag=tags["已回访"]).exists()  # v2's


def test_moving_customers_to_the_live_version(world):
    corp, actor, tags, staff = world
    steps = [{"key": "w", "kind": "wait", "days": 2, "next": "a"}, {"key": "a", "kind": "tag", "add": [tags["VIP"].pk]}]
    journey = _live(actor, {"trigger": _tagged(tags, "新客"), "steps": steps})
    (c,) = _customers(corp, staff, 1)
    customer_tags_change(actor=actor, customer=c, add=[tags["新客"]])
    v1 = journey.live_version
    steps2 = [{"key": "w", "kind": "wait", "days": 2, "next": "a"}, {"key": "a", "kind": "tag", "add": [tags["已回访"].pk]}]
    services.journey_save(actor=actor, journey=journey, definition={**journey.definition, "steps": steps2})
    v2 = services.journey_activate(actor=actor, journey=journey)
    assert services.journey_move(actor=actor, journey=journey, version=v1) == 1
    _run(t(2030, 1, 1))
    assert Enrollment.objects.get(customer=c).version == v2
    assert FollowTag.objects.filter(follow__customer=c, tag=tags["已回访"]).exists()
    assert not FollowTag.objects.filter(follow__customer=c, tag=tags["VIP"]).exists()


def test_a_split_sends_stable_shares_down_each_path(world):
    corp, actor, tags, staff = world
    journey = _live(
        actor,
        {
            "trigger": _tagged(tags, "新客"),
            "steps": [
                {"key": "ab", "kind": "split", "paths": [{"share": 50, "next": "a"}, {"share": 50, "next": "b"}]},
                {"key": "a", "kind": "tag", "add": [tags["VIP"].pk]},
                {"key": "b", "kind": "tag", "add": [tags["已回访"].pk]},
            ],
        },
    )
    people = _customers(corp, staff, 40)
    for c in people:
        customer_tags_change(actor=actor, customer=c, add=[tags["新客"]])
    _run(t(2030, 1, 1))
    a = set(FollowTag.objects.filter(tag=tags["VIP"]).values_list("follow__customer_id", flat=True))
    b = set(FollowTag.objects.filter(tag=tags["已回访"]).values_list("follow__customer_id", flat=True))
    assert not a & b and len(a | b) == 40 and 8 <= len(a) <= 32
    assert a == {c.pk for c in people if engine._path(journey.pk, {"key": "ab", "paths": [{"share": 50}, {"share": 50}]}, c.pk) == "path_1"}


def test_a_wait_for_an_order_goes_on_at_the_order_or_at_its_timeout(world):
    corp, actor, tags, staff = world
    journey = _live(
        actor,
        {
            "trigger": _tagged(tags, "新客"),
            "steps": [
                {
                    "key": "wait",
                    "kind": "wait_event",
                    "event": "tag_added",
                    "tag_ids": [tags["VIP"].pk],
                    "timeout_days": 3,
                    "next": "yes",
                    "timeout_next": "no",
                },
                {"key": "yes", "kind": "tag", "add": [tags["已回访"].pk]},
                {"key": "no", "kind": "wait", "days": 1},
            ],
        },
    )
    quick, slow = _customers(corp, staff, 2)
    for c in (quick, slow):
        customer_tags_change(actor=actor, customer=c, add=[tags["新客"]])
    customer_tags_change(actor=actor, customer=quick, add=[tags["VIP"]])
    _run(engine.now() + timedelta(minutes=1))
    assert _outcomes(Enrollment.objects.get(journey=journey, customer=quick)) == {"wait": "event", "yes": "done"}
    assert _outcomes(Enrollment.objects.get(journey=journey, customer=slow)) == {}
    _run(engine.now() + timedelta(days=3, minutes=1))
    assert _outcomes(Enrollment.objects.get(journey=journey, customer=slow)) == {"wait": "timeout"}


def test_sends_are_bundled_per_step_and_sending_time_within_the_budget(world, after_ten):
    corp, actor, tags, staff = world
    budget.policy_save(actor=actor, wecom_cap="month_days", max_per_week=None, min_gap_hours=None, quiet_start=None, quiet_end=None)
    journey = _live(actor, {"trigger": _tagged(tags, "新客"), "steps": [{"key": "hi", "kind": "send", "text": "欢迎", "at": "10:00"}]})
    people = _customers(corp, staff, 5)
    for c in people:
        customer_tags_change(actor=actor, customer=c, add=[tags["新客"]])
    _run(tomorrow(8))  # the customers entered now (the real clock): the passes come after
    _run(tomorrow(9))
    bundle = Bundle.objects.get(journey=journey)
    assert bundle.send_at == tomorrow(10) and CustomerListMember.objects.filter(customers=bundle.customers).count() == 5


def test_a_send_step_leaves_out_customers_the_brands_budget_holds_back(world, after_ten):
    corp, actor, tags, staff = world
    budget.policy_save(actor=actor, wecom_cap="month_days", max_per_week=None, min_gap_hours=48, quiet_start=None, quiet_end=None)
    journey = _live(actor, {"trigger": _tagged(tags, "新客"), "steps": [{"key": "hi", "kind": "send", "text": "欢迎", "at": "10:00"}]})
    recent, fresh = _customers(corp, staff, 2)
    Delivery.objects.create(corp=corp, customer=recent, external_userid=recent.external_userid, planned_at=tomorrow(9) - timedelta(hours=21))
    for c in (recent, fresh):
        customer_tags_change(actor=actor, customer=c, add=[tags["新客"]])
    _run(tomorrow(9))
    assert _outcomes(Enrollment.objects.get(journey=journey, customer=recent)) == {"hi": "budget"}
    assert _outcomes(Enrollment.objects.get(journey=journey, customer=fresh)) == {"hi": "queued"}
    assert list(CustomerListMember.objects.values_list("customer_id", flat=True)) == [fresh.pk]


def test_a_deleted_tag_pauses_the_journey_with_an_alert(world):
    corp, actor, tags, staff = world
    journey = _live(
        actor,
        {
            "trigger": _tagged(tags, "新客"),
            "steps": [{"key": "w", "kind": "wait", "days": 1, "next": "a"}, {"key": "a", "kind": "tag", "add": [tags["VIP"].pk]}],
        },
    )
    (c,) = _customers(corp, staff, 1)
    customer_tags_change(actor=actor, customer=c, add=[tags["新客"]])
    tag_delete(actor=actor, tag=tags["VIP"])
    assert _run(t(2030, 1, 1)) == 0
    journey.refresh_from_db()
    assert journey.status == Journey.Status.PAUSED and str(tags["VIP"].pk) in journey.alert
    e = Enrollment.objects.get(journey=journey)
    assert e.status == Enrollment.Status.WAITING and e.step == "w"
    assert _run(t(2030, 1, 2)) == 0  # paused: nothing is claimed, no loop
    with pytest.raises(InvalidInput):
        services.journey_resume(actor=actor, journey=journey)


def test_month_age_milestones_reach_the_right_babies(world):
    corp, actor, tags, staff = world
    born = custom_field_save(actor=actor, name="宝宝生日", key="baby_birthday", kind="date")
    journey = _live(
        actor,
        {
            "trigger": {"kind": "date_field", "field": born.key, "repeat": "months", "months": [1, 6], "time": "09:00"},
            "steps": [{"key": "w", "kind": "wait", "days": 1}],
        },
    )
    babies = {}
    for d in ("2026-01-31", "2026-01-28", "2026-08-28", "2026-08-29", "2026-09-28"):
        (c,) = _customers(corp, staff, 1)
        customer_fields_set(actor=actor, customer=c, values={born.key: d})
        babies[d] = c.pk
    # 28 February 2026 is the last day of its month: 31 Jan (1 month) and 28 Jan (1 month), and 28 Aug 2025 is not listed.
    ids, _key = entries.candidates(journey, journey.live_version.definition["trigger"], date(2026, 2, 28))
    assert set(ids) == {babies["2026-01-31"], babies["2026-01-28"]}
    ids, _key = entries.candidates(journey, journey.live_version.definition["trigger"], date(2027, 2, 28))
    assert set(ids) == {babies["2026-08-28"], babies["2026-08-29"]}  # six months after 28 and 29 August


class _clock:
    """Move the engine's and the customers' clock for a block."""

    def __init__(self, at):
        self.at = at

    def __enter__(self):
        self.patches = [(m, m.now) for m in (engine, subscribers, customer_services)]
        for m, _n in self.patches:
            m.now = lambda: self.at
        return self

    def __exit__(self, *exc):
        for m, n in self.patches:
            m.now = n


def test_exit_rules_end_walks_where_they_are(world):
    corp, actor, tags, staff = world
    definition = {
        "trigger": _tagged(tags, "新客"),
        "exits": [{"kind": "tag_added", "tag_ids": [tags["VIP"].pk]}, {"kind": "lost"}, {"kind": "order_paid"}],
        "steps": [{"key": "w", "kind": "wait", "days": 3, "next": "a"}, {"key": "a", "kind": "tag", "add": [tags["已回访"].pk]}],
    }
    journey = _live(actor, definition)
    tagged, gone, bought, stays = _customers(corp, staff, 4)
    for c in (tagged, gone, bought, stays):
        customer_tags_change(actor=actor, customer=c, add=[tags["新客"]])
    customer_tags_change(actor=actor, customer=tagged, add=[tags["VIP"]])
    follow = gone.follows.get()
    follow_end(follow=follow, by="customer")
    subscribers._contact_lost(ContactLost(corp=corp, follow=follow, by="customer", at=engine.now()))
    order_upsert(corp=corp, data=OrderIn(order_no="x1", paid_at=engine.now(), amount_fen=100, external_userid=bought.external_userid))
    _run(engine.now() + timedelta(days=4))
    reasons = dict(Enrollment.objects.filter(journey=journey).values_list("customer_id", "exit_reason"))
    assert reasons == {tagged.pk: "tag_added", gone.pk: "lost", bought.pk: "order_paid", stays.pk: ""}
    assert list(FollowTag.objects.filter(tag=tags["已回访"]).values_list("follow__customer_id", flat=True)) == [stays.pk]


def test_a_customers_reply_ends_a_wait_for_it_or_the_walk(world):
    """Siyu sees a reply where a guide answers with a quick reply, or notes a conversation."""
    corp, actor, tags, staff = world
    guide = f.actor(corp, role="guide", staff=staff)
    shelf = quick_replies.quick_reply_group_save(actor=actor, name="常用")
    answer = quick_replies.quick_reply_save(actor=actor, group_id=shelf.pk, title="冲调", text="七十度水冲调。")
    waits = _live(
        actor,
        {
            "trigger": _tagged(tags, "新客"),
            "steps": [
                {"key": "w", "kind": "wait_event", "event": "replied", "timeout_days": 2, "next": "yes", "timeout_next": "no"},
                {"key": "yes", "kind": "tag", "add": [tags["已回访"].pk]},
                {"key": "no", "kind": "wait", "days": 1},
            ],
        },
        name="等回复",
    )
    leaves = _live(
        actor,
        {"trigger": _tagged(tags, "新客"), "exits": [{"kind": "replied"}], "steps": [{"key": "w", "kind": "wait", "days": 3}]},
        name="回复即退出",
    )
    answered, noted, silent = _customers(corp, staff, 3)
    for c in (answered, noted, silent):
        customer_tags_change(actor=actor, customer=c, add=[tags["新客"]])
    quick_replies.quick_reply_sent(actor=guide, reply=answer, customer=answered)
    customer_services.customer_note_add(actor=guide, customer=noted, text="聊了冲调的问题")
    _run(engine.now() + timedelta(minutes=1))
    for c in (answered, noted):
        assert _outcomes(Enrollment.objects.get(journey=waits, customer=c)) == {"w": "event", "yes": "done"}
    assert _outcomes(Enrollment.objects.get(journey=waits, customer=silent)) == {}
    reasons = dict(Enrollment.objects.filter(journey=leaves).values_list("customer_id", "exit_reason"))
    assert reasons == {answered.pk: "replied", noted.pk: "replied", silent.pk: ""}
    _run(engine.now() + timedelta(days=2, minutes=2))
    assert _outcomes(Enrollment.objects.get(journey=waits, customer=silent)) == {"w": "timeout"}


def test_an_rfm_class_change_enrolls_the_customers_who_moved_into_the_class(world):
    corp, actor, tags, staff = world
    rfm_settings_save(actor=actor, method="fixed", recency_days=30, frequency=1, monetary_fen=50_000, window_days=None, strategies={})
    into_a = {"kind": "data", "rule": "rfm_changed", "to": ["A"], "time": "10:00"}
    journey = _live(actor, {"trigger": into_a, "steps": [{"key": "w", "kind": "wait", "days": 1}]})
    from_d = _live(actor, {"trigger": {**into_a, "from": ["D"]}, "steps": [{"key": "w", "kind": "wait", "days": 1}]}, name="从D到A")
    grew, was_a, small, newcomer = _customers(corp, staff, 4)
    paid = engine.now() - timedelta(days=1)

    def order(customer, no, fen, at=paid):
        order_upsert(corp=corp, data=OrderIn(order_no=no, paid_at=at, amount_fen=fen, external_userid=customer.external_userid))

    order(grew, "g1", 10_000)
    order(was_a, "a1", 50_000)
    order(was_a, "a2", 50_000)
    order(small, "s1", 10_000)
    day1 = engine.now()
    assert entries.pass_run(journey, into_a, day1) == 0  # the corp's first record is its baseline
    assert dict(CustomerRfmClass.objects.filter(corp=corp).values_list("customer_id", "letter")) == {grew.pk: "D", was_a.pk: "A", small.pk: "D"}
    order(grew, "g2", 60_000, at=engine.now())
    order(small, "s2", 1_000, at=engine.now())
    order(newcomer, "n1", 30_000, at=engine.now())
    order(newcomer, "n2", 30_000, at=engine.now())
    assert entries.pass_run(journey, into_a, day1) == 0  # the same day again: recorded already, the occasion enrolled
    day2 = day1 + timedelta(days=1)
    assert entries.pass_run(journey, into_a, day2) == 2
    assert set(Enrollment.objects.filter(journey=journey).values_list("customer_id", flat=True)) == {grew.pk, newcomer.pk}
    assert entries.pass_run(from_d, from_d.definition["trigger"], day2) == 1  # the day's record is read, not made again
    assert list(Enrollment.objects.filter(journey=from_d).values_list("customer_id", flat=True)) == [grew.pk]
    assert CustomerRfmClass.objects.get(customer=small).letter == "B"
    for no in ("n1", "n2"):
        refund_record(corp=corp, source="api", order_no=no, refund=RefundIn(refund_no=f"r{no}", amount_fen=30_000))
    rfm_classes_record(corp, (day2 + timedelta(days=1)).astimezone(CN).date())
    gone = CustomerRfmClass.objects.get(customer=newcomer)
    assert (gone.letter, gone.previous) == ("", "A")


def test_a_rehearsal_of_an_rfm_trigger_writes_no_record_and_enters_at_the_recent_rate(world):
    corp, actor, tags, staff = world
    customers = _customers(corp, staff, 40)
    today = engine.now().astimezone(CN).date()
    # 30 changes into A in the last 30 days, and changes that do not count (into B; 45 days ago).
    rows = [CustomerRfmClass(corp=corp, customer=c, letter="A", previous="D", changed_on=today - timedelta(days=i % 20)) for i, c in enumerate(customers[:30])]
    rows += [CustomerRfmClass(corp=corp, customer=c, letter="B", previous="D", changed_on=today) for c in customers[30:35]]
    rows += [CustomerRfmClass(corp=corp, customer=c, letter="A", previous="D", changed_on=today - timedelta(days=45)) for c in customers[35:]]
    CustomerRfmClass.objects.bulk_create(rows)
    trigger = {"kind": "data", "rule": "rfm_changed", "to": ["A"], "time": "10:00"}
    draft = services.journey_create(
        actor=actor, name="升A", definition={"trigger": trigger, "reentry": {"rule": "every"}, "steps": [{"key": "w", "kind": "wait", "days": 1}]}
    )
    report = rehearse(actor=actor, journey=draft, days=10)
    assert report.entered == 10  # 30 changes in 30 days: one a day
    assert not RfmSettings.objects.filter(corp=corp, classes_on__isnull=False).exists()  # read only: no day recorded


def test_an_rfm_trigger_names_its_classes(world):
    corp, actor, tags, staff = world
    trigger = {"kind": "data", "rule": "rfm_changed", "to": ["Z"]}
    draft = services.journey_create(actor=actor, name="RFM", definition={"trigger": trigger, "steps": [{"key": "w", "kind": "wait", "days": 1}]})
    assert [p["field"] for p in draft.problems] == ["trigger.to"]


def test_an_arrival_enrolls_only_on_journeys_still_live_when_the_engine_passes(world):
    corp, actor, tags, staff = world
    on_add = {"trigger": {"kind": "event", "event": "contact_added"}, "steps": [{"key": "w", "kind": "wait", "days": 1}]}
    stays, paused = _live(actor, on_add, "留下"), _live(actor, on_add, "暂停")
    (c,) = _customers(corp, staff, 1)
    subscribers._contacts_added(ContactsAdded(corp=corp, added=(NewFollow(c, c.follows.get(), True),), source=CALLBACK))
    assert sorted(int(i) for i in Arrival.objects.get().journey_ids.split(",")) == sorted([stays.pk, paused.pk])
    services.journey_pause(actor=actor, journey=paused)
    assert engine.arrivals_enter() == 1
    assert list(Enrollment.objects.values_list("journey_id", flat=True)) == [stays.pk] and not Arrival.objects.exists()


def test_a_lead_forms_visitor_and_a_customer_newly_in_a_segment_enter_at_once(world):
    corp, actor, tags, staff = world
    channel = channel_create(actor=actor, name="抖音", group="ads")
    code = live_code_save(actor=actor, channel=channel, name="留资码", mode="exact", members=[{"staff_id": staff.id}])
    form = LeadForm.objects.create(corp=corp, name="试用装", slug="trialform", live_code=code, fields=[])
    by_lead = _live(
        actor, {"trigger": {"kind": "event", "event": "lead_submitted", "form_ids": [form.pk]}, "steps": [{"key": "w", "kind": "wait", "days": 1}]}, "留资"
    )
    vip = Segment.objects.create(corp=corp, name="VIP", filters={"tags_any": [tags["VIP"].pk]})
    by_segment = _live(actor, {"trigger": {"kind": "segment", "segment_id": vip.pk}, "steps": [{"key": "w", "kind": "wait", "days": 1}]}, "VIP")
    lead_customer, walk_in = _customers(corp, staff, 2)
    for c, lead in ((lead_customer, Lead.objects.create(corp=corp, form=form, phone="13900000009", state="ld1")), (walk_in, None)):
        follow = c.follows.get()
        Acquisition.objects.create(
            corp=corp, follow=follow, customer=c, staff=staff, live_code=code, lead=lead, added_at=follow.added_at, day=follow.added_at.date()
        )
        subscribers._contacts_added(ContactsAdded(corp=corp, added=(NewFollow(c, follow, True),), source=CALLBACK))
        if lead is not None:  # WeCom delivers the add twice: one arrival more, the same occasion
            subscribers._contacts_added(ContactsAdded(corp=corp, added=(NewFollow(c, follow, False),), source=CALLBACK))
    assert Arrival.objects.count() == 2 and not Enrollment.objects.filter(journey=by_lead).exists()  # recorded in the callback…
    assert engine.arrivals_enter() == 1  # … enrolled by the engine's next pass, once
    assert not Arrival.objects.exists()
    assert list(Enrollment.objects.filter(journey=by_lead).values_list("customer_id", flat=True)) == [lead_customer.pk]
    customer_tags_change(actor=actor, customer=walk_in, add=[tags["VIP"]])
    customer_tags_change(actor=actor, customer=walk_in, remove=[tags["VIP"]])
    customer_tags_change(actor=actor, customer=walk_in, add=[tags["VIP"]])  # the same day: the same occasion
    assert list(Enrollment.objects.filter(journey=by_segment).values_list("customer_id", flat=True)) == [walk_in.pk]
