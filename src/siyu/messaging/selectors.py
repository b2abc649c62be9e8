from datetime import datetime, time, timedelta

from django.db.models import Count, F, Max, Q, Sum
from django.utils.translation import gettext as _

from siyu.corps.models import Staff
from siyu.kit.clock import now
from siyu.kit.tenancy import Actor, get_for

from . import budget
from .models import ContentFolder, ContentItem, Delivery, MassSend, MassSendTask, Media, Moment, MomentExecutor, StaffSend, WelcomeMessage, WelcomeSend

# A task sent within a day of reaching the staff member is on time.
ON_TIME = timedelta(hours=24)


def welcome_messages(actor: Actor):
    return WelcomeMessage.objects.for_corp(actor.corp).select_related("live_code", "staff").order_by("id")


def welcome_sends(actor: Actor, *, status: str | None = None):
    qs = WelcomeSend.objects.for_corp(actor.corp)
    if actor.is_guide:
        # A guide sees the welcomes of their own adds (a send names the staff by WeCom userid).
        qs = qs.filter(userid__in=Staff.objects.filter(corp=actor.corp, pk=actor.staff_id).values("userid"))
    return qs.filter(status=status) if status else qs


def welcome_send_counts(actor: Actor) -> dict[str, int]:
    return dict(welcome_sends(actor).order_by().values_list("status").annotate(n=Count("id")))


def welcome_for_live_code(actor: Actor, live_code) -> WelcomeMessage | None:
    return WelcomeMessage.objects.for_corp(actor.corp).filter(live_code=live_code).first()


def media_list(actor: Actor):
    return Media.objects.for_corp(actor.corp).defer("content").order_by("-id")


# -- mass sends ----------------------------------------------------------------------------------------
def mass_sends(actor: Actor):
    """A manager sees every send; a guide the sends that gave them a task."""
    sends = MassSend.objects.for_corp(actor.corp)
    if actor.is_guide:
        sends = sends.filter(id__in=MassSendTask.objects.filter(staff_id=actor.staff_id).values("send_id"))
    return sends.order_by("-created_at", "-id")


def mass_send_get(actor: Actor, send_id: int) -> MassSend:
    return get_for(actor, mass_sends(actor), _("No such mass send."), pk=send_id)


def mass_send_tasks(actor: Actor, send: MassSend, *, status: str = "", department_id: int | None = None):
    """Per staff member: their task(s) in the send, with staff and department, for completion."""
    tasks = send.tasks.select_related("staff__department").order_by("staff__name", "part")
    if actor.is_guide:
        tasks = tasks.filter(staff_id=actor.staff_id)
    if status:
        tasks = tasks.filter(status=status)
    if department_id:
        tasks = tasks.filter(staff__department_id=department_id)
    return tasks


# Completion rows grouped per staff member, per store (their department) or per region (the
# store's parent department): the (id, name) fields to group staff-keyed rows by.
COMPLETION_BY = {
    "staff": ("staff_id", "staff__name"),
    "department": ("staff__department_id", "staff__department__name"),
    "region": ("staff__department__parent_id", "staff__department__parent__name"),
}


def completion_order(rows: list[dict], sort: str, size: str) -> list[dict]:
    """Completion rows in the asked order: by rate (the laggards first, or the best), by name, or
    (unasked) the largest by `size` first."""
    keys = {
        "rate": lambda r: (r["rate"], -r[size], r["name"]),
        "-rate": lambda r: (-r["rate"], -r[size], r["name"]),
        "name": lambda r: r["name"],
    }
    return sorted(rows, key=keys.get(sort, lambda r: (-r[size], r["name"])))


def mass_send_completion(actor: Actor, send: MassSend, *, by: str = "staff", sort: str = "") -> list[dict]:
    """Sent / assigned per staff member or department, and how many were sent on time (within a
    day of the task reaching them): the figure HQ holds guides to (a manager's). Largest first."""
    actor.require_manager()
    key = COMPLETION_BY[by]
    rows = (
        send.tasks.exclude(status=MassSendTask.Status.CANCELLED)
        .values(*key)
        .annotate(
            assigned=Count("id"),
            sent=Count("id", filter=Q(status=MassSendTask.Status.SENT)),
            on_time=Count("id", filter=Q(status=MassSendTask.Status.SENT, sent_at__lte=F("created_at") + ON_TIME)),
            customers=Sum("recipients"),
        )
        .order_by("-assigned", key[1])
    )
    out = []
    for r in rows:
        rate = r["sent"] / r["assigned"] if r["assigned"] else 0.0
        out.append(
            {
                "id": r[key[0]],
                "name": r[key[1]] or "—",
                "assigned": r["assigned"],
                "sent": r["sent"],
                "on_time": r["on_time"],
                "customers": r["customers"] or 0,
                "rate": rate,
            }
        )
    return completion_order(out, sort, "assigned")


