"""Customer moments (客户朋友圈): HQ's post that executors publish to their customers' feed.

Like a mass send, a moments task only reaches customers through staff: `add_moment_task` (not
idempotent: `attempted_at` first, then a lost task is found by time and text) gives each executor
a task; results come back from `get_moment_task` (who published), `get_moment_send_result` (whom
it showed to) and `get_moment_comments` (likes and comments), pulled on the mass sends' schedule.
Customers who like or comment can be tagged (in Siyu and in WeCom).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from siyu.corps.models import Staff
from siyu.customers.models import Customer
from siyu.customers.services import customers_tags_change
from siyu.kit.clock import now
from siyu.kit.due import DueWork, exponential
from siyu.kit.errors import Conflict, InvalidInput
from siyu.kit.queue import enqueue_after_commit
from siyu.kit.tenancy import Actor, Role
from siyu.tags.models import Tag
from siyu.tags.selectors import resolve_tags
from siyu.wecom.client import WeComClient
from siyu.wecom.outbound import tags_ensure_in_wecom

from .content import content_clean
from .library import LinkSource
from .mass_sends import CLOSE_AFTER, PULL_AFTER, next_pull, result_pulls, senders
from .media import attachments_for_wecom
from .models import Media, Moment, MomentExecutor, MomentReaction

MOMENT_TEXT = 2000  # characters, WeCom's limit for a moment
MOMENT_LINK_TITLE = 64  # bytes
MOMENT_VIDEO_BYTES = 10 * 1024 * 1024
Status = Moment.Status

MOMENT_CREATE = DueWork(
    "moment",
    Moment,
    task="siyu.messaging.tasks.create_moment",
    waiting=(Status.DUE,),
    running=Status.CREATING,
    done=Status.CREATED,
    failed=Status.FAILED,
    lease=timedelta(minutes=2),
    max_attempts=8,
    backoff=exponential(30, 1800),
)
MOMENT_PULL = result_pulls("moment results", Moment, "siyu.messaging.tasks.pull_moment")


def moment_content_clean(corp, *, text: str, attachments: list[dict]) -> tuple[str, list[dict]]:
    """Message content, and WeCom's rules for a moment on top: text at most 2,000 characters; nine
    images, or one video of at most 10 MB, or one link (title at most 64 bytes), never mixed."""
    if len(text or "") > MOMENT_TEXT:
        raise InvalidInput(_("A moment's text is at most %(max)d characters.") % {"max": MOMENT_TEXT}, code="text_too_long", field="text")
    text, attachments = content_clean(corp, text=text, attachments=attachments, required=True)
    kinds = {a["msgtype"] for a in attachments}
    if not kinds <= {"image", "video", "link"}:
        raise InvalidInput(_("A moment takes images, a video or a link."), code="bad_moment_attachment", field="attachments")
    if len(kinds) > 1 or (kinds & {"video", "link"} and len(attachments) > 1):
        raise InvalidInput(_("A moment has up to nine images, or one video, or one link, never mixed."), code="mixed_attachments", field="attachments")
    for i, a in enumerate(attachments):
        if a["msgtype"] == "link" and len(a["link"].get("title", "").encode()) > MOMENT_LINK_TITLE:
            raise InvalidInput(
                _("A moment's link title is at most %(max)d bytes.") % {"max": MOMENT_LINK_TITLE}, code="too_long", field=f"attachments.{i}.link.title"
            )
        if a["msgtype"] == "video" and Media.objects.filter(pk=a["video"].get("media"), size__gt=MOMENT_VIDEO_BYTES).exists():
            raise InvalidInput(_("A moment's video is at most 10 MB."), code="video_too_large", field=f"attachments.{i}.video.media")
    return text, attachments


def moment_create(
    *,
    actor: Actor,
    text: str = "",
    attachments: list[dict] = (),
    staff_ids: list[int] = (),
    department_ids: list[int] = (),
    tag_ids: list[int] = (),
    like_tag_id: int | None = None,
    comment_tag_id: int | None = None,
) -> Moment:
    actor.require_manager()
    text, attachments = moment_content_clean(actor.corp, text=text, attachments=list(attachments))
    staff_ids, department_ids = sorted(set(staff_ids)), sorted(set(department_ids))
    if not senders(actor, staff_ids, department_ids).exists():
        raise InvalidInput(_("No staff member would publish it."), code="no_executors", field="staff_ids")
    tags = resolve_tags(actor, sorted(set(tag_ids)), "tag_ids")
    like = resolve_tags(actor, [like_tag_id], "like_tag_id")[0] if like_tag_id else None
    comment = resolve_tags(actor, [comment_tag_id], "comment_tag_id")[0] if comment_tag_id else None
    moment = Moment.objects.create(
        corp=actor.corp,
        text=text,
        attachments=attachments,
        staff_ids=staff_ids,
        department_ids=department_ids,
        tag_ids=[t.id for t in tags],
        like_tag=like,
        comment_tag=comment,
        created_by=actor.user,
        due_at=now(),
    )
    MOMENT_CREATE.enqueue(moment.pk)
    return moment


def moment_create_in_wecom(moment_pk: int, client: WeComClient | None = None) -> str:
    return MOMENT_CREATE.run(moment_pk, lambda claim: _create(claim, client))


def _create(claim, client: WeComClient | None) -> str:
    moment = Moment.objects.select_related("corp").get(pk=claim.pk)
    client = client or WeComClient(moment.corp)
    actor = Actor(user=None, corp=moment.corp, role=Role.ADMIN)
    executors = list(senders(actor, moment.staff_ids, moment.department_ids))
    if moment.attempted_at is not None:
        found = _find_created(client, moment)
        if found:
            _created(claim, moment, executors, moment_id=found, jobid="", invalid=[])
            return "adopted"
    tags = list(Tag.objects.filter(corp=moment.corp, pk__in=moment.tag_ids, deleted_at__isnull=True).select_related("group"))
    tags_ensure_in_wecom(moment.corp, tags, client)
    Moment.objects.filter(pk=moment.pk).update(attempted_at=now())
    jobid = client.add_moment_task(
        text=moment.text,
        attachments=attachments_for_wecom(moment.corp, moment.attachments, client, link=LinkSource(None, f"o{moment.pk}")),
        senders=[s.userid for s in executors],
        tags=[t.wecom_tag_id for t in Tag.objects.filter(pk__in=[t.pk for t in tags]) if t.wecom_tag_id],
    )
    result = client.moment_task_result(jobid)
    outcome = result.get("result") or {}
    invalid = (outcome.get("invalid_sender_list") or {}).get("user_list") or []
    _created(claim, moment, executors, moment_id=outcome.get("moment_id", "") if result.get("status") == 3 else "", jobid=jobid, invalid=invalid)
    return "created"


def _find_created(client: WeComClient, moment: Moment) -> str:
    """The moment an earlier attempt made, if any: made since the attempt, with this text, and not
    another Siyu moment's."""
    start = int(moment.attempted_at.timestamp()) - 60
    taken = set(Moment.objects.filter(corp=moment.corp).exclude(moment_id="").values_list("moment_id", flat=True))
    for page, _cursor in client.iter_moments(start_time=start, end_time=int(now().timestamp()) + 60):
        for row in page:
            if row["moment_id"] not in taken and (row.get("text") or {}).get("content", "") == moment.text:
                return row["moment_id"]
    return ""


