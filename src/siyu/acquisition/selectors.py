"""Reads for acquisition, always within the actor's corp."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Count, Prefetch, Q, Sum
from django.utils.translation import gettext as _

from siyu.corps.models import Staff
from siyu.kit.errors import InvalidInput
from siyu.kit.tenancy import Actor, get_for

from . import routing
from .models import Acquisition, Channel, ChannelCost, LiveCode, LiveCodeDay, LiveCodeMember
from .services import landing_url


def channels(actor: Actor):
    return Channel.objects.for_corp(actor.corp).filter(archived_at__isnull=True).order_by("id")


def channel_get(actor: Actor, channel_id: int) -> Channel:
    return get_for(actor, Channel.objects.filter(archived_at__isnull=True), _("No such channel."), pk=channel_id)


# Channels are named to everyone (filters, statistics); setting them up and their costs is a manager's.
def channel_names(actor: Actor, states) -> dict[str, str]:
    """The channel each live-code state belongs to, by name: what a customer list shows for the
    `state` WeCom reports. Names only, so any role may read them."""
    states = {s for s in states if s}
    if not states:
        return {}
    rows = LiveCode.objects.for_corp(actor.corp).filter(state__in=states).values_list("state", "channel__name")
    return dict(rows)


def channels_for_managing(actor: Actor):
    actor.require_manager()
    return channels(actor)


def channel_for_managing(actor: Actor, channel_id: int) -> Channel:
    actor.require_manager()
    return channel_get(actor, channel_id)


def live_codes(actor: Actor):
    """Live codes are a manager's (their pools, caps and schedules span every staff member)."""
    actor.require_manager()
    members = LiveCodeMember.objects.select_related("staff", "department").order_by("backup", "id")
    return (
        LiveCode.objects.for_corp(actor.corp)
        .exclude(status=LiveCode.Status.DELETED)
        .select_related("channel", "corp")
        .prefetch_related(Prefetch("members", queryset=members), "tags")
        .order_by("-id")
    )


def exact_live_codes(actor: Actor):
    """Exact-mode codes a lead form can route to, by name (the lead form page's choices)."""
    return LiveCode.objects.for_corp(actor.corp).filter(mode=LiveCode.Mode.EXACT).exclude(status=LiveCode.Status.DELETED).order_by("name")


def live_code_for_editing(actor: Actor, live_code_id: int | None) -> LiveCode | None:
    """The code the editor opens (None: a new one); editing is a manager's."""
    actor.require_manager()
    return live_code_get(actor, live_code_id) if live_code_id else None


def live_code_get(actor: Actor, live_code_id: int) -> LiveCode:
    return get_for(actor, live_codes(actor), _("No such live code."), pk=live_code_id)


def live_code_today(live_code: LiveCode, at) -> list[dict]:
    """Each seat today: counter, cap and whether it may take the next customer."""
    seats = routing.pool(live_code)
    counts = routing.today_counts(live_code, routing.local_now(live_code, at).date())
    open_ids = {s.staff_id for s in routing.available(live_code, seats, at, counts)}
    return [
        {
            "staff_id": s.staff_id,
            "userid": s.userid,
            "count": counts.get(s.staff_id, 0),
            "daily_cap": s.daily_cap,
            "backup": s.backup,
            "available": s.staff_id in open_ids,
        }
        for s in seats
    ]


def landing_pages(corp_id: str) -> list[str]:
    """The public landing pages of a corp's active exact-mode codes (what their posters encode)."""

    codes = LiveCode.objects.filter(corp__corp_id=corp_id, mode=LiveCode.Mode.EXACT, status=LiveCode.Status.ACTIVE).select_related("corp")
    return [landing_url(c) for c in codes]


# -- channel statistics ----------------------------------------------------------------------------
STATS_BY = ("channel", "live_code", "staff")
DAY_S = 86400
MAX_STATS_DAYS = 366


@dataclass
class StatsRow:
    """One channel, live code or staff member (or one day) over the period."""

    key: int | None
    name: str
    adds: int = 0
    lost: int = 0
    lost_1d: int = 0
    lost_7d: int = 0
    scans: int = 0
    cost_fen: int | None = None

    @property
    def net(self) -> int:
        return self.adds - self.lost

    @property
    def churn_1d(self) -> float | None:
        return self.lost_1d / self.adds if self.adds else None

    @property
    def churn_7d(self) -> float | None:
        return self.lost_7d / self.adds if self.adds else None

    @property
    def cost_per_add_fen(self) -> int | None:
        if self.cost_fen is None or not self.adds:
            return None
        return round(self.cost_fen / self.adds)

    def add(self, counts: dict) -> None:
        for k in ("adds", "lost", "lost_1d", "lost_7d", "scans"):
            setattr(self, k, getattr(self, k) + counts.get(k, 0))

    def add_cost(self, fen: int) -> None:
        self.cost_fen = (self.cost_fen or 0) + fen


@dataclass
class AcquisitionStats:
    start: date
    end: date
    by: str
    totals: StatsRow
    rows: list[StatsRow]  # per key over the period, most adds first
    days: list[StatsRow]  # per day over every key, oldest first, every day present
    cells: dict = field(default_factory=dict)  # (day, key) -> StatsRow, for the per-day sheet


