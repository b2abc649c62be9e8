import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from siyu.demo.seed import DEMO_PASSWORD, DEMO_USERS, seed_demo


class Command(BaseCommand):
    help = "Migrate, load the demo corp (once), then run the web console/API and a task worker until stopped."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--customers", type=int, default=3000, help="demo customers to create on the first run")
        parser.add_argument("--no-serve", action="store_true", help="prepare the data, then exit")

    def handle(self, *args, host, port, customers, no_serve, **options):
        self.stdout.write(f"Data directory: {settings.DATA_DIR}")
        call_command("migrate", interactive=False, verbosity=0)
        started = time.monotonic()
        corp, created = seed_demo(customers=customers)
        if created:
            self.stdout.write(f"Created the demo corp {corp.name} with {customers} customers in {time.monotonic() - started:.1f}s.")
        else:
            self.stdout.write(f"The demo corp {corp.name} is already here; nothing added.")
        self.stdout.write(self.style.SUCCESS(f"\nConsole:  http://{host}:{port}/"))
        self.stdout.write(f"API docs: http://{host}:{port}/api/docs")
        for username, role in DEMO_USERS:
            self.stdout.write(f"Log in:   {username} / {DEMO_PASSWORD}   ({role})")
        if no_serve:
            return
        self._run_children(host, port)

    def _run_children(self, host, port):
        # The server and the worker are separate processes, as in production; this one only
        # supervises them, and stops both when either dies or when it is told to stop.
        siyu = [sys.executable, "-m", "siyu.cli"]
        env = {**os.environ, "SIYU_DATA_DIR": str(settings.DATA_DIR)}
        children = [
            subprocess.Popen([*siyu, "serve", "--host", host, "--port", str(port)], env=env),
            subprocess.Popen([*siyu, "worker"], env=env),
        ]
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
