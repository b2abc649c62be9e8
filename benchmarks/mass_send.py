#!/usr/bin/env python3
"""A mass send to every customer of a large corp: planning, WeCom's tasks, one pull of results.

    .venv/bin/python benchmarks/mass_send.py [--customers 100000] [--staff 1000]
    SIYU_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python benchmarks/mass_send.py --customers 3000000 --staff 10000

The corp (customers, each followed by one guide, some by two) is written in bulk to Siyu's tables
and to the sandbox's (the WeCom the tasks go to), then:
- preview: the audience, the budget, the split per guide (what the composer shows);
- planning: audience, budget, one sender per customer, Delivery rows and one task per guide and
  10,000 customers (`mass_send_plan`, one transaction), with the process's peak memory;
- tasks: every task created in WeCom through the real client over HTTP (the sandbox served
  in-process over WSGI, its rate windows off), calls per second against WeCom's 10,000 a minute;
- results: one pull while nobody has sent (a call per task), then every guide confirms and one
  pull of every task's results.
SQLite goes to a throw-away directory. Prints its figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import resource
import time

from _stack import setup_django

BATCH = 20_000


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(corp, sb, customers: int, staff_count: int, seed: int = 7) -> None:
    from siyu.corps.models import Staff
    from siyu.customers.models import Customer, Follow
    from siyu.kit.clock import now
    from siyu.sandbox.models import SbCustomer, SbFollow, SbStaff

    rng = random.Random(seed)
    stamp = now()
    Staff.objects.bulk_create([Staff(corp=corp, userid=f"g{i:05d}", name=f"导购{i}") for i in range(staff_count)], batch_size=BATCH)
    SbStaff.objects.bulk_create([SbStaff(corp=sb, userid=f"g{i:05d}", name=f"导购{i}") for i in range(staff_count)], batch_size=BATCH)
    staff = dict(Staff.objects.filter(corp=corp).values_list("userid", "pk"))
    sb_staff = dict(SbStaff.objects.filter(corp=sb).values_list("userid", "pk"))
    for start in range(0, customers, BATCH):
        ids = [f"wmB{n:08d}" for n in range(start, min(customers, start + BATCH))]
        Customer.objects.bulk_create([Customer(corp=corp, external_userid=e, name=e[-6:]) for e in ids])
        SbCustomer.objects.bulk_create([SbCustomer(corp=sb, external_userid=e, name=e[-6:]) for e in ids])
        siyu = dict(Customer.objects.filter(corp=corp, external_userid__in=ids).values_list("external_userid", "pk"))
        sandbox = dict(SbCustomer.objects.filter(corp=sb, external_userid__in=ids).values_list("external_userid", "pk"))
        follows, sb_follows = [], []
        for e in ids:
            guides = {f"g{rng.randrange(staff_count):05d}"} | ({f"g{rng.randrange(staff_count):05d}"} if rng.random() < 0.1 else set())
            for userid in guides:
                follows.append(Follow(corp=corp, customer_id=siyu[e], staff_id=staff[userid], added_at=stamp))
                sb_follows.append(SbFollow(corp=sb, customer_id=sandbox[e], staff_id=sb_staff[userid], createtime=int(stamp.timestamp())))
        Follow.objects.bulk_create(follows, batch_size=BATCH)
        SbFollow.objects.bulk_create(sb_follows, batch_size=BATCH)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--staff", type=int, default=1000)
    parser.add_argument("--reuse", default="", help="the corp id of an earlier run's corp: skip the build, forget its sends")
    args = parser.parse_args()
    setup_django()
    import httpx
    from django.db import connection, transaction

    from siyu.corps.models import Corp
    from siyu.corps.services import corp_create
    from siyu.customers.models import Customer
    from siyu.kit import http as http_module
    from siyu.kit.http import in_process_app
    from siyu.kit.tenancy import Actor, Role
    from siyu.messaging import mass_sends
    from siyu.messaging.models import MassSend, MassSendTask
    from siyu.sandbox import services as sandbox
    from siyu.sandbox.models import SbCorp, SbMsgSend, SbMsgTemplate
    from siyu.wecom.client import WeComClient

    base = "http://testserver"  # an allowed host in every settings
    wecom_app, in_wecom = in_process_app(), [0.0]

    def timed_wecom(environ, start_response):
        # The time spent inside WeCom's stand-in, so Siyu's own share of a task can be told apart.
        began = time.perf_counter()
        try:
            return wecom_app(environ, start_response)
        finally:
            in_wecom[0] += time.perf_counter() - began

    http_module._shared = httpx.Client(transport=httpx.WSGITransport(app=timed_wecom), base_url=base, timeout=60)
    if args.reuse:
        corp, sb = Corp.objects.get(corp_id=args.reuse), SbCorp.objects.get(corpid=args.reuse)
        MassSend.objects.filter(corp=corp).delete()
        SbMsgTemplate.objects.filter(corp=sb).delete()
        if connection.vendor == "postgresql":
            # The earlier run's millions of deleted rows would otherwise still weigh on the indexes.
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE messaging_delivery")
                cursor.execute("VACUUM ANALYZE messaging_masssendtask")
        print(f"build: reusing {args.reuse} ({Customer.objects.filter(corp=corp).count()} customers, {connection.vendor})")
    else:
        corp_id = f"wwms{args.customers}x{args.staff}{int(time.time()) % 100000}"
        sb = sandbox.corp_create(corpid=corp_id, name="群发压测", secret="bench-secret")
        sb.metered = False  # WeCom's windows are not what is measured here: calls per second are printed
        sb.save()
        corp = corp_create(corp_id=corp_id, name="群发压测", secret="bench-secret", api_base=f"{base}/sandbox/cgi-bin/")
        started = time.perf_counter()
        with transaction.atomic():
            build(corp, sb, args.customers, args.staff)
        # Fresh bulk loads have no planner statistics; a corp that grew (or a full sync) has them.
        # SQLite gathers none by itself: without them the sandbox's follow lookups walk the corp.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        print(f"build: {corp_id}: {args.customers} customers over {args.staff} guides in {time.perf_counter() - started:.1f}s ({connection.vendor})")
    actor = Actor(user=None, corp=corp, role=Role.ADMIN)

    everyone = {"kind": "filters", "filters": {}}
    started = time.perf_counter()
    preview = mass_sends.mass_send_preview(actor, audience=everyone)
    print(f"preview: {time.perf_counter() - started:.1f}s — {preview['planned']} planned, {preview['staff']} guides, {preview['tasks']} tasks")

    send = MassSend.objects.create(corp=corp, name="全员群发", text="双十二会员日", audience=everyone, send_at=mass_sends.now(), due_at=mass_sends.now())
    before = peak_mb()
    statements = []

    def timed_sql(execute, sql, params, many, context):
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            statements.append((time.perf_counter() - began, " ".join(sql.split())[:90]))

    started = time.perf_counter()
    with connection.execute_wrapper(timed_sql):
        outcome = mass_sends.mass_send_plan(send.pk)
    planning = time.perf_counter() - started
    print(f"planning: {planning:.1f}s — {outcome}; peak RSS {peak_mb():.0f} MB (before planning {before:.0f} MB)")
    in_sql = sum(d for d, _ in statements)
    print(f"planning: {len(statements)} statements, {in_sql:.1f}s in them, {planning - in_sql:.1f}s elsewhere (commit, Python); the slowest:")
    for duration, sql in sorted(statements, reverse=True)[:4]:
        print(f"  {duration:6.1f}s  {sql}")

    client = WeComClient(corp, sleep=lambda s: None)
    tasks = list(MassSendTask.objects.filter(send=send).values_list("pk", flat=True))
    started = time.perf_counter()
    calls_before, in_wecom[0] = client.calls, 0.0
    for pk in tasks:
        mass_sends.mass_send_task_create(pk, client)
    elapsed = time.perf_counter() - started
    created = MassSendTask.objects.filter(send=send, status="created").count()
    rate, own = len(tasks) / elapsed, (elapsed - in_wecom[0]) / len(tasks)
    print(
        f"tasks: {created}/{len(tasks)} created in {elapsed:.1f}s — {rate:.1f} add_msg_template/s with the sandbox in this process "
        f"({client.calls - calls_before} HTTP calls); {in_wecom[0]:.1f}s of it inside the sandbox"
    )
    print(
        f"tasks: Siyu's own time {1000 * own:.1f} ms a task → one worker alone could make {1 / own:.0f}/s, "
        f"{100 / own / 166.7:.0f}% of WeCom's 10,000 a minute (166.7/s)"
    )
    print(f"create → every task made: {planning + elapsed:.1f}s")

    MassSend.objects.filter(pk=send.pk).update(pull_status="due", pull_due_at=mass_sends.now())
    started = time.perf_counter()
    calls_before, in_wecom[0] = client.calls, 0.0
    mass_sends.mass_send_pull(send.pk, client)
    elapsed = time.perf_counter() - started
    print(
        f"results, nobody sent yet: one pull in {elapsed:.1f}s ({client.calls - calls_before} calls, {in_wecom[0]:.1f}s inside the sandbox; "
        f"Siyu's own {1000 * (elapsed - in_wecom[0]) / len(tasks):.1f} ms a task)"
    )

    SbMsgSend.objects.filter(template__corp=sb).update(status=1, send_time=int(time.time()))
    MassSend.objects.filter(pk=send.pk).update(pull_status="due", pull_due_at=mass_sends.now())
    started = time.perf_counter()
    calls_before, in_wecom[0] = client.calls, 0.0
    mass_sends.mass_send_pull(send.pk, client)
    elapsed = time.perf_counter() - started
    send.refresh_from_db()
    print(
        f"results, every guide sent: one pull in {elapsed:.1f}s ({client.calls - calls_before} calls, {in_wecom[0]:.1f}s inside the sandbox; "
        f"Siyu's own {1000 * (elapsed - in_wecom[0]) / len(tasks):.1f} ms a task) — {send.tasks_sent} tasks sent, {send.sent} received"
    )
    print(f"peak RSS over the run: {peak_mb():.0f} MB")


if __name__ == "__main__":
    main()
