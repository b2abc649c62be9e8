"""Sandbox endpoints for acquisition: contact ways (联系我), welcome messages, remarks, group join ways."""

from __future__ import annotations

import io
import random
import secrets
import time
from datetime import timedelta

import segno
from django.db import transaction
from django.http import HttpResponse, JsonResponse
from django.utils.html import escape
from django.views.decorators.csrf import csrf_exempt

from siyu.kit.clock import now

from . import callbacks
from .models import SbContactWay, SbCustomer, SbFollow, SbGroup, SbGroupWelcomeTemplate, SbJoinWay, SbMedia, SbStaff, SbWelcomeCode, SbWelcomeSent
from .names import customer_name
from .views import cursor_page, error, wecom_api

CONTACT_WAY_FIELDS = ("style", "remark", "skip_verify", "state", "user", "party", "expires_in", "chat_expires_in", "unionid", "conclusions")
MAX_TEMP_EXPIRES = 14 * 86400
DEFAULT_TEMP_EXPIRES = 7 * 86400
WELCOME_CODE_INVALID = 41051  # the sandbox's answer for an unknown, expired or used welcome_code


def _qr_url(request, kind: str, config_id: str) -> str:
    return request.build_absolute_uri(f"/sandbox/qr/{kind}/{config_id}.png")


def _check_contact_way(corp, body: dict, *, type_: int, is_temp: bool):
    """Validate the fields add/update share; returns an error response or None."""
    remark, state = body.get("remark", ""), body.get("state", "")
    if not isinstance(remark, str) or len(remark) > 30:
        return error(40058, "remark is at most 30 characters")
    if not isinstance(state, str) or len(state) > 30:
        return error(40058, "state is at most 30 characters")
    users, parties = body.get("user", []), body.get("party", [])
    if not isinstance(users, list) or not isinstance(parties, list):
        return error(40058, "user and party are lists")
    if type_ == 1 and (len(users) != 1 or parties):
        return error(40058, "a single contact way has exactly one user")
    if type_ == 2 and not (users or parties):
        return error(40058, "user or party is required")
    if is_temp and (type_ != 1):
        return error(40058, "a temporary contact way is single-user")
    known = set(SbStaff.objects.filter(corp=corp, userid__in=users, external_enabled=True).values_list("userid", flat=True))
    missing = [u for u in users if u not in known]
    if missing:
        return error(60111, f"{missing[0]} has no customer-contact permission")
    expires = body.get("expires_in", DEFAULT_TEMP_EXPIRES if is_temp else 0)
    if not isinstance(expires, int) or expires < 0 or expires > MAX_TEMP_EXPIRES:
        return error(40058, "expires_in is at most 14 days")
    return None


def _contact_way_json(request, way: SbContactWay) -> dict:
    data = {
        "config_id": way.config_id,
        "type": way.type,
        "scene": way.scene,
        "style": way.style,
        "remark": way.remark,
        "skip_verify": way.skip_verify,
        "state": way.state,
        "user": way.users,
        "party": way.parties,
        "is_temp": way.is_temp,
        "expires_in": way.expires_in,
        "chat_expires_in": way.chat_expires_in,
        "unionid": way.unionid,
        "conclusions": way.conclusions,
    }
    if way.scene == 2:
        data["qr_code"] = _qr_url(request, "contact", way.config_id)
    return data


@wecom_api("externalcontact/add_contact_way")
def add_contact_way(request, corp, body):
    type_, scene = body.get("type"), body.get("scene")
    if type_ not in (1, 2) or scene not in (1, 2):
        return error(40058, "type and scene must be 1 or 2")
    is_temp = bool(body.get("is_temp", False))
    problem = _check_contact_way(corp, body, type_=type_, is_temp=is_temp)
    if problem:
        return problem
    way = SbContactWay.objects.create(
        corp=corp,
        config_id=secrets.token_hex(16),
        type=type_,
        scene=scene,
        style=body.get("style", 1),
        remark=body.get("remark", ""),
        skip_verify=bool(body.get("skip_verify", True)),
        state=body.get("state", ""),
        users=body.get("user", []),
        parties=body.get("party", []),
        is_temp=is_temp,
        expires_in=body.get("expires_in", DEFAULT_TEMP_EXPIRES if is_temp else 0),
        chat_expires_in=body.get("chat_expires_in", 86400 if is_temp else 0),
        unionid=body.get("unionid", ""),
        conclusions=body.get("conclusions", {}) if is_temp else {},
        create_time=int(time.time()),
    )
    answer = {"config_id": way.config_id}
    if scene == 2:
        answer["qr_code"] = _qr_url(request, "contact", way.config_id)
    return answer


