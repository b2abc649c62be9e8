import json
import os
import threading
from contextlib import contextmanager

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import connections, transaction
from django.test import Client, TestCase, override_settings
from django.utils.module_loading import import_string
from django_tasks_db.models import DBTaskResult

from siyu.acquisition import routing
from siyu.journeys.engine import live_journeys_changed
from siyu.kit import throttle
from siyu.kit.clock import now
from siyu.kit.tenancy import Role
from siyu.wecom.client import known_state_forget

from . import factories as f


def pytest_configure(config):
    # Run in parallel (pytest-xdist), each worker clears and counts in a Redis database of its own:
    # one worker's cache.clear() must not empty another's throttle counts. Said in the environment
    # too, so the `siyu worker` subprocesses a test starts share their pytest worker's.
    worker = getattr(config, "workerinput", {}).get("workerid", "")
    url = os.environ.get("SIYU_CACHE_URL", "")
    if url and worker.startswith("gw"):
        base, _, db = url.rpartition("/")
        os.environ["SIYU_CACHE_URL"] = url = f"{base}/{int(db or 0) - int(worker[2:])}"
        for alias in django_settings.CACHES:
            django_settings.CACHES[alias]["LOCATION"] = url


class ApiClient:
    """Django's test client speaking JSON with a bearer token."""

    def __init__(self, raw_token: str | None):
        self.client = Client()
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {raw_token}"} if raw_token else {}

    def call(self, method: str, path: str, body=None, **params):
        kwargs = dict(self.headers)
        if body is not None:
            kwargs["data"] = json.dumps(body) if not isinstance(body, str) else body
            kwargs["content_type"] = "application/json"
        elif params:
            kwargs["data"] = params
        return getattr(self.client, method.lower())(path, **kwargs)

    def get(self, path, **params):
        return self.call("get", path, **params)

    def post(self, path, body=None):
        return self.call("post", path, body if body is not None else {})

    def put(self, path, body=None):
        return self.call("put", path, body if body is not None else {})

    def patch(self, path, body=None):
        return self.call("patch", path, body if body is not None else {})

    def delete(self, path):
        return self.call("delete", path)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True, scope="session")
def _no_kept_connections():
    # Production keeps connections for a minute; in tests, the live server's and the welcome
    # pool's threads would then still hold the test database when it is dropped.
    connections.settings["default"]["CONN_MAX_AGE"] = 0
    for conn in connections.all():
        conn.settings_dict["CONN_MAX_AGE"] = 0


@pytest.fixture(autouse=True)
def _fresh_routing_cache():
    # Live-code pools are cached per process for scans; ids repeat from test to test.
    routing._pools.clear()


@pytest.fixture(autouse=True)
def _fresh_wecom_state():
    # WeCom tokens and pauses are kept per process; a test's corp may reuse an earlier one's id.
    known_state_forget()


@pytest.fixture(autouse=True)
def _fresh_network_counts():
    # Every test client is 127.0.0.1: one test's page views must not limit the next test's.
    throttle.reset()


@pytest.fixture(autouse=True)
def _fresh_cache():
    # RFM results are cached per corp and day, journeys' definitions per process; ids and days repeat from test to test.
    cache.clear()
    live_journeys_changed()


@pytest.fixture(autouse=True)
def _welcomes_through_the_worker(settings):
    # The receiving process's own welcome threads would race a test's transaction for the
    # database; tests of that fast path turn it on (tests/acquisition/test_welcome.py).
    settings.SIYU_WELCOME_THREADS = 0


@pytest.fixture(scope="module")
def module_rows(django_db_setup, django_db_blocker):
    """For a module of many tests that read the same rows (a walk of every route): a module-scoped
    fixture writes them once, `with module_rows():`, in a transaction held open for the module.
    Each test's own transaction (its django_db mark) is a savepoint inside it, so a test's writes
    are still undone before the next test; the module's end rolls the rows back. Between the
    tests the database is blocked again, so a test without the mark fails rather than writes
    into the module's rows. Written once, not once per test: it was most of the walks' time."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
    try:
        yield lambda: _unblocked_fast(django_db_blocker)
    finally:
        with django_db_blocker.unblock():
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@contextmanager
def _unblocked_fast(blocker):
    with blocker.unblock(), override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        yield


@pytest.fixture
def corp(db):
    return f.corp("Alpha 母婴")


@pytest.fixture
def admin_user(corp):
    return f.user(corp, role=Role.ADMIN)


@pytest.fixture
def api(admin_user, corp):
    return ApiClient(f.token(admin_user, corp))


@pytest.fixture
def make_api():
    def make(user, corp):
        return ApiClient(f.token(user, corp))

    return make


def at_once(work, n: int) -> None:
    """`work` in `n` threads released together, as `n` workers racing for the same rows; each
    thread's database connection closed after. An exception in a thread fails the caller."""
    barrier, errors = threading.Barrier(n), []

    def run():
        barrier.wait()
        try:
            work()
        except Exception as exc:  # noqa: BLE001 — raised in the caller's thread below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def run_queued(prefix: str) -> list:
    """Run what the worker would: the queued tasks under `prefix` that are due, oldest first, until
    none is left (each after its enqueuer committed, its own queueing after its commit)."""
    outcomes = []
    for _round in range(20):
        queued = [
            t
            for t in DBTaskResult.objects.filter(status="READY", task_path__startswith=prefix).order_by("id")
            if t.run_after is None or t.run_after.year > 9000 or t.run_after <= now()  # the backend's "now" is its far date
        ]
        if not queued:
            return outcomes
        for task in queued:
            task.delete()
            with TestCase.captureOnCommitCallbacks(execute=True):
                outcomes.append(import_string(task.task_path).call(*task.args_kwargs["args"], **task.args_kwargs["kwargs"]))
    raise AssertionError("the work never ended")
