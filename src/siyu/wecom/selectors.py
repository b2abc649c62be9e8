from django.db.models import Count

from siyu.kit.tenancy import Actor, get_for

from .models import CallbackEvent


def inbox(actor: Actor, status: str = "", limit: int = 200):
    events = CallbackEvent.objects.filter(corp=actor.corp)
    if status:
        events = events.filter(status=status)
    return events.order_by("-received_at", "-id")[:limit]


def inbox_counts(actor: Actor) -> dict[str, int]:
    rows = CallbackEvent.objects.filter(corp=actor.corp).values("status").annotate(n=Count("id"))
    return {r["status"]: r["n"] for r in rows}


def inbox_event(actor: Actor, event_id: int) -> CallbackEvent:
    return get_for(actor, CallbackEvent.objects, "callback event", pk=event_id)


def sync_runs(actor: Actor, limit: int = 10):
    from .models import SyncRun

    return SyncRun.objects.filter(corp=actor.corp).select_related("requested_by").order_by("-id")[:limit]
