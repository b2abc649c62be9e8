"""The sandbox sending callbacks the way WeCom does: encrypted XML POSTed to the registered URL."""

from __future__ import annotations

import secrets
import time
from datetime import timedelta
from xml.sax.saxutils import escape

import httpx
from django.db.models import F, Q

from siyu.kit.clock import now
from siyu.kit.http import shared_http
from siyu.kit.wecom_crypto import WXBizMsgCrypt

from . import services
from .models import SbCallbackLog, SbContactWay, SbCorp, SbCustomer, SbFollow, SbGroup, SbGroupMember, SbJoinWay, SbStaff, SbTransfer, SbWelcomeCode

WELCOME_CODE_TTL = timedelta(seconds=20)


def event_xml(fields: dict) -> str:
    parts = []
    for key, value in fields.items():
        if isinstance(value, list):
            parts.append(f"<{key}>" + "".join(f"<Item><![CDATA[{escape(str(v))}]]></Item>" for v in value) + f"</{key}>")
        elif isinstance(value, int):
            parts.append(f"<{key}>{value}</{key}>")
        else:
            parts.append(f"<{key}><![CDATA[{escape(str(value))}]]></{key}>")
    return "<xml>" + "".join(parts) + "</xml>"


def send(corp: SbCorp, event: str, change_type: str, create_time: int | None = None, *, http: httpx.Client | None = None, **fields) -> SbCallbackLog:
    """Encrypt and POST one event; the log keeps the exact body so a test can deliver it again."""
    body_fields = {
        "ToUserName": corp.corpid,
        "FromUserName": "sys",
        "CreateTime": create_time or int(time.time()),
        "MsgType": "event",
        "Event": event,
        "ChangeType": change_type,
        **fields,
    }
    if not (corp.callback_token and corp.callback_aes_key):
        # No receiver configured in "WeCom's admin": the event happens, nobody is told.
        return SbCallbackLog.objects.create(corp=corp, event=event, change_type=change_type, body="", query={}, status_code=None)
    crypt = WXBizMsgCrypt(corp.callback_token, corp.callback_aes_key, corp.corpid)
    xml, query = crypt.encrypt_message(event_xml(body_fields))
    entry = SbCallbackLog.objects.create(corp=corp, event=event, change_type=change_type, body=xml, query=query)
    entry.status_code = deliver(corp, entry, http=http)
    entry.save(update_fields=["status_code"])
    return entry


def deliver(corp: SbCorp, entry: SbCallbackLog, *, http: httpx.Client | None = None) -> int | None:
    """POST a logged callback (again): WeCom's retry is the very same request."""
    if not corp.callback_url:
        return None
    try:
        response = (http or shared_http()).post(
            corp.callback_url, params=entry.query, content=entry.body.encode(), headers={"Content-Type": "text/xml"}, timeout=5
        )
        return response.status_code
    except httpx.HTTPError:
        return None


def customer_adds_staff(
    corp: SbCorp, staff: SbStaff, *, external_userid: str | None = None, name: str = "客户", state: str = "", half: bool = False, **customer_fields
) -> tuple[SbFollow, SbCallbackLog]:
    """A simulated WeChat user adds a member (by scanning a contact way with `state`)."""
    external_userid = external_userid or "wm" + secrets.token_hex(14)
    customer, _ = SbCustomer.objects.get_or_create(corp=corp, external_userid=external_userid, defaults={"name": name, **customer_fields})
    follow, _ = SbFollow.objects.update_or_create(
        corp=corp, customer=customer, staff=staff, defaults={"createtime": int(now().timestamp()), "state": state, "add_way": 1}
    )
    code = SbWelcomeCode.objects.create(corp=corp, code=secrets.token_urlsafe(24), follow=follow, expires_at=now() + WELCOME_CODE_TTL)
    fields = {"UserID": staff.userid, "ExternalUserID": external_userid, "WelcomeCode": code.code}
    if state:
        fields["State"] = state
    entry = send(corp, "change_external_contact", "add_half_external_contact" if half else "add_external_contact", **fields)
    return follow, entry


