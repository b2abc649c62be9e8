from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.core.exceptions import ObjectDoesNotExist
from ninja import Field, Router, Schema, Status

from siyu.kit.pagination import keyset_page

from . import codes, selectors
from .models import GroupCode

router = Router(tags=["groups"])


class GroupOut(Schema):
    id: int
    chat_id: str
    name: str
    owner_id: int | None
    member_count: int
    status: str


class GroupPage(Schema):
    items: list[GroupOut]
    next_cursor: str | None


class GroupCodeIn(Schema):
    name: str = Field(..., min_length=1, max_length=64)
    group_ids: list[int] = Field(..., max_length=1000)
    member_limit: int = Field(200, ge=1, le=500)
    auto_create: bool = False
    room_base_name: str = Field("", max_length=40)
    room_base_id: int = Field(1, ge=1)
    low_pool_alert: int = Field(1, ge=0, le=1000)
    welcome_text: str = Field("", max_length=4000)
    welcome_attachments: list[dict] = Field(default_factory=list, max_length=1)  # checked by messaging


class PoolGroupOut(Schema):
    group_id: int
    chat_id: str
    name: str
    member_count: int
    full: bool


class GroupCodeOut(Schema):
    id: int
    name: str
    state: str
    status: str
    member_limit: int
    auto_create: bool
    room_base_name: str
    room_base_id: int
    low_pool_alert: int
    welcome_text: str
    welcome_attachments: list[dict]
    welcome_template_id: str
    pool: list[PoolGroupOut]
    config_id: str
    qr_url: str
    wecom_chat_ids: list[str]
    alert: str
    alert_at: datetime | None
    push_error: str


class StatusIn(Schema):
    status: Literal["active", "paused"]


def _out(request, code: GroupCode) -> GroupCodeOut:
    pool = list(code.pool.all())
    welcome = _welcome(code)
    return GroupCodeOut(
        id=code.id,
        name=code.name,
        state=code.state,
        status=code.status,
        member_limit=code.member_limit,
        auto_create=code.auto_create,
        room_base_name=code.room_base_name,
        room_base_id=code.room_base_id,
        low_pool_alert=code.low_pool_alert,
        welcome_text=welcome.text if welcome else "",
        welcome_attachments=welcome.attachments if welcome else [],
        welcome_template_id=welcome.template_id if welcome else "",
        pool=[
            PoolGroupOut(
                group_id=p.group_id,
                chat_id=p.group.chat_id,
                name=p.group.name,
                member_count=p.group.member_count,
                full=p.group.member_count >= code.member_limit,
            )
            for p in pool
        ],
        config_id=code.config_id,
        qr_url=code.qr_url,
        wecom_chat_ids=code.pushed_chat_ids,
        alert=code.alert,
        alert_at=code.alert_at,
        push_error=code.push_error,
    )


def _welcome(code: GroupCode):
    # The group welcome belongs to messaging (its model adds `welcome` to the code); read, not imported.
    try:
        return code.welcome
    except ObjectDoesNotExist:
        return None


def _save(request, payload: GroupCodeIn, code: GroupCode | None = None) -> GroupCode:
    return codes.group_code_save(actor=request.auth, code=code, **payload.dict())


@router.get("/customer-groups", response=GroupPage)
def group_list(request, cursor: str | None = None, limit: int = 50):
    rows, next_cursor = keyset_page(selectors.groups(request.auth), cursor=cursor, limit=limit)
    return GroupPage(items=rows, next_cursor=next_cursor)


@router.get("/group-codes", response=list[GroupCodeOut])
def group_code_list(request):
    return [_out(request, c) for c in selectors.group_codes(request.auth)]


@router.post("/group-codes", response={201: GroupCodeOut})
def group_code_create(request, payload: GroupCodeIn):
    code = _save(request, payload)
    return Status(201, _out(request, selectors.group_code_get(request.auth, code.id)))


@router.get("/group-codes/{group_code_id}", response=GroupCodeOut)
def group_code_get(request, group_code_id: int):
    return _out(request, selectors.group_code_get(request.auth, group_code_id))


@router.put("/group-codes/{group_code_id}", response=GroupCodeOut)
def group_code_update(request, group_code_id: int, payload: GroupCodeIn):
    code = _save(request, payload, selectors.group_code_get(request.auth, group_code_id))
    return _out(request, selectors.group_code_get(request.auth, code.id))


@router.post("/group-codes/{group_code_id}/status", response=GroupCodeOut)
def group_code_status(request, group_code_id: int, payload: StatusIn):
    code = codes.group_code_set_status(actor=request.auth, code=selectors.group_code_get(request.auth, group_code_id), status=payload.status)
    return _out(request, selectors.group_code_get(request.auth, code.id))


@router.delete("/group-codes/{group_code_id}", response={204: None})
def group_code_delete(request, group_code_id: int):
    codes.group_code_set_status(actor=request.auth, code=selectors.group_code_get(request.auth, group_code_id), status=GroupCode.Status.DELETED)
    return Status(204, None)