def acquisition_stats(
    actor: Actor, *, start: date, end: date, by: str = "channel", channel_id: int | None = None, live_code_id: int | None = None, staff_id: int | None = None
) -> AcquisitionStats:
    """Adds, churn within 1 and 7 days, net adds, landing scans and cost per add, per key and per day.

    Days are the corp's local days of the add. Churn counts the adds of the period whose relationship
    ended within 1 (7) days; for the last days of the period the 7-day figure is still growing.
    A guide sees only their own adds; costs are per channel, so only the channel view and the totals
    carry them.
    """
    if by not in STATS_BY:
        raise InvalidInput(_("Group by one of %(value)s.") % {"value": ", ".join(STATS_BY)}, field="by")
    if end < start:
        raise InvalidInput(_("The end must not be before the start."), code="bad_range", field="end")
    if (end - start).days >= MAX_STATS_DAYS:
        raise InvalidInput(_("At most %(max_stats_days)s days at a time.") % {"max_stats_days": MAX_STATS_DAYS}, code="bad_range", field="start")
    key_field = {"channel": "channel_id", "live_code": "live_code_id", "staff": "staff_id"}[by]
    facts = Acquisition.objects.for_corp(actor.corp).filter(day__gte=start, day__lte=end)
    picks = LiveCodeDay.objects.for_corp(actor.corp).filter(day__gte=start, day__lte=end, picks__gt=0)
    costs = ChannelCost.objects.for_corp(actor.corp).filter(day__gte=start, day__lte=end)
    if actor.is_guide:
        facts, picks, costs = facts.filter(staff_id=actor.staff_id), picks.filter(staff_id=actor.staff_id), costs.none()
    if channel_id is not None:
        facts, picks, costs = facts.filter(channel_id=channel_id), picks.filter(live_code__channel_id=channel_id), costs.filter(channel_id=channel_id)
    if live_code_id is not None:
        facts, picks = facts.filter(live_code_id=live_code_id), picks.filter(live_code_id=live_code_id)
        costs = costs.none()
    if staff_id is not None:
        facts, picks = facts.filter(staff_id=staff_id), picks.filter(staff_id=staff_id)
        costs = costs.none()

    counted = facts.values("day", key_field).annotate(
        adds=Count("id"),
        lost=Count("id", filter=Q(lost_at__isnull=False)),
        lost_1d=Count("id", filter=Q(lost_after_s__lte=DAY_S)),
        lost_7d=Count("id", filter=Q(lost_after_s__lte=7 * DAY_S)),
    )
    pick_key = {"channel": "live_code__channel_id", "live_code": "live_code_id", "staff": "staff_id"}[by]
    scanned = picks.values("day", pick_key).annotate(scans=Sum("picks"))

    cells: dict = {}
    for row in counted:
        cells.setdefault((row["day"], row[key_field]), {}).update(row)
    for row in scanned:
        cells.setdefault((row["day"], row[pick_key]), {})["scans"] = row["scans"]
    cost_cells: dict = {}
    for day, cid, fen in costs.values_list("day", "channel_id", "amount_fen"):
        cost_cells[(day, cid)] = cost_cells.get((day, cid), 0) + fen

    names = _stat_names(actor, by, {k for _, k in cells} | ({k for _, k in cost_cells} if by == "channel" else set()))
    totals = StatsRow(key=None, name="")
    per_key: dict = {}
    per_day = {start + timedelta(days=i): StatsRow(key=None, name=(start + timedelta(days=i)).isoformat()) for i in range((end - start).days + 1)}
    out_cells: dict = {}
    for (day, key), counts in cells.items():
        for target in (
            totals,
            per_day[day],
            per_key.setdefault(key, StatsRow(key=key, name=names.get(key, ""))),
            out_cells.setdefault((day, key), StatsRow(key=key, name=names.get(key, ""))),
        ):
            target.add(counts)
    for (day, cid), fen in cost_cells.items():
        totals.add_cost(fen)
        per_day[day].add_cost(fen)
        if by == "channel":
            per_key.setdefault(cid, StatsRow(key=cid, name=names.get(cid, ""))).add_cost(fen)
            out_cells.setdefault((day, cid), StatsRow(key=cid, name=names.get(cid, ""))).add_cost(fen)
    rows = sorted(per_key.values(), key=lambda r: (-r.adds, r.key is None, r.name, r.key or 0))
    return AcquisitionStats(
        start=start,
        end=end,
        by=by,
        totals=totals,
        rows=rows,
        days=list(per_day.values()),
        cells=dict(sorted(out_cells.items(), key=lambda kv: (kv[0][0], kv[1].name))),
    )


def _stat_names(actor: Actor, by: str, keys: set) -> dict:
    ids = [k for k in keys if k is not None]
    if by == "channel":
        names = dict(Channel.objects.for_corp(actor.corp).filter(pk__in=ids).values_list("id", "name"))
    elif by == "live_code":
        names = dict(LiveCode.objects.for_corp(actor.corp).filter(pk__in=ids).values_list("id", "name"))
    else:
        names = dict(Staff.objects.for_corp(actor.corp).filter(pk__in=ids).values_list("id", "name"))
    # Adds that came through no live code (searched, shared card, a code made outside Siyu).
    names[None] = str(_("No channel (direct adds)")) if by != "staff" else str(_("Unknown staff"))
    return names