def _live(model, corp, body):
    """The contact or join way named by body["config_id"], not deleted (a queryset)."""
    return model.objects.filter(corp=corp, config_id=body.get("config_id", ""), deleted=False)


def _way(corp, body) -> SbContactWay | None:
    return _live(SbContactWay, corp, body).first()


@wecom_api("externalcontact/get_contact_way")
def get_contact_way(request, corp, body):
    way = _way(corp, body)
    if way is None:
        return error(41044, "config_id not found")
    return {"contact_way": _contact_way_json(request, way)}


@wecom_api("externalcontact/update_contact_way")
def update_contact_way(request, corp, body):
    way = _way(corp, body)
    if way is None:
        return error(41044, "config_id not found")
    merged = {"user": way.users, "party": way.parties, "remark": way.remark, "state": way.state, "expires_in": way.expires_in, **body}
    problem = _check_contact_way(corp, merged, type_=way.type, is_temp=way.is_temp)
    if problem:
        return problem
    for field in CONTACT_WAY_FIELDS:
        if field in body:
            setattr(way, {"user": "users", "party": "parties"}.get(field, field), body[field])
    way.save()
    return {}


@wecom_api("externalcontact/del_contact_way")
def del_contact_way(request, corp, body):
    if not _live(SbContactWay, corp, body).update(deleted=True):
        return error(41044, "config_id not found")
    return {}


@wecom_api("externalcontact/list_contact_way")
def list_contact_way(request, corp, body):
    ways = SbContactWay.objects.filter(corp=corp, deleted=False)
    if body.get("start_time"):
        ways = ways.filter(create_time__gte=body["start_time"])
    if body.get("end_time"):
        ways = ways.filter(create_time__lte=body["end_time"])
    page, cursor, problem = cursor_page(ways, body.get("cursor", ""), body.get("limit", 100), most=1000)
    if problem:
        return problem
    return {"contact_way": [{"config_id": w.config_id} for w in page], "next_cursor": cursor}


MEDIA_MAX = {"image": 10 * 2**20, "voice": 2 * 2**20, "video": 10 * 2**20, "file": 20 * 2**20}
# Bytes WeCom allows in an attachment's fields (message content as in send_welcome_msg and add_msg_template).
ATTACHMENT_LIMITS = {"link": {"title": 128, "desc": 512, "url": 2048}, "miniprogram": {"title": 64}}


@wecom_api("media/upload")
def media_upload(request, corp, body):
    kind = request.GET.get("type", "")
    if kind not in MEDIA_MAX:
        return error(40004, "type is image, voice, video or file")
    upload = request.FILES.get("media")
    if upload is None or upload.size == 0:
        return error(44001, "the form field media is empty")
    if upload.size < 5 or upload.size > MEDIA_MAX[kind]:
        return error(40006, f"{upload.size} bytes")
    stamp = now()
    media = SbMedia.objects.create(
        corp=corp,
        media_id="3" + secrets.token_urlsafe(40),
        type=kind,
        filename=upload.name or "",
        size=upload.size,
        created_at=stamp,
        expires_at=stamp + timedelta(days=3),
    )
    return {"type": kind, "media_id": media.media_id, "created_at": str(int(stamp.timestamp()))}


def content_problem(corp, text: str, attachments) -> JsonResponse | None:
    """WeCom's checks on message content: text bytes, 9 attachments, field sizes, live media ids."""
    if len(text.encode()) > 4000:
        return error(40058, "text.content exceeds 4000 bytes")
    if not isinstance(attachments, list) or len(attachments) > 9:
        return error(40058, "at most 9 attachments")
    for a in attachments:
        kind = a.get("msgtype") if isinstance(a, dict) else None
        item = a.get(kind) if kind else None
        if kind not in ("image", "link", "miniprogram", "video", "file") or not isinstance(item, dict):
            return error(40058, "bad attachment")
        for key, limit in ATTACHMENT_LIMITS.get(kind, {}).items():
            if len(str(item.get(key, "")).encode()) > limit:
                return error(40058, f"{kind}.{key} exceeds {limit} bytes")
        if kind == "link" and not str(item.get("url", "")).startswith(("http://", "https://")):
            return error(40058, "link.url must be http(s)")
        media_id = item.get("pic_media_id") if kind == "miniprogram" else item.get("media_id")
        if kind == "image" and not media_id and item.get("pic_url"):
            continue
        if kind != "link":
            wanted = "image" if kind in ("image", "miniprogram") else kind
            if not SbMedia.objects.filter(corp=corp, media_id=media_id or "", type=wanted, expires_at__gt=now()).exists():
                return error(40007, f"{kind}: media_id is invalid or expired")
    return None


