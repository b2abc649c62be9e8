"""Lead forms: a phone and answers on a mobile page, routed by city to a store's guide; the add
that follows carries the lead's own state, so the answers land on the right customer."""

import contextlib
import html
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connections
from django.test import Client

from siyu.acquisition import leads, services
from siyu.acquisition.models import Acquisition, Lead, LiveCodeDay, LiveCodeHold
from siyu.autotag.services import rule_save
from siyu.corps.models import Corp
from siyu.customers.fields import custom_field_save
from siyu.customers.models import CustomerFieldValue, Follow
from siyu.kit import http as http_module
from siyu.sandbox import callbacks as sb
from siyu.sandbox.models import SbContactWay, SbWelcomeSent

from .. import factories as f
from ..conftest import ApiClient


@pytest.fixture
def form(hub):
    channel = services.channel_create(actor=hub.actor, name="小红书", group="content")
    group = f.tag_group(hub.actor, "留资", ["孕妈", "小红书留资"])
    tags = {t.name: t for t in group.tags.all()}
    online = services.live_code_save(
        actor=hub.actor, channel=channel, name="线上顾问", mode="exact", members=[{"staff_id": hub.staff[0].id}], tag_ids=[tags["小红书留资"].id]
    )
    shanghai = services.live_code_save(
        actor=hub.actor,
        channel=channel,
        name="上海门店",
        mode="exact",
        members=[{"staff_id": hub.staff[1].id}],
        tag_ids=[tags["小红书留资"].id],
        welcome={"text": "{customer_name}您好，我是上海门店的{staff_name}"},
    )
    for code in (online, shanghai):
        services.live_code_push(code.pk)  # what the save's commit does: the code's tags go to WeCom
    api = ApiClient(f.token(hub.actor.user, hub.corp))
    body = {
        "name": "孕妈礼包",
        "live_code_id": online.id,
        "title": "领取孕妈礼包",
        "city_routes": {"上海": shanghai.id},
        "fields": [
            {"key": "phone", "type": "phone", "label": "手机号"},
            {"key": "city", "type": "city", "label": "城市", "required": True, "options": ["上海", "北京"]},
            {"key": "baby_age", "type": "select", "label": "宝宝月龄", "options": ["孕期", "0-6月", "6-12月"], "required": True},
        ],
    }
    created = api.post("/api/v1/lead-forms", body)
    assert created.status_code == 201, created.content
    return {"form": created.json(), "tags": tags, "online": online, "shanghai": shanghai, "api": api}


def _page(form) -> str:
    return "/f/" + form["url"].rsplit("/f/", 1)[1]


def test_a_lead_routed_by_city_lands_on_the_customer_who_adds(hub, form):
    rule_save(
        actor=hub.actor, name="孕期打标", conditions=[{"kind": "lead_answer", "field": "baby_age", "in": ["孕期"]}], add_tag_ids=[form["tags"]["孕妈"].id]
    )
    phone = Client()
    # The ad's link carries its campaign; the form keeps it through the submission.
    page = phone.get(_page(form["form"]) + "?utm_campaign=wx-moments-1125").content.decode()
    assert "领取孕妈礼包" in page and 'value="wx-moments-1125"' in page
    response = phone.post(
        _page(form["form"]), {"phone": "+86 138-1234-5678", "city": "上海", "baby_age": "孕期", "campaign": "wx-moments-1125"}, REMOTE_ADDR="10.1.2.3"
    )
    assert response.status_code == 200, response.content.decode()[:500]
    lead = Lead.objects.get()
    assert (lead.phone, lead.city, lead.staff_id, lead.live_code_id) == ("13812345678", "上海", hub.staff[1].id, form["shanghai"].id)
    way = SbContactWay.objects.get(config_id=lead.config_id)
    assert way.is_temp and way.state == lead.state and way.users == ["guide1"]
    assert 'id="lead-qr"' in response.content.decode() and way.config_id in response.content.decode()

    sb.customer_scans_contact_way(way, name="李妈妈")
    hub.handle_callbacks()
    follow = Follow.objects.get(customer__name="李妈妈")
    lead.refresh_from_db()
    assert lead.customer_id == follow.customer_id and lead.matched_at is not None
    assert list(follow.customer.phones.values_list("phone", flat=True)) == ["13812345678"]
    acq = Acquisition.objects.get(follow=follow)
    assert (acq.lead_id, acq.live_code_id, acq.channel.name, acq.campaign_id) == (lead.id, form["shanghai"].id, "小红书", "wx-moments-1125")
    assert set(follow.tags.values_list("name", flat=True)) == {"小红书留资", "孕妈"}
    assert SbWelcomeSent.objects.get().text == "李妈妈您好，我是上海门店的导购1"
    listed = form["api"].get(f"/api/v1/lead-forms/{form['form']['id']}/leads").json()["items"]
    assert listed[0]["answers"] == {"phone": "13812345678", "city": "上海", "baby_age": "孕期"} and listed[0]["customer_id"] == follow.customer_id


