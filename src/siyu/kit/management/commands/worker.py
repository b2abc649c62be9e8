import logging
import threading
import time
from datetime import timedelta

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import OperationalError, close_old_connections

from siyu.kit import queue
from siyu.kit.periodic import PeriodicJob, periodic_jobs, run_job

log = logging.getLogger("siyu.worker")
# A database that stays unreachable this long in a row ends the worker (its supervisor restarts it
# and says so); a shorter outage, such as SQLite's write lock held past its timeout by a long
# import, is waited out.
GIVE_UP_AFTER = 600.0


def _loop(stop: threading.Event, jobs: list[PeriodicJob], every: float, older_than: timedelta) -> None:
    while True:
        for job in jobs:
            run_job(job, older_than=older_than)
        if stop.wait(every):
            return


class Command(BaseCommand):
    help = "Run the background task worker over every queue (django-tasks-db's db_worker), with the periodic jobs the domains register."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=0.5, help="seconds between polls when idle")
        parser.add_argument("--batch", action="store_true", help="run what is queued, then exit")
        parser.add_argument("--requeue-after", type=float, default=60.0, help="re-enqueue due work left unhandled this many seconds (a crashed worker's)")
        parser.add_argument("--requeue-every", type=float, default=60.0, help="seconds between sweeps")

    def handle(self, *args, interval, batch, requeue_after, requeue_every, **options):
        stop = threading.Event()
        older_than = timedelta(seconds=requeue_after)
        jobs = periodic_jobs()
        sweeps = [j for j in jobs if j.sweep]
        if batch:
            queue.draining = True
            # Periodic work lives in the long-running worker only; --batch runs just what is queued.
            for job in sweeps:
                run_job(job, older_than=older_than)
        else:
            # Sweeps first, then one thread per interval, so the one-second jobs never wait for a slow minute job.
            groups: dict[float, list[PeriodicJob]] = {requeue_every: list(sweeps)}
            for job in jobs:
                if not job.sweep:
                    groups.setdefault(job.every, []).append(job)
            for every, group in groups.items():
                threading.Thread(target=_loop, args=(stop, group, every, older_than), daemon=True, name=f"periodic-{every:g}s").start()
        try:
            _work(interval=interval, batch=batch)
        finally:
            stop.set()
            queue.draining = False


def _work(*, interval: float, batch: bool) -> None:
    """django-tasks-db's loop, started again when the database fails it outside its own retry of a
    locked claim (SQLite's `database is locked` while it begins its transaction or records a
    task's end). Due work it had claimed is left to the sweep of abandoned work
    (`--requeue-after`), as a crashed worker's is."""
    failing_since, wait = None, 1.0
    while True:
        began = time.monotonic()
        try:
            call_command("db_worker", queue_name="*", interval=interval, batch=batch, reload=False)
            return
        except OperationalError as exc:
            now = time.monotonic()
            if failing_since is None or now - began > 60:  # it ran a while: a new outage
                failing_since, wait = began, 1.0
            if now - failing_since > GIVE_UP_AFTER:
                raise
            log.warning("the database failed the worker (%s); starting again in %.0f s", exc, wait)
            close_old_connections()
            time.sleep(wait)
            wait = min(wait * 2, 30.0)
