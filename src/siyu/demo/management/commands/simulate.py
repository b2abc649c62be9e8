import signal
import threading
import time

import httpx
from django.core.management.base import BaseCommand, CommandError

from siyu.acquisition.selectors import landing_pages
from siyu.sandbox.models import SbCorp
from siyu.sandbox.simulator import Simulator


class Command(BaseCommand):
    help = "Run the sandbox's simulated customers for a sandbox corp: scans, group joins, chats, deletions, with real callbacks."

    def add_arguments(self, parser):
        parser.add_argument("--corp", required=True, help="the sandbox corp's corpid")
        parser.add_argument("--per-minute", type=float, default=12.0, help="behaviours per minute on average")
        parser.add_argument("--steps", type=int, default=None, help="stop after this many behaviours (default: until stopped)")
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument("--wait-for", default="", help="a URL to wait for before starting (the server receiving callbacks)")
        parser.add_argument("--scan-landing-pages", action="store_true", help="also scan the Siyu corp's exact-mode live codes through their landing pages")
        parser.add_argument("--client-url", default="", help="where the sandbox is served: guides' phones open task cards and the chat sidebar there")

    def handle(self, *args, corp, per_minute, steps, seed, wait_for, scan_landing_pages, client_url, **options):
        sb = SbCorp.objects.filter(corpid=corp).first()
        if sb is None:
            raise CommandError(f"No sandbox corp {corp!r}. Sandbox corps: {', '.join(SbCorp.objects.values_list('corpid', flat=True)) or 'none'}.")
        if per_minute <= 0:
            raise CommandError("--per-minute must be above 0.")
        if not sb.callback_url:
            self.stderr.write("This sandbox corp has no callback URL: things happen, but nobody hears about them.")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *a: stop.set())
        signal.signal(signal.SIGINT, lambda *a: stop.set())
        if wait_for and not self._wait(wait_for, stop):
            raise CommandError(f"{wait_for} did not answer within 60 s.")
        self.stdout.write(f"Simulating customers of {sb.name} ({sb.corpid}) at {per_minute:g} behaviours/minute.")
        printed = None
        if scan_landing_pages:
            printed = lambda: landing_pages(sb.corpid)  # noqa: E731 — read afresh: operators add codes while it runs
        done = Simulator(sb, seed=seed, printed=printed, client_url=client_url or None).run(
            per_minute=per_minute, steps=steps, stop=stop, on_step=lambda kind: self.stdout.write(f"  {kind}")
        )
        self.stdout.write("Simulated: " + ", ".join(f"{k} {v}" for k, v in sorted(done.items())))

    @staticmethod
    def _wait(url: str, stop: threading.Event) -> bool:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not stop.is_set():
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            stop.wait(0.5)
        return stop.is_set()
