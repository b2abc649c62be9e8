from datetime import date, datetime

from ninja import Field, File, Query, Router, Schema, Status
from ninja.files import UploadedFile

from siyu.corps.selectors import staff_resolve
from siyu.kit.pagination import MAX_LIMIT, keyset_page
from siyu.tags.selectors import resolve_tags

from . import fields, selectors, services, stages
from .models import Follow

router = Router(tags=["customers"])


class TagRef(Schema):
    id: int
    name: str
    group_id: int


class CustomerOut(Schema):
    id: int
    external_userid: str
    unionid: str
    name: str
    avatar: str
    gender: int
    type: int
    corp_name: str
    tags: list[TagRef]
    staff_ids: list[int]
    created_at: datetime


class CustomerPage(Schema):
    items: list[CustomerOut]
    next_cursor: str | None


class CustomerListQuery(Schema):
    tags_all: list[int] = Field(default_factory=list, description="customers having every one of these tags")
    tags_any: list[int] = Field(default_factory=list, description="customers having at least one of these tags")
    staff_id: list[int] = Field(default_factory=list, description="followed by any of these staff")
    state: str = Field("", max_length=30, description="channel state of the follow")
    added_from: date | None = Field(None, description="follow added on or after this day (corp timezone)")
    added_to: date | None = Field(None, description="follow added on or before this day (corp timezone)")
    q: str = Field("", max_length=64, description="name, remark, or phone prefix")
    cursor: str | None = None
    limit: int = Field(50, ge=1, le=MAX_LIMIT)


class FollowOut(Schema):
    staff_id: int
    staff_userid: str
    staff_name: str
    remark: str
    description: str
    added_at: datetime
    add_way: int
    state: str
    active: bool
    deleted_by_staff_at: datetime | None
    deleted_by_customer_at: datetime | None
    tags: list[TagRef]


class TimelineOut(Schema):
    id: int
    kind: str
    occurred_at: datetime
    staff_id: int | None
    data: dict


class FieldValueOut(Schema):
    key: str
    name: str
    kind: str
    value: str = Field(description="as shown: a date as YYYY-MM-DD, a number in plain digits; empty when unset")


class StageNow(Schema):
    id: int
    name: str
    since: date


class CustomerDetailOut(CustomerOut):
    phones: list[str]
    fields: list[FieldValueOut]
    stage: StageNow | None
    follows: list[FollowOut]
    timeline: list[TimelineOut]


class TagChangeIn(Schema):
    add: list[int] = Field(default_factory=list, max_length=100)
    remove: list[int] = Field(default_factory=list, max_length=100)
    staff_id: int | None = Field(None, description="only this staff member's follow (managers); guides always tag their own")


class TagChangeItem(Schema):
    staff_id: int
    tag_id: int


class TagChangeOut(Schema):
    added: list[TagChangeItem]
    removed: list[TagChangeItem]


def _tag_ref(tag) -> TagRef:
    return TagRef(id=tag.id, name=tag.name, group_id=tag.group_id)


def _customers_out(actor, customers) -> list[CustomerOut]:
    rows = selectors.customer_rows(actor, customers)
    return [
        CustomerOut(
            id=c.id,
            external_userid=c.external_userid,
            unionid=c.unionid,
            name=c.name,
            avatar=c.avatar,
            gender=c.gender,
            type=c.type,
            corp_name=c.corp_name,
            created_at=c.created_at,
            tags=[_tag_ref(t) for t in rows[c.id].tags],
            staff_ids=sorted({s.id for s in rows[c.id].staff}),
        )
        for c in customers
    ]


@router.get("/customers", response=CustomerPage)
def customer_list(request, filters: Query[CustomerListQuery]):
    actor = request.auth
    qs = selectors.customer_list(
        actor,
        selectors.CustomerFilters(
            tags_all=filters.tags_all,
            tags_any=filters.tags_any,
            staff_ids=filters.staff_id,
            state=filters.state,
            added_from=filters.added_from,
            added_to=filters.added_to,
            q=filters.q,
        ),
    )
    rows, next_cursor = keyset_page(qs, cursor=filters.cursor, limit=filters.limit)
    return CustomerPage(items=_customers_out(actor, rows), next_cursor=next_cursor)