@wecom_api("externalcontact/send_welcome_msg")
def send_welcome_msg(request, corp, body):
    attachments = body.get("attachments", [])
    text = str((body.get("text") or {}).get("content", ""))
    if not text and not attachments:
        return error(40058, "text or attachments required")
    problem = content_problem(corp, text, attachments)
    if problem:
        return problem
    # Usable once, within 20 seconds: the conditional update is the single use.
    code = SbWelcomeCode.objects.filter(corp=corp, code=body.get("welcome_code", "")).first()
    if code is None or not SbWelcomeCode.objects.filter(pk=code.pk, used_at__isnull=True, expires_at__gt=now()).update(used_at=now()):
        return error(WELCOME_CODE_INVALID, "welcome_code is invalid, expired or used")
    SbWelcomeSent.objects.create(code=code, text=(body.get("text") or {}).get("content", ""), attachments=attachments)
    return {}


@wecom_api("externalcontact/remark")
def remark(request, corp, body):
    follow = SbFollow.objects.filter(corp=corp, staff__userid=body.get("userid", ""), customer__external_userid=body.get("external_userid", "")).first()
    if follow is None:
        return error(84061)
    mobiles = body.get("remark_mobiles")
    if mobiles is not None and (not isinstance(mobiles, list) or len(mobiles) > 5):
        return error(40058, "at most 5 remark_mobiles")
    for field in ("remark", "description"):
        if field in body:
            setattr(follow, field, str(body[field])[: SbFollow._meta.get_field(field).max_length])
    if mobiles is not None:
        follow.remark_mobiles = mobiles
    follow.save()
    return {}


# -- group join ways --------------------------------------------------------------------------------
MAX_JOIN_WAY_CHATS = 5


def _check_join_way(corp, body: dict):
    chats = body.get("chat_id_list", [])
    if not isinstance(chats, list) or not 1 <= len(chats) <= MAX_JOIN_WAY_CHATS:
        return error(40058, "chat_id_list holds 1 to 5 groups")
    if SbGroup.objects.filter(corp=corp, chat_id__in=chats, dismissed=False).count() != len(set(chats)):
        return error(86003, "a chat_id is unknown or dismissed")
    if len(body.get("state", "")) > 30 or len(body.get("room_base_name", "")) > 40:
        return error(40058, "state is at most 30 characters, room_base_name 40")
    return None


def _join_way_json(request, way: SbJoinWay) -> dict:
    return {
        "config_id": way.config_id,
        "scene": way.scene,
        "remark": way.remark,
        "auto_create_room": int(way.auto_create_room),
        "room_base_name": way.room_base_name,
        "room_base_id": way.room_base_id,
        "chat_id_list": way.chat_id_list,
        "state": way.state,
        "mark_source": way.mark_source,
        "qr_code": _qr_url(request, "join", way.config_id),
    }


@wecom_api("externalcontact/groupchat/add_join_way")
def add_join_way(request, corp, body):
    if body.get("scene") not in (1, 2):
        return error(40058, "scene must be 1 or 2")
    problem = _check_join_way(corp, body)
    if problem:
        return problem
    way = SbJoinWay.objects.create(
        corp=corp,
        config_id=secrets.token_hex(16),
        scene=body["scene"],
        remark=str(body.get("remark", ""))[:30],
        auto_create_room=bool(body.get("auto_create_room", 1)),
        room_base_name=body.get("room_base_name", ""),
        room_base_id=body.get("room_base_id", 1),
        chat_id_list=body["chat_id_list"],
        state=body.get("state", ""),
        mark_source=bool(body.get("mark_source", True)),
    )
    return {"config_id": way.config_id}


@wecom_api("externalcontact/groupchat/get_join_way")
def get_join_way(request, corp, body):
    way = _live(SbJoinWay, corp, body).first()
    if way is None:
        return error(41044, "config_id not found")
    return {"join_way": _join_way_json(request, way)}


@wecom_api("externalcontact/groupchat/update_join_way")
def update_join_way(request, corp, body):
    way = _live(SbJoinWay, corp, body).first()
    if way is None:
        return error(41044, "config_id not found")
    merged = {"chat_id_list": way.chat_id_list, "state": way.state, "room_base_name": way.room_base_name, **body}
    problem = _check_join_way(corp, merged)
    if problem:
        return problem
    for field in ("scene", "remark", "auto_create_room", "room_base_name", "room_base_id", "chat_id_list", "state", "mark_source"):
        if field in body:
            setattr(way, field, str(body[field])[:30] if field == "remark" else body[field])
    way.save()
    return {}


