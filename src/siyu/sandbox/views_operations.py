"""Sandbox endpoints for operations: mass sends (add_msg_template and its results), customer
transfer (on-job and resigned), staff behaviour data, group statistics and moments."""

from __future__ import annotations

import secrets
import time
from datetime import date, datetime, timedelta

from django.db.models import Count, Max, Q, Sum

from .models import (
    CHINA,
    SbAppMessage,
    SbBehavior,
    SbFollow,
    SbGroup,
    SbGroupDay,
    SbGroupMember,
    SbMedia,
    SbMoment,
    SbMomentTask,
    SbMsgSend,
    SbMsgTemplate,
    SbStaff,
    SbTransfer,
    china_today,
)
from .views import cursor_page, error, wecom_api

MAX_SINGLE_RECIPIENTS = 10_000
MAX_GROUP_CHATS = 2000
MAX_ATTACHMENTS = 9
TRANSFERS_PER_90_DAYS = 2


# -- mass sends -------------------------------------------------------------------------------------
@wecom_api("externalcontact/add_msg_template")
def add_msg_template(request, corp, body):
    chat_type = body.get("chat_type", "single")
    attachments = body.get("attachments", [])
    if chat_type not in ("single", "group"):
        return error(40058, "chat_type is single or group")
    if not isinstance(attachments, list) or len(attachments) > MAX_ATTACHMENTS:
        return error(40058, "at most 9 attachments")
    if not (body.get("text") or {}).get("content") and not attachments:
        return error(40058, "text or attachments required")
    sender = body.get("sender", "")
    if chat_type == "group" and not sender:
        return error(40058, "a group mass send needs a sender")
    if sender and not SbStaff.objects.filter(corp=corp, userid=sender).exists():
        return error(60111)
    stamp = int(time.time())
    template = SbMsgTemplate(
        corp=corp,
        msgid="msg" + secrets.token_hex(12),
        chat_type=chat_type,
        creator=sender,
        create_type=0,  # made through the API: a corp send, whoever sends it
        text=(body.get("text") or {}).get("content", ""),
        attachments=attachments,
        create_time=stamp,
    )
    sends, fail_list = [], []
    if chat_type == "single":
        externals = body.get("external_userid", [])
        if not isinstance(externals, list) or len(externals) > MAX_SINGLE_RECIPIENTS:
            return error(40058, "at most 10000 external_userid")
        follows = SbFollow.objects.filter(corp=corp).select_related("staff", "customer")
        if sender:
            follows = follows.filter(staff__userid=sender)
        if externals:
            follows = follows.filter(customer__external_userid__in=externals)
        for group in (body.get("tag_filter") or {}).get("group_list") or []:
            wanted = set(group.get("tag_list") or [])
            follows = [f for f in follows if wanted & set(f.tag_ids)] if wanted else follows
        # One sender per customer. Named, the sender; otherwise WeCom pushes the task only to the
        # member who chatted with the customer last (an add counts as a chat).
        latest: dict[str, SbFollow] = {}
        for f in follows:
            key = f.customer.external_userid
            if key not in latest or (max(f.last_chat_at, f.createtime), f.pk) > (max(latest[key].last_chat_at, latest[key].createtime), latest[key].pk):
                latest[key] = f
        seen = set(latest)
        sends = [SbMsgSend(userid=f.staff.userid, external_userid=key) for key, f in latest.items()]
        fail_list = [e for e in externals if e not in seen]
    else:
        chats = body.get("chat_id_list") or list(SbGroup.objects.filter(corp=corp, owner__userid=sender, dismissed=False).values_list("chat_id", flat=True))
        if len(chats) > MAX_GROUP_CHATS:
            return error(40058, "at most 2000 chat_id_list")
        owned = set(SbGroup.objects.filter(corp=corp, owner__userid=sender, chat_id__in=chats, dismissed=False).values_list("chat_id", flat=True))
        sends = [SbMsgSend(userid=sender, chat_id=c) for c in chats if c in owned]
        fail_list = [c for c in chats if c not in owned]
    template.save()
    for s in sends:
        s.template = template
    SbMsgSend.objects.bulk_create(sends)
    return {"fail_list": fail_list, "msgid": template.msgid}


