"""Periodic jobs: each domain registers its own in its `AppConfig.ready()`; the worker runs them.

A job is a function taking no arguments and returning how many things it queued or settled. The
worker calls every job whose interval has passed, one after another in one thread per interval,
so a slow daily job cannot hold up the one-second welcome take-over.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.db import close_old_connections

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    function: Callable[..., int]
    every: float  # seconds; for sweeps, the worker's --requeue-every
    order: int
    # A sweep re-enqueues due work that lost its task (a crashed worker's); it takes `older_than`
    # (the worker's --requeue-after) and also runs in --batch mode.
    sweep: bool = False


_jobs: dict[str, PeriodicJob] = {}


def periodic(name: str, *, every: float = 60.0, order: int = 100, sweep: bool = False) -> Callable:
    """Decorator: run the function every `every` seconds in the long-running worker."""

    def register(function: Callable[..., int]) -> Callable[..., int]:
        _jobs[name] = PeriodicJob(name, function, every, order, sweep)
        return function

    return register


def periodic_jobs() -> list[PeriodicJob]:
    return sorted(_jobs.values(), key=lambda j: (j.every, j.order, j.name))


def run_job(job: PeriodicJob, *, older_than: timedelta | None = None) -> int:
    try:
        n = (job.function(older_than=older_than) if job.sweep else job.function()) or 0
        if n:
            log.info("%s: %d queued or settled", job.name, n)
        return n
    except Exception:  # noqa: BLE001 — one failing job must not stop the others or the worker
        log.exception("%s failed", job.name)
        return 0
    finally:
        close_old_connections()
