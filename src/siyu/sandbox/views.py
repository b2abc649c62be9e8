"""The sandbox's WeCom API under /sandbox/cgi-bin/: same paths, shapes and errcodes as WeCom.

HTTP status is always 200 and errcode carries the outcome, as WeCom does.
"""

import base64
import binascii
import functools
import json
import secrets
import time
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from siyu.kit.clock import now

from . import services
from .models import SbCallLog, SbCorp, SbCustomer, SbDepartment, SbFollow, SbGroup, SbRateWindow, SbStaff, SbTag, SbTagGroup, SbToken

ERRMSG = {
    -1: "system busy",
    40001: "invalid credential",
    40013: "invalid corpid",
    40014: "invalid access_token",
    41001: "access_token missing",
    42001: "access_token expired",
    45009: "api freq out of limit",
    45033: "api concurrent out of limit",
    47001: "data format error, Warning: wrong json format.",
    48002: "api forbidden",
    60011: "no privilege to access/modify contact/party/agent",
    60111: "userid not found",
    84061: "not external contact",
    40058: "invalid parameter",
    40096: "invalid external userid",
    40004: "invalid media type",
    40006: "invalid file size",
    40007: "invalid media_id",
    44001: "empty media data",
    40068: "invalid tagid",
    81017: "too many results, use a filter",
    86003: "chat not found",
    41063: "invalid msgid",
    40056: "invalid agentid",
    40008: "invalid message type",
    41009: "missing content",
    81013: "user & party & tag all invalid",
    40029: "invalid code",
    40093: "invalid signature",
}


def error(errcode: int, detail: str = "") -> JsonResponse:
    msg = ERRMSG.get(errcode, "error")
    if detail:
        msg = f"{msg}: {detail}"
    # Real errmsg values carry a hint suffix; clients must branch on errcode only.
    return JsonResponse(
        {"errcode": errcode, "errmsg": f"{msg}, hint: [{secrets.token_hex(6)}], more info at https://open.work.weixin.qq.com/devtool/query?e={errcode}"}
    )


def ok(payload: dict) -> JsonResponse:
    return JsonResponse({"errcode": 0, "errmsg": "ok", **payload})


def _rate_check(corp: SbCorp, api: str) -> bool:
    """Count this call in the minute and hour windows; False when a window is over its limit."""
    stamp = now()
    spans = (
        ("minute", stamp.replace(second=0, microsecond=0), corp.limit_per_minute, 60),
        ("hour", stamp.replace(minute=0, second=0, microsecond=0), corp.limit_per_hour, 3600),
    )
    allowed = True
    for span, start, limit, seconds in spans:
        window = SbRateWindow.objects.filter(corp=corp, api=api, span=span, window_start=start)
        # The common case, one statement: an open window under its limit takes the call.
        if window.filter(count__lt=limit).exclude(blocked_until__gt=stamp).update(count=F("count") + 1):
            continue
        with transaction.atomic():
            try:
                with transaction.atomic():
                    SbRateWindow.objects.create(corp=corp, api=api, span=span, window_start=start, count=1)
                    continue
            except IntegrityError:
                pass
            row = window.select_for_update().get()
            if row.blocked_until and row.blocked_until > stamp:
                allowed = False
                continue
            if row.count >= limit:
                # Over the limit: blocked for the whole span from now, as WeCom documents.
                row.blocked_until = stamp + timedelta(seconds=seconds)
                row.save(update_fields=["blocked_until"])
                allowed = False
                continue
            window.update(count=F("count") + 1)
    return allowed


ROUTES: dict[str, object] = {}  # api path under cgi-bin/ -> view; urls.py serves them all


def wecom_api(api: str):
    """Everything WeCom does before an endpoint runs: token, injected faults, rate limit, log."""

    def decorate(handler):
        # Each statement commits on its own (the writes that must go together have their own
        # atomic blocks): a request-long transaction would hold SQLite's write lock throughout.
        @csrf_exempt
        @transaction.non_atomic_requests
        @functools.wraps(handler)
        def view(request):
            raw = request.GET.get("access_token")
            if not raw:
                return _log(None, api, error(41001))
            token = SbToken.objects.select_related("corp").filter(token=raw).first()
            if token is None or token.revoked:
                return _log(None if token is None else token.corp, api, error(40014))
            corp = token.corp
            if token.expires_at <= now():
                return _log(corp, api, error(42001))
            fault = services.fault_take(corp=corp, api=api)
            if fault is not None:
                if fault.delay_ms:
                    time.sleep(fault.delay_ms / 1000)
                if fault.errcode:
                    return _log(corp, api, error(fault.errcode, "injected"))
            if corp.metered and not _rate_check(corp, api):
                return _log(corp, api, error(45009))
            body = {}
            if request.method == "POST" and request.content_type == "multipart/form-data":
                pass  # media/upload: the handler reads request.FILES
            elif request.method == "POST":
                try:
                    body = json.loads(request.body or b"{}")
                    if not isinstance(body, dict):
                        raise ValueError
                except ValueError:
                    return _log(corp, api, error(47001))
            result = handler(request, corp, body)
            return _log(corp, api, result if isinstance(result, JsonResponse) else ok(result))

        ROUTES[api] = view
        return view

    return decorate


