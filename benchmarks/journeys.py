#!/usr/bin/env python3
"""Journeys at the reference brand's size.

    .venv/bin/python benchmarks/journeys.py [--customers 100000] [--staff 1000]
    SIYU_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test .venv/bin/python benchmarks/journeys.py --customers 1000000 --staff 10000

1. Steps: every customer enrolled at once (one scheduled pass), all due in the same minute; the
   engine runs them in `--workers` processes (2: this machine's cores), as several `siyu worker`s
   would (an A/B split, then a send step or a guide-task step, each customer into its day's
   bundle); the bundles become one mass send and one guide task, made by two workers at once as
   their due work would be: Delivery rows and WeCom tasks per staff member, guide task items.
   Wall time, and the engine's CPU per step.
2. Callbacks: the time the journeys' subscribers add to one add callback with 50 live journeys
   (5 starting on an add, the rest on tags, orders, fields, stages, dates and segments).
3. Rehearsal: 30 days of a repurchase journey over 100,000 simulated customers.

The corp is built as benchmarks/mass_send.py builds it (Siyu's tables and the sandbox's), or reused.
Prints its figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time

from _stack import setup_django
from mass_send import build


def _steps_worker(at) -> tuple[int, float, float]:
    """One worker process (as `siyu worker` runs the journey steps job): every step due by `at`,
    sharing the due rows with the others (SKIP LOCKED). Its steps, CPU seconds and walking time."""
    from siyu.journeys import engine

    walking = [0.0]
    plain_run_claims = engine.run_claims

    def timed_run_claims(claims, *, at):
        began = time.perf_counter()
        try:
            return plain_run_claims(claims, at=at)
        finally:
            walking[0] += time.perf_counter() - began

    engine.run_claims = timed_run_claims  # locking is the rest of run_due's time
    cpu = time.process_time()
    steps = engine.run_due(at=at, limit=5000)
    return steps, time.process_time() - cpu, walking[0]


def _made(what: tuple[str, int]) -> float:
    """One worker process making a bundle's send (its Delivery rows and WeCom tasks) or task (its
    items): the seconds it took."""
    from siyu.guides.services import guide_task_assign
    from siyu.messaging import mass_sends

    kind, pk = what
    started = time.perf_counter()
    if kind == "send":
        mass_sends.mass_send_plan(pk)
    else:
        guide_task_assign(pk)
    return time.perf_counter() - started


def _forget_runs(corp) -> None:
    """An earlier run's journeys, sends and tasks, gone (the big tables by plain deletes first), so a
    reused corp is measured as built: earlier deliveries would weigh on the budget's reads."""
    from django.db import connection

    from siyu.guides.models import GuideAssignment, GuideTask, GuideTaskItem
    from siyu.journeys.models import Enrollment, Journey, StepRun
    from siyu.messaging.models import CustomerList, CustomerListMember, Delivery, MassSend, MassSendTask

    with connection.cursor() as cursor:
        for model in (StepRun, Enrollment, Delivery, MassSendTask, GuideTaskItem, GuideAssignment):
            cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE corp_id = %s", [corp.pk])
        lists = CustomerList._meta.db_table
        cursor.execute(f"DELETE FROM {CustomerListMember._meta.db_table} WHERE customers_id IN (SELECT id FROM {lists} WHERE corp_id = %s)", [corp.pk])
    for model in (Journey, MassSend, GuideTask, CustomerList):
        model.objects.filter(corp=corp).delete()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--staff", type=int, default=1000)
    parser.add_argument("--reuse", default="", help="the corp id of an earlier run (its journeys are removed first)")
    parser.add_argument("--adds", type=int, default=1000, help="add callbacks timed for the subscribers' cost")
    parser.add_argument("--workers", type=int, default=2, help="worker processes running the due steps together (SKIP LOCKED shares the rows)")
    args = parser.parse_args()
    setup_django()
    from django.db import connection, connections, transaction
    from django.db.models import Count

    from siyu.corps.models import Corp, Staff
    from siyu.corps.services import corp_create
    from siyu.customers.models import Customer, Follow
    from siyu.journeys import engine, entries, services
    from siyu.journeys.models import Bundle, Enrollment, Journey, StepRun
    from siyu.journeys.rehearsal import rehearse
    from siyu.journeys.subscribers import _contact_added
    from siyu.kit.clock import now
    from siyu.kit.tenancy import Actor, Role
    from siyu.messaging.models import Delivery, MassSendTask
    from siyu.sandbox import services as sandbox
    from siyu.tags.models import TagGroup
    from siyu.tags.services import tag_group_create
    from siyu.wecom.events import CALLBACK, ContactAdded

    if args.reuse:
        corp = Corp.objects.get(corp_id=args.reuse)
        _forget_runs(corp)
        print(f"build: reusing {args.reuse} ({Customer.objects.filter(corp=corp).count()} customers, {connection.vendor})")
    else:
        corp_id = f"wwjn{args.customers}x{args.staff}{int(time.time()) % 100000}"
        sb = sandbox.corp_create(corpid=corp_id, name="旅程压测", secret="bench-secret")
        corp = corp_create(corp_id=corp_id, name="旅程压测", secret="bench-secret", api_base="http://testserver/sandbox/cgi-bin/")
        started = time.perf_counter()
        with transaction.atomic():
            build(corp, sb, args.customers, args.staff)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        print(f"build: {corp_id}: {args.customers} customers over {args.staff} guides in {time.perf_counter() - started:.1f}s ({connection.vendor})")
    hq = Actor(user=None, corp=corp, role=Role.ADMIN)
    customers = Customer.objects.filter(corp=corp).count()

    # 1. Every customer due in the same minute.
    plan = {
        "trigger": {"kind": "plan", "every": "once", "at": "2026-01-01T09:00:00+08:00"},
        "steps": [
            {"key": "ab", "kind": "split", "paths": [{"share": 50, "next": "hi"}, {"share": 50, "next": "visit"}]},
            {"key": "hi", "kind": "send", "text": "新品试用装已备好", "at": "10:00"},
            {"key": "visit", "kind": "task", "name": "一对一回访", "text": "", "at": "10:00", "hours": 48},
        ],
    }
    journey = services.journey_create(actor=hq, name="全员触达", definition=plan)
    services.journey_activate(actor=hq, journey=journey)
    journey.refresh_from_db()
    started = time.perf_counter()
    with transaction.atomic():
        entered = entries.pass_run(journey, plan["trigger"], now())
    enrolled_s = time.perf_counter() - started
    print(f"enroll: {entered} customers in {enrolled_s:.1f}s ({entered / enrolled_s:,.0f}/s)")
    at = now()
    connections.close_all()  # the workers are forked: each opens its own connection
    context = multiprocessing.get_context("fork")
    started = time.perf_counter()
    with context.Pool(args.workers) as pool:
        ran = pool.map(_steps_worker, [at] * args.workers)
    run_s = time.perf_counter() - started
    steps, run_cpu, walking = sum(r[0] for r in ran), sum(r[1] for r in ran), max(r[2] for r in ran)
    shares = [r[0] for r in ran]
    print(f"  {args.workers} worker(s) sharing the due rows: {shares} steps; of a worker's time, locking {run_s - walking:.1f}s, walking {walking:.1f}s")
    print(f"steps: {steps} steps for {entered} enrollments in {run_s:.1f}s ({steps / run_s:,.0f} steps/s); Siyu's CPU {run_cpu / steps * 1000:.3f} ms a step")
    started = time.perf_counter()
    Bundle.objects.filter(journey=journey).update(due_at=now())
    made = [engine.bundle_make(pk) for pk in Bundle.objects.filter(journey=journey).values_list("pk", flat=True)]
    bundles_s = time.perf_counter() - started
    send = Bundle.objects.get(journey=journey, kind="send").mass_send
    task = Bundle.objects.get(journey=journey, kind="task").guide_task
    connections.close_all()
    started = time.perf_counter()
    with context.Pool(2) as pool:  # the send's plan and the task's assignment: due work two workers take at once
        (planned_s, assigned_s) = pool.map(_made, [("send", send.pk), ("task", task.pk)])
    made_s = time.perf_counter() - started
    deliveries = Delivery.objects.filter(send=send).count()
    tasks = MassSendTask.objects.filter(send=send).count()
    task.refresh_from_db()
    total = run_s + bundles_s + made_s
    print(
        f"bundles: {made} in {bundles_s:.1f}s; mass send planned: {deliveries} deliveries, {tasks} WeCom tasks in {planned_s:.1f}s; "
        f"guide task assigned: {task.items_total} items to {task.guides_total} guides in {assigned_s:.1f}s; both, at once, in {made_s:.1f}s"
    )
    print(f"all due in one minute → every step run, every delivery and task made: {total:.1f}s for {customers} customers (after their enrollment)")
    done = dict(StepRun.objects.filter(journey=journey).values_list("outcome").annotate(n=Count("id")).order_by())
    print(f"  step outcomes: {done}; enrollments finished: {Enrollment.objects.filter(journey=journey, status='done').count()}")

    # 2. The cost added to an add callback with 50 live journeys.
    group = TagGroup.objects.filter(corp=corp, name="旅程压测标签").first() or tag_group_create(actor=hq, name="旅程压测标签", tag_names=["新客"])
    tag = group.tags.get()
    others = [
        {"kind": "event", "event": "tag_added", "tag_ids": [tag.pk]},
        {"kind": "event", "event": "order_paid"},
        {"kind": "event", "event": "group_joined"},
        {"kind": "data", "rule": "no_repurchase", "days": 30},
    ]
    wait = [{"key": "w", "kind": "wait", "days": 1}]
    for i in range(50):
        trigger = {"kind": "event", "event": "contact_added"} if i < 5 else others[i % len(others)]
        j = services.journey_create(actor=hq, name=f"旅程{i}", definition={"trigger": trigger, "reentry": {"rule": "every"}, "steps": wait})
        services.journey_activate(actor=hq, journey=j)
    staff = Staff.objects.filter(corp=corp).first()
    fresh = [Customer(corp=corp, external_userid=f"wmADD{i:07d}{int(time.time()) % 1000}", name="新客") for i in range(args.adds)]
    Customer.objects.bulk_create(fresh)
    fresh = list(Customer.objects.filter(corp=corp, external_userid__in=[c.external_userid for c in fresh]))
    follows = Follow.objects.bulk_create([Follow(corp=corp, customer=c, staff=staff, added_at=now()) for c in fresh])
    follows = list(Follow.objects.filter(corp=corp, customer__in=fresh).select_related("customer"))

    def adds() -> tuple[float, float]:
        """The subscribers' time within each add's transaction (the callback commits its own
        writes anyway), and the commits' time, per add in ms."""
        inside = commits = 0.0
        for follow in follows:
            with transaction.atomic():
                # The callback's transaction is under way (it wrote the follow): its BEGIN is not the subscribers'.
                Follow.objects.filter(pk=follow.pk).update(added_at=follow.added_at)
                began = time.perf_counter()
                _contact_added(ContactAdded(corp=corp, customer=follow.customer, follow=follow, customer_created=True, source=CALLBACK))
                ended = time.perf_counter()
                inside += ended - began
            commits += time.perf_counter() - ended
        return inside / len(follows) * 1000, commits / len(follows) * 1000

    per_add, commit = adds()
    print(
        f"callbacks: the journeys' subscribers add {per_add:.2f} ms to an add with 50 live journeys (5 start on an add); "
        f"its transaction's commit then takes {commit:.2f} ms"
    )
    started = time.perf_counter()
    enrolled = engine.arrivals_enter()
    print(f"  the engine's pass enrolled the {len(follows)} arrivals: {enrolled} enrollments in {time.perf_counter() - started:.2f}s")
    Journey.objects.filter(corp=corp, trigger_event="contact_added").update(status="paused")
    engine.live_journeys_changed()
    per_add, _commit = adds()
    print(f"callbacks: {per_add:.3f} ms an add when none of the 45 live journeys starts on one")

    # 3. Rehearsal over a simulated population.
    repurchase = services.journey_create(
        actor=hq,
        name="复购唤醒（预演）",
        definition={
            "trigger": {"kind": "data", "rule": "no_repurchase", "days": 30, "time": "10:00"},
            "holdout_percent": 10,
            "goal": {"within_days": 45},
            "steps": [
                {"key": "d30", "kind": "send", "text": "该补货了", "at": "10:30", "next": "w45"},
                {"key": "w45", "kind": "wait_event", "event": "order_paid", "timeout_days": 15, "timeout_next": "d45"},
                {"key": "d45", "kind": "send", "text": "复购券", "at": "10:30", "next": "w60"},
                {"key": "w60", "kind": "wait_event", "event": "order_paid", "timeout_days": 15, "timeout_next": "d60"},
                {"key": "d60", "kind": "task", "name": "回访", "text": "", "at": "10:00"},
            ],
        },
    )
    started = time.perf_counter()
    report = rehearse(actor=hq, journey=repurchase, days=30, population="simulated", customers=100_000)
    print(
        f"rehearsal: 30 days over {report.customers} simulated customers in {time.perf_counter() - started:.1f}s: "
        f"{report.entered} entered, {sum(report.sends_by_day)} sends, {report.budget_skips} budget skips, {sum(report.tasks_by_day)} task items"
    )


if __name__ == "__main__":
    main()
