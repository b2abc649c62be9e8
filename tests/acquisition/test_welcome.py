"""Welcome messages over a real server and real workers: once per add, inside WeCom's window."""

import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from siyu.kit.tenancy import Actor, Role
from siyu.messaging import services as messaging_services
from siyu.messaging.models import WelcomeSend
from siyu.messaging.services import welcome_message_set, welcome_send, welcomes_take_over
from siyu.sandbox import callbacks as wecom_sim
from siyu.sandbox import services as sandbox
from siyu.sandbox.models import SbWelcomeCode, SbWelcomeSent
from siyu.wecom.models import CallbackEvent

from .. import factories as f
from ..conftest import at_once
from ..wecom.conftest import Hub

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def hub(live_server, settings):
    # These tests are about the worker's path; the receiving process's own fast send has its own.
    settings.SIYU_WELCOME_THREADS = 0
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
    outcomes = []
    at_once(lambda: outcomes.append(welcome_send(send.pk)), 2)
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
    wecom_sim.send(
        hub.sb, "change_external_contact", "add_external_contact", create_time=stale, UserID="guide0", ExternalUserID="wmLATE", WelcomeCode=code.code
    )
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


@pytest.fixture
def fast_hub(live_server, settings):
    settings.SIYU_WELCOME_THREADS = 4
    hub = Hub(live_server, corpid="wwfastwelcome")
    welcome_message_set(actor=Actor(user=f.user(hub.corp, role=Role.ADMIN), corp=hub.corp, role=Role.ADMIN), text="{customer_name}，欢迎")
    return hub


def _wait_for(predicate, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_the_receiving_process_sends_at_once_with_no_worker_and_only_once(fast_hub):
    _, entry = wecom_sim.customer_adds_staff(fast_hub.sb, fast_hub.staff[0], name="快")
    assert _wait_for(lambda: WelcomeSend.objects.filter(status="sent").exists())
    for _ in range(2):
        assert wecom_sim.deliver(fast_hub.sb, entry) == 200
    assert CallbackEvent.objects.get().deliveries == 3
    assert welcomes_take_over(at=timezone.now() + timedelta(seconds=5)) == 0  # nothing left for the worker
    assert [s.text for s in SbWelcomeSent.objects.all()] == ["快，欢迎"]


def test_the_worker_takes_over_a_send_the_receiving_process_lost(fast_hub, monkeypatch):
    class Lost:
        def submit(self, *args):  # the process died right after the commit
            return None

    monkeypatch.setattr(messaging_services, "_welcome_pool", lambda: Lost())
    wecom_sim.customer_adds_staff(fast_hub.sb, fast_hub.staff[0], name="丢")
    wecom_sim.customer_adds_staff(fast_hub.sb, fast_hub.staff[1], name="晚")
    first, second = WelcomeSend.objects.order_by("id")
    assert {first.status, second.status} == {"pending"}
    # Within the grace the worker leaves them alone; after it, it sends; past the window, it records.
    assert welcomes_take_over(at=first.received_at + timedelta(seconds=1)) == 0
    WelcomeSend.objects.filter(pk=second.pk).update(deadline=timezone.now() - timedelta(seconds=1))
    assert welcomes_take_over(at=timezone.now() + timedelta(seconds=3)) == 2
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == ("sent", "missed")
    assert [s.text for s in SbWelcomeSent.objects.all()] == ["丢，欢迎"]