def staff_edits_customer(follow: SbFollow, *, remark: str | None = None, tag_ids: list[str] | None = None) -> SbCallbackLog:
    if remark is not None:
        follow.remark = remark
    if tag_ids is not None:
        follow.tag_ids = tag_ids
    follow.save()
    return send(follow.corp, "change_external_contact", "edit_external_contact", UserID=follow.staff.userid, ExternalUserID=follow.customer.external_userid)


def staff_deletes_customer(follow: SbFollow, *, at: int | None = None) -> SbCallbackLog:
    corp, userid, external_userid = follow.corp, follow.staff.userid, follow.customer.external_userid
    follow.delete()
    return send(corp, "change_external_contact", "del_external_contact", at, UserID=userid, ExternalUserID=external_userid)


def customer_deletes_staff(follow: SbFollow, *, at: int | None = None) -> SbCallbackLog:
    corp, userid, external_userid = follow.corp, follow.staff.userid, follow.customer.external_userid
    follow.delete()
    return send(corp, "change_external_contact", "del_follow_user", at, UserID=userid, ExternalUserID=external_userid)


def tag_library_changes(corp: SbCorp, change_type: str, *, tag_id: str = "", tag_type: str = "tag") -> SbCallbackLog:
    """An admin edited the corp tag library in WeCom's console (create/update/delete/shuffle)."""
    fields = {"Id": tag_id} if tag_id else {}
    if change_type != "shuffle":
        fields["TagType"] = tag_type
    return send(corp, "change_external_tag", change_type, **fields)


# -- customer groups ------------------------------------------------------------------------------
def group_created(corp: SbCorp, owner: SbStaff, name: str, members: list[SbCustomer] = ()) -> tuple[SbGroup, SbCallbackLog]:
    group = services.group_add(corp=corp, owner=owner, name=name, members=members)
    return group, send(corp, "change_external_chat", "create", ChatId=group.chat_id)


def customers_join_group(group, customers: list[SbCustomer], *, scene: int = 3, state: str = "", invitor: str = "") -> SbCallbackLog:
    """Customers join (scene 3: the group QR code); JoinScene in the event uses the event's own codes."""
    stamp = int(time.time())
    for c in customers:
        SbGroupMember.objects.update_or_create(
            group=group,
            userid=c.external_userid,
            defaults={"type": 2, "name": c.name, "join_time": stamp, "join_scene": scene, "state": state, "invitor": invitor},
        )
    group.member_version += 1
    group.save(update_fields=["member_version"])
    return send(
        group.corp,
        "change_external_chat",
        "update",
        ChatId=group.chat_id,
        UpdateDetail="add_member",
        JoinScene=3 if scene == 3 else 0,
        MemChangeCnt=len(customers),
        MemChangeList=[c.external_userid for c in customers],
        LastMemVer=str(group.member_version - 1),
        CurMemVer=str(group.member_version),
    )


def members_leave_group(group, userids: list[str], *, removed: bool = False) -> SbCallbackLog:
    group.members.filter(userid__in=userids).delete()
    group.member_version += 1
    group.save(update_fields=["member_version"])
    return send(
        group.corp,
        "change_external_chat",
        "update",
        ChatId=group.chat_id,
        UpdateDetail="del_member",
        QuitScene=1 if removed else 0,
        MemChangeCnt=len(userids),
        MemChangeList=userids,
        LastMemVer=str(group.member_version - 1),
        CurMemVer=str(group.member_version),
    )


def group_dismissed(group) -> SbCallbackLog:
    group.dismissed = True
    group.save(update_fields=["dismissed"])
    return send(group.corp, "change_external_chat", "dismiss", ChatId=group.chat_id)


# -- scanning codes -----------------------------------------------------------------------------------
GROUP_QR_LIMIT = 200  # a group QR code stops admitting people at 200 members


class CodeRefused(Exception):
    """The code cannot be used (deleted, a used temporary code, no member behind it)."""