@wecom_api("externalcontact/get_groupmsg_list_v2")
def get_groupmsg_list_v2(request, corp, body):
    start, end = body.get("start_time"), body.get("end_time")
    if not isinstance(start, int) or not isinstance(end, int) or end < start:
        return error(40058, "start_time and end_time are required")
    templates = SbMsgTemplate.objects.filter(corp=corp, chat_type=body.get("chat_type", "single"), create_time__gte=start, create_time__lte=end)
    if body.get("creator"):
        templates = templates.filter(creator=body["creator"])
    if body.get("filter_type", 2) in (0, 1):
        templates = templates.filter(create_type=body["filter_type"])
    rows, cursor, problem = cursor_page(templates, body.get("cursor", ""), body.get("limit", 50), most=100)
    if problem:
        return problem
    return {
        "group_msg_list": [
            {
                "msgid": t.msgid,
                "creator": t.creator,
                "create_time": str(t.create_time),
                "create_type": t.create_type,
                "text": {"content": t.text},
                "attachments": t.attachments,
            }
            for t in rows
        ],
        "next_cursor": cursor,
    }


@wecom_api("externalcontact/get_groupmsg_task")
def get_groupmsg_task(request, corp, body):
    template = SbMsgTemplate.objects.filter(corp=corp, msgid=body.get("msgid", "")).first()
    if template is None:
        return error(41063, "msgid not found")
    # Per member: 0 not sent, 2 sent (they confirmed the task in 群发助手).
    tasks = template.sends.values("userid").annotate(sent=Count("id", filter=Q(status__gt=0)), total=Count("id"), at=Max("send_time")).order_by("userid")
    rows = [{"userid": t["userid"], "status": 2 if t["sent"] == t["total"] else 0, "send_time": t["at"] or 0} for t in tasks]
    start = int(body.get("cursor") or 0) if str(body.get("cursor") or "0").isdigit() else 0
    limit = min(int(body.get("limit") or 500), 1000)
    return {"task_list": rows[start : start + limit], "next_cursor": str(start + limit) if start + limit < len(rows) else ""}


REMINDS_PER_DAY = 3


@wecom_api("externalcontact/remind_groupmsg_send")
def remind_groupmsg_send(request, corp, body):
    """Notify the members again; at most 3 times per message in any 24 hours."""
    template = SbMsgTemplate.objects.filter(corp=corp, msgid=body.get("msgid", "")).first()
    if template is None:
        return error(41063, "msgid not found")
    if template.cancelled:
        return error(40058, "the mass send is cancelled")
    stamp = int(time.time())
    recent = [t for t in template.remind_times if t > stamp - 86400]
    if len(recent) >= REMINDS_PER_DAY:
        return error(45009, "remind at most 3 times in 24 hours")
    template.remind_times = [*recent, stamp]
    template.save(update_fields=["remind_times"])
    return {}


@wecom_api("externalcontact/cancel_groupmsg_send")
def cancel_groupmsg_send(request, corp, body):
    """Stop a corp mass send: members can no longer send what they have not sent."""
    template = SbMsgTemplate.objects.filter(corp=corp, msgid=body.get("msgid", "")).first()
    if template is None:
        return error(41063, "msgid not found")
    template.cancelled = True
    template.save(update_fields=["cancelled"])
    return {}


