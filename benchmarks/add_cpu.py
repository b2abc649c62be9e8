#!/usr/bin/env python3
"""Siyu's CPU per piece of an add, one piece at a time with nothing else running: what the other
welcome benchmark's per-process figures are made of.

    .venv/bin/python benchmarks/add_cpu.py [--adds 600] [--profile callback|welcome|alone|batch]
    SIYU_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python benchmarks/add_cpu.py

The pieces, each timed over all the adds in this process (time.process_time; the sandbox, WeCom's
stand-in, answers from a server process of its own and is not counted):
- callback: the add callback's request through Django (decrypt, store the event, queue its task
  and the welcome's, commit), without the HTTP server in front;
- welcome: one welcome sent from the row the request wrote, handed over as the receiving process
  hands it to its welcome thread (claim, message, staff and customer, the contact read and
  send_welcome_msg over HTTP, outcome);
- alone: an event handled in a batch of one (claim, contact read, apply, done);
- batch: an event handled in a batch of 50 (the batch's cost over its events).
The first of each is left out (imports on first use). `--profile PIECE` prints cProfile's
heaviest calls of that piece (CPU time); `--queries` prints each piece's SQL for one item. Asserts nothing.
"""

import argparse
import cProfile
import pstats
import secrets
import time
from datetime import timedelta

from _stack import Stack, add_event, sandbox_population, setup_django, welcome_corp


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--adds", type=int, default=600)
    parser.add_argument("--profile", choices=["callback", "welcome", "alone", "batch"])
    parser.add_argument("--profile-file", help="with --profile: also write the profile here, for pstats or snakeviz")
    parser.add_argument("--queries", action="store_true", help="print each piece's SQL statements for its second item (not timed)")
    args = parser.parse_args()
    setup_django()
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from siyu.messaging.models import WelcomeSend
    from siyu.messaging.services import welcome_send
    from siyu.sandbox.models import SbWelcomeCode
    from siyu.wecom.models import CallbackEvent
    from siyu.wecom.services import callbacks_handle

    # The welcomes are sent below, one by one, not by the request's threads.
    settings.SIYU_WELCOME_THREADS = 0
    n = args.adds
    sb, corpid, token, aes, staff, customers, follows = sandbox_population("wwaddcpu", n, metered=False)
    valid_until = timezone.now() + timedelta(hours=1)
    codes = SbWelcomeCode.objects.bulk_create([SbWelcomeCode(corp=sb, code=secrets.token_urlsafe(24), follow=f, expires_at=valid_until) for f in follows])
    stack = Stack(workers=0, separate_sandbox=True)
    try:
        corp, crypt = welcome_corp(stack, corpid=corpid, token=token, aes=aes, staff=staff, name="add cpu")
        posts = []
        for i, customer in enumerate(customers):
            xml = add_event(corpid, userid=staff[i % len(staff)].userid, external_userid=customer.external_userid, welcome_code=codes[i].code)
            posts.append(crypt.encrypt_message(xml))
        client = Client()
        url = f"/wecom/callback/{corpid}/"
        print(f"{connection.vendor}: {n} adds, each piece alone in this process (the sandbox in its own)")

        def piece(name: str, run, items: list, per: int = 1) -> None:
            run(items[0])
            items = items[1:]
            if args.queries and len(items) > 1:
                with CaptureQueriesContext(connection) as statements:
                    run(items[0])
                items = items[1:]
                print(f"{name}: {len(statements)} statements")
                for statement in statements:
                    print(f"    {statement['sql'][:150]}")
            profile = cProfile.Profile(time.process_time) if args.profile == name else None
            started = time.process_time()
            if profile:
                profile.enable()
            for item in items:
                run(item)
            if profile:
                profile.disable()
            used = time.process_time() - started
            print(f"{name:9s} {used / (len(items) * per) * 1000:6.2f} ms of CPU each")
            if profile:
                pstats.Stats(profile).sort_stats("cumulative").print_stats(40)
                if args.profile_file:
                    profile.dump_stats(args.profile_file)

        def post(item) -> None:
            body, query = item
            response = client.post(url, data=body.encode(), content_type="text/xml", QUERY_STRING="&".join(f"{k}={v}" for k, v in query.items()))
            assert response.status_code == 200, response.content

        piece("callback", post, posts)
        # Sent soon after their callbacks, as in production: a welcome past WeCom's 20-second window
        # is recorded as missed, which costs less than a send.
        # Each handed over as the receiving process hands its row to its welcome thread.
        sends = list(WelcomeSend.objects.filter(corp=corp).select_related("corp").order_by("pk"))
        piece("welcome", lambda send: welcome_send(send.pk, send=send), sends)
        outcomes = WelcomeSend.objects.filter(corp=corp).values_list("status", flat=True)
        print(f"          welcome outcomes: {sorted(set(outcomes))} (only 'sent' makes the figure a send's)")
        events = list(CallbackEvent.objects.filter(corp=corp).order_by("pk").values_list("pk", flat=True))
        half = len(events) // 2
        piece("alone", lambda pk: callbacks_handle(event_id=pk, limit=1), events[:half])
        # Each call takes the oldest event left and the 49 due after it.
        waiting = CallbackEvent.objects.filter(corp=corp, status="received").order_by("pk")
        calls = (len(events) - half) // 50
        if calls > 1:
            piece("batch", lambda _: callbacks_handle(event_id=waiting.values_list("pk", flat=True).first(), limit=50), list(range(calls)), per=50)
        left = CallbackEvent.objects.filter(corp=corp).exclude(status="done").count()
        print(f"          events left unhandled: {left} (the batch piece needs at least two batches of 50 after the alone piece)")
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
