"""The client's remaining endpoints against the sandbox over real HTTP: contact ways, welcome
messages, remarks, join ways, mass sends, transfers, behaviour data, group statistics, moments.
Each checks what a caller relies on: shapes, limits, errcodes and the sandbox's resulting state."""

import inspect
import re
import time
import zlib
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from siyu.corps.services import corp_create
from siyu.sandbox import callbacks as wecom_sim
from siyu.sandbox import services as sandbox
from siyu.sandbox.models import SbContactWay, SbFollow, SbGroup, SbGroupMember, SbJoinWay, SbMoment, SbMsgSend, SbMsgTemplate, SbWelcomeCode, SbWelcomeSent
from siyu.sandbox.simulator import Simulator
from siyu.sandbox.views import ROUTES
from siyu.wecom import client as client_module
from siyu.wecom.client import WeComClient, WeComError

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(live_server):
    sb = sandbox.corp_create(corpid="wwendpoints01", name="接口企业", secret="s3cret")
    staff = [sandbox.staff_add(corp=sb, userid=f"guide{i}", name=f"导购{i}") for i in range(3)]
    corp = corp_create(corp_id="wwendpoints01", name="接口企业", secret="s3cret", api_base=f"{live_server.url}/sandbox/cgi-bin/")
    return sb, staff, WeComClient(corp, sleep=lambda s: None)


def errcode(call):
    with pytest.raises(WeComError) as caught:
        call()
    return caught.value.errcode


def test_contact_way_lifecycle(world):
    sb, staff, client = world
    way = client.add_contact_way(type=2, users=["guide0", "guide1"], state="store-01", remark="门店海报")
    assert set(way) == {"config_id", "qr_code"} and httpx.get(way["qr_code"]).status_code == 200
    got = client.get_contact_way(way["config_id"])
    assert (got["user"], got["state"], got["skip_verify"], got["type"]) == (["guide0", "guide1"], "store-01", True, 2)
    client.update_contact_way(way["config_id"], user=["guide2"], state="store-02")
    assert SbContactWay.objects.get().users == ["guide2"] and client.get_contact_way(way["config_id"])["state"] == "store-02"
    assert [w["config_id"] for page, _ in client.iter_contact_ways() for w in page] == [way["config_id"]]
    client.del_contact_way(way["config_id"])
    assert errcode(lambda: client.get_contact_way(way["config_id"])) == 41044
    # What WeCom refuses: a single way with two users, a state over 30, an unknown member.
    assert errcode(lambda: client.add_contact_way(type=1, users=["guide0", "guide1"])) == 40058
    assert errcode(lambda: client.add_contact_way(type=1, users=["guide0"], state="x" * 31)) == 40058
    assert errcode(lambda: client.add_contact_way(type=1, users=["nobody"])) == 60111
    assert "qr_code" not in client.add_contact_way(type=1, scene=1, users=["guide0"])


def test_welcome_code_works_once_within_20_seconds(world):
    sb, staff, client = world
    wecom_sim.customer_adds_staff(sb, staff[0], name="新客")
    code = SbWelcomeCode.objects.get()
    client.send_welcome_msg(code.code, text="欢迎！", attachments=[{"msgtype": "link", "link": {"title": "新人礼", "url": "https://example.com"}}])
    assert SbWelcomeSent.objects.get().text == "欢迎！"
    assert errcode(lambda: client.send_welcome_msg(code.code, text="again")) == 41051
    wecom_sim.customer_adds_staff(sb, staff[1], name="迟到")
    late = SbWelcomeCode.objects.order_by("-id").first()
    SbWelcomeCode.objects.filter(pk=late.pk).update(expires_at=late.expires_at - timedelta(seconds=21))
    assert errcode(lambda: client.send_welcome_msg(late.code, text="too late")) == 41051
    assert SbWelcomeSent.objects.count() == 1
    assert errcode(lambda: client.send_welcome_msg("unknown", text="x")) == 41051
    assert errcode(lambda: client.send_welcome_msg(code.code)) == 40058  # nothing to send


