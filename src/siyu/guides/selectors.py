"""Reads for guide tasks: HQ's list and completion, a guide's own to-do list."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce, TruncMonth, TruncWeek
from django.utils.translation import gettext as _

from siyu.corps.models import Staff
from siyu.customers.models import Follow
from siyu.kit.clock import day_start, now
from siyu.kit.errors import InvalidInput
from siyu.kit.tenancy import Actor, get_for
from siyu.messaging.selectors import COMPLETION_BY, completion_order
from siyu.orders.models import Order

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
    """A share's customers (or groups, or the one post), open ones first. A guide reads only their
    own share."""
    if actor.is_guide and assignment.staff_id != actor.staff_id:
        return GuideTaskItem.objects.none()
    items = GuideTaskItem.objects.filter(assignment=assignment).select_related("customer", "group")
    if status:
        items = items.filter(status=status)
    return items.order_by("-status", "customer__name", "group__name", "id")  # "open" sorts after "done": reversed


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


def _corp_days(corp, first: date, last: date) -> tuple[datetime, datetime]:
    """The corp's days [first, last] as the moments [start, end)."""
    return day_start(first, corp.tzinfo), day_start(last + timedelta(days=1), corp.tzinfo)


def _golden_contacts():
    """A follow's contacts by its guide within the 14 golden days after the add (a subquery on
    the follow's staff, customer and added_at)."""
    return GuideContact.objects.filter(
        staff_id=OuterRef("staff_id"),
        customer_id=OuterRef("customer_id"),
        at__gte=OuterRef("added_at"),
        at__lt=OuterRef("added_at") + timedelta(days=GOLDEN_DAYS),
    )


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
    start, end = _corp_days(actor.corp, first, last)
    window = timedelta(days=GOLDEN_DAYS)
    contacts = _golden_contacts()
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


# -- leaderboards -----------------------------------------------------------------------------------------
BOARD_METRICS = ("adds", "net_adds", "task_rate", "replied", "gmv_fen", "conversion")


def _per_staff(rows) -> dict[int, dict]:
    return {r.pop("staff_id"): r for r in rows if r.get("staff_id") is not None}


def _staff_board(corp, first: date, last: date, *, extra: bool = False) -> dict[int, dict]:
    """Per staff member, for the corp's days [first, last]: adds; net adds (adds less relationships
    that ended in the days); guide-task items and those done, of tasks that started in the days;
    chats answered (WeCom's behaviour data); GMV of orders paid in the days, credited to the order's
    guide or else the customer's newest follow; and of the customers they added in the days who
    had never ordered, how many have ordered since (first-order conversion)."""
    start, end = _corp_days(corp, first, last)
    follows = Follow.objects.filter(corp=corp)
    adds = _per_staff(follows.filter(added_at__gte=start, added_at__lt=end).values("staff_id").annotate(n=Count("id")))
    ended = _per_staff(
        follows.filter(Q(deleted_by_staff_at__gte=start, deleted_by_staff_at__lt=end) | Q(deleted_by_customer_at__gte=start, deleted_by_customer_at__lt=end))
        .values("staff_id")
        .annotate(n=Count("id"))
    )
    items = _per_staff(
        GuideTaskItem.objects.filter(corp=corp, task__starts_at__gte=start, task__starts_at__lt=end)
        .values("staff_id")
        .annotate(total=Count("id"), done=Count("id", filter=Q(status=GuideTaskItem.Status.DONE)))
    )
    # WeCom's day figures, read once: the chats answered, and for the key metrics the groups'.
    sums = {"n": Sum("replied_chats")} | ({count: Sum(field) for count, field in GROUP_SUMS.items()} if extra else {})
    replies = _per_staff(StaffDay.objects.filter(corp=corp, day__gte=first, day__lte=last).values("staff_id").annotate(**sums))
    newest = Follow.objects.filter(customer_id=OuterRef("customer_id")).order_by("-added_at", "-id").values("staff_id")[:1]
    gmv = {
        r["credited"]: r
        for r in Order.objects.filter(corp=corp, paid_at__gte=start, paid_at__lt=end, customer__isnull=False)
        .annotate(credited=Coalesce("staff_id", Subquery(newest), output_field=IntegerField()))
        .values("credited")
        .annotate(fen=Sum(F("amount_fen") - F("refunded_fen")))
        if r["credited"] is not None
    }
    before = Order.objects.filter(customer_id=OuterRef("customer_id"), paid_at__lt=OuterRef("added_at"))
    since = Order.objects.filter(customer_id=OuterRef("customer_id"), paid_at__gte=OuterRef("added_at"))
    new = (
        follows.filter(added_at__gte=start, added_at__lt=end)
        .filter(~Exists(before))
        .values("staff_id")
        .annotate(new=Count("id"), converted=Count("id", filter=Q(Exists(since))))
    )
    converted = _per_staff(new)
    more = _more_counts(corp, start, end, newest) if extra else {}
    if extra:
        for staff_id, r in replies.items():
            more.setdefault(staff_id, {}).update({k: r[k] or 0 for k in GROUP_SUMS})
    board = {}
    for staff_id in set(adds) | set(ended) | set(items) | set(replies) | set(gmv) | set(converted) | set(more):
        it, cv = items.get(staff_id, {}), converted.get(staff_id, {})
        board[staff_id] = {
            "adds": adds.get(staff_id, {}).get("n", 0),
            "lost": ended.get(staff_id, {}).get("n", 0),
            "items": it.get("total", 0),
            "items_done": it.get("done", 0),
            "replied": replies.get(staff_id, {}).get("n") or 0,
            "gmv_fen": gmv.get(staff_id, {}).get("fen") or 0,
            "new_customers": cv.get("new", 0),
            "converted": cv.get("converted", 0),
            **({**dict.fromkeys(MORE_COUNTS, 0), **more.get(staff_id, {})} if extra else {}),
        }
    return board