def _log(corp, api: str, response: JsonResponse) -> JsonResponse:
    if corp is not None and not corp.metered:
        return response
    SbCallLog.objects.create(corp=corp, api=api, errcode=json.loads(response.content)["errcode"])
    return response


@transaction.non_atomic_requests
def gettoken(request):
    corp = SbCorp.objects.filter(corpid=request.GET.get("corpid", "")).first()
    if corp is None:
        return _log(None, "gettoken", error(40013))
    if not secrets.compare_digest(request.GET.get("corpsecret", ""), corp.secret):
        return _log(corp, "gettoken", error(40001))
    fault = services.fault_take(corp=corp, api="gettoken")
    if fault is not None:
        time.sleep(fault.delay_ms / 1000)
        if fault.errcode:
            return _log(corp, "gettoken", error(fault.errcode, "injected"))
    stamp = now()
    # Within its validity the same token is returned, as WeCom does.
    token = SbToken.objects.filter(corp=corp, revoked=False, expires_at__gt=stamp).order_by("-expires_at").first()
    if token is None:
        token = SbToken.objects.create(corp=corp, token=secrets.token_urlsafe(64), expires_at=stamp + timedelta(seconds=corp.token_ttl))
    return _log(corp, "gettoken", ok({"access_token": token.token, "expires_in": max(0, int((token.expires_at - stamp).total_seconds()))}))


# -- cursors --------------------------------------------------------------------------------------
def encode_cursor(value: int) -> str:
    return base64.urlsafe_b64encode(f"sb:{value}".encode()).decode()


def decode_cursor(cursor: str) -> int | None:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        return int(text.removeprefix("sb:")) if text.startswith("sb:") else None
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None


def cursor_page(queryset, cursor: str, limit, *, most: int, name: str = "limit"):
    """WeCom's cursor paging over ids: (rows, next_cursor, None), or (None, None, the error to answer)."""
    if not isinstance(limit, int) or not 1 <= limit <= most:
        return None, None, error(40058, f"{name} must be 1 to {most}")
    after = decode_cursor(cursor)
    if after is None:
        return None, None, error(40058, "cursor")
    rows = list(queryset.filter(id__gt=after).order_by("id")[: limit + 1])
    return rows[:limit], encode_cursor(rows[limit - 1].id) if len(rows) > limit else "", None


# -- external contact -----------------------------------------------------------------------------
def _contact(customer: SbCustomer) -> dict:
    return {
        "external_userid": customer.external_userid,
        "name": customer.name,
        "avatar": customer.avatar,
        "type": customer.type,
        "gender": customer.gender,
        "unionid": customer.unionid,
    }


def _follow_info(follow: SbFollow, tags_as_ids: bool) -> dict:
    info = {
        "userid": follow.staff.userid,
        "remark": follow.remark,
        "description": follow.description,
        "createtime": follow.createtime,
        "remark_corp_name": "",
        "remark_mobiles": follow.remark_mobiles,
        "oper_userid": follow.oper_userid,
        "add_way": follow.add_way,
    }
    if follow.state:
        info["state"] = follow.state
    if tags_as_ids:
        info["tag_id"] = follow.tag_ids
    else:
        info["tags"] = [{"tag_id": t, "type": 1} for t in follow.tag_ids]
    return info


@wecom_api("externalcontact/get_follow_user_list")
def get_follow_user_list(request, corp, body):
    return {"follow_user": list(SbStaff.objects.filter(corp=corp, external_enabled=True).order_by("id").values_list("userid", flat=True))}


@wecom_api("externalcontact/list")
def external_list(request, corp, body):
    staff = SbStaff.objects.filter(corp=corp, userid=request.GET.get("userid", "")).first()
    if staff is None:
        return error(60111)
    return {"external_userid": list(SbFollow.objects.filter(staff=staff).order_by("id").values_list("customer__external_userid", flat=True))}


