"""Staff handover (在职转接 / 离职继承): a member's customers, and their customer groups, to another.

1. `handover_create` checks the two members and the customers and refuses, before WeCom is
   asked, the customers WeCom would refuse for its limit: a customer is moved at most twice in 90
   days (counted from Siyu's own record of what WeCom accepted). A member still on the job hands
   over with `transfer_customer` (customers are told, and have 24 hours to refuse); one who left
   with `resigned/transfer_customer`.
2. Sending (`SEND`, due work): 100 customers a call. `transfer_customer` is not idempotent, so a
   chunk is marked `sending` before the call; after a crash, WeCom's `transfer_result` tells which
   of them it has, and only the others are sent again. Their groups follow with
   `groupchat/onjob_transfer` or `groupchat/transfer`.
3. WeCom's answers (`PULL`, every half hour until none is waiting, at most three days): a customer
   taken over gets the taker's follow with the old one's remark and tags, the old follow ends,
   and their open guide-task items move to the taker's share of each task. Follow-up notes are the
   customer's timeline, which the taker now sees. WeCom's own callbacks (the deletion marked
   DELETE_BY_TRANSFER, the taker's add) say the same and change nothing twice.
Functions that call WeCom never run inside a database transaction.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import Count, F
from django.utils.translation import gettext as _

from siyu.corps.models import Staff
from siyu.customers.models import Follow, FollowTag
from siyu.customers.services import follow_add, follow_end
from siyu.groups.models import CustomerGroup
from siyu.kit.clock import now
from siyu.kit.due import DueWork, exponential
from siyu.kit.errors import InvalidInput, Unavailable
from siyu.kit.schema import text_within
from siyu.kit.tenancy import Actor
from siyu.messaging.mass_sends import result_pulls
from siyu.wecom.client import WeComClient, WeComError

from .models import GuideAssignment, GuideTask, GuideTaskItem, Handover, HandoverItem

Status = Handover.Status
Item = HandoverItem.Status
CHUNK = 100  # transfer_customer and the group transfers take 100 a call
MOVES_PER_90_DAYS = 2
LIMIT_WINDOW = timedelta(days=90)
PULL_EVERY = timedelta(minutes=30)
GIVE_UP_AFTER = timedelta(days=3)  # WeCom gives customers 24 hours to refuse
# transfer_result's status → the item's
RESULT = {1: Item.DONE, 3: Item.REFUSED, 4: Item.TAKER_FULL}
LIMIT_ERRCODE = 40129  # WeCom: moved twice in 90 days already

SEND = DueWork(
    "handover",
    Handover,
    task="siyu.guides.tasks.send_handover",
    waiting=(Status.DUE,),
    running=Status.SENDING,
    done=Status.WAITING,
    failed=Status.FAILED,
    lease=timedelta(minutes=10),
    max_attempts=6,
    backoff=exponential(30, 1800),
)
PULL = result_pulls("handover results", Handover, "siyu.guides.tasks.pull_handover")


def _staff(actor: Actor, pk, field: str) -> Staff:
    staff = Staff.objects.for_corp(actor.corp).filter(pk=pk).first() if isinstance(pk, int) and not isinstance(pk, bool) else None
    if staff is None:
        raise InvalidInput(_("Choose one of this corp's staff members."), code="no_such_staff", field=field)
    return staff


def moved_recently(customer_ids, at: datetime | None = None) -> dict[int, int]:
    """How many times WeCom accepted a move of each customer in the last 90 days."""
    since = (at or now()) - LIMIT_WINDOW
    rows = HandoverItem.objects.filter(customer_id__in=list(customer_ids), sent_at__gte=since).values("customer_id").annotate(n=Count("id"))
    return dict(rows.values_list("customer_id", "n"))


def handover_plan(*, actor: Actor, handover_staff_id: int, takeover_staff_id: int, customer_ids: list[int] | None = None) -> dict:
    """Who would move and who WeCom's limit keeps back, without saving anything (the preview)."""
    actor.require_manager()
    giver = _staff(actor, handover_staff_id, "handover_staff_id")
    taker = _staff(actor, takeover_staff_id, "takeover_staff_id")
    if giver.pk == taker.pk:
        raise InvalidInput(_("Hand over to someone else."), code="same_staff", field="takeover_staff_id")
    if taker.status != Staff.Status.ACTIVE:
        raise InvalidInput(_("%(name)s has left and cannot take customers.") % {"name": taker.name}, code="taker_left", field="takeover_staff_id")
    theirs = set(
        Follow.objects.filter(staff=giver, deleted_by_staff_at__isnull=True, deleted_by_customer_at__isnull=True).values_list("customer_id", flat=True)
    )
    if customer_ids is None:
        chosen = theirs
    else:
        chosen = set(customer_ids)
        if chosen - theirs:
            raise InvalidInput(
                _("%(n)d of the chosen customers are not %(name)s's.") % {"n": len(chosen - theirs), "name": giver.name},
                code="not_their_customer",
                field="customer_ids",
            )
    counts = moved_recently(chosen)
    over = {c for c in chosen if counts.get(c, 0) >= MOVES_PER_90_DAYS}
    groups = CustomerGroup.objects.filter(corp=actor.corp, owner=giver).exclude(status=CustomerGroup.Status.DISMISSED).count()
    return {
        "giver": giver,
        "taker": taker,
        "resigned": giver.status != Staff.Status.ACTIVE,
        "customers": sorted(chosen - over),
        "over_limit": sorted(over),
        "groups": groups,
    }