# As WeCom counts them day by day (groupchat/statistic): the days × groups a guide owned, those
# with messages, and the messages; each the sum of a StaffDay field.
GROUP_SUMS = {"group_days": "group_chats", "active_group_days": "active_groups", "group_messages": "group_messages"}
MORE_COUNTS = ("orders", "buyers", "repeat_buyers", "customers", "customers_bought", "reached", *GROUP_SUMS)


def _held(corp, end: datetime):
    """The relationships in place at `end`."""
    return Follow.objects.filter(corp=corp, added_at__lt=end).filter(
        Q(deleted_by_staff_at__isnull=True) | Q(deleted_by_staff_at__gte=end), Q(deleted_by_customer_at__isnull=True) | Q(deleted_by_customer_at__gte=end)
    )


def _more_counts(corp, start: datetime, end: datetime, newest) -> dict[int, dict]:
    """What the key-metrics page adds to the leaderboard's counts, per staff member: orders and
    distinct buyers in the days (credited as GMV is) and the buyers who had ordered before or
    ordered twice; customers they follow at the end and those of them who have ever ordered; new
    customers reached within their 14 golden days. (The groups' figures, `GROUP_SUMS`, come with
    the board's read of WeCom's day figures.)"""
    out: dict[int, dict] = {}

    def put(rows, *names):
        for r in rows:
            if r["who"] is not None:
                out.setdefault(r["who"], {}).update({n: r[n] or 0 for n in names})

    orders = Order.objects.filter(corp=corp, paid_at__gte=start, paid_at__lt=end, customer__isnull=False).annotate(
        who=Coalesce("staff_id", Subquery(newest), output_field=IntegerField())
    )
    put(orders.values("who").annotate(orders=Count("id"), buyers=Count("customer_id", distinct=True)), "orders", "buyers")
    earlier = Order.objects.filter(customer_id=OuterRef("customer_id"), paid_at__lt=OuterRef("paid_at"))
    put(orders.filter(Exists(earlier)).values("who").annotate(repeat_buyers=Count("customer_id", distinct=True)), "repeat_buyers")
    held = _held(corp, end)
    ever = Order.objects.filter(customer_id=OuterRef("customer_id"), paid_at__lt=end)
    put(
        held.annotate(who=F("staff_id")).values("who").annotate(customers=Count("id"), customers_bought=Count("id", filter=Q(Exists(ever)))),
        "customers",
        "customers_bought",
    )
    added = Follow.objects.filter(corp=corp, added_at__gte=start, added_at__lt=end)
    put(added.filter(Exists(_golden_contacts())).annotate(who=F("staff_id")).values("who").annotate(reached=Count("id")), "reached")
    return out


