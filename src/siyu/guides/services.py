"""Guide tasks (导购任务): HQ's task becomes each guide's to-do list; the guides are told by an app
message at the chosen hour, reminded before the deadline, their store manager told after it; a
customer is done when the guide does what was asked, after the task started.

The lifecycle, each step due work (kit.due):
1. `guide_task_create` checks the task and saves it, due at `starts_at`.
2. Assignment (`ASSIGN`), at that time: the audience as it is then, each customer given to one
   guide (the same choice as a mass send's sender: the newest follow among the allowed staff),
   written as one `GuideAssignment` per guide and one `GuideTaskItem` per customer by the database
   itself, in one transaction.
3. The notice (`NOTIFY`) at `notify_at`: one app card per 1,000 guides (message/send takes a
   thousand userids), linking to the guide's task page.
4. Reminders (`REMIND`): a day before the deadline (or half way, for a shorter task) the guides
   still short of the target, once; at the deadline their store manager (the department's leader),
   once; a week after the deadline the task closes.
Completion comes from what the guide does: a follow-up note (revisit), the content sent from the
sidebar or marked sent (send), one of the task's tags on their follow, from Siyu or from WeCom
(tag), WeCom's result for the customer in the task's own mass send, made at the start and
confirmed by the guide in WeCom's mass-send assistant (mass_send). Two kinds are not about single
customers: a group send's items are the guide's groups, done when WeCom reports the group send
sent in each (group_send); a moment's is the guide's one post, done when WeCom reports it
published (moment). Only what happens after `starts_at` counts.

Functions that call WeCom never run inside a database transaction.
"""

from __future__ import annotations

import math
from datetime import datetime, time, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Sum
from django.utils import translation
from django.utils.translation import gettext as _

from siyu.corps.models import Staff
from siyu.customers.models import Customer, Follow, FollowTag
from siyu.customers.services import timeline_record
from siyu.kit.clock import now
from siyu.kit.db import scratch_table
from siyu.kit.due import DueWork, exponential
from siyu.kit.errors import Conflict, InvalidInput
from siyu.kit.queue import enqueue_after_commit
from siyu.kit.schema import text_within
from siyu.kit.tenancy import Actor
from siyu.messaging import budget
from siyu.messaging.content import content_clean
from siyu.messaging.mass_sends import audience_clean, audience_customers, audience_groups, mass_send_create, sender_per_customer, senders
from siyu.messaging.models import Delivery, GroupDelivery, MassSend, MomentExecutor
from siyu.messaging.moments import moment_content_clean, moment_create
from siyu.tags.models import Tag
from siyu.tags.selectors import resolve_tags
from siyu.wecom.client import WeComClient

from .models import GuideAssignment, GuideContact, GuideTask, GuideTaskItem
from .quick_replies import chat_content_clean, contact_record

Status = GuideTask.Status
Kind = GuideTask.Kind
Item = GuideTaskItem.Status

TAGGED_INLINE = 50  # follows tagged at once that complete items in the request; more go to the worker
CARD_USERS = 1000  # message/send's touser holds at most 1,000 members
REMIND_BEFORE = timedelta(hours=24)
CLOSE_AFTER = timedelta(days=7)

ASSIGN = DueWork(
    "guide task assignment",
    GuideTask,
    task="siyu.guides.tasks.assign_guide_task",
    waiting=(Status.SCHEDULED,),
    running=Status.ASSIGNING,
    done=Status.ACTIVE,
    failed=Status.FAILED,
    lease=timedelta(minutes=30),
    max_attempts=3,
)


def _messages(name: str, task: str, prefix: str) -> DueWork:
    return DueWork(
        name,
        GuideTask,
        task=task,
        waiting=("due",),
        running="sending",
        done="done",
        failed="failed",
        prefix=prefix,
        lease=timedelta(minutes=10),
        max_attempts=6,
        backoff=exponential(60, 3600),
    )


NOTIFY = _messages("guide task notice", "siyu.guides.tasks.notify_guides", "notify_")
REMIND = _messages("guide task reminders", "siyu.guides.tasks.remind_guides", "remind_")


