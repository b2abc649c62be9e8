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
    os.environ.setdefault("SIYU_SANDBOX", "1")  # the benchmarks' WeCom
    os.environ.setdefault("SIYU_LOG_LEVEL", "WARNING")
    # Benchmark corps left in a reused PostgreSQL database must not start periodic syncs mid-run.
    os.environ.setdefault("SIYU_SYNC_EVERY_HOURS", "0")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from siyu.corps.models import Corp

    # Corps an earlier run left in a reused PostgreSQL database point at its sandbox, long gone:
    # without their secret the workers' periodic jobs leave them alone instead of retrying a dead
    # address through this run.
    Corp.objects.filter(api_base__startswith="http://127.0.0.1:").exclude(secret_encrypted="").update(secret_encrypted="")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Stack:
    """`siyu serve` on a free port and `workers` × `siyu worker`, sharing this process's database."""

    def __init__(self, *, workers: int = 0, threads: int = 8, separate_sandbox: bool = False, worker_nice: int = 0, processes: int = 1, interval: float = 0.05):
        """`separate_sandbox`: the sandbox (WeCom) gets a server process of its own at
        `sandbox_url`, as WeCom is not inside Siyu's process in production. `worker_nice` starts
        the workers at a lower CPU priority; `interval` is their `--interval` (how long an idle
        worker waits before it looks at the queue again)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": import_path}
        siyu = [sys.executable, "-m", "siyu.cli"]
        quiet = {"stdout": subprocess.DEVNULL}
        self.procs = [subprocess.Popen([*siyu, "serve", "--port", str(self.port), "--threads", str(threads), "--processes", str(processes)], env=env, **quiet)]
        self.sandbox_url = self.url
        if separate_sandbox:
            sandbox_port = free_port()
            self.sandbox_url = f"http://127.0.0.1:{sandbox_port}"
            self.procs.append(subprocess.Popen([*siyu, "serve", "--port", str(sandbox_port), "--threads", str(threads)], env=env, **quiet))
        # worker_nice: background work yields the CPU to the processes answering WeCom.
        lower = (lambda: os.nice(worker_nice)) if worker_nice else None
        self.procs += [subprocess.Popen([*siyu, "worker", "--interval", str(interval)], env=env, preexec_fn=lower, **quiet) for _ in range(workers)]
        for url in {self.url, self.sandbox_url}:
            self._wait(url)

    def _wait(self, url: str) -> None:
        import httpx

        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
                self.stop()
                raise SystemExit("a server did not start")
            time.sleep(0.2)

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time used so far by Siyu's server(s), the sandbox's server and the workers, forked
        children included (Linux /proc)."""
        tick = os.sysconf("SC_CLK_TCK")
        parents, used = {}, {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                parents[int(entry)] = int(fields[1])
                used[int(entry)] = (int(fields[11]) + int(fields[12])) / tick

        def tree(pid: int) -> float:
            return used.get(pid, 0.0) + sum(tree(child) for child, parent in parents.items() if parent == pid)

        roles = {"siyu server": [self.procs[0]], "workers": [p for p in self.procs[1:] if p.args[3] == "worker"]}
        if self.sandbox_url != self.url:
            roles["sandbox server"] = [self.procs[1]]
        return {role: sum(tree(p.pid) for p in procs) for role, procs in roles.items()}

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


def sandbox_population(prefix: str, customers: int, *, staff: int = 50, state: str = "", metered: bool = True):
    """A sandbox corp with `staff` members and `customers` customers each following one of them,
    with its callback credentials; the API limits are raised (Siyu is measured, not WeCom's quota).
    Returns (sandbox corp, corpid, token, aes key, staff, customers, follows)."""
    import base64
    import secrets

    from siyu.sandbox import services as sandbox
    from siyu.sandbox.models import SbCustomer, SbFollow

    corpid = f"{prefix}{secrets.token_hex(4)}"
    aes, token = base64.b64encode(secrets.token_bytes(32)).decode().rstrip("="), secrets.token_hex(16)
    sb = sandbox.corp_create(
        corpid=corpid, name=prefix, secret="s", callback_token=token, callback_aes_key=aes, limit_per_minute=10**7, limit_per_hour=10**9, metered=metered
    )
    members = [sandbox.staff_add(corp=sb, userid=f"g{i:03d}", name=f"导购{i}") for i in range(staff)]
    stamp = int(time.time())
    people = SbCustomer.objects.bulk_create(
        [SbCustomer(corp=sb, external_userid=f"wm{corpid}{i:07d}", name=f"客户{i}") for i in range(customers)], batch_size=5000
    )
    follows = SbFollow.objects.bulk_create(
        [SbFollow(corp=sb, customer=c, staff=members[i % staff], createtime=stamp, state=state) for i, c in enumerate(people)],
        batch_size=5000,
    )
    return sb, corpid, token, aes, members, people, follows


def welcome_corp(stack: Stack, *, corpid: str, token: str, aes: str, staff: list, name: str):
    """Siyu's corp for a sandbox_population corp, its staff, and a welcome naming the customer and
    the staff member (so a send reads both). Returns (corp, the callback crypt)."""
    from siyu.corps.services import corp_create, staff_upsert
    from siyu.kit.wecom_crypto import WXBizMsgCrypt
    from siyu.messaging.models import WelcomeMessage

    corp = corp_create(corp_id=corpid, name=name, secret="s", token=token, aes_key=aes, api_base=f"{stack.sandbox_url}/sandbox/cgi-bin/")
    for s in staff:
        staff_upsert(corp=corp, userid=s.userid, name=s.name)
    WelcomeMessage.objects.create(corp=corp, text="{customer_name}您好，我是{staff_name}，欢迎！")
    return corp, WXBizMsgCrypt(token, aes, corpid)


def add_event(corpid: str, *, userid: str, external_userid: str, welcome_code: str) -> str:
    """The XML of WeCom's add_external_contact callback, created now."""
    from siyu.sandbox.callbacks import event_xml

    fields = {
        "ToUserName": corpid,
        "FromUserName": "sys",
        "CreateTime": int(time.time()),
        "MsgType": "event",
        "Event": "change_external_contact",
        "ChangeType": "add_external_contact",
        "UserID": userid,
        "ExternalUserID": external_userid,
        "WelcomeCode": welcome_code,
    }
    return event_xml(fields)


def at_rate(total: int, rate: float, send) -> tuple[float, float]:
    """Call send(i) for i in range(total), started at `rate` per second from 48 threads (so a
    slow answer does not slow the schedule); returns (start time, seconds until all answered)."""
    from concurrent.futures import ThreadPoolExecutor

    t0 = time.time()
    with ThreadPoolExecutor(max_workers=48) as pool:
        for i in range(total):
            delay = t0 + i / rate - time.time()
            if delay > 0:
                time.sleep(delay)
            pool.submit(send, i)
    return t0, time.time() - t0
