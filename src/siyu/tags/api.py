from typing import Annotated

from ninja import Field, Router, Schema, Status
from pydantic import StringConstraints

from siyu.kit.schema import Int32

from . import selectors, services
from .models import NAME_MAX

router = Router(tags=["tags"])

Name = Field(..., min_length=1, max_length=NAME_MAX)
TagName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX)]


class TagOut(Schema):
    id: int
    name: str
    order: int
    group_id: int


class TagGroupOut(Schema):
    id: int
    name: str
    order: int
    tags: list[TagOut]


class TagGroupIn(Schema):
    name: str = Name
    order: Int32 = 0
    tags: list[TagName] = Field(default_factory=list, max_length=200)


class TagGroupPatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=NAME_MAX)
    order: Int32 | None = None


class TagIn(Schema):
    name: str = Name
    order: Int32 = 0


def _group_out(group) -> TagGroupOut:
    tags = getattr(group, "live_tags", None)
    if tags is None:
        tags = group.tags.filter(deleted_at__isnull=True).order_by("order", "id")
    return TagGroupOut(id=group.id, name=group.name, order=group.order, tags=[TagOut(id=t.id, name=t.name, order=t.order, group_id=group.id) for t in tags])


@router.get("/tag-groups", response=list[TagGroupOut])
def tag_groups(request):
    return [_group_out(g) for g in selectors.tag_library(request.auth)]


@router.post("/tag-groups", response={201: TagGroupOut})
def tag_group_create(request, payload: TagGroupIn):
    group = services.tag_group_create(actor=request.auth, name=payload.name, order=payload.order, tag_names=payload.tags)
    return Status(201, _group_out(group))


@router.get("/tag-groups/{group_id}", response=TagGroupOut)
def tag_group_get(request, group_id: int):
    return _group_out(selectors.tag_group_get(request.auth, group_id))


@router.patch("/tag-groups/{group_id}", response=TagGroupOut)
def tag_group_update(request, group_id: int, payload: TagGroupPatch):
    group = selectors.tag_group_get(request.auth, group_id)
    return _group_out(services.tag_group_update(actor=request.auth, group=group, name=payload.name, order=payload.order))


@router.delete("/tag-groups/{group_id}", response={204: None})
def tag_group_delete(request, group_id: int):
    services.tag_group_delete(actor=request.auth, group=selectors.tag_group_get(request.auth, group_id))
    return Status(204, None)


@router.post("/tag-groups/{group_id}/tags", response={201: TagOut})
def tag_create(request, group_id: int, payload: TagIn):
    group = selectors.tag_group_get(request.auth, group_id)
    tag = services.tag_create(actor=request.auth, group=group, name=payload.name, order=payload.order)
    return Status(201, TagOut(id=tag.id, name=tag.name, order=tag.order, group_id=group.id))


@router.patch("/tags/{tag_id}", response=TagOut)
def tag_update(request, tag_id: int, payload: TagGroupPatch):
    tag = services.tag_update(actor=request.auth, tag=selectors.tag_get(request.auth, tag_id), name=payload.name, order=payload.order)
    return TagOut(id=tag.id, name=tag.name, order=tag.order, group_id=tag.group_id)


@router.delete("/tags/{tag_id}", response={204: None})
def tag_delete(request, tag_id: int):
    services.tag_delete(actor=request.auth, tag=selectors.tag_get(request.auth, tag_id))
    return Status(204, None)