FOLLOW_PAGE = 500


@wecom_api("externalcontact/get")
def external_get(request, corp, body):
    customer = SbCustomer.objects.filter(corp=corp, external_userid=request.GET.get("external_userid", "")).first()
    if customer is None:
        return error(84061)
    follows, cursor, problem = cursor_page(
        SbFollow.objects.filter(customer=customer).select_related("staff"), request.GET.get("cursor", ""), FOLLOW_PAGE, most=FOLLOW_PAGE
    )
    if problem:
        return problem
    return {
        "external_contact": _contact(customer),
        "follow_user": [_follow_info(f, tags_as_ids=False) for f in follows],
        "next_cursor": cursor,
    }


@wecom_api("externalcontact/batch/get_by_user")
def batch_get_by_user(request, corp, body):
    userids = body.get("userid_list") or ([body["userid"]] if body.get("userid") else [])
    if not isinstance(userids, list) or not userids or len(userids) > 100:
        return error(40058, "userid_list must hold 1 to 100 userids")
    # The members' ids first: joining staff by userid had PostgreSQL hash every follow of the corp
    # for each page once there were a million.
    staff_ids = list(SbStaff.objects.filter(corp=corp, userid__in=userids).values_list("id", flat=True))
    follows, cursor, problem = cursor_page(
        SbFollow.objects.filter(corp=corp, staff_id__in=staff_ids).select_related("staff", "customer"),
        body.get("cursor", ""),
        body.get("limit", 50),
        most=100,
    )
    if problem:
        return problem
    return {
        "external_contact_list": [{"external_contact": _contact(f.customer), "follow_info": _follow_info(f, tags_as_ids=True)} for f in follows],
        "next_cursor": cursor,
    }


# -- contacts (departments and members) ---------------------------------------------------------
@wecom_api("department/list")
def department_list(request, corp, body):
    return {
        "department": [
            {"id": d.dept_id, "name": d.name, "parentid": d.parent_id, "order": d.order} for d in SbDepartment.objects.filter(corp=corp).order_by("dept_id")
        ]
    }


@wecom_api("user/list")
def user_list(request, corp, body):
    dept = request.GET.get("department_id", "")
    if not dept.lstrip("-").isdigit():
        return error(40058, "department_id")
    staff = SbStaff.objects.filter(corp=corp).order_by("id")
    if request.GET.get("fetch_child") != "1":
        staff = staff.filter(department=int(dept))
    return {
        "userlist": [
            {"userid": s.userid, "name": s.name, "department": [s.department], "is_leader_in_dept": [int(s.is_leader)], "position": s.position, "status": 1}
            for s in staff
        ]
    }


# -- corp tags ------------------------------------------------------------------------------------
def _tag_group_json(group) -> dict:
    tags = [t for t in group.tags.all() if not t.deleted]
    return {
        "group_id": group.group_id,
        "group_name": group.name,
        "create_time": group.create_time,
        "order": group.order,
        "deleted": False,
        "tag": [
            {"id": t.tag_id, "name": t.name, "create_time": t.create_time, "order": t.order, "deleted": False} for t in sorted(tags, key=lambda t: t.order)
        ],
    }


@wecom_api("externalcontact/get_corp_tag_list")
def get_corp_tag_list(request, corp, body):
    groups = SbTagGroup.objects.filter(corp=corp, deleted=False).prefetch_related("tags").order_by("order", "id")
    if body.get("group_id"):
        groups = groups.filter(group_id__in=body["group_id"])
    result = [_tag_group_json(g) for g in groups]
    if body.get("tag_id"):
        wanted = set(body["tag_id"])
        result = [{**g, "tag": [t for t in g["tag"] if t["id"] in wanted]} for g in result]
        result = [g for g in result if g["tag"]]
    return {"tag_group": result}


@wecom_api("externalcontact/add_corp_tag")
def add_corp_tag(request, corp, body):
    tags = body.get("tag") or []
    if not tags or any(not isinstance(t, dict) or not 0 < len(t.get("name", "")) <= 30 for t in tags):
        return error(40058, "tag names must be 1 to 30 characters")
    stamp = int(time.time())
    if body.get("group_id"):
        group = SbTagGroup.objects.filter(corp=corp, group_id=body["group_id"], deleted=False).first()
        if group is None:
            return error(40068, "invalid tagid")
    else:
        name = body.get("group_name", "")
        if not 0 < len(name) <= 30:
            return error(40058, "group_name")
        group = SbTagGroup.objects.filter(corp=corp, name=name, deleted=False).first() or SbTagGroup.objects.create(
            corp=corp, group_id="et" + secrets.token_hex(11), name=name, order=body.get("order", 0), create_time=stamp
        )
    for t in tags:
        if not group.tags.filter(name=t["name"], deleted=False).exists():
            SbTag.objects.create(group=group, tag_id="et" + secrets.token_hex(11), name=t["name"], order=t.get("order", 0), create_time=stamp)
    return {"tag_group": _tag_group_json(group)}


