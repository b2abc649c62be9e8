"""Shared set-up for the WeCom benchmarks: Django on a throw-away SQLite directory or the
PostgreSQL in SIYU_DATABASE_URL, and a real `siyu serve` (+ workers) in child processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import_path = str(Path(__file__).resolve().parents[1] / "src")
sys.path.insert(0, import_path)


def setup_django() -> None:
    if "SIYU_DATABASE_URL" not in os.environ:
        os.environ["SIYU_DATA_DIR"] = tempfile.mkdtemp(prefix="siyu-bench-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "siyu.settings")
    os.environ.setdefault("SIYU_LOG_LEVEL", "WARNING")
    # Benchmark corps left in a reused PostgreSQL database must not start periodic syncs mid-run.
    os.environ.setdefault("SIYU_SYNC_EVERY_HOURS", "0")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    """`siyu serve` on a free port and `workers` × `siyu worker`, sharing this process's database."""

    def __init__(self, *, workers: int = 0, threads: int = 8):
        import httpx

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": import_path}
        siyu = [sys.executable, "-m", "siyu.cli"]
        quiet = {"stdout": subprocess.DEVNULL}
        self.procs = [subprocess.Popen([*siyu, "serve", "--port", str(self.port), "--threads", str(threads)], env=env, **quiet)]
        self.procs += [subprocess.Popen([*siyu, "worker", "--interval", "0.05"], env=env, **quiet) for _ in range(workers)]
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.procs[0].poll() is not None:
                self.stop()
                raise SystemExit("the server did not start")
            time.sleep(0.2)

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * (len(values) - 1) + 0.5))] if values else float("nan")