@wecom_api("message/send")
def message_send(request, corp, body):
    """The corp's self-built app messages members (text or a textcard with a link)."""
    if not isinstance(body.get("agentid"), int):
        return error(40056, "agentid is required")
    msgtype = body.get("msgtype")
    if msgtype not in ("text", "textcard"):
        return error(40008, "msgtype is text or textcard here")
    content = body.get(msgtype) or {}
    if msgtype == "text" and not content.get("content"):
        return error(41009, "text.content is required")
    if msgtype == "textcard" and not (content.get("title") and content.get("description") and content.get("url")):
        return error(40058, "a textcard needs title, description and url")
    wanted = [u for u in str(body.get("touser", "")).split("|") if u]
    known = set(SbStaff.objects.filter(corp=corp, userid__in=wanted).values_list("userid", flat=True))
    if not known:
        return error(81013, "no valid user")
    msgid = "app" + secrets.token_hex(10)
    SbAppMessage.objects.create(
        corp=corp, agentid=body["agentid"], touser="|".join(sorted(known)), msgtype=msgtype, content=content, msgid=msgid, created=int(time.time())
    )
    return {"invaliduser": "|".join(u for u in wanted if u not in known), "msgid": msgid}


@wecom_api("externalcontact/get_groupmsg_send_result")
def get_groupmsg_send_result(request, corp, body):
    template = SbMsgTemplate.objects.filter(corp=corp, msgid=body.get("msgid", "")).first()
    if template is None:
        return error(41063, "msgid not found")
    rows, cursor, problem = cursor_page(template.sends.filter(userid=body.get("userid", "")), body.get("cursor", ""), body.get("limit", 500), most=1000)
    if problem:
        return problem
    return {
        "send_list": [
            {"external_userid": s.external_userid, "chat_id": s.chat_id, "userid": s.userid, "status": s.status, "send_time": s.send_time} for s in rows
        ],
        "next_cursor": cursor,
    }


# -- transfers ----------------------------------------------------------------------------------------
def _transfer(request, corp, body, *, resigned: bool):
    handover, takeover = body.get("handover_userid", ""), body.get("takeover_userid", "")
    externals = body.get("external_userid", [])
    if not isinstance(externals, list) or not 1 <= len(externals) <= 100:
        return error(40058, "external_userid holds 1 to 100 customers")
    if not resigned and len(body.get("transfer_success_msg", "")) > 200:
        return error(40058, "transfer_success_msg is at most 200 characters")
    staff = {s.userid: s for s in SbStaff.objects.filter(corp=corp, userid__in=[handover, takeover])}
    if takeover not in staff or (not resigned and handover not in staff):
        return error(60111)
    stamp = int(time.time())
    answers = []
    for external in externals:
        follow = SbFollow.objects.filter(corp=corp, staff__userid=handover, customer__external_userid=external).first()
        recent = SbTransfer.objects.filter(corp=corp, external_userid=external, created__gt=stamp - 90 * 86400).count()
        if follow is None:
            answers.append({"external_userid": external, "errcode": 84061})
        elif recent >= TRANSFERS_PER_90_DAYS:
            answers.append({"external_userid": external, "errcode": 40129})  # transferred twice in 90 days already
        else:
            SbTransfer.objects.create(corp=corp, resigned=resigned, handover_userid=handover, takeover_userid=takeover, external_userid=external, created=stamp)
            answers.append({"external_userid": external, "errcode": 0})
    return {"customer": answers}


def _transfer_result(request, corp, body, *, resigned: bool):
    transfers = SbTransfer.objects.filter(
        corp=corp, resigned=resigned, handover_userid=body.get("handover_userid", ""), takeover_userid=body.get("takeover_userid", "")
    )
    rows, cursor, problem = cursor_page(transfers, body.get("cursor", ""), body.get("limit", 1000), most=1000)
    if problem:
        return problem
    return {"customer": [{"external_userid": t.external_userid, "status": t.status, "takeover_time": t.takeover_time} for t in rows], "next_cursor": cursor}


@wecom_api("externalcontact/transfer_customer")
def transfer_customer(request, corp, body):
    return _transfer(request, corp, body, resigned=False)


@wecom_api("externalcontact/transfer_result")
def transfer_result(request, corp, body):
    return _transfer_result(request, corp, body, resigned=False)


