"""An in-process WeCom: the sandbox and Siyu in one Django, httpx talking to both over WSGI.

Everything goes through the real client, the real sandbox endpoints and the real callback view
(encrypted XML and all), but without a server or threads, so thousands of scans stay fast and
the test's own transaction holds every row.
"""

import base64
import secrets

import httpx
import pytest
from django.test import TestCase
from django.utils.module_loading import import_string
from django_tasks_db.models import DBTaskResult

from siyu.acquisition.services import live_code_push
from siyu.corps.services import corp_create, staff_upsert
from siyu.kit import http as http_module
from siyu.kit.http import in_process_app
from siyu.kit.tenancy import Actor, Role
from siyu.messaging.models import WelcomeSend
from siyu.messaging.services import welcome_send
from siyu.sandbox import services as sandbox
from siyu.sandbox.callbacks import deliver
from siyu.sandbox.models import SbCallbackLog
from siyu.wecom.models import CallbackEvent
from siyu.wecom.services import callback_handle

from .. import factories as f

BASE = "http://testserver"


class InProcessHub:
    def __init__(self, corpid: str = "wwacq0001", staff: int = 3):
        aes = base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")
        token = secrets.token_hex(16)
        self.sb = sandbox.corp_create(
            corpid=corpid, name="渠道测试", secret="acq-secret", callback_token=token, callback_aes_key=aes, callback_url=f"{BASE}/wecom/callback/{corpid}/"
        )
        self.corp = corp_create(corp_id=corpid, name="渠道测试", secret="acq-secret", token=token, aes_key=aes, api_base=f"{BASE}/sandbox/cgi-bin/")
        self.sb_staff, self.staff = [], []
        for i in range(staff):
            self.add_staff(f"guide{i}", f"导购{i}")
        self.at = None  # the time refreshes run at (None: now)
        self.actor = Actor(user=f.user(self.corp, role=Role.ADMIN), corp=self.corp, role=Role.ADMIN)

    def add_staff(self, userid: str, name: str):
        self.sb_staff.append(sandbox.staff_add(corp=self.sb, userid=userid, name=name))
        self.staff.append(staff_upsert(corp=self.corp, userid=userid, name=name))
        return self.staff[-1]

    def handle_callbacks(self) -> list[str]:
        """What the worker does with the inbox, in its order: welcomes, then events, then the
        live-code refreshes the events queued (after their commit, as in production)."""
        outcomes = [welcome_send(pk) for pk in WelcomeSend.objects.filter(corp=self.corp, status="pending").order_by("id").values_list("pk", flat=True)]
        for pk in CallbackEvent.objects.filter(corp=self.corp, status="received").order_by("id").values_list("pk", flat=True):
            with TestCase.captureOnCommitCallbacks(execute=True):
                outcomes.append(callback_handle(event_id=pk))
        for task in DBTaskResult.objects.filter(status="READY", task_path__endswith="refresh_live_code").order_by("id"):
            live_code_push(task.args_kwargs["args"][0], at=self.at)
            task.delete()
        # The other follow-up work events queue (group code refreshes, tag pushes), in order.
        for task in (
            DBTaskResult.objects.filter(status="READY")
            .exclude(task_path__endswith="handle_callback_event")
            .exclude(task_path__endswith="send_welcome")
            .order_by("id")
        ):
            with TestCase.captureOnCommitCallbacks(execute=True):
                outcomes.append(import_string(task.task_path).call(*task.args_kwargs["args"], **task.args_kwargs["kwargs"]))
            task.delete()
        return outcomes

    def redeliver(self, entry: SbCallbackLog) -> int | None:
        return deliver(self.sb, entry)


@pytest.fixture
def hub(db, monkeypatch):
    http = httpx.Client(transport=httpx.WSGITransport(app=in_process_app()), base_url=BASE)
    monkeypatch.setattr(http_module, "_shared", http)
    try:
        yield InProcessHub()
    finally:
        http.close()
