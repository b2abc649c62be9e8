"""The acquisition API: channels, live codes, QR downloads, welcomes; bad input named."""

import io

import pytest
import zxingcpp
from PIL import Image

from siyu.acquisition.models import LiveCode
from siyu.kit.tenancy import Role
from siyu.sandbox.models import SbContactWay

from .. import factories as f
from ..conftest import ApiClient


@pytest.fixture
def api(hub):
    return ApiClient(f.token(hub.actor.user, hub.corp))


def _decode(body: bytes) -> str:
    return zxingcpp.read_barcodes(Image.open(io.BytesIO(body)).convert("L"))[0].text


def _create(api, hub, django_capture_on_commit_callbacks, **overrides):
    channel = api.post("/api/v1/channels", {"name": "门店", "group": "store"}).json()
    body = {"channel_id": channel["id"], "name": "徐汇店", "members": [{"staff_id": s.id, "daily_cap": 50} for s in hub.staff], **overrides}
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/live-codes", body)
    assert response.status_code == 201, response.content
    return api.get(f"/api/v1/live-codes/{response.json()['id']}").json()


def test_list_mode_code_is_in_wecom_and_its_qr_downloads(api, hub, django_capture_on_commit_callbacks):
    code = _create(api, hub, django_capture_on_commit_callbacks)
    assert code["config_id"] and code["wecom_users"] == ["guide0", "guide1", "guide2"] and not code["push_error"]
    # The PNG and SVG Siyu draws encode exactly what WeCom's own QR image encodes.
    way = SbContactWay.objects.get(config_id=code["config_id"])
    png = api.get(f"/api/v1/live-codes/{code['id']}/qr.png")
    assert png["Content-Type"] == "image/png" and "attachment" in png["Content-Disposition"]
    assert _decode(png.content) == f"http://testserver/sandbox/scan/contact/{way.config_id}/"
    svg = api.get(f"/api/v1/live-codes/{code['id']}/qr.svg")
    assert svg["Content-Type"] == "image/svg+xml" and b"<svg" in svg.content
    poster = api.get(f"/api/v1/live-codes/{code['id']}/poster.png", title="扫码领取新人礼", subtitle="添加导购，领取试用装")
    image = Image.open(io.BytesIO(poster.content))
    assert image.size == (750, 1334)
    assert _decode(poster.content) == _decode(png.content)


def test_exact_mode_qr_is_the_landing_page(api, hub, django_capture_on_commit_callbacks):
    code = _create(api, hub, django_capture_on_commit_callbacks, mode="exact", routing="weighted")
    assert code["landing_url"].endswith(f"/l/{hub.corp.corp_id}/{code['state']}/")
    assert _decode(api.get(f"/api/v1/live-codes/{code['id']}/qr.png").content) == code["landing_url"]
    # Each staff member got their own single-person code in WeCom.
    assert SbContactWay.objects.filter(type=1, state=code["state"]).count() == 3


@pytest.mark.parametrize(
    "overrides,status,error_code,field",
    [
        ({"routing": "weighted"}, 400, "routing_needs_exact_mode", "routing"),
        ({"members": []}, 400, "empty_pool", "members"),
        ({"members": [{"staff_id": 999999}]}, 400, "unknown_staff", "members.0.staff_id"),
        ({"members": [{"staff_id": None}]}, 400, "invalid_input", "members.0"),
        ({"schedule": {"weekly": {"8": []}}}, 400, "bad_schedule", "schedule.weekly"),
        ({"schedule": {"weekly": {"1": [["18:00", "09:00"]]}}}, 400, "bad_schedule", "schedule.weekly.1"),
        ({"schedule": {"holidays": ["2026-02-30"]}}, 400, "bad_schedule", "schedule.holidays"),
        ({"tag_ids": [424242]}, 400, "unknown_tag", "tag_ids"),
        ({"welcome": {"text": "hi", "attachments": [{"msgtype": "link", "link": {"title": "t"}}]}}, 400, "bad_attachment", "attachments.0.link"),
    ],
)
def test_bad_live_codes_are_refused_and_nothing_is_saved(api, hub, overrides, status, error_code, field):
    channel = api.post("/api/v1/channels", {"name": "官网", "group": "website"}).json()
    body = {"channel_id": channel["id"], "name": "坏码", "members": [{"staff_id": hub.staff[0].id}], **overrides}
    response = api.post("/api/v1/live-codes", body)
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert (error["code"], error["field"]) == (error_code, field), error
    assert LiveCode.objects.count() == 0


def test_only_backups_and_duplicate_channel_names_are_refused(api, hub):
    channel = api.post("/api/v1/channels", {"name": "官网", "group": "website"}).json()
    again = api.post("/api/v1/channels", {"name": "官网", "group": "ads"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "channel_name_taken"
    store = api.post("/api/v1/channels", {"name": "门店", "group": "store"}).json()
    renamed = api.patch(f"/api/v1/channels/{store['id']}", {"name": "官网"})
    assert renamed.status_code == 409 and "官网" in renamed.json()["error"]["message"]
    assert api.patch(f"/api/v1/channels/{store['id']}", {"group": "ads"}).json()["name"] == "门店"
    response = api.post("/api/v1/live-codes", {"channel_id": channel["id"], "name": "x", "members": [{"staff_id": hub.staff[0].id, "backup": True}]})
    assert response.json()["error"]["code"] == "only_backups"


def test_guides_cannot_create_codes_and_welcome_scopes(api, hub):
    guide = f.user(hub.corp, role=Role.GUIDE, staff=hub.staff[0])
    guide_api = ApiClient(f.token(guide, hub.corp))
    assert guide_api.post("/api/v1/channels", {"name": "x"}).status_code == 403
    assert api.put("/api/v1/welcome-messages/default", {"text": "默认欢迎语"}).status_code == 200
    staff_welcome = api.put(f"/api/v1/staff/{hub.staff[1].id}/welcome", {"text": "我是{staff_name}"})
    assert staff_welcome.json()["staff_id"] == hub.staff[1].id
    texts = sorted(m["text"] for m in api.get("/api/v1/welcome-messages").json())
    assert texts == ["我是{staff_name}", "默认欢迎语"]
    assert api.put("/api/v1/welcome-messages/default", {"text": ""}).status_code == 204
    assert [m["text"] for m in api.get("/api/v1/welcome-messages").json()] == ["我是{staff_name}"]