def handover_create(
    *,
    actor: Actor,
    handover_staff_id: int,
    takeover_staff_id: int,
    customer_ids: list[int] | None = None,
    groups: bool = False,
    message: str = "",
) -> Handover:
    """Hand `customer_ids` (every active customer of the member when None) and, asked, their
    groups over; sent to WeCom by the worker at once."""
    plan = handover_plan(actor=actor, handover_staff_id=handover_staff_id, takeover_staff_id=takeover_staff_id, customer_ids=customer_ids)
    message = text_within((message or "").strip(), 200, "message")
    if message and plan["resigned"]:
        raise InvalidInput(_("Customers of a member who left are not sent a message."), code="no_message_when_resigned", field="message")
    if not plan["customers"] and not (groups and plan["groups"]):
        if plan["over_limit"]:
            raise InvalidInput(
                _("Each of these %(n)d customers was moved twice in the last 90 days already: WeCom allows no third move yet.")
                % {"n": len(plan["over_limit"])},
                code="over_limit",
                field="customer_ids",
            )
        raise InvalidInput(
            _("%(name)s has no customers or groups to hand over.") % {"name": plan["giver"].name}, code="nothing_to_hand_over", field="customer_ids"
        )
    handover = Handover.objects.create(
        corp=actor.corp,
        handover_staff=plan["giver"],
        takeover_staff=plan["taker"],
        resigned=plan["resigned"],
        message=message,
        groups=groups and plan["groups"] > 0,
        customers=len(plan["customers"]) + len(plan["over_limit"]),
        over_limit=len(plan["over_limit"]),
        created_by=actor.user,
        due_at=now(),
    )
    HandoverItem.objects.bulk_create(
        [HandoverItem(corp=actor.corp, handover=handover, customer_id=c) for c in plan["customers"]]
        + [HandoverItem(corp=actor.corp, handover=handover, customer_id=c, status=Item.OVER_LIMIT, errcode=LIMIT_ERRCODE) for c in plan["over_limit"]],
        batch_size=1000,
    )
    SEND.enqueue(handover.pk)
    return handover


# -- sending ----------------------------------------------------------------------------------------------
def handover_send(handover_pk: int, client: WeComClient | None = None) -> str:
    return SEND.run(handover_pk, lambda claim: _send(claim, client))


def _externals(items) -> dict[str, int]:
    return dict(items.values_list("customer__external_userid", "pk"))