def test_remark(world):
    sb, staff, client = world
    follow = sandbox.customer_add(corp=sb, staff=staff[0], external_userid="wmR1", name="备注客户")
    client.remark(userid="guide0", external_userid="wmR1", remark="张姐", description="二胎", remark_mobiles=["13800000000"])
    follow.refresh_from_db()
    assert (follow.remark, follow.description, follow.remark_mobiles) == ("张姐", "二胎", ["13800000000"])
    assert errcode(lambda: client.remark(userid="guide1", external_userid="wmR1", remark="x")) == 84061


def test_join_ways_hold_at_most_five_groups(world):
    sb, staff, client = world
    groups = [sandbox.group_add(corp=sb, owner=staff[0], name=f"群{i}") for i in range(6)]
    ids = [g.chat_id for g in groups]
    config_id = client.add_join_way(chat_ids=ids[:5], state="group-code-1", room_base_name="宝妈群")
    way = client.get_join_way(config_id)
    assert (way["chat_id_list"], way["state"]) == (ids[:5], "group-code-1") and way["qr_code"]
    assert errcode(lambda: client.add_join_way(chat_ids=ids)) == 40058
    assert errcode(lambda: client.update_join_way(config_id, chat_id_list=ids)) == 40058
    client.update_join_way(config_id, chat_id_list=ids[1:])
    assert client.get_join_way(config_id)["chat_id_list"] == ids[1:]
    client.del_join_way(config_id)
    assert errcode(lambda: client.get_join_way(config_id)) == 41044


def test_mass_send_task_then_results_after_members_confirm(world):
    sb, staff, client = world
    group = sandbox.tag_group_add(corp=sb, name="等级", tags=["VIP"])
    vip = group.tags.get().tag_id
    for i in range(4):
        f = sandbox.customer_add(corp=sb, staff=staff[i % 2], external_userid=f"wmM{i}", name=f"客{i}")
        if i < 3:
            f.tag_ids = [vip]
            f.save()
    task = client.add_msg_template(external_userids=["wmM0", "wmM1", "wmM2", "wmGONE"], tag_filter=[[vip]], text="双十一")
    assert task["fail_list"] == ["wmGONE"]
    template = SbMsgTemplate.objects.get(msgid=task["msgid"])
    assert sorted(template.sends.values_list("external_userid", flat=True)) == ["wmM0", "wmM1", "wmM2"]
    assert {t["userid"]: t["status"] for t in client.groupmsg_tasks(task["msgid"])} == {"guide0": 0, "guide1": 0}
    SbFollow.objects.filter(customer__external_userid="wmM2").delete()  # deleted before guide0 confirmed
    assert sandbox.msg_template_confirm(template=template, userid="guide0") == {0: 0, 1: 1, 2: 1, 3: 0}
    results = {r["external_userid"]: r["status"] for page, _ in client.iter_groupmsg_send_result(task["msgid"], "guide0") for r in page}
    assert results == {"wmM0": 1, "wmM2": 2}
    listed = [m["msgid"] for page, _ in client.iter_groupmsg_list(start_time=int(time.time()) - 60, end_time=int(time.time()) + 60) for m in page]
    assert listed == [task["msgid"]]
    assert errcode(lambda: client.add_msg_template(chat_type="group", text="x")) == 40058  # a group send needs a sender


