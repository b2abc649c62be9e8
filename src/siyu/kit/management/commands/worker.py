import logging
import threading
from datetime import timedelta

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import close_old_connections

log = logging.getLogger(__name__)


def _sweep(after: float) -> None:
    from siyu.wecom.services import callbacks_requeue_stale

    try:
        n = callbacks_requeue_stale(older_than=timedelta(seconds=after))
        if n:
            log.info("re-enqueued %d callback event(s) left unhandled", n)
    except Exception:  # noqa: BLE001 — a sweep failure must not stop the worker
        log.exception("requeue sweep failed")
    finally:
        close_old_connections()


def _schedule() -> None:
    from siyu.acquisition.services import live_codes_refresh_due, welcomes_sweep
    from siyu.analytics.lifetime import clv_refresh_due
    from siyu.groups.codes import group_codes_refresh_due
    from siyu.wecom.sync import syncs_due

    jobs = (("sync", syncs_due), ("live code", live_codes_refresh_due), ("group code", group_codes_refresh_due), ("welcome", welcomes_sweep), ("clv", clv_refresh_due))
    for name, job in jobs:
        try:
            n = job()
            if n:
                log.info("%s schedule: %d queued or settled", name, n)
        except Exception:  # noqa: BLE001 — one failing job must not stop the others or the worker
            log.exception("%s schedule failed", name)
        finally:
            close_old_connections()


def _requeue_loop(stop: threading.Event, after: float, every: float) -> None:
    # Periodic work lives in the long-running worker only; --batch runs just what is queued.
    while True:
        _sweep(after)
        _schedule()
        if stop.wait(every):
            return


def _welcome_loop(stop: threading.Event, every: float) -> None:
    # Welcomes have 20 seconds: this cannot wait for the minute schedule.
    from siyu.acquisition.services import welcomes_take_over

    while not stop.wait(every):
        try:
            n = welcomes_take_over()
            if n:
                log.info("welcome take-over: %d settled", n)
        except Exception:  # noqa: BLE001 — keep looping; the next round tries again
            log.exception("welcome take-over failed")
        finally:
            close_old_connections()


class Command(BaseCommand):
    help = "Run the background task worker over every queue (django-tasks-db's db_worker)."

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=0.5, help="seconds between polls when idle")
        parser.add_argument("--batch", action="store_true", help="run what is queued, then exit")
        parser.add_argument("--requeue-after", type=float, default=60.0, help="re-enqueue inbox events unhandled this many seconds (a crashed worker's)")
        parser.add_argument("--requeue-every", type=float, default=60.0)

    def handle(self, *args, interval, batch, requeue_after, requeue_every, **options):
        stop = threading.Event()
        if batch:
            _sweep(requeue_after)
        else:
            threading.Thread(target=_requeue_loop, args=(stop, requeue_after, requeue_every), daemon=True).start()
            threading.Thread(target=_welcome_loop, args=(stop, 1.0), daemon=True).start()
        try:
            call_command("db_worker", queue_name="*", interval=interval, batch=batch, reload=False)
        finally:
            stop.set()

