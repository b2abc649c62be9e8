#!/usr/bin/env python3
"""The customer's side under load: the morning check-in reminder, a lottery, reading beacons, and
the statement of a customer with a long ledger.

    .venv/bin/python benchmarks/engagement.py [--customers 20000] [--procs 4]
    SIYU_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python benchmarks/engagement.py --customers 20000

Every request goes through the real page (Django's WSGI handler, the visitor's signed WeChat
session, the view, the service, the template), from `--procs` processes at once, each its own
database connection; the load generator is this script's processes, on the same machine.

1. Check-ins: each customer checks in once (POST /h5/<corp>/checkin/<id>): per second, p50/p99.
2. Draws: `--draws` draws (POST /h5/<corp>/lottery/<id>), the prizes with stocks: per second,
   p50/p99, and the prizes given against their stocks (never more).
3. Reading: `--beacons` beacons of open articles (POST /h5/<corp>/v/<key>): per second.
4. A customer with 10,000 ledger entries: the balance and the statement's first page, ms a read.

Prints its figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
from datetime import timedelta

from _stack import Stack, setup_django

CORP_ID = "wwengagebench0001"
CSRF = "b" * 32  # a CSRF secret the load generator sends as cookie and header, as a page's script would


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _cookie(corp_pk: int, visitor_id: int) -> str:
    """The visitor's signed WeChat session (as the sign-in sets it) and a CSRF pair."""
    from django.core import signing

    from siyu.engagement import visitors

    name = f"siyu_wx_{corp_pk}"
    session = signing.get_cookie_signer(salt=name + visitors.SESSION_SALT).sign(f"{visitor_id}.0")
    return f"{name}={session}; csrftoken={CSRF}"


def _run(job: tuple[str, str, list]) -> tuple[list[float], float]:
    """One load-generating process: its share of the requests over HTTP (kept alive), each timed,
    and the CPU seconds it spent making them."""
    import httpx

    kind, base, share = job
    timings, cpu = [], time.process_time()
    with httpx.Client(base_url=base, timeout=30) as http:
        for cookie, path, body in share:
            headers = {"Cookie": cookie, "X-CSRFToken": CSRF}
            began = time.perf_counter()
            response = http.post(path, content=body, headers=headers) if kind == "beacon" else http.post(path, data=body, headers=headers)
            timings.append(time.perf_counter() - began)
            if response.status_code not in (200, 204, 409):
                raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")
    return timings, time.process_time() - cpu


def _load(kind: str, base: str, requests: list, procs: int) -> tuple[float, list[float], float]:
    from django.db import connections

    connections.close_all()
    shares = [requests[i::procs] for i in range(procs)]
    began = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(procs) as pool:
        parts = pool.map(_run, [(kind, base, s) for s in shares])
    return time.perf_counter() - began, [t for timings, _ in parts for t in timings], sum(cpu for _, cpu in parts)


def _database_cpu() -> float:
    """CPU seconds used so far by the database's processes on this machine (PostgreSQL's backends;
    those that ended meanwhile are not counted)."""
    import os

    tick, used = os.sysconf("SC_CLK_TCK"), 0.0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                head, tail = open(f"/proc/{entry}/stat").read().rsplit(")", 1)
            except OSError:
                continue
            if head.split("(", 1)[1] in ("postgres", "postmaster"):
                fields = tail.split()
                used += (int(fields[11]) + int(fields[12])) / tick
    return used


def _load_measured(stack, kind: str, requests: list, procs: int) -> tuple[float, list[float], dict[str, float]]:
    """The load, and the CPU seconds Siyu's server, the database and the load generator spent on it."""
    server, database = stack.cpu_seconds()["siyu server"], _database_cpu()
    wall, timings, load = _load(kind, stack.url, requests, procs)
    return wall, timings, {"server": stack.cpu_seconds()["siyu server"] - server, "database": _database_cpu() - database, "load": load}