def test_a_senderless_send_goes_to_whoever_chatted_last_and_reminders_and_cancel_follow_wecoms_rules(world):
    sb, staff, client = world
    first = sandbox.customer_add(corp=sb, staff=staff[0], external_userid="wmL", name="两人都加", createtime=int(time.time()) - 3600)
    second = sandbox.customer_add(corp=sb, staff=staff[1], external_userid="wmL", name="两人都加", createtime=int(time.time()) - 7200)
    SbFollow.objects.filter(pk=second.pk).update(last_chat_at=int(time.time()) - 60)  # guide1 chatted after guide0's add
    task = client.add_msg_template(external_userids=["wmL"], text="活动")
    assert list(SbMsgTemplate.objects.get(msgid=task["msgid"]).sends.values_list("userid", flat=True)) == ["guide1"]
    assert first.pk != second.pk
    named = client.add_msg_template(external_userids=["wmL"], sender="guide0", text="活动")
    assert list(SbMsgTemplate.objects.get(msgid=named["msgid"]).sends.values_list("userid", flat=True)) == ["guide0"]
    for _n in range(3):
        client.remind_groupmsg_send(task["msgid"])
    assert errcode(lambda: client.remind_groupmsg_send(task["msgid"])) == 45009  # 3 in 24 hours
    client.cancel_groupmsg_send(task["msgid"])
    assert errcode(lambda: client.remind_groupmsg_send(task["msgid"])) == 40058
    assert sandbox.msg_template_confirm(template=SbMsgTemplate.objects.get(msgid=task["msgid"]), userid="guide1") == {0: 0, 1: 0, 2: 0, 3: 0}
    assert errcode(lambda: client.cancel_groupmsg_send("nope")) == 41063
    card = client.app_textcard(agentid=1000002, userids=["guide0", "ghost"], title="群发提醒", description="请发送", url="https://example.com/x")
    assert card["invaliduser"] == "ghost" and card["msgid"]
    assert errcode(lambda: client.app_textcard(agentid=1000002, userids=["ghost"], title="t", description="d", url="https://example.com")) == 81013


def test_transfer_twice_in_90_days_at_most(world):
    sb, staff, client = world
    sandbox.customer_add(corp=sb, staff=staff[0], external_userid="wmT", name="转接")
    assert client.transfer_customer(handover="guide0", takeover="guide1", external_userids=["wmT", "wmNONE"]) == [
        {"external_userid": "wmT", "errcode": 0},
        {"external_userid": "wmNONE", "errcode": 84061},
    ]
    assert [r["status"] for r in client.transfer_results(handover="guide0", takeover="guide1")] == [2]
    assert wecom_sim.transfers_complete(corp=sb) == 1
    assert SbFollow.objects.get(customer__external_userid="wmT").staff.userid == "guide1"
    assert client.transfer_results(handover="guide0", takeover="guide1")[0]["status"] == 1
    client.transfer_customer(handover="guide1", takeover="guide2", external_userids=["wmT"])
    wecom_sim.transfers_complete(corp=sb)
    assert client.transfer_customer(handover="guide2", takeover="guide0", external_userids=["wmT"])[0]["errcode"] == 40129
    with pytest.raises(ValueError):
        client.transfer_customer(handover="guide0", takeover="guide1", external_userids=[])


def test_resigned_members_customers_are_unassigned_until_handed_over(world):
    sb, staff, client = world
    for i in range(3):
        sandbox.customer_add(corp=sb, staff=staff[2], external_userid=f"wmU{i}", name=f"离职客户{i}")
    sandbox.staff_resign(staff=staff[2])
    pages = list(client.iter_unassigned(page_size=2))
    assert [len(p) for p, _ in pages] == [2, 1] and {r["handover_userid"] for p, _ in pages for r in p} == {"guide2"}
    answers = client.transfer_customer(handover="guide2", takeover="guide0", external_userids=["wmU0", "wmU1", "wmU2"], resigned=True)
    assert {a["errcode"] for a in answers} == {0}
    wecom_sim.transfers_complete(corp=sb)
    assert not [r for p, _ in client.iter_unassigned() for r in p]


