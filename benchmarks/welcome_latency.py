#!/usr/bin/env python3
"""Welcome latency: from the sandbox's add callback (an encrypted add_external_contact with a
WelcomeCode, POSTed to a real `siyu serve`) to send_welcome_msg received by the sandbox, with real
`siyu worker` processes that also handle the same events (contact read, attribution) behind the
welcomes, as in production.

    .venv/bin/python benchmarks/welcome_latency.py [--rate 200] [--seconds 60] [--workers 2]
    SIYU_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python benchmarks/welcome_latency.py

Prints: adds/s accepted, callback -> welcome received p50/p99/max, how many welcomes were sent,
missed (past WeCom's 20-second window) or failed, how long the events behind them took to drain,
and the CPU per add of each process: Siyu's own (server + workers, not the WeCom stand-in) and
the rate four cores would sustain at it. The `--warm-up` adds go first and are not counted: they
pay each process's first-use costs, which a long-running deployment pays once. Asserts nothing.
"""

import argparse
import os
import secrets
import threading
import time
from datetime import timedelta

from _stack import Stack, add_event, at_rate, pct, sandbox_population, setup_django, welcome_corp


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=200, help="adds per second")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=2, help="siyu worker processes")
    parser.add_argument("--processes", type=int, default=1, help="siyu serve processes receiving the callbacks")
    parser.add_argument("--worker-nice", type=int, default=0, help="start the workers this much nicer (lower CPU priority)")
    parser.add_argument(
        "--worker-interval",
        type=float,
        default=0.5,
        help="the workers' --interval; 0.5 is `siyu worker`'s own default: an idle worker that looks less often finds more events to batch",
    )
    parser.add_argument("--drain-timeout", type=float, default=900)
    parser.add_argument(
        "--warm-up", type=int, default=20, help="adds sent first at 10/s and waited for, not counted: each process's first-use costs (imports, caches)"
    )
    args = parser.parse_args()
    setup_django()
    import httpx
    from django.db import connection
    from django.utils import timezone

    from siyu.messaging.models import WelcomeSend
    from siyu.sandbox.models import SbWelcomeCode, SbWelcomeSent
    from siyu.wecom.models import CallbackEvent

    total = int(args.rate * args.seconds)
    sb, corpid, token, aes, staff, customers, follows = sandbox_population("wwwelcome", total + args.warm_up, metered=False)
    # Codes issued ahead; the sandbox keeps them valid for the whole run, so a late send shows as
    # latency here and as "missed" on Siyu's side (Siyu's own 20-second deadline, from CreateTime).
    valid_until = timezone.now() + timedelta(seconds=args.seconds + args.drain_timeout)
    codes = SbWelcomeCode.objects.bulk_create(
        [SbWelcomeCode(corp=sb, code=secrets.token_urlsafe(24), follow=f, expires_at=valid_until) for f in follows], batch_size=5000
    )

    stack = Stack(
        workers=args.workers, threads=16, separate_sandbox=True, worker_nice=args.worker_nice, processes=args.processes, interval=args.worker_interval
    )
    try:
        corp, crypt = welcome_corp(stack, corpid=corpid, token=token, aes=aes, staff=staff, name="welcome")
        url = f"{stack.url}/wecom/callback/{corpid}/"
        posted, statuses = {}, []
        lock = threading.Lock()
        http = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=64))

        def post(i: int) -> None:
            c = customers[i]
            xml = add_event(corpid, userid=staff[i % 50].userid, external_userid=c.external_userid, welcome_code=codes[i].code)
            body, query = crypt.encrypt_message(xml)
            started = time.time()
            response = http.post(url, params=query, content=body.encode())
            if i < total:
                with lock:
                    posted[codes[i].pk] = started
                    statuses.append(response.status_code)

        # The warm-up's adds pay each process's first-use costs (imports, caches, connections);
        # the figures below are the steady state's, after them.
        if args.warm_up:
            at_rate(args.warm_up, 10, lambda j: post(total + j))
            sends, events = WelcomeSend.objects.filter(corp=corp), CallbackEvent.objects.filter(corp=corp)
            while (
                sends.count() < args.warm_up
                or sends.filter(status__in=["pending", "sending"]).exists()
                or events.exclude(status__in=["done", "failed", "ignored"]).exists()
            ):
                time.sleep(0.2)
        first_pk = WelcomeSend.objects.filter(corp=corp).order_by("-pk").values_list("pk", flat=True).first() or 0
        cpu_before = stack.cpu_seconds()  # start-up and warm-up are not the adds' cost

        print(
            f"{connection.vendor}: {total} adds at {args.rate:g}/s for {args.seconds:g}s, {args.processes} server process(es), "
            f"{args.workers} worker process(es) at --interval {args.worker_interval:g}{f' (nice {args.worker_nice})' if args.worker_nice else ''}, "
            "sandbox in its own process"
        )
        t0, send_seconds = at_rate(total, args.rate, post)
        ok = sum(1 for s in statuses if s == 200)
        print(f"accepted            {ok}/{total} in {send_seconds:.1f}s = {ok / send_seconds:.1f} adds/s (other answers: {sorted(set(statuses) - {200})})")

        deadline = time.time() + args.drain_timeout
        welcomes_settled = None
        while time.time() < deadline:
            open_sends = WelcomeSend.objects.filter(corp=corp, pk__gt=first_pk, status__in=["pending", "sending"]).count()
            if open_sends == 0 and welcomes_settled is None and WelcomeSend.objects.filter(corp=corp, pk__gt=first_pk).count() >= ok:
                welcomes_settled = time.time() - t0
            left = CallbackEvent.objects.filter(corp=corp).exclude(status__in=["done", "failed", "ignored"]).count()
            if left == 0 and welcomes_settled is not None:
                break
            time.sleep(0.5)
        drained = time.time() - t0
        cpu = {role: seconds - cpu_before.get(role, 0.0) for role, seconds in stack.cpu_seconds().items()}
        sent = [(code_id, at) for code_id, at in SbWelcomeSent.objects.filter(code__corp=sb).values_list("code_id", "sent_at") if code_id in posted]
        lags = [at.timestamp() - posted[code_id] for code_id, at in sent]
        mine = WelcomeSend.objects.filter(corp=corp, pk__gt=first_pk)
        outcome = {s: n for s, n in ((s, mine.filter(status=s).count()) for s in WelcomeSend.Status.values) if n}
        print(f"welcome outcomes    {outcome}; sandbox received {len(sent)} (each code at most once: {len(sent) == len({c for c, _ in sent})})")
        if lags:
            within = sum(1 for lag in lags if lag <= 20)
            print(
                f"callback -> welcome p50 {pct(lags, 0.5) * 1000:.0f} ms   p99 {pct(lags, 0.99) * 1000:.0f} ms   max {max(lags) * 1000:.0f} ms   "
                f"within 20 s: {within}/{total}"
            )
        print(
            f"welcomes settled    {welcomes_settled if welcomes_settled is None else round(welcomes_settled, 1)} s after the first add; "
            f"events behind them drained after {drained:.1f} s"
        )
        own = (cpu.get("siyu server", 0.0) + cpu.get("workers", 0.0)) / total * 1000  # Siyu's, not the WeCom stand-in's
        print(
            "CPU per add         "
            + "   ".join(f"{role} {seconds / total * 1000:.1f} ms" for role, seconds in cpu.items())
            + f"   ({os.cpu_count()} cores give {os.cpu_count() * 1000 / max(sum(cpu.values()) / total * 1000, 0.001):.0f} adds/s at most)"
        )
        print(f"Siyu's own CPU      {own:.2f} ms per handled add (server + workers); 4 cores for Siyu alone: {4000 / max(own, 0.001):.0f} adds/s")
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
