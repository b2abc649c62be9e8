"""Message content and media: WeCom's limits refused when saved, files uploaded once and again
before their 3-day media id expires, welcomes carrying attachments through the real client."""

import io
import struct
import zlib
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from siyu.acquisition.models import LiveCode
from siyu.acquisition.services import channel_create
from siyu.corps.models import Staff
from siyu.corps.services import staff_upsert
from siyu.kit.tenancy import Actor, Role
from siyu.messaging.media import media_create
from siyu.messaging.models import Media, WelcomeMessage, WelcomeSend
from siyu.messaging.services import welcome_for, welcome_message_set
from siyu.sandbox import callbacks as wecom_sim
from siyu.sandbox.models import SbMedia, SbWelcomeSent
from siyu.wecom.client import WeComClient, WeComError
from siyu.wecom.sync import full_sync

from .. import factories as f
from ..conftest import ApiClient
from ..wecom.conftest import Hub

pytestmark = pytest.mark.django_db(transaction=True)


def png(seed: int = 0) -> bytes:
    """A real 1×1 PNG (different bytes per seed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = zlib.compress(bytes([0, seed % 256, 0, 0]))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


@pytest.fixture
def hub(live_server, settings):
    settings.SIYU_WELCOME_THREADS = 0
    hub = Hub(live_server, corpid="wwmessaging01")
    hub.actor = Actor(user=f.user(hub.corp, role=Role.ADMIN), corp=hub.corp, role=Role.ADMIN)
    return hub


LINK = {"msgtype": "link", "link": {"title": "新人礼", "url": "https://shop.example.com/new", "desc": "首单立减"}}


@pytest.mark.parametrize(
    "body, code, field",
    [
        ({"text": "好" * 1334}, "text_too_long", "text"),  # 4,002 bytes: over WeCom's 4,000 although 1,334 characters
        ({"attachments": [{"msgtype": "link", "link": {"title": "标" * 43, "url": "https://a.cn"}}]}, "attachment_too_long", "attachments.0.link.title"),
        (
            {"attachments": [{"msgtype": "link", "link": {"title": "t", "url": "https://a.cn", "desc": "d" * 513}}]},
            "attachment_too_long",
            "attachments.0.link.desc",
        ),
        ({"attachments": [{"msgtype": "link", "link": {"title": "t", "url": "https://a.cn/" + "x" * 2040}}]}, "attachment_too_long", "attachments.0.link.url"),
        ({"attachments": [{"msgtype": "link", "link": {"title": "t", "url": "javascript:alert(1)"}}]}, "bad_url", "attachments.0.link.url"),
        (
            {"attachments": [{"msgtype": "miniprogram", "miniprogram": {"title": "小" * 22, "appid": "wx1", "page": "p", "pic_media_id": "m"}}]},
            "attachment_too_long",
            "attachments.0.miniprogram.title",
        ),
        ({"attachments": [{"msgtype": "video", "video": {"media": 999999}}]}, "no_such_media", "attachments.0.video.media"),
    ],
)
def test_content_beyond_wecoms_limits_is_refused_naming_the_field(hub, body, code, field):
    api = ApiClient(f.token(hub.actor.user, hub.corp))
    response = api.put("/api/v1/welcome-messages/default", body)
    assert response.status_code == 400, response.content
    assert (response.json()["error"]["code"], response.json()["error"]["field"]) == (code, field)
    assert not WelcomeMessage.objects.exists()


def test_content_at_wecoms_limits_is_kept(hub):
    api = ApiClient(f.token(hub.actor.user, hub.corp))
    text = "好" * 1333  # 3,999 bytes
    link = {"msgtype": "link", "link": {"title": "标" * 42, "url": "https://a.cn", "desc": "d" * 512}}
    response = api.put("/api/v1/welcome-messages/default", {"text": text, "attachments": [link] * 9})
    assert response.status_code == 200, response.content
    assert WelcomeMessage.objects.get().attachments == [link] * 9
    assert api.put("/api/v1/welcome-messages/default", {"text": text, "attachments": [link] * 10}).status_code == 422


def test_another_corps_file_cannot_be_attached(hub, live_server):
    other = Hub(live_server, corpid="wwmessaging02")
    other_admin = Actor(user=f.user(other.corp, role=Role.ADMIN), corp=other.corp, role=Role.ADMIN)
    theirs = media_create(actor=other_admin, kind="image", name="a.png", content=png(), content_type="image/png")
    api = ApiClient(f.token(hub.actor.user, hub.corp))
    response = api.put("/api/v1/welcome-messages/default", {"attachments": [{"msgtype": "image", "image": {"media": theirs.pk}}]})
    assert response.status_code == 400 and response.json()["error"]["code"] == "no_such_media"


def test_media_upload_refuses_what_wecom_would(hub):
    api = ApiClient(f.token(hub.actor.user, hub.corp))
    client = api.client
    headers = api.headers
    ok = client.post("/api/v1/media", {"kind": "image", "file": io.BytesIO(png())}, **headers)
    assert ok.status_code == 201, ok.content
    gif = io.BytesIO(b"GIF89a" + b"\0" * 20)
    gif.name = "a.gif"
    refused = client.post("/api/v1/media", {"kind": "image", "file": gif}, **headers)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "bad_media_type"
    tiny = io.BytesIO(b"abc")
    tiny.name = "a.txt"
    refused = client.post("/api/v1/media", {"kind": "file", "file": tiny}, **headers)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "bad_media_size"
    assert Media.objects.count() == 1


def test_a_welcome_with_attachments_reaches_wecom_and_media_is_uploaded_again_before_it_expires(hub):
    image = media_create(actor=hub.actor, kind="image", name="礼包.png", content=png(), content_type="image/png")
    welcome_message_set(actor=hub.actor, text="欢迎！", attachments=[{"msgtype": "image", "image": {"media": image.pk}}, LINK])

    wecom_sim.customer_adds_staff(hub.sb, hub.staff[0], name="图文")
    hub.run_worker()
    sent = SbWelcomeSent.objects.get()
    assert WelcomeSend.objects.get().status == "sent"
    first_id = sent.attachments[0]["image"]["media_id"]
    assert SbMedia.objects.get(media_id=first_id).type == "image" and sent.attachments[1] == LINK
    assert not Media.objects.filter(pk=image.pk, media_id="").exists()

    # A second welcome within the 3 days reuses the id: no second upload.
    wecom_sim.customer_adds_staff(hub.sb, hub.staff[1], name="再来")
    hub.run_worker()
    assert SbMedia.objects.count() == 1
    assert SbWelcomeSent.objects.order_by("-id").first().attachments[0]["image"]["media_id"] == first_id

    # Three days on, WeCom has forgotten the id; Siyu uploads the file again before using it.
    SbMedia.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    Media.objects.update(uploaded_at=timezone.now() - timedelta(days=3))
    with pytest.raises(WeComError) as expired:
        WeComClient(hub.corp).send_welcome_msg("any", attachments=[{"msgtype": "image", "image": {"media_id": first_id}}])
    assert expired.value.errcode == 40007
    wecom_sim.customer_adds_staff(hub.sb, hub.staff[0], name="三天后")
    hub.run_worker()
    latest = SbWelcomeSent.objects.order_by("-id").first().attachments[0]["image"]["media_id"]
    assert latest != first_id and SbMedia.objects.filter(media_id=latest, expires_at__gt=timezone.now()).exists()
    assert list(WelcomeSend.objects.values_list("status", flat=True).distinct()) == ["sent"]


def _console(hub) -> Client:
    client = Client()
    client.force_login(hub.actor.user)
    return client


def _live_code_post(channel, staff, **extra) -> dict:
    body = {
        "name": "门店码",
        "channel": channel.id,
        "mode": "wecom_list",
        "routing": "rotate",
        "skip_verify": "on",
        "welcome_text": "您好{customer_name}",
        "m-TOTAL_FORMS": "1",
        "m-INITIAL_FORMS": "0",
        "m-0-who": f"s:{staff.id}",
        "m-0-weight": "1",
        "a-TOTAL_FORMS": "0",
        "a-INITIAL_FORMS": "0",
    }
    body.update(extra)
    return body


def test_the_console_welcome_editor_takes_attachments_and_shows_wecoms_limits_on_the_field(hub):
    full_sync(corp=hub.corp)
    staff = Staff.objects.filter(corp=hub.corp).first()
    channel = channel_create(actor=hub.actor, name="门店", group="store")
    client = _console(hub)
    upload = io.BytesIO(png(3))
    upload.name = "cover.png"
    body = _live_code_post(
        channel,
        staff,
        **{
            "a-TOTAL_FORMS": "2",
            "a-0-kind": "image",
            "a-0-file": upload,
            "a-1-kind": "link",
            "a-1-title": "新人礼",
            "a-1-url": "https://shop.example.com/new",
            "a-1-desc": "首单立减",
        },
    )
    response = client.post("/live-codes/new/", body, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 302, (response.context["form"].errors, response.context["members"].errors, response.context["attachments"].errors)
    welcome = WelcomeMessage.objects.get()
    image = Media.objects.get()
    assert welcome.attachments == [{"msgtype": "image", "image": {"media": image.pk}}, LINK]
    assert bytes(image.content) == png(3)

    # Editing shows the stored attachments; a bad link stays on the page with the error on its field.
    code_id = welcome.live_code_id
    page = client.get(f"/live-codes/{code_id}/edit/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert 'value="https://shop.example.com/new"' in page and f'name="a-0-media" value="{image.pk}"' in page
    bad = _live_code_post(
        channel,
        staff,
        **{
            "a-TOTAL_FORMS": "2",
            "a-INITIAL_FORMS": "2",
            "a-0-kind": "image",
            "a-0-media": str(image.pk),
            "a-1-kind": "link",
            "a-1-title": "新人礼",
            "a-1-url": "ftp://shop.example.com/new",
        },
    )
    response = client.post(f"/live-codes/{code_id}/edit/", bad, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 400
    html = response.content.decode()
    assert 'value="ftp://shop.example.com/new"' in html  # what was typed is kept
    row = html[html.index('name="a-1-url"') :]
    assert "http" in row[: row.index("</label>")] and "field-error" in row[: row.index("</label>")]
    assert WelcomeMessage.objects.get().attachments[1] == LINK  # nothing half-written


def test_a_welcome_comes_from_the_live_code_else_the_staff_member_else_the_corp(hub):
    actor = hub.actor
    guide0, guide1 = (staff_upsert(corp=hub.corp, userid=s.userid, name=s.name) for s in hub.staff)
    channel = channel_create(actor=actor, name="门店")
    code = LiveCode.objects.create(corp=hub.corp, channel=channel, name="店码", state="shop1")
    LiveCode.objects.create(corp=hub.corp, channel=channel, name="无欢迎语", state="shop2")
    welcome_message_set(actor=actor, live_code=code, text="店码欢迎")
    welcome_message_set(actor=actor, staff=guide1, text="导购欢迎")
    assert welcome_for(hub.corp, state="shop1", userid=guide1.userid).text == "店码欢迎"
    assert welcome_for(hub.corp, state="shop2", userid=guide1.userid).text == "导购欢迎"
    assert welcome_for(hub.corp, state="", userid=guide1.userid).text == "导购欢迎"
    assert welcome_for(hub.corp, state="", userid=guide0.userid) is None  # no corp default yet
    welcome_message_set(actor=actor, text="默认欢迎")
    assert welcome_for(hub.corp, state="shop2", userid=guide0.userid).text == "默认欢迎"
    assert welcome_for(hub.corp, state="shop1", userid=guide0.userid).text == "店码欢迎"
    other = f.corp()  # another corp's welcomes are never this corp's
    welcome_message_set(actor=Actor(user=f.user(other, role=Role.ADMIN), corp=other, role=Role.ADMIN), text="别家欢迎")
    assert welcome_for(hub.corp, state="", userid=guide0.userid).text == "默认欢迎"