@wecom_api("externalcontact/resigned/transfer_customer")
def resigned_transfer_customer(request, corp, body):
    return _transfer(request, corp, body, resigned=True)


@wecom_api("externalcontact/resigned/transfer_result")
def resigned_transfer_result(request, corp, body):
    return _transfer_result(request, corp, body, resigned=True)


@wecom_api("externalcontact/get_unassigned_list")
def get_unassigned_list(request, corp, body):
    """Customers of members who left (external_enabled off), not yet handed over."""
    follows, cursor, problem = cursor_page(
        SbFollow.objects.filter(corp=corp, staff__external_enabled=False).select_related("staff", "customer"),
        body.get("cursor", ""),
        body.get("page_size", 1000),
        most=1000,
        name="page_size",
    )
    if problem:
        return problem
    return {
        "info": [{"handover_userid": f.staff.userid, "external_userid": f.customer.external_userid, "dimission_time": f.createtime} for f in follows],
        "is_last": not cursor,
        "next_cursor": cursor,
    }


def _group_transfer(corp, body, *, resigned: bool):
    """A member's customer groups to a new owner. WeCom answers the chats it could not move;
    groupchat/transfer is for owners who left (90500 otherwise), onjob_transfer for owners still
    there. The change_owner callback WeCom sends later is not sent here."""
    chats, new_owner = body.get("chat_id_list") or [], body.get("new_owner", "")
    if not isinstance(chats, list) or not 1 <= len(chats) <= 100:
        return error(40058, "chat_id_list holds 1 to 100 chats")
    owner = SbStaff.objects.filter(corp=corp, userid=new_owner, external_enabled=True).first()
    if owner is None:
        return error(60111, "new_owner")
    failed = []
    for chat_id in chats:
        group = SbGroup.objects.filter(corp=corp, chat_id=chat_id).select_related("owner").first()
        if group is None:
            failed.append({"chat_id": chat_id, "errcode": 49008, "errmsg": "chat not found"})
        elif resigned and group.owner.external_enabled:
            failed.append({"chat_id": chat_id, "errcode": 90500, "errmsg": "the owner of this chat is not resigned"})
        elif not resigned and not group.owner.external_enabled:
            failed.append({"chat_id": chat_id, "errcode": 90501, "errmsg": "the owner of this chat has resigned: use groupchat/transfer"})
        elif group.owner_id == owner.pk:
            failed.append({"chat_id": chat_id, "errcode": 90502, "errmsg": "the new owner already owns this chat"})
        else:
            SbGroup.objects.filter(pk=group.pk).update(owner=owner)
    return {"failed_chat_list": failed}


@wecom_api("externalcontact/groupchat/transfer")
def groupchat_transfer(request, corp, body):
    return _group_transfer(corp, body, resigned=True)


@wecom_api("externalcontact/groupchat/onjob_transfer")
def groupchat_onjob_transfer(request, corp, body):
    return _group_transfer(corp, body, resigned=False)


# -- statistics ---------------------------------------------------------------------------------------
def _day(ts) -> date:
    return datetime.fromtimestamp(int(ts), tz=CHINA).date()