# -- creating ---------------------------------------------------------------------------------------------
def notify_time(corp, starts_at: datetime, hour: int | None) -> datetime:
    """When the guides are told: at the start, or at the first `hour` o'clock (corp time) from it."""
    if hour is None:
        return starts_at
    local = starts_at.astimezone(corp.tzinfo)
    at = datetime.combine(local.date(), time(hour), tzinfo=corp.tzinfo)
    return at if at >= local else at + timedelta(days=1)


def guide_task_create(
    *,
    actor: Actor,
    name: str,
    kind: str,
    audience: dict | None,
    ends_at: datetime | None,
    instructions: str = "",
    text: str = "",
    attachments: list[dict] = (),
    tag_ids: list[int] = (),
    staff_ids: list[int] = (),
    department_ids: list[int] = (),
    starts_at: datetime | None = None,
    notify_hour: int | None = None,
    target: int = 100,
) -> GuideTask:
    """Save a task for the guides; it is assigned at `starts_at` (now when not given). A moment
    task has no audience: each guide posts once, seen by their customers (with one of `tag_ids`,
    when given)."""
    actor.require_manager()
    name = text_within((name or "").strip(), 64, "name")
    if not name:
        raise InvalidInput(_("A task needs a name."), code="bad_name", field="name")
    if kind not in Kind.values:
        raise InvalidInput(_("A task is one of %(value)s.") % {"value": ", ".join(Kind.values)}, code="bad_kind", field="kind")
    instructions = text_within((instructions or "").strip(), 500, "instructions")
    if kind == Kind.SEND:  # guides put it into chats from the sidebar
        text, attachments = chat_content_clean(actor.corp, text=text, attachments=list(attachments))
    elif kind == Kind.MOMENT:  # WeCom's rules for a moment
        text, attachments = moment_content_clean(actor.corp, text=text, attachments=list(attachments))
    else:  # a mass-send task's content goes to WeCom as the send's
        text, attachments = content_clean(actor.corp, text=text, attachments=list(attachments), required=kind in (Kind.MASS_SEND, Kind.GROUP_SEND))
    tags = sorted(set(tag_ids))
    if kind == Kind.TAG:
        known = set(Tag.objects.for_corp(actor.corp).filter(pk__in=tags, deleted_at__isnull=True).values_list("pk", flat=True))
        if not tags or set(tags) - known:
            raise InvalidInput(_("Choose the tags the guides are to add (this corp's)."), code="bad_tags", field="tag_ids")
    elif kind == Kind.MOMENT:
        tags = [t.id for t in resolve_tags(actor, tags, "tag_ids")]
    else:
        tags = []
    if not isinstance(target, int) or isinstance(target, bool) or not 1 <= target <= 100:
        raise InvalidInput(_("The target is 1 to 100 (%)."), code="bad_target", field="target")
    if notify_hour is not None and (not isinstance(notify_hour, int) or not 0 <= notify_hour <= 23):
        raise InvalidInput(_("The notice hour is 0 to 23."), code="bad_notify_hour", field="notify_hour")
    if kind == Kind.MOMENT:
        if audience:
            raise InvalidInput(
                _("A moment task has no audience: each guide's customers see the post (narrow it with tags)."), code="bad_audience", field="audience.kind"
            )
        audience = {}
    else:
        audience = audience_clean(actor, audience)
        if (audience["kind"] == "groups") != (kind == Kind.GROUP_SEND):
            raise InvalidInput(_("A group-send task is for groups, and every other task for customers."), code="bad_audience", field="audience.kind")
    staff_ids, department_ids = sorted(set(staff_ids)), sorted(set(department_ids))
    guides = senders(actor, staff_ids, department_ids)  # unknown staff or departments: refused now
    stamp = now()
    if starts_at is not None and starts_at < stamp - timedelta(minutes=1):
        raise InvalidInput(_("The start has passed."), code="starts_at_past", field="starts_at")
    starts = starts_at if starts_at is not None and starts_at > stamp else stamp
    if ends_at is None:
        raise InvalidInput(_("A task needs a deadline."), code="ends_at_missing", field="ends_at")
    if ends_at <= starts:
        raise InvalidInput(_("The deadline must come after the start."), code="ends_at_past", field="ends_at")
    if kind in (Kind.MASS_SEND, Kind.GROUP_SEND):
        # The send is made at the start, so the start must be a time a send may go out.
        budget.refuse_quiet_hours(budget.policy_for(actor.corp), starts, field="starts_at")
    notify_at = notify_time(actor.corp, starts, notify_hour)
    if notify_at >= ends_at:
        raise InvalidInput(_("The guides would be told after the deadline: choose an earlier hour."), code="bad_notify_hour", field="notify_hour")
    if kind == Kind.MOMENT:
        if not guides.exists():
            raise InvalidInput(_("No staff member would publish it."), code="no_executors", field="staff_ids")
    elif kind == Kind.GROUP_SEND:
        if not audience_groups(actor, audience, guides).exists():
            raise InvalidInput(_("None of these guides owns a group in this audience."), code="empty_audience", field="audience")
    elif not audience_customers(actor, audience).exists():
        raise InvalidInput(_("No customer is in this audience."), code="empty_audience", field="audience")
    task = GuideTask.objects.create(
        corp=actor.corp,
        name=name,
        kind=kind,
        instructions=instructions,
        text=text,
        attachments=attachments,
        tag_ids=tags,
        audience=audience,
        staff_ids=staff_ids,
        department_ids=department_ids,
        starts_at=starts,
        notify_at=notify_at,
        ends_at=ends_at,
        target=target,
        due_at=starts,
        created_by=actor.user,
    )
    ASSIGN.enqueue(task.pk, at=starts)
    return task


