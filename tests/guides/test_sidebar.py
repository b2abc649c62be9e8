"""The chat sidebar through the real client against the sandbox: WeCom's OAuth2 signs the guide in
(a forged, replayed or foreign code, a wrong state and an expired session are refused and write
nothing), wx.agentConfig is signed with the app's ticket (fetched once, then shared), and the page
shows a guide only their own customer, records a send against the task and saves notes."""

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from siyu.customers.fields import custom_field_save
from siyu.customers.models import CustomerFieldValue, FollowTag
from siyu.guides.models import GuideTaskItem
from siyu.kit.clock import now
from siyu.kit.wecom_crypto import jsapi_signature
from siyu.sandbox.models import SbFollow, SbOAuthCode, SbTicket
from siyu.wecom import pages
from siyu.wecom.client import WeComClient, WeComError, WeComUnavailable
from siyu.wecom.models import ApiState

from .. import factories as f
from ..acquisition.conftest import hub  # noqa: F401 — the in-process WeCom
from .test_guide_tasks import _create, _work, shop  # noqa: F401 — the fixture


def _chat(client: Client, hub, userid: str, external_userid: str) -> None:
    """The guide opens a chat with the customer in the client and taps the sidebar."""
    url = f"/sidebar/{hub.corp.corp_id}/"
    response = client.get(f"/sandbox/chat/{hub.sb.corpid}/", {"userid": userid, "external_userid": external_userid, "url": url})
    assert response.status_code == 302 and response["Location"] == url


def _sign_in(client: Client, hub, userid: str = "guide0", external_userid: str = "wmA0") -> None:
    _chat(client, hub, userid, external_userid)
    to_wecom = client.get(f"/sidebar/{hub.corp.corp_id}/")
    assert to_wecom.status_code == 302
    authorize = urlsplit(to_wecom["Location"])
    query = {k: v[0] for k, v in parse_qs(authorize.query).items()}
    assert authorize.path == "/sandbox/connect/oauth2/authorize" and query["appid"] == hub.corp.corp_id and query["agentid"] == "1000002"
    back = client.get(authorize.path, query)
    assert back.status_code == 302 and "code=" in back["Location"]
    landed = client.get(back["Location"])
    assert landed.status_code == 302 and landed["Location"] == f"/sidebar/{hub.corp.corp_id}/"


@pytest.fixture
def send_task(hub, shop, django_capture_on_commit_callbacks):
    task = _create(hub, django_capture_on_commit_callbacks, kind="send", text="宝宝6个月辅食指南：从米粉开始", name="推送辅食指南")
    _work()
    return task


def test_a_guide_signs_in_through_wecom_and_sees_only_their_own_customer(hub, shop, send_task):
    client = Client()
    _sign_in(client, hub)
    page = client.get(f"/sidebar/{hub.corp.corp_id}/")
    assert page.status_code == 200 and "/sandbox/jssdk/jwxwork.js" in page.content.decode()
    mine = client.get(f"/sidebar/{hub.corp.corp_id}/customer", {"external_userid": "wmA0"}).content.decode()
    assert shop["a0"].name in mine and "推送辅食指南" in mine and "宝宝6个月辅食指南" in mine
    # guide1's customer: nothing of them.
    theirs = client.get(f"/sidebar/{hub.corp.corp_id}/customer", {"external_userid": "wmB0"})
    assert theirs.status_code == 404 and shop["b0"].name not in theirs.content.decode()


