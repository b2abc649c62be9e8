"""Small HTTP helpers shared by the API and the console, and the process's HTTP clients."""

import http.client
import json
import select
import socket
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


class _Kept:
    """One kept HTTP/1.1 connection of JsonHttp's: its socket and the buffered reader of its answers."""

    def __init__(self, sock: socket.socket):
        self.sock, self.fp = sock, sock.makefile("rb")

    def close(self) -> None:
        self.fp.close()
        self.sock.close()


def _header_lines(fp) -> dict[str, str]:
    """An answer's headers up to the empty line, names in lower case (the last of a repeated one)."""
    headers = {}
    for _ in range(100):
        line = fp.readline(65537)
        if line in (b"\r\n", b"\n", b""):
            return headers
        name, colon, value = line.decode("latin-1").partition(":")
        if not colon:
            raise http.client.HTTPException(f"not a header line: {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    raise http.client.HTTPException("more than 100 header lines")


def _read_answer(fp) -> tuple[bytes, bool]:
    """(body, whether the server closes the connection after it) of one answer, whatever its
    status: WeCom says what went wrong in the JSON."""
    while True:
        line = fp.readline(65537)
        if not line:
            raise http.client.RemoteDisconnected("the server closed the connection without an answer")
        version, _, rest = line.decode("latin-1").partition(" ")
        if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
            raise http.client.BadStatusLine(line[:80].decode("latin-1", "replace"))
        status, headers = int(rest[:3]), _header_lines(fp)
        if not 100 <= status < 200:  # an interim answer (100 Continue) is followed by the real one
            break
    connection = headers.get("connection", "").lower()
    closes = connection == "close" or (version == "HTTP/1.0" and connection != "keep-alive")
    if status in (204, 304):
        return b"", closes
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts = []
        while True:
            size = int(fp.readline(1026).split(b";")[0].strip() or b"x", 16)  # a size line that is not hex raises ValueError
            if size == 0:
                _header_lines(fp)  # trailers
                return b"".join(parts), closes
            parts.append(fp.read(size))
            if len(parts[-1]) < size or fp.read(2) != b"\r\n":
                raise http.client.IncompleteRead(b"".join(parts))
    if "content-length" in headers:
        length = int(headers["content-length"])
        body = fp.read(length)
        if len(body) < length:
            raise http.client.IncompleteRead(body, length - len(body))
        return body, closes
    return fp.read(), True  # no length: the body ends when the connection does


class JsonHttp:
    """JSON calls (WeCom's API) as plain HTTP/1.1 on sockets each thread keeps open.

    A WeCom call through httpx cost about 0.5 ms of CPU on this project's machine, 0.15 ms through
    the standard library's http.client on a kept connection (a local server, 2,000 calls each):
    their URL parsing and request models cost more than the call. http.client in turn parses an
    answer's headers through the `email` package, which was a sixth of a worker's handling of an
    event; here the request is written and the answer read directly (status line, headers, a
    Content-Length, chunked or until-close body). Callbacks make three calls an add, so this is
    the hot path's. httpx stays for everything else, and for these calls too when the environment
    names a proxy (which httpx honours) or a test routes calls to an in-process app.
    """

    def __init__(self) -> None:
        self._local = threading.local()  # a connection serves one call at a time
        self._tls: ssl.SSLContext | None = None
        self.proxied = bool(getproxies())

    def _connection(self, scheme: str, host: str, port: int, timeout: float) -> _Kept:
        pool = self._local.__dict__.setdefault("pool", {})
        conn = pool.get((scheme, host, port))
        # A kept connection with something to read while idle was closed by the server (or holds
        # garbage): a request sent on it would fail. A new one is opened instead.
        if conn is not None and select.select([conn.sock], [], [], 0)[0]:
            conn.close()
            conn = None
        if conn is None:
            sock = socket.create_connection((host, port), timeout=timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                if self._tls is None:
                    # httpx's own bundle (certifi), so both clients trust the same roots.
                    self._tls = ssl.create_default_context(cafile=certifi.where())
                try:
                    sock = self._tls.wrap_socket(sock, server_hostname=host)
                except BaseException:
                    sock.close()
                    raise
            conn = pool[(scheme, host, port)] = _Kept(sock)
        conn.sock.settimeout(timeout)
        return conn

    def request(self, method: str, url: str, *, params: dict | None = None, json_body: dict | None = None, timeout: float = 10.0) -> dict:
        """The answer's JSON, whatever its status (WeCom says what went wrong in errcode). Raises
        HttpFailure when no answer came, ValueError when it is not JSON."""
        parts = urlsplit(url)
        target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        if params:
            target += ("&" if parts.query else "?") + urlencode(params)
        head = f"{method} {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nUser-Agent: siyu\r\nAccept: application/json\r\n"
        body = b""
        if json_body is not None:
            body = json.dumps(json_body, ensure_ascii=False, separators=(",", ":")).encode()
            head += "Content-Type: application/json\r\n"
        if body or method in ("POST", "PUT", "PATCH"):
            head += f"Content-Length: {len(body)}\r\n"
        scheme = parts.scheme or "http"
        key = (scheme, parts.hostname or "", parts.port or (443 if scheme == "https" else 80))
        conn = None
        try:
            conn = self._connection(*key, timeout)
            conn.sock.sendall(head.encode("latin-1") + b"\r\n" + body)
            content, closes = _read_answer(conn.fp)
        except (OSError, ValueError, http.client.HTTPException) as exc:
            if conn is not None:
                self._forget(key, conn)
            raise HttpFailure(f"{type(exc).__name__}: {exc}") from exc
        if closes:
            self._forget(key, conn)
        return json.loads(content)

    def _forget(self, key: tuple, conn: _Kept) -> None:
        conn.close()
        self._local.pool.pop(key, None)


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
