"""Asking for a sync: the console button, the API, the worker's schedule. One run per corp at a
time; a run left behind by a dead worker is resumed, not blocked on."""

from datetime import timedelta

import pytest
from django.test import Client

from siyu.customers.models import Customer
from siyu.kit.tenancy import Role
from siyu.sandbox import services as sandbox
from siyu.wecom.models import SyncRun
from siyu.wecom.sync import SyncBusy, full_sync, sync_request, syncs_due
from tests import factories as f
from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(hub):
    for i in range(30):
        sandbox.customer_add(corp=hub.sb, staff=hub.staff[i % 2], external_userid=f"wmQ{i:03d}", name=f"客户{i}")
    return hub, f.user(hub.corp, role=Role.ADMIN)


def test_a_queued_sync_runs_in_the_worker_and_blocks_a_second_request(world):
    hub, admin = world
    run = sync_request(corp=hub.corp, user=admin)
    assert run.status == "queued" and run.requested_by == admin
    with pytest.raises(SyncBusy):
        sync_request(corp=hub.corp)
    hub.run_worker()
    run.refresh_from_db()
    assert run.status == "done" and run.counts["customers_created"] == 30
    assert run.updated_at >= run.finished_at  # the heartbeat moved with the last save
    assert Customer.objects.count() == 30
    again = sync_request(corp=hub.corp)
    assert again.pk != run.pk


def test_a_run_abandoned_by_a_dead_worker_is_resumed(world, settings):
    hub, _ = world
    dead = SyncRun.objects.create(corp=hub.corp, status="running", phase="customers")
    with pytest.raises(SyncBusy):
        full_sync(corp=hub.corp)  # fresh: someone is on it
    settings.SIYU_SYNC_STALE_SECONDS = 0
    run = full_sync(corp=hub.corp)
    assert run.pk == dead.pk and run.status == "done"
    assert Customer.objects.count() == 30


def test_schedule_queues_corps_that_are_due_only(world, settings):
    hub, _ = world
    no_secret = f.corp("没有密钥")
    assert no_secret.secret_encrypted == ""
    assert syncs_due() == 1  # never synced
    assert syncs_due() == 0  # queued already
    hub.run_worker()
    assert syncs_due() == 0  # synced just now
    SyncRun.objects.filter(corp=hub.corp).update(finished_at=SyncRun.objects.get().finished_at - timedelta(hours=25))
    assert syncs_due() == 1
    settings.SIYU_SYNC_EVERY_HOURS = 0
    SyncRun.objects.filter(status="queued").delete()
    assert syncs_due() == 0


def test_console_button_and_progress(world):
    hub, _ = world
    owner = f.user(hub.corp, role=Role.OWNER)
    client = Client()
    client.force_login(owner)
    page = client.get("/sync/")
    assert page.status_code == 200 and "同步" in page.content.decode()
    assert client.post("/sync/start/").status_code == 302
    busy = client.get("/sync/", HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 2s"' in busy and "disabled" in busy and "<html" not in busy
    assert "已有同步" in client.post("/sync/start/", follow=True).content.decode()
    hub.run_worker()
    done = client.get("/sync/", HTTP_HX_REQUEST="true").content.decode()
    assert "every 2s" not in done and "新增客户 30" in done
    guide = f.user(hub.corp, role=Role.GUIDE, staff=f.staff(hub.corp))
    client.force_login(guide)
    assert client.get("/sync/").status_code == 403 and client.post("/sync/start/").status_code == 403


def test_api_sync(world):
    hub, _ = world
    owner = f.user(hub.corp, role=Role.OWNER)
    api = ApiClient(f.token(owner, hub.corp))
    started = api.post("/api/v1/wecom/sync")
    assert started.status_code == 202 and started.json()["status"] == "queued"
    refused = api.post("/api/v1/wecom/sync")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "sync_running"
    hub.run_worker()
    runs = api.get("/api/v1/wecom/sync-runs").json()
    assert runs[0]["status"] == "done" and runs[0]["counts"]["contacts_seen"] == 30
    operator = f.user(hub.corp, role=Role.OPERATOR)
    assert ApiClient(f.token(operator, hub.corp)).post("/api/v1/wecom/sync").status_code == 403


def test_api_sync_without_secret_names_the_problem(db):
    corp = f.corp("无密钥")
    owner = f.user(corp, role=Role.OWNER)
    response = ApiClient(f.token(owner, corp)).post("/api/v1/wecom/sync")
    assert response.status_code == 400 and response.json()["error"]["code"] == "no_secret"
    assert SyncRun.objects.count() == 0