# -- assigning --------------------------------------------------------------------------------------------
def guide_task_assign(task_pk: int) -> str:
    return ASSIGN.run(task_pk, _assign)


def _assign(claim) -> str:
    task = GuideTask.objects.select_related("corp", "created_by").get(pk=claim.pk)
    actor = Actor(user=task.created_by, corp=task.corp, role="admin")
    assignment, item = GuideAssignment._meta.db_table, GuideTaskItem._meta.db_table
    with transaction.atomic():
        # A retried assignment (its worker died) starts from nothing: the transaction wrote nothing.
        chosen, params, column = _chosen(actor, task)
        columns, values = (f", {column}", f", chosen.{column}") if column else ("", "")
        with scratch_table(f"siyu_guide_{int(task.pk)}", chosen, params) as scratch, connection.cursor() as cursor:
            cursor.execute(
                f"""INSERT INTO {assignment} (corp_id, task_id, staff_id, items_total, items_done)
                    SELECT %s, %s, staff_id, COUNT(*), 0 FROM {scratch} GROUP BY staff_id""",
                [task.corp_id, task.pk],
            )
            cursor.execute(
                f"""INSERT INTO {item} (corp_id, task_id, assignment_id, staff_id{columns}, status, how)
                    SELECT %s, %s, a.id, chosen.staff_id{values}, %s, ''
                    FROM {scratch} AS chosen JOIN {assignment} a ON a.task_id = %s AND a.staff_id = chosen.staff_id""",
                [task.corp_id, task.pk, Item.OPEN, task.pk],
            )
        totals = GuideAssignment.objects.filter(task=task).aggregate(guides=Count("id"), items=Sum("items_total"))
        guides, items = totals["guides"], totals["items"] or 0
        if not claim.finish(guides_total=guides, items_total=items):
            return "cancelled"
        if guides:
            NOTIFY.schedule(task.pk, at=task.notify_at)
            REMIND.schedule(task.pk, at=reminder_time(task))
            if task.kind in (Kind.MASS_SEND, Kind.GROUP_SEND):
                _mass_send(actor, task)
            elif task.kind == Kind.MOMENT:
                _moment(actor, task)
        else:
            GuideTask.objects.filter(pk=task.pk).update(status=Status.CLOSED)
    return f"{items} {task.unit}, {guides} guides"


def _chosen(actor: Actor, task: GuideTask) -> tuple[str, list, str]:
    """SQL for the task's items, (staff_id[, what]) rows, and the item column `what` fills: each
    customer with the guide who gets them, each group with its owner, or each guide alone (their
    one post)."""
    guides = senders(actor, task.staff_ids, task.department_ids)
    if task.kind == Kind.MOMENT:
        sql, params = guides.annotate(staff_id=F("id")).values("staff_id").query.sql_with_params()
        return sql, list(params), ""
    if task.kind == Kind.GROUP_SEND:
        groups = audience_groups(actor, task.audience, guides).annotate(staff_id=F("owner_id"), group_id=F("id")).values("staff_id", "group_id")
        sql, params = groups.query.sql_with_params()
        return sql, list(params), "group_id"
    sql, params = sender_per_customer(actor, audience_customers(actor, task.audience), guides, 1)
    return sql, params, "customer_id"


