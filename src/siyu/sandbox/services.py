"""Controls for the simulated WeCom: set up its world and make it misbehave on purpose."""

import secrets
import time
from calendar import monthrange
from datetime import timedelta

from django.db import transaction
from django.db.models import F

from siyu.kit.clock import now

from .models import (
    CHINA,
    SbCorp,
    SbCustomer,
    SbDepartment,
    SbFault,
    SbFollow,
    SbGroup,
    SbGroupDay,
    SbGroupMember,
    SbMoment,
    SbMomentReach,
    SbMsgSend,
    SbMsgTemplate,
    SbStaff,
    SbTag,
    SbTagGroup,
    SbToken,
    china_today,
)


def corp_create(*, corpid: str, name: str, secret: str | None = None, **settings) -> SbCorp:
    return SbCorp.objects.create(corpid=corpid, name=name, secret=secret or secrets.token_urlsafe(32), **settings)


def staff_add(*, corp: SbCorp, userid: str, name: str, department: int = 1, position: str = "") -> SbStaff:
    return SbStaff.objects.create(corp=corp, userid=userid, name=name, department=department, position=position)


def customer_add(
    *, corp: SbCorp, staff: SbStaff, external_userid: str, name: str, createtime: int | None = None, state: str = "", add_way: int = 1, **fields
) -> SbFollow:
    customer, _ = SbCustomer.objects.get_or_create(corp=corp, external_userid=external_userid, defaults={"name": name, **fields})
    follow, _ = SbFollow.objects.get_or_create(
        corp=corp,
        customer=customer,
        staff=staff,
        defaults={"createtime": createtime or int(now().timestamp()), "state": state, "add_way": add_way},
    )
    return follow


def fault_inject(*, corp: SbCorp, errcode: int = 0, api: str = "*", times: int = 1, delay_ms: int = 0, after: int = 0) -> SbFault:
    return SbFault.objects.create(corp=corp, api=api, errcode=errcode, remaining=times, delay_ms=delay_ms, after=after)


def tokens_revoke(*, corp: SbCorp) -> int:
    """WeCom may invalidate a token before its expiry; clients then see 40014."""
    return SbToken.objects.filter(corp=corp, revoked=False).update(revoked=True)


def tokens_expire(*, corp: SbCorp) -> int:
    return SbToken.objects.filter(corp=corp).update(expires_at=now() - timedelta(seconds=1))


def fault_take(*, corp: SbCorp, api: str) -> SbFault | None:
    """Consume one injected fault for this call, oldest first; None when there is none."""
    # "*" means every API call, not gettoken: a fault meant for gettoken names it.
    apis = [api] if api == "gettoken" else [api, "*"]
    # Almost every call finds none: a plain read, no write lock taken.
    if not SbFault.objects.filter(corp=corp, api__in=apis, remaining__gt=0).exists():
        return None
    with transaction.atomic():
        fault = SbFault.objects.select_for_update().filter(corp=corp, api__in=apis, remaining__gt=0).order_by("id").first()
        if fault is None:
            return None
        if fault.after:
            SbFault.objects.filter(pk=fault.pk).update(after=F("after") - 1)
            return None
        SbFault.objects.filter(pk=fault.pk).update(remaining=F("remaining") - 1)
        return fault


def department_add(*, corp: SbCorp, dept_id: int, name: str, parent_id: int = 0):
    return SbDepartment.objects.create(corp=corp, dept_id=dept_id, name=name, parent_id=parent_id, order=dept_id)


def tag_group_add(*, corp: SbCorp, name: str, tags: list[str], order: int = 0):
    """Create a tag group with tags the way add_corp_tag does; ids look like WeCom's (et…)."""
    stamp = int(time.time())
    group = SbTagGroup.objects.create(corp=corp, group_id="et" + secrets.token_hex(11), name=name, order=order, create_time=stamp)
    for i, tag in enumerate(tags):
        SbTag.objects.create(group=group, tag_id="et" + secrets.token_hex(11), name=tag, order=i, create_time=stamp)
    return group


def group_add(*, corp: SbCorp, owner: SbStaff, name: str, members: list[SbCustomer] = (), state: str = ""):
    """A customer group owned by a member, with customers invited directly (join_scene 1)."""
    stamp = int(time.time())
    group = SbGroup.objects.create(corp=corp, chat_id="wr" + secrets.token_hex(14), name=name, owner=owner, create_time=stamp)
    SbGroupMember.objects.create(group=group, userid=owner.userid, type=1, name=owner.name, join_time=stamp, join_scene=1)
    SbGroupMember.objects.bulk_create(
        [
            SbGroupMember(group=group, userid=c.external_userid, type=2, name=c.name, join_time=stamp, join_scene=1, invitor=owner.userid, state=state)
            for c in members
        ]
    )
    return group


