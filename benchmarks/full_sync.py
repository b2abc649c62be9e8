#!/usr/bin/env python3
"""Full sync of a large sandbox corp through the real client over HTTP (a real `siyu serve`).

    .venv/bin/python benchmarks/full_sync.py [--customers 100000] [--staff 200] [--groups 500]
    SIYU_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python benchmarks/full_sync.py

Prints the wall time per phase and in all, the API calls made, and calls per minute (overall and
the busiest API's busiest minute) as a fraction of the sandbox's configured per-API limit.
Siyu's own CPU (this process: the sync, its client and database driver) is printed apart from
the sandbox's (the server process answering as WeCom), per phase and per applied contact, with what
follows from it: the 3M-customer time at the measured rate, and the share of batch/get_by_user's
per-API ceiling one dedicated worker would reach if only Siyu's CPU paced it.
With --again, syncs a second time to time a sync that finds nothing new. Asserts nothing.
"""

import argparse
import random
import secrets
import time
from collections import Counter

from _stack import Stack, setup_django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--staff", type=int, default=200)
    parser.add_argument("--groups", type=int, default=500)
    parser.add_argument("--limit-per-minute", type=int, default=10_000, help="the sandbox's per-API limit (WeCom's documented default)")
    parser.add_argument("--again", action="store_true", help="then time a second sync that finds nothing new")
    args = parser.parse_args()
    setup_django()
    from django.db import connection

    from siyu.corps.services import corp_create
    from siyu.kit.db import statistics_refresh
    from siyu.sandbox import services as sandbox
    from siyu.sandbox.models import SbCallLog, SbCustomer, SbFollow, SbGroup, SbGroupMember
    from siyu.sandbox.names import customer_name
    from siyu.wecom.client import WeComClient
    from siyu.wecom.sync import full_sync

    rng = random.Random(3)
    corpid = f"wwsync{secrets.token_hex(4)}"
    started = time.perf_counter()
    sb = sandbox.corp_create(corpid=corpid, name="sync bench", secret="s", limit_per_minute=args.limit_per_minute)
    sandbox.department_add(corp=sb, dept_id=1, name="总部")
    staff = [sandbox.staff_add(corp=sb, userid=f"g{i:04d}", name=f"导购{i}") for i in range(args.staff)]
    groups = [sandbox.tag_group_add(corp=sb, name=f"标签组{g}", tags=[f"标签{g}-{t}" for t in range(8)]) for g in range(5)]
    tag_ids = [t.tag_id for g in groups for t in g.tags.all()]
    stamp = int(time.time())
    customers = SbCustomer.objects.bulk_create(
        [SbCustomer(corp=sb, external_userid=f"wm{corpid}{i:08d}", name=customer_name(rng), gender=rng.choice((1, 2))) for i in range(args.customers)],
        batch_size=5000,
    )
    follows = []
    for c in customers:
        for s in rng.sample(staff, 2 if rng.random() < 0.1 else 1):
            follows.append(
                SbFollow(
                    corp=sb,
                    customer=c,
                    staff=s,
                    createtime=stamp - rng.randint(0, 10**7),
                    state=rng.choice(("store", "web", "")),
                    tag_ids=rng.sample(tag_ids, rng.randint(0, 3)),
                    remark_mobiles=[f"138{rng.randint(0, 10**8 - 1):08d}"] if rng.random() < 0.3 else [],
                )
            )
    SbFollow.objects.bulk_create(follows, batch_size=5000)
    by_staff = {}
    for f in follows:
        by_staff.setdefault(f.staff_id, []).append(f.customer)
    sb_groups = SbGroup.objects.bulk_create(
        [SbGroup(corp=sb, chat_id=f"wr{corpid}{n:06d}", name=f"群{n}", owner=staff[n % len(staff)], create_time=stamp) for n in range(args.groups)]
    )
    members = []
    for g in sb_groups:
        members.append(SbGroupMember(group=g, userid=g.owner.userid, type=1, join_time=stamp))
        members += [
            SbGroupMember(group=g, userid=c.external_userid, type=2, name=c.name, join_time=stamp)
            for c in rng.sample(by_staff[g.owner_id], min(30, len(by_staff[g.owner_id])))
        ]
    SbGroupMember.objects.bulk_create(members, batch_size=5000)
    statistics_refresh(SbCustomer, SbFollow, SbGroup, SbGroupMember)  # WeCom's own tables are not what is measured
    print(
        f"{connection.vendor}: sandbox filled with {args.customers} customers, {len(follows)} follows, {args.staff} staff, {args.groups} groups "
        f"({len(members)} members) in {time.perf_counter() - started:.0f}s; per-API limit {args.limit_per_minute}/min"
    )

    stack = Stack(workers=0, threads=8)
    try:
        corp = corp_create(corp_id=corpid, name="sync bench", secret="s", api_base=f"{stack.url}/sandbox/cgi-bin/")
        phases, last = {}, [time.perf_counter(), "staff", time.process_time()]
        cpu = {}

        def on_progress(run):
            if run.phase != last[1]:
                now, used = time.perf_counter(), time.process_time()
                phases[last[1]] = now - last[0]
                cpu[last[1]] = used - last[2]
                last[:] = [now, run.phase, used]

        for label in ("first sync", "second sync (nothing new)")[: 2 if args.again else 1]:
            calls_from = SbCallLog.objects.filter(corp=sb).order_by("-id").values_list("id", flat=True).first() or 0
            phases.clear()
            cpu.clear()
            last[:] = [time.perf_counter(), "staff", time.process_time()]
            sandbox_cpu0, t0, cpu0 = stack.cpu_seconds()["siyu server"], time.perf_counter(), time.process_time()
            run = full_sync(corp=corp, client=WeComClient(corp), on_progress=on_progress)
            wall, siyu_cpu = time.perf_counter() - t0, time.process_time() - cpu0
            sandbox_cpu = stack.cpu_seconds()["siyu server"] - sandbox_cpu0
            phases[last[1]] = time.perf_counter() - last[0]
            cpu[last[1]] = time.process_time() - last[2]
            calls = list(SbCallLog.objects.filter(corp=sb, id__gt=calls_from).values_list("api", "at", "errcode"))
            per_minute = Counter((api, at.replace(second=0, microsecond=0)) for api, at, _ in calls)
            busiest_api, busiest = max(per_minute.items(), key=lambda kv: kv[1])
            refused = sum(1 for _, _, e in calls if e in (45009, 45033))
            print(f"\n{label}: {wall:.1f}s wall ({', '.join(f'{p} {s:.1f}s' for p, s in phases.items())})")
            print(
                f"  API calls {run.api_calls}; {len(calls) / wall * 60:.0f} calls/min overall; busiest API-minute {busiest} calls "
                f"({busiest_api[0]}) = {busiest / args.limit_per_minute:.0%} of the limit; 45009/45033 answers {refused}"
            )
            print(f"  counts {dict(sorted((k, v) for k, v in run.counts.items() if v))}")
            contacts = run.counts.get("contacts_seen", 0) or 1
            per_contact = cpu.get("customers", 0.0) / contacts
            page_calls = sum(1 for api, _, _ in calls if api.endswith("batch/get_by_user"))
            print(
                f"  CPU: Siyu {siyu_cpu:.1f}s ({', '.join(f'{p} {s:.1f}s' for p, s in cpu.items())}), sandbox (WeCom stand-in) {sandbox_cpu:.1f}s; "
                f"Siyu per applied contact {per_contact * 1000:.2f} ms (customers phase: {cpu.get('customers', 0.0):.1f}s / {contacts} contacts)"
            )
            if page_calls and per_contact:
                rate = contacts / phases.get("customers", wall)
                ceiling = 60 / (per_contact * contacts / page_calls) / args.limit_per_minute
                print(
                    f"  3M customers at this run's customers-phase rate ({rate:.0f}/s): {3_000_000 / rate / 60:.0f} min; "
                    f"one dedicated worker paced by Siyu's CPU alone would make {ceiling:.0%} of batch/get_by_user's per-API ceiling"
                )
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