def reminder_time(task: GuideTask) -> datetime:
    """The guides' reminder: a day before the deadline, or half way for a task shorter than two days."""
    length = task.ends_at - task.notify_at
    return task.ends_at - REMIND_BEFORE if length >= 2 * REMIND_BEFORE else task.notify_at + length / 2


# -- telling the guides -----------------------------------------------------------------------------------
def signin_url(corp, path: str) -> str:
    """A card's link: through WeCom's sign-in (silent in the client) to a page of Siyu's."""
    return f"{settings.SIYU_PUBLIC_URL}/login/wecom/{corp.corp_id}/?" + urlencode({"next": path})


def task_url(task: GuideTask) -> str:
    return signin_url(task.corp, f"/my/tasks/{task.pk}/")


def _cards(client: WeComClient, task: GuideTask, userids: list[str], title: str, description: str, url: str) -> None:
    for start in range(0, len(userids), CARD_USERS):
        client.app_textcard(agentid=task.corp.agent_id, userids=userids[start : start + CARD_USERS], title=title, description=description, url=url)


def guide_task_notify(task_pk: int, client: WeComClient | None = None) -> str:
    return NOTIFY.run(task_pk, lambda claim: _notify(claim, client))


def _notify(claim, client: WeComClient | None) -> str:
    task = GuideTask.objects.select_related("corp").get(pk=claim.pk)
    if task.status != Status.ACTIVE:
        return "not active"
    if not task.corp.agent_id:
        claim.finish(status="done", error="the corp has no app (agent_id) to message its guides")
        return "no app"
    waiting = task.assignments.filter(notified_at__isnull=True).select_related("staff")
    rows = list(waiting.values_list("pk", "staff__userid"))
    client = client or WeComClient(task.corp)
    with translation.override("zh-hans"):  # guides read WeCom in Chinese
        title = _("New task: %(name)s") % {"name": task.name}
        description = _("Due %(when)s. %(what)s") % {"when": _local(task, task.ends_at), "what": task.instructions or task.get_kind_display()}
    for start in range(0, len(rows), CARD_USERS):
        chunk = rows[start : start + CARD_USERS]
        _cards(client, task, [userid for _pk, userid in chunk], title, description, task_url(task))
        # Recorded per card: a retry after a failure tells only those not yet told.
        GuideAssignment.objects.filter(pk__in=[pk for pk, _u in chunk]).update(notified_at=now())
    return f"{len(rows)} guides told"


def _local(task: GuideTask, at: datetime) -> str:
    return at.astimezone(task.corp.tzinfo).strftime("%m-%d %H:%M")


def guide_task_remind(task_pk: int, client: WeComClient | None = None) -> str:
    return REMIND.run(task_pk, lambda claim: _remind(claim, client))


def _behind(task: GuideTask):
    """Assignments short of the target."""
    return task.assignments.filter(completed_at__isnull=True)


def _remind(claim, client: WeComClient | None) -> str:
    task = GuideTask.objects.select_related("corp").get(pk=claim.pk)
    stamp = now()
    if task.status != Status.ACTIVE:
        claim.finish(status="done")
        return "not active"
    if stamp >= task.ends_at + CLOSE_AFTER:
        GuideTask.objects.filter(pk=task.pk, status=Status.ACTIVE).update(status=Status.CLOSED)
        claim.finish(status="done")
        return "closed"
    if not task.corp.agent_id:
        client = None  # no app to message from: the steps are recorded, nothing is sent
    else:
        client = client or WeComClient(task.corp)
    if stamp < task.ends_at:
        told = _remind_guides(task, client, stamp)
        claim.finish(status="due", remind_due_at=task.ends_at)
        REMIND.enqueue(task.pk, at=task.ends_at)
        return f"{told} guides reminded"
    told = _escalate(task, client, stamp)
    claim.finish(status="due", remind_due_at=task.ends_at + CLOSE_AFTER)
    REMIND.enqueue(task.pk, at=task.ends_at + CLOSE_AFTER)
    return f"{told} managers told"