def customer_scans_contact_way(
    way: SbContactWay, *, name: str = "客户", external_userid: str | None = None, **customer_fields
) -> tuple[SbFollow, SbCallbackLog]:
    """A WeChat user scans a contact way: its members (named, or in its departments) get customers in turn."""
    way.refresh_from_db()
    if way.deleted or (way.is_temp and way.scans):
        raise CodeRefused("this code no longer works")
    members = list(SbStaff.objects.filter(corp=way.corp, external_enabled=True).filter(Q(userid__in=way.users) | Q(department__in=way.parties)).order_by("id"))
    if not members:
        raise CodeRefused("no member with customer contact behind this code")
    SbContactWay.objects.filter(pk=way.pk).update(scans=F("scans") + 1)
    turn = SbContactWay.objects.values_list("scans", flat=True).get(pk=way.pk) - 1
    return customer_adds_staff(way.corp, members[turn % len(members)], external_userid=external_userid, name=name, state=way.state, **customer_fields)


def customer_scans_join_way(way: SbJoinWay, customer: SbCustomer) -> SbCallbackLog:
    """A customer scans a group join way: the first of its groups with room, or a new one when allowed."""
    way.refresh_from_db()
    if way.deleted:
        raise CodeRefused("this code no longer works")
    groups = {g.chat_id: g for g in SbGroup.objects.filter(corp=way.corp, chat_id__in=way.chat_id_list, dismissed=False).select_related("owner")}
    ordered = [groups[c] for c in way.chat_id_list if c in groups]
    for group in ordered:
        if group.members.count() < GROUP_QR_LIMIT:
            return customers_join_group(group, [customer], scene=3, state=way.state)
    if not (way.auto_create_room and ordered):
        raise CodeRefused("every group behind this code is full")
    # WeCom opens a new group named base name + number, owned like the last one, and puts it on the code.
    owner = ordered[-1].owner
    group, created = group_created(way.corp, owner, f"{way.room_base_name or ordered[-1].name}{way.room_base_id}")
    way.room_base_id += 1
    way.chat_id_list = [*way.chat_id_list[-4:], group.chat_id]
    way.save(update_fields=["room_base_id", "chat_id_list"])
    return customers_join_group(group, [customer], scene=3, state=way.state)


# -- customer transfers ---------------------------------------------------------------------------
def transfers_complete(*, corp: SbCorp, accept: bool = True) -> int:
    """Waiting transfers end (WeCom waits 24 h for the customer): the follow moves to the taker, or is refused."""
    done = 0
    for transfer in SbTransfer.objects.filter(corp=corp, status=2):
        if not accept:
            transfer.status = 3
            transfer.save(update_fields=["status"])
            send(
                corp,
                "change_external_contact",
                "transfer_fail",
                UserID=transfer.takeover_userid,
                ExternalUserID=transfer.external_userid,
                FailReason="customer_refused",
            )
            continue
        follow = SbFollow.objects.filter(corp=corp, staff__userid=transfer.handover_userid, customer__external_userid=transfer.external_userid).first()
        taker = SbStaff.objects.get(corp=corp, userid=transfer.takeover_userid)
        if follow is not None:
            SbFollow.objects.get_or_create(
                corp=corp,
                customer=follow.customer,
                staff=taker,
                defaults={"createtime": int(time.time()), "add_way": 202, "remark": follow.remark, "tag_ids": follow.tag_ids},
            )
            follow.delete()
            send(
                corp,
                "change_external_contact",
                "del_external_contact",
                UserID=transfer.handover_userid,
                ExternalUserID=transfer.external_userid,
                Source="DELETE_BY_TRANSFER",
            )
            send(corp, "change_external_contact", "add_external_contact", UserID=taker.userid, ExternalUserID=transfer.external_userid)
        transfer.status, transfer.takeover_time = 1, int(time.time())
        transfer.save(update_fields=["status", "takeover_time"])
        done += 1
    return done