@wecom_api("externalcontact/get_user_behavior_data")
def get_user_behavior_data(request, corp, body):
    users, parties = body.get("userid") or [], body.get("partyid") or []
    if not users and not parties or len(users) > 100 or len(parties) > 100:
        return error(40058, "userid or partyid: 1 to 100 each")
    start, end = body.get("start_time"), body.get("end_time")
    if not isinstance(start, int) or not isinstance(end, int) or end < start:
        return error(40058, "start_time and end_time are required")
    first, last = _day(start), _day(end)
    if (last - first).days > 29 or first < china_today() - timedelta(days=180):
        return error(40058, "at most 30 days, within the last 180 days")
    staff = SbStaff.objects.filter(corp=corp).filter(Q(userid__in=users) | Q(department__in=parties))
    rows = {
        r["day"]: r
        for r in SbBehavior.objects.filter(corp=corp, staff__in=staff, day__gte=first, day__lte=last)
        .values("day")
        .annotate(
            chat=Sum("chat_cnt"),
            msg=Sum("message_cnt"),
            replied=Sum("replied_chat_cnt"),
            minutes=Sum("reply_minutes_total"),
            negative=Sum("negative_feedback_cnt"),
            apply=Sum("new_apply_cnt"),
            contact=Sum("new_contact_cnt"),
        )
    }
    out = []
    for n in range((last - first).days + 1):
        day = first + timedelta(days=n)
        r = rows.get(day) or {}
        chats, replied = r.get("chat") or 0, r.get("replied") or 0
        out.append(
            {
                "stat_time": int(datetime(day.year, day.month, day.day, tzinfo=CHINA).timestamp()),
                "chat_cnt": chats,
                "message_cnt": r.get("msg") or 0,
                "reply_percentage": round(100.0 * replied / chats, 2) if chats else 0.0,
                "avg_reply_time": round((r.get("minutes") or 0) / replied) if replied else 0,
                "negative_feedback_cnt": r.get("negative") or 0,
                "new_apply_cnt": r.get("apply") or 0,
                "new_contact_cnt": r.get("contact") or 0,
            }
        )
    return {"behavior_data": out}


@wecom_api("externalcontact/groupchat/statistic")
def groupchat_statistic(request, corp, body):
    """Per owner: groups and members now, what is new within the days asked, and the chat in them
    (groups and members with messages, messages). WeCom's rules: days from yesterday back to 180
    days, at most 30 a call, at most 100 owners, 1 to 1,000 a page."""
    begin, end = body.get("day_begin_time"), body.get("day_end_time", body.get("day_begin_time"))
    owners = (body.get("owner_filter") or {}).get("userid_list") or []
    if not isinstance(begin, int) or not isinstance(end, int) or not owners:
        return error(40058, "day_begin_time and owner_filter are required")
    if len(owners) > 100:
        return error(40058, "owner_filter.userid_list: at most 100")
    offset, limit = body.get("offset", 0), body.get("limit", 500)
    if not isinstance(limit, int) or not 1 <= limit <= 1000:
        return error(40058, "limit: 1 to 1000")
    first, last = datetime.fromtimestamp(begin, tz=CHINA).date(), datetime.fromtimestamp(end, tz=CHINA).date()
    yesterday = china_today() - timedelta(days=1)
    if not (yesterday - timedelta(days=180) <= first <= last <= yesterday) or (last - first).days >= 30:
        return error(600018, "invalid start endtime")
    end_ts = int(datetime(last.year, last.month, last.day, tzinfo=CHINA).timestamp()) + 86400
    # A query per figure for all the owners at once: a call names up to 100 of them.
    groups = SbGroup.objects.filter(corp=corp, owner__userid__in=set(owners), dismissed=False)
    per_owner = {
        r["owner__userid"]: r
        for r in groups.values("owner__userid").annotate(total=Count("id"), new=Count("id", filter=Q(create_time__gte=begin, create_time__lt=end_ts)))
    }
    members = {
        r["group__owner__userid"]: r
        for r in SbGroupMember.objects.filter(group__in=groups)
        .values("group__owner__userid")
        .annotate(total=Count("id"), new=Count("id", filter=Q(join_time__gte=begin, join_time__lt=end_ts)))
    }
    chat: dict[str, dict] = {}
    for owner, group_id, messages, spoke in SbGroupDay.objects.filter(group__in=groups, day__gte=first, day__lte=last, messages__gt=0).values_list(
        "group__owner__userid", "group_id", "messages", "speakers"
    ):
        c = chat.setdefault(owner, {"groups": set(), "speakers": set(), "messages": 0})
        c["groups"].add(group_id)
        c["speakers"].update((group_id, userid) for userid in spoke)
        c["messages"] += messages
    items = []
    for owner in sorted(set(owners)):
        g, m, c = per_owner.get(owner, {}), members.get(owner, {}), chat.get(owner, {})
        items.append(
            {
                "owner": owner,
                "data": {
                    "new_chat_cnt": g.get("new", 0),
                    "chat_total": g.get("total", 0),
                    "chat_has_msg": len(c.get("groups", ())),
                    "new_member_cnt": m.get("new", 0),
                    "member_total": m.get("total", 0),
                    "member_has_msg": len(c.get("speakers", ())),
                    "msg_total": c.get("messages", 0),
                    "migrate_trainee_chat_cnt": 0,
                },
            }
        )
    order_by = {1: "new_chat_cnt", 2: "chat_total", 3: "chat_has_msg", 4: "new_member_cnt", 5: "member_total", 6: "member_has_msg", 7: "msg_total"}.get(
        body.get("order_by", 1), "new_chat_cnt"
    )
    items.sort(key=lambda i: i["data"][order_by], reverse=not body.get("order_asc", 0))
    page = items[offset : offset + limit]
    return {"total": len(items), "next_offset": offset + len(page) if offset + len(page) < len(items) else 0, "items": page}


