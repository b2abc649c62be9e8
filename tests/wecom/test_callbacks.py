"""Callbacks end to end: the sandbox sends real encrypted events to the live server; the worker
handles them. Retries, replays, out-of-order delivery and racing workers change nothing twice."""

import time
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from siyu.corps.services import corp_create
from siyu.customers.models import Customer, Follow, TimelineEvent
from siyu.kit.wecom_crypto import WXBizMsgCrypt, signature
from siyu.sandbox import callbacks as wecom_sim
from siyu.sandbox import services as sandbox
from siyu.sandbox.models import SbCallbackLog, SbTag
from siyu.tags.models import Tag
from siyu.wecom import callbacks as callbacks_module
from siyu.wecom.models import CallbackEvent
from siyu.wecom.services import callback_handle, callbacks_requeue_stale

from ..conftest import at_once

pytestmark = pytest.mark.django_db(transaction=True)


def counts():
    return (Customer.objects.count(), Follow.objects.count(), TimelineEvent.objects.filter(kind="added").count())


def test_add_becomes_customer_follow_and_timeline(hub):
    follow, entry = wecom_sim.customer_adds_staff(hub.sb, hub.staff[0], name="王小丫", state="store-01")
    assert entry.status_code == 200
    event = CallbackEvent.objects.get()
    assert (event.status, event.change_type) == ("received", "add_external_contact")
    hub.run_worker()
    event.refresh_from_db()
    assert event.status == "done", event.last_error
    customer = Customer.objects.get(external_userid=follow.customer.external_userid)
    assert customer.name == "王小丫" and customer.corp_id == hub.corp.id
    f = Follow.objects.get(customer=customer)
    assert (f.staff.userid, f.state, f.add_way) == ("guide0", "store-01", 1)
    assert counts() == (1, 1, 1)


def test_retried_and_replayed_callbacks_change_nothing_twice(hub):
    _, entry = wecom_sim.customer_adds_staff(hub.sb, hub.staff[0], name="重复")
    for _ in range(2):
        assert wecom_sim.deliver(hub.sb, entry) == 200
    event = CallbackEvent.objects.get()
    assert event.deliveries == 3
    hub.run_worker()
    assert wecom_sim.deliver(hub.sb, entry) == 200  # a replay after handling
    hub.run_worker()
    assert counts() == (1, 1, 1)
    assert CallbackEvent.objects.count() == 1


def test_edit_arriving_before_add(hub):
    now = int(time.time())
    follow = sandbox.customer_add(corp=hub.sb, staff=hub.staff[1], external_userid="wmEARLY", name="先编辑", createtime=now - 5, state="web")
    follow.remark = "VIP 张姐"
    follow.save()
    wecom_sim.send(hub.sb, "change_external_contact", "edit_external_contact", create_time=now, UserID="guide1", ExternalUserID="wmEARLY")
    wecom_sim.send(hub.sb, "change_external_contact", "add_external_contact", create_time=now - 5, UserID="guide1", ExternalUserID="wmEARLY", State="web")
    hub.run_worker()
    assert counts() == (1, 1, 1)
    assert Follow.objects.get().remark == "VIP 张姐"
    assert set(CallbackEvent.objects.values_list("status", flat=True)) == {"done"}


def test_two_workers_racing_on_one_event(hub):
    wecom_sim.customer_adds_staff(hub.sb, hub.staff[0], name="并发")
    event = CallbackEvent.objects.get()
    outcomes = []
    at_once(lambda: outcomes.append(callback_handle(event_id=event.pk)), 2)
    assert sorted(outcomes) == ["applied", "skipped"]
    assert counts() == (1, 1, 1)