@wecom_api("externalcontact/groupchat/del_join_way")
def del_join_way(request, corp, body):
    if not _live(SbJoinWay, corp, body).update(deleted=True):
        return error(41044, "config_id not found")
    return {}


def _scannable(kind: str, config_id: str):
    model = {"contact": SbContactWay, "join": SbJoinWay}.get(kind)
    return model.objects.select_related("corp").filter(config_id=config_id, deleted=False).first() if model else None


def qr_code(request, kind: str, config_id: str):
    """What the qr_code URL shows: a real QR (no token needed, like WeCom's image URLs).

    It encodes the sandbox's scan page for the way, so pointing a "phone" (a browser, a test) at
    what the QR says is how a simulated WeChat user scans it.
    """
    if _scannable(kind, config_id) is None:
        return HttpResponse(status=404)
    out = io.BytesIO()
    segno.make(request.build_absolute_uri(f"/sandbox/scan/{kind}/{config_id}/"), error="m").save(out, kind="png", scale=6, border=4)
    return HttpResponse(out.getvalue(), content_type="image/png")


@csrf_exempt
@transaction.non_atomic_requests
def scan(request, kind: str, config_id: str):
    """The phone's side of a scan: GET shows who is scanning, POST adds the staff or joins the group."""
    # Not one transaction: the scan sends its callback to Siyu, which may be this very server,
    # and must not wait behind a write lock this request holds.
    way = _scannable(kind, config_id)
    if way is None:
        return HttpResponse("<h1>二维码已失效</h1>", status=404)
    name = (request.POST.get("name") or "").strip()[:64] or customer_name(random.Random())
    if request.method != "POST":
        return HttpResponse(
            f'<!doctype html><meta charset="utf-8"><title>扫码</title><form method="post"><p>模拟微信用户扫码</p>'
            f'<input name="name" value="{escape(name)}"><button type="submit">添加</button></form>'
        )
    try:
        if kind == "contact":
            follow, _ = callbacks.customer_scans_contact_way(way, name=name)
            done = f"已添加 {escape(follow.staff.name)}"
        else:
            customer = SbCustomer.objects.create(corp=way.corp, external_userid="wm" + secrets.token_hex(14), name=name)
            callbacks.customer_scans_join_way(way, customer)
            done = "已加入群聊"
    except callbacks.CodeRefused as exc:
        return HttpResponse(f"<p>{escape(str(exc))}</p>", status=409)
    return HttpResponse(f'<!doctype html><meta charset="utf-8"><p id="done">{done}</p>')


# -- group welcome templates (入群欢迎语素材) --------------------------------------------------------
def _template_fields(body: dict) -> tuple[str, dict] | None:
    text = (body.get("text") or {}).get("content", "")
    attachments = {k: body[k] for k in ("image", "link", "miniprogram", "file", "video") if k in body}
    if not text and not attachments:
        return None
    if len(text) > 4000:
        return None
    return text, attachments


@wecom_api("externalcontact/group_welcome_template/add")
def group_welcome_add(request, corp, body):
    fields = _template_fields(body)
    if fields is None:
        return error(41048, "the template needs text (≤ 4000 characters) or an attachment")
    template = SbGroupWelcomeTemplate.objects.create(corp=corp, template_id="msg" + secrets.token_hex(12), text=fields[0], attachments=fields[1])
    return {"template_id": template.template_id}


@wecom_api("externalcontact/group_welcome_template/edit")
def group_welcome_edit(request, corp, body):
    template = SbGroupWelcomeTemplate.objects.filter(corp=corp, template_id=body.get("template_id", ""), deleted=False).first()
    if template is None:
        return error(41050, "template_id not found")
    fields = _template_fields(body)
    if fields is None:
        return error(41048, "the template needs text (≤ 4000 characters) or an attachment")
    template.text, template.attachments = fields
    template.save(update_fields=["text", "attachments"])
    return {}


@wecom_api("externalcontact/group_welcome_template/get")
def group_welcome_get(request, corp, body):
    template = SbGroupWelcomeTemplate.objects.filter(corp=corp, template_id=body.get("template_id", ""), deleted=False).first()
    if template is None:
        return error(41050, "template_id not found")
    return {"text": {"content": template.text}, **template.attachments}


@wecom_api("externalcontact/group_welcome_template/del")
def group_welcome_del(request, corp, body):
    if not SbGroupWelcomeTemplate.objects.filter(corp=corp, template_id=body.get("template_id", ""), deleted=False).update(deleted=True):
        return error(41050, "template_id not found")
    return {}
