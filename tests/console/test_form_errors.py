"""A refused form shows its errors next to the field, in the console's language, and keeps what
was typed; a service's refusal is translated like the form's own."""

import ast
import re
from pathlib import Path

import pytest
from django.test import Client

from siyu.acquisition.models import Channel, ChannelCost, LiveCode
from siyu.kit.tenancy import Role
from siyu.tags.models import Tag, TagGroup

from .. import factories as f

SRC = Path(__file__).resolve().parents[2] / "src" / "siyu"


@pytest.fixture
def site(db):
    corp = f.corp("阿尔法")
    admin = f.user(corp, Role.ADMIN, username="admin")
    client = Client()
    client.force_login(admin)
    return {"client": client, "corp": corp, "actor": f.actor(corp, Role.ADMIN)}


def _field(page: str, field_id: str) -> str:
    """The HTML of the field group holding the input with this id."""
    match = re.search(r'<(label|fieldset) class="field[^"]*"[^>]*>(?:(?!</\1>).)*id="' + field_id + r'"(?:(?!</\1>).)*</\1>', page, re.S)
    assert match, f"no field group for #{field_id}"
    return match.group(0)


def _english(client):
    client.cookies["django_language"] = "en"


def test_a_duplicate_channel_name_shows_on_the_name_field_in_chinese_and_keeps_the_input(site):
    Channel.objects.create(corp=site["corp"], name="视频号直播", group="content")
    response = site["client"].post("/channels/", {"name": "视频号直播", "group": "content"})
    assert response.status_code == 400
    page = response.content.decode()
    name = _field(page, "id_name")
    assert "has-error" in name and "已有名为“视频号直播”的渠道。" in name
    assert 'value="视频号直播"' in name  # what was typed is still there
    assert "操作未完成" not in page and "already exists" not in page
    assert Channel.objects.filter(corp=site["corp"]).count() == 1

    _english(site["client"])
    page = site["client"].post("/channels/", {"name": "视频号直播", "group": "content"}).content.decode()
    assert "A channel named “视频号直播” already exists." in _field(page, "id_name")


def test_an_empty_name_is_required_on_its_field_with_its_label(site):
    page = site["client"].post("/channels/", {"name": "", "group": "store"}).content.decode()
    name = _field(page, "id_name")
    assert "渠道名称" in name and "这个字段是必填项。" in name
    # The summary names the field by its label, never by its code name.
    assert not re.search(r"\bname这个字段", page) and "* name" not in page


def test_an_over_long_tag_is_refused_in_its_group_never_cut(site):
    group = f.tag_group(site["actor"], name="等级", tags=["VIP"])
    long_name = "很长的标签名" * 6
    response = site["client"].post(f"/tags/groups/{group.id}/tags/", {"name": long_name})
    assert response.status_code == 400
    page = response.content.decode()
    box = re.search(r'<form [^>]*action="/tags/groups/' + str(group.id) + r'/tags/"(?:(?!</form>).)*</form>', page, re.S).group(0)
    assert "最多 30 个字符（现在 36 个）。" in box and "* name *" not in page
    assert "maxlength" in box  # the browser stops it too
    assert not Tag.objects.filter(group=group, name__startswith="很长").exists()


