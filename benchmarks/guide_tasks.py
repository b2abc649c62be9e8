#!/usr/bin/env python3
"""A guide task for a large segment: the fan-out to every guide's to-do list, the notice, HQ's
completion page, a guide's list, and completing customers one by one.

    .venv/bin/python benchmarks/guide_tasks.py [--customers 300000] [--staff 1000]
    SIYU_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python benchmarks/guide_tasks.py --reuse CORPID

The corp is mass_send.py's (customers each followed by one guide, one in ten by two; `--reuse` an
earlier run's). A third of its customers are made female, and the task goes to the segment of
them (3M customers → a 1M-customer task):
- create: the checks and the save;
- fan-out: the audience, one guide per customer, every assignment and item (`guide_task_assign`,
  one transaction), with the process's peak memory;
- notice: every guide told through the real client over HTTP (the sandbox in-process);
- HQ's completion by guide and by store, a guide's list and their share's first page;
- 1,000 follow-up notes by guides, each completing its customer: the time per note;
- the sidebar's customer page (profile, value, RFM, CLV, open tasks, timeline) for 200 customers
  with a year of orders each (two a month), rendered through Django as the guide's request: p95;
- the daily behaviour-data pull (`get_user_behavior_data`, a call per guide, and
  `groupchat/statistic`, a call per 100 guides) for every guide,
  through the real client against the sandbox metered at WeCom's 10,000 calls a minute: the
  calls, the time, the busiest minute, the 45009s, and Siyu's own time per guide (the sandbox's
  time in the same process taken out). `--behaviour-only` runs just this on a `--reuse` corp.
SQLite goes to a throw-away directory. Prints its figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import timedelta

from _stack import setup_django
from mass_send import build, peak_mb


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=300_000)
    parser.add_argument("--staff", type=int, default=1000)
    parser.add_argument("--reuse", default="", help="the corp id of an earlier mass_send.py or guide_tasks.py run")
    parser.add_argument("--behaviour-only", action="store_true", help="only the behaviour-data pull (with --reuse)")
    args = parser.parse_args()
    setup_django()
    import httpx
    from django.db import connection, transaction

    from siyu.analytics.models import Segment
    from siyu.corps.models import Corp, Staff
    from siyu.corps.services import corp_create
    from siyu.customers.models import Customer
    from siyu.customers.services import customer_note_add
    from siyu.guides import selectors, services
    from siyu.guides.models import GuideAssignment, GuideTask, GuideTaskItem
    from siyu.kit import http as http_module
    from siyu.kit.clock import now
    from siyu.kit.http import in_process_app
    from siyu.kit.tenancy import Actor, Role
    from siyu.sandbox import services as sandbox
    from siyu.sandbox.models import SbAppMessage, SbCorp
    from siyu.wecom.client import WeComClient

    base = "http://testserver"
    http_module._shared = httpx.Client(transport=httpx.WSGITransport(app=in_process_app()), base_url=base, timeout=60)
    if args.reuse:
        corp, sb = Corp.objects.get(corp_id=args.reuse), SbCorp.objects.get(corpid=args.reuse)
        GuideTask.objects.filter(corp=corp).delete()
        print(f"build: reusing {args.reuse} ({Customer.objects.filter(corp=corp).count()} customers, {connection.vendor})")
    else:
        corp_id = f"wwgt{args.customers}x{args.staff}{int(time.time()) % 100000}"
        sb = sandbox.corp_create(corpid=corp_id, name="导购任务压测", secret="bench-secret")
        sb.metered = False
        sb.save()
        corp = corp_create(corp_id=corp_id, name="导购任务压测", secret="bench-secret", api_base=f"{base}/sandbox/cgi-bin/")
        started = time.perf_counter()
        with transaction.atomic():
            build(corp, sb, args.customers, args.staff)
        # A fresh bulk load has no planner statistics: without them the fan-out's choice of guide
        # per customer nests loops over the corp's follows (20.5 s instead of 0.17 s at 100k).
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        print(f"build: {corp_id}: {args.customers} customers over {args.staff} guides in {time.perf_counter() - started:.1f}s ({connection.vendor})")
    corp.agent_id = 1000002
    corp.save()
    sb.metered = False
    sb.save()
    Customer.objects.filter(corp=corp).update(gender=0)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE customers_customer SET gender = 2 WHERE corp_id = %s AND id %% 3 = 0", [corp.pk])
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE customers_customer")
    if args.behaviour_only:
        behaviour_pull(corp, sb)
        return
    segment, _created = Segment.objects.update_or_create(corp=corp, name="女性客户", defaults={"filters": {"gender": [2]}})
    actor = Actor(user=None, corp=corp, role=Role.ADMIN)

    started = time.perf_counter()
    task = services.guide_task_create(
        actor=actor,
        name="回访女性客户",
        kind="revisit",
        audience={"kind": "segment", "segment_id": segment.pk},
        ends_at=now() + timedelta(days=3),
        instructions="问问宝宝月龄，写跟进记录",
    )
    print(f"create: {1000 * (time.perf_counter() - started):.0f} ms")

    before = peak_mb()
    started = time.perf_counter()
    outcome = services.guide_task_assign(task.pk)
    fan_out = time.perf_counter() - started
    task.refresh_from_db()
    print(f"fan-out: {fan_out:.1f}s — {outcome}; peak RSS {peak_mb():.0f} MB (before {before:.0f} MB)")

    client = WeComClient(corp, sleep=lambda s: None)
    cards = SbAppMessage.objects.filter(corp=sb).count()
    started = time.perf_counter()
    told = services.guide_task_notify(task.pk, client)
    print(f"notice: {told} in {time.perf_counter() - started:.1f}s, {SbAppMessage.objects.filter(corp=sb).count() - cards} app cards (1,000 guides a card)")

    for by in ("staff", "department"):
        started = time.perf_counter()
        rows = selectors.guide_task_completion(actor, task, by=by)
        print(f"completion by {by}: {len(rows)} rows in {time.perf_counter() - started:.2f}s")

    staff = list(Staff.objects.filter(corp=corp, pk__in=GuideAssignment.objects.filter(task=task).values("staff_id")).order_by("id")[:50])
    timings = []
    for s in staff:
        guide = Actor(user=None, corp=corp, role=Role.GUIDE, staff_id=s.pk)
        started = time.perf_counter()
        (share,) = list(selectors.my_assignments(guide))
        list(selectors.assignment_items(guide, share, status="open")[:500])
        timings.append(time.perf_counter() - started)
    print(f"a guide's list and share: median {1000 * statistics.median(timings):.0f} ms, max {1000 * max(timings):.0f} ms (50 guides)")

    rng = random.Random(3)
    items = list(GuideTaskItem.objects.filter(task=task).order_by("id").values_list("staff_id", "customer_id")[:20000])
    picked = rng.sample(items, min(1000, len(items)))
    timings = []
    for staff_id, customer_id in picked:
        guide = Actor(user=None, corp=corp, role=Role.GUIDE, staff_id=staff_id)
        customer = Customer.objects.get(pk=customer_id)
        started = time.perf_counter()
        with transaction.atomic():
            customer_note_add(actor=guide, customer=customer, text="回访：宝宝7个月")
        timings.append(time.perf_counter() - started)
    task.refresh_from_db()
    timings.sort()
    print(
        f"notes completing their customer: {len(timings)}, median {1000 * statistics.median(timings):.1f} ms, "
        f"p95 {1000 * timings[int(0.95 * len(timings))]:.1f} ms; task {task.items_done} / {task.items_total} done"
    )
    sidebar_profiles(corp, task)
    behaviour_pull(corp, sb)


def behaviour_pull(corp, sb) -> None:
    """Yesterday's figures for every guide, as the hourly job queues them and workers pull them."""
    from collections import Counter
    from datetime import date, timedelta

    from django.db.models import Count
    from django.db.models.functions import TruncMinute
    from django_tasks_db.models import DBTaskResult

    from siyu.guides import behaviour
    from siyu.guides.models import StaffDay
    from siyu.sandbox.models import SbBehavior, SbCallLog, SbRateWindow, SbStaff
    from siyu.wecom.client import WeComClient

    yesterday = behaviour.wecom_today() - timedelta(days=1)
    StaffDay.objects.filter(corp=corp, day=yesterday).delete()
    DBTaskResult.objects.filter(task_path=behaviour.PULL_TASK, args_kwargs__args__0=corp.pk).delete()  # an interrupted run's
    SbBehavior.objects.filter(corp=sb, day=yesterday).delete()
    rng = random.Random(11)
    rows = [
        SbBehavior(corp=sb, staff_id=pk, day=yesterday, chat_cnt=(c := rng.randint(0, 20)), message_cnt=3 * c, replied_chat_cnt=rng.randint(0, c))
        for pk in SbStaff.objects.filter(corp=sb).values_list("pk", flat=True)
    ]
    SbBehavior.objects.bulk_create(rows, batch_size=5000)
    SbRateWindow.objects.filter(corp=sb).delete()
    SbCallLog.objects.filter(corp=sb).delete()
    sb.metered, sb.limit_per_minute, sb.limit_per_hour = True, 10_000, 150_000
    sb.save()
    api = "externalcontact/get_user_behavior_data"
    client = WeComClient(corp)
    in_calls = [0.0]

    def timed(ask):
        def call(**kwargs):
            started = time.perf_counter()
            try:
                return ask(**kwargs)
            finally:
                in_calls[0] += time.perf_counter() - started

        return call

    client.user_behavior_data = timed(client.user_behavior_data)
    client.groupchat_statistic = timed(client.groupchat_statistic)
    started = time.perf_counter()
    queued = behaviour.behaviour_queue(corp, yesterday, yesterday)
    chunks = DBTaskResult.objects.filter(task_path=behaviour.PULL_TASK, status="READY", args_kwargs__args__0=corp.pk)
    written = 0
    for chunk in list(chunks.order_by("id")):
        _corp, staff_ids, first, last = chunk.args_kwargs["args"]
        written += behaviour.behaviour_pull(corp.pk, staff_ids, date.fromisoformat(first), date.fromisoformat(last), client)
        chunk.delete()
    wall = time.perf_counter() - started
    calls = Counter(SbCallLog.objects.filter(corp=sb, api=api).values_list("errcode", flat=True))
    busiest = SbCallLog.objects.filter(corp=sb, api=api).annotate(m=TruncMinute("at")).values("m").annotate(n=Count("id")).order_by("-n").first()
    own = (wall - in_calls[0]) / max(queued, 1)
    groups = Counter(SbCallLog.objects.filter(corp=sb, api="externalcontact/groupchat/statistic").values_list("errcode", flat=True))
    print(
        f"behaviour pull: {queued} guides queued, {written} days written in {wall:.1f}s; calls {sum(calls.values())} "
        f"({calls.get(45009, 0)} answered 45009) and group statistics {sum(groups.values())} ({groups.get(45009, 0)} answered 45009); "
        f"busiest minute {busiest['n'] if busiest else 0} calls (limit 10,000); "
        f"Siyu's own {1000 * own:.1f} ms a guide apart from the call, the call (client, HTTP, sandbox) {1000 * in_calls[0] / max(queued, 1):.1f} ms"
    )