def _remind_guides(task: GuideTask, client: WeComClient | None, stamp: datetime) -> int:
    rows = list(_behind(task).filter(reminded_at__isnull=True).values_list("pk", "staff__userid"))
    if client is not None:
        with translation.override("zh-hans"):
            title = _("Reminder: %(name)s") % {"name": task.name}
            waiting = {
                "groups": _("Due %(when)s; some of your groups have not had it yet."),
                "posts": _("Due %(when)s; your moment is not posted yet."),
            }.get(task.unit, _("Due %(when)s; some of your customers are still waiting."))
            description = waiting % {"when": _local(task, task.ends_at)}
        for start in range(0, len(rows), CARD_USERS):
            chunk = rows[start : start + CARD_USERS]
            _cards(client, task, [userid for _pk, userid in chunk], title, description, task_url(task))
            GuideAssignment.objects.filter(pk__in=[pk for pk, _u in chunk]).update(reminded_at=stamp)
    else:
        GuideAssignment.objects.filter(pk__in=[pk for pk, _u in rows]).update(reminded_at=stamp)
    return len(rows)


def _escalate(task: GuideTask, client: WeComClient | None, stamp: datetime) -> int:
    """Each store manager once, with their guides still short of the target."""
    behind = list(_behind(task).filter(escalated_at__isnull=True).values_list("pk", "staff__name", "staff__department_id"))
    by_store: dict[int | None, list[str]] = {}
    for _pk, name, department in behind:
        by_store.setdefault(department, []).append(name)
    managers: dict[int, list[str]] = {}
    for department, userid in Staff.objects.filter(
        corp=task.corp, is_leader=True, status=Staff.Status.ACTIVE, department_id__in=[d for d in by_store if d is not None]
    ).values_list("department_id", "userid"):
        managers.setdefault(department, []).append(userid)
    told = 0
    for department, names in by_store.items():
        userids = managers.get(department, [])
        if client is not None and userids:
            with translation.override("zh-hans"):
                title = _("Behind on a task: %(name)s") % {"name": task.name}
                description = _("%(n)d guides of your store did not finish by the deadline: %(names)s") % {
                    "n": len(names),
                    "names": "、".join(sorted(names)[:20]),
                }
            _cards(client, task, userids, title, description, signin_url(task.corp, f"/guide-tasks/{task.pk}/"))
            told += len(userids)
        ids = [pk for pk, _n, d in behind if d == department]
        GuideAssignment.objects.filter(pk__in=ids).update(escalated_at=stamp)
    return told


# -- HQ's actions -----------------------------------------------------------------------------------------
def guide_task_urge(*, actor: Actor, task: GuideTask) -> int:
    """催办: the task goes first in its guides' lists, and those short of the target get a card now."""
    actor.require_manager()
    if not GuideTask.objects.filter(pk=task.pk, status=Status.ACTIVE).update(urged_at=now()):
        raise Conflict(_("Only a task in progress can be urged."), code="not_active", field="status")
    rows = list(_behind(task).values_list("staff__userid", flat=True))
    if rows and task.corp.agent_id:
        transaction.on_commit(lambda: _urge_cards(task.pk, rows))
    return len(rows)


def _urge_cards(task_pk: int, userids: list[str]) -> None:
    task = GuideTask.objects.select_related("corp").get(pk=task_pk)
    with translation.override("zh-hans"):
        title = _("Urgent: %(name)s") % {"name": task.name}
        description = _("HQ asks you to finish this task first. Due %(when)s.") % {"when": _local(task, task.ends_at)}
    _cards(WeComClient(task.corp), task, userids, title, description, task_url(task))


def guide_task_cancel(*, actor: Actor, task: GuideTask) -> GuideTask:
    actor.require_manager()
    if task.status in (Status.CLOSED, Status.CANCELLED, Status.FAILED):
        raise Conflict(_("This task is over; there is nothing to cancel."), code="task_over", field="status")
    GuideTask.objects.filter(pk=task.pk).exclude(status__in=(Status.CLOSED, Status.FAILED)).update(status=Status.CANCELLED)
    task.refresh_from_db()
    return task


# -- completing -------------------------------------------------------------------------------------------
def _complete(items, *, how: str, at: datetime) -> int:
    """Mark these open items done at `at`, each once, and move the counters by what changed."""
    done = 0
    for pk, assignment_id, task_id in list(items.values_list("pk", "assignment_id", "task_id")):
        with transaction.atomic():
            if not GuideTaskItem.objects.filter(pk=pk, status=Item.OPEN).update(status=Item.DONE, done_at=at, how=how):
                continue  # another action got there first
            GuideAssignment.objects.filter(pk=assignment_id).update(items_done=F("items_done") + 1)
            GuideTask.objects.filter(pk=task_id).update(items_done=F("items_done") + 1)
            _reached(assignment_id, task_id, at)
            done += 1
    return done


