"""Points tasks: reading an item (or any), sharing one a friend opens, joining a group and paying an
order each complete a live task once and pay its reward once; history from before the task's start
completes nothing; the customer's page shows what is done and where to go; the console and the API
set tasks up, and refuse one that makes no sense at the field."""

from datetime import datetime, timedelta
from types import SimpleNamespace
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.test import Client

from siyu.engagement import points_tasks
from siyu.engagement.models import Coupon, PointsAccount, PointsTask, TaskDone
from siyu.groups.events import GroupMemberJoined
from siyu.kit.clock import now
from siyu.kit.errors import InvalidInput
from siyu.kit.events import publish
from siyu.kit.tenancy import Role
from siyu.orders.services import OrderIn, order_upsert
from siyu.wecom.events import CALLBACK

from .. import factories as f
from ..acquisition.conftest import hub  # noqa: F401 — the in-process WeCom
from .test_coupons import coupons
from .test_reading import _article, _link, brand, open_in_wechat  # noqa: F401

CN = ZoneInfo("Asia/Shanghai")


def _available(customer) -> int:
    account = PointsAccount.objects.filter(customer=customer).first()
    return account.available if account else 0


def test_reading_and_sharing_complete_their_tasks_once(hub, brand):
    mom, friend = brand["a0"], brand["b0"]
    first, second = _article(hub), _article(hub, title="辅食添加时间表")
    coupon = coupons.template_save(actor=hub.actor, name="读完送券", kind="no_threshold", amount_fen=500, valid_days=7)
    read_first = points_tasks.task_save(actor=hub.actor, name="读《辅食第一口》", kind="read", item_id=first.pk, points=10, coupon_template_id=coupon.pk)
    read_any = points_tasks.task_save(actor=hub.actor, name="读任意一篇", kind="read", points=3)
    share = points_tasks.task_save(actor=hub.actor, name="分享给好友", kind="share", item_id=second.pk, points=20)
    phone = Client()
    open_in_wechat(phone, hub, _link(hub, first), external_userid="wmA0")
    phone.get(_link(hub, first))  # read again: nothing more
    assert set(TaskDone.objects.filter(customer=mom).values_list("task_id", flat=True)) == {read_first.pk, read_any.pk}
    assert _available(mom) == 13 and Coupon.objects.filter(customer=mom, source="task").count() == 1
    page = open_in_wechat(phone, hub, _link(hub, second), external_userid="wmA0")
    assert _available(mom) == 13  # the any-item task was done already
    shared = urlsplit(page.context["share_url"])
    open_in_wechat(Client(), hub, shared.path + "?" + shared.query, external_userid="wmB0")
    assert TaskDone.objects.filter(task=share, customer=mom).exists() and _available(mom) == 33
    assert not TaskDone.objects.filter(task=share, customer=friend).exists()
    tasks = phone.get(f"/h5/{hub.corp.corp_id}/tasks").content.decode()
    assert tasks.count("已完成") == 3 and "+10 积分" in tasks and "送 读完送券" in tasks
    fresh = Client()
    page = open_in_wechat(fresh, hub, f"/h5/{hub.corp.corp_id}/tasks", external_userid="wmB0").content.decode()
    assert f'id="task-{read_first.pk}" href="/h5/{hub.corp.corp_id}/c/' in page and "去阅读" in page


def test_an_order_and_a_group_join_complete_their_tasks_and_history_does_not(db):
    corp = f.corp("任务品牌")
    actor = f.actor(corp)
    order_task = points_tasks.task_save(actor=actor, name="下一单", kind="order", points=30, starts_at=now() - timedelta(days=1))
    join_task = points_tasks.task_save(actor=actor, name="进群", kind="join_group", points=15)
    mom = f.customer(corp, "妈妈", external_userid="wmT1")
    old = f.customer(corp, "老客", external_userid="wmT2")
    paid = datetime.now(CN)
    order_upsert(corp=corp, data=OrderIn(order_no="T1", paid_at=paid, amount_fen=9900, external_userid="wmT1"))
    order_upsert(corp=corp, data=OrderIn(order_no="T2", paid_at=paid - timedelta(days=30), amount_fen=9900, external_userid="wmT2"))  # imported history
    order_upsert(corp=corp, data=OrderIn(order_no="T3", paid_at=paid, amount_fen=100, external_userid="wmT1"))
    assert list(TaskDone.objects.filter(task=order_task).values_list("customer_id", flat=True)) == [mom.pk]
    assert _available(mom) == 30 and _available(old) == 0
    joined = GroupMemberJoined(corp=corp, group=SimpleNamespace(pk=5), member=SimpleNamespace(customer_id=mom.pk), source=CALLBACK)
    publish(joined)
    publish(joined)  # WeCom retried the callback
    assert TaskDone.objects.filter(task=join_task).count() == 1 and _available(mom) == 45
    points_tasks.task_set_active(actor=actor, task=join_task, active=False)
    publish(GroupMemberJoined(corp=corp, group=SimpleNamespace(pk=6), member=SimpleNamespace(customer_id=old.pk), source=CALLBACK))
    assert _available(old) == 0  # a switched-off task completes nothing


def test_tasks_that_make_no_sense_are_refused_and_the_console_and_api_set_them_up(db, api, corp):
    actor = f.actor(corp)
    for fields, code in (
        ({"name": "", "kind": "read", "points": 5}, "bad_name"),
        ({"name": "x", "kind": "dance", "points": 5}, "bad_kind"),
        ({"name": "x", "kind": "read"}, "no_reward"),
        ({"name": "x", "kind": "order", "points": 5, "item_id": 1}, "item_not_needed"),
        ({"name": "x", "kind": "read", "points": 5, "item_id": 999_999}, "no_such_item"),
    ):
        with pytest.raises(InvalidInput) as refused:
            points_tasks.task_save(actor=actor, **fields)
        assert refused.value.code == code
    client = Client()
    client.force_login(f.user(corp, role=Role.OPERATOR))
    bad = client.post("/points/", {"form": "task", "name": "读文章", "kind": "read", "points": "0"})
    assert bad.status_code == 400 and 'id="id_points_error"' in bad.content.decode()
    assert client.post("/points/", {"form": "task", "name": "读文章", "kind": "read", "points": "5"}).status_code == 302
    task = PointsTask.objects.get(corp=corp)
    assert "读文章" in client.get("/points/").content.decode()
    made = api.post("/api/v1/points-tasks", {"name": "下单", "kind": "order", "points": 50})
    assert made.status_code == 201 and made.json()["completed"] == 0
    off = api.post(f"/api/v1/points-tasks/{task.pk}/active?active=false")
    assert off.status_code == 200 and off.json()["active"] is False
    assert [(t["name"], t["active"]) for t in api.get("/api/v1/points-tasks").json()] == [("读文章", False), ("下单", True)]