# -- moments ------------------------------------------------------------------------------------------
MOMENT_TEXT = 2000  # characters
MOMENT_LINK_TITLE = 64  # bytes
MOMENT_VIDEO_BYTES = 10 * 1024 * 1024


def _moment_content_problem(corp, text: str, attachments) -> str:
    """WeCom's rules for a moment: text ≤ 2,000 characters; 9 images, or 1 video (≤ 10 MB), or 1
    link, never mixed."""
    if len(text) > MOMENT_TEXT:
        return "invalid text size"
    if not isinstance(attachments, list):
        return "attachments"
    kinds = {a.get("msgtype") for a in attachments if isinstance(a, dict)}
    if len(kinds) > 1 or not kinds <= {"image", "video", "link"}:
        return "attachments are 9 images, 1 video or 1 link, never mixed"
    if kinds == {"image"} and len(attachments) > MAX_ATTACHMENTS:
        return "at most 9 images"
    if kinds & {"video", "link"} and len(attachments) > 1:
        return "one video or one link"
    for a in attachments:
        if a.get("msgtype") == "link" and len(((a.get("link") or {}).get("title") or "").encode()) > MOMENT_LINK_TITLE:
            return "link title over 64 bytes"
        if a.get("msgtype") in ("image", "video"):
            media = SbMedia.objects.filter(corp=corp, media_id=(a.get(a["msgtype"]) or {}).get("media_id", "")).first()
            if media is None:
                return "invalid media_id"
            if a["msgtype"] == "video" and media.size > MOMENT_VIDEO_BYTES:
                return "video over 10 MB"
    return ""


@wecom_api("externalcontact/add_moment_task")
def add_moment_task(request, corp, body):
    text = (body.get("text") or {}).get("content", "")
    attachments = body.get("attachments", [])
    if not text and not attachments:
        return error(40058, "text or attachments required")
    problem = _moment_content_problem(corp, text, attachments)
    if problem:
        return error(40007 if "media" in problem else 40058, problem)
    visible = body.get("visible_range") or {}
    senders = (visible.get("sender_list") or {}).get("user_list") or []
    departments = (visible.get("sender_list") or {}).get("department_list") or []
    staff = SbStaff.objects.filter(corp=corp)
    if senders or departments:
        staff = staff.filter(Q(userid__in=senders) | Q(department__in=departments))
    moment = SbMoment.objects.create(
        corp=corp,
        jobid="job" + secrets.token_hex(12),
        moment_id="mom" + secrets.token_hex(12),
        creator=senders[0] if len(senders) == 1 else "",
        text=text,
        attachments=attachments,
        visible_range=visible,
        create_time=int(time.time()),
    )
    SbMomentTask.objects.bulk_create([SbMomentTask(moment=moment, userid=u) for u in staff.values_list("userid", flat=True)])
    return {"jobid": moment.jobid}