def test_deletions_by_either_side(hub):
    by_staff, _ = wecom_sim.customer_adds_staff(hub.sb, hub.staff[0], name="被删")
    by_customer, _ = wecom_sim.customer_adds_staff(hub.sb, hub.staff[1], name="删人")
    hub.run_worker()
    wecom_sim.staff_deletes_customer(by_staff)
    wecom_sim.customer_deletes_staff(by_customer)
    hub.run_worker()
    deleted = {f.customer.name: (f.deleted_by_staff_at is not None, f.deleted_by_customer_at is not None) for f in Follow.objects.select_related("customer")}
    assert deleted == {"被删": (True, False), "删人": (False, True)}
    assert TimelineEvent.objects.filter(kind__in=["deleted_by_staff", "deleted_by_customer"]).count() == 2


def test_handler_failure_is_recorded_then_retried(hub):
    sandbox.fault_inject(corp=hub.sb, api="externalcontact/get", errcode=60011, times=1)
    wecom_sim.customer_adds_staff(hub.sb, hub.staff[0], name="重试")
    hub.run_worker()
    event = CallbackEvent.objects.get()
    assert event.status == "failed" and "60011" in event.last_error and event.attempts == 1
    assert counts() == (0, 0, 0)
    # The retry waits out its backoff in the queue (run_after); nothing else re-enqueues it.
    retry = DBTaskResult.objects.get(id=event.task_id, status="READY")
    assert event.due_at > timezone.now() and retry.run_after == event.due_at
    assert callbacks_requeue_stale(older_than=timedelta(0)) == 0
    # The backoff passes.
    CallbackEvent.objects.update(due_at=timezone.now())
    DBTaskResult.objects.filter(id=event.task_id).update(run_after=timezone.now())
    hub.run_worker()
    event.refresh_from_db()
    assert (event.status, event.attempts) == ("done", 2)
    assert counts() == (1, 1, 1)


def test_sweep_leaves_events_waiting_in_a_backlog_alone(hub):

    wecom_sim.customer_adds_staff(hub.sb, hub.staff[0], name="排队")
    event = CallbackEvent.objects.get()
    assert event.task_id and DBTaskResult.objects.filter(id=event.task_id, status="READY").exists()
    # Received long ago but its task is still queued behind others: no second task.
    assert callbacks_requeue_stale(older_than=timedelta(0)) == 0
    assert DBTaskResult.objects.filter(task_path__endswith="handle_callback_event").count() == 1
    # The task is gone (a crashed worker took it and died): now it is enqueued again, once.
    DBTaskResult.objects.filter(id=event.task_id).update(status="RUNNING")
    assert callbacks_requeue_stale(older_than=timedelta(0)) == 1
    assert callbacks_requeue_stale(older_than=timedelta(0)) == 0
    hub.run_worker()
    assert CallbackEvent.objects.get().status == "done" and counts() == (1, 1, 1)


def test_an_event_and_its_task_are_stored_together_or_not_at_all(hub, monkeypatch):
    """The task is queued in the transaction that stores the event: a callback that fails midway
    leaves neither, and WeCom's retry of the same request stores both, once."""

    def broken(_event):
        raise RuntimeError("a subscriber failed")

    monkeypatch.setattr(callbacks_module, "publish", broken)
    _, entry = wecom_sim.customer_adds_staff(hub.sb, hub.staff[0], name="重来")
    assert entry.status_code == 500
    tasks = DBTaskResult.objects.filter(task_path__endswith="handle_callback_event")
    assert not CallbackEvent.objects.exists() and not tasks.exists()
    monkeypatch.undo()
    assert wecom_sim.deliver(hub.sb, entry) == 200
    event = CallbackEvent.objects.get()
    assert [str(t) for t in tasks.values_list("id", flat=True)] == [event.task_id]
    hub.run_worker()
    assert CallbackEvent.objects.get().status == "done" and counts() == (1, 1, 1)


def test_unknown_events_are_kept_and_ignored(hub):
    # Address-book events (change_contact) are not Siyu's business yet.
    wecom_sim.send(hub.sb, "change_contact", "update_user", UserID="guide0")
    hub.run_worker()
    assert CallbackEvent.objects.get().status == "ignored"


def _post(live_server, corp_id, body, query):
    return httpx.post(f"{live_server.url}/wecom/callback/{corp_id}/", params=query, content=body.encode())


