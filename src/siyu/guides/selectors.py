"""Reads for guide tasks: HQ's list and completion, a guide's own to-do list."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.db.models import Case, Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum, Value, When
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


# A follow's customer had bought nothing before the add (no counted order: CustomerValue, which
# orders keeps current), and has bought since: one join, where a probe of the orders per follow
# would cost a subquery each.
NEW_CUSTOMER = Q(customer__value__first_paid_at__isnull=True) | Q(customer__value__first_paid_at__gte=F("added_at"))
CONVERTED = Q(customer__value__first_paid_at__gte=F("added_at"))


def _credited_orders(corp, start: datetime, end: datetime):
    """Orders paid in [start, end) with the staff member they are credited to (`who`): the order's
    guide, or else the customer's newest follow."""
    newest = Follow.objects.filter(customer_id=OuterRef("customer_id")).order_by("-added_at", "-id").values("staff_id")[:1]
    return Order.objects.filter(corp=corp, paid_at__gte=start, paid_at__lt=end, customer__isnull=False).annotate(
        who=Coalesce("staff_id", Subquery(newest), output_field=IntegerField())
    )


def _held_at(corp, ends: list[datetime]) -> tuple[list[dict[int, dict]], list[dict]]:
    """At each of `ends`: per staff member, the relationships in place and those whose customer has
    bought by then; and the company's, counting a customer two guides follow once. Every end in
    one pass over the relationships begun by the last (two reads however many periods)."""
    counts, distinct = {}, {}
    for i, end in enumerate(ends):
        held = Q(added_at__lt=end) & (Q(ended_at__isnull=True) | Q(ended_at__gte=end))
        bought = held & Q(customer__value__first_paid_at__lt=end)
        counts |= {f"c{i}": Count("id", filter=held), f"b{i}": Count("id", filter=bought)}
        distinct |= {f"c{i}": Count("customer_id", filter=held, distinct=True), f"b{i}": Count("customer_id", filter=bought, distinct=True)}
    follows = Follow.objects.filter(corp=corp, added_at__lt=max(ends))
    per_staff: list[dict[int, dict]] = [{} for _ in ends]
    for r in follows.values("staff_id").annotate(**counts):
        for i in range(len(ends)):
            if r[f"c{i}"]:
                per_staff[i][r["staff_id"]] = {"customers": r[f"c{i}"], "customers_bought": r[f"b{i}"]}
    company = follows.aggregate(**distinct)
    return per_staff, [{"customers": company[f"c{i}"], "customers_bought": company[f"b{i}"]} for i in range(len(ends))]


def _period_of(field: str, ends: list, lookup: str = "lt") -> Case:
    """Which of consecutive periods a row falls in, by `field` against each period's end."""
    return Case(*[When(**{f"{field}__{lookup}": end}, then=Value(i)) for i, end in enumerate(ends)], output_field=IntegerField())


def _per_period(rows, periods: int, key: str = "staff_id") -> list[dict[int, dict]]:
    out: list[dict[int, dict]] = [{} for _ in range(periods)]
    for r in rows:
        who, i = r.pop(key), r.pop("period")
        if who is not None and i is not None:
            out[i][who] = r
    return out


def _staff_board(corp, first: date, last: date, *, extra: bool = False) -> dict[int, dict]:
    return _staff_boards(corp, [(first, last)], extra=extra)[0]