@wecom_api("externalcontact/get_moment_task")
def get_moment_task(request, corp, body):
    moment = SbMoment.objects.filter(corp=corp, moment_id=body.get("moment_id", "")).first()
    if moment is None:
        return error(40058, "moment_id")
    rows, cursor, problem = cursor_page(moment.tasks.all(), body.get("cursor", ""), body.get("limit", 500), most=1000)
    if problem:
        return problem
    return {"task_list": [{"userid": t.userid, "publish_status": t.publish_status} for t in rows], "next_cursor": cursor}


@wecom_api("externalcontact/get_moment_send_result")
def get_moment_send_result(request, corp, body):
    task = SbMomentTask.objects.filter(moment__corp=corp, moment__moment_id=body.get("moment_id", ""), userid=body.get("userid", "")).first()
    if task is None:
        return error(40058, "moment_id or userid")
    rows, cursor, problem = cursor_page(task.reached.all(), body.get("cursor", ""), body.get("limit", 500), most=5000)
    if problem:
        return problem
    return {"customer_list": [{"external_userid": r.external_userid} for r in rows], "next_cursor": cursor}


@wecom_api("externalcontact/get_moment_comments")
def get_moment_comments(request, corp, body):
    task = SbMomentTask.objects.filter(moment__corp=corp, moment__moment_id=body.get("moment_id", ""), userid=body.get("userid", "")).first()
    if task is None:
        return error(40058, "moment_id or userid")
    reached = list(task.reached.all())
    return {
        "comment_list": [{"external_userid": r.external_userid, "create_time": r.commented_at} for r in reached if r.commented_at],
        "like_list": [{"external_userid": r.external_userid, "create_time": r.liked_at} for r in reached if r.liked_at],
    }


@wecom_api("externalcontact/cancel_moment_task")
def cancel_moment_task(request, corp, body):
    moment = SbMoment.objects.filter(corp=corp, moment_id=body.get("moment_id", "")).first()
    if moment is None:
        return error(40058, "moment_id")
    moment.cancelled = True
    moment.save(update_fields=["cancelled"])
    return {}


@wecom_api("externalcontact/get_moment_task_result")
def get_moment_task_result(request, corp, body):
    moment = SbMoment.objects.filter(corp=corp, jobid=request.GET.get("jobid", "") or body.get("jobid", "")).first()
    if moment is None:
        return error(40058, "jobid")
    senders = ((moment.visible_range.get("sender_list") or {}).get("user_list")) or []
    known = set(SbStaff.objects.filter(corp=corp, userid__in=senders).values_list("userid", flat=True))
    return {
        "status": 3,
        "type": "add_moment_task",
        "result": {
            "errcode": 0,
            "errmsg": "ok",
            "moment_id": moment.moment_id,
            "invalid_sender_list": {"user_list": [u for u in senders if u not in known]},
            "invalid_external_contact_list": {"tag_list": []},
        },
    }


@wecom_api("externalcontact/get_moment_list")
def get_moment_list(request, corp, body):
    start, end = body.get("start_time"), body.get("end_time")
    if not isinstance(start, int) or not isinstance(end, int) or end < start or end - start > 30 * 86400:
        return error(40058, "start_time and end_time, at most 30 days apart")
    moments = SbMoment.objects.filter(corp=corp, create_time__gte=start, create_time__lte=end)
    if body.get("creator"):
        moments = moments.filter(creator=body["creator"])
    rows, cursor, problem = cursor_page(moments, body.get("cursor", ""), body.get("limit", 20), most=20)
    if problem:
        return problem
    return {
        "moment_list": [
            {"moment_id": m.moment_id, "creator": m.creator, "create_time": m.create_time, "create_type": 0, "visible_type": 1, "text": {"content": m.text}}
            for m in rows
        ],
        "next_cursor": cursor,
    }
