"""Phone-number import (手机号拓客): a file of phone numbers becomes add-friend tasks, paced per
staff account (养号), and each task is done when that customer is added.

An import is all or nothing: every row is checked first, and one bad row rejects the file with
a report of every bad row (row number, column, problem).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.db.models import Count, F, Q
from django.utils.translation import gettext as _

from siyu.corps.models import Corp, Staff
from siyu.customers.models import CustomerPhone, FollowTag
from siyu.kit.clock import now
from siyu.kit.due import DueWork
from siyu.kit.errors import InvalidInput
from siyu.kit.phones import phone_normalise
from siyu.kit.queue import enqueue_after_commit
from siyu.kit.schema import text_within
from siyu.kit.tables import read_table
from siyu.kit.tenancy import Actor, get_for
from siyu.tags.models import Tag

from .models import AddTask, PhoneImport, StaffPacing

MAX_ROWS = 50_000
MAX_REPORTED = 500  # a rejected file's problem rows kept for its page
MAX_DAYS = 366
NAME_MAX = 64
# Accepted header names for each column (case-insensitive).
COLUMNS = {
    "phone": {"phone", "mobile", "手机号", "手机", "电话"},
    "name": {"name", "姓名", "客户", "名称"},
    "tags": {"tags", "标签"},
    "staff": {"staff", "userid", "员工", "导购", "负责人"},
}


class ImportRejected(InvalidInput):
    code = "import_rejected"


def check_heading(table: list[list[str]]) -> tuple[list[list[str]], list[str], dict[str, int]]:
    """The file's shape, refused before any row is read: (its non-empty rows, the heading, column → position)."""
    table = [r for r in table if any(c.strip() for c in r)]
    if not table:
        raise InvalidInput(_("The file is empty."), code="empty_file", field="file")
    header = [h.strip().lower() for h in table[0]]
    where = {}
    for i, h in enumerate(header):
        for column, names in COLUMNS.items():
            if h in names and column not in where:
                where[column] = i
    if "phone" not in where:
        raise InvalidInput(_("No phone column: name it phone or 手机号."), code="no_phone_column", field="file")
    if len(table) - 1 > MAX_ROWS:
        raise InvalidInput(_("At most %(max_rows)s rows per import.") % {"max_rows": MAX_ROWS}, code="too_many_rows", field="file")
    return table, header, where


def check_rows(corp: Corp, table: list[list[str]], *, skip_existing: bool = False) -> tuple[list[dict], list[dict], int]:
    """Validate every row; returns (good rows, errors, rows skipped as existing customers)."""

    table, header, where = check_heading(table)
    tags = {t.name: t.pk for t in Tag.objects.filter(corp=corp, deleted_at__isnull=True)}
    staff = dict(Staff.objects.filter(corp=corp, status=Staff.Status.ACTIVE).values_list("userid", "pk"))
    good, errors, seen = [], [], {}
    for n, row in enumerate(table[1:], start=2):

        def bad(column: str, code: str, message: str, n: int = n) -> None:
            errors.append({"row": n, "column": column, "code": code, "message": message})

        extra = [c for c in row[len(header) :] if c.strip()]
        if extra:
            bad("", "too_many_columns", _("%(cells)s cells in a table of %(columns)s columns") % {"cells": len(row), "columns": len(header)})
        cells = {column: (row[i].strip() if i < len(row) else "") for column, i in where.items()}
        try:
            phone = phone_normalise(cells["phone"])
        except InvalidInput:
            bad("phone", "bad_phone", _("%(value)r is not a mainland China mobile number.") % {"value": cells["phone"]})
            continue
        if phone in seen:
            bad("phone", "duplicate", _("%(phone)s is also on row %(row)s") % {"phone": phone, "row": seen[phone]})
            continue
        seen[phone] = n
        name = cells.get("name", "")
        if len(name) > NAME_MAX:
            bad("name", "too_long", _("The name has %(n)s characters; at most %(max)s") % {"n": len(name), "max": NAME_MAX})
        tag_names = [t.strip() for t in cells.get("tags", "").replace("，", ",").replace("、", ",").split(",") if t.strip()]
        unknown = [t for t in tag_names if t not in tags]
        if unknown:
            bad("tags", "unknown_tag", _("No tag “%(tag)s” in the tag library") % {"tag": unknown[0]})
        userid = cells.get("staff", "")
        if userid and userid not in staff:
            bad("staff", "unknown_staff", _("No active staff member %(userid)r") % {"userid": userid})
        good.append({"row": n, "phone": phone, "name": name[:NAME_MAX], "tags": [tags[t] for t in tag_names if t in tags], "staff_id": staff.get(userid)})
    phones = [g["phone"] for g in good]
    customers = set(CustomerPhone.objects.filter(corp=corp, phone__in=phones).values_list("phone", flat=True))
    tasked = set(AddTask.objects.filter(corp=corp, phone__in=phones, status__in=AddTask.OPEN).values_list("phone", flat=True))
    kept, skipped = [], 0
    for g in good:
        if g["phone"] in customers:
            if skip_existing:
                skipped += 1
                continue
            errors.append(
                {"row": g["row"], "column": "phone", "code": "already_customer", "message": _("%(phone)s is already a customer") % {"phone": g["phone"]}}
            )
        elif g["phone"] in tasked:
            errors.append(
                {
                    "row": g["row"],
                    "column": "phone",
                    "code": "already_tasked",
                    "message": _("%(phone)s is already in another import's tasks") % {"phone": g["phone"]},
                }
            )
        kept.append(g)
    return kept, sorted(errors, key=lambda e: (e["row"], e["column"])), skipped


