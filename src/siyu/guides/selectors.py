"""Reads for guide tasks: HQ's list and completion, a guide's own to-do list."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce, TruncMonth, TruncWeek
from django.utils.translation import gettext as _

from siyu.customers.models import Follow
from siyu.kit.clock import now
from siyu.kit.errors import InvalidInput
from siyu.kit.tenancy import Actor, get_for
from siyu.messaging.selectors import COMPLETION_BY, completion_order

from .models import GuideAssignment, GuideContact, GuideTask, GuideTaskItem, Handover, HandoverItem, QuickReply, QuickReplyGroup, StaffDay


def guide_tasks(actor: Actor) -> QuerySet[GuideTask]:
    """Every task of the corp (a manager's), newest first."""
    actor.require_manager()
    return GuideTask.objects.for_corp(actor.corp).order_by("-created_at", "-id")


def guide_task_get(actor: Actor, task_id: int) -> GuideTask:
    """A task: any of the corp's for a manager; for a guide, only one they have a share in."""
    rows = GuideTask.objects.all()
    if actor.is_guide:
        rows = rows.filter(assignments__staff_id=actor.staff_id)
    return get_for(actor, rows, "Task not found.", pk=task_id)


def guide_task_managed(actor: Actor, task_id: int) -> GuideTask:
    """A task of the corp's, for HQ's pages and actions (a manager's)."""
    actor.require_manager()
    return get_for(actor, GuideTask.objects.all(), "Task not found.", pk=task_id)


def my_assignments(actor: Actor) -> QuerySet[GuideAssignment]:
    """The actor's own shares of tasks in progress (a guide's to-do list): urged tasks first, then
    by deadline. A manager without a staff member has none."""
    if actor.staff_id is None:
        return GuideAssignment.objects.none()
    return (
        GuideAssignment.objects.for_corp(actor.corp)
        .filter(staff_id=actor.staff_id, task__status=GuideTask.Status.ACTIVE, task__notify_at__lte=now())
        .select_related("task")
        .order_by(F("task__urged_at").desc(nulls_last=True), "task__ends_at", "task_id")
    )


def my_assignment(actor: Actor, task: GuideTask) -> GuideAssignment | None:
    if actor.staff_id is None:
        return None
    return GuideAssignment.objects.filter(task=task, staff_id=actor.staff_id).first()


def assignment_items(actor: Actor, assignment: GuideAssignment, *, status: str = "") -> QuerySet[GuideTaskItem]:
    """A share's customers, open ones first. A guide reads only their own share."""
    if actor.is_guide and assignment.staff_id != actor.staff_id:
        return GuideTaskItem.objects.none()
    items = GuideTaskItem.objects.filter(assignment=assignment).select_related("customer")
    if status:
        items = items.filter(status=status)
    return items.order_by("-status", "customer__name", "id")  # "open" sorts after "done": reversed


def customer_open_items(actor: Actor, customer_id: int) -> list[GuideTaskItem]:
    """This customer's open items in the actor's tasks in progress (the sidebar's and profile's)."""
    items = GuideTaskItem.objects.filter(
        corp=actor.corp, customer_id=customer_id, status=GuideTaskItem.Status.OPEN, task__status=GuideTask.Status.ACTIVE
    ).select_related("task")
    if actor.is_guide:
        items = items.filter(staff_id=actor.staff_id)
    return list(items.order_by("task__ends_at")[:50])


def guide_task_completion(actor: Actor, task: GuideTask, *, by: str = "staff", sort: str = "") -> list[dict]:
    """Per guide, store (department) or region (the store's parent): customers assigned and done,
    done by the deadline, and guides who reached the target. A manager's."""
    actor.require_manager()
    key = COMPLETION_BY[by]
    on_time = Count("items", filter=Q(items__status=GuideTaskItem.Status.DONE, items__done_at__lte=task.ends_at))
    rows = (
        task.assignments.values(*key)
        .annotate(
            guides=Count("id", distinct=True),
            guides_done=Count("id", filter=Q(completed_at__isnull=False), distinct=True),
            customers=Count("items"),
            done=Count("items", filter=Q(items__status=GuideTaskItem.Status.DONE)),
            on_time=on_time,
        )
        .order_by(key[1])
    )
    out = []
    for r in rows:
        out.append(
            {
                "id": r[key[0]],
                "name": r[key[1]] or "—",
                "guides": r["guides"],
                "guides_done": r["guides_done"],
                "customers": r["customers"],
                "done": r["done"],
                "on_time": r["on_time"],
                "rate": r["done"] / r["customers"] if r["customers"] else 0.0,
            }
        )
    return completion_order(out, sort, "customers")


# -- the quick-reply library -----------------------------------------------------------------------------
def quick_replies(actor: Actor, *, q: str = "", group_id: int | None = None) -> QuerySet[QuickReply]:
    """The corp's replies, every role's to read (guides use them), shelf by shelf; `q` finds words
    in the title or the text."""
    rows = QuickReply.objects.for_corp(actor.corp).select_related("group").order_by("group__position", "group_id", "position", "id")
    if q.strip():
        words = q.split()[:5]
        for word in words:
            rows = rows.filter(Q(title__icontains=word) | Q(text__icontains=word) | Q(group__name__icontains=word))
    if group_id is not None:
        rows = rows.filter(group_id=group_id)
    return rows


def quick_reply_get(actor: Actor, reply_id: int, *, to_edit: bool = False) -> QuickReply:
    """A reply of the corp's: any role's to use; `to_edit`, a manager's."""
    if to_edit:
        actor.require_manager()
    return get_for(actor, QuickReply.objects.select_related("group"), "Reply not found.", pk=reply_id)


def quick_reply_groups(actor: Actor, *, to_edit: bool = False) -> QuerySet[QuickReplyGroup]:
    if to_edit:
        actor.require_manager()
    return QuickReplyGroup.objects.for_corp(actor.corp).order_by("position", "id")


def quick_reply_group_get(actor: Actor, group_id: int, *, to_edit: bool = False) -> QuickReplyGroup:
    if to_edit:
        actor.require_manager()
    return get_for(actor, QuickReplyGroup.objects.all(), "Group not found.", pk=group_id)


# -- replies and the golden period ----------------------------------------------------------------------
GOLDEN_DAYS = 14
PERIODS = {"month": TruncMonth, "week": TruncWeek}


LONGEST_DAYS = 366


def _range_check(first: date, last: date) -> None:
    if last < first:
        raise InvalidInput(_("The end is before the start."), code="bad_range", field="last")
    if (last - first).days >= LONGEST_DAYS:
        raise InvalidInput(_("At most a year at a time."), code="bad_range", field="last")


def _grouped(key: tuple[str, str], period: str | None) -> list[str]:
    """The values() a statistic groups by: the staff member, store or region, and the period."""
    return [*key, "period"] if period else list(key)


def reply_stats(actor: Actor, first: date, last: date, *, by: str = "staff", period: str | None = None, sort: str = "") -> list[dict]:
    """WeCom's behaviour data for days [first, last] per staff member, store or region, and per
    month or week when asked: chats, messages sent, chats customers began that were answered the
    same day (and their share), the average reply time, new contacts and deletions. Shares and
    averages are recomputed from counts, so a region's is its chats', not an average of its
    guides' shares. A manager's."""
    actor.require_manager()
    _range_check(first, last)
    key = COMPLETION_BY[by]
    rows = StaffDay.objects.filter(corp=actor.corp, day__gte=first, day__lte=last)
    if period:
        rows = rows.annotate(period=PERIODS[period]("day"))
    rows = rows.values(*_grouped(key, period)).annotate(
        chats=Sum("chats"),
        messages=Sum("messages"),
        replied=Sum("replied_chats"),
        reply_minutes=Sum("reply_minutes"),
        new_contacts=Sum("new_contacts"),
        negative=Sum("negative_feedback"),
        guides=Count("staff_id", distinct=True),
    )
    out = [
        {
            "id": r[key[0]],
            "name": r[key[1]] or "—",
            "period": r.get("period"),
            "guides": r["guides"],
            "chats": r["chats"],
            "messages": r["messages"],
            "replied": r["replied"],
            "rate": r["replied"] / r["chats"] if r["chats"] else 0.0,
            "avg_reply_minutes": r["reply_minutes"] / r["replied"] if r["replied"] else None,
            "new_contacts": r["new_contacts"],
            "negative": r["negative"],
        }
        for r in rows
    ]
    ordered = completion_order(out, sort, "messages")
    return sorted(ordered, key=lambda r: r["period"] or date.min) if period else ordered


def golden_period(actor: Actor, first: date, last: date, *, by: str = "staff", period: str | None = None, sort: str = "") -> list[dict]:
    """The 14-day golden period (黄金14天) of the customers added on days [first, last] (corp
    time): per staff member, store or region, and per cohort week or month when asked, how many
    new customers the guide who added them reached one to one within 14 days of the add (content
    or a quick reply sent from the sidebar, a task's send, a follow-up note), how many contacts
    that was, and how many are still inside their 14 days. Counted from Siyu's record of what
    guides did: what customers wrote back is in WeCom's paid chat archive, which Siyu does not
    read. A manager's."""
    actor.require_manager()
    _range_check(first, last)
    key = COMPLETION_BY[by]
    tz = actor.corp.tzinfo
    start = datetime.combine(first, time(), tzinfo=tz)
    end = datetime.combine(last + timedelta(days=1), time(), tzinfo=tz)
    window = timedelta(days=GOLDEN_DAYS)
    contacts = GuideContact.objects.filter(
        staff_id=OuterRef("staff_id"), customer_id=OuterRef("customer_id"), at__gte=OuterRef("added_at"), at__lt=OuterRef("added_at") + window
    )
    follows = Follow.objects.filter(corp=actor.corp, added_at__gte=start, added_at__lt=end).annotate(
        reached=Exists(contacts),
        touches=Coalesce(Subquery(contacts.order_by().values("staff_id").annotate(n=Count("id")).values("n")[:1]), 0),
    )
    if period:
        follows = follows.annotate(period=PERIODS[period]("added_at", tzinfo=tz))
    stamp = now()
    rows = follows.values(*_grouped(key, period)).annotate(
        customers=Count("id"),
        reached_n=Count("id", filter=Q(reached=True)),
        contacts=Sum("touches"),
        open_n=Count("id", filter=Q(added_at__gt=stamp - window)),
    )
    out = [
        {
            "id": r[key[0]],
            "name": r[key[1]] or "—",
            "period": r["period"].date() if period and isinstance(r["period"], datetime) else r.get("period"),
            "customers": r["customers"],
            "reached": r["reached_n"],
            "contacts": r["contacts"] or 0,
            "in_window": r["open_n"],
            "rate": r["reached_n"] / r["customers"] if r["customers"] else 0.0,
        }
        for r in rows
    ]
    ordered = completion_order(out, sort, "customers")
    return sorted(ordered, key=lambda r: r["period"] or date.min) if period else ordered


# -- handovers ------------------------------------------------------------------------------------------
def handovers(actor: Actor) -> QuerySet[Handover]:
    actor.require_manager()
    return Handover.objects.for_corp(actor.corp).select_related("handover_staff", "takeover_staff").order_by("-created_at", "-id")


def handover_get(actor: Actor, handover_id: int) -> Handover:
    actor.require_manager()
    return get_for(actor, Handover.objects.select_related("handover_staff", "takeover_staff"), "Handover not found.", pk=handover_id)


def handover_counts(handover: Handover) -> dict[str, int]:
    """The handover's customers per outcome (every status, zero when none)."""
    found = dict(handover.items.values("status").annotate(n=Count("id")).values_list("status", "n"))
    return {s: found.get(s, 0) for s in HandoverItem.Status.values}


def handover_items(handover: Handover, *, status: str = "") -> QuerySet[HandoverItem]:
    rows = handover.items.select_related("customer").order_by("id")
    return rows.filter(status=status) if status else rows