def _rates(row: dict) -> dict:
    row["net_adds"] = row["adds"] - row["lost"]
    row["task_rate"] = row["items_done"] / row["items"] if row["items"] else None
    row["conversion"] = row["converted"] / row["new_customers"] if row["new_customers"] else None
    return row


def _ranked(rows: list[dict], sort: str) -> list[dict]:
    key = sort if sort in BOARD_METRICS else "gmv_fen"
    rows.sort(key=lambda r: (r[key] is None, -(r[key] or 0), r["name"]))
    for i, r in enumerate(rows, 1):
        r["rank"] = i
    return rows


def _roll_up(corp, board: dict[int, dict], by: str) -> dict[object, dict]:
    """Per-staff counts added up per guide, store (department) or region (the store's parent),
    with the staff members each row holds."""
    staff = {s.pk: s for s in Staff.objects.filter(corp=corp, pk__in=list(board)).select_related("department__parent")}
    groups: dict[object, dict] = {}
    for staff_id, counts in sorted(board.items()):  # staff ids in order: stable links
        s = staff.get(staff_id)
        if s is None:
            continue
        if by == "staff":
            key, name = s.pk, s.name
        elif by == "department":
            key, name = (s.department_id, s.department.name if s.department else "—")
        else:
            parent = s.department.parent if s.department else None
            key, name = (parent.pk if parent else None, parent.name if parent else "—")
        row = groups.setdefault(key, {"id": key, "name": name, "guides": 0, "staff_ids": [], **dict.fromkeys(counts, 0)})
        row["guides"] += 1
        row["staff_ids"].append(staff_id)
        for k, v in counts.items():
            row[k] += v
    return groups


def leaderboard(actor: Actor, first: date, last: date, *, by: str = "department", sort: str = "gmv_fen") -> list[dict]:
    """The guides, stores or regions ranked by `sort` (one of BOARD_METRICS; missing rates last).
    A store or region adds up its guides' counts and recomputes its rates. A manager's."""
    actor.require_manager()
    _range_check(first, last)
    board = _staff_board(actor.corp, first, last)
    groups = _roll_up(actor.corp, board, by)
    return _ranked([_rates(r) for r in groups.values()], sort)


def my_rank(actor: Actor, first: date, last: date) -> dict | None:
    """A guide's own figures and their place on each measure, among all the corp's guides and in
    their store; nobody else's figures. None for someone who is not a staff member."""
    if actor.staff_id is None:
        return None
    _range_check(first, last)
    board = _staff_board(actor.corp, first, last)
    me = Staff.objects.filter(corp=actor.corp, pk=actor.staff_id).first()
    if me is None:
        return None
    active = dict(Staff.objects.filter(corp=actor.corp, status=Staff.Status.ACTIVE).values_list("pk", "department_id"))
    active.setdefault(me.pk, me.department_id)
    empty = dict.fromkeys(("adds", "lost", "items", "items_done", "replied", "gmv_fen", "new_customers", "converted"), 0)
    rows = {pk: _rates({**empty, **board.get(pk, {})}) for pk in active}
    mine = rows[me.pk]
    places = {}
    for metric in BOARD_METRICS:
        if mine[metric] is None:
            places[metric] = None
            continue
        everyone = [r[metric] for r in rows.values() if r[metric] is not None]
        store = [rows[pk][metric] for pk, dept in active.items() if dept == me.department_id and rows[pk][metric] is not None]
        places[metric] = {
            "corp": 1 + sum(v > mine[metric] for v in everyone),
            "corp_of": len(everyone),
            "store": 1 + sum(v > mine[metric] for v in store),
            "store_of": len(store),
        }
    return {"staff": me, "figures": mine, "places": places}