def test_other_cities_go_to_the_default_code_and_the_same_phone_gets_its_lead_back(hub, form):
    phone = Client()
    data = {"phone": "13912345678", "city": "北京", "baby_age": "0-6月"}
    assert phone.post(_page(form["form"]), data).status_code == 200
    assert phone.post(_page(form["form"]), data).status_code == 200
    lead = Lead.objects.get()
    assert lead.live_code_id == form["online"].id and lead.staff_id == hub.staff[0].id
    assert SbContactWay.objects.filter(is_temp=True).count() == 1


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"phone": "12345", "city": "上海", "baby_age": "孕期"}, "bad_phone"),
        ({"phone": "+1 415 555 0100", "city": "上海", "baby_age": "孕期"}, "bad_phone"),
        ({"phone": "01012345678", "city": "上海", "baby_age": "孕期"}, "bad_phone"),
        ({"phone": "13812345678", "city": "上海"}, "missing_answer"),
        ({"phone": "13812345678", "city": "火星", "baby_age": "孕期"}, "bad_answer"),
    ],
)
def test_bad_submissions_are_named_and_make_nothing(hub, form, data, code):
    response = Client().post(_page(form["form"]), data)
    assert response.status_code == 400 and f'data-code="{code}"' in response.content.decode()
    assert not Lead.objects.exists() and not SbContactWay.objects.filter(is_temp=True).exists()


def test_one_network_is_rate_limited(hub, form):
    phone = Client()
    for i in range(leads.IP_LIMIT):
        assert phone.post(_page(form["form"]), {"phone": f"1381234{i:04d}", "city": "北京", "baby_age": "孕期"}, REMOTE_ADDR="10.9.9.9").status_code == 200
    response = phone.post(_page(form["form"]), {"phone": "13800009999", "city": "北京", "baby_age": "孕期"}, REMOTE_ADDR="10.9.9.9")
    assert response.status_code == 429 and 'data-code="rate_limited"' in response.content.decode()
    # Another network is not held up.
    assert phone.post(_page(form["form"]), {"phone": "13800009999", "city": "北京", "baby_age": "孕期"}, REMOTE_ADDR="10.9.9.10").status_code == 200
    assert Lead.objects.count() == leads.IP_LIMIT + 1


def test_a_form_must_route_through_an_exact_mode_code(hub, form):
    listed = services.live_code_save(actor=hub.actor, channel=form["online"].channel, name="名单码", members=[{"staff_id": hub.staff[0].id}])
    response = form["api"].post("/api/v1/lead-forms", {"name": "x", "live_code_id": listed.id})
    assert response.status_code == 400 and response.json()["error"]["code"] == "not_exact_mode"


def test_the_network_limit_holds_under_concurrent_submissions(hub, form, transactional_db):
    """4 one after another, then 4 at once, from one network: exactly the limit is stored."""
    url, network = _page(form["form"]), "10.7.7.7"
    for i in range(4):
        assert Client().post(url, {"phone": f"1371234{i:04d}", "city": "北京", "baby_age": "孕期"}, REMOTE_ADDR=network).status_code == 200

    def submit(i: int) -> int:
        try:
            return Client().post(url, {"phone": f"1361234{i:04d}", "city": "北京", "baby_age": "孕期"}, REMOTE_ADDR=network).status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(4) as pool:
        answers = sorted(pool.map(submit, range(4)))
    assert answers == [200, 429, 429, 429]
    assert Lead.objects.filter(ip=network).count() == leads.IP_LIMIT == 5
    assert SbContactWay.objects.filter(is_temp=True).count() == 5


