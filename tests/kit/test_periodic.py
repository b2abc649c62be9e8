"""Every periodic job the worker runs completes on a quiet database and reports a count: a job
that raised, or whose outcome the worker could not log, would be logged as failed every time."""

import logging
from datetime import timedelta

import pytest

from siyu.kit.periodic import periodic_jobs, run_job


@pytest.mark.django_db(transaction=True)  # the worker closes its connections after each job
def test_every_periodic_job_runs_and_reports_a_count(caplog):
    jobs = periodic_jobs()
    assert {"guide tasks sweep", "mass send sweep", "moments sweep", "handovers sweep"} <= {j.name for j in jobs}
    with caplog.at_level(logging.INFO, logger="siyu.kit.periodic"):
        outcomes = {job.name: run_job(job, older_than=timedelta(minutes=5)) for job in jobs}
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert all(isinstance(n, int) for n in outcomes.values()), outcomes
