"""Group live codes against the in-process sandbox: the join way moves to the next group at the
limit, WeCom's auto-created group joins the pool, the pool running low raises an alert."""

import secrets
import time

import pytest

from siyu.groups import codes
from siyu.groups.models import CustomerGroup, GroupCode, GroupCodeGroup
from siyu.sandbox import callbacks as sb
from siyu.sandbox.models import SbCustomer, SbGroup, SbGroupMember, SbGroupWelcomeTemplate, SbJoinWay
from siyu.wecom.client import WeComClient

from .. import factories as f
from ..acquisition.conftest import hub  # noqa: F401 — the in-process WeCom
from ..conftest import ApiClient


def _groups(hub, n: int, name: str = "宝妈群"):
    """n sandbox groups, each created in WeCom (the owner only) and learned by Siyu from the callback."""
    made = []
    for i in range(n):
        group, _ = sb.group_created(hub.sb, hub.sb_staff[0], f"{name}{i + 1}")
        made.append(group)
    hub.handle_callbacks()
    return made, [CustomerGroup.objects.get(chat_id=g.chat_id) for g in made]


def _customer(hub) -> SbCustomer:
    return SbCustomer.objects.create(corp=hub.sb, external_userid="wm" + secrets.token_hex(14), name="扫码人")


def _scan(hub, way: SbJoinWay, n: int) -> list[str]:
    """n customers scan the code one after another; returns the chat each joined."""
    joined = []
    for _ in range(n):
        customer = _customer(hub)
        sb.customer_scans_join_way(way, customer)
        hub.handle_callbacks()
        joined.append(SbGroupMember.objects.get(userid=customer.external_userid).group.chat_id)
    return joined


@pytest.fixture
def api(hub):
    return ApiClient(f.token(hub.actor.user, hub.corp))


def test_the_code_moves_to_the_next_group_at_the_limit(hub, api, django_capture_on_commit_callbacks):
    sb_groups, groups = _groups(hub, 7)
    body = {"name": "新客群", "group_ids": [g.id for g in groups], "member_limit": 4, "welcome_text": "欢迎进群，回复“福利”领取新人礼"}
    with django_capture_on_commit_callbacks(execute=True):
        created = api.post("/api/v1/group-codes", body)
    assert created.status_code == 201, created.content
    code = GroupCode.objects.get()
    way = SbJoinWay.objects.get(config_id=code.config_id)
    # WeCom's join way holds five groups at most: the first five with room.
    assert way.chat_id_list == [g.chat_id for g in sb_groups[:5]] and way.state == code.state
    template_id = code.welcome.template_id
    assert SbGroupWelcomeTemplate.objects.get(template_id=template_id).text == body["welcome_text"]
    assert WeComClient(hub.corp).get_group_welcome_template(template_id)["text"]["content"] == body["welcome_text"]

    # The owner plus three customers make four: the first group is full and gives way.
    assert _scan(hub, way, 3) == [sb_groups[0].chat_id] * 3
    way.refresh_from_db()
    assert way.chat_id_list == [g.chat_id for g in sb_groups[1:6]]
    assert _scan(hub, way, 4) == [sb_groups[1].chat_id] * 3 + [sb_groups[2].chat_id]
    detail = api.get(f"/api/v1/group-codes/{code.id}").json()
    assert [p["member_count"] for p in detail["pool"][:3]] == [4, 4, 2] and [p["full"] for p in detail["pool"][:3]] == [True, True, False]
    assert detail["wecom_chat_ids"] == [g.chat_id for g in sb_groups[2:7]]


def test_auto_create_adds_wecoms_new_group_to_the_pool(hub, api, django_capture_on_commit_callbacks):
    sb_groups, groups = _groups(hub, 1, "闪购群")
    with django_capture_on_commit_callbacks(execute=True):
        api.post("/api/v1/group-codes", {"name": "闪购", "group_ids": [groups[0].id], "auto_create": True, "room_base_name": "闪购群", "room_base_id": 2})
    code = GroupCode.objects.get()
    way = SbJoinWay.objects.get(config_id=code.config_id)
    assert (way.auto_create_room, way.room_base_name, way.room_base_id) == (True, "闪购群", 2)
    # The group fills up to WeCom's 200 (199 customers beside the owner).
    stamp = int(time.time())
    fillers = SbCustomer.objects.bulk_create([SbCustomer(corp=hub.sb, external_userid=f"wmfill{i:05d}", name=f"满{i}") for i in range(199)])
    SbGroupMember.objects.bulk_create(
        [SbGroupMember(group=sb_groups[0], userid=c.external_userid, type=2, name=c.name, join_time=stamp, join_scene=3) for c in fillers]
    )
    sb.customers_join_group(sb_groups[0], [])
    hub.handle_callbacks()
    assert CustomerGroup.objects.get(pk=groups[0].pk).member_count == 200

    joined = _scan(hub, way, 2)
    new = SbGroup.objects.get(name="闪购群2")
    assert joined == [new.chat_id, new.chat_id]
    pool = list(GroupCodeGroup.objects.filter(group_code=code).select_related("group").order_by("order"))
    assert [p.group.chat_id for p in pool] == [sb_groups[0].chat_id, new.chat_id]
    code.refresh_from_db()
    way.refresh_from_db()
    assert code.pushed_chat_ids == [new.chat_id] == way.chat_id_list
    assert code.alert == ""  # auto-create keeps the pool from running out


def test_a_pool_running_low_raises_an_alert(hub, api, django_capture_on_commit_callbacks):
    sb_groups, groups = _groups(hub, 3)
    with django_capture_on_commit_callbacks(execute=True):
        api.post("/api/v1/group-codes", {"name": "城市群", "group_ids": [g.id for g in groups], "member_limit": 2, "low_pool_alert": 1})
    code = GroupCode.objects.get()
    way = SbJoinWay.objects.get(config_id=code.config_id)
    assert not code.alert
    _scan(hub, way, 1)
    code.refresh_from_db()
    assert code.alert == "" and code.pushed_chat_ids == [g.chat_id for g in sb_groups[1:]]
    _scan(hub, way, 1)
    code.refresh_from_db()
    assert code.alert.startswith("1 group(s) with room left of 3") and code.alert_at is not None
    assert api.get(f"/api/v1/group-codes/{code.id}").json()["alert"] == code.alert


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"group_ids": []}, 400, "empty_pool"),
        ({"group_ids": [999999]}, 400, "unknown_group"),
        ({"member_limit": 0}, 422, None),
        ({"auto_create": True, "room_base_name": ""}, 400, "invalid_input"),
        ("twice", 400, "duplicate_group"),
    ],
)
def test_bad_group_codes_are_refused(hub, api, change, status, code):
    _, groups = _groups(hub, 1)
    body = {"name": "x", "group_ids": [groups[0].id]}
    body.update({"group_ids": [groups[0].id, groups[0].id]} if change == "twice" else change)
    response = api.post("/api/v1/group-codes", body)
    assert response.status_code == status, response.content
    if code:
        assert response.json()["error"]["code"] == code
    assert not GroupCode.objects.exists()


def test_another_corps_groups_cannot_be_pooled(hub, api):
    other = f.corp("别家")
    theirs = CustomerGroup.objects.create(corp=other, chat_id="wrtheirs", name="别家群")
    response = api.post("/api/v1/group-codes", {"name": "x", "group_ids": [theirs.id]})
    assert response.status_code == 400 and response.json()["error"]["code"] == "unknown_group"
    assert codes.GroupCode.objects.count() == 0