def daily_limit(batch: PhoneImport, pacing: StaffPacing | None, day: date) -> int:
    limit = pacing.daily_limit if pacing and pacing.daily_limit is not None else batch.daily_limit
    if pacing and pacing.account_opened_on and (day - pacing.account_opened_on).days < batch.new_account_days:
        limit = min(limit, batch.new_account_limit)
    return limit


def schedule(batch: PhoneImport, rows: list[dict], pool: list[int]) -> list[tuple[dict, int, date, int, int]]:
    """Give each row a staff member, a day and a slot: (row, staff id, day, slot, slots that day).

    A day's slots per staff member are its limit minus the tasks it already has that day (from
    any import), so no account is given more than its limit. Rows naming a staff member go to
    them; the others go to the pool member with a free slot on the earliest day, in turn.
    """
    staff_ids = sorted({r["staff_id"] for r in rows if r["staff_id"]} | set(pool))
    pacing = {p.staff_id: p for p in StaffPacing.objects.filter(staff_id__in=staff_ids)}
    last_day = batch.first_day + timedelta(days=MAX_DAYS)
    used: dict[tuple[int, date], int] = {}
    for sid, day in (
        AddTask.objects.filter(staff_id__in=staff_ids, due_day__gte=batch.first_day, due_day__lte=last_day)
        .exclude(status=AddTask.Status.CANCELLED)
        .values_list("staff_id", "due_day")
    ):
        used[(sid, day)] = used.get((sid, day), 0) + 1

    def take(sid: int, day: date) -> tuple[int, int] | None:
        limit = daily_limit(batch, pacing.get(sid), day)
        slot = used.get((sid, day), 0)
        if slot >= limit:
            return None
        used[(sid, day)] = slot + 1
        return slot, limit

    out = []
    cursor = dict.fromkeys(staff_ids, batch.first_day)
    for row in [r for r in rows if r["staff_id"]]:
        sid = row["staff_id"]
        while cursor[sid] <= last_day and (got := take(sid, cursor[sid])) is None:
            cursor[sid] += timedelta(days=1)
        if cursor[sid] > last_day:
            raise InvalidInput(_("Not enough days ahead for this staff member's tasks at their daily limit."), code="no_capacity", field="file")
        out.append((row, sid, cursor[sid], *got))
    free = [r for r in rows if not r["staff_id"]]
    if free and not pool:
        raise InvalidInput(_("Rows without a staff member need staff to share them among."), code="no_staff", field="staff_ids")
    day, turn = batch.first_day, 0
    while free:
        placed = False
        for k in range(len(pool)):
            sid = pool[(turn + k) % len(pool)]
            got = take(sid, day)
            if got is not None:
                out.append((free.pop(0), sid, day, *got))
                turn = (turn + k + 1) % len(pool)
                placed = True
                break
        if not placed:
            day += timedelta(days=1)
            if day > last_day:
                raise InvalidInput(_("The staff's daily limits cannot fit these rows within a year."), code="no_capacity", field="staff_ids")
    return out


