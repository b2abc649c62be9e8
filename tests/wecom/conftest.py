import base64
import secrets

import pytest
from django.core.management import call_command

from siyu.corps.services import corp_create
from siyu.sandbox import services as sandbox


def new_aes_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")


class Hub:
    """A sandbox WeCom corp and the Siyu corp registered against it, over the live server."""

    def __init__(self, live_server, corpid="wwcallback0001"):
        aes, token = new_aes_key(), secrets.token_hex(16)
        self.sb = sandbox.corp_create(
            corpid=corpid,
            name="回调企业",
            secret="cb-secret",
            callback_token=token,
            callback_aes_key=aes,
            callback_url=f"{live_server.url}/wecom/callback/{corpid}/",
        )
        self.corp = corp_create(corp_id=corpid, name="回调企业", secret="cb-secret", token=token, aes_key=aes, api_base=f"{live_server.url}/sandbox/cgi-bin/")
        self.staff = [sandbox.staff_add(corp=self.sb, userid=f"guide{i}", name=f"导购{i}") for i in range(2)]

    @staticmethod
    def run_worker():
        call_command("worker", batch=True, requeue_after=3600)


@pytest.fixture
def hub(live_server):
    return Hub(live_server)