def _send(claim, client: WeComClient | None) -> str:
    h = Handover.objects.select_related("corp", "handover_staff", "takeover_staff").get(pk=claim.pk)
    client = client or WeComClient(h.corp)
    giver, taker = h.handover_staff.userid, h.takeover_staff.userid
    interrupted = HandoverItem.objects.filter(handover=h, status=Item.SENDING)
    if interrupted.exists():
        # A call whose answer was lost: what WeCom has is waiting (or settled); the rest goes again.
        known = {r["external_userid"] for r in client.transfer_results(handover=giver, takeover=taker, resigned=h.resigned)}
        for external, pk in _externals(interrupted).items():
            status = Item.WAITING if external in known else Item.QUEUED
            HandoverItem.objects.filter(pk=pk).update(status=status, sent_at=now() if status == Item.WAITING else None)
    while True:
        chunk = _externals(HandoverItem.objects.filter(handover=h, status=Item.QUEUED).order_by("id")[:CHUNK])
        if not chunk:
            break
        HandoverItem.objects.filter(pk__in=chunk.values()).update(status=Item.SENDING)
        answers = client.transfer_customer(handover=giver, takeover=taker, external_userids=list(chunk), message=h.message, resigned=h.resigned)
        stamp = now()
        with transaction.atomic():
            for answer in answers:
                pk = chunk.get(answer.get("external_userid"))
                if pk is None:
                    continue
                code = int(answer.get("errcode") or 0)
                if code == 0:
                    HandoverItem.objects.filter(pk=pk).update(status=Item.WAITING, sent_at=stamp, errcode=0)
                elif code == LIMIT_ERRCODE:
                    HandoverItem.objects.filter(pk=pk).update(status=Item.OVER_LIMIT, errcode=code, settled_at=stamp)
                else:
                    HandoverItem.objects.filter(pk=pk).update(status=Item.REFUSED_BY_WECOM, errcode=code, settled_at=stamp)
    if h.groups and not h.groups_moved and not h.groups_failed:
        _send_groups(h, client)
    waiting = HandoverItem.objects.filter(handover=h, status=Item.WAITING).exists()
    stamp = now()
    with transaction.atomic():
        claim.finish(status=Status.WAITING if waiting else Status.DONE)
        if waiting:
            Handover.objects.filter(pk=h.pk).update(pull_status="due", pull_due_at=stamp + PULL_EVERY, pull_attempts=0)
            PULL.enqueue(h.pk, at=stamp + PULL_EVERY)
    return "sent"


def _send_groups(h: Handover, client: WeComClient) -> None:
    chats = list(
        CustomerGroup.objects.filter(corp=h.corp, owner=h.handover_staff).exclude(status=CustomerGroup.Status.DISMISSED).values_list("chat_id", flat=True)
    )
    failed: list[dict] = []
    for i in range(0, len(chats), CHUNK):
        part = chats[i : i + CHUNK]
        refused = client.groupchat_transfer(chat_ids=part, new_owner=h.takeover_staff.userid, resigned=h.resigned)
        failed += [{"chat_id": r["chat_id"], "errcode": r["errcode"]} for r in refused]
        moved = set(part) - {r["chat_id"] for r in refused}
        CustomerGroup.objects.filter(corp=h.corp, chat_id__in=moved).update(owner=h.takeover_staff)
        Handover.objects.filter(pk=h.pk).update(groups_moved=F("groups_moved") + len(moved), groups_failed=failed)


# -- WeCom's answers ------------------------------------------------------------------------------------------
def handover_pull(handover_pk: int, client: WeComClient | None = None) -> str:
    return PULL.run(handover_pk, lambda claim: _pull(claim, client))


def _pull(claim, client: WeComClient | None) -> str:
    h = Handover.objects.select_related("corp", "handover_staff", "takeover_staff").get(pk=claim.pk)
    client = client or WeComClient(h.corp)
    results = {
        r["external_userid"]: r for r in client.transfer_results(handover=h.handover_staff.userid, takeover=h.takeover_staff.userid, resigned=h.resigned)
    }
    waiting = HandoverItem.objects.filter(handover=h, status=Item.WAITING).select_related("customer")
    for item in waiting:
        r = results.get(item.customer.external_userid) or {}
        outcome = RESULT.get(int(r.get("status") or 0))
        if outcome is None:
            continue
        at = datetime.fromtimestamp(int(r.get("takeover_time") or 0), tz=now().tzinfo) if r.get("takeover_time") else now()
        with transaction.atomic():
            if not HandoverItem.objects.filter(pk=item.pk, status=Item.WAITING).update(status=outcome, settled_at=at):
                continue
            if outcome == Item.DONE:
                _moved(h, item.customer_id, at)
    stamp = now()
    still = HandoverItem.objects.filter(handover=h, status=Item.WAITING).exists()
    with transaction.atomic():
        if not still or stamp >= h.created_at + GIVE_UP_AFTER:
            claim.finish(status="done", pulled_at=stamp)
            Handover.objects.filter(pk=h.pk).update(status=Status.DONE)
            return "closed"
        claim.finish(status="due", pull_due_at=stamp + PULL_EVERY, pulled_at=stamp)
        PULL.enqueue(h.pk, at=stamp + PULL_EVERY)
    return "pulled"


