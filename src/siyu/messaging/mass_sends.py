"""Mass sends (群发) to customers: HQ's message becomes one WeCom task per staff member, each
confirmed by that member in 群发助手; results are pulled back until the send closes.

The lifecycle, each step due work of its own (kit.due):
1. `mass_send_create` checks the content and the time and saves the send, due at `send_at`.
2. Planning (`MASS_SEND_PLAN`), at that time: the audience as it is then, less what the
   contact-pressure budget leaves out, each customer given one sender (the staff member whose
   follow is newest among the allowed senders), written as `Delivery` rows and one
   `MassSendTask` per sender and 10,000 customers — in one transaction, so a worker that dies
   leaves nothing half-planned and the next one plans again.
3. Each task is created in WeCom (`MASS_TASK_CREATE`). `add_msg_template` is not idempotent:
   `attempted_at` is committed before the call, and a worker that finds it set first looks for
   the task WeCom may already have made (by creator and time, then by recipient) and adopts it.
4. Results (`MASS_SEND_PULL`): each member's status (`get_groupmsg_task`) and each customer's
   (`get_groupmsg_send_result`), often in the first hours and less after, until the send closes.
Cancel and remind run as tasks too: they call WeCom once per staff member.

Functions that call WeCom never run inside a database transaction.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.utils.translation import gettext as _

from siyu.analytics import segments
from siyu.corps.models import Corp, Department, Staff
from siyu.customers.models import CustomerPhone, Follow
from siyu.customers.selectors import visible_customers
from siyu.groups.models import CustomerGroup
from siyu.kit.clock import now
from siyu.kit.db import bulk_memory, scratch_table
from siyu.kit.due import DueWork, exponential
from siyu.kit.errors import Conflict, InvalidInput
from siyu.kit.queue import enqueue_after_commit
from siyu.kit.schema import text_within
from siyu.kit.tenancy import Actor
from siyu.wecom.client import WeComClient, WeComError

from . import budget
from .content import content_clean
from .library import LinkSource
from .media import attachments_for_wecom
from .models import CustomerList, CustomerListMember, Delivery, GroupDelivery, MassSend, MassSendTask, StaffSend

log = logging.getLogger(__name__)

MAX_RECIPIENTS = 10_000  # add_msg_template's external_userid list
MAX_GROUPS = 2000  # … and its chat_id_list
WRITE_BATCH = 5000
# The staff member cannot receive tasks: left the company, not licensed, not a member any more.
SENDER_GONE = {60111, 60011, 84061, 41054, 41055, 701008}
# When results are pulled after the tasks are made: often at first, then daily until a week.
PULL_AFTER = [timedelta(minutes=m) for m in (5, 15, 30, 60, 120, 240, 480, 720, 1440)]
CLOSE_AFTER = timedelta(days=7)

Status = MassSend.Status
TaskStatus = MassSendTask.Status

MASS_SEND_PLAN = DueWork(
    "mass send planning",
    MassSend,
    task="siyu.messaging.tasks.plan_mass_send",
    waiting=(Status.SCHEDULED,),
    running=Status.PLANNING,
    done=Status.SENDING,
    failed=Status.FAILED,
    lease=timedelta(minutes=30),
    max_attempts=3,
)
MASS_TASK_CREATE = DueWork(
    "mass send task",
    MassSendTask,
    task="siyu.messaging.tasks.create_mass_send_task",
    waiting=(TaskStatus.DUE,),
    running=TaskStatus.CREATING,
    done=TaskStatus.CREATED,
    failed=TaskStatus.FAILED,
    lease=timedelta(minutes=2),
    max_attempts=8,
    backoff=exponential(30, 1800),
)


def result_pulls(name: str, model, task: str) -> DueWork:
    """Pulling a send's (or a moment's) results from WeCom until it closes: the row's pull_*
    fields, due → pulling → due again at its next time, or done."""
    return DueWork(
        name,
        model,
        task=task,
        waiting=("due",),
        running="pulling",
        done="done",
        failed="failed",
        prefix="pull_",
        lease=timedelta(minutes=20),
        max_attempts=6,
        backoff=exponential(60, 3600),
    )


def next_pull(started: datetime, stamp: datetime, closes_at: datetime) -> datetime:
    """The next pull after `stamp` on the schedule counted from `started`: often at first, then daily."""
    later = [started + step for step in PULL_AFTER if started + step > stamp]
    return min(later[0] if later else stamp + timedelta(days=1), closes_at)


MASS_SEND_PULL = result_pulls("mass send results", MassSend, "siyu.messaging.tasks.pull_mass_send")


# -- audience ----------------------------------------------------------------------------------------
def audience_clean(actor: Actor, audience: dict) -> dict:
    """The audience as stored: a saved segment, the customer list's filters, or listed customers."""
    kind = (audience or {}).get("kind")
    if kind == "segment":
        segment = segments.segment_get(actor, _whole(audience.get("segment_id"), "audience.segment_id"))
        return {"kind": "segment", "segment_id": segment.id}
    if kind == "filters":
        filters = segments.SegmentFilters.from_json(audience.get("filters") or {})
        segments.customers_matching(actor, filters).exists()  # foreign tags, unknown classes: refused now
        return {"kind": "filters", "filters": filters.to_json()}
    if kind == "customers":
        ids, phones = audience.get("external_userids") or [], audience.get("phones") or []
        listed = [*ids, *phones] if isinstance(ids, list) and isinstance(phones, list) else None
        if not listed or not all(isinstance(i, str) and 0 < len(i) <= 64 for i in listed) or len(listed) > 200_000:
            raise InvalidInput(_("List 1 to 200,000 customers by external_userid or phone."), code="bad_audience", field="audience.external_userids")
        return {"kind": "customers", "external_userids": sorted(set(ids)), "phones": sorted({p.strip().lstrip("+") for p in phones})}
    if kind == "list":
        found = CustomerList.objects.for_corp(actor.corp).filter(pk=_whole(audience.get("list_id"), "audience.list_id")).first()
        if found is None:
            raise InvalidInput(
                _("No customer list %(list_id)s in this corp.") % {"list_id": audience.get("list_id")}, code="unknown_list", field="audience.list_id"
            )
        return {"kind": "list", "list_id": found.pk}
    if kind == "groups":
        ids = audience.get("group_ids") or []
        if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise InvalidInput(_("Groups are named by their ids."), code="bad_audience", field="audience.group_ids")
        known = set(CustomerGroup.objects.for_corp(actor.corp).filter(pk__in=ids).values_list("pk", flat=True))
        if set(ids) - known:
            raise InvalidInput(
                _("No group %(group_id)s in this corp.") % {"group_id": sorted(set(ids) - known)[0]}, code="unknown_group", field="audience.group_ids"
            )
        name = text_within(str(audience.get("name_contains") or "").strip(), 100, "audience.name_contains")
        return {"kind": "groups", "group_ids": sorted(known), "name_contains": name}
    raise InvalidInput(_("The audience is a segment, filters or a list of customers."), code="bad_audience", field="audience.kind")


