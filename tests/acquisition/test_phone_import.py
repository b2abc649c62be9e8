"""Phone import: every bad row reported and nothing imported; tasks paced per account and spread
over working hours; a task is done when its customer is added, with the import's tags."""

import io
import json
from collections import Counter
from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from django.test import Client, TestCase

from siyu.acquisition import phone_import
from siyu.acquisition.models import AddTask, PhoneImport, StaffPacing
from siyu.customers.models import Follow
from siyu.kit.clock import now
from siyu.kit.tenancy import Role
from siyu.sandbox import callbacks as sb
from siyu.sandbox.models import SbFollow

from .. import factories as f
from ..conftest import ApiClient, run_queued

DAY = date(2026, 12, 1)
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def api(hub):
    f.tag_group(hub.actor, "拓客", ["老会员", "电话拓客"])
    return ApiClient(f.token(hub.actor.user, hub.corp))


def _csv(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8")


def _upload(api, content: bytes, file_name: str = "phones.csv", **fields):
    data = {"name": "会员拓客", "first_day": DAY.isoformat(), **fields}
    data["file"] = io.BytesIO(content)
    data["file"].name = file_name
    return api.client.post("/api/v1/phone-imports", data, **api.headers)


def test_every_bad_row_is_reported_and_nothing_is_imported(hub, api):
    f.customer(hub.corp, "老客", phones=["13700000000"])
    content = _csv(
        [
            "手机号,姓名,标签,导购",
            "13800000001,王一,老会员,guide0",
            "12345,坏号,,",
            "+86 138 0000 0001,重复,,",
            "13800000003,多列,,,额外",
            "13800000004," + "长" * 65 + ",,",
            "13800000005,标签错,不存在的标签,",
            "13800000006,导购错,,nobody",
            "13700000000,已是客户,,",
        ]
    )
    response = _upload(api, content, staff_ids=[hub.staff[0].id])
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "import_rejected" and "没有导入任何数据" in error["message"]  # Chinese unless Accept-Language asks
    assert [(d["row"], d["column"], d["code"]) for d in error["details"]] == [
        (3, "phone", "bad_phone"),
        (4, "phone", "duplicate"),
        (5, "", "too_many_columns"),
        (6, "name", "too_long"),
        (7, "tags", "unknown_tag"),
        (8, "staff", "unknown_staff"),
        (9, "phone", "already_customer"),
    ]
    assert not PhoneImport.objects.exists() and not AddTask.objects.exists()
    # The same file, the existing customer skipped and the bad rows mended, goes in whole.
    good = _csv(["手机号,姓名,标签,导购", "13800000001,王一,老会员,guide0", "13700000000,已是客户,,", "13800000002,李二,,"])
    response = _upload(api, good, staff_ids=[hub.staff[1].id], skip_existing="true")
    assert response.status_code == 201, response.content
    assert (response.json()["rows"], response.json()["skipped"]) == (2, 1)
    assert dict(AddTask.objects.values_list("phone", "staff__userid")) == {"13800000001": "guide0", "13800000002": "guide1"}


def test_pacing_never_exceeds_a_staff_accounts_daily_limit(hub, api):
    new, seasoned = hub.staff[0], hub.staff[1]
    StaffPacing.objects.create(corp=hub.corp, staff=new, account_opened_on=DAY - timedelta(days=10))
    rows = ["phone"] + [f"139{i:08d}" for i in range(100)]
    response = _upload(api, _csv(rows), staff_ids=[new.id, seasoned.id], daily_limit="20", new_account_limit="5")
    assert response.status_code == 201, response.content
    per_day = Counter(AddTask.objects.values_list("staff_id", "due_day"))
    assert max(n for (sid, _), n in per_day.items() if sid == new.id) == 5
    assert max(n for (sid, _), n in per_day.items() if sid == seasoned.id) == 20
    assert sorted({d for _, d in per_day}) == [DAY + timedelta(days=i) for i in range(4)]  # 25 a day
    # Spread over working hours (09:00–18:00 Shanghai), no two of one account at the same time.
    for sid, day in per_day:
        times = sorted(AddTask.objects.filter(staff_id=sid, due_day=day).values_list("due_at", flat=True))
        local = [t.astimezone(SHANGHAI) for t in times]
        assert all(time(9) <= t.time() < time(18) and t.date() == day for t in local)
        assert len(set(times)) == len(times) and (local[-1] - local[0]) > timedelta(hours=6)
    # A second import the same days takes only what the first left: still never over the limit.
    response = _upload(api, _csv(["phone"] + [f"136{i:08d}" for i in range(30)]), staff_ids=[new.id])
    assert response.status_code == 201
    per_day = Counter(AddTask.objects.filter(staff=new).values_list("due_day", flat=True))
    assert max(per_day.values()) == 5 and min(d for d in per_day) == DAY and sum(per_day.values()) == 30 + 20
    # The account ages out of "new" after 30 days: from then on it may take 20.
    far = _upload(api, _csv(["phone"] + [f"135{i:08d}" for i in range(60)]), staff_ids=[new.id], first_day=(DAY + timedelta(days=19)).isoformat())
    assert far.status_code == 201
    counts = Counter(AddTask.objects.filter(staff=new, due_day__gte=DAY + timedelta(days=19)).values_list("due_day", flat=True))
    assert [counts[DAY + timedelta(days=d)] for d in (19, 20, 21, 22)] == [5, 20, 20, 15]  # opened on day -10: new through day 19


def test_a_task_is_done_when_its_customer_is_added_with_the_imports_tags(hub, api):
    xlsx = openpyxl.Workbook()
    sheet = xlsx.active
    sheet.append(["手机号", "姓名", "标签"])
    sheet.append([13800138000, "张会员", "老会员、电话拓客"])  # Excel keeps the number as a number
    sheet.append([13800138001, "赵会员", ""])
    out = io.BytesIO()
    xlsx.save(out)
    response = _upload(api, out.getvalue(), "members.xlsx", staff_ids=[hub.staff[0].id])
    assert response.status_code == 201, response.content
    batch_id = response.json()["id"]
    task = AddTask.objects.get(phone="13800138000")
    assert task.name == "张会员" and set(task.tags.values_list("name", flat=True)) == {"老会员", "电话拓客"}

    # The guide searches the number in WeCom and adds; WeCom's contact carries it as a remark mobile.
    sb_follow, _ = sb.customer_adds_staff(hub.sb, hub.sb_staff[0], name="张会员")
    SbFollow.objects.filter(pk=sb_follow.pk).update(remark_mobiles=["13800138000"], add_way=2)
    hub.handle_callbacks()
    task.refresh_from_db()
    follow = Follow.objects.get(customer__name="张会员")
    assert task.status == "done" and task.customer_id == follow.customer_id and task.done_at is not None
    assert set(follow.tags.values_list("name", flat=True)) == {"老会员", "电话拓客"}
    sb_follow.refresh_from_db()
    assert len(sb_follow.tag_ids) == 2  # marked in WeCom too
    detail = api.get(f"/api/v1/phone-imports/{batch_id}").json()
    assert (detail["total"], detail["done"], detail["conversion"]) == (2, 1, 0.5)
    assert detail["by_staff"] == [{"staff_id": hub.staff[0].id, "name": "导购0", "total": 2, "done": 1, "conversion": 0.5}]
    todo = api.get("/api/v1/add-tasks", staff_id=hub.staff[0].id, status="pending").json()["items"]
    assert [t["phone"] for t in todo] == ["13800138001"]


@pytest.mark.parametrize(
    ("content", "file_name", "code"),
    [
        (b"", "empty.csv", "empty_file"),
        (_csv(["name", "王一"]), "nophone.csv", "no_phone_column"),
        (b"\x00\x01not excel", "broken.xlsx", "bad_file"),
        (_csv(["phone", "13800000001"]), "ok.csv", "no_staff"),
    ],
)
def test_unusable_files_are_refused(hub, api, content, file_name, code):
    response = _upload(api, content, file_name)
    assert response.status_code == 400 and response.json()["error"]["code"] == code, response.content
    assert not PhoneImport.objects.exists()


def test_guides_cannot_import(hub):
    guide = f.user(hub.corp, role=Role.GUIDE, staff=hub.staff[0])
    response = _upload(ApiClient(f.token(guide, hub.corp)), _csv(["phone", "13800000001"]), staff_ids=[hub.staff[0].id])
    assert response.status_code == 403
    assert phone_import.has_pending_tasks(hub.corp) is False


def test_working_hours_are_clock_times_without_an_offset(hub, api):
    response = _upload(api, _csv(["手机号", "13800000001"]), staff_ids=[hub.staff[0].id], work_start="09:00:00+08:00")
    assert response.status_code == 422, response.content
    assert "work_start" in json.dumps(response.json()["error"]) and "offset" in response.content.decode()
    assert not PhoneImport.objects.exists()


def test_a_guide_marks_a_request_sent_and_the_add_still_completes_it(hub, api):
    """The guide's list on a phone: copy a number, mark the request sent (or take it back); only
    the customer's add makes the task done, so conversion counts real adds."""
    today = date.today()
    response = _upload(api, _csv(["手机号,姓名", "13800138000,张会员", "13800138001,赵会员"]), staff_ids=[hub.staff[0].id], first_day=today.isoformat())
    assert response.status_code == 201, response.content
    mine, other = Client(), Client()
    mine.force_login(f.user(hub.corp, role=Role.GUIDE, staff=hub.staff[0]))
    other.force_login(f.user(hub.corp, role=Role.GUIDE, staff=hub.staff[1]))
    page = mine.get("/phone-imports/").content.decode()
    assert 'data-copy-text="13800138000"' in page and "13800138000\n13800138001" in page  # one number, and every one still to add
    task = AddTask.objects.get(phone="13800138000")
    assert other.post(f"/phone-imports/tasks/{task.id}/", {"requested": "yes"}).status_code == 404  # not theirs
    assert mine.post(f"/phone-imports/tasks/{task.id}/", {"requested": "yes"}).status_code == 302
    task.refresh_from_db()
    assert task.status == "requested" and task.requested_at is not None
    assert api.get(f"/api/v1/phone-imports/{task.batch_id}").json()["done"] == 0  # sent is not added
    mine.post(f"/phone-imports/tasks/{task.id}/", {"requested": "no"})
    task.refresh_from_db()
    assert (task.status, task.requested_at) == ("pending", None)
    mine.post(f"/phone-imports/tasks/{task.id}/", {"requested": "yes"})
    # The customer accepts: WeCom reports the add, and the task is done.
    sb_follow, _ = sb.customer_adds_staff(hub.sb, hub.sb_staff[0], name="张会员")
    SbFollow.objects.filter(pk=sb_follow.pk).update(remark_mobiles=["13800138000"], add_way=2)
    hub.handle_callbacks()
    task.refresh_from_db()
    assert task.status == "done" and task.customer is not None
    r = mine.post(f"/phone-imports/tasks/{task.id}/", {"requested": "no"})
    assert r.status_code == 400 and AddTask.objects.get(pk=task.pk).status == "done"


def _queue(hub, content: bytes, **options) -> PhoneImport:
    fields = {"name": "门店拓客", "file_name": "phones.csv", "content": content, "staff_ids": [hub.staff[0].id], "first_day": DAY, "queue": True}
    with TestCase.captureOnCommitCallbacks(execute=True):
        return phone_import.phone_import_create(actor=hub.actor, **{**fields, **options})


def test_a_queued_import_is_written_in_batches_and_a_dead_workers_is_started_over(hub, monkeypatch):
    monkeypatch.setattr(phone_import, "WRITE_BATCH", 40)
    written = []
    real = phone_import._write_tasks
    monkeypatch.setattr(phone_import, "_write_tasks", lambda batch, planned: written.append(len(planned)) or real(batch, planned))
    batch = _queue(hub, _csv(["phone"] + [f"139{i:08d}" for i in range(100)]), daily_limit=20, new_account_limit=20)
    assert batch.status == "queued" and not AddTask.objects.exists()
    # A worker claims it, writes two batches of tasks and is killed: its lease runs out.
    claim = phone_import.PHONE_IMPORT_WORK.claim(batch.pk)
    planned = phone_import.schedule(batch, phone_import.check_rows(hub.corp, [["phone"], *[[f"139{i:08d}"] for i in range(80)]])[0], [hub.staff[0].id])
    for start in (0, 40):
        phone_import._write_tasks(batch, planned[start : start + 40])
    assert claim.stamp and AddTask.objects.count() == 80
    # Its lease ran out: the sweep gives the import to another worker, which starts over.
    PhoneImport.objects.filter(pk=batch.pk).update(updated_at=now() - timedelta(minutes=6))
    with TestCase.captureOnCommitCallbacks(execute=True):
        phone_import.phone_imports_sweep(timedelta(seconds=0))
    assert "imported" in run_queued("siyu.acquisition.tasks")
    batch.refresh_from_db()
    assert (batch.status, batch.rows, batch.upload, batch.progress_done) == ("imported", 100, None, 100)
    assert AddTask.objects.count() == 100 and max(Counter(AddTask.objects.values_list("due_day", flat=True)).values()) == 20
    assert written[-3:] == [40, 40, 20]  # the second worker's batches, after the dead one's two


def test_a_failed_import_keeps_none_of_its_tasks(hub, monkeypatch):
    monkeypatch.setattr(phone_import, "WRITE_BATCH", 10)
    batch = _queue(hub, _csv(["phone"] + [f"139{i:08d}" for i in range(30)]))
    real, calls = phone_import._write_tasks, []

    def breaks(batch, planned):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        real(batch, planned)

    monkeypatch.setattr(phone_import, "_write_tasks", breaks)
    assert phone_import.phone_import_run(batch.pk) == "failed"
    assert not AddTask.objects.exists()
    batch.refresh_from_db()
    assert batch.status == "failed" and "disk full" in batch.error
    page = Client()
    page.force_login(hub.actor.user)
    assert 'data-status="failed"' in page.get(f"/phone-imports/{batch.pk}/").content.decode()


def test_two_queued_imports_run_one_after_the_other_within_the_daily_limits(hub):
    first = _queue(hub, _csv(["phone"] + [f"139{i:08d}" for i in range(30)]), daily_limit=20, new_account_limit=20)
    second = _queue(hub, _csv(["phone"] + [f"138{i:08d}" for i in range(30)]), daily_limit=20, new_account_limit=20)
    # Both claimed by two workers at once: the later claim waits for the earlier one.
    one, two = phone_import.PHONE_IMPORT_WORK.claim(first.pk), phone_import.PHONE_IMPORT_WORK.claim(second.pk)
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert phone_import._run(two) == "waiting"
    assert phone_import._run(one) == "imported"
    PhoneImport.objects.filter(pk=second.pk).update(due_at=now())
    assert "imported" in run_queued("siyu.acquisition.tasks")
    assert set(PhoneImport.objects.values_list("status", flat=True)) == {"imported"}
    per_day = Counter(AddTask.objects.values_list("due_day", flat=True))
    assert sum(per_day.values()) == 60 and max(per_day.values()) == 20
