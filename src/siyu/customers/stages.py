"""Lifecycle stages (生命周期阶段): defined by HQ on a date field, each customer placed in the first
stage that holds for them, every day and whenever their fields change. Writes; reads are in
selectors."""

from __future__ import annotations

from datetime import date, timedelta

from django.db import transaction
from django.utils.translation import gettext as _

from siyu.corps.models import Corp
from siyu.kit.clock import now
from siyu.kit.db import in_chunks
from siyu.kit.errors import InvalidInput
from siyu.kit.events import publish
from siyu.kit.tenancy import Actor

from .events import CustomerStagesChanged
from .models import CustomerFieldValue, CustomerStage, CustomField, LifecycleStage, TimelineEvent

MAX_STAGES = 30
LONGEST = 36_500  # a century of days either side of the date


def stage_save(
    *, actor: Actor, stage: LifecycleStage | None = None, name: str, field_key: str, from_days: int, to_days: int, position: int = 0
) -> LifecycleStage:
    """A new stage or an edit of one; the corp's customers are placed again after the save. A
    manager's."""
    actor.require_manager()
    name = (name or "").strip()
    if not name or len(name) > 40:
        raise InvalidInput(_("Name the stage (at most 40 characters)."), code="bad_name", field="name")
    field = CustomField.objects.filter(corp=actor.corp, key=field_key, archived_at__isnull=True).first()
    if field is None or field.kind != CustomField.Kind.DATE:
        raise InvalidInput(_("A stage is defined on a date field."), code="bad_field", field="field_key")
    if not (-LONGEST <= from_days < to_days <= LONGEST):
        raise InvalidInput(_("The stage's days must run from a smaller number to a larger one."), code="bad_days", field="to_days")
    if LifecycleStage.objects.filter(corp=actor.corp, name=name).exclude(pk=stage.pk if stage else None).exists():
        raise InvalidInput(_("Another stage is called “%(name)s”.") % {"name": name}, code="duplicate_name", field="name")
    if stage is None and LifecycleStage.objects.filter(corp=actor.corp).count() >= MAX_STAGES:
        raise InvalidInput(_("A corp has at most %(n)s stages.") % {"n": MAX_STAGES}, code="too_many_stages", field="name")
    stage = stage or LifecycleStage(corp=actor.corp)
    stage.name, stage.field, stage.from_days, stage.to_days, stage.position = name, field, from_days, to_days, max(0, int(position or 0))
    stage.save()
    LifecycleStage.objects.filter(corp=actor.corp).update(refreshed_on=None)  # the next pass places everyone again
    return stage


def stage_delete(*, actor: Actor, stage: LifecycleStage) -> None:
    actor.require_manager()
    stage.delete()  # its customers' places go with it; the next pass finds them another
    LifecycleStage.objects.filter(corp=actor.corp).update(refreshed_on=None)


def _places(corp_id: int, today: date, customer_ids=None) -> dict[int, int]:
    """customer id → the first stage that holds today, from each stage's indexed date range."""
    places: dict[int, int] = {}
    for stage in LifecycleStage.objects.filter(corp_id=corp_id, field__archived_at__isnull=True).order_by("position", "id"):
        # days since the date in [from, to)  ⇔  date in [today − (to − 1), today − from]
        values = CustomerFieldValue.objects.filter(
            field_id=stage.field_id, date__gte=today - timedelta(days=stage.to_days - 1), date__lte=today - timedelta(days=stage.from_days)
        )
        if customer_ids is not None:
            values = values.filter(customer_id__in=customer_ids)
        for customer_id in values.values_list("customer_id", flat=True).iterator(chunk_size=10_000):
            places.setdefault(customer_id, stage.pk)
    return places


def stages_place(*, corp_id: int, today: date, customer_ids=None) -> int:
    """Put customers (all of the corp's, or these) in their stage as of the corp's `today`: moves
    are recorded on the timeline and announced once, in one event. Returns how many moved."""
    places = _places(corp_id, today, customer_ids)
    current = CustomerStage.objects.filter(corp_id=corp_id)
    if customer_ids is not None:
        current = current.filter(customer_id__in=customer_ids)
    was = dict(current.values_list("customer_id", "stage_id"))
    moves = [(c, was.get(c), places.get(c)) for c in set(was) | set(places) if was.get(c) != places.get(c)]
    if not moves:
        return 0
    names = dict(LifecycleStage.objects.filter(corp_id=corp_id).values_list("pk", "name"))
    stamp = now()
    with transaction.atomic():
        for chunk in in_chunks([c for c, old, _new in moves if old is not None]):
            CustomerStage.objects.filter(corp_id=corp_id, customer_id__in=chunk).delete()
        CustomerStage.objects.bulk_create(
            [CustomerStage(corp_id=corp_id, customer_id=c, stage_id=new, since=today) for c, _old, new in moves if new is not None], batch_size=5000
        )
        TimelineEvent.objects.bulk_create(
            [
                TimelineEvent(
                    corp_id=corp_id,
                    customer_id=c,
                    kind=TimelineEvent.Kind.STAGE,
                    occurred_at=stamp,
                    data={"from": names.get(old, ""), "to": names.get(new, "")},
                )
                for c, old, new in moves
            ],
            batch_size=5000,
        )
        publish(CustomerStagesChanged(corp_id=corp_id, changes=tuple(sorted(moves))))
    return len(moves)


def stages_due() -> int:
    """The daily pass: every corp with stages whose day has turned since they were last placed."""
    moved = 0
    corps = Corp.objects.filter(pk__in=LifecycleStage.objects.values("corp_id"))
    for corp in corps:
        today = now().astimezone(corp.tzinfo).date()
        if not LifecycleStage.objects.filter(corp=corp).exclude(refreshed_on=today).exists():
            continue
        moved += stages_place(corp_id=corp.pk, today=today)
        LifecycleStage.objects.filter(corp=corp).update(refreshed_on=today)
    return moved
