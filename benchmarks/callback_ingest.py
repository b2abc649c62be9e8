#!/usr/bin/env python3
"""Callback ingest: WeCom-style encrypted add_external_contact events POSTed at a steady rate to a
real `siyu serve`, handled by real `siyu worker` processes that call the sandbox's
externalcontact/get over HTTP, exactly as in production.

    .venv/bin/python benchmarks/callback_ingest.py [--rate 200] [--seconds 60] [--workers 2]
    SIYU_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python benchmarks/callback_ingest.py

Prints: events/s accepted, the POST answer time (p50/p99), the time from POST to handled (p50/p99/max,
from the inbox's handled_at), handling throughput and how long the queue took to drain. Asserts nothing.
"""

import argparse
import threading
import time

from _stack import Stack, at_rate, pct, sandbox_population, setup_django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=200, help="events per second")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=2, help="siyu worker processes")
    parser.add_argument("--drain-timeout", type=float, default=900)
    args = parser.parse_args()
    setup_django()
    import httpx
    from django.db import connection

    from siyu.corps.services import corp_create
    from siyu.kit.wecom_crypto import WXBizMsgCrypt
    from siyu.sandbox.callbacks import event_xml
    from siyu.wecom.models import CallbackEvent

    total = int(args.rate * args.seconds)
    # This measures Siyu's ingest, not WeCom's quota (see full_sync.py for that).
    _sb, corpid, token, aes, staff, customers, _follows = sandbox_population("wwingest", total, state="bench")
    stamp = int(time.time())

    stack = Stack(workers=args.workers, threads=16)
    try:
        corp_create(corp_id=corpid, name="ingest", secret="s", token=token, aes_key=aes, api_base=f"{stack.url}/sandbox/cgi-bin/")
        crypt = WXBizMsgCrypt(token, aes, corpid)
        bodies = []
        for i, c in enumerate(customers):
            xml = event_xml(
                {
                    "ToUserName": corpid,
                    "FromUserName": "sys",
                    "CreateTime": stamp,
                    "MsgType": "event",
                    "Event": "change_external_contact",
                    "ChangeType": "add_external_contact",
                    "UserID": staff[i % 50].userid,
                    "ExternalUserID": c.external_userid,
                    "State": "bench",
                }
            )
            bodies.append(crypt.encrypt_message(xml))
        url = f"{stack.url}/wecom/callback/{corpid}/"
        posted, answers, codes = {}, [], []
        lock = threading.Lock()
        http = httpx.Client(timeout=30, limits=httpx.Limits(max_connections=64))

        def post(i: int) -> None:
            body, query = bodies[i]
            started = time.time()
            response = http.post(url, params=query, content=body.encode())
            with lock:
                posted[customers[i].external_userid] = started
                answers.append(time.time() - started)
                codes.append(response.status_code)

        print(f"{connection.vendor}: {total} events at {args.rate:g}/s for {args.seconds:g}s, {args.workers} worker process(es)")
        t0, send_seconds = at_rate(total, args.rate, post)
        ok = sum(1 for c in codes if c == 200)
        print(f"accepted          {ok}/{total} in {send_seconds:.1f}s = {ok / send_seconds:.1f} events/s (other answers: {sorted(set(codes) - {200})})")
        print(f"POST answer       p50 {pct(answers, 0.5) * 1000:.1f} ms   p99 {pct(answers, 0.99) * 1000:.1f} ms")

        deadline = time.time() + args.drain_timeout
        while time.time() < deadline:
            left = CallbackEvent.objects.filter(corp__corp_id=corpid).exclude(status__in=["done", "failed", "ignored"]).count()
            if left == 0:
                break
            time.sleep(1)
        drained = time.time() - t0
        rows = list(CallbackEvent.objects.filter(corp__corp_id=corpid).values_list("payload", "status", "handled_at"))
        lags = [handled.timestamp() - posted[p["ExternalUserID"]] for p, status, handled in rows if status == "done" and handled]
        statuses = {s: sum(1 for _, st, _ in rows if st == s) for s in {st for _, st, _ in rows}}
        print(f"handled           {statuses}; all settled {drained:.1f}s after the first POST ({len(lags) / drained:.1f} events/s)")
        print(f"POST -> handled   p50 {pct(lags, 0.5) * 1000:.0f} ms   p99 {pct(lags, 0.99) * 1000:.0f} ms   max {max(lags) * 1000:.0f} ms")
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