def _follow_out(f: Follow) -> FollowOut:
    return FollowOut(
        staff_id=f.staff_id,
        staff_userid=f.staff.userid,
        staff_name=f.staff.name,
        remark=f.remark,
        description=f.description,
        added_at=f.added_at,
        add_way=f.add_way,
        state=f.state,
        active=f.is_active,
        deleted_by_staff_at=f.deleted_by_staff_at,
        deleted_by_customer_at=f.deleted_by_customer_at,
        tags=[_tag_ref(ft.tag) for ft in f.live_follow_tags],
    )


@router.get("/customers/{customer_id}", response=CustomerDetailOut)
def customer_detail(request, customer_id: int):
    actor = request.auth
    customer = selectors.customer_get(actor, customer_id)
    (base,) = _customers_out(actor, [customer])
    return CustomerDetailOut(
        **base.dict(),
        phones=sorted(customer.phones.values_list("phone", flat=True)),
        fields=_field_values(actor, customer),
        stage=_stage_now(customer),
        follows=[_follow_out(f) for f in selectors.customer_follows(actor, customer)],
        timeline=[
            TimelineOut(id=e.id, kind=e.kind, occurred_at=e.occurred_at, staff_id=e.staff_id, data=e.data) for e in selectors.customer_timeline(actor, customer)
        ],
    )


@router.post("/customers/{customer_id}/tags", response=TagChangeOut)
def customer_tags_change(request, customer_id: int, payload: TagChangeIn):
    actor = request.auth
    customer = selectors.customer_get(actor, customer_id)
    staff = staff_resolve(actor, payload.staff_id, "staff_id") if payload.staff_id is not None else None
    result = services.customer_tags_change(
        actor=actor, customer=customer, add=resolve_tags(actor, payload.add, "add"), remove=resolve_tags(actor, payload.remove, "remove"), staff=staff
    )
    return result


class NoteIn(Schema):
    text: str = Field(..., max_length=1000)
    staff_id: int | None = Field(None, description="a manager writes for this staff member; a guide always writes as themselves")


@router.post("/customers/{customer_id}/notes", response={201: TimelineOut})
def customer_note_add(request, customer_id: int, payload: NoteIn):
    actor = request.auth
    customer = selectors.customer_get(actor, customer_id)
    staff = staff_resolve(actor, payload.staff_id, "staff_id") if payload.staff_id is not None else None
    e = services.customer_note_add(actor=actor, customer=customer, text=payload.text, staff=staff)
    return Status(201, TimelineOut(id=e.id, kind=e.kind, occurred_at=e.occurred_at, staff_id=e.staff_id, data=e.data))


# -- custom fields ------------------------------------------------------------------------------------------
class CustomFieldOut(Schema):
    id: int
    key: str
    name: str
    kind: str
    choices: list[str]
    position: int
    archived: bool

    @staticmethod
    def resolve_archived(obj) -> bool:
        return obj.archived_at is not None


class CustomFieldIn(Schema):
    key: str = Field(..., max_length=40, description="lower-case letters, digits and _; fixed once made")
    name: str = Field(..., max_length=40)
    kind: str = Field(..., description="text, number, date or choice; fixed once made")
    choices: list[str] = Field(default_factory=list, max_length=50, description="for a choice field")
    position: int = Field(0, ge=0, le=999)


class CustomFieldEdit(Schema):
    name: str = Field(..., max_length=40)
    choices: list[str] = Field(default_factory=list, max_length=50)
    position: int = Field(0, ge=0, le=999)


@router.get("/custom-fields", response=list[CustomFieldOut])
def custom_field_list(request, archived: bool = False):
    return list(selectors.custom_fields(request.auth, archived=archived))