def _reached(assignment_id: int, task_id: int, at: datetime) -> None:
    a = GuideAssignment.objects.select_related("task").get(pk=assignment_id)
    if a.completed_at is None and a.items_done >= math.ceil(a.task.target * a.items_total / 100):
        if GuideAssignment.objects.filter(pk=assignment_id, completed_at__isnull=True).update(completed_at=at):
            GuideTask.objects.filter(pk=task_id).update(guides_done=F("guides_done") + 1)


def _open_items(corp_id: int, *, kind: str, staff_id: int | None, customer_id: int, at: datetime):
    items = GuideTaskItem.objects.filter(
        corp_id=corp_id, customer_id=customer_id, status=Item.OPEN, task__status=Status.ACTIVE, task__kind=kind, task__starts_at__lte=at
    )
    return items if staff_id is None else items.filter(staff_id=staff_id)


def items_noted(*, corp_id: int, customer_id: int, staff_id: int | None, at: datetime) -> int:
    """A follow-up note is a contact with the customer, and completes the writer's revisits of them."""
    if staff_id is None:
        return 0
    contact_record(corp_id=corp_id, staff_id=staff_id, customer_id=customer_id, how=GuideContact.How.NOTE, at=at)
    return _complete(_open_items(corp_id, kind=Kind.REVISIT, staff_id=staff_id, customer_id=customer_id, at=at), how=GuideTaskItem.How.NOTE, at=at)


def items_tagged(*, corp_id: int, changes: tuple) -> int:
    """Tags added in Siyu ((follow id, added tag ids, removed tag ids), …) complete tag items."""
    tasks = list(GuideTask.objects.filter(corp_id=corp_id, status=Status.ACTIVE, kind=Kind.TAG).values_list("pk", "tag_ids"))
    if not tasks:
        return 0
    added = {follow: set(tags) for follow, tags, _removed in changes if tags}
    if len(added) > TAGGED_INLINE:
        # A bulk action: each task looks once, set-based, in the worker.
        for task_pk, tag_ids in tasks:
            if any(tags & set(tag_ids) for tags in added.values()):
                enqueue_after_commit("siyu.guides.tasks.refresh_tag_task", task_pk)
        return 0
    done, at = 0, now()
    follows = {pk: (staff, customer) for pk, staff, customer in Follow.objects.filter(pk__in=added).values_list("pk", "staff_id", "customer_id")}
    for follow, tags in added.items():
        if follow not in follows:
            continue
        staff_id, customer_id = follows[follow]
        wanted = [task_pk for task_pk, tag_ids in tasks if tags & set(tag_ids)]
        if wanted:
            items = _open_items(corp_id, kind=Kind.TAG, staff_id=staff_id, customer_id=customer_id, at=at).filter(task_id__in=wanted)
            done += _complete(items, how=GuideTaskItem.How.TAGGED, at=at)
    return done


def tag_items_refresh(task_pk: int) -> int:
    """A tag task's items whose customer got one of its tags on the guide's follow since the start,
    however it got there (a tag set in WeCom's app arrives by sync or callback): done, in one pass."""
    task = GuideTask.objects.get(pk=task_pk)
    if task.kind != Kind.TAG or task.status != Status.ACTIVE:
        return 0
    tagged = FollowTag.objects.filter(
        follow__staff_id=OuterRef("staff_id"), follow__customer_id=OuterRef("customer_id"), tag_id__in=task.tag_ids, created_at__gte=task.starts_at
    )
    items = GuideTaskItem.objects.filter(task=task, status=Item.OPEN).filter(Exists(tagged))
    return _complete(items, how=GuideTaskItem.How.TAGGED, at=now())


