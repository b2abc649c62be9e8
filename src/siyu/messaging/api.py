from __future__ import annotations

from datetime import datetime, time
from typing import Literal

from ninja import Field, File, Form, Router, Schema, Status
from ninja.files import UploadedFile

from siyu.acquisition.api import Attachment, WelcomeIn
from siyu.acquisition.selectors import live_code_get
from siyu.corps.selectors import staff_get
from siyu.kit.pagination import keyset_page
from siyu.kit.schema import ClockTime

from . import budget, library, mass_sends, media, moments, selectors, services
from .models import ContactPolicy, ContentItem, MassSendTask, Media, WelcomeSend

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


# -- mass sends ---------------------------------------------------------------------------------------
class AudienceIn(Schema):
    kind: Literal["segment", "filters", "customers", "groups"]
    segment_id: int | None = None
    filters: dict = Field(default_factory=dict, description="the customer list's and segments' filters")
    external_userids: list[str] = Field(default_factory=list, max_length=200_000)
    phones: list[str] = Field(default_factory=list, max_length=200_000)
    group_ids: list[int] = Field(default_factory=list, description="groups: these (of the allowed owners)")
    name_contains: str = Field("", max_length=100, description="groups: whose name contains this")


class MassSendIn(Schema):
    name: str = Field(..., min_length=1, max_length=64)
    chat_type: Literal["single", "group"] = Field("single", description="to customers, or to customer groups through their owners")
    audience: AudienceIn
    text: str = Field("", max_length=4000)
    attachments: list[Attachment] = Field(default_factory=list, max_length=9)
    staff_ids: list[int] = Field(default_factory=list, description="only these senders (none: every staff member)")
    department_ids: list[int] = Field(default_factory=list, description="only staff in these departments or below them (regions, stores)")
    send_at: datetime | None = Field(None, description="when to hand it to WeCom (none: now)")


class PreviewIn(Schema):
    audience: AudienceIn
    staff_ids: list[int] = Field(default_factory=list)
    department_ids: list[int] = Field(default_factory=list)
    send_at: datetime | None = None


class SplitOut(Schema):
    staff_id: int
    name: str
    customers: int


class PreviewOut(Schema):
    audience: int
    planned: int
    skipped: dict[str, int]
    staff: int
    tasks: int
    split: list[SplitOut]
    quiet_hours: bool


class MassSendOut(Schema):
    id: int
    name: str
    chat_type: str
    status: str
    text: str
    attachments: list[dict]
    audience: dict
    staff_ids: list[int]
    department_ids: list[int]
    send_at: datetime
    created_at: datetime
    closes_at: datetime | None
    audience_total: int
    planned: int
    skipped: dict
    tasks_total: int
    tasks_created: int
    tasks_sent: int
    tasks_failed: int
    sent: int
    not_friend: int
    over_cap: int
    error: str


class MassSendPage(Schema):
    items: list[MassSendOut]
    next_cursor: str | None


class MassSendTaskOut(Schema):
    id: int
    staff_id: int
    staff_userid: str
    staff_name: str
    department: str | None
    part: int
    recipients: int
    status: str
    msgid: str
    created_at: datetime | None
    sent_at: datetime | None
    reminders: int
    error: str


class CompletionOut(Schema):
    id: int | None
    name: str
    assigned: int
    sent: int
    on_time: int
    customers: int
    rate: float


class PolicyIn(Schema):
    wecom_cap: Literal[tuple(ContactPolicy.Cap.values)] = ContactPolicy.Cap.MONTH_DAYS  # type: ignore[valid-type]
    max_per_week: int | None = Field(None, ge=1, le=100)
    min_gap_hours: int | None = Field(None, ge=1, le=720)
    quiet_start: ClockTime | None = None
    quiet_end: ClockTime | None = None


class PolicyOut(Schema):
    wecom_cap: str
    max_per_week: int | None
    min_gap_hours: int | None
    quiet_start: time | None
    quiet_end: time | None


@router.post("/mass-sends/preview", response=PreviewOut)
def mass_send_preview(request, payload: PreviewIn):
    return mass_sends.mass_send_preview(
        request.auth, audience=payload.audience.dict(), staff_ids=payload.staff_ids, department_ids=payload.department_ids, send_at=payload.send_at
    )


@router.post("/mass-sends", response={201: MassSendOut})
def mass_send_create(request, payload: MassSendIn):
    send = mass_sends.mass_send_create(
        actor=request.auth,
        name=payload.name,
        audience=payload.audience.dict(),
        text=payload.text,
        attachments=[a.dict(exclude_none=True) for a in payload.attachments],
        staff_ids=payload.staff_ids,
        department_ids=payload.department_ids,
        send_at=payload.send_at,
        chat_type=payload.chat_type,
    )
    return Status(201, send)