def customer_deliveries(actor: Actor, customer_id: int, *, since=None):
    """What Siyu sent (or planned) a customer: the profile's "received this month"."""
    rows = Delivery.objects.for_corp(actor.corp).filter(customer_id=customer_id).select_related("send", "staff").order_by("-planned_at")
    if actor.is_guide:
        rows = rows.filter(staff_id=actor.staff_id)
    if since is not None:
        rows = rows.filter(planned_at__gte=since)
    return rows


def contact_policy(actor: Actor):
    actor.require_manager()
    return budget.policy_for(actor.corp)


def customer_budget(actor: Actor, customer) -> dict:
    """The profile's "messages this month": what Siyu sent or planned the customer this calendar
    month, and how many count against WeCom's receive cap in its current period."""
    policy = budget.policy_for(actor.corp)
    at = now()
    windows = budget.windows(policy, at)
    local = at.astimezone(actor.corp.tzinfo)
    month_start = datetime.combine(local.date().replace(day=1), time.min, tzinfo=actor.corp.tzinfo)
    rows = list(customer_deliveries(actor, customer.id, since=month_start)[:100])
    counted = Delivery.objects.filter(
        corp=actor.corp, customer_id=customer.id, status__in=budget.COUNTED, planned_at__gte=windows.cap_since, planned_at__lt=windows.cap_until
    ).count()
    return {"rows": rows, "count": counted, "cap": windows.cap}


def staff_send_counts(actor: Actor, *, days: int = 30, top: int = 20) -> list[dict]:
    """Mass sends staff made on their own lately, per member, the most active first."""
    actor.require_manager()
    since = now() - timedelta(days=days)
    rows = (
        StaffSend.objects.for_corp(actor.corp)
        .filter(created_at__gte=since)
        .values("creator", "staff__name")
        .annotate(n=Count("id"), last=Max("created_at"))
        .order_by("-n", "creator")[:top]
    )
    return [{"userid": r["creator"], "name": r["staff__name"] or r["creator"], "sends": r["n"], "last": r["last"]} for r in rows]


def moments(actor: Actor):
    """A manager sees every moment; a guide those they were asked to publish."""
    rows = Moment.objects.for_corp(actor.corp)
    if actor.is_guide:
        rows = rows.filter(id__in=MomentExecutor.objects.filter(staff_id=actor.staff_id).values("moment_id"))
    return rows.order_by("-created_at", "-id")


def moment_get(actor: Actor, moment_id: int) -> Moment:
    return get_for(actor, moments(actor), _("No such moment."), pk=moment_id)


def moment_executors(actor: Actor, moment: Moment):
    rows = moment.executor_rows.select_related("staff").order_by("-published", "staff__name")
    return rows.filter(staff_id=actor.staff_id) if actor.is_guide else rows


# -- the content library --------------------------------------------------------------------------------
def content_folders(actor: Actor):
    return ContentFolder.objects.for_corp(actor.corp).order_by("name")


def content_folders_to_edit(actor: Actor):
    """The folders an item's editor offers: editing the library is a manager's."""
    actor.require_manager()
    return content_folders(actor)


def content_items(actor: Actor, *, kind: str = "", folder: int | None = None, tag: str = "", archived: bool = False, q: str = ""):
    """Everyone sees the library (guides send from it); managers change it."""
    rows = ContentItem.objects.for_corp(actor.corp).filter(status=ContentItem.Status.ARCHIVED if archived else ContentItem.Status.ACTIVE)
    if kind:
        rows = rows.filter(kind=kind)
    if folder:
        rows = rows.filter(folder_id=folder)
    if q:
        rows = rows.filter(title__icontains=q)
    if tag:
        # The library is small; its tags are matched here (a JSON containment lookup would not run on SQLite).
        rows = rows.filter(pk__in=[pk for pk, tags in rows.values_list("pk", "tags") if tag in (tags or [])])
    return rows.select_related("folder").order_by("-updated_at", "-id")


def content_item_get(actor: Actor, item_id: int) -> ContentItem:
    return get_for(actor, ContentItem.objects.select_related("folder"), _("No such item in the content library."), pk=item_id)


def content_tags(actor: Actor) -> list[str]:
    found: dict[str, None] = {}
    for tags in ContentItem.objects.for_corp(actor.corp).filter(status=ContentItem.Status.ACTIVE).values_list("tags", flat=True):
        found.update(dict.fromkeys(tags or []))
    return sorted(found)