def slot_time(batch: PhoneImport, tz, day: date, slot: int, slots: int) -> datetime:
    """Slots spread evenly over the working hours, in the corp's time."""
    start = datetime.combine(day, batch.work_start, tzinfo=tz)
    span = datetime.combine(day, batch.work_end, tzinfo=tz) - start
    return start + span * ((slot + 0.5) / max(slots, 1))


def _write_tasks(batch: PhoneImport, planned: list) -> None:
    tz = batch.corp.tzinfo
    tasks = AddTask.objects.bulk_create(
        [
            AddTask(corp_id=batch.corp_id, batch=batch, phone=row["phone"], name=row["name"], staff_id=sid, due_day=when[0], due_at=slot_time(batch, tz, *when))
            for row, sid, *when in planned
        ],
        batch_size=2000,
    )
    through = AddTask.tags.through
    through.objects.bulk_create(
        [through(addtask_id=t.pk, tag_id=tag) for t, (row, *_rest) in zip(tasks, planned, strict=True) for tag in row["tags"]],
        batch_size=2000,
    )


def _checked(corp: Corp, file_name: str, content: bytes, skip_existing: bool) -> tuple[list[dict], int]:
    rows, errors, skipped = check_rows(corp, read_table(file_name, content), skip_existing=skip_existing)
    if errors:
        raise ImportRejected(_("%(n)s problem(s) in %(file)s; nothing was imported.") % {"n": len(errors), "file": file_name}, field="file", details=errors)
    if not rows:
        raise InvalidInput(_("No rows to import."), code="empty_file", field="file")
    return rows, skipped


def phone_import_create(
    *,
    actor: Actor,
    name: str,
    file_name: str,
    content: bytes,
    staff_ids: list[int] = (),
    daily_limit: int = 20,
    new_account_limit: int = 5,
    new_account_days: int = 30,
    work_start: time = time(9, 0),
    work_end: time = time(18, 0),
    first_day: date | None = None,
    skip_existing: bool = False,
    queue: bool = False,
) -> PhoneImport:
    """Turn a file of phone numbers into add-friend tasks. Without `queue` (the API), checked and
    written while the caller waits, in one transaction. With it (a person's upload in the
    console), the import's fields and the file's heading are checked now (refused at once, as the
    form's errors) and its rows by the worker."""
    actor.require_manager()
    if not (name or "").strip():
        raise InvalidInput(_("An import needs a name."), field="name")
    if work_end <= work_start:
        raise InvalidInput(_("Working hours must end after they start."), field="work_end")
    if not 1 <= daily_limit <= 500 or not 0 <= new_account_limit <= daily_limit:
        raise InvalidInput(_("The daily limit is 1 to 500; the new-account limit 0 to the daily limit."), field="daily_limit")
    pool = list(Staff.objects.filter(corp=actor.corp, pk__in=list(staff_ids), status=Staff.Status.ACTIVE).order_by("pk").values_list("pk", flat=True))
    if len(pool) != len(set(staff_ids)):
        raise InvalidInput(_("Unknown or inactive staff in this corp."), code="unknown_staff", field="staff_ids")
    batch = PhoneImport(
        corp=actor.corp,
        name=text_within(name.strip(), 64, "name"),
        file_name=file_name[:200],
        created_by=actor.user,
        daily_limit=daily_limit,
        new_account_limit=new_account_limit,
        new_account_days=new_account_days,
        work_start=work_start,
        work_end=work_end,
        first_day=first_day or now().astimezone(actor.corp.tzinfo).date(),
        staff_ids=pool,
        skip_existing=skip_existing,
    )
    if queue:
        check_heading(read_table(file_name, content))
        batch.status, batch.upload = PhoneImport.Status.QUEUED, content
        with transaction.atomic():
            batch.save()
            PHONE_IMPORT_WORK.enqueue(batch.pk)
        return batch
    rows, batch.skipped = _checked(actor.corp, file_name, content, skip_existing)
    batch.rows = len(rows)
    with transaction.atomic():
        batch.save()
        _write_tasks(batch, schedule(batch, rows, pool))
    return batch


