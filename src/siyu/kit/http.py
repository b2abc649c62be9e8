"""Small HTTP helpers shared by the API and the console."""

from urllib.parse import quote

import httpx
from django.http import HttpResponse

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
