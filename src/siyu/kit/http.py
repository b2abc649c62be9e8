"""Small HTTP helpers shared by the API and the console, and the process's HTTP clients."""

import http.client
import json
import select
import ssl
import threading
from urllib.parse import quote, urlencode, urlsplit
from urllib.request import getproxies

import certifi
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
_own: httpx.Client | None = None  # the one shared_http made, as opposed to one a test put in its place


def shared_http(timeout: float = 10.0) -> httpx.Client:
    """One pooled httpx client per process. Building a client loads the CA bundle (~40 ms) and
    opens fresh connections, which would cost more than most WeCom calls themselves.

    Tests and benchmarks that answer the process's calls from an in-process app put their own
    client in `_shared`; `routed_http` tells the JSON calls to go through it too."""
    global _shared, _own
    if _shared is None:
        _shared = _own = httpx.Client(timeout=timeout, limits=httpx.Limits(max_connections=32, max_keepalive_connections=16))
    return _shared


def routed_http() -> httpx.Client | None:
    """The client a test or benchmark put in place of the process's own, if one did."""
    return _shared if _shared is not None and _shared is not _own else None


class HttpFailure(Exception):
    """No answer: the connection failed, was refused, dropped or timed out."""


class JsonHttp:
    """JSON calls (WeCom's API) on the standard library's http.client, over connections each
    thread keeps open.

    A WeCom call through httpx cost about 0.5 ms of CPU on this project's machine, 0.15 ms through
    http.client on a kept connection (a local server, 2,000 calls each): its URL parsing and
    request models, and httpcore's, cost more than the call. Callbacks make three calls an add,
    so this is the hot path's. httpx stays for everything else, and for these calls too when the
    environment names a proxy (which httpx honours) or a test routes calls to an in-process app.
    """

    def __init__(self) -> None:
        self._local = threading.local()  # http.client's connections are not thread-safe
        self._tls: ssl.SSLContext | None = None
        self.proxied = bool(getproxies())

    def _connection(self, scheme: str, netloc: str, timeout: float) -> http.client.HTTPConnection:
        pool = self._local.__dict__.setdefault("pool", {})
        conn = pool.get((scheme, netloc))
        # A kept connection with something to read while idle was closed by the server (or holds
        # garbage): a request sent on it would fail. A new one is opened instead.
        if conn is not None and (conn.sock is None or select.select([conn.sock], [], [], 0)[0]):
            conn.close()
            conn = None
        if conn is None:
            if scheme == "https":
                if self._tls is None:
                    # httpx's own bundle (certifi), so both clients trust the same roots.
                    self._tls = ssl.create_default_context(cafile=certifi.where())
                conn = http.client.HTTPSConnection(netloc, timeout=timeout, context=self._tls)
            else:
                conn = http.client.HTTPConnection(netloc, timeout=timeout)
            pool[(scheme, netloc)] = conn
        elif conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn

    def request(self, method: str, url: str, *, params: dict | None = None, json_body: dict | None = None, timeout: float = 10.0) -> dict:
        """The answer's JSON, whatever its status (WeCom says what went wrong in errcode). Raises
        HttpFailure when no answer came, ValueError when it is not JSON."""
        parts = urlsplit(url)
        target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        if params:
            target += ("&" if parts.query else "?") + urlencode(params)
        headers = {"User-Agent": "siyu", "Accept": "application/json"}
        body = None
        if json_body is not None:
            body = json.dumps(json_body, ensure_ascii=False, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        conn = self._connection(parts.scheme, parts.netloc, timeout)
        try:
            conn.request(method, target, body=body, headers=headers)
            response = conn.getresponse()
            content = response.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise HttpFailure(f"{type(exc).__name__}: {exc}") from exc
        if response.will_close:
            conn.close()
        return json.loads(content)


_json: JsonHttp | None = None


def json_http() -> JsonHttp:
    global _json
    if _json is None:
        _json = JsonHttp()
    return _json


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