# A console upload is imported by the worker: the page answers at once and shows its progress, and
# the tasks are written in batches of a transaction each, so callbacks and pages write between
# them. Every attempt starts by removing what an earlier one wrote; a failed import keeps no task.
PHONE_IMPORT_WORK = DueWork(
    "phone import",
    PhoneImport,
    task="siyu.acquisition.tasks.run_phone_import",
    waiting=(PhoneImport.Status.QUEUED,),
    running=PhoneImport.Status.RUNNING,
    done=PhoneImport.Status.IMPORTED,
    failed=PhoneImport.Status.FAILED,
    lease=timedelta(minutes=5),
    heartbeat="updated_at",
    max_attempts=3,
)
WRITE_BATCH = 2000
WAIT_SECONDS = 5  # for another import of the corp to finish


def phone_import_run(batch_pk: int) -> str:
    return PHONE_IMPORT_WORK.run(batch_pk, _run)


def _run(claim) -> str:
    batch = PhoneImport.objects.select_related("corp").get(pk=claim.pk)
    # A corp's imports are scheduled one after the other: each fills the staff's days from what the
    # ones before it left free, so two at once could give an account more than its daily limit.
    earlier = Q(claimed_at__lt=claim.stamp) | Q(claimed_at=claim.stamp, pk__lt=batch.pk)
    running = PhoneImport.objects.filter(corp_id=batch.corp_id, status=PhoneImport.Status.RUNNING, updated_at__gt=now() - PHONE_IMPORT_WORK.lease_length())
    if running.exclude(pk=batch.pk).filter(earlier).exists():
        later = now() + timedelta(seconds=WAIT_SECONDS)
        claim.finish(status=PhoneImport.Status.QUEUED, due_at=later, attempts=F("attempts"))
        PHONE_IMPORT_WORK.enqueue(batch.pk, at=later)
        return "waiting"
    AddTask.objects.filter(batch=batch).delete()  # an earlier attempt's, should a worker have died mid-way

    def progress(phase: str, done: int, total: int) -> None:
        PhoneImport.objects.filter(pk=batch.pk).update(phase=phase, progress_done=done, progress_total=total, updated_at=now())

    progress("check", 0, 0)
    try:
        rows, skipped = _checked(batch.corp, batch.file_name, bytes(batch.upload or b""), batch.skip_existing)
        planned = schedule(batch, rows, batch.staff_ids)
    except InvalidInput as exc:
        errors = getattr(exc, "details", None) or [{"row": 0, "column": exc.field or "file", "code": exc.code, "message": exc.message}]
        claim.finish(status=PhoneImport.Status.REJECTED, upload=None, phase="", errors=errors[:MAX_REPORTED], error=exc.message)
        return "rejected"
    try:
        for start in range(0, len(planned), WRITE_BATCH):
            with transaction.atomic():
                _write_tasks(batch, planned[start : start + WRITE_BATCH])
            progress("write", min(start + WRITE_BATCH, len(planned)), len(planned))
    except BaseException:
        AddTask.objects.filter(batch=batch).delete()
        raise
    claim.finish(status=PhoneImport.Status.IMPORTED, upload=None, phase="", rows=len(rows), skipped=skipped)
    return "imported"


def phone_imports_sweep(older_than: timedelta) -> int:
    """Imports whose task was lost get one again; those given up on keep no tasks."""
    AddTask.objects.filter(batch__status=PhoneImport.Status.FAILED).delete()
    return PHONE_IMPORT_WORK.sweep(older_than=older_than)


def has_pending_tasks(corp: Corp) -> bool:
    return AddTask.objects.filter(corp=corp, status__in=AddTask.OPEN).exists()