def _created(claim, moment: Moment, executors: list[Staff], *, moment_id: str, jobid: str, invalid: list[str]) -> None:
    stamp = now()
    with transaction.atomic():
        if not claim.finish(moment_id=moment_id, jobid=jobid, invalid_senders=invalid, executors=len(executors) - len(invalid)):
            return
        MomentExecutor.objects.bulk_create(
            [MomentExecutor(corp=moment.corp, moment=moment, staff=s) for s in executors if s.userid not in invalid], ignore_conflicts=True
        )
        Moment.objects.filter(pk=moment.pk).update(pull_status="due", pull_due_at=stamp + PULL_AFTER[0], pull_attempts=0)
        MOMENT_PULL.enqueue(moment.pk, at=stamp + PULL_AFTER[0])


def moment_pull(moment_pk: int, client: WeComClient | None = None) -> str:
    return MOMENT_PULL.run(moment_pk, lambda claim: _pull(claim, client))


def _pull(claim, client: WeComClient | None) -> str:
    moment = Moment.objects.select_related("corp", "like_tag", "comment_tag").get(pk=claim.pk)
    client = client or WeComClient(moment.corp)
    if not moment.moment_id and moment.jobid:
        result = client.moment_task_result(moment.jobid)
        if result.get("status") == 3:
            moment.moment_id = (result.get("result") or {}).get("moment_id", "")
            Moment.objects.filter(pk=moment.pk).update(moment_id=moment.moment_id)
    stamp = now()
    if moment.moment_id and moment.status == Status.CREATED:
        published = {row["userid"] for row in client.moment_tasks(moment.moment_id) if row.get("publish_status") == 1}
        executors = list(moment.executor_rows.select_related("staff"))
        reactions = []
        for executor in executors:
            if executor.staff.userid not in published:
                continue
            reached = sum(len(page) for page, _cursor in client.iter_moment_send_result(moment.moment_id, executor.staff.userid))
            MomentExecutor.objects.filter(pk=executor.pk).update(published=True, reached=reached)
            answer = client.moment_comments(moment.moment_id, executor.staff.userid)
            for kind, rows in ((MomentReaction.Kind.LIKE, answer["like_list"]), (MomentReaction.Kind.COMMENT, answer["comment_list"])):
                for row in rows:
                    at = datetime.fromtimestamp(int(row.get("create_time") or stamp.timestamp()), tz=stamp.tzinfo)
                    reactions.append((executor.staff_id, row.get("external_userid", ""), kind, at))
        _record_reactions(moment, reactions)
    closes_at = moment.created_at + CLOSE_AFTER
    with transaction.atomic():
        counters = _counters(moment)
        if moment.status != Status.CREATED or stamp >= closes_at:
            claim.finish(status="done", pulled_at=stamp, **counters)
            Moment.objects.filter(pk=moment.pk, status=Status.CREATED).update(status=Status.CLOSED)
            return "closed"
        at = next_pull(moment.created_at, stamp, closes_at)
        claim.finish(status="due", pull_due_at=at, pulled_at=stamp, **counters)
        MOMENT_PULL.enqueue(moment.pk, at=at)
    return "pulled"


