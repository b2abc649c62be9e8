"""Welcome messages over a real server and real workers: once per add, inside WeCom's window."""

import threading
import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from siyu.acquisition.models import WelcomeSend
from siyu.acquisition.services import welcome_message_set, welcome_send
from siyu.kit.tenancy import Actor, Role
from siyu.sandbox import callbacks as wecom_sim
from siyu.sandbox import services as sandbox
from siyu.sandbox.models import SbWelcomeCode, SbWelcomeSent
from siyu.wecom.models import CallbackEvent

from .. import factories as f
from ..wecom.conftest import Hub

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def hub(live_server):
    hub = Hub(live_server)
    actor = Actor(user=f.user(hub.corp, role=Role.ADMIN), corp=hub.corp, role=Role.ADMIN)
    welcome_message_set(actor=actor, text="欢迎来到我们的私域")
    return hub


def test_sent_once_when_delivered_three_times_and_two_workers_race(hub):
    _, entry = wecom_sim.customer_adds_staff(hub.sb, hub.staff[0], name="三次")
    for _ in range(2):
        assert wecom_sim.deliver(hub.sb, entry) == 200
    assert CallbackEvent.objects.get().deliveries == 3
    send = WelcomeSend.objects.get()
    outcomes, barrier = [], threading.Barrier(2)

    def work():
        barrier.wait()
        try:
            outcomes.append(welcome_send(send.pk))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["sent", "skipped"]
    hub.run_worker()  # the queued task finds it sent
    assert SbWelcomeSent.objects.count() == 1
    assert SbWelcomeSent.objects.get().text == "欢迎来到我们的私域"
    send.refresh_from_db()
    assert send.status == "sent" and send.sent_at is not None


def test_welcome_whose_code_expired_is_missed_not_sent(hub):
    # An add 25 s ago whose callback arrives only now (WeCom's retry after our outage).
    stale = int(time.time()) - 25
    follow = sandbox.customer_add(corp=hub.sb, staff=hub.staff[0], external_userid="wmLATE", name="迟到", createtime=stale)
    code = SbWelcomeCode.objects.create(corp=hub.sb, code="late-code-1", follow=follow, expires_at=timezone.now() - timedelta(seconds=5))
    wecom_sim.send(hub.sb, "change_external_contact", "add_external_contact", create_time=stale, UserID="guide0", ExternalUserID="wmLATE", WelcomeCode=code.code)
    hub.run_worker()
    late = WelcomeSend.objects.get(welcome_code=code.code)
    assert late.status == "missed" and "after the window" in late.error
    assert SbWelcomeSent.objects.count() == 0
    assert CallbackEvent.objects.get().status == "done"  # the customer still lands


def test_welcome_goes_ahead_of_a_callback_backlog(hub):
    for i in range(30):
        wecom_sim.customer_adds_staff(hub.sb, hub.staff[1], name=f"积压{i}")
    WelcomeSend.objects.update(status="none")  # the backlog's own welcomes are not the point here
    wecom_sim.customer_adds_staff(hub.sb, hub.staff[0], name="最后一位")
    call_command("worker", batch=True, requeue_after=3600)
    last = WelcomeSend.objects.get(status="sent")
    first_event_done = CallbackEvent.objects.order_by("handled_at").values_list("handled_at", flat=True).first()
    assert last.sent_at < first_event_done