def _whole(value, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidInput(_("%(field)s: a positive whole number.") % {"field": field}, code="bad_audience", field=field)
    return value


def audience_customers(actor: Actor, audience: dict):
    kind = audience["kind"]
    if kind == "segment":
        segment = segments.segment_get(actor, audience["segment_id"])
        return segments.customers_matching(actor, segments.SegmentFilters.from_json(segment.filters))
    if kind == "filters":
        return segments.customers_matching(actor, segments.SegmentFilters.from_json(audience["filters"]))
    if kind == "list":
        listed = CustomerListMember.objects.filter(customers_id=audience["list_id"]).values("customer_id")
        return visible_customers(actor).filter(id__in=listed)
    phones = CustomerPhone.objects.filter(corp=actor.corp, phone__in=audience.get("phones") or []).values("customer_id")
    return visible_customers(actor).filter(Q(external_userid__in=audience["external_userids"]) | Q(id__in=phones))


def audience_groups(actor: Actor, audience: dict, staff):
    """The active groups a group send goes to: owned by an allowed sender, then named or matched."""
    groups = CustomerGroup.objects.for_corp(actor.corp).filter(status=CustomerGroup.Status.ACTIVE, owner__in=staff)
    if audience.get("group_ids"):
        groups = groups.filter(pk__in=audience["group_ids"])
    if audience.get("name_contains"):
        groups = groups.filter(name__icontains=audience["name_contains"])
    return groups


def senders(actor: Actor, staff_ids: list[int], department_ids: list[int] = ()):
    """The staff who may send: those named (this corp's, still here) and those in the named
    departments or below them (a region and its stores), or, naming none, every active one."""
    staff = Staff.objects.for_corp(actor.corp).filter(status=Staff.Status.ACTIVE)
    if staff_ids:
        known = set(staff.filter(pk__in=staff_ids).values_list("pk", flat=True))
        unknown = [s for s in staff_ids if s not in known]
        if unknown:
            raise InvalidInput(_("Unknown or departed staff member %(staff_id)s.") % {"staff_id": unknown[0]}, code="unknown_staff", field="staff_ids")
    if department_ids:
        departments = department_subtree(actor, list(department_ids))
    if staff_ids and department_ids:
        return staff.filter(Q(pk__in=staff_ids) | Q(department_id__in=departments))
    if staff_ids:
        return staff.filter(pk__in=staff_ids)
    if department_ids:
        return staff.filter(department_id__in=departments)
    return staff


def department_subtree(actor: Actor, department_ids: list[int]) -> set[int]:
    """These departments and every one below them (WeCom's tree: a region, its stores)."""
    parents = dict(Department.objects.for_corp(actor.corp).values_list("pk", "parent_id"))
    unknown = [d for d in department_ids if d not in parents]
    if unknown:
        raise InvalidInput(_("Unknown department %(department_id)s.") % {"department_id": unknown[0]}, code="unknown_department", field="department_ids")
    children: dict[int, list[int]] = {}
    for pk, parent in parents.items():
        children.setdefault(parent, []).append(pk)
    found, todo = set(), list(department_ids)
    while todo:
        pk = todo.pop()
        if pk not in found:
            found.add(pk)
            todo.extend(children.get(pk, []))
    return found


def sender_per_customer(actor: Actor, customers, staff, per_task: int) -> tuple[str, list]:
    """SQL (and its parameters) for each customer with an active follow by an allowed sender:
    (customer_id, external_userid, staff_id, part). The sender is the newest such follow's, as the
    staff member most likely chatting with them (WeCom gives a customer's task to one member
    only); `part` numbers a sender's customers in lots of `per_task`, in customer order. One
    statement the database answers with two window functions, whatever the audience's size."""
    follows = (
        Follow.objects.filter(corp=actor.corp, customer_id__in=customers.values("id"), staff__in=staff.values("id"))
        .filter(deleted_by_staff_at__isnull=True, deleted_by_customer_at__isnull=True)
        .annotate(external_userid=F("customer__external_userid"))  # named, so the outer query can name it
        .values("customer_id", "staff_id", "added_at", "id", "external_userid")
    )
    inner, params = follows.query.sql_with_params()
    sql = f"""
        SELECT customer_id, external_userid, staff_id,
               (ROW_NUMBER() OVER (PARTITION BY staff_id ORDER BY customer_id) - 1) / {int(per_task)} AS part
        FROM (
            SELECT f.customer_id, f.staff_id, f.external_userid,
                   ROW_NUMBER() OVER (PARTITION BY f.customer_id ORDER BY f.added_at DESC, f.id DESC) AS newest
            FROM ({inner}) AS f
        ) AS picked
        WHERE newest = 1
    """
    return sql, list(params)


def _split(actor: Actor, customers, staff) -> dict[int, int]:
    """Customers per sender (the preview's split), counted by the database."""
    sql, params = sender_per_customer(actor, customers, staff, MAX_RECIPIENTS)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT staff_id, COUNT(*) FROM ({sql}) AS chosen GROUP BY staff_id", params)
        return dict(cursor.fetchall())


# -- preview and create ----------------------------------------------------------------------------------
def mass_send_preview(
    actor: Actor, *, audience: dict, staff_ids: list[int] = (), department_ids: list[int] = (), send_at: datetime | None = None, top: int = 20
) -> dict:
    """What a send would do now: the audience, those the budget leaves out and why, those no
    allowed sender follows, and the split per staff member (the largest first)."""
    actor.require_manager()
    audience = audience_clean(actor, audience)
    at = send_at or now()
    policy = budget.policy_for(actor.corp)
    if audience["kind"] == "groups":
        return _group_preview(actor, audience, senders(actor, list(staff_ids), list(department_ids)), policy, at, top)
    customers = audience_customers(actor, audience)
    total = customers.count()
    allowed, skipped = budget.apply(policy, customers, at)
    per_staff = _split(actor, allowed, senders(actor, list(staff_ids), list(department_ids)))
    planned = sum(per_staff.values())
    skipped["no_sender"] = total - planned - sum(skipped.values())
    names = dict(Staff.objects.filter(pk__in=per_staff).values_list("pk", "name"))
    split = sorted(({"staff_id": s, "name": names.get(s, ""), "customers": n} for s, n in per_staff.items()), key=lambda r: (-r["customers"], r["name"]))
    return {
        "audience": total,
        "planned": planned,
        "skipped": skipped,
        "staff": len(per_staff),
        "tasks": sum(-(-n // MAX_RECIPIENTS) for n in per_staff.values()),
        "split": split[:top],
        "quiet_hours": budget.in_quiet_hours(policy, at),
    }


def _group_preview(actor: Actor, audience: dict, staff, policy, at: datetime, top: int) -> dict:
    groups = audience_groups(actor, audience, staff)
    total = groups.count()
    allowed, skipped = budget.apply_groups(policy, groups, at)
    per_owner = dict(allowed.values_list("owner_id").annotate(n=Count("id")))
    names = dict(Staff.objects.filter(pk__in=per_owner).values_list("pk", "name"))
    split = sorted(({"staff_id": s, "name": names.get(s, ""), "customers": n} for s, n in per_owner.items()), key=lambda r: (-r["customers"], r["name"]))
    return {
        "audience": total,
        "planned": sum(per_owner.values()),
        "skipped": skipped,
        "staff": len(per_owner),
        "tasks": sum(-(-n // MAX_GROUPS) for n in per_owner.values()),
        "split": split[:top],
        "quiet_hours": budget.in_quiet_hours(policy, at),
    }


def mass_send_create(
    *,
    actor: Actor,
    name: str,
    audience: dict,
    text: str = "",
    attachments: list[dict] = (),
    staff_ids: list[int] = (),
    department_ids: list[int] = (),
    send_at: datetime | None = None,
    chat_type: str = MassSend.ChatType.CUSTOMERS,
) -> MassSend:
    """Save a send to customers (or, with chat_type "group", to customer groups through their
    owners); it is planned and handed to WeCom at `send_at` (now when not given)."""
    actor.require_manager()
    name = text_within((name or "").strip(), 64, "name")
    if not name:
        raise InvalidInput(_("A mass send needs a name."), code="bad_name", field="name")
    text, attachments = content_clean(actor.corp, text=text, attachments=list(attachments), required=True)
    if chat_type not in MassSend.ChatType.values:
        raise InvalidInput(_("A mass send goes to customers or to groups."), code="bad_chat_type", field="chat_type")
    audience = audience_clean(actor, audience)
    if (audience["kind"] == "groups") != (chat_type == MassSend.ChatType.GROUPS):
        raise InvalidInput(_("A group send's audience is groups, and only a group send's is."), code="bad_audience", field="audience.kind")
    staff_ids, department_ids = sorted(set(staff_ids)), sorted(set(department_ids))
    allowed_senders = senders(actor, staff_ids, department_ids)
    stamp = now()
    if send_at is not None and send_at < stamp - timedelta(minutes=1):
        raise InvalidInput(_("The send time has passed."), code="send_at_past", field="send_at")
    at = send_at if send_at is not None and send_at > stamp else stamp
    budget.refuse_quiet_hours(budget.policy_for(actor.corp), at)
    empty = not audience_groups(actor, audience, allowed_senders).exists() if audience["kind"] == "groups" else not audience_customers(actor, audience).exists()
    if empty:
        raise InvalidInput(_("No customer is in this audience."), code="empty_audience", field="audience")
    send = MassSend.objects.create(
        corp=actor.corp,
        name=name,
        chat_type=chat_type,
        text=text,
        attachments=attachments,
        audience=audience,
        staff_ids=staff_ids,
        department_ids=department_ids,
        send_at=at,
        due_at=at,
        created_by=actor.user,
    )
    MASS_SEND_PLAN.enqueue(send.pk, at=at)
    return send


# -- planning ------------------------------------------------------------------------------------------
def mass_send_plan(send_pk: int) -> str:
    return MASS_SEND_PLAN.run(send_pk, _plan)


def _plan(claim) -> str:
    send = MassSend.objects.select_related("corp", "created_by").get(pk=claim.pk)
    actor = Actor(user=send.created_by, corp=send.corp, role="admin")
    stamp = now()
    if send.chat_type == MassSend.ChatType.GROUPS:
        return _plan_groups(claim, send, actor, stamp)
    with transaction.atomic():
        bulk_memory()
        customers = audience_customers(actor, send.audience)
        total = customers.count()
        # A retried planning (its worker died) starts from nothing: the transaction wrote nothing.
        allowed, skipped = budget.apply(budget.policy_for(send.corp), customers, stamp, exclude_send_id=send.pk)
        chosen, params = sender_per_customer(actor, allowed, senders(actor, send.staff_ids, send.department_ids), MAX_RECIPIENTS)
        tasks = _plan_write(send, chosen, params, stamp)
        MASS_TASK_CREATE.enqueue_many(tasks)
        counts = dict(MassSendTask.objects.filter(send=send).values_list("pk", "recipients"))
        planned = sum(counts.values())
        skipped["no_sender"] = total - planned - sum(skipped.values())
        MassSend.objects.filter(pk=send.pk).update(audience_total=total, planned=planned, skipped=skipped, tasks_total=len(tasks))
        # Cancelled meanwhile, the send is no longer ours to finish: its tasks cancel themselves.
        if claim.finish() and not tasks:
            MassSend.objects.filter(pk=send.pk).update(status=Status.CLOSED, closes_at=stamp)
    return f"{planned} customers, {len(tasks)} tasks"


def _plan_groups(claim, send: MassSend, actor: Actor, stamp: datetime) -> str:
    with transaction.atomic():
        groups = audience_groups(actor, send.audience, senders(actor, send.staff_ids, send.department_ids))
        total = groups.count()
        allowed, skipped = budget.apply_groups(budget.policy_for(send.corp), groups, stamp, exclude_send_id=send.pk)
        tasks: dict[tuple[int, int], MassSendTask] = {}
        counts: dict[int, int] = {}
        rows: list[GroupDelivery] = []
        for group_id, chat_id, owner_id in allowed.order_by("owner_id", "id").values_list("id", "chat_id", "owner_id"):
            n = counts.get(owner_id, 0)
            counts[owner_id] = n + 1
            key = (owner_id, n // MAX_GROUPS)
            task = tasks.get(key)
            if task is None:
                task = tasks[key] = MassSendTask.objects.create(corp=send.corp, send=send, staff_id=owner_id, part=key[1], due_at=stamp)
            task.recipients += 1
            rows.append(GroupDelivery(corp=send.corp, group_id=group_id, send=send, task=task, staff_id=owner_id, chat_id=chat_id, planned_at=stamp))
        GroupDelivery.objects.bulk_create(rows, batch_size=WRITE_BATCH)
        for task in tasks.values():
            MassSendTask.objects.filter(pk=task.pk).update(recipients=task.recipients)
        MASS_TASK_CREATE.enqueue_many([task.pk for task in tasks.values()])
        planned = sum(counts.values())
        MassSend.objects.filter(pk=send.pk).update(audience_total=total, planned=planned, skipped=skipped, tasks_total=len(tasks))
        if claim.finish() and not tasks:
            MassSend.objects.filter(pk=send.pk).update(status=Status.CLOSED, closes_at=stamp)
    return f"{planned} groups, {len(tasks)} tasks"


def _recipients(task: MassSendTask):
    """A task's recipients, as WeCom names them: customers' external_userids, or groups' chat ids."""
    if task.send.chat_type == MassSend.ChatType.GROUPS:
        return task.group_deliveries, "chat_id"
    return task.deliveries, "external_userid"


def _plan_write(send: MassSend, chosen: str, params: list, stamp: datetime) -> list[int]:
    """The send's tasks and deliveries from the chosen customers, written by the database itself
    (INSERT … SELECT): no row passes through Python, so a 3-million-customer send plans in the
    time the database takes and in flat memory. The choice is made once, into a temporary table
    both inserts read. Returns the tasks' ids."""
    task, delivery = MassSendTask._meta.db_table, Delivery._meta.db_table
    at = connection.ops.adapt_datetimefield_value(stamp)
    empty_list = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"
    with scratch_table(f"siyu_plan_{int(send.pk)}", chosen, params) as scratch, connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {task} (corp_id, send_id, staff_id, part, recipients, status, due_at, attempts, error, task_id, msgid, reminded_at)
                SELECT %s, %s, staff_id, part, COUNT(*), %s, %s, 0, '', '', '', {empty_list} FROM {scratch} GROUP BY staff_id, part""",
            [send.corp_id, send.pk, TaskStatus.DUE, at, "[]"],
        )
        cursor.execute(
            f"""INSERT INTO {delivery} (corp_id, customer_id, send_id, task_id, staff_id, external_userid, planned_at, status)
                SELECT %s, chosen.customer_id, %s, t.id, chosen.staff_id, chosen.external_userid, %s, %s
                FROM {scratch} AS chosen JOIN {task} t ON t.send_id = %s AND t.staff_id = chosen.staff_id AND t.part = chosen.part
                ORDER BY chosen.customer_id""",  # in the order of the customer index the rows go into
            [send.corp_id, send.pk, at, Delivery.Status.PLANNED, send.pk],
        )
    return list(MassSendTask.objects.filter(send=send).values_list("pk", flat=True))


# -- creating WeCom's tasks ---------------------------------------------------------------------------------
def mass_send_task_create(task_pk: int, client: WeComClient | None = None) -> str:
    return MASS_TASK_CREATE.run(task_pk, lambda claim: _create_in_wecom(claim, client))


def _create_in_wecom(claim, client: WeComClient | None) -> str:
    task = MassSendTask.objects.select_related("send__corp", "staff").get(pk=claim.pk)
    send = task.send
    if send.status in (Status.CANCELLING, Status.CANCELLED):
        _task_settle(claim, task, status=TaskStatus.CANCELLED)
        return "cancelled"
    client = client or WeComClient(send.corp)
    rows, key = _recipients(task)
    recipients = list(rows.order_by("id").values_list(key, flat=True))
    if task.attempted_at is not None:
        adopted = _find_created(client, task, recipients)
        if adopted:
            _task_created(claim, task, msgid=adopted, fail_list=[])
            return "adopted"
    MassSendTask.objects.filter(pk=task.pk).update(attempted_at=now())  # before the call, committed
    try:
        attachments = attachments_for_wecom(send.corp, send.attachments, client, link=LinkSource(task.staff_id, f"m{send.pk}"))
        if send.chat_type == MassSend.ChatType.GROUPS:
            answer = client.add_msg_template(chat_type="group", sender=task.staff.userid, chat_ids=recipients, text=send.text, attachments=attachments)
        else:
            answer = client.add_msg_template(sender=task.staff.userid, external_userids=recipients, text=send.text, attachments=attachments)
    except WeComError as exc:
        if exc.errcode in SENDER_GONE:
            # This member cannot take tasks; the others go on.
            _task_settle(claim, task, status=TaskStatus.FAILED, error=f"{exc.errcode}: {exc.errmsg}"[:300], failed=True)
            return "sender gone"
        raise  # busy, rate-limited: retried later, and looked for first
    _task_created(claim, task, msgid=answer["msgid"], fail_list=answer["fail_list"])
    return "created"


def _find_created(client: WeComClient, task: MassSendTask, recipients: list[str]) -> str:
    """The msgid of a task an earlier attempt made in WeCom, if any: sent by this member since the
    attempt, not another task's, and holding this task's first recipient."""
    start = int(task.attempted_at.timestamp()) - 60
    taken = set(MassSendTask.objects.filter(corp=task.corp).exclude(msgid="").values_list("msgid", flat=True))
    _rows, key = _recipients(task)
    listed = client.iter_groupmsg_list(
        start_time=start, end_time=int(now().timestamp()) + 60, chat_type=task.send.chat_type, creator=task.staff.userid, filter_type=0
    )
    for page, _cursor in listed:
        for message in page:
            if message["msgid"] in taken or message.get("creator") != task.staff.userid:
                continue
            first_page = next(iter(client.iter_groupmsg_send_result(message["msgid"], task.staff.userid, limit=1000)), ([], ""))[0]
            if not recipients or recipients[0] in {r.get(key) for r in first_page}:
                return message["msgid"]
    return ""


def _task_created(claim, task: MassSendTask, *, msgid: str, fail_list: list[str]) -> None:
    stamp = now()
    with transaction.atomic():
        if not claim.finish(msgid=msgid, created_at=stamp, error=""):
            return
        if fail_list:
            rows, key = _recipients(task)
            rows.filter(**{f"{key}__in": fail_list}).update(status=Delivery.Status.NOT_FRIEND)
        # One more, not a count: counting 10,000 tasks at each of 10,000 creations would not scale.
        MassSend.objects.filter(pk=task.send_id).update(tasks_created=F("tasks_created") + 1)
        created, status = MassSend.objects.filter(pk=task.send_id).values_list("tasks_created", "status").get()
        if created == 1:  # the send's first task: its pulls start (the row is locked until commit)
            _pull_schedule(task.send_id, stamp + PULL_AFTER[0])
        cancelling = status == Status.CANCELLING
    if cancelling:
        enqueue_after_commit("siyu.messaging.tasks.cancel_mass_send", task.send_id)


def _task_settle(claim, task: MassSendTask, *, status: str, error: str = "", failed: bool = False) -> None:
    with transaction.atomic():
        claim.finish(status=status, error=error, due_at=None)
        _recipients(task)[0].filter(status=Delivery.Status.PLANNED).update(status=Delivery.Status.UNSENT)
        if failed:
            MassSend.objects.filter(pk=task.send_id).update(tasks_failed=MassSendTask.objects.filter(FAILED_FOR_GOOD, send_id=task.send_id).count())


# A failed task waiting for its retry has a due time; one that failed for good has none.
FAILED_FOR_GOOD = Q(status=TaskStatus.FAILED, due_at__isnull=True)


# -- results ---------------------------------------------------------------------------------------------
def _pull_schedule(send_id: int, at: datetime) -> None:
    MassSend.objects.filter(pk=send_id).exclude(pull_status="pulling").update(pull_status="due", pull_due_at=at, pull_attempts=0)
    MASS_SEND_PULL.enqueue(send_id, at=at)


WECOM_RESULT = {0: Delivery.Status.PLANNED, 1: Delivery.Status.SENT, 2: Delivery.Status.NOT_FRIEND, 3: Delivery.Status.OVER_CAP}


def mass_send_pull(send_pk: int, client: WeComClient | None = None) -> str:
    return MASS_SEND_PULL.run(send_pk, lambda claim: _pull(claim, client))


def _pull(claim, client: WeComClient | None) -> str:
    send = MassSend.objects.select_related("corp").get(pk=claim.pk)
    client = client or WeComClient(send.corp)
    open_tasks = list(send.tasks.filter(status=TaskStatus.CREATED).select_related("staff", "send"))
    by_msgid: dict[str, list[MassSendTask]] = {}
    for task in open_tasks:
        by_msgid.setdefault(task.msgid, []).append(task)
    for msgid, tasks in by_msgid.items():
        members = {row["userid"]: row for row in client.groupmsg_tasks(msgid)}
        for task in tasks:
            member = members.get(task.staff.userid)
            if member is None or member.get("status") != 2:
                # Not sent yet: every recipient is still "not sent" in WeCom, so their pages (a
                # call per 1,000) would say nothing new. Pulled once, when the member has sent.
                continue
            results = {}
            key = _recipients(task)[1]
            for page, _cursor in client.iter_groupmsg_send_result(msgid, task.staff.userid):
                for row in page:
                    results[row.get(key, "")] = (WECOM_RESULT.get(row.get("status"), Delivery.Status.PLANNED), row.get("send_time") or 0)
            _task_results(task, sent=member.get("status") == 2, send_time=member.get("send_time") or 0, results=results)
    stamp = now()
    first_created = send.tasks.exclude(created_at=None).order_by("created_at").values_list("created_at", flat=True).first() or stamp
    closes_at = first_created + CLOSE_AFTER
    still_open = send.tasks.filter(status__in=(TaskStatus.DUE, TaskStatus.CREATING, TaskStatus.CREATED)).exists()
    with transaction.atomic():
        counters = _counters(send.pk)
        if send.status != Status.SENDING:
            claim.finish(status="done", pulls=send.pulls + 1, pulled_at=stamp, **counters)
            return "over"
        if not still_open or stamp >= closes_at:
            send.deliveries.filter(status=Delivery.Status.PLANNED).update(status=Delivery.Status.UNSENT)
            send.group_deliveries.filter(status=Delivery.Status.PLANNED).update(status=Delivery.Status.UNSENT)
            counters = _counters(send.pk)
            claim.finish(status="done", pulls=send.pulls + 1, pulled_at=stamp, closes_at=closes_at, **counters)
            MassSend.objects.filter(pk=send.pk, status=Status.SENDING).update(status=Status.CLOSED)
            return "closed"
        at = next_pull(first_created, stamp, closes_at)
        claim.finish(status="due", pull_due_at=at, pulls=send.pulls + 1, pulled_at=stamp, closes_at=closes_at, **counters)
        MASS_SEND_PULL.enqueue(send.pk, at=at)
    return "pulled"


def _task_results(task: MassSendTask, *, sent: bool, send_time: int, results: dict[str, tuple[str, int]]) -> None:
    with transaction.atomic():
        by_status: dict[tuple[str, int], list[str]] = {}
        for external, (status, at) in results.items():
            by_status.setdefault((status, at), []).append(external)
        rows, key = _recipients(task)
        for (status, at), externals in by_status.items():
            sent_at = datetime.fromtimestamp(at, tz=now().tzinfo) if at else None
            for start in range(0, len(externals), 2000):
                rows.filter(**{f"{key}__in": externals[start : start + 2000]}).exclude(status=status).update(status=status, sent_at=sent_at)
        if sent:
            MassSendTask.objects.filter(pk=task.pk, status=TaskStatus.CREATED).update(
                status=TaskStatus.SENT, sent_at=datetime.fromtimestamp(send_time, tz=now().tzinfo) if send_time else now()
            )


def _counters(send_pk: int) -> dict:
    tasks = dict(MassSendTask.objects.filter(send_id=send_pk).values_list("status").annotate(n=Count("id")))
    tasks[TaskStatus.FAILED] = MassSendTask.objects.filter(FAILED_FOR_GOOD, send_id=send_pk).count()
    deliveries = dict(Delivery.objects.filter(send_id=send_pk).values_list("status").annotate(n=Count("id")))
    for status, n in GroupDelivery.objects.filter(send_id=send_pk).values_list("status").annotate(n=Count("id")):
        deliveries[status] = deliveries.get(status, 0) + n
    return {
        "tasks_created": tasks.get(TaskStatus.CREATED, 0) + tasks.get(TaskStatus.SENT, 0),
        "tasks_sent": tasks.get(TaskStatus.SENT, 0),
        "tasks_failed": tasks.get(TaskStatus.FAILED, 0),
        "sent": deliveries.get(Delivery.Status.SENT, 0),
        "not_friend": deliveries.get(Delivery.Status.NOT_FRIEND, 0),
        "over_cap": deliveries.get(Delivery.Status.OVER_CAP, 0),
    }


# -- cancel and remind -----------------------------------------------------------------------------------
def mass_send_cancel(*, actor: Actor, send: MassSend) -> MassSend:
    """Stop a send: not yet planned, it simply ends; otherwise WeCom is told for every task a
    member has not sent (a task, after commit). What was sent stays sent."""
    actor.require_manager()
    if send.status in (Status.CLOSED, Status.CANCELLED, Status.FAILED):
        raise Conflict(_("This send is over; there is nothing to cancel."), code="send_over", field="status")
    if send.status == Status.SCHEDULED and MassSend.objects.filter(pk=send.pk, status=Status.SCHEDULED).update(status=Status.CANCELLED):
        pass  # never planned: nothing reached WeCom
    else:
        MassSend.objects.filter(pk=send.pk).update(status=Status.CANCELLING)
        enqueue_after_commit("siyu.messaging.tasks.cancel_mass_send", send.pk)
    send.refresh_from_db()
    return send


def mass_send_cancel_in_wecom(send_pk: int, client: WeComClient | None = None) -> str:
    send = MassSend.objects.select_related("corp").get(pk=send_pk)
    client = client or WeComClient(send.corp)
    # Tasks not yet made in WeCom end here; one being made cancels itself once made (_task_created).
    MassSendTask.objects.filter(send=send, status=TaskStatus.DUE).update(status=TaskStatus.CANCELLED)
    cancelled = 0
    for task in send.tasks.filter(status=TaskStatus.CREATED):
        try:
            client.cancel_groupmsg_send(task.msgid)
        except WeComError as exc:
            log.warning("cancel of %s failed: %s", task.msgid, exc)
            continue
        MassSendTask.objects.filter(pk=task.pk, status=TaskStatus.CREATED).update(status=TaskStatus.CANCELLED)
        cancelled += 1
    busy = send.tasks.filter(status=TaskStatus.CREATING).exists()
    with transaction.atomic():
        Delivery.objects.filter(send=send, status=Delivery.Status.PLANNED, task__status=TaskStatus.CANCELLED).update(status=Delivery.Status.UNSENT)
        GroupDelivery.objects.filter(send=send, status=Delivery.Status.PLANNED, task__status=TaskStatus.CANCELLED).update(status=Delivery.Status.UNSENT)
        if not busy:
            MassSend.objects.filter(pk=send.pk, status=Status.CANCELLING).update(status=Status.CANCELLED, **_counters(send.pk))
    return f"{cancelled} cancelled in WeCom" + (", a task still being created" if busy else "")


def mass_send_remind(*, actor: Actor, send: MassSend) -> None:
    actor.require_manager()
    if send.status != Status.SENDING:
        raise Conflict(_("Only a send waiting for staff can be reminded."), code="send_not_waiting", field="status")
    enqueue_after_commit("siyu.messaging.tasks.remind_mass_send", send.pk)


REMINDS_PER_DAY = 3


def mass_send_remind_in_wecom(send_pk: int, client: WeComClient | None = None) -> dict:
    """Remind every member who has not sent: WeCom's own reminder while it allows (3 in 24 hours),
    then a card from the corp's app linking to the send."""
    send = MassSend.objects.select_related("corp").get(pk=send_pk)
    client = client or WeComClient(send.corp)
    stamp = now()
    outcome = {"reminded": 0, "app_message": 0, "skipped": 0}
    for task in send.tasks.filter(status=TaskStatus.CREATED).select_related("staff"):
        recent = [t for t in task.reminded_at if datetime.fromisoformat(t) > stamp - timedelta(hours=24)]
        if len(recent) < REMINDS_PER_DAY:
            try:
                client.remind_groupmsg_send(task.msgid)
            except WeComError as exc:
                if exc.errcode != 45009:
                    raise
                recent = recent + [stamp.isoformat()] * REMINDS_PER_DAY  # WeCom's count says the day's reminders are spent
            else:
                MassSendTask.objects.filter(pk=task.pk).update(reminded_at=[*recent, stamp.isoformat()])
                outcome["reminded"] += 1
                continue
        if send.corp.agent_id and (task.app_reminded_at is None or task.app_reminded_at < stamp - timedelta(hours=24)):
            client.app_textcard(
                agentid=send.corp.agent_id,
                userids=[task.staff.userid],
                title=_("A mass send is waiting for you"),
                description=_("“%(name)s” to %(n)d of your customers: open 群发助手 in WeCom and send it.") % {"name": send.name, "n": task.recipients},
                url=f"{settings.SIYU_PUBLIC_URL}/mass-sends/{send.pk}/",
            )
            MassSendTask.objects.filter(pk=task.pk).update(app_reminded_at=stamp)
            outcome["app_message"] += 1
        else:
            outcome["skipped"] += 1
    return outcome


# -- sweeps ------------------------------------------------------------------------------------------------
def mass_sends_sweep(older_than: timedelta) -> int:
    """Stale planning, task creation and result pulls given back to the queue; how many."""
    return sum(work.sweep(older_than=older_than) for work in (MASS_SEND_PLAN, MASS_TASK_CREATE, MASS_SEND_PULL))


# -- what staff send on their own ---------------------------------------------------------------------------
MIRROR_WINDOW = timedelta(days=3)


def staff_sends_mirror(corp_pk: int, client: WeComClient | None = None) -> int:
    """Mirror the mass sends staff made themselves in the last days (to customers and groups):
    new ones are added, known ones left alone. Returns how many were new."""
    corp = Corp.objects.get(pk=corp_pk)
    client = client or WeComClient(corp)
    stamp = now()
    start, end = int((stamp - MIRROR_WINDOW).timestamp()), int(stamp.timestamp())
    staff = dict(Staff.objects.filter(corp=corp).values_list("userid", "pk"))
    rows = []
    for chat_type in ("single", "group"):
        for page, _cursor in client.iter_groupmsg_list(start_time=start, end_time=end, chat_type=chat_type, filter_type=1, limit=100):
            for message in page:
                rows.append(
                    StaffSend(
                        corp=corp,
                        msgid=message["msgid"],
                        creator=message.get("creator", ""),
                        staff_id=staff.get(message.get("creator", "")),
                        chat_type=chat_type,
                        text=((message.get("text") or {}).get("content") or "")[:500],
                        attachments=len(message.get("attachments") or []),
                        created_at=datetime.fromtimestamp(int(message.get("create_time") or end), tz=stamp.tzinfo),
                    )
                )
    before = StaffSend.objects.filter(corp=corp).count()
    StaffSend.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return StaffSend.objects.filter(corp=corp).count() - before


def staff_sends_mirror_due() -> int:
    """Hourly: every corp that can call WeCom gets its mirror task."""
    corps = list(Corp.objects.exclude(secret_encrypted="").values_list("pk", flat=True))
    for pk in corps:
        enqueue_after_commit("siyu.messaging.tasks.mirror_staff_sends", pk)
    return len(corps)