@wecom_api("externalcontact/edit_corp_tag")
def edit_corp_tag(request, corp, body):
    target = (
        SbTag.objects.filter(group__corp=corp, tag_id=body.get("id", ""), deleted=False).first()
        or SbTagGroup.objects.filter(corp=corp, group_id=body.get("id", ""), deleted=False).first()
    )
    if target is None:
        return error(40068, "invalid tagid")
    if "name" in body:
        if not 0 < len(body["name"]) <= 30:
            return error(40058, "name")
        target.name = body["name"]
    if "order" in body:
        target.order = body["order"]
    target.save()
    return {}


@wecom_api("externalcontact/del_corp_tag")
def del_corp_tag(request, corp, body):
    tag_ids, group_ids = body.get("tag_id") or [], body.get("group_id") or []
    if not tag_ids and not group_ids:
        return error(40058, "tag_id or group_id")
    SbTag.objects.filter(group__corp=corp, tag_id__in=tag_ids).update(deleted=True)
    SbTagGroup.objects.filter(corp=corp, group_id__in=group_ids).update(deleted=True)
    SbTag.objects.filter(group__corp=corp, group__group_id__in=group_ids).update(deleted=True)
    # WeCom deletes a group with its last tag.
    for group in SbTagGroup.objects.filter(corp=corp, deleted=False):
        if not group.tags.filter(deleted=False).exists():
            group.deleted = True
            group.save(update_fields=["deleted"])
    return {}


@wecom_api("externalcontact/mark_tag")
def mark_tag(request, corp, body):
    follow = SbFollow.objects.filter(corp=corp, staff__userid=body.get("userid", ""), customer__external_userid=body.get("external_userid", "")).first()
    if follow is None:
        return error(84061)
    add, remove = body.get("add_tag") or [], body.get("remove_tag") or []
    known = set(SbTag.objects.filter(group__corp=corp, deleted=False, tag_id__in=[*add, *remove]).values_list("tag_id", flat=True))
    if set(add) - known or set(remove) - known:
        return error(40068, "invalid tagid")
    follow.tag_ids = [t for t in dict.fromkeys([*follow.tag_ids, *add]) if t not in remove]
    follow.save(update_fields=["tag_ids"])
    return {}


# -- customer groups ------------------------------------------------------------------------------
GROUP_LIST_UNFILTERED_MAX = 1000


@wecom_api("externalcontact/groupchat/list")
def groupchat_list(request, corp, body):
    groups = SbGroup.objects.filter(corp=corp, dismissed=False)
    owners = (body.get("owner_filter") or {}).get("userid_list") or []
    if owners:
        groups = groups.filter(owner__userid__in=owners)
    elif groups.count() > GROUP_LIST_UNFILTERED_MAX:
        return error(81017, "too many groups without an owner filter")
    page, cursor, problem = cursor_page(groups, body.get("cursor", ""), body.get("limit", 100), most=1000)
    if problem:
        return problem
    return {"group_chat_list": [{"chat_id": g.chat_id, "status": 0} for g in page], "next_cursor": cursor}


@wecom_api("externalcontact/groupchat/get")
def groupchat_get(request, corp, body):
    group = SbGroup.objects.filter(corp=corp, chat_id=body.get("chat_id", "")).select_related("owner").first()
    if group is None or group.dismissed:
        return error(86003, "chat not found")
    return {
        "group_chat": {
            "chat_id": group.chat_id,
            "name": group.name,
            "owner": group.owner.userid,
            "create_time": group.create_time,
            "notice": group.notice,
            "member_list": [
                {
                    "userid": m.userid,
                    "type": m.type,
                    "join_time": m.join_time,
                    "join_scene": m.join_scene,
                    "invitor": {"userid": m.invitor} if m.invitor else {},
                    "group_nickname": "",
                    "name": m.name,
                    **({"state": m.state} if m.state else {}),
                }
                for m in group.members.order_by("id")
            ],
            "admin_list": [],
            "member_version": str(group.member_version),
        }
    }
