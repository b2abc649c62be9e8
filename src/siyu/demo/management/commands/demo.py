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
        # supervises them, and stops both when either dies or when it is told to stop.
        siyu = [sys.executable, "-m", "siyu.cli"]
        # Landing pages and callback URLs are built from the public URL: the demo's own address,
        # unless the operator set one (a tunnel, a proxy).
        env = {"SIYU_PUBLIC_URL": base_url, **os.environ, "SIYU_DATA_DIR": str(settings.DATA_DIR)}
        children = [
            subprocess.Popen([*siyu, "serve", "--host", host, "--port", str(port)], env=env),
            subprocess.Popen([*siyu, "worker"], env=env),
        ]
        if simulate:
            children.append(subprocess.Popen([*siyu, "simulate", *simulate], env=env, stdout=subprocess.DEVNULL))
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            while not stopping and all(c.poll() is None for c in children):
                time.sleep(0.2)
        finally:
            for c in children:
                if c.poll() is None:
                    c.terminate()
            for c in children:
                try:
                    c.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    c.kill()
        failed = [c for c in children if c.returncode not in (0, -signal.SIGTERM, None)]
        if failed and not stopping:
            sys.exit(1)
