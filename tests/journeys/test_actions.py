"""A journey's actions through the real client against the sandbox: the customers a send step
reaches in a day become one mass send (one WeCom task per staff member, not one per customer), a
task step one guide task, a notice an app card to the customer's guide, and a webhook a signed
call to the brand's own server, retried until it answers and made once."""

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.test import TestCase

from siyu.customers.services import customer_tags_change
from siyu.groups.models import GroupCode
from siyu.guides.models import GuideTaskItem
from siyu.guides.services import guide_task_assign
from siyu.journeys import engine, services
from siyu.journeys.models import Bundle, Call, StepRun
from siyu.kit.clock import now
from siyu.messaging.models import MassSend, MassSendTask
from siyu.sandbox.models import SbAppMessage, SbMsgTemplate

from .. import factories as f
from ..acquisition.conftest import hub  # noqa: F401 — the in-process WeCom
from ..messaging.test_mass_sends import _customer
from ..messaging.test_mass_sends import _work as messaging_work


def _start(hub, steps, **extra):
    group = f.tag_group(hub.actor, "旅程", tags=["新客"])
    tag = group.tags.get()
    journey = services.journey_create(
        actor=hub.actor, name="新客关怀", definition={"trigger": {"kind": "event", "event": "tag_added", "tag_ids": [tag.pk]}, "steps": steps, **extra}
    )
    services.journey_activate(actor=hub.actor, journey=journey)
    return journey, tag


def _due_now(model, pks):
    model.objects.filter(pk__in=pks).update(due_at=now())


def test_a_days_sends_become_one_mass_send_with_one_task_per_staff_member(hub):
    hub.corp.agent_id = 1000002
    hub.corp.save()
    journey, tag = _start(
        hub,
        [
            {"key": "hi", "kind": "send", "text": "宝妈您好，新品试用装已备好", "at": "10:00", "next": "visit"},
            {"key": "visit", "kind": "task", "name": "一对一回访", "text": "", "hours": 24},
        ],
    )
    people = [_customer(hub, i % 2, f"wmJ{i}") for i in range(5)]
    with TestCase.captureOnCommitCallbacks(execute=True):
        for c in people:
            customer_tags_change(actor=hub.actor, customer=c, add=[tag])
    engine.run_due(at=now())
    assert StepRun.objects.filter(step="hi", outcome="queued").count() == 5
    bundles = list(Bundle.objects.filter(journey=journey).order_by("kind"))
    assert [b.kind for b in bundles] == ["send", "task"]
    _due_now(Bundle, [b.pk for b in bundles])
    with TestCase.captureOnCommitCallbacks(execute=True):
        outcomes = [engine.bundle_make(b.pk) for b in bundles]
        assert [engine.bundle_make(b.pk) for b in bundles] == ["skipped", "skipped"]  # made once
    assert outcomes[0].startswith("mass send") and outcomes[1].startswith("guide task")
    send = MassSend.objects.get()
    assert send.audience["kind"] == "list"
    messaging_work()
    tasks = dict(MassSendTask.objects.filter(send=send).values_list("staff_id", "recipients"))
    assert tasks == {hub.staff[0].pk: 3, hub.staff[1].pk: 2}
    assert SbMsgTemplate.objects.count() == 2  # two staff members, two tasks in WeCom
    bundle_task = Bundle.objects.get(kind="task").guide_task
    guide_task_assign(bundle_task.pk)
    assert GuideTaskItem.objects.filter(task=bundle_task).count() == 5


class _Brand(BaseHTTPRequestHandler):
    received: list = []
    failures = 1

    def do_POST(self):  # noqa: N802 — http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if _Brand.failures:
            _Brand.failures -= 1
            self.send_response(503)
            self.end_headers()
            return
        _Brand.received.append((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def brand():
    server = HTTPServer(("127.0.0.1", 0), _Brand)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Brand.received, _Brand.failures = [], 1
    yield f"http://127.0.0.1:{server.server_port}/siyu"
    server.shutdown()


def test_a_webhook_is_signed_retried_until_answered_and_made_once_and_a_notice_reaches_the_guide(hub, brand):
    hub.corp.agent_id = 1000002
    hub.corp.save()
    journey, tag = _start(
        hub, [{"key": "crm", "kind": "webhook", "url": brand, "next": "tell"}, {"key": "tell", "kind": "notify", "text": "新客进入旅程，请尽快回访"}]
    )
    c = _customer(hub, 1, "wmHOOK", name="王女士")
    with TestCase.captureOnCommitCallbacks(execute=True):
        customer_tags_change(actor=hub.actor, customer=c, add=[tag])
    engine.run_due(at=now())
    hook, notice = Call.objects.get(kind="webhook"), Call.objects.get(kind="notify")
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert engine.call_make(hook.pk) == "failed"  # the brand's server answered 503
    hook.refresh_from_db()
    assert hook.status == "failed" and hook.due_at > now()
    _due_now(Call, [hook.pk])
    assert engine.call_make(hook.pk) == "called"
    assert engine.call_make(hook.pk) == "skipped"
    ((headers, body),) = _Brand.received
    journey.refresh_from_db()
    assert headers["X-Siyu-Signature"] == "sha256=" + hmac.new(journey.secret.encode(), body, hashlib.sha256).hexdigest()
    sent = json.loads(body)
    assert sent["customer"]["external_userid"] == "wmHOOK" and sent["step"] == "crm" and sent["id"] == hook.pk
    assert engine.call_make(notice.pk) == "sent"
    card = SbAppMessage.objects.get()
    assert card.touser == hub.sb_staff[1].userid and "王女士" in json.dumps(card.content, ensure_ascii=False)


def test_an_invitation_to_a_group_goes_out_with_the_group_codes_qr(hub):
    code = GroupCode.objects.create(corp=hub.corp, name="同城宝妈群码", state="gcjourney", qr_url="https://wework.example/qr/gc1.png")
    journey, tag = _start(hub, [{"key": "invite", "kind": "invite_group", "group_code_id": code.pk, "text": "扫码进同城群", "at": "10:00"}])
    c = _customer(hub, 0, "wmINV")
    customer_tags_change(actor=hub.actor, customer=c, add=[tag])
    engine.run_due(at=now())
    bundle = Bundle.objects.get(journey=journey)
    _due_now(Bundle, [bundle.pk])
    assert engine.bundle_make(bundle.pk).startswith("mass send")
    send = MassSend.objects.get()
    assert send.text == "扫码进同城群" and send.attachments == [{"msgtype": "image", "image": {"pic_url": code.qr_url}}]
    code.delete()
    services.journey_check(actor=hub.actor, journey=journey)
    assert {p["code"] for p in journey.problems} == {"unknown_group_code"}