@router.post("/custom-fields", response={201: CustomFieldOut})
def custom_field_create(request, payload: CustomFieldIn):
    return Status(201, fields.custom_field_save(actor=request.auth, **payload.dict()))


class FieldImportOut(Schema):
    rows: int
    customers_changed: int
    values_changed: int


@router.post("/custom-fields/import", response=FieldImportOut)
def custom_field_import(request, file: UploadedFile = File(...)):
    """Values from a CSV or Excel sheet: a column external_userid or 手机号, then a column per field
    (its name or key). All or nothing; the refusal lists the first problem rows."""
    done = fields.customer_fields_import(actor=request.auth, file_name=file.name or "", content=file.read())
    return FieldImportOut(rows=done.rows, customers_changed=done.customers_changed, values_changed=done.values_changed)


@router.put("/custom-fields/{field_id}", response=CustomFieldOut)
def custom_field_edit(request, field_id: int, payload: CustomFieldEdit):
    actor = request.auth
    field = selectors.custom_field_get(actor, field_id)
    return fields.custom_field_save(actor=actor, field=field, kind=field.kind, **payload.dict())


@router.post("/custom-fields/{field_id}/archive", response=CustomFieldOut)
def custom_field_archive(request, field_id: int):
    actor = request.auth
    return fields.custom_field_archive(actor=actor, field=selectors.custom_field_get(actor, field_id))


def _field_values(actor, customer) -> list[FieldValueOut]:
    return [FieldValueOut(key=s.field.key, name=s.field.name, kind=s.field.kind, value=s.value) for s in selectors.customer_fields(actor, customer)]


class FieldsIn(Schema):
    values: dict[str, str | float | int | None] = Field(..., description="{key: value}; empty or null clears; keys not given stay")


class FieldsOut(Schema):
    changed: dict[str, list[str]] = Field(description="{key: [old, new]} of what changed")
    fields: list[FieldValueOut]


@router.put("/customers/{customer_id}/fields", response=FieldsOut)
def customer_fields_set(request, customer_id: int, payload: FieldsIn):
    actor = request.auth
    customer = selectors.customer_get(actor, customer_id)
    changed = fields.customer_fields_set(actor=actor, customer=customer, values=payload.values)
    return FieldsOut(changed={k: list(v) for k, v in changed.items()}, fields=_field_values(actor, customer))


def _stage_now(customer) -> StageNow | None:
    placed = selectors.customer_stage(customer)
    return StageNow(id=placed.stage_id, name=placed.stage.name, since=placed.since) if placed else None


# -- lifecycle stages ---------------------------------------------------------------------------------------
class StageOut(Schema):
    id: int
    name: str
    field_key: str
    from_days: int
    to_days: int
    position: int

    @staticmethod
    def resolve_field_key(obj) -> str:
        return obj.field.key


class StageIn(Schema):
    name: str = Field(..., max_length=40)
    field_key: str = Field(..., max_length=40, description="a date field's key")
    from_days: int = Field(..., description="days since the field's date at which the stage begins (negative: before the date)")
    to_days: int = Field(..., description="…and before which it ends")
    position: int = Field(0, ge=0, le=999, description="stages are tried in order; the first that holds is the customer's")


@router.get("/lifecycle-stages", response=list[StageOut])
def stage_list(request):
    return list(selectors.lifecycle_stages(request.auth))


@router.post("/lifecycle-stages", response={201: StageOut})
def stage_create(request, payload: StageIn):
    return Status(201, stages.stage_save(actor=request.auth, **payload.dict()))


@router.put("/lifecycle-stages/{stage_id}", response=StageOut)
def stage_edit(request, stage_id: int, payload: StageIn):
    actor = request.auth
    return stages.stage_save(actor=actor, stage=selectors.lifecycle_stage_get(actor, stage_id), **payload.dict())


@router.delete("/lifecycle-stages/{stage_id}", response={204: None})
def stage_delete(request, stage_id: int):
    actor = request.auth
    stages.stage_delete(actor=actor, stage=selectors.lifecycle_stage_get(actor, stage_id))
    return Status(204, None)