def sidebar_profiles(corp, task, count: int = 200) -> None:
    from django.db import transaction
    from django.test import Client

    from siyu.customers.models import Customer
    from siyu.guides.models import GuideTaskItem
    from siyu.guides.sidebar import SESSION_KEY
    from siyu.kit.clock import now
    from siyu.orders.services import OrderIn, order_upsert

    picked = list(GuideTaskItem.objects.filter(task=task).order_by("-id").values_list("staff_id", "customer_id")[:count])
    externals = dict(Customer.objects.filter(pk__in=[c for _s, c in picked]).values_list("pk", "external_userid"))
    stamp = now()
    with transaction.atomic():
        for _staff, customer_id in picked:
            for month in range(24):  # a year of orders, two a month
                paid_at = stamp - timedelta(days=15 * month + 1)
                order = OrderIn(order_no=f"SB-{customer_id}-{month}", paid_at=paid_at, amount_fen=8900 + 100 * month, external_userid=externals[customer_id])
                order_upsert(corp=corp, data=order)
    timings = []
    for staff_id, customer_id in picked:
        client = Client()
        session = client.session
        session[SESSION_KEY] = {"corp": corp.pk, "staff": staff_id, "until": (now() + timedelta(hours=1)).timestamp()}
        session.save()
        started = time.perf_counter()
        response = client.get(f"/sidebar/{corp.corp_id}/customer", {"external_userid": externals[customer_id]})
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
    timings.sort()
    print(
        f"sidebar customer page (24 orders each, {len(timings)} customers): median {1000 * statistics.median(timings):.0f} ms, "
        f"p95 {1000 * timings[int(0.95 * len(timings))]:.0f} ms"
    )


if __name__ == "__main__":
    main()
