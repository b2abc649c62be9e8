"""Acquisition console pages through Django's test client, against the in-process sandbox."""

import io

import openpyxl
import pytest
import zxingcpp
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, TestCase
from PIL import Image

from siyu.acquisition.models import AddTask, Channel, ChannelCost, LeadForm, LiveCode, PhoneImport
from siyu.autotag.models import TagRule
from siyu.groups.models import CustomerGroup, GroupCode
from siyu.kit.tenancy import Role
from siyu.messaging.models import WelcomeMessage
from siyu.sandbox import callbacks as sandbox_callbacks
from siyu.sandbox import callbacks as sb
from siyu.sandbox.models import SbContactWay

from .. import factories as f
from ..conftest import run_queued


@pytest.fixture
def console(hub):
    client = Client()
    client.force_login(hub.actor.user)
    client.cookies["django_language"] = "en"
    return client


def _editor_post(hub, channel, **overrides) -> dict:
    data = {
        "name": "南京西路店",
        "channel": channel.id,
        "mode": "wecom_list",
        "routing": "rotate",
        "total_cap": "",
        "expires_at": "",
        "skip_verify": "on",
        "welcome_text": "你好{customer_name}，我是{staff_name}",
        "weekdays": ["1", "2", "3", "4", "5", "6", "7"],
        "slot1_start": "00:00",
        "slot1_end": "23:59",
        "slot2_start": "",
        "slot2_end": "",
        "holidays": "2026-12-25",
        "m-TOTAL_FORMS": "4",
        "m-INITIAL_FORMS": "0",
        "m-MIN_NUM_FORMS": "0",
        "m-MAX_NUM_FORMS": "1000",
    }
    for i, s in enumerate(hub.staff):
        data.update({f"m-{i}-who": f"s:{s.id}", f"m-{i}-weight": "1", f"m-{i}-daily_cap": "2"})
    data.update({"m-3-who": "", "m-3-weight": "1", "m-3-daily_cap": ""})
    data.update(overrides)
    return data


def test_operator_sets_up_a_channel_and_live_code_and_a_scan_lands(hub, console, django_capture_on_commit_callbacks):
    response = console.post("/channels/", {"name": "门店", "group": "store"})
    assert response.status_code == 302
    channel = Channel.objects.get(corp=hub.corp)

    with django_capture_on_commit_callbacks(execute=True):
        response = console.post("/live-codes/new/", _editor_post(hub, channel))
    assert response.status_code == 302, response.content.decode()[:2000]
    code = LiveCode.objects.get(corp=hub.corp)
    assert response["Location"] == f"/live-codes/{code.id}/"
    assert code.schedule == {"weekly": {str(d): [["00:00", "23:59"]] for d in range(1, 8)}, "holidays": ["2026-12-25"]}
    assert sorted((m.staff_id, m.daily_cap) for m in code.members.all()) == sorted((s.id, 2) for s in hub.staff)
    assert WelcomeMessage.objects.get(live_code=code).text == "你好{customer_name}，我是{staff_name}"
    way = SbContactWay.objects.get(config_id=code.config_id)
    assert way.users == ["guide0", "guide1", "guide2"]

    page = console.get(f"/live-codes/{code.id}/").content.decode()
    assert "南京西路店" in page and 'id="download-png"' in page
    # WeCom's list of the code's staff reads as their names, not userids.
    assert f'id="pushed-staff">{"、".join(s.name for s in hub.staff)}<' in page
    png = console.get(f"/live-codes/{code.id}/qr.png")
    assert png["Content-Type"] == "image/png" and png["Content-Disposition"].startswith("attachment")
    content = zxingcpp.read_barcodes(Image.open(io.BytesIO(png.content)).convert("L"))[0].text
    assert content.endswith(f"/sandbox/scan/contact/{code.config_id}/")
    assert console.get(f"/live-codes/{code.id}/qr.svg").content.startswith(b"<?xml")
    poster = Image.open(io.BytesIO(console.get(f"/live-codes/{code.id}/poster.png", {"title": "示例母婴", "footer": "扫码加导购"}).content))
    assert poster.size == (750, 1334)

    sb.customer_scans_contact_way(way, name="王小丫")
    hub.handle_callbacks()
    page = console.get("/channels/stats/", {"start": "2026-01-01", "end": "2026-12-31", "by": "channel"}).content.decode()
    assert 'id="total-adds">1<' in page and 'data-key="门店"' in page
    book = openpyxl.load_workbook(io.BytesIO(console.get("/channels/stats.xlsx", {"start": "2026-01-01", "end": "2026-12-31"}).content))
    assert [row[:2] for row in book["Summary"].values][1] == ("门店", 1)

    # Pause and edit: the rules change, the code stays the same one in WeCom.
    with django_capture_on_commit_callbacks(execute=True):
        console.post(f"/live-codes/{code.id}/status/", {"status": "paused"})
    assert LiveCode.objects.get(pk=code.pk).status == "paused"
    edit = _editor_post(hub, channel, name="南京西路店（新）", **{"m-2-who": ""})
    with django_capture_on_commit_callbacks(execute=True):
        assert console.post(f"/live-codes/{code.id}/edit/", edit).status_code == 302
    code.refresh_from_db()
    assert code.name == "南京西路店（新）" and code.members.count() == 2 and code.config_id == way.config_id


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"m-0-who": "", "m-1-who": "", "m-2-who": ""}, "at least one staff member"),
        ({"slot1_end": "08:00", "slot1_start": "09:00"}, "must end after it starts"),
        ({"slot1_start": "", "slot1_end": ""}, "need a time slot"),
        ({"routing": "weighted"}, "exact"),
        ({"holidays": "next friday"}, "not a valid time or date"),
    ],
)
def test_editor_names_the_problem_and_writes_nothing(hub, console, change, message):
    channel = Channel.objects.create(corp=hub.corp, name="门店", group="store")
    response = console.post("/live-codes/new/", _editor_post(hub, channel, **change))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not LiveCode.objects.filter(corp=hub.corp).exists()


