"""Who may take the next customer of a live code, and who gets them.

The pool is expanded from the code's members (staff, and departments with their sub-departments,
active staff only, first listing wins). A seat is *available* when it is online by its schedule
and under its daily cap; backups are used only when no primary seat is available, and without
hours of their own they are always online (they cover the off hours). Caps count adds (the
code's LiveCodeDay rows for today in the corp's timezone), in both modes: what WeCom counts. In
exact mode a landing page's pick also holds a place for a few minutes (LiveCodeHold), so a burst
of scans spreads before its adds arrive; holds steer and never close: when every open seat is
held, seats are chosen by their adds alone.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import Count, Q, Sum

from siyu.corps.models import Department, Staff

from .models import LiveCode, LiveCodeDay, LiveCodeHold, LiveCodeMember
from .schedule import is_online

# WeCom accepts at most 100 users on one contact way.
WECOM_LIST_MAX = 100


@dataclass(frozen=True)
class Seat:
    staff_id: int
    userid: str
    name: str
    weight: int
    daily_cap: int | None
    backup: bool
    schedule: dict | None  # None: the live code's schedule
    order: int


def _descendants(corp_id: int, roots: set[int]) -> dict[int, set[int]]:
    children: dict[int, list[int]] = {}
    for dept_id, parent_id in Department.objects.filter(corp_id=corp_id).values_list("id", "parent_id"):
        children.setdefault(parent_id, []).append(dept_id)
    out = {}
    for root in roots:
        seen, stack = set(), [root]
        while stack:
            d = stack.pop()
            if d not in seen:
                seen.add(d)
                stack.extend(children.get(d, ()))
        out[root] = seen
    return out


def pool(live_code: LiveCode) -> list[Seat]:
    members = list(
        LiveCodeMember.objects.filter(live_code=live_code)
        .order_by("backup", "id")
        .values_list("staff_id", "department_id", "weight", "daily_cap", "backup", "schedule")
    )
    dept_roots = {dept for staff, dept, *_ in members if dept and not staff}
    trees = _descendants(live_code.corp_id, dept_roots) if dept_roots else {}
    wanted_depts = set().union(*trees.values()) if trees else set()
    # Listed staff by a subquery, not a literal list: a pool of 10,000 would be 10,000 parameters.
    listed = Q(pk__in=LiveCodeMember.objects.filter(live_code=live_code, staff__isnull=False).values("staff_id"))
    rows = Staff.objects.filter(corp_id=live_code.corp_id, status=Staff.Status.ACTIVE).filter(
        listed | Q(department_id__in=wanted_depts) if wanted_depts else listed
    )
    by_id, by_dept = {}, {}
    for staff_id, userid, name, dept_id in rows.order_by("id").values_list("id", "userid", "name", "department_id"):
        by_id[staff_id] = (userid, name)
        by_dept.setdefault(dept_id, []).append(staff_id)
    seats, seen = [], set()
    for staff, dept, weight, cap, backup, schedule in members:
        ids = [staff] if staff else [s for d in sorted(trees.get(dept, ())) for s in by_dept.get(d, ())]
        for staff_id in ids:
            if staff_id in seen or staff_id not in by_id:
                continue
            seen.add(staff_id)
            seats.append(Seat(staff_id, *by_id[staff_id], weight, cap, backup, schedule or None, len(seats)))
    return seats


# Scans read the pool through a short per-process cache: expanding 10,000 members is most of a
# scan's cost (benchmarks/routing.py). A save changes `updated_at` and so the key at once; staff
# leaving or moving department reach the cache within POOL_TTL seconds.
POOL_TTL = 30.0
_pools: dict[tuple[int, object], tuple[float, list[Seat]]] = {}
_pools_lock = threading.Lock()


def pool_for_scan(live_code: LiveCode) -> list[Seat]:
    key = (live_code.pk, live_code.updated_at)
    stamp = time.monotonic()
    with _pools_lock:
        hit = _pools.get(key)
    if hit and stamp - hit[0] < POOL_TTL:
        return hit[1]
    seats = pool(live_code)
    with _pools_lock:
        if len(_pools) > 1000:
            _pools.clear()
        _pools[key] = (stamp, seats)
    return seats


def local_now(live_code: LiveCode, at: datetime) -> datetime:
    return at.astimezone(live_code.corp.tzinfo)


def today_counts(live_code: LiveCode, day: date) -> dict[int, int]:
    """Each staff member's adds on the code that day: what their daily cap counts."""
    return dict(LiveCodeDay.objects.filter(live_code=live_code, day=day, adds__gt=0).values_list("staff_id", "adds"))


