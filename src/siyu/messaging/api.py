from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import File, Form, Router, Schema, Status
from ninja.files import UploadedFile

from siyu.acquisition.api import WelcomeIn
from siyu.acquisition.selectors import live_code_get
from siyu.corps.selectors import staff_get
from siyu.kit.pagination import keyset_page

from . import media, selectors, services
from .models import Media, WelcomeSend

router = Router(tags=["messaging"])


class WelcomeOut(Schema):
    id: int
    live_code_id: int | None
    staff_id: int | None
    text: str
    attachments: list[dict]


class WelcomeSendOut(Schema):
    id: int
    welcome_code: str
    userid: str
    external_userid: str
    state: str
    status: str
    received_at: datetime
    deadline: datetime
    sent_at: datetime | None
    error: str


class WelcomeSendPage(Schema):
    items: list[WelcomeSendOut]
    next_cursor: str | None


class MediaOut(Schema):
    id: int
    kind: str
    name: str
    size: int
    content_type: str
    created_at: datetime


def _welcome_out(m) -> WelcomeOut:
    return WelcomeOut(id=m.id, live_code_id=m.live_code_id, staff_id=m.staff_id, text=m.text, attachments=m.attachments)


@router.get("/welcome-messages", response=list[WelcomeOut])
def welcome_list(request):
    return [_welcome_out(m) for m in selectors.welcome_messages(request.auth)]


def _set_welcome(request, payload: WelcomeIn, **scope):
    message = services.welcome_message_set(actor=request.auth, text=payload.text, attachments=[a.dict(exclude_none=True) for a in payload.attachments], **scope)
    return _welcome_out(message) if message else Status(204, None)


@router.put("/welcome-messages/default", response={200: WelcomeOut, 204: None})
def welcome_set_default(request, payload: WelcomeIn):
    return _set_welcome(request, payload)


@router.put("/live-codes/{live_code_id}/welcome", response={200: WelcomeOut, 204: None})
def welcome_set_for_code(request, live_code_id: int, payload: WelcomeIn):
    return _set_welcome(request, payload, live_code=live_code_get(request.auth, live_code_id))


@router.put("/staff/{staff_id}/welcome", response={200: WelcomeOut, 204: None})
def welcome_set_for_staff(request, staff_id: int, payload: WelcomeIn):
    return _set_welcome(request, payload, staff=staff_get(request.auth, staff_id))


@router.get("/welcome-sends", response=WelcomeSendPage)
def welcome_send_list(request, status: Literal[tuple(WelcomeSend.Status.values)] | None = None, cursor: str | None = None, limit: int = 50):  # type: ignore[valid-type]
    rows, next_cursor = keyset_page(selectors.welcome_sends(request.auth, status=status), cursor=cursor, limit=limit)
    return WelcomeSendPage(items=rows, next_cursor=next_cursor)


@router.get("/media", response=list[MediaOut])
def media_list(request):
    return list(selectors.media_list(request.auth)[:500])


@router.post("/media", response={201: MediaOut})
def media_create(request, kind: Form[Literal[tuple(Media.Kind.values)]], file: File[UploadedFile]):  # type: ignore[valid-type]
    return Status(201, media.media_create(actor=request.auth, kind=kind, name=file.name or kind, content=file.read(), content_type=file.content_type or ""))