# -- key metrics (项目复盘) ---------------------------------------------------------------------------------
KEY_RATES = {
    # rate: (numerator, denominator)
    "conversion": ("converted", "new_customers"),
    "first_order_rate": ("customers_bought", "customers"),
    "repurchase_rate": ("repeat_buyers", "buyers"),
    "task_rate": ("items_done", "items"),
    "golden_rate": ("reached", "new_customers"),
    "group_activity": ("active_group_days", "group_days"),
}
LONGEST_SLICES = 27  # a half year of weeks, two years of months


def period_slices(first: date, last: date, period: str | None) -> list[tuple[date, date]]:
    """[first, last] cut into calendar weeks (Monday first) or months, the ends clipped to it."""
    if not period:
        return [(first, last)]
    out, start = [], first
    while start <= last:
        if period == "week":
            end = start + timedelta(days=6 - start.weekday())
        else:
            following = date(start.year + start.month // 12, start.month % 12 + 1, 1)
            end = following - timedelta(days=1)
        out.append((start, min(end, last)))
        start = min(end, last) + timedelta(days=1)
    return out


def _key_rates(row: dict) -> dict:
    row["net_adds"] = row["adds"] - row["lost"]
    for rate, (top, bottom) in KEY_RATES.items():
        row[rate] = row[top] / row[bottom] if row[bottom] else None
    row["aov_fen"] = row["gmv_fen"] / row["orders"] if row["orders"] else None
    row["value_fen"] = row["gmv_fen"] / row["customers"] if row["customers"] else None
    return row


def key_metrics(actor: Actor, first: date, last: date, *, by: str | None = None, period: str | None = None) -> dict:
    """The programme's figures (seed 000 §5.1, seed 004) for the corp's days [first, last], per
    week or month when asked, for the whole corp or per region, store or guide: new customers and
    their first-order conversion, the first-order rate of the customers held at the end, repurchase
    (buyers who had bought before), orders, GMV, average order value, GMV per customer held, guide
    task completion, the 14-day golden period reach, and group activity (of the groups guides owned,
    day by day, the share with messages, as WeCom counts them). Each row keeps its counts and the staff it covers, so every figure can link to the
    customers behind it. A manager's."""
    actor.require_manager()
    _range_check(first, last)
    slices = period_slices(first, last, period)
    if len(slices) > LONGEST_SLICES:
        raise InvalidInput(_("Too many periods at once: choose months, or fewer days."), code="bad_range", field="period")
    rows, totals = [], []
    for a, b in slices:
        board = _staff_board(actor.corp, a, b, extra=True)
        total = {"id": None, "name": _("Whole company"), "guides": len(board), "staff_ids": [], **dict.fromkeys(_EMPTY_KEYS, 0)}
        for counts in board.values():
            for k, v in counts.items():
                total[k] += v
        # A customer two guides follow, or whose orders two guides are credited with, is one
        # customer of the company.
        start, end = _corp_days(actor.corp, a, b)
        held = _held(actor.corp, end)
        ever = Order.objects.filter(customer_id=OuterRef("customer_id"), paid_at__lt=end)
        total["customers"] = held.values("customer_id").distinct().count()
        total["customers_bought"] = held.filter(Exists(ever)).values("customer_id").distinct().count()
        paid = Order.objects.filter(corp=actor.corp, paid_at__gte=start, paid_at__lt=end, customer__isnull=False)
        earlier = Order.objects.filter(customer_id=OuterRef("customer_id"), paid_at__lt=OuterRef("paid_at"))
        total["buyers"] = paid.values("customer_id").distinct().count()
        total["repeat_buyers"] = paid.filter(Exists(earlier)).values("customer_id").distinct().count()
        totals.append(_key_rates({**total, "first": a, "last": b}))
        if by:
            for row in _roll_up(actor.corp, board, by).values():
                rows.append(_key_rates({**row, "first": a, "last": b}))
    rows.sort(key=lambda r: (r["first"], -(r["gmv_fen"] or 0), r["name"]))
    return {"totals": totals, "rows": rows, "slices": slices}


_EMPTY_KEYS = ("adds", "lost", "items", "items_done", "replied", "gmv_fen", "new_customers", "converted", *MORE_COUNTS)