def _moved(h: Handover, customer_id: int, at: datetime) -> None:
    """The customer is the taker's now: their follow (the old one's remark and tags), the old one
    ended, and the giver's open guide-task items for them in the taker's shares."""
    old = Follow.objects.filter(staff=h.handover_staff, customer_id=customer_id).select_related("customer").first()
    if old is not None:
        new = follow_add(customer=old.customer, staff=h.takeover_staff, added_at=at, remark=old.remark, description=old.description, add_way=202)
        FollowTag.objects.bulk_create(
            [FollowTag(corp_id=new.corp_id, follow=new, tag_id=t) for t in old.follow_tags.values_list("tag_id", flat=True)], ignore_conflicts=True
        )
        follow_end(follow=old, by="staff", at=at)
    items_move(customer_id=customer_id, giver_id=h.handover_staff_id, taker_id=h.takeover_staff_id)


def items_move(*, customer_id: int, giver_id: int, taker_id: int) -> int:
    """A customer's open items in tasks in progress, from one guide's shares to another's (made
    when the taker has none in that task), with the shares' counters."""
    moved = 0
    items = GuideTaskItem.objects.filter(customer_id=customer_id, staff_id=giver_id, status=GuideTaskItem.Status.OPEN, task__status=GuideTask.Status.ACTIVE)
    for item in list(items.select_related("task")):
        share, created = GuideAssignment.objects.get_or_create(corp_id=item.corp_id, task_id=item.task_id, staff_id=taker_id)
        if created:
            GuideTask.objects.filter(pk=item.task_id).update(guides_total=F("guides_total") + 1)
        GuideTaskItem.objects.filter(pk=item.pk).update(assignment=share, staff_id=taker_id)
        GuideAssignment.objects.filter(pk=item.assignment_id).update(items_total=F("items_total") - 1)
        GuideAssignment.objects.filter(pk=share.pk).update(items_total=F("items_total") + 1)
        moved += 1
    return moved


def handovers_sweep(older_than: timedelta) -> int:
    return sum(work.sweep(older_than=older_than) for work in (SEND, PULL))


def unassigned(actor: Actor, client: WeComClient | None = None) -> list[dict]:
    """WeCom's list of leavers' customers not yet handed over (`get_unassigned_list`), per leaver:
    who they were in Siyu, how many customers, when they left. A read from WeCom, made when HQ
    opens the page (a manager's)."""
    actor.require_manager()
    if not actor.corp.secret_encrypted:
        raise InvalidInput(_("The corp has no customer-contact secret yet; save it in the corp settings first."), field="secret", code="no_secret")
    client = client or WeComClient(actor.corp)
    per: dict[str, dict] = {}
    try:
        for page, _cursor in client.iter_unassigned():
            for row in page:
                entry = per.setdefault(row["handover_userid"], {"userid": row["handover_userid"], "customers": 0, "left_at": row.get("dimission_time") or 0})
                entry["customers"] += 1
    except WeComError as exc:
        raise Unavailable(_("WeCom did not answer (%(error)s); try again in a moment.") % {"error": exc.errmsg}, code="wecom_unavailable") from exc
    staff = {s.userid: s for s in Staff.objects.filter(corp=actor.corp, userid__in=list(per))}
    for entry in per.values():
        entry["staff"] = staff.get(entry["userid"])
        entry["left_at"] = datetime.fromtimestamp(int(entry["left_at"]), tz=UTC) if entry["left_at"] else None
    return sorted(per.values(), key=lambda e: -e["customers"])
