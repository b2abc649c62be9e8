"""Points tasks (积分任务): what a customer does for a reward, completed by what Siyu sees happen.

- **Kinds.** Read an item (or any item), share an item that a friend then opens from the shared
  copy, join one of the brand's customer groups (reported by WeCom's callback), pay an order.
- **Once.** A customer completes a task once (a unique row), from its start to its end; the reward
  (the task's own points, paid with points off too, and/or a coupon) is keyed by the task and the
  customer, in the transaction of what completed it: a callback delivered twice pays once, a
  rolled-back order pays nothing.
- **Cost.** The corp's live tasks are cached (a save clears the cache): a corp without tasks pays
  one cache read per event.
"""

from __future__ import annotations

from datetime import datetime

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from siyu.corps.models import Corp
from siyu.kit.clock import now
from siyu.kit.errors import Conflict, InvalidInput
from siyu.kit.tenancy import Actor
from siyu.messaging.models import ContentItem

from . import coupons, earning
from .models import CouponTemplate, PointsTask, TaskDone

CACHE_SECONDS = 300
MAX_POINTS = 1_000_000


def _cache_key(corp_id: int) -> str:
    return f"siyu:points-tasks:{corp_id}"


def live_tasks(corp_id: int) -> list[PointsTask]:
    found = cache.get(_cache_key(corp_id))
    if found is None:
        found = list(PointsTask.objects.filter(corp_id=corp_id, active=True).select_related("coupon_template"))
        cache.set(_cache_key(corp_id), found, CACHE_SECONDS)
    return found


def _changed(corp_id: int) -> None:
    cache.delete(_cache_key(corp_id))
    transaction.on_commit(lambda: cache.delete(_cache_key(corp_id)))


@transaction.atomic
def task_save(
    *, actor: Actor, task: PointsTask | None = None, name: str, kind: str, points: int = 0, item_id: int | None = None,
    coupon_template_id: int | None = None, starts_at: datetime | None = None, ends_at: datetime | None = None, active: bool = True,
    position: int = 0,
) -> PointsTask:  # fmt: skip
    actor.require_manager()
    corp = actor.corp
    name = (name or "").strip()
    if not name or len(name) > 32:
        raise InvalidInput(_("A task needs a name of at most 32 characters."), code="bad_name", field="name")
    if kind not in PointsTask.Kind.values:
        raise InvalidInput(_("A task is one of %(kinds)s.") % {"kinds": ", ".join(PointsTask.Kind.values)}, code="bad_kind", field="kind")
    if not isinstance(points, int) or isinstance(points, bool) or not 0 <= points <= MAX_POINTS:
        raise InvalidInput(_("Points are a whole number from 0 to 1,000,000."), code="bad_points", field="points")
    item = None
    if item_id is not None:
        if kind not in (PointsTask.Kind.READ, PointsTask.Kind.SHARE):
            raise InvalidInput(_("Only reading and sharing tasks name an item."), code="item_not_needed", field="item_id")
        item = ContentItem.objects.filter(corp=corp, pk=item_id).first()
        if item is None:
            raise InvalidInput(_("No such library item."), code="no_such_item", field="item_id")
    template = None
    if coupon_template_id is not None:
        template = CouponTemplate.objects.filter(corp=corp, pk=coupon_template_id).first()
        if template is None:
            raise InvalidInput(_("No such coupon."), code="no_such_coupon", field="coupon_template_id")
    if not points and template is None:
        raise InvalidInput(_("A task pays points, a coupon, or both."), code="no_reward", field="points")
    starts_at = starts_at or now()
    if ends_at is not None and ends_at <= starts_at:
        raise InvalidInput(_("The task ends after it starts."), code="bad_window", field="ends_at")
    if task is None:
        task = PointsTask(corp=corp)
    elif task.corp_id != corp.pk:
        raise InvalidInput(_("No such task."), code="no_such_task", field="task")
    for key, value in {
        "name": name, "kind": kind, "points": points, "item": item, "coupon_template": template, "starts_at": starts_at, "ends_at": ends_at,
        "active": active, "position": position,
    }.items():  # fmt: skip
        setattr(task, key, value)
    task.save()
    _changed(corp.pk)
    return task


def task_set_active(*, actor: Actor, task: PointsTask, active: bool) -> PointsTask:
    actor.require_manager()
    task.active = active
    task.save(update_fields=["active"])
    _changed(task.corp_id)
    return task


def completed(corp: Corp, customer_id: int | None, kind: str, *, item_id: int | None = None, at: datetime | None = None) -> list[TaskDone]:
    """The customer did something of `kind` (read item X, …): each live task it completes pays its
    reward, once."""
    if customer_id is None:
        return []
    tasks = [t for t in live_tasks(corp.pk) if t.kind == kind and (t.item_id is None or t.item_id == item_id)]
    if not tasks:
        return []
    at = at or now()
    done = []
    for task in tasks:
        if task.starts_at <= at and (task.ends_at is None or at < task.ends_at):
            finished = _complete(corp, task, customer_id, at)
            if finished is not None:
                done.append(finished)
    return done


def _complete(corp: Corp, task: PointsTask, customer_id: int, at: datetime) -> TaskDone | None:
    try:
        with transaction.atomic():
            done = TaskDone.objects.create(corp=corp, task=task, customer_id=customer_id, at=at)
    except IntegrityError:
        return None  # completed before
    key = f"{task.pk}:{customer_id}"
    if task.points:
        earning.earn(corp, customer_id, task.points, reason="task", source="task", source_id=key, at=at, by_policy=False)
        done.points = task.points
    if task.coupon_template_id:
        try:
            done.coupon = coupons.coupon_issue(corp=corp, template=task.coupon_template, customer_id=customer_id, source="task", source_id=key, at=at)
        except Conflict:  # the coupon ran out or ended: the task's points stand
            done.coupon = None
    done.save(update_fields=["points", "coupon"])
    return done


def tasks_for(corp: Corp, customer_id: int) -> list[dict]:
    """The customer's page: the live tasks open now, each with whether they completed it."""
    stamp = now()
    tasks = [t for t in live_tasks(corp.pk) if t.starts_at <= stamp and (t.ends_at is None or stamp < t.ends_at)]
    mine = dict(TaskDone.objects.filter(task__in=tasks, customer_id=customer_id).values_list("task_id", "at"))
    return [{"task": t, "done_at": mine.get(t.pk)} for t in sorted(tasks, key=lambda t: (t.position, t.pk))]