def msg_template_confirm(*, template, userid: str) -> dict:
    """The member confirms a mass send in their WeCom app: each recipient is sent, or fails as WeCom says.

    2: the customer is no longer the member's contact; 3: the customer already received as many
    corp mass messages as the corp's rule allows (this month's days, 7 this week, or 1 today).
    A cancelled send can no longer be confirmed.
    """
    counts = {0: 0, 1: 0, 2: 0, 3: 0}
    if template.cancelled:
        return counts
    stamp = int(time.time())
    cap, since = receive_cap(template.corp)
    for send in template.sends.filter(userid=userid, status=0):
        if send.external_userid:
            if not SbFollow.objects.filter(corp=template.corp, staff__userid=userid, customer__external_userid=send.external_userid).exists():
                send.status = 2
            elif SbMsgSend.objects.filter(template__corp=template.corp, external_userid=send.external_userid, status=1, send_time__gte=since).count() >= cap:
                send.status = 3
            else:
                send.status = 1
        elif SbMsgSend.objects.filter(template__corp=template.corp, chat_id=send.chat_id, status=1, send_time__gte=since).count() >= cap:
            send.status = 3  # a group has the same receive limit as a customer
        else:
            send.status = 1
        send.send_time = stamp if send.status == 1 else 0
        send.save(update_fields=["status", "send_time"])
        counts[send.status] += 1
    SbFollow.objects.filter(
        corp=template.corp, staff__userid=userid, customer__external_userid__in=[s.external_userid for s in template.sends.filter(userid=userid, status=1)]
    ).update(last_chat_at=stamp)
    return counts


def receive_cap(corp: SbCorp) -> tuple[int, int]:
    """How many corp mass messages one customer may receive, and since when (unix time, China's calendar)."""
    today = now().astimezone(CHINA)
    midnight = today.replace(hour=0, minute=0, second=0, microsecond=0)
    if corp.receive_cap == "day_1":
        return 1, int(midnight.timestamp())
    if corp.receive_cap == "week_7":
        return 7, int((midnight - timedelta(days=midnight.weekday())).timestamp())
    return monthrange(today.year, today.month)[1], int(midnight.replace(day=1).timestamp())


def staff_resign(*, staff: SbStaff) -> None:
    """The member leaves the company: their customers become "unassigned" until handed over."""
    staff.external_enabled = False
    staff.save(update_fields=["external_enabled"])


def staff_sends_own(*, staff: SbStaff, external_userids: list[str], text: str) -> SbMsgTemplate:
    """A member mass-sends on their own from their phone (a personal send, create_type 1): sent at once."""
    stamp = int(time.time())
    template = SbMsgTemplate.objects.create(
        corp=staff.corp, msgid="msg" + secrets.token_hex(12), chat_type="single", creator=staff.userid, create_type=1, text=text, create_time=stamp
    )
    SbMsgSend.objects.bulk_create([SbMsgSend(template=template, userid=staff.userid, external_userid=e, status=1, send_time=stamp) for e in external_userids])
    return template


def moment_publish(*, moment: SbMoment, userid: str) -> int:
    """The member publishes the moment: it shows to their customers (those with one of the task's
    tags, when it names any). Returns how many it reached; a cancelled task publishes nothing."""
    task = moment.tasks.filter(userid=userid, publish_status=0).first()
    if task is None or moment.cancelled:
        return 0
    tags = set(((moment.visible_range.get("external_contact_list") or {}).get("tag_list")) or [])
    follows = SbFollow.objects.filter(corp=moment.corp, staff__userid=userid).select_related("customer")
    reached = [f.customer.external_userid for f in follows if not tags or tags & set(f.tag_ids)]
    task.publish_status, task.publish_time = 1, int(time.time())
    task.save(update_fields=["publish_status", "publish_time"])
    SbMomentReach.objects.bulk_create([SbMomentReach(task=task, external_userid=e) for e in reached])
    return len(reached)


def moment_react(*, moment: SbMoment, external_userid: str, like: bool = False, comment: bool = False) -> None:
    """A customer the moment showed to likes it or comments on it."""
    stamp = int(time.time())
    changes = {**({"liked_at": stamp} if like else {}), **({"commented_at": stamp} if comment else {})}
    SbMomentReach.objects.filter(task__moment=moment, external_userid=external_userid).update(**changes)


def group_chat(*, group: SbGroup, userid: str, messages: int = 1, day=None) -> SbGroupDay:
    """Someone in a customer group sends `messages` messages (today, China time, unless `day`)."""
    with transaction.atomic():
        row, _ = SbGroupDay.objects.select_for_update().get_or_create(group=group, day=day or china_today())
        row.messages += messages
        if userid not in row.speakers:
            row.speakers = [*row.speakers, userid]
        row.save(update_fields=["messages", "speakers"])
    return row