def test_guides_cannot_edit_and_other_corps_codes_are_not_found(hub, console):
    channel = Channel.objects.create(corp=hub.corp, name="门店", group="store")
    guide = Client()
    guide.force_login(f.user(hub.corp, role=Role.GUIDE, staff=hub.staff[0]))
    assert guide.get("/live-codes/new/").status_code == 403
    assert guide.post(f"/channels/{channel.id}/costs/", {"day": "2026-11-01", "amount": "100"}).status_code == 403
    assert not ChannelCost.objects.exists()
    assert console.post(f"/channels/{channel.id}/costs/", {"day": "2026-11-01", "amount": "123.45"}).status_code == 302
    assert ChannelCost.objects.get().amount_fen == 12345

    other = f.corp("别家")
    theirs = LiveCode.objects.create(corp=other, channel=Channel.objects.create(corp=other, name="x"), name="别家的码", state="lcother")
    for path in (f"/live-codes/{theirs.id}/", f"/live-codes/{theirs.id}/qr.png", f"/live-codes/{theirs.id}/edit/"):
        assert console.get(path).status_code == 404, path


def test_rule_group_code_and_lead_form_pages(hub, console, django_capture_on_commit_callbacks):
    channel = Channel.objects.create(corp=hub.corp, name="门店", group="store")
    group = f.tag_group(hub.actor, "来源", ["门店客"])
    tag = group.tags.get()
    # An auto-tag rule from the console; the list shows how many customers it matches.
    response = console.post("/tag-rules/", {"name": "周末门店", "match": "all", "channels": [channel.id], "weekdays": ["6", "7"], "add_tags": [tag.id]})
    assert response.status_code == 302, response.content.decode()[:1500]
    rule = TagRule.objects.get()
    assert rule.conditions == [{"kind": "channel", "in": [channel.id]}, {"kind": "added_weekday", "in": [6, 7]}]
    page = console.get("/tag-rules/").content.decode()
    assert 'data-rule="周末门店"' in page
    assert console.post("/tag-rules/", {"name": "空", "match": "all", "add_tags": [tag.id]}).status_code == 400  # no condition

    # A group code over a group WeCom told us about.
    sandbox_callbacks.group_created(hub.sb, hub.sb_staff[0], "宝妈群1")
    hub.handle_callbacks()
    chat = CustomerGroup.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        response = console.post("/group-codes/", {"name": "宝妈群码", "groups": [chat.id], "member_limit": 150, "room_base_id": 1, "low_pool_alert": 1})
    assert response.status_code == 302, response.content.decode()[:1500]
    assert GroupCode.objects.get().config_id
    assert 'data-code="宝妈群码"' in console.get("/group-codes/").content.decode()

    # A lead form routed through an exact-mode code.
    code = LiveCode.objects.create(corp=hub.corp, channel=channel, name="顾问", state="lcadvisor", mode="exact")
    question = {"label": "宝宝月龄", "type": "select", "options": "孕期，0-6月"}
    response = console.post("/lead-forms/", f.lead_form_post([question], name="礼包", live_code=code.id))
    assert response.status_code == 302, response.content.decode()[:1500]
    lead_form = LeadForm.objects.get()
    assert [(q["type"], q["label"]) for q in lead_form.fields] == [("phone", "手机号"), ("select", "宝宝月龄")] and lead_form.fields[1]["options"] == [
        "孕期",
        "0-6月",
    ]
    page = console.get("/lead-forms/").content.decode()
    assert f"/f/{lead_form.slug}/" in page
    assert console.post("/lead-forms/", f.lead_form_post([{"label": "y", "type": "colour"}], name="坏", live_code=code.id)).status_code == 400


