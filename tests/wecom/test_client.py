"""The WeCom client against the sandbox over real HTTP (live_server): tokens, faults, limits, cursors."""

import time
from datetime import datetime, timedelta

import httpx
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from siyu.corps.services import corp_create, corp_set_credentials
from siyu.sandbox import services as sandbox
from siyu.sandbox.models import SbCallLog
from siyu.wecom import client as client_module
from siyu.wecom.client import WeComClient, WeComError, WeComUnavailable, known_state_forget
from siyu.wecom.models import ApiState

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(live_server):
    sb = sandbox.corp_create(corpid="wwsandbox0001", name="沙箱企业", secret="sandbox-secret")
    staff = [sandbox.staff_add(corp=sb, userid=f"guide{i}", name=f"导购{i}") for i in range(3)]
    corp = corp_create(corp_id="wwsandbox0001", name="沙箱企业", secret="sandbox-secret", api_base=f"{live_server.url}/sandbox/cgi-bin/")
    return sb, staff, corp


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


def make_client(corp, **kw):
    sleeps = Sleeps()
    return WeComClient(corp, sleep=sleeps, **kw), sleeps


def calls(api):
    return list(SbCallLog.objects.filter(api=api).order_by("id").values_list("errcode", flat=True))


def test_token_is_fetched_once_and_shared_by_clients(world):
    _, _, corp = world
    first, _ = make_client(corp)
    second, _ = make_client(corp)
    assert first.get_follow_user_list() == ["guide0", "guide1", "guide2"]
    assert second.get_follow_user_list() == ["guide0", "guide1", "guide2"]
    assert calls("gettoken") == [0]
    assert ApiState.objects.get(corp=corp).token_encrypted  # stored encrypted, shared through the database


def test_a_replaced_secret_gets_its_own_token(world):
    sb, _, corp = world
    client, _ = make_client(corp)
    client.get_follow_user_list()
    sb.secret = "rotated-secret"
    sb.save()

    corp_set_credentials(corp=corp, secret="rotated-secret")
    make_client(corp)[0].get_follow_user_list()
    assert calls("gettoken") == [0, 0]  # not the old secret's token until it expires


def test_token_invalidated_mid_sync_is_refreshed_once(world):
    sb, _, corp = world
    client, _ = make_client(corp)
    client.get_follow_user_list()
    sandbox.tokens_revoke(corp=sb)
    assert client.get_follow_user_list() == ["guide0", "guide1", "guide2"]
    assert calls("externalcontact/get_follow_user_list") == [0, 40014, 0]
    assert calls("gettoken") == [0, 0]


def test_token_expired_is_refreshed_once(world):
    sb, _, corp = world
    client, _ = make_client(corp)
    client.get_follow_user_list()
    sandbox.tokens_expire(corp=sb)
    client.get_follow_user_list()
    assert calls("externalcontact/get_follow_user_list") == [0, 42001, 0]


def test_a_server_that_keeps_saying_expired_gets_one_retry_not_a_loop(world):
    sb, _, corp = world
    sandbox.fault_inject(corp=sb, api="externalcontact/get_follow_user_list", errcode=42001, times=50)
    client, _ = make_client(corp)
    with pytest.raises(WeComError) as exc:
        client.get_follow_user_list()
    assert exc.value.errcode == 42001
    assert calls("externalcontact/get_follow_user_list") == [42001, 42001]
    assert len(calls("gettoken")) == 2


def test_system_busy_is_retried_three_times_with_backoff(world):
    sb, _, corp = world
    sandbox.fault_inject(corp=sb, api="externalcontact/get_follow_user_list", errcode=-1, times=3)
    client, sleeps = make_client(corp)
    assert client.get_follow_user_list() == ["guide0", "guide1", "guide2"]
    assert sleeps == [0.2, 0.4, 0.8]
    sandbox.fault_inject(corp=sb, api="externalcontact/get_follow_user_list", errcode=-1, times=4)
    with pytest.raises(WeComUnavailable) as exc:
        client.get_follow_user_list()
    assert exc.value.errcode == -1
    assert calls("externalcontact/get_follow_user_list") == [-1, -1, -1, 0, -1, -1, -1, -1]


def test_rate_limit_storm_pauses_the_corp_and_completes(world):
    sb, _, corp = world
    sandbox.fault_inject(corp=sb, api="externalcontact/list", errcode=45009, times=4)
    client, sleeps = make_client(corp, rate_backoff=0.5)
    assert client.list_external_contacts("guide0") == []
    assert calls("externalcontact/list") == [45009, 45009, 45009, 45009, 0]
    # Each retry waited out the corp-wide pause it had just recorded, growing each time.
    assert len(sleeps) == 4 and all(b > a for a, b in zip(sleeps, sleeps[1:]))
    assert sleeps[0] <= 0.5 and sleeps[-1] <= 4.0
    assert ApiState.objects.get(corp=corp).paused_until is not None