@router.get("/mass-sends", response=MassSendPage)
def mass_send_list(request, cursor: str | None = None, limit: int = 50):
    rows, next_cursor = keyset_page(selectors.mass_sends(request.auth), cursor=cursor, limit=limit)
    return MassSendPage(items=rows, next_cursor=next_cursor)


@router.get("/mass-sends/{send_id}", response=MassSendOut)
def mass_send_detail(request, send_id: int):
    return selectors.mass_send_get(request.auth, send_id)


@router.get("/mass-sends/{send_id}/tasks", response=list[MassSendTaskOut])
def mass_send_tasks(request, send_id: int, status: Literal[tuple(MassSendTask.Status.values)] | None = None):  # type: ignore[valid-type]
    send = selectors.mass_send_get(request.auth, send_id)
    return [
        MassSendTaskOut(
            id=t.id,
            staff_id=t.staff_id,
            staff_userid=t.staff.userid,
            staff_name=t.staff.name,
            department=t.staff.department.name if t.staff.department else None,
            part=t.part,
            recipients=t.recipients,
            status=t.status,
            msgid=t.msgid,
            created_at=t.created_at,
            sent_at=t.sent_at,
            reminders=len(t.reminded_at),
            error=t.error,
        )
        for t in selectors.mass_send_tasks(request.auth, send, status=status or "")[:10_000]
    ]


@router.get("/mass-sends/{send_id}/completion", response=list[CompletionOut])
def mass_send_completion(request, send_id: int, by: Literal["staff", "department", "region"] = "staff", sort: Literal["", "rate", "-rate", "name"] = ""):
    return selectors.mass_send_completion(request.auth, selectors.mass_send_get(request.auth, send_id), by=by, sort=sort)


@router.post("/mass-sends/{send_id}/cancel", response=MassSendOut)
def mass_send_cancel(request, send_id: int):
    return mass_sends.mass_send_cancel(actor=request.auth, send=selectors.mass_send_get(request.auth, send_id))


@router.post("/mass-sends/{send_id}/remind", response={202: MassSendOut})
def mass_send_remind(request, send_id: int):
    send = selectors.mass_send_get(request.auth, send_id)
    mass_sends.mass_send_remind(actor=request.auth, send=send)
    return Status(202, send)


@router.get("/contact-policy", response=PolicyOut)
def contact_policy(request):
    return selectors.contact_policy(request.auth)


@router.put("/contact-policy", response=PolicyOut)
def contact_policy_set(request, payload: PolicyIn):
    return budget.policy_save(actor=request.auth, **payload.dict())


# -- moments ----------------------------------------------------------------------------------------
class MomentIn(Schema):
    text: str = Field("", max_length=2000)
    attachments: list[Attachment] = Field(default_factory=list, max_length=9)
    staff_ids: list[int] = Field(default_factory=list, description="executors (with departments; none: every staff member)")
    department_ids: list[int] = Field(default_factory=list)
    tag_ids: list[int] = Field(default_factory=list, description="shown only to customers with one of these tags")
    like_tag_id: int | None = Field(None, description="tag customers who like it")
    comment_tag_id: int | None = Field(None, description="tag customers who comment on it")


class MomentOut(Schema):
    id: int
    status: str
    text: str
    attachments: list[dict]
    staff_ids: list[int]
    department_ids: list[int]
    tag_ids: list[int]
    like_tag_id: int | None
    comment_tag_id: int | None
    moment_id: str
    created_at: datetime
    executors: int
    published: int
    reached: int
    likes: int
    comments: int
    invalid_senders: list[str]
    error: str


class MomentPage(Schema):
    items: list[MomentOut]
    next_cursor: str | None


class MomentExecutorOut(Schema):
    staff_id: int
    staff_name: str
    published: bool
    reached: int


@router.post("/moments", response={201: MomentOut})
def moment_create(request, payload: MomentIn):
    data = payload.dict()
    data["attachments"] = [a.dict(exclude_none=True) for a in payload.attachments]
    return Status(201, moments.moment_create(actor=request.auth, **data))


@router.get("/moments", response=MomentPage)
def moment_list(request, cursor: str | None = None, limit: int = 50):
    rows, next_cursor = keyset_page(selectors.moments(request.auth), cursor=cursor, limit=limit)
    return MomentPage(items=rows, next_cursor=next_cursor)


@router.get("/moments/{moment_id}", response=MomentOut)
def moment_detail(request, moment_id: int):
    return selectors.moment_get(request.auth, moment_id)


@router.get("/moments/{moment_id}/executors", response=list[MomentExecutorOut])
def moment_executor_list(request, moment_id: int):
    moment = selectors.moment_get(request.auth, moment_id)
    rows = selectors.moment_executors(request.auth, moment)[:10_000]
    return [MomentExecutorOut(staff_id=e.staff_id, staff_name=e.staff.name, published=e.published, reached=e.reached) for e in rows]


