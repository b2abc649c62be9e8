import os
import signal
import socket
import sys

from django.core.management.base import BaseCommand, CommandError
from django.core.wsgi import get_wsgi_application
from django.db import connections
from waitress import serve


class Command(BaseCommand):
    help = "Serve the console and API with waitress (a production WSGI server; no reloader)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--threads", type=int, default=8)
        parser.add_argument(
            "--processes",
            type=int,
            default=1,
            help="server processes sharing the port (POSIX): one Python process uses one core at most",
        )

    def handle(self, *args, host, port, threads, processes, **options):
        application = get_wsgi_application()
        self.stdout.write(f"Serving on http://{host}:{port}/" + (f" with {processes} processes" if processes > 1 else ""))
        if processes <= 1:
            serve(application, host=host, port=port, threads=threads, ident="siyu")
            return
        if not hasattr(os, "fork"):
            raise CommandError("--processes needs a POSIX system (fork).")
        listener = socket.create_server((host, port), backlog=1024)
        connections.close_all()  # children open their own
        children = []
        for _ in range(processes):
            pid = os.fork()
            if pid == 0:
                signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
                serve(application, sockets=[listener], threads=threads, ident="siyu")
                os._exit(0)
            children.append(pid)

        def stop(signum, frame):
            for pid in children:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        # Any child's death ends the server: the supervisor (demo, systemd) restarts it whole.
        _pid, status = os.wait()
        stop(None, None)
        for pid in children:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        sys.exit(0 if os.waitstatus_to_exitcode(status) in (0, -signal.SIGTERM) else 1)
