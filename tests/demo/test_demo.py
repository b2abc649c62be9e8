"""`siyu demo` as a user runs it: a real subprocess, a fresh data directory, a real port."""

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request

import pytest

# The demo is SQLite in its own data directory, whatever database the suite runs on.
pytestmark = pytest.mark.own_database


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def demo_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIYU_") and k != "DJANGO_SETTINGS_MODULE"}
    # The demo is SQLite in its own data directory, even when the suite itself runs on PostgreSQL.
    env["SIYU_DATA_DIR"] = str(tmp_path)
    return env


def _siyu(*args):
    return [sys.executable, "-m", "siyu.cli", *args]


def _child(parent: int, command: str) -> int | None:
    """The pid of the parent's child process running `siyu <command>`, if any."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1])
                argv = open(f"/proc/{entry}/cmdline").read().split("\0")
            except OSError:
                continue
            if ppid == parent and command in argv:
                return int(entry)
    return None


def _handled(data_dir) -> int:
    with sqlite3.connect(data_dir / "siyu.sqlite3", timeout=10) as db:
        return db.execute("select count(*) from wecom_callbackevent where status = 'done'").fetchone()[0]


def test_demo_prepares_once_then_serves_healthz(demo_env, tmp_path):
    # The timeout only guards against a hang: a fresh database is made from the models in seconds
    # (kit's migrate), but the sample data and a loaded CI machine take their time.
    first = subprocess.run(_siyu("demo", "--no-serve", "--customers", "150"), env=demo_env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "150 customers" in first.stdout and "admin / siyu-demo-2026" in first.stdout
    second = subprocess.run(_siyu("demo", "--no-serve", "--customers", "150"), env=demo_env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0 and "already here" in second.stdout
    with sqlite3.connect(tmp_path / "siyu.sqlite3") as db:
        assert db.execute("select count(*) from customers_customer").fetchone()[0] == 150
        assert db.execute("select count(*) from corps_corp").fetchone()[0] == 1

    port = _free_port()
    proc = subprocess.Popen(
        _siyu("demo", "--port", str(port), "--per-minute", "240"), env=demo_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                    body = json.load(response)
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, "the demo did not answer /healthz within 60 s"
                time.sleep(0.3)
        assert body == {"status": "ok", "database": "sqlite"}
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=5) as response:
            assert "私域" in response.read().decode()
        # The worker's schedule syncs the corp from the sandbox: nothing new (the sandbox mirrors the
        # seed) except the groups, which exist only in "WeCom"; meanwhile simulated customers arrive.
        deadline = time.monotonic() + 90
        while True:
            with sqlite3.connect(tmp_path / "siyu.sqlite3", timeout=10) as db:
                sync = db.execute("select status, counts from wecom_syncrun order by id desc").fetchone()
                customers = db.execute("select count(*) from customers_customer").fetchone()[0]
                handled = db.execute("select count(*) from wecom_callbackevent where status = 'done'").fetchone()[0]
                failed = db.execute("select count(*) from wecom_callbackevent where status = 'failed'").fetchone()[0]
            if sync and sync[0] == "done" and customers > 150 and handled >= 5:
                break
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, f"sync {sync}, {customers} customers, {handled} callbacks handled after 90 s"
            time.sleep(1)
        # (That the sync changes nothing else is tests/demo/test_backing.py's business.)
        assert json.loads(sync[1])["groups_seen"] > 0
        assert failed == 0
        assert proc.poll() is None, proc.stdout.read()
        # A worker that dies is started again, and the new one goes on handling callbacks.
        worker = _child(proc.pid, "worker")
        os.kill(worker, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while _child(proc.pid, "worker") in (None, worker):
            assert time.monotonic() < deadline, "the worker was not started again"
            time.sleep(0.3)
        deadline = time.monotonic() + 90
        while _handled(tmp_path) <= handled:
            assert proc.poll() is None and time.monotonic() < deadline, "no callback handled after the worker's restart"
            time.sleep(1)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    # The server and the worker went down with it.
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