def add_tasks_match(*, corp: Corp, follow) -> int:
    """A customer was added: their pending tasks (by phone: remark mobiles, lead answers) are done,
    and the tasks' tags go on the new follow."""

    phones = list(follow.customer.phones.values_list("phone", flat=True))
    if not phones:
        return 0
    tasks = list(AddTask.objects.filter(corp=corp, phone__in=phones, status__in=AddTask.OPEN).prefetch_related("tags"))
    if not tasks:
        return 0
    AddTask.objects.filter(pk__in=[t.pk for t in tasks], status__in=AddTask.OPEN).update(status=AddTask.Status.DONE, done_at=now(), customer=follow.customer)
    tag_ids = sorted({tag.pk for t in tasks for tag in t.tags.all()})
    if tag_ids:
        FollowTag.objects.bulk_create([FollowTag(corp=corp, follow=follow, tag_id=t) for t in tag_ids], ignore_conflicts=True)
        enqueue_after_commit("siyu.wecom.tasks.push_tags_to_wecom", corp.pk, [[follow.pk, tag_ids, []]])
    return len(tasks)


def add_task_mark(*, actor: Actor, task: AddTask, requested: bool) -> AddTask:
    """A guide says they sent the friend request (or takes it back). The task is done only when
    the customer accepts and WeCom reports the add, so conversion counts real adds."""
    if task.status not in AddTask.OPEN:
        raise InvalidInput(_("This task is %(status)s already; it cannot change.") % {"status": task.get_status_display()}, code="task_closed", field="status")
    task.status = AddTask.Status.REQUESTED if requested else AddTask.Status.PENDING
    task.requested_at = now() if requested else None
    task.save(update_fields=["status", "requested_at"])
    return task


def pacing_set(*, actor: Actor, staff: Staff, daily_limit: int | None, account_opened_on: date | None) -> StaffPacing:
    actor.require_manager()
    if daily_limit is not None and not 0 <= daily_limit <= 500:
        raise InvalidInput(_("The daily limit is 0 to 500."), field="daily_limit")
    pacing, _created = StaffPacing.objects.update_or_create(
        corp=actor.corp, staff=staff, defaults={"daily_limit": daily_limit, "account_opened_on": account_opened_on}
    )
    return pacing


# -- reads -----------------------------------------------------------------------------------------
def phone_imports(actor: Actor):
    qs = PhoneImport.objects.for_corp(actor.corp)
    if actor.is_guide:
        qs = qs.filter(tasks__staff_id=actor.staff_id).distinct()
    return qs.annotate(
        total=Count("tasks"),
        done=Count("tasks", filter=Q(tasks__status=AddTask.Status.DONE)),
        overdue=Count("tasks", filter=Q(tasks__status=AddTask.Status.PENDING, tasks__due_at__lt=now())),
    ).order_by("-id")


def batch_by_staff(batch: PhoneImport) -> list[dict]:
    rows = (
        batch.tasks.values("staff_id", "staff__name")
        .annotate(total=Count("id"), done=Count("id", filter=Q(status=AddTask.Status.DONE)))
        .order_by("staff__name")
    )
    return [{"staff_id": r["staff_id"], "name": r["staff__name"], "total": r["total"], "done": r["done"], "conversion": r["done"] / r["total"]} for r in rows]


def phone_import_get(actor: Actor, import_id: int) -> PhoneImport:
    """One import the actor may see (a guide: one with tasks of theirs)."""
    return get_for(actor, phone_imports(actor), _("No such phone import."), pk=import_id)


def add_task_get(actor: Actor, task_id: int) -> AddTask:
    """One task the actor may work: a guide's own, any in the corp for a manager."""
    return get_for(actor, add_tasks(actor), _("No such add-friend task."), pk=task_id)


def add_tasks_to_do(actor: Actor, day: date):
    """A guide's list for the day: that day's tasks and any earlier ones still waiting."""
    return add_tasks(actor, staff_id=actor.staff_id).filter(Q(due_day=day) | Q(due_day__lt=day, status__in=AddTask.OPEN))


def add_tasks(actor: Actor, *, staff_id: int | None = None, day: date | None = None, status: str | None = None):
    qs = AddTask.objects.for_corp(actor.corp).select_related("staff", "batch").prefetch_related("tags")
    if actor.is_guide:
        qs = qs.filter(staff_id=actor.staff_id)
    elif staff_id is not None:
        qs = qs.filter(staff_id=staff_id)
    if day is not None:
        qs = qs.filter(due_day=day)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("due_at", "id")