def test_phone_import_page_reports_bad_rows_and_guides_see_their_tasks(hub, console):
    """The upload is the worker's: the page answers at once with the import's own page, which
    shows its progress and then its outcome."""
    bad = SimpleUploadedFile("phones.csv", "手机号,姓名\n13800000001,王一\n999,坏\n".encode())
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = console.post(
            "/phone-imports/",
            {
                "name": "门店会员",
                "file": bad,
                "staff": [hub.staff[0].id],
                "daily_limit": 20,
                "new_account_limit": 5,
                "work_start": "09:00",
                "work_end": "18:00",
            },
        )
    batch = PhoneImport.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/phone-imports/{batch.pk}/"
    page = console.get(response["Location"]).content.decode()
    assert 'data-status="queued"' in page and "hx-trigger" in page  # polls until the worker is done
    assert run_queued("siyu.acquisition.tasks") == ["rejected"]
    page = console.get(response["Location"]).content.decode()
    assert 'data-status="rejected"' in page and 'data-code="bad_phone"' in page and "hx-trigger" not in page
    assert not AddTask.objects.exists() and PhoneImport.objects.get().upload is None
    # A file with no phone column is refused at once, at the form.
    nameless = SimpleUploadedFile("phones.csv", "姓名\n王一\n".encode())
    form = {"name": "门店会员", "staff": [hub.staff[0].id], "daily_limit": 20, "new_account_limit": 5, "work_start": "00:00", "work_end": "23:59"}
    refused = console.post("/phone-imports/", {**form, "file": nameless})
    assert refused.status_code == 400 and "手机号" in refused.content.decode() and PhoneImport.objects.count() == 1
    good = SimpleUploadedFile("phones.csv", "手机号,姓名\n13800000001,王一\n13800000002,李二\n".encode())
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = console.post("/phone-imports/", {**form, "file": good})
    assert response.status_code == 302, response.content.decode()[:1500]
    assert run_queued("siyu.acquisition.tasks") == ["imported"]
    assert 'data-status="imported"' in console.get(response["Location"]).content.decode()
    assert 'data-batch="门店会员"' in console.get("/phone-imports/").content.decode()
    guide = Client()
    guide.force_login(f.user(hub.corp, role=Role.GUIDE, staff=hub.staff[0]))
    page = guide.get("/phone-imports/").content.decode()
    assert 'id="my-tasks"' in page and "13800000001" in page and "13800000002" in page


def test_stats_links_need_only_what_they_change(hub, console):
    channel = Channel.objects.create(corp=hub.corp, name="门店", group="store")
    assert console.get("/channels/stats/", {"by": "live_code", "channel": channel.id}).status_code == 200
    assert console.get("/channels/stats/", {"start": "2026-11-10", "end": "2026-11-01"}).status_code == 400