def _staff_boards(corp, slices: list[tuple[date, date]], *, extra: bool = False) -> list[dict[int, dict]]:
    """Per consecutive period [first, last] of the corp's days, per staff member: adds; net adds
    (adds less relationships that ended in the days); guide-task items and those done, of tasks
    that started in the days; chats answered (WeCom's behaviour data); GMV of orders paid in the
    days, credited to the order's guide or else the customer's newest follow; and of the customers
    they added in the days who had never bought, how many have bought since (first-order
    conversion).

    With `extra`, what the key-metrics page adds: orders and distinct buyers in the days (credited
    as GMV is) and the buyers who had bought before; new customers reached within their 14 golden
    days; and WeCom's group figures (`GROUP_SUMS`). Each source is one grouped read of the rows in
    the whole span, grouped by staff and period, however many periods (the customers held at the
    end of each period are `_held_at`'s)."""
    n = len(slices)
    ends = [_corp_days(corp, a, b)[1] for a, b in slices]
    start, end = _corp_days(corp, slices[0][0], slices[-1][1])
    follows = Follow.objects.filter(corp=corp)
    added = {"n": Count("id"), "new": Count("id", filter=NEW_CUSTOMER), "converted": Count("id", filter=CONVERTED)}
    if extra:
        added["reached"] = Count("id", filter=Q(Exists(_golden_contacts())))
    adds = _per_period(
        follows.filter(added_at__gte=start, added_at__lt=end).annotate(period=_period_of("added_at", ends)).values("staff_id", "period").annotate(**added), n
    )
    ended = _per_period(
        follows.filter(ended_at__gte=start, ended_at__lt=end)
        .annotate(period=_period_of("ended_at", ends))
        .values("staff_id", "period")
        .annotate(n=Count("id")),
        n,
    )
    items = _per_period(
        GuideTaskItem.objects.filter(corp=corp, task__starts_at__gte=start, task__starts_at__lt=end)
        .annotate(period=_period_of("task__starts_at", ends))
        .values("staff_id", "period")
        .annotate(total=Count("id"), done=Count("id", filter=Q(status=GuideTaskItem.Status.DONE))),
        n,
    )
    # WeCom's day figures, read once: the chats answered, and for the key metrics the groups'.
    sums = {"n": Sum("replied_chats")} | ({count: Sum(field) for count, field in GROUP_SUMS.items()} if extra else {})
    replies = _per_period(
        StaffDay.objects.filter(corp=corp, day__gte=slices[0][0], day__lte=slices[-1][1])
        .annotate(period=_period_of("day", [b for _a, b in slices], "lte"))
        .values("staff_id", "period")
        .annotate(**sums),
        n,
    )
    paid = {"fen": Sum(F("amount_fen") - F("refunded_fen"))}
    if extra:
        paid |= {
            "orders": Count("id"),
            "buyers": Count("customer_id", distinct=True),
            "repeat_buyers": Count("customer_id", distinct=True, filter=Q(customer__value__first_paid_at__lt=F("paid_at"))),
        }
    gmv = _per_period(_credited_orders(corp, start, end).annotate(period=_period_of("paid_at", ends)).values("who", "period").annotate(**paid), n, "who")
    boards = []
    for i in range(n):
        board = {}
        for staff_id in set(adds[i]) | set(ended[i]) | set(items[i]) | set(replies[i]) | set(gmv[i]):
            a, it, r, g = adds[i].get(staff_id, {}), items[i].get(staff_id, {}), replies[i].get(staff_id, {}), gmv[i].get(staff_id, {})
            row = {
                "adds": a.get("n", 0),
                "lost": ended[i].get(staff_id, {}).get("n", 0),
                "items": it.get("total", 0),
                "items_done": it.get("done", 0),
                "replied": r.get("n") or 0,
                "gmv_fen": g.get("fen") or 0,
                "new_customers": a.get("new", 0),
                "converted": a.get("converted", 0),
            }
            if extra:
                row |= {k: g.get(k) or 0 for k in ("orders", "buyers", "repeat_buyers")}
                row |= {"reached": a.get("reached", 0), **{k: r.get(k) or 0 for k in GROUP_SUMS}}
            board[staff_id] = row
        boards.append(board)
    return boards


# As WeCom counts them day by day (groupchat/statistic): the days × groups a guide owned, those
# with messages, and the messages; each the sum of a StaffDay field.
GROUP_SUMS = {"group_days": "group_chats", "active_group_days": "active_groups", "group_messages": "group_messages"}
MORE_COUNTS = ("orders", "buyers", "repeat_buyers", "customers", "customers_bought", "reached", *GROUP_SUMS)


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
    # Plain tuples of the corp's staff, not 10,000 model instances with their departments.
    staff = {
        r[0]: r
        for r in Staff.objects.filter(corp=corp).values_list(
            "pk", "name", "department_id", "department__name", "department__parent_id", "department__parent__name"
        )
    }
    groups: dict[object, dict] = {}
    for staff_id, counts in sorted(board.items()):  # staff ids in order: stable links
        s = staff.get(staff_id)
        if s is None:
            continue
        _pk, name, dept_id, dept_name, parent_id, parent_name = s
        if by == "staff":
            key = staff_id
        elif by == "department":
            key, name = dept_id, dept_name or "—"
        else:
            key, name = parent_id, parent_name or "—"
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
    held, company = _held_at(actor.corp, [_corp_days(actor.corp, a, b)[1] for a, b in slices])
    boards = _staff_boards(actor.corp, slices, extra=True)
    for (a, b), board, held_then, company_then in zip(slices, boards, held, company, strict=True):
        for staff_id in set(board) | set(held_then):  # guides with customers but nothing new in the period too
            board[staff_id] = {**dict.fromkeys(_EMPTY_KEYS, 0), **board.get(staff_id, {}), **held_then.get(staff_id, {})}
        total = {"id": None, "name": _("Whole company"), "guides": len(board), "staff_ids": [], **dict.fromkeys(_EMPTY_KEYS, 0)}
        for counts in board.values():
            for k, v in counts.items():
                total[k] += v
        # A customer two guides follow, or whose orders two guides are credited with, is one
        # customer of the company.
        total |= company_then
        start, end = _corp_days(actor.corp, a, b)
        paid = Order.objects.filter(corp=actor.corp, paid_at__gte=start, paid_at__lt=end, customer__isnull=False).values("customer_id").distinct()
        total["buyers"] = paid.count()
        total["repeat_buyers"] = paid.filter(customer__value__first_paid_at__lt=F("paid_at")).count()
        totals.append(_key_rates({**total, "first": a, "last": b}))
        if by:
            for row in _roll_up(actor.corp, board, by).values():
                rows.append(_key_rates({**row, "first": a, "last": b}))
    rows.sort(key=lambda r: (r["first"], -(r["gmv_fen"] or 0), r["name"]))
    return {"totals": totals, "rows": rows, "slices": slices}


_EMPTY_KEYS = ("adds", "lost", "items", "items_done", "replied", "gmv_fen", "new_customers", "converted", *MORE_COUNTS)