def total_used(live_code: LiveCode) -> int:
    return LiveCodeDay.objects.filter(live_code=live_code).aggregate(n=Sum("adds"))["n"] or 0


def live_holds(live_code: LiveCode, at: datetime) -> dict[int, int]:
    """Exact mode: each staff member's places held by landing pages not yet turned into adds."""
    rows = LiveCodeHold.objects.filter(live_code=live_code, expires_at__gt=at).values("staff_id").annotate(n=Count("id"))
    return {r["staff_id"]: r["n"] for r in rows}


def is_open(live_code: LiveCode, at: datetime) -> bool:
    """The code as a whole takes customers: active, not expired, under its total cap."""
    if live_code.status != LiveCode.Status.ACTIVE:
        return False
    if live_code.expires_at and at >= live_code.expires_at:
        return False
    return not (live_code.total_cap is not None and total_used(live_code) >= live_code.total_cap)


def available(live_code: LiveCode, seats: list[Seat], at: datetime, counts: dict[int, int], held: dict[int, int] | None = None) -> list[Seat]:
    """The seats that may take the next customer: primaries if any is available, else backups.

    With `held` (exact mode's live holds), seats whose adds and holds fill their cap are passed
    over while another seat has room; when none has, holds are left out: only adds close a seat.
    """
    if not is_open(live_code, at):
        return []
    local = local_now(live_code, at)
    code_online = is_online(live_code.schedule, local)

    def online(seat: Seat) -> bool:
        # Backups cover when the pool cannot (off hours included): always on unless given hours.
        if seat.schedule is not None:
            return is_online(seat.schedule, local)
        return seat.backup or code_online

    open_seats = [s for s in seats if online(s)]
    for extra in [held, {}] if held else [{}]:

        def under_cap(seat: Seat, extra=extra) -> bool:
            return seat.daily_cap is None or counts.get(seat.staff_id, 0) + extra.get(seat.staff_id, 0) < seat.daily_cap

        primaries = [s for s in open_seats if not s.backup and under_cap(s)]
        chosen = primaries or [s for s in open_seats if s.backup and under_cap(s)]
        if chosen:
            return chosen
    return []


def choose(live_code: LiveCode, candidates: list[Seat], counts: dict[int, int], rng: random.Random | None = None) -> Seat:
    """Exact mode: the one seat this scan goes to."""
    if live_code.routing == LiveCode.Routing.WEIGHTED:
        return (rng or random).choices(candidates, weights=[s.weight for s in candidates])[0]
    if live_code.routing == LiveCode.Routing.LEAST_LOADED:
        return min(candidates, key=lambda s: (counts.get(s.staff_id, 0) / s.weight, s.order))
    return candidates[live_code.turn % len(candidates)]


def wecom_list(candidates: list[Seat], counts: dict[int, int]) -> list[str]:
    """List mode: the userids to put on the contact way (WeCom rotates among them).

    Past WeCom's 100, the least-loaded seats go first, so a large pool still shares the day.
    """
    if len(candidates) > WECOM_LIST_MAX:
        candidates = sorted(candidates, key=lambda s: (counts.get(s.staff_id, 0) / s.weight, s.order))[:WECOM_LIST_MAX]
        candidates.sort(key=lambda s: s.order)
    return [s.userid for s in candidates]