def test_forged_replayed_and_foreign_sign_ins_are_refused(hub, shop):
    client = Client()
    _chat(client, hub, "guide0", "wmA0")
    to_wecom = client.get(f"/sidebar/{hub.corp.corp_id}/")
    state = parse_qs(urlsplit(to_wecom["Location"]).query)["state"][0]
    oauth = f"/sidebar/{hub.corp.corp_id}/oauth/"
    forged = client.get(oauth, {"code": "made-up", "state": state})
    assert forged.status_code == 403 and "40029" in forged.content.decode()
    assert "siyu_sidebar" not in client.session
    # A real code with another page's state (a link someone was sent) is refused before WeCom is asked.
    client.get(f"/sidebar/{hub.corp.corp_id}/")
    SbOAuthCode.objects.create(corp=hub.sb, code="real-code", userid="guide0", expires_at=now() + timedelta(minutes=5))
    assert client.get(oauth, {"code": "real-code", "state": "not-this-page"}).status_code == 403
    assert not SbOAuthCode.objects.get(code="real-code").used
    # Used once, a code cannot be used again.
    _sign_in(client, hub)
    used = SbOAuthCode.objects.filter(used=True).latest("id")
    other = Client()
    other.get(f"/sidebar/{hub.corp.corp_id}/")
    replay_state = other.session["siyu_sidebar_state"]
    replayed = other.get(oauth, {"code": used.code, "state": replay_state})
    assert replayed.status_code == 403 and "siyu_sidebar" not in other.session
    # A member who is not staff in Siyu (left, or never synced) is refused.
    stranger = Client()
    stranger.get(f"/sidebar/{hub.corp.corp_id}/")
    SbOAuthCode.objects.create(corp=hub.sb, code="for-a-stranger", userid="nobody", expires_at=now() + timedelta(minutes=5))
    refused = stranger.get(oauth, {"code": "for-a-stranger", "state": stranger.session["siyu_sidebar_state"]})
    assert refused.status_code == 403 and "siyu_sidebar" not in stranger.session


def test_agent_config_is_signed_with_the_apps_ticket_fetched_once(hub, shop):
    client = Client()
    _sign_in(client, hub)
    url = f"http://testserver/sidebar/{hub.corp.corp_id}/"
    first = client.get(f"/sidebar/{hub.corp.corp_id}/config", {"url": url + "#frag"}).json()
    second = client.get(f"/sidebar/{hub.corp.corp_id}/config", {"url": url}).json()
    (ticket,) = SbTicket.objects.filter(corp=hub.sb, kind="agent_config")  # one ticket for both
    for cfg in (first, second):
        assert (cfg["corpid"], cfg["agentid"]) == (hub.corp.corp_id, hub.corp.agent_id)
        assert cfg["signature"] == jsapi_signature(ticket.ticket, cfg["nonceStr"], cfg["timestamp"], url)
    # The JS-SDK stand-in checks it as WeCom does: this page's signature, not another's.
    call = client.post(
        "/sandbox/jssdk/call",
        json.dumps({"api": "agentConfig", "args": second, "url": url}),
        content_type="application/json",
    ).json()
    assert call == {"errMsg": "agentConfig:ok"}
    wrong = client.post("/sandbox/jssdk/call", json.dumps({"api": "agentConfig", "args": second, "url": url + "other/"}), content_type="application/json")
    assert wrong.json()["errCode"] == 40093
    # Near its end, the next page fetches a new one.
    ApiState.objects.filter(corp=hub.corp).update(agent_ticket_expires_at=now() + timedelta(minutes=1))
    pages.agent_config(hub.corp, url)
    assert SbTicket.objects.filter(corp=hub.sb, kind="agent_config").count() == 2