def _report(name: str, wall: float, timings: list[float], goal: str, goal_rate: int, cpu: dict[str, float]) -> None:
    n = len(timings)
    print(
        f"{name}: {n} in {wall:.1f} s = {n / wall:,.0f}/s; p50 {statistics.median(timings) * 1000:.0f} ms, "
        f"p99 {_percentile(timings, 0.99) * 1000:.0f} ms  (goal {goal})"
    )
    # The database's figure misses backends that ended during the run; it is shown only when it can be read.
    per = {part: seconds / n * 1000 for part, seconds in cpu.items() if seconds > 0}
    print(
        "  CPU a request: "
        + ", ".join(
            f"{label} {per[part]:.2f} ms"
            for part, label in (("server", "Siyu's server"), ("database", "the database"), ("load", "the load generator"))
            if part in per
        )
        + f"; one core of Siyu's server answers {1000 / per['server']:,.0f}/s"
    )
    siyu = per["server"] + per.get("database", 0)
    print(
        f"  the goal's {goal_rate:,}/s takes {goal_rate * siyu / 1000:.1f} cores of Siyu's server and database at these figures "
        f"(this machine: {multiprocessing.cpu_count()} cores, shared with the load generator)"
    )


def build(customers: int):
    from siyu.corps.models import Corp
    from siyu.corps.services import corp_create
    from siyu.customers.models import Customer
    from siyu.engagement import checkin, earning, lottery
    from siyu.engagement.models import ContentView, WechatVisitor
    from siyu.kit.clock import now
    from siyu.kit.tenancy import Actor, Role
    from siyu.messaging import library

    old = Corp.objects.filter(corp_id=CORP_ID).first()
    if old is not None:
        old.delete()
    corp = corp_create(corp_id=CORP_ID, name="互动压测品牌")
    actor = Actor(user=None, corp=corp, role=Role.ADMIN)
    stamp = now()
    for start in range(0, customers, 5000):
        rows = [Customer(corp=corp, external_userid=f"wmE{n:08d}", name=f"顾客{n}") for n in range(start, min(customers, start + 5000))]
        Customer.objects.bulk_create(rows)
    ids = list(Customer.objects.filter(corp=corp).order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        WechatVisitor.objects.bulk_create(
            [WechatVisitor(corp=corp, openid=f"o{c}", unionid=f"u{c}", customer_id=c, first_seen_at=stamp, last_seen_at=stamp) for c in chunk]
        )
    visitors = dict(WechatVisitor.objects.filter(corp=corp).values_list("customer_id", "pk"))
    earning.policy_save(actor=actor, active=True)
    campaign = checkin.campaign_save(
        actor=actor, name="早安打卡", starts_on=stamp.date() - timedelta(days=1), daily_points=5, stages=[{"days": 1, "points": 10}]
    )
    prizes = [
        {"name": "奶粉", "kind": "goods", "per_million": 50_000, "stock": 100},
        {"name": "10积分", "kind": "points", "per_million": 300_000, "points": 10, "stock": 3000},
    ]
    wheel = lottery.lottery_save(
        actor=actor, name="压测转盘", prizes=prizes, starts_at=stamp - timedelta(hours=1), ends_at=stamp + timedelta(days=1), draws_per_day=100
    )
    item = library.item_save(actor=actor, kind="article", title="压测文章", body="<p>正文</p>")
    return corp, ids, visitors, campaign, wheel, item, ContentView


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--draws", type=int, default=10_000)
    parser.add_argument("--beacons", type=int, default=20_000)
    parser.add_argument("--procs", type=int, default=4, help="load-generating processes")
    parser.add_argument("--servers", type=int, default=2, help="siyu serve processes (8 threads each)")
    parser.add_argument("--only-statement", action="store_true", help="only the long statement (part 4)")
    parser.add_argument("--only-checkins", action="store_true", help="only the check-ins (part 1)")
    args = parser.parse_args()
    setup_django()

    from django.db import connection

    print(f"database: {connection.vendor}; customers: {args.customers:,}; {args.servers} × siyu serve; load: {args.procs} processes on the same machine")
    began = time.perf_counter()
    corp, ids, visitors, campaign, wheel, item, ContentView = build(args.customers)
    print(f"built in {time.perf_counter() - began:.1f} s")
    stack = Stack(processes=args.servers, threads=8)
    try:
        _measure(args, stack, corp, ids, visitors, campaign, wheel, item, ContentView)
    finally:
        stack.stop()


def _measure(args, stack, corp, ids, visitors, campaign, wheel, item, ContentView) -> None:
    import secrets

    from siyu.engagement import points as ledger
    from siyu.engagement.models import Checkin, LotteryDraw, PointsAccount, PointsEntry
    from siyu.engagement.selectors import customer_engagement
    from siyu.kit.clock import now
    from siyu.kit.db import statistics_refresh
    from siyu.kit.tenancy import Actor, Role

    cookies = {c: _cookie(corp.pk, visitors[c]) for c in ids}

    if not args.only_statement:
        path = f"/h5/{corp.corp_id}/checkin/{campaign.pk}"
        wall, timings, cpu = _load_measured(stack, "checkin", [(cookies[c], path, {}) for c in ids], args.procs)
        _report("check-ins", wall, timings, "≥ 500/s, p99 < 200 ms", 500, cpu)
        print(f"  check-ins stored: {Checkin.objects.filter(campaign=campaign).count():,}; points entries: {PointsEntry.objects.filter(corp=corp).count():,}")
        if args.only_checkins:
            return

        players = ids[: max(1, args.draws // 50)]
        path = f"/h5/{corp.corp_id}/lottery/{wheel.pk}"
        draws = [(cookies[players[i % len(players)]], path, {"key": secrets.token_urlsafe(12)}) for i in range(args.draws)]
        wall, timings, cpu = _load_measured(stack, "draw", draws, args.procs)
        _report("draws", wall, timings, "≥ 300/s, nothing oversold", 300, cpu)
        for prize in wheel.prizes.order_by("position"):
            won = LotteryDraw.objects.filter(prize=prize).count()
            print(f"  {prize.name}: {won} won, {prize.per_million / 10_000:g}% chance, stock {prize.stock}, within stock: {won <= prize.stock}")

        stamp = now()
        readers = ids[: min(len(ids), 2000)]
        ContentView.objects.bulk_create(
            [ContentView(corp=corp, item=item, visitor_id=visitors[c], customer_id=c, opened_at=stamp, key=f"k{c}") for c in readers]
        )
        beacons = []
        for i in range(args.beacons):
            reader = readers[i % len(readers)]
            beacons.append((cookies[reader], f"/h5/{corp.corp_id}/v/k{reader}", f'{{"dwell": {i % 300}, "scroll": {i % 101}}}'))
        wall, timings, cpu = _load_measured(stack, "beacon", beacons, args.procs)
        _report("reading beacons", wall, timings, "≥ 2,000/s", 2000, cpu)

    heavy = ids[-1]
    entries = [("spend" if i % 3 == 1 else "earn", i) for i in range(10_000)]
    began = time.perf_counter()
    for kind, i in entries:
        if kind == "earn":
            ledger.points_earn(corp=corp, customer_id=heavy, points=5, reason="manual", source="bench", source_id=f"e{i}")
        else:
            ledger.points_spend(corp=corp, customer_id=heavy, points=3, reason="exchange", source="bench", source_id=f"s{i}")
    print(f"10,000 ledger moves for one customer in {time.perf_counter() - began:.1f} s")
    # Autovacuum would analyse a table that grew this much within a minute; the run is quicker.
    statistics_refresh(PointsEntry, PointsAccount)
    actor = Actor(user=None, corp=corp, role=Role.ADMIN)
    reads = []
    for _ in range(200):
        t = time.perf_counter()
        account = PointsAccount.objects.get(customer_id=heavy)
        list(PointsEntry.objects.filter(corp=corp, customer_id=heavy).order_by("-at", "-pk")[:30])
        reads.append(time.perf_counter() - t)
    profile = []
    for _ in range(50):
        t = time.perf_counter()
        customer_engagement(actor, heavy)
        profile.append(time.perf_counter() - t)
    print(
        f"balance + statement page of a customer with {PointsEntry.objects.filter(customer_id=heavy).count():,} entries "
        f"(available {account.available:,}): p50 {statistics.median(reads) * 1000:.2f} ms, p99 {_percentile(reads, 0.99) * 1000:.2f} ms (goal < 5 ms); "
        f"the profile's whole engagement card: p50 {statistics.median(profile) * 1000:.2f} ms"
    )


if __name__ == "__main__":
    main()
