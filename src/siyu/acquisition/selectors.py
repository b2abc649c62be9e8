"""Reads for acquisition, always within the actor's corp."""

from __future__ import annotations

from django.db.models import Prefetch

from siyu.kit.tenancy import Actor, get_for

from . import routing
from .models import Channel, LiveCode, LiveCodeMember, WelcomeMessage, WelcomeSend


def channels(actor: Actor):
    return Channel.objects.for_corp(actor.corp).filter(archived_at__isnull=True).order_by("id")


def channel_get(actor: Actor, channel_id: int) -> Channel:
    return get_for(actor, Channel.objects.filter(archived_at__isnull=True), "channel", pk=channel_id)


def live_codes(actor: Actor):
    members = LiveCodeMember.objects.select_related("staff", "department").order_by("backup", "id")
    return (
        LiveCode.objects.for_corp(actor.corp).exclude(status=LiveCode.Status.DELETED).select_related("channel", "corp")
        .prefetch_related(Prefetch("members", queryset=members), "tags").order_by("-id")
    )


def live_code_get(actor: Actor, live_code_id: int) -> LiveCode:
    return get_for(actor, live_codes(actor), "live code", pk=live_code_id)


def live_code_today(live_code: LiveCode, at) -> list[dict]:
    """Each seat today: counter, cap and whether it may take the next customer."""
    seats = routing.pool(live_code)
    counts = routing.today_counts(live_code, routing.local_now(live_code, at).date())
    open_ids = {s.staff_id for s in routing.available(live_code, seats, at, counts)}
    return [
        {"staff_id": s.staff_id, "userid": s.userid, "count": counts.get(s.staff_id, 0), "daily_cap": s.daily_cap, "backup": s.backup, "available": s.staff_id in open_ids}
        for s in seats
    ]


def welcome_messages(actor: Actor):
    return WelcomeMessage.objects.for_corp(actor.corp).select_related("live_code", "staff").order_by("id")


def welcome_sends(actor: Actor, *, status: str | None = None):
    qs = WelcomeSend.objects.for_corp(actor.corp)
    return qs.filter(status=status) if status else qs