def test_a_send_from_the_sidebar_completes_the_customer_and_a_note_is_saved(hub, shop, send_task, django_capture_on_commit_callbacks):
    client = Client()
    _sign_in(client, hub)
    sent = client.post(f"/sidebar/{hub.corp.corp_id}/sent", {"task_id": send_task.id, "external_userid": "wmA0"})
    assert sent.status_code == 200 and sent.json() == {"done": 1}
    assert GuideTaskItem.objects.get(task=send_task, customer=shop["a0"]).how == "sent"
    assert shop["a0"].timeline.get(kind="message_sent").data["via"] == "sidebar"
    again = client.post(f"/sidebar/{hub.corp.corp_id}/sent", {"task_id": send_task.id, "external_userid": "wmA0"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "nothing_open"
    empty = client.post(f"/sidebar/{hub.corp.corp_id}/note", {"external_userid": "wmA0", "text": " "})
    assert empty.status_code == 400 and 'id="note-error"' in empty.content.decode()
    saved = client.post(f"/sidebar/{hub.corp.corp_id}/note", {"external_userid": "wmA0", "text": "宝宝开始吃米粉了"})
    assert saved.status_code == 200 and 'id="note-saved"' in saved.content.decode() and "宝宝开始吃米粉了" in saved.content.decode()


def test_without_a_session_or_after_it_ends_nothing_is_written(hub, shop, send_task):
    stranger = Client()
    refused = stranger.post(f"/sidebar/{hub.corp.corp_id}/sent", {"task_id": send_task.id, "external_userid": "wmA0"})
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "sidebar_session"
    assert stranger.get(f"/sidebar/{hub.corp.corp_id}/config", {"url": "http://testserver/"}).status_code == 401
    client = Client()
    _sign_in(client, hub)
    session = client.session
    session["siyu_sidebar"] = {**session["siyu_sidebar"], "until": (now() - timedelta(seconds=1)).timestamp()}
    session.save()
    assert client.post(f"/sidebar/{hub.corp.corp_id}/sent", {"task_id": send_task.id, "external_userid": "wmA0"}).status_code == 401
    assert client.post(f"/sidebar/{hub.corp.corp_id}/note", {"external_userid": "wmA0", "text": "x"}).status_code == 401
    assert not GuideTaskItem.objects.filter(status="done").exists() and not shop["a0"].timeline.filter(kind__in=("note", "message_sent")).exists()


def test_wecoms_limits_on_codes_and_tickets_hold_in_the_sandbox(hub, shop):
    client = WeComClient(hub.corp, sleep=lambda s: None, rate_retries=0)
    SbOAuthCode.objects.create(corp=hub.sb, code="stale", userid="guide0", expires_at=now() - timedelta(seconds=1))
    with pytest.raises(WeComError) as refused:
        client.getuserinfo("stale")
    assert refused.value.errcode == 40029
    for _ in range(100):
        client.agent_ticket()
    with pytest.raises(WeComUnavailable) as limited:
        client.agent_ticket()  # the app's 101st ticket within the hour
    assert limited.value.errcode == 45009


def test_the_guide_edits_tags_and_fields_from_the_sidebar_and_wecom_gets_the_tags(hub, shop, django_capture_on_commit_callbacks):
    library = f.tag_group(hub.actor, "宝宝月龄", tags=["0-6月", "6-12月"])
    young, older = library.tags.order_by("id")
    custom_field_save(actor=hub.actor, name="宝宝生日", key="baby_birth_date", kind="date")
    custom_field_save(actor=hub.actor, name="奶粉段数", key="formula_stage", kind="choice", choices=["1段", "2段"])
    client = Client()
    _sign_in(client, hub)
    card = client.get(f"/sidebar/{hub.corp.corp_id}/customer", {"external_userid": "wmA0"}).content.decode()
    assert 'name="field_baby_birth_date"' in card and "6-12月" in card and 'id="profile-form"' in card

    profile = f"/sidebar/{hub.corp.corp_id}/profile"
    # A bad date: refused next to its field, what was typed kept, and the tag not added either.
    bad = client.post(profile, {"external_userid": "wmA0", "field_baby_birth_date": "去年", "field_formula_stage": "2段", "tags": [str(older.id)]})
    body = bad.content.decode()
    assert bad.status_code == 400 and 'id="field_baby_birth_date_error"' in body and 'value="去年"' in body
    assert not CustomerFieldValue.objects.exists() and not FollowTag.objects.filter(tag=older).exists()

    with django_capture_on_commit_callbacks(execute=True):
        saved = client.post(profile, {"external_userid": "wmA0", "field_baby_birth_date": "2026-03-18", "field_formula_stage": "2段", "tags": [str(older.id)]})
    assert saved.status_code == 200 and 'id="profile-saved"' in saved.content.decode()
    assert {v.field.key: v.text or str(v.date) for v in CustomerFieldValue.objects.filter(customer=shop["a0"])} == {
        "baby_birth_date": "2026-03-18",
        "formula_stage": "2段",
    }
    follow = shop["a0"].follows.get(staff=hub.staff[0])
    assert set(follow.follow_tags.values_list("tag_id", flat=True)) == {older.id}
    hub.handle_callbacks()  # the queued mark_tag reaches WeCom
    older.refresh_from_db()
    assert SbFollow.objects.get(customer__external_userid="wmA0", staff__userid="guide0").tag_ids == [older.wecom_tag_id]
    # Unchecking removes it; another guide's customer is not this guide's to edit.
    with django_capture_on_commit_callbacks(execute=True):
        client.post(profile, {"external_userid": "wmA0", "tags": [str(young.id)]})
    assert set(follow.follow_tags.values_list("tag_id", flat=True)) == {young.id}
    assert client.post(profile, {"external_userid": "wmB0", "field_formula_stage": "1段"}).status_code == 404
    assert not CustomerFieldValue.objects.filter(customer=shop["b0"]).exists()
