from __future__ import annotations

from datetime import datetime
from typing import Literal

from ninja import Field, Router, Schema, Status

from . import selectors, services
from .models import TagRule

router = Router(tags=["auto-tag rules"])


class RuleIn(Schema):
    name: str = Field(..., min_length=1, max_length=64)
    match: Literal["all", "any"] = "all"
    conditions: list[dict] = Field(..., max_length=20)
    add_tag_ids: list[int] = Field(default_factory=list, max_length=50)
    remove_tag_ids: list[int] = Field(default_factory=list, max_length=50)
    enabled: bool = True


class RuleOut(Schema):
    id: int
    name: str
    match: str
    conditions: list[dict]
    add_tag_ids: list[int]
    remove_tag_ids: list[int]
    enabled: bool
    backfill_status: str
    backfilled_at: datetime | None
    backfill_counts: dict


class PreviewOut(Schema):
    matching: int
    would_change: int


def _out(rule: TagRule) -> RuleOut:
    return RuleOut(
        id=rule.id,
        name=rule.name,
        match=rule.match,
        conditions=rule.conditions,
        enabled=rule.enabled,
        add_tag_ids=sorted(t.id for t in rule.add_tags.all()),
        remove_tag_ids=sorted(t.id for t in rule.remove_tags.all()),
        backfill_status=rule.backfill_status,
        backfilled_at=rule.backfilled_at,
        backfill_counts=rule.backfill_counts,
    )


def _save(request, payload: RuleIn, rule: TagRule | None = None) -> TagRule:
    return services.rule_save(
        actor=request.auth,
        rule=rule,
        name=payload.name,
        match=payload.match,
        conditions=payload.conditions,
        add_tag_ids=payload.add_tag_ids,
        remove_tag_ids=payload.remove_tag_ids,
        enabled=payload.enabled,
    )


@router.get("/tag-rules", response=list[RuleOut])
def rule_list(request):
    return [_out(r) for r in selectors.rules(request.auth)]


@router.post("/tag-rules", response={201: RuleOut})
def rule_create(request, payload: RuleIn):
    rule = _save(request, payload)
    return Status(201, _out(selectors.rule_get(request.auth, rule.id)))


@router.get("/tag-rules/{rule_id}", response=RuleOut)
def rule_get(request, rule_id: int):
    return _out(selectors.rule_get(request.auth, rule_id))


@router.put("/tag-rules/{rule_id}", response=RuleOut)
def rule_update(request, rule_id: int, payload: RuleIn):
    rule = _save(request, payload, selectors.rule_get(request.auth, rule_id))
    return _out(selectors.rule_get(request.auth, rule.id))


@router.delete("/tag-rules/{rule_id}", response={204: None})
def rule_delete(request, rule_id: int):
    services.rule_delete(actor=request.auth, rule=selectors.rule_get(request.auth, rule_id))
    return Status(204, None)


@router.get("/tag-rules/{rule_id}/preview", response=PreviewOut)
def rule_preview(request, rule_id: int):
    return services.rule_preview(selectors.rule_get(request.auth, rule_id))


@router.post("/tag-rules/{rule_id}/backfill", response={202: RuleOut})
def rule_backfill(request, rule_id: int):
    rule = services.rule_backfill_request(actor=request.auth, rule=selectors.rule_get(request.auth, rule_id))
    return Status(202, _out(rule))
