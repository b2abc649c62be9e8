"""The callback inbox: verify, decrypt, store once, acknowledge; a task does the work later.

WeCom drops the connection after 5 s and retries, so the request does nothing slow: no WeCom API
call, no business logic. Handlers live in handlers.py and run from tasks.py.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from functools import lru_cache

from csp.decorators import csp_exempt
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from siyu.corps.models import Corp
from siyu.kit.clock import now
from siyu.kit.crypto import decrypt_secret
from siyu.kit.db import CompiledQuery, insert_objects
from siyu.kit.events import publish
from siyu.kit.queue import new_task_id
from siyu.kit.wecom_crypto import PARSE_XML_ERROR, SIGNATURE_INVALID, WeComCryptoError, WXBizMsgCrypt, parse_xml

from .events import ADD_EVENTS, ContactAddReceived
from .models import CallbackEvent
from .services import callback_enqueue

log = logging.getLogger(__name__)


# Fields whose values identify the object an event is about, for the dedupe key.
OBJECT_FIELDS = ("UserID", "ExternalUserID", "ChatId", "Id", "TagType", "UpdateDetail", "StrategyId")


def event_to_dict(xml: str) -> dict:
    """Flatten the inner event XML: text fields as strings, <MemChangeList><Item> as a list."""
    root = parse_xml(xml)
    data: dict = {}
    for child in root:
        items = list(child)
        data[child.tag] = [i.text or "" for i in items] if items else (child.text or "")
    return data


def dedupe_key(data: dict) -> str:
    if data.get("MsgId"):
        return f"msg:{data['MsgId']}"
    # FromUserName is always "sys" for customer-contact events, so it is the event's own fields
    # that tell two events apart (shared/wecom-protocol.md §3).
    parts = [data.get("CreateTime", ""), data.get("Event", ""), data.get("ChangeType", "")]
    parts += [f"{k}={data[k]}" for k in OBJECT_FIELDS if data.get(k)]
    if data.get("MemChangeList"):
        parts.append("mem=" + ",".join(sorted(data["MemChangeList"])))
    return "|".join(parts)[:300]


def crypt_for(corp: Corp) -> WXBizMsgCrypt:
    return _crypt(corp.token_encrypted, corp.aes_key_encrypted, corp.corp_id)


@lru_cache(maxsize=1024)
def _crypt(token_encrypted: str, aes_key_encrypted: str, corp_id: str) -> WXBizMsgCrypt:
    # Kept per process for the credentials as stored: decrypting them was two of the few
    # milliseconds of every callback. New credentials are new ciphertexts, so a new entry.
    return WXBizMsgCrypt(decrypt_secret(token_encrypted), decrypt_secret(aes_key_encrypted), corp_id)


# Every callback reads its corp: compiled once, as the ORM's building of the query cost more than the read.
_CORP_BY_CORP_ID = CompiledQuery(lambda corp_id: Corp.objects.filter(corp_id=corp_id)[:1], str)


def _reject(status: int, code: str, message: str, corp_id: str) -> JsonResponse:
    log.warning("callback for %s rejected: %s (%s)", corp_id, code, message)
    return JsonResponse({"error": {"code": code, "message": message, "field": None}}, status=status)


def record(corp: Corp, data: dict) -> tuple[CallbackEvent, bool]:
    """Store the event once; a repeat only counts the delivery. Returns (event, created)."""
    key = dedupe_key(data)
    created_at = None
    if str(data.get("CreateTime", "")).isdigit():
        created_at = datetime.fromtimestamp(int(data["CreateTime"]), tz=UTC)
    # insert_objects: the ORM's building of an INSERT cost more than the INSERT.
    written = insert_objects(
        [
            CallbackEvent(
                corp=corp,
                dedupe_key=key,
                event=data.get("Event", data.get("MsgType", "")),
                change_type=data.get("ChangeType", ""),
                payload=data,
                created_at_wecom=created_at,
                task_id=new_task_id(),  # the handling task's, queued in this transaction if it is new
            )
        ],
        if_new=True,
    )
    if written:
        return written[0], True
    CallbackEvent.objects.filter(corp=corp, dedupe_key=key).update(deliveries=F("deliveries") + 1)
    return CallbackEvent.objects.get(corp=corp, dedupe_key=key), False


@csrf_exempt
@csp_exempt()  # an empty answer to WeCom's servers: no page, and building the policy was a quarter of Django's cost around the view
@transaction.non_atomic_requests
def callback(request, corp_id: str):
    # Not one transaction per request: on SQLite that would take the write lock before the
    # decrypting and parsing; only storing the event needs it, briefly.
    corp = _CORP_BY_CORP_ID.first(corp_id)
    if corp is None or not corp.token_encrypted or not corp.aes_key_encrypted:
        return _reject(404, "unknown_corp", "No corp with callback credentials at this URL.", corp_id)
    params = request.GET
    try:
        crypt = crypt_for(corp)
        if request.method == "GET":
            plain = crypt.verify_url(params.get("msg_signature", ""), params.get("timestamp", ""), params.get("nonce", ""), params.get("echostr", ""))
            # The bare plaintext: no quotes, no newline (WeCom compares it byte for byte).
            return HttpResponse(plain, content_type="text/plain; charset=utf-8")
        if request.method != "POST":
            return _reject(405, "method_not_allowed", "GET or POST only.", corp_id)
        timestamp = params.get("timestamp", "")
        if not timestamp.isdigit() or abs(now().timestamp() - int(timestamp)) > settings.SIYU_CALLBACK_MAX_AGE:
            return _reject(400, "stale_callback", "timestamp missing or too far from now", corp_id)
        xml = crypt.decrypt_message(params.get("msg_signature", ""), timestamp, params.get("nonce", ""), request.body)
        data = event_to_dict(xml)
    except WeComCryptoError as exc:
        status = 403 if exc.code == SIGNATURE_INVALID else 400
        code = {SIGNATURE_INVALID: "bad_signature", PARSE_XML_ERROR: "bad_xml"}.get(exc.code, "bad_ciphertext")
        return _reject(status, code, exc.message, corp_id)
    if data.get("ToUserName") not in ("", None, corp.corp_id):
        return _reject(400, "wrong_corp", "ToUserName is another corp", corp_id)
    # The event with its task's id, and the task: one short transaction, one commit. An add is
    # announced here too, not after handling: WeCom's 20-second welcome window is already running.
    with transaction.atomic():
        event, created = record(corp, data)
        if created:
            callback_enqueue(event)
            if data.get("ChangeType") in ADD_EVENTS:
                publish(_add_received(event))
    return HttpResponse("")


def _add_received(event: CallbackEvent) -> ContactAddReceived:
    data, received_at = event.payload, event.received_at
    return ContactAddReceived(
        corp=event.corp,
        userid=data.get("UserID", ""),
        external_userid=data.get("ExternalUserID", ""),
        state=data.get("State", ""),
        welcome_code=data.get("WelcomeCode", ""),
        added_at=event.created_at_wecom or received_at,
        received_at=received_at,
    )