def test_behaviour_data_and_group_statistics_follow_the_simulation(world):
    sb, staff, client = world
    done = Simulator(sb, seed=4).run(per_minute=0, steps=40)
    today = datetime.now(timezone(timedelta(hours=8))).replace(hour=0, minute=0, second=0, microsecond=0)
    rows = client.user_behavior_data(
        start_time=int((today - timedelta(days=2)).timestamp()), end_time=int(today.timestamp()), userids=[s.userid for s in staff]
    )
    assert len(rows) == 3 and [r["chat_cnt"] for r in rows[:2]] == [0, 0]
    assert (rows[-1]["new_contact_cnt"], rows[-1]["chat_cnt"]) == (done["scan"], done.get("chat", 0))
    assert all(0 <= r["reply_percentage"] <= 100 for r in rows)
    assert errcode(lambda: client.user_behavior_data(start_time=int(today.timestamp()), end_time=int(today.timestamp()))) == 40058
    assert (
        errcode(
            lambda: client.user_behavior_data(start_time=int((today - timedelta(days=40)).timestamp()), end_time=int(today.timestamp()), userids=["guide0"])
        )
        == 40058
    )
    group = sandbox.group_add(corp=sb, owner=staff[0], name="统计群")
    # Today is not over: WeCom counts days up to yesterday.
    assert errcode(lambda: client.groupchat_statistic(day_begin=int(today.timestamp()), owners=["guide0"])) == 600018
    yesterday = today - timedelta(days=1)
    sandbox.group_chat(group=group, userid="wmX1", messages=3, day=yesterday.date())
    sandbox.group_chat(group=group, userid="wmX2", messages=2, day=yesterday.date())
    stats = client.groupchat_statistic(day_begin=int(yesterday.timestamp()), owners=["guide0", "guide1"])
    by_owner = {i["owner"]: i["data"] for i in stats["items"]}

    assert stats["total"] == 2
    for owner in ("guide0", "guide1"):
        groups = SbGroup.objects.filter(corp=sb, owner__userid=owner, dismissed=False)
        assert by_owner[owner]["chat_total"] == groups.count() and by_owner[owner]["new_chat_cnt"] == 0  # made today, not yesterday
        assert by_owner[owner]["member_total"] == SbGroupMember.objects.filter(group__in=groups).count()
    assert by_owner["guide0"]["chat_total"] >= 1
    assert (by_owner["guide0"]["chat_has_msg"], by_owner["guide0"]["member_has_msg"], by_owner["guide0"]["msg_total"]) == (1, 2, 5)


def test_moments(world):
    sb, staff, client = world
    jobid = client.add_moment_task(text="新品上市", senders=["guide0", "ghost"])
    result = client.moment_task_result(jobid)
    assert result["status"] == 3 and result["result"]["invalid_sender_list"]["user_list"] == ["ghost"]
    now = int(time.time())
    moments = [m for page, _ in client.iter_moments(start_time=now - 60, end_time=now + 60) for m in page]
    assert [m["moment_id"] for m in moments] == [result["result"]["moment_id"]]
    assert errcode(lambda: client.iter_moments(start_time=now - 40 * 86400, end_time=now).__next__()) == 40058


def test_every_sandbox_endpoint_is_a_client_method(world):
    """No endpoint without a typed client method, no client method without an endpoint."""

    used = set(re.findall(r'"((?:externalcontact|department|user|media|message|auth|ticket)/[a-z0-9_/]+)"', inspect.getsource(client_module)))
    assert used == set(ROUTES), used ^ set(ROUTES)


def test_scanning_a_contact_way_hands_customers_out_in_turn_with_its_state(world):
    sb, staff, client = world
    multi = client.add_contact_way(type=2, users=["guide0", "guide2"], state="poster-9")
    way = SbContactWay.objects.get(config_id=multi["config_id"])
    follows = [wecom_sim.customer_scans_contact_way(way, name=f"扫码{i}")[0] for i in range(4)]
    assert [f.staff.userid for f in follows] == ["guide0", "guide2", "guide0", "guide2"]
    assert {f.state for f in follows} == {"poster-9"}
    temp = SbContactWay.objects.get(config_id=client.add_contact_way(type=1, users=["guide1"], is_temp=True)["config_id"])
    wecom_sim.customer_scans_contact_way(temp, name="一次性")
    with pytest.raises(wecom_sim.CodeRefused):
        wecom_sim.customer_scans_contact_way(temp, name="第二个人")


