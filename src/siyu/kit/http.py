"""Small HTTP helpers shared by the API and the console."""

from urllib.parse import quote

import httpx
from django.conf import settings
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler
from django.db import close_old_connections
from django.http import HttpResponse
from ipware import get_client_ip

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def attachment(body: bytes, content_type: str, filename: str) -> HttpResponse:
    """A download; non-ASCII names (Chinese channel names) go in RFC 6266's filename*."""
    response = HttpResponse(body, content_type=content_type)
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "")
    response["Content-Disposition"] = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
    return response


_shared: httpx.Client | None = None


def shared_http(timeout: float = 10.0) -> httpx.Client:
    """One pooled httpx client per process. Building a client loads the CA bundle (~40 ms) and
    opens fresh connections, which would cost more than most WeCom calls themselves."""
    global _shared
    if _shared is None:
        _shared = httpx.Client(timeout=timeout, limits=httpx.Limits(max_connections=32, max_keepalive_connections=16))
    return _shared


def client_ip(request) -> str | None:
    """The visitor's address: the socket's peer, or, behind SIYU_PROXY_COUNT reverse proxies that
    each append to X-Forwarded-For, the address the outermost proxy saw.

    Without configured proxies the header is ignored: anyone can send it, and trusting it would
    let one network pose as many to every per-network limit.
    """
    proxies = settings.SIYU_PROXY_COUNT
    if proxies <= 0:
        return request.META.get("REMOTE_ADDR") or None
    # ipware counts the proxies listed in the header, the nearest one being the socket's peer.
    # A header with fewer hops than configured did not come through the proxies: the peer it is.
    ip, _routable = get_client_ip(request, proxy_count=proxies - 1, request_header_order=("HTTP_X_FORWARDED_FOR",), strict=False)
    return ip or request.META.get("REMOTE_ADDR") or None


def in_process_app():
    """This Django as a WSGI app for httpx (tests and benchmarks talking to the sandbox without a
    server). It keeps the caller's database connection open, as Django's test client does (a
    finished request would otherwise close it); nested calls (a sandbox endpoint sending a
    callback to Siyu) leave the signals to the outermost one."""
    handler = WSGIHandler()

    def app(environ, start_response):
        started = signals.request_started.disconnect(close_old_connections)
        finished = signals.request_finished.disconnect(close_old_connections)
        try:
            result = handler(environ, start_response)
            body = b"".join(result)
            result.close()
            return [body]
        finally:
            if started:
                signals.request_started.connect(close_old_connections)
            if finished:
                signals.request_finished.connect(close_old_connections)

    return app