def test_a_processs_clients_share_one_read_of_the_token_and_the_pause(world, monkeypatch):
    _, _, corp = world
    make_client(corp)[0].get_follow_user_list()  # the token is stored
    known_state_forget()  # as a process that has not called WeCom yet
    first, _ = make_client(corp)
    client, sleeps = make_client(corp)
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            assert first.get_follow_user_list() == ["guide0", "guide1", "guide2"]
            assert client.get_follow_user_list() == ["guide0", "guide1", "guide2"]
    assert sum("wecom_apistate" in q["sql"] for q in queries.captured_queries) == 1
    # A pause another process records is met once the client's read of it is stale (a second at
    # most; here at once): the client waits it out before its call.
    ApiState.objects.filter(corp=corp).update(paused_until=timezone.now() + timedelta(seconds=30))
    monkeypatch.setattr(client_module, "PAUSE_FRESH", 0.0)
    assert client.get_follow_user_list() == ["guide0", "guide1", "guide2"]
    assert len(sleeps) == 1 and 25 < sleeps[0] <= 30
    assert calls("gettoken") == [0]


def test_rate_limit_retries_are_bounded(world):
    sb, _, corp = world
    sandbox.fault_inject(corp=sb, api="externalcontact/list", errcode=45033, times=100)
    client, sleeps = make_client(corp, rate_retries=3, rate_backoff=0.01)
    with pytest.raises(WeComUnavailable) as exc:
        client.list_external_contacts("guide0")
    assert exc.value.errcode == 45033
    assert len(calls("externalcontact/list")) == 4


def test_sandbox_enforces_its_per_minute_limit(world, live_server):
    sb, _, corp = world
    sb.limit_per_minute = 3
    sb.save()
    client, _ = make_client(corp)
    token = client.access_token()
    # The windows are calendar minutes: five calls straddling one would see two windows.
    clock = datetime.now()
    second = clock.second + clock.microsecond / 1e6
    if second > 50:
        time.sleep(60.2 - second)
    answers = [
        httpx.get(f"{live_server.url}/sandbox/cgi-bin/externalcontact/get_follow_user_list", params={"access_token": token}).json()["errcode"] for _ in range(5)
    ]
    assert answers[:3] == [0, 0, 0] and answers[3:] == [45009, 45009]


def test_batch_get_by_user_walks_cursors(world):
    sb, staff, corp = world
    for i in range(250):
        sandbox.customer_add(corp=sb, staff=staff[i % 2], external_userid=f"wmSB{i:05d}", name=f"客户{i}", state="store")
    client, _ = make_client(corp)
    pages = list(client.iter_contacts_by_user(["guide0", "guide1"], limit=100))
    assert [len(items) for items, _ in pages] == [100, 100, 50]
    assert pages[-1][1] == ""
    ids = [item["external_contact"]["external_userid"] for items, _ in pages for item in items]
    assert len(ids) == len(set(ids)) == 250
    assert pages[0][0][0]["follow_info"]["state"] == "store"
    # Resuming from a page's cursor gives exactly the rest.
    rest = [i for items, _ in client.iter_contacts_by_user(["guide0", "guide1"], cursor=pages[0][1], limit=100) for i in items]
    assert len(rest) == 150


def test_get_external_contact_and_unknown_errcodes(world):
    sb, staff, corp = world
    sandbox.customer_add(corp=sb, staff=staff[0], external_userid="wmONE", name="王小丫")
    sandbox.customer_add(corp=sb, staff=staff[1], external_userid="wmONE", name="王小丫")
    client, _ = make_client(corp)
    contact = client.get_external_contact("wmONE")
    assert contact["external_contact"]["name"] == "王小丫"
    assert [f["userid"] for f in contact["follow_user"]] == ["guide0", "guide1"]
    with pytest.raises(WeComError) as exc:
        client.get_external_contact("wmNOBODY")
    assert exc.value.errcode == 84061 and "84061" in str(exc.value)


def test_wrong_secret_is_a_clear_error(world, live_server):
    corp = corp_create(corp_id="wwsandbox0001x", name="错", secret="nope", api_base=f"{live_server.url}/sandbox/cgi-bin/")
    client, _ = make_client(corp)
    with pytest.raises(WeComError) as exc:
        client.get_follow_user_list()
    assert exc.value.errcode == 40013  # unknown corpid


def test_unreachable_server_is_unavailable_after_bounded_retries(db):
    corp = corp_create(corp_id="wwdown", name="down", secret="s", api_base="http://127.0.0.1:9/cgi-bin/")
    client, sleeps = make_client(corp)
    with pytest.raises(WeComUnavailable) as exc:
        client.access_token()
    assert exc.value.errcode == -1
    assert sleeps == [0.2, 0.4, 0.8] and client.calls == 4


def test_gettoken_busy_is_retried(world):
    sb, _, corp = world
    sandbox.fault_inject(corp=sb, api="gettoken", errcode=-1, times=2)
    client, sleeps = make_client(corp)
    assert client.get_follow_user_list() == ["guide0", "guide1", "guide2"]
    assert calls("gettoken") == [-1, -1, 0] and sleeps == [0.2, 0.4]