def test_bad_signature_is_403_and_stores_nothing(hub, live_server):
    crypt = WXBizMsgCrypt(hub.sb.callback_token, hub.sb.callback_aes_key, hub.sb.corpid)
    body, query = crypt.encrypt_message(wecom_sim.event_xml({"Event": "change_external_contact", "ChangeType": "add_external_contact", "CreateTime": 1}))
    response = _post(live_server, hub.sb.corpid, body, {**query, "msg_signature": "0" * 40})
    assert response.status_code == 403 and response.json()["error"]["code"] == "bad_signature"
    assert CallbackEvent.objects.count() == 0


def test_stale_timestamp_is_refused(hub, live_server):
    crypt = WXBizMsgCrypt(hub.sb.callback_token, hub.sb.callback_aes_key, hub.sb.corpid)
    body, query = crypt.encrypt_message(wecom_sim.event_xml({"Event": "x", "CreateTime": 1}), timestamp=str(int(time.time()) - 7200))
    response = _post(live_server, hub.sb.corpid, body, query)
    assert response.status_code == 400 and response.json()["error"]["code"] == "stale_callback"
    assert CallbackEvent.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    [
        '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><xml><Encrypt>&b;</Encrypt></xml>',
        '<?xml version="1.0"?><!DOCTYPE f [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><Encrypt>&x;</Encrypt></xml>',
        "<xml><Encrypt>truncated",
    ],
)
def test_xml_bombs_and_broken_bodies_are_refused(hub, live_server, body):
    ts, nonce = str(int(time.time())), "123"
    query = {"msg_signature": signature(hub.sb.callback_token, ts, nonce, "aaaa"), "timestamp": ts, "nonce": nonce}
    response = _post(live_server, hub.sb.corpid, body, query)
    assert response.status_code in (400, 403) and response.json()["error"]["code"] in ("bad_xml", "bad_signature")
    assert CallbackEvent.objects.count() == 0


def test_url_verification_answers_the_bare_plaintext(live_server, db):
    corp_create(corp_id="ww1436e0e65a779aee", name="官方样例", token="hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo", aes_key="6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt")
    response = httpx.get(
        f"{live_server.url}/wecom/callback/ww1436e0e65a779aee/",
        params={
            "msg_signature": "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb",
            "timestamp": "1476416373",
            "nonce": "47744683",
            "echostr": "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA==",
        },
    )
    assert response.status_code == 200 and response.content == b"1288432023552776189"
    assert httpx.get(f"{live_server.url}/wecom/callback/wwnobody/").status_code == 404


def test_sandbox_kept_every_callback_it_sent(hub):
    wecom_sim.customer_adds_staff(hub.sb, hub.staff[0], name="日志")
    assert list(SbCallbackLog.objects.values_list("change_type", "status_code")) == [("add_external_contact", 200)]


def test_tag_library_events_mirror_the_library(hub):
    group = sandbox.tag_group_add(corp=hub.sb, name="兴趣", tags=["奶粉", "辅食"])
    wecom_sim.tag_library_changes(hub.sb, "create", tag_id=group.group_id, tag_type="tag_group")
    hub.run_worker()
    assert sorted(Tag.objects.filter(deleted_at__isnull=True).values_list("name", flat=True)) == ["奶粉", "辅食"]
    milk = SbTag.objects.get(name="奶粉")
    milk.name = "奶粉段位"
    milk.save()
    wecom_sim.tag_library_changes(hub.sb, "update", tag_id=milk.tag_id)
    SbTag.objects.filter(name="辅食").update(deleted=True)
    wecom_sim.tag_library_changes(hub.sb, "delete", tag_id=SbTag.objects.get(name="辅食").tag_id)
    wecom_sim.tag_library_changes(hub.sb, "shuffle")
    hub.run_worker()
    assert list(Tag.objects.filter(deleted_at__isnull=True).values_list("name", flat=True)) == ["奶粉段位"]
    assert set(CallbackEvent.objects.values_list("status", flat=True)) == {"done"}