def test_a_duplicate_tag_group_keeps_what_was_typed(site):
    f.tag_group(site["actor"], name="等级", tags=["VIP"])
    response = site["client"].post("/tags/groups/", {"name": "等级", "tags": "金卡, 银卡"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "已有名为“等级”的标签组。" in _field(page, "id_name")
    assert 'value="金卡, 银卡"' in _field(page, "id_tags")
    assert TagGroup.objects.filter(corp=site["corp"], deleted_at__isnull=True).count() == 1


def test_a_bad_cost_shows_on_its_channel_row(site):
    channel = Channel.objects.create(corp=site["corp"], name="门店", group="store")
    other = Channel.objects.create(corp=site["corp"], name="官网", group="content")
    response = site["client"].post(f"/channels/{channel.id}/costs/", {"day": "2026-11-01", "amount": "-5"})
    assert response.status_code == 400
    page = response.content.decode()
    row = re.search(r'<tr data-channel="门店">(?:(?!</tr>).)*</tr>', page, re.S).group(0)
    assert "确保该值大于或等于0。" in row and 'value="-5"' in row
    assert "field-error" not in re.search(r'<tr data-channel="官网">(?:(?!</tr>).)*</tr>', page, re.S).group(0)
    assert not ChannelCost.objects.filter(channel__in=[channel, other]).exists()


def test_a_member_listed_twice_is_marked_on_its_row(site):
    channel = Channel.objects.create(corp=site["corp"], name="门店", group="store")
    staff = f.staff(site["corp"], "李导购")
    data = {
        "name": "南京西路店",
        "channel": channel.id,
        "mode": "exact",
        "routing": "rotate",
        "skip_verify": "on",
        "weekdays": [str(d) for d in range(1, 8)],
        "slot1_start": "00:00",
        "slot1_end": "23:59",
        "m-TOTAL_FORMS": "3",
        "m-INITIAL_FORMS": "0",
        "m-MIN_NUM_FORMS": "0",
        "m-MAX_NUM_FORMS": "1000",
        "m-0-who": f"s:{staff.id}",
        "m-0-weight": "1",
        "m-1-who": "",
        "m-1-weight": "1",
        "m-2-who": f"s:{staff.id}",
        "m-2-weight": "1",
    }
    response = site["client"].post("/live-codes/new/", data)
    assert response.status_code == 400
    page = response.content.decode()
    # The third row of the editor (the second filled one) carries the refusal.
    row = re.search(r'<tr class="member-row">(?:(?!</tr>).)*name="m-2-who"(?:(?!</tr>).)*</tr>', page, re.S).group(0)
    assert "重复添加了。" in row
    assert 'value="南京西路店"' in page
    assert not LiveCode.objects.filter(corp=site["corp"]).exists()


def test_a_period_ending_before_it_starts_shows_on_the_statistics_filters(site):
    response = site["client"].get("/channels/stats/", {"start": "2026-11-10", "end": "2026-11-01"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "结束日期不能早于开始日期。" in _field(page, "id_end")
    assert 'value="2026-11-10"' in _field(page, "id_start")


def test_the_api_speaks_the_requested_language_and_keeps_its_codes(site):
    token = f.token(site["actor"].user, site["corp"])
    Channel.objects.create(corp=site["corp"], name="官网", group="content")
    client = Client()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    zh = client.post("/api/v1/channels", {"name": "官网", "group": "content"}, content_type="application/json", **headers).json()["error"]
    en = client.post("/api/v1/channels", {"name": "官网", "group": "content"}, content_type="application/json", HTTP_ACCEPT_LANGUAGE="en", **headers).json()[
        "error"
    ]
    assert zh == {"code": "channel_name_taken", "message": "已有名为“官网”的渠道。", "field": "name"}
    assert en == {"code": "channel_name_taken", "message": "A channel named “官网” already exists.", "field": "name"}


DOMAIN_ERRORS = {
    "InvalidInput",
    "Conflict",
    "NotFound",
    "Forbidden",
    "TooManyRequests",
    "Unavailable",
    "Unauthorized",
    "ImportRejected",
    "NoStaffAvailable",
    "SyncBusy",
}


def test_every_domain_error_is_raised_with_translatable_text():
    """A refusal written as a bare string (or f-string) would reach the Chinese console in English."""
    bare = []
    for path in SRC.rglob("*.py"):
        if "sandbox" in path.parts or "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in DOMAIN_ERRORS and node.args:
                first = node.args[0]
                if isinstance(first, ast.JoinedStr) or (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                    bare.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert not bare, bare
