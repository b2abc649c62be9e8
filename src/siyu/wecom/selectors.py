from django.db.models import Count
from django.utils.translation import gettext as _

from siyu.kit.tenancy import Actor, get_for

from .models import CallbackEvent, SyncRun


# The inbox and the sync runs are an admin's (owner, admin).
def inbox(actor: Actor, status: str = "", limit: int = 200):
    actor.require_admin()
    events = CallbackEvent.objects.filter(corp=actor.corp)
    if status:
        events = events.filter(status=status)
    return events.order_by("-received_at", "-id")[:limit]


def inbox_counts(actor: Actor) -> dict[str, int]:
    actor.require_admin()
    rows = CallbackEvent.objects.filter(corp=actor.corp).values("status").annotate(n=Count("id"))
    return {r["status"]: r["n"] for r in rows}


def inbox_event(actor: Actor, event_id: int) -> CallbackEvent:
    actor.require_admin()
    return get_for(actor, CallbackEvent.objects, _("No such callback event."), pk=event_id)


def sync_runs(actor: Actor, limit: int = 10):
    actor.require_admin()
    return SyncRun.objects.filter(corp=actor.corp).select_related("requested_by").order_by("-id")[:limit]