@router.post("/moments/{moment_id}/cancel", response=MomentOut)
def moment_cancel(request, moment_id: int):
    return moments.moment_cancel(actor=request.auth, moment=selectors.moment_get(request.auth, moment_id))


@router.post("/moments/{moment_id}/remind", response={202: MomentOut})
def moment_remind(request, moment_id: int):
    moment = selectors.moment_get(request.auth, moment_id)
    moments.moment_remind(actor=request.auth, moment=moment)
    return Status(202, moment)


# -- the content library --------------------------------------------------------------------------------
class ContentFolderIn(Schema):
    name: str = Field(..., max_length=200)


class ContentFolderOut(Schema):
    id: int
    name: str


class ContentItemIn(Schema):
    """An article's `body` is HTML (cleaned); posters, images, videos and files name an uploaded
    `media` (POST /media); a mini-program needs `appid`, `page` and a `cover` image."""

    kind: Literal[tuple(ContentItem.Kind.values)] = "article"  # type: ignore[valid-type]
    title: str = Field(..., max_length=200)
    summary: str = Field("", max_length=1000)
    body: str = Field("", max_length=200_000)
    cover: int | None = None
    media: int | None = None
    url: str = Field("", max_length=4000)
    appid: str = Field("", max_length=200)
    page: str = Field("", max_length=2000)
    tags: list[str] = Field(default_factory=list, max_length=50)
    folder: int | None = None


class ContentItemOut(Schema):
    id: int
    kind: str
    title: str
    summary: str
    body: str
    cover: int | None
    media: int | None
    url: str
    appid: str
    page: str
    tags: list[str]
    folder: int | None
    status: str
    link: str = Field(..., description="the item's untracked customer page (sends carry a tracked one per sender)")
    updated_at: datetime


class ContentItemPage(Schema):
    items: list[ContentItemOut]
    next_cursor: str | None


def _item_out(item: ContentItem) -> ContentItemOut:
    return ContentItemOut(
        id=item.id,
        kind=item.kind,
        title=item.title,
        summary=item.summary,
        body=item.body,
        cover=item.cover_id,
        media=item.media_id,
        url=item.url,
        appid=item.appid,
        page=item.page,
        tags=item.tags,
        folder=item.folder_id,
        status=item.status,
        link=library.tracked_url(item.corp, item.pk, None),
        updated_at=item.updated_at,
    )


@router.get("/content-folders", response=list[ContentFolderOut])
def content_folder_list(request):
    return [ContentFolderOut(id=f.id, name=f.name) for f in selectors.content_folders(request.auth)]


@router.post("/content-folders", response={201: ContentFolderOut})
def content_folder_create(request, payload: ContentFolderIn):
    folder = library.folder_create(actor=request.auth, name=payload.name)
    return Status(201, ContentFolderOut(id=folder.id, name=folder.name))


@router.get("/content-items", response=ContentItemPage)
def content_item_list(
    request, kind: str = "", folder: int | None = None, tag: str = "", q: str = "", archived: bool = False, cursor: str | None = None, limit: int = 50
):
    rows = selectors.content_items(request.auth, kind=kind, folder=folder, tag=tag[:16], q=q[:64], archived=archived).select_related("corp")
    page, next_cursor = keyset_page(rows, cursor=cursor, limit=limit)
    return ContentItemPage(items=[_item_out(i) for i in page], next_cursor=next_cursor)


@router.post("/content-items", response={201: ContentItemOut})
def content_item_create(request, payload: ContentItemIn):
    return Status(201, _item_out(library.item_save(actor=request.auth, **payload.dict())))


@router.get("/content-items/{item_id}", response=ContentItemOut)
def content_item_get(request, item_id: int):
    return _item_out(selectors.content_item_get(request.auth, item_id))


@router.put("/content-items/{item_id}", response=ContentItemOut)
def content_item_update(request, item_id: int, payload: ContentItemIn):
    item = selectors.content_item_get(request.auth, item_id)
    data = payload.dict()
    data.pop("kind")  # set once, at creation
    return _item_out(library.item_save(actor=request.auth, item=item, **data))


@router.post("/content-items/{item_id}/archive", response=ContentItemOut)
def content_item_archive(request, item_id: int):
    item = selectors.content_item_get(request.auth, item_id)
    return _item_out(library.item_archive(actor=request.auth, item=item))


@router.post("/content-items/{item_id}/restore", response=ContentItemOut)
def content_item_restore(request, item_id: int):
    item = selectors.content_item_get(request.auth, item_id)
    return _item_out(library.item_archive(actor=request.auth, item=item, archived=False))