def test_a_slow_wecom_gets_an_answer_in_bounded_time_and_leaves_nothing(hub, form, settings, monkeypatch):
    """WeCom hangs on the temporary code: the page answers within the bound, asks to submit again,
    and the lead, the guide's hold and the pick are all taken back."""
    settings.SIYU_WECOM_PAGE_SECONDS = 0.5
    stalled = threading.Event()

    class Hang(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 — http.server's name
            stalled.wait(5)
            with contextlib.suppress(OSError):  # the client gave up long ago
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b'{"errcode": 0}')

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hang)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        # The token is cached from the codes' pushes; only the contact way call reaches the hang.
        Corp.objects.filter(pk=hub.corp.pk).update(api_base=f"http://127.0.0.1:{server.server_port}/cgi-bin/")
        monkeypatch.setattr(http_module, "_shared", None)
        started = time.monotonic()
        response = Client().post(_page(form["form"]), {"phone": "13512345678", "city": "北京", "baby_age": "孕期"})
        took = time.monotonic() - started
    finally:
        stalled.set()
        server.shutdown()
    assert response.status_code == 503 and 'data-code="wecom_unavailable"' in response.content.decode()
    assert "请重新提交" in response.content.decode()
    assert took < 3
    assert not Lead.objects.exists()
    assert not LiveCodeHold.objects.exists()
    assert sum(LiveCodeDay.objects.values_list("picks", flat=True)) == 0


def test_a_customer_reads_chinese_even_with_an_english_cookie_and_a_gone_code_has_its_own_page(hub, form):
    visitor = Client()
    visitor.cookies["django_language"] = "en"  # an operator's phone, say
    page = html.unescape(visitor.post(_page(form["form"]), {"phone": "12345", "city": "上海", "baby_age": "孕期"}).content.decode())
    assert "'12345' 不是中国大陆手机号。" in page and "is not a" not in page
    for url in ("/f/no-such-form/", f"/l/{hub.corp.corp_id}/no-such-state/", "/l/no-such-corp/x/"):
        response = visitor.get(url)
        page = response.content.decode()
        assert response.status_code == 404 and 'id="gone"' in page and "已经失效" in page and "Not Found" not in page


def test_answers_fill_the_customers_fields_and_a_mismatched_question_is_refused(hub, form):
    custom_field_save(actor=hub.actor, name="预产期", key="due_date", kind="date")
    custom_field_save(actor=hub.actor, name="宝宝阶段", key="baby_stage", kind="choice", choices=["孕期", "0-6月", "6-12月", "1岁以上"])
    custom_field_save(actor=hub.actor, name="预算", key="budget", kind="number")
    api, form_id = form["api"], form["form"]["id"]
    questions = [
        {"key": "phone", "type": "phone", "label": "手机号"},
        {"key": "city", "type": "city", "label": "城市", "options": ["上海", "北京"]},
        {"key": "baby_age", "type": "select", "label": "宝宝月龄", "options": ["孕期", "0-6月", "6-12月"], "customer_field": "baby_stage"},
        {"key": "due", "type": "date", "label": "预产期", "required": False, "customer_field": "due_date"},
    ]
    body = {"name": "孕妈礼包", "live_code_id": form["online"].id, "city_routes": {"上海": form["shanghai"].id}}
    for wrong, field in [
        ({**questions[3], "customer_field": "budget"}, "fields.3.customer_field"),  # a date cannot fill a number
        ({**questions[3], "customer_field": "shoe_size"}, "fields.3.customer_field"),
        ({**questions[2], "options": ["孕期", "两岁"]}, "fields.2.options"),  # 两岁 is no choice of the field
    ]:
        refused = api.put(
            f"/api/v1/lead-forms/{form_id}", {**body, "fields": [*questions[:2], *[wrong if q["key"] == wrong["key"] else q for q in questions[2:]]]}
        )
        assert refused.status_code == 400 and refused.json()["error"]["field"] == field, refused.content
    saved = api.put(f"/api/v1/lead-forms/{form_id}", {**body, "fields": questions})
    assert saved.status_code == 200, saved.content

    phone = Client()
    response = phone.post(_page(form["form"]), {"phone": "13900001111", "city": "北京", "baby_age": "孕期", "due": "2027-02-14"}, REMOTE_ADDR="10.1.2.9")
    assert response.status_code == 200
    sb.customer_scans_contact_way(SbContactWay.objects.get(config_id=Lead.objects.get().config_id), name="赵妈妈")
    hub.handle_callbacks()
    customer = Follow.objects.get(customer__name="赵妈妈").customer
    values = {v.field.key: v.text or str(v.date) for v in CustomerFieldValue.objects.filter(customer=customer).select_related("field")}
    assert values == {"baby_stage": "孕期", "due_date": "2027-02-14"}
    assert customer.timeline.get(kind="profile_updated").data["by"] == f"lead_form:{form_id}"
    hub.handle_callbacks()  # nothing is filled twice
    assert customer.timeline.filter(kind="profile_updated").count() == 1
