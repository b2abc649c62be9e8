import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from siyu.demo.backing import back_with_sandbox
from siyu.demo.seed import DEMO_PASSWORD, DEMO_USERS, seed_demo


class Command(BaseCommand):
    help = (
        "Migrate, load the demo corp (once) backed by the WeCom sandbox, then run the web console/API, a task worker "
        "and the sandbox's simulated customers until stopped."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--customers", type=int, default=3000, help="demo customers to create on the first run")
        parser.add_argument("--no-serve", action="store_true", help="prepare the data, then exit")
        parser.add_argument("--per-minute", type=float, default=12.0, help="simulated customer behaviours per minute")
        parser.add_argument("--no-simulate", action="store_true", help="no simulated customers")

    def handle(self, *args, host, port, customers, no_serve, per_minute, no_simulate, **options):
        self.stdout.write(f"Data directory: {settings.DATA_DIR}")
        call_command("migrate", interactive=False, verbosity=0)
        started = time.monotonic()
        corp, created = seed_demo(customers=customers)
        if created:
            self.stdout.write(f"Created the demo corp {corp.name} with {customers} customers in {time.monotonic() - started:.1f}s.")
        else:
            self.stdout.write(f"The demo corp {corp.name} is already here; nothing added.")
        if not settings.SIYU_SANDBOX:
            raise CommandError("The demo runs against the WeCom sandbox; unset SIYU_SANDBOX=0.")
        base_url = f"http://{host}:{port}"
        sandbox_corp, _ = back_with_sandbox(corp, base_url=base_url)
        self.stdout.write(f"Its WeCom is the sandbox at {base_url}/sandbox/cgi-bin/ (corp id {sandbox_corp.corpid}).")
        self.stdout.write(self.style.SUCCESS(f"\nConsole:  http://{host}:{port}/"))
        self.stdout.write(f"API docs: http://{host}:{port}/api/docs")
        for username, role in DEMO_USERS:
            self.stdout.write(f"Log in:   {username} / {DEMO_PASSWORD}   ({role})")
        if no_serve:
            return
        simulate = (
            None
            if no_simulate
            else [
                "--corp",
                sandbox_corp.corpid,
                "--per-minute",
                str(per_minute),
                "--wait-for",
                f"{base_url}/healthz",
                "--scan-landing-pages",
                "--client-url",
                base_url,
            ]
        )
        if simulate:
            self.stdout.write(f"Simulated customers: about {per_minute:g} things happen per minute; watch {base_url}/customers/ and {base_url}/inbox/")
        self._run_children(host, port, simulate, base_url)

    def _run_children(self, host, port, simulate, base_url):
        # The server and the worker are separate processes, as in production; this one only
        # supervises them: a child that exits is started again (a worker that hit a bad moment,
        # a server that ran out of memory), one that keeps exiting stops the demo, and a stop
        # signal stops them all.
        siyu = [sys.executable, "-m", "siyu.cli"]
        # Landing pages and callback URLs are built from the public URL: the demo's own address,
        # unless the operator set one (a tunnel, a proxy).
        env = {"SIYU_PUBLIC_URL": base_url, **os.environ, "SIYU_DATA_DIR": str(settings.DATA_DIR)}
        children = [
            _Child("web server", [*siyu, "serve", "--host", host, "--port", str(port)], env),
            _Child("worker", [*siyu, "worker"], env),
        ]
        if simulate:
            children.append(_Child("simulator", [*siyu, "simulate", *simulate], env, stdout=subprocess.DEVNULL))
        stopping, gave_up = False, None

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            while not stopping and gave_up is None:
                for child in children:
                    code = child.process.poll()
                    if code is None or stopping:
                        continue
                    if not child.may_restart():
                        gave_up = child
                        self.stderr.write(f"The {child.name} exited {RESTARTS} times within {RESTART_WINDOW:g} s (last exit code {code}); stopping the demo.")
                        break
                    self.stderr.write(f"The {child.name} exited (exit code {code}); starting it again.")
                    child.start()
                time.sleep(0.2)
        finally:
            for c in children:
                if c.process.poll() is None:
                    c.process.terminate()
            for c in children:
                try:
                    c.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    c.process.kill()
        if gave_up is not None:
            sys.exit(1)


RESTARTS = 5  # exits within RESTART_WINDOW seconds after which a child is not started again
RESTART_WINDOW = 60.0


class _Child:
    """One supervised process, started again when it exits unless it keeps exiting."""

    def __init__(self, name: str, argv: list[str], env: dict, **popen):
        self.name, self.argv, self.env, self.popen = name, argv, env, popen
        self.exits: list[float] = []
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv, env=self.env, **self.popen)

    def may_restart(self) -> bool:
        now = time.monotonic()
        self.exits = [t for t in self.exits if now - t < RESTART_WINDOW] + [now]
        return len(self.exits) < RESTARTS