def item_sent(*, actor: Actor, task: GuideTask, customer: Customer, via: str = "sidebar") -> int:
    """The guide put the task's content into the customer's chat (the sidebar's sendChatMessage),
    or says they sent it: recorded on the timeline, and the customer's item in the task is done."""
    if task.kind != Kind.SEND:
        raise InvalidInput(_("This task is not a send."), code="not_a_send", field="task_id")
    stamp = now()
    staff_id = actor.staff_id if actor.is_guide else None
    items = _open_items(actor.corp.pk, kind=Kind.SEND, staff_id=staff_id, customer_id=customer.pk, at=stamp).filter(task=task)
    if not items.exists():
        raise Conflict(_("This customer has nothing open in this task for you."), code="nothing_open", field="customer_id")
    with transaction.atomic():
        timeline_record(
            customer=customer,
            kind="message_sent",
            staff=Staff.objects.filter(pk=staff_id).first(),
            data={"via": via, "guide_task": task.pk, "title": task.name, "text": task.text[:200]},
        )
        if staff_id is not None:
            contact_record(corp_id=actor.corp.pk, staff_id=staff_id, customer_id=customer.pk, how=GuideContact.How.TASK, at=stamp, task_id=task.pk)
        return _complete(items, how=GuideTaskItem.How.SENT, at=stamp)


def _mass_send(actor: Actor, task: GuideTask) -> None:
    """A mass-send or group-send task's send in WeCom: the task's audience, senders and content,
    planned by messaging with the same sender per customer as the task's lists (the newest
    allowed follow) or each group by its owner, within the contact-pressure budget (a customer or
    group it leaves out stays open in the list)."""
    send = mass_send_create(
        actor=actor,
        name=task.name,
        audience=task.audience,
        text=task.text,
        attachments=task.attachments,
        staff_ids=task.staff_ids,
        department_ids=task.department_ids,
        chat_type=MassSend.ChatType.GROUPS if task.kind == Kind.GROUP_SEND else MassSend.ChatType.CUSTOMERS,
    )
    GuideTask.objects.filter(pk=task.pk).update(mass_send=send)


def _moment(actor: Actor, task: GuideTask) -> None:
    """A moment task's moment in WeCom (客户朋友圈), for the task's guides to publish."""
    moment = moment_create(
        actor=actor, text=task.text, attachments=task.attachments, staff_ids=task.staff_ids, department_ids=task.department_ids, tag_ids=task.tag_ids
    )
    GuideTask.objects.filter(pk=task.pk).update(moment=moment)


REPORTED = (Kind.MASS_SEND, Kind.GROUP_SEND, Kind.MOMENT)  # completion comes from WeCom's results


def reported_items_refresh(task_pk: int) -> int:
    """The items of a task WeCom reports on that WeCom now reports done: a customer sent the
    task's mass send, a group sent its group send, the guide's moment published. Read from
    messaging's record of WeCom's results, which its pulls keep current."""
    task = GuideTask.objects.get(pk=task_pk)
    if task.status != Status.ACTIVE:
        return 0
    if task.kind == Kind.MASS_SEND and task.mass_send_id:
        done = Delivery.objects.filter(send_id=task.mass_send_id, customer_id=OuterRef("customer_id"), status=Delivery.Status.SENT)
        how = GuideTaskItem.How.WECOM
    elif task.kind == Kind.GROUP_SEND and task.mass_send_id:
        done = GroupDelivery.objects.filter(send_id=task.mass_send_id, group_id=OuterRef("group_id"), status=Delivery.Status.SENT)
        how = GuideTaskItem.How.WECOM
    elif task.kind == Kind.MOMENT and task.moment_id:
        done = MomentExecutor.objects.filter(moment_id=task.moment_id, staff_id=OuterRef("staff_id"), published=True)
        how = GuideTaskItem.How.POSTED
    else:
        return 0
    items = GuideTaskItem.objects.filter(task=task, status=Item.OPEN).filter(Exists(done))
    return _complete(items, how=how, at=now())


def active_reported_tasks_refresh() -> int:
    tasks = GuideTask.objects.filter(status=Status.ACTIVE, kind__in=REPORTED).values_list("pk", flat=True)
    return sum(reported_items_refresh(pk) for pk in tasks)


def active_tag_tasks_refresh() -> int:
    return sum(tag_items_refresh(pk) for pk in GuideTask.objects.filter(status=Status.ACTIVE, kind=Kind.TAG).values_list("pk", flat=True))


def guide_tasks_sweep(older_than: timedelta) -> int:
    return sum(work.sweep(older_than=older_than) for work in (ASSIGN, NOTIFY, REMIND))