def test_a_full_group_sends_the_next_scan_to_the_next_group_or_a_new_one(world, monkeypatch):
    sb, staff, client = world
    monkeypatch.setattr(wecom_sim, "GROUP_QR_LIMIT", 3)  # owner + 2 customers
    first = sandbox.group_add(corp=sb, owner=staff[0], name="宝妈群1")
    config_id = client.add_join_way(chat_ids=[first.chat_id], state="gq-1", room_base_name="宝妈群", room_base_id=2)

    way = SbJoinWay.objects.get(config_id=config_id)
    people = [sandbox.customer_add(corp=sb, staff=staff[0], external_userid=f"wmJ{i}", name=f"入群{i}").customer for i in range(4)]
    for p in people:
        wecom_sim.customer_scans_join_way(way, p)
    groups = list(SbGroup.objects.filter(corp=sb).order_by("id"))
    assert [g.name for g in groups] == ["宝妈群1", "宝妈群2"]
    assert [g.members.count() for g in groups] == [3, 3]
    assert {m.state for m in groups[1].members.filter(type=2)} == {"gq-1"}
    assert client.get_join_way(config_id)["chat_id_list"] == [first.chat_id, groups[1].chat_id]
    client.update_join_way(config_id, auto_create_room=0)
    extra = sandbox.customer_add(corp=sb, staff=staff[0], external_userid="wmJX", name="满员").customer
    with pytest.raises(wecom_sim.CodeRefused):
        wecom_sim.customer_scans_join_way(way, extra)


def test_the_simulated_guides_send_their_mass_send_tasks_but_one_in_ten_never_does(world):
    sb, staff, client = world
    for i in range(30):
        sandbox.customer_add(corp=sb, staff=staff[i % 3], external_userid=f"wmSIM{i}", name=f"客{i}")
    for n in range(20):
        client.add_msg_template(external_userids=[f"wmSIM{i}" for i in range(30) if i % 10 == n % 10], text=f"活动{n}")
    simulator = Simulator(sb, seed=1)
    steps = 0
    while simulator._confirm_mass_send():
        steps += 1
    pairs = set(SbMsgSend.objects.values_list("template_id", "userid").distinct())
    never = {(t, u) for t, u in pairs if zlib.crc32(f"{t}:{u}".encode()) % 10 == 0}
    unsent = set(SbMsgSend.objects.filter(status=0).values_list("template_id", "userid").distinct())
    assert unsent == never and steps == len(pairs) - len(never)
    assert SbMsgSend.objects.filter(status=1).count() == SbMsgSend.objects.exclude(status=0).count()  # every confirmed customer got it


def test_the_simulated_guides_publish_moments_and_customers_react(world):
    sb, staff, client = world
    for i in range(6):
        sandbox.customer_add(corp=sb, staff=staff[i % 2], external_userid=f"wmMO{i}", name=f"客{i}")
    jobid = client.add_moment_task(text="新品", senders=["guide0", "guide1"])
    moment_id = client.moment_task_result(jobid)["result"]["moment_id"]
    simulator = Simulator(sb, seed=2)
    while simulator._publish_moment():
        pass
    published = {t["userid"] for t in client.moment_tasks(moment_id) if t["publish_status"] == 1}
    pk = SbMoment.objects.get(moment_id=moment_id).pk
    assert published == {u for u in ("guide0", "guide1") if zlib.crc32(f"m{pk}:{u}".encode()) % 10}  # one in ten never publishes
    for _n in range(4):
        simulator._react_to_moment()
    likes = sum(len(client.moment_comments(moment_id, u)["like_list"]) for u in published)
    reached = sum(len(page) for u in published for page, _c in client.iter_moment_send_result(moment_id, u))
    assert likes == min(4, reached) and reached == 3 * len(published)
