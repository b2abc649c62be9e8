"""Auto-tag rules: on adds and group joins through the sandbox, mirrored to WeCom; backfill with preview."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django_tasks_db.models import DBTaskResult

from siyu.acquisition import services as acquisition
from siyu.autotag import services
from siyu.autotag.models import TagRule
from siyu.customers.models import Follow, FollowTag, TimelineEvent
from siyu.groups.models import CustomerGroup
from siyu.sandbox import callbacks as sb
from siyu.sandbox import services as sandbox
from siyu.sandbox.models import SbContactWay, SbFollow
from siyu.tags.models import Tag
from siyu.wecom.outbound import follow_tags_push

from .. import factories as f
from ..acquisition.conftest import hub  # noqa: F401 — the in-process WeCom
from ..conftest import ApiClient


def push_tasks() -> list[str]:
    """Run the queued WeCom tag pushes, as the worker would."""
    done = []
    for task in DBTaskResult.objects.filter(status="READY", task_path__endswith="push_tags_to_wecom").order_by("id"):
        done.append(follow_tags_push(corp_pk=task.args_kwargs["args"][0], changes=task.args_kwargs["args"][1]))
        task.delete()
    return done


@pytest.fixture
def shop(hub):
    group = f.tag_group(hub.actor, "客户类型", ["门店新客", "线上新客", "社群用户", "待激活"])
    tags = {t.name: t for t in group.tags.all()}
    store = acquisition.channel_create(actor=hub.actor, name="门店", group="store")
    web = acquisition.channel_create(actor=hub.actor, name="官网", group="website")
    members = [{"staff_id": s.id} for s in hub.staff]
    codes = {}
    for channel in (store, web):
        code = acquisition.live_code_push(acquisition.live_code_save(actor=hub.actor, channel=channel, name=f"{channel.name}码", members=members).pk)
        codes[channel.name] = SbContactWay.objects.get(config_id=code.config_id)
    return {"tags": tags, "store": store, "web": web, "ways": codes}


def _scan(hub, way, n, name="客户"):
    follows = [sb.customer_scans_contact_way(way, name=f"{name}{i}")[0] for i in range(n)]
    hub.handle_callbacks()
    return follows


def _tags_of(sb_follow) -> set[str]:
    follow = Follow.objects.get(customer__external_userid=sb_follow.customer.external_userid, staff__userid=sb_follow.staff.userid)
    return set(follow.tags.values_list("name", flat=True))


def test_rule_tags_new_customers_of_a_channel_and_wecom_gets_the_tag(hub, shop):
    tags = shop["tags"]
    services.rule_save(
        actor=hub.actor, name="门店来的", conditions=[{"kind": "channel", "in": [shop["store"].id]}], add_tag_ids=[tags["门店新客"].id, tags["待激活"].id]
    )
    from_store = _scan(hub, shop["ways"]["门店"], 2, "门店客")
    from_web = _scan(hub, shop["ways"]["官网"], 1, "官网客")
    assert all(_tags_of(s) == {"门店新客", "待激活"} for s in from_store)
    assert _tags_of(from_web[0]) == set()
    assert push_tasks() == []  # the worker (handle_callbacks) pushed them already
    # WeCom has them too: the sandbox's follow carries the tags' WeCom ids.
    wecom_ids = {t.wecom_tag_id for t in Tag.objects.filter(name__in=["门店新客", "待激活"])}
    assert None not in wecom_ids  # the tags existed only in Siyu: the push created them in WeCom
    for s in from_store:
        s.refresh_from_db()
        assert set(s.tag_ids) == wecom_ids
    assert TimelineEvent.objects.filter(kind="tagged", data__by="rule: 门店来的").count() == 2
    # The next edit callback reads WeCom's tags back: the rule's tags stay.
    sb.staff_edits_customer(SbFollow.objects.get(pk=from_store[0].pk), remark="老客")
    hub.handle_callbacks()
    assert _tags_of(from_store[0]) == {"门店新客", "待激活"}


def test_joining_a_group_runs_group_rules_and_can_remove_tags(hub, shop):
    tags = shop["tags"]
    joiner, stayer = _scan(hub, shop["ways"]["门店"], 2)
    for s in (joiner, stayer):
        follow = Follow.objects.get(customer__external_userid=s.customer.external_userid)
        FollowTag.objects.create(corp=hub.corp, follow=follow, tag=tags["待激活"])
    group = sandbox.group_add(corp=hub.sb, owner=hub.sb_staff[0], name="宝妈群1")
    sb.customers_join_group(group, [])  # Siyu learns the group
    hub.handle_callbacks()
    siyu_group = CustomerGroup.objects.get(chat_id=group.chat_id)
    services.rule_save(
        actor=hub.actor,
        name="进群即激活",
        conditions=[{"kind": "group_joined", "in": [siyu_group.id]}],
        add_tag_ids=[tags["社群用户"].id],
        remove_tag_ids=[tags["待激活"].id],
    )
    sb.customers_join_group(group, [joiner.customer])
    hub.handle_callbacks()
    assert _tags_of(joiner) == {"社群用户"}
    assert _tags_of(stayer) == {"待激活"}
    joiner.refresh_from_db()
    assert set(joiner.tag_ids) == {Tag.objects.get(name="社群用户").wecom_tag_id} != {None}


def test_backfill_previews_then_tags_existing_customers_once(hub, shop, django_capture_on_commit_callbacks):
    tags = shop["tags"]
    _scan(hub, shop["ways"]["门店"], 5)
    _scan(hub, shop["ways"]["官网"], 3)
    api = ApiClient(f.token(hub.actor.user, hub.corp))
    rule = api.post(
        "/api/v1/tag-rules", {"name": "老门店客", "conditions": [{"kind": "channel", "in": [shop["store"].id]}], "add_tag_ids": [tags["门店新客"].id]}
    ).json()
    # Existing customers are untouched until a backfill: the preview says what it would do.
    assert api.get(f"/api/v1/tag-rules/{rule['id']}/preview").json() == {"matching": 5, "would_change": 5}
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/v1/tag-rules/{rule['id']}/backfill")
    assert response.status_code == 202 and response.json()["backfill_status"] == "queued"
    task = DBTaskResult.objects.get(task_path__endswith="backfill_rule")
    with django_capture_on_commit_callbacks(execute=True):
        assert services.rule_backfill(task.args_kwargs["args"][0]) == {"matching": 5, "changed": 5}
    assert FollowTag.objects.filter(tag=tags["门店新客"]).count() == 5
    assert push_tasks() == ["marked 5"]
    assert api.get(f"/api/v1/tag-rules/{rule['id']}").json()["backfill_counts"] == {"matching": 5, "changed": 5}
    assert api.get(f"/api/v1/tag-rules/{rule['id']}/preview").json() == {"matching": 5, "would_change": 0}
    assert services.rule_backfill(rule["id"]) == {"matching": 5, "changed": 0}


def test_time_conditions_use_the_corps_timezone(hub):
    tz = ZoneInfo("Asia/Shanghai")
    staff = hub.staff[0]
    for hour, day in ((9, 23), (19, 23), (21, 28), (23, 28)):  # 2026-11-23 is a Monday, the 28th a Saturday
        f.follow(f.customer(hub.corp), staff, added_at=datetime(2026, 11, day, hour, 30, tzinfo=tz))
    evening = TagRule.objects.create(corp=hub.corp, name="晚上加的", conditions=[{"kind": "added_hour", "from": 18, "to": 24}])
    weekend_evening = TagRule.objects.create(
        corp=hub.corp, name="周末晚上", match="all", conditions=[{"kind": "added_weekday", "in": [6, 7]}, {"kind": "added_hour", "from": 22, "to": 24}]
    )
    either = TagRule.objects.create(
        corp=hub.corp,
        name="或",
        match="any",
        conditions=[{"kind": "added_between", "from": "2026-11-23", "to": "2026-11-23"}, {"kind": "added_hour", "from": 23, "to": 24}],
    )
    assert services.rule_preview(evening)["matching"] == 3  # 19:30, 21:30 and 23:30 Shanghai; 23:30 is 15:30 UTC
    assert services.rule_preview(weekend_evening)["matching"] == 1
    assert services.rule_preview(either)["matching"] == 3


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"conditions": [{"kind": "weather", "in": [1]}]}, "bad_condition", "conditions.0.kind"),
        ({"conditions": [{"kind": "channel", "in": [999999]}]}, "unknown_id", "conditions.0.in"),
        ({"conditions": [{"kind": "channel", "in": []}]}, "bad_condition", "conditions.0.in"),
        ({"conditions": [{"kind": "added_hour", "from": 20, "to": 8}]}, "bad_condition", "conditions.0"),
        ({"conditions": [{"kind": "added_weekday", "in": [0, 8]}]}, "bad_condition", "conditions.0.in"),
        ({"conditions": [{"kind": "added_between", "from": "2026-12-01", "to": "2026-11-01"}]}, "bad_condition", "conditions.0"),
        ({"add_tag_ids": []}, "no_action", "add_tag_ids"),
        ({"remove_tag_ids": "same"}, "tag_conflict", "remove_tag_ids"),
    ],
)
def test_bad_rules_are_refused_naming_the_part(hub, shop, body, code, field):
    tag = shop["tags"]["门店新客"].id
    payload = {"name": "规则", "conditions": [{"kind": "staff", "in": [hub.staff[0].id]}], "add_tag_ids": [tag], **body}
    if payload.get("remove_tag_ids") == "same":
        payload["remove_tag_ids"] = [tag]
    response = ApiClient(f.token(hub.actor.user, hub.corp)).post("/api/v1/tag-rules", payload)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == code and response.json()["error"]["field"] == field
    assert not TagRule.objects.exists()


def test_another_corps_channel_cannot_be_named(hub, shop):
    other = f.corp("别家")
    theirs = acquisition.channel_create(actor=f.actor(other), name="别家门店", group="store")
    response = ApiClient(f.token(hub.actor.user, hub.corp)).post(
        "/api/v1/tag-rules",
        {"name": "x", "conditions": [{"kind": "channel", "in": [theirs.id]}], "add_tag_ids": [shop["tags"]["门店新客"].id]},
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "unknown_id"