def _record_reactions(moment: Moment, reactions: list[tuple]) -> None:
    """New likes and comments, and the tags they earn (once: a reaction seen again adds nothing)."""
    if not reactions:
        return
    customers = dict(Customer.objects.filter(corp=moment.corp, external_userid__in={r[1] for r in reactions}).values_list("external_userid", "pk"))
    known = set(MomentReaction.objects.filter(moment=moment).values_list("staff_id", "external_userid", "kind"))
    new = [r for r in reactions if (r[0], r[1], r[2]) not in known]
    with transaction.atomic():
        MomentReaction.objects.bulk_create(
            [
                MomentReaction(corp=moment.corp, moment=moment, staff_id=s, customer_id=customers.get(e), external_userid=e, kind=k, at=at)
                for s, e, k, at in new
            ],
            ignore_conflicts=True,
        )
        system = Actor(user=None, corp=moment.corp, role=Role.ADMIN)
        for kind, tag in ((MomentReaction.Kind.LIKE, moment.like_tag), (MomentReaction.Kind.COMMENT, moment.comment_tag)):
            ids = {customers[e] for _s, e, k, _at in new if k == kind and e in customers}
            if tag is not None and tag.deleted_at is None and ids:
                customers_tags_change(actor=system, customers=Customer.objects.filter(pk__in=ids), add=[tag])


def _counters(moment: Moment) -> dict:
    executors = moment.executor_rows.all()
    return {
        "published": executors.filter(published=True).count(),
        "reached": sum(executors.values_list("reached", flat=True)),
        "likes": moment.reactions.filter(kind=MomentReaction.Kind.LIKE).count(),
        "comments": moment.reactions.filter(kind=MomentReaction.Kind.COMMENT).count(),
    }


def moment_cancel(*, actor: Actor, moment: Moment) -> Moment:
    actor.require_manager()
    if moment.status not in (Status.DUE, Status.CREATED):
        raise Conflict(_("This moment cannot be cancelled now."), code="moment_over", field="status")
    if moment.status == Status.DUE and Moment.objects.filter(pk=moment.pk, status=Status.DUE).update(status=Status.CANCELLED):
        moment.refresh_from_db()
        return moment
    enqueue_after_commit("siyu.messaging.tasks.cancel_moment", moment.pk)
    return moment


def moment_cancel_in_wecom(moment_pk: int, client: WeComClient | None = None) -> str:
    moment = Moment.objects.select_related("corp").get(pk=moment_pk)
    if moment.status != Status.CREATED or not moment.moment_id:
        return "nothing to cancel"
    (client or WeComClient(moment.corp)).cancel_moment_task(moment.moment_id)
    Moment.objects.filter(pk=moment.pk, status=Status.CREATED).update(status=Status.CANCELLED)
    return "cancelled"


def moment_remind(*, actor: Actor, moment: Moment) -> None:
    actor.require_manager()
    if moment.status != Status.CREATED:
        raise Conflict(_("Only a moment waiting for staff can be reminded."), code="moment_not_waiting", field="status")
    enqueue_after_commit("siyu.messaging.tasks.remind_moment", moment.pk)


def moment_remind_in_wecom(moment_pk: int, client: WeComClient | None = None) -> int:
    """WeCom has no reminder for moments: a card from the corp's app to each executor who has not
    published, once a day. Returns how many were reminded."""
    moment = Moment.objects.select_related("corp").get(pk=moment_pk)
    if not moment.corp.agent_id:
        return 0
    client = client or WeComClient(moment.corp)
    stamp = now()
    waiting = moment.executor_rows.filter(published=False).exclude(reminded_at__gt=stamp - timedelta(hours=24)).select_related("staff")
    userids = [e.staff.userid for e in waiting]
    if not userids:
        return 0
    client.app_textcard(
        agentid=moment.corp.agent_id,
        userids=userids,
        title=_("A moment is waiting for you"),
        description=_("Open 客户朋友圈 in WeCom and publish HQ's post."),
        url=f"{settings.SIYU_PUBLIC_URL}/moments/{moment.pk}/",
    )
    waiting.update(reminded_at=stamp)
    return len(userids)


def moments_sweep(older_than: timedelta) -> int:
    return sum(work.sweep(older_than=older_than) for work in (MOMENT_CREATE, MOMENT_PULL))
