"""Per-network request limits for public pages: a sliding-window counter in Django's cache.

The counters live in the `throttle` cache: process memory by default, which is exact for
`siyu serve` (one process, many threads: the memory cache increments under a lock); a
deployment running several web processes sets SIYU_CACHE_URL to a Redis all of them share.
A limit that must hold across processes and survive restarts (leads stored per network) is
counted in the database instead, under a lock, by the service that owns the rows.
"""

from __future__ import annotations

import ipaddress
import re
import time

from django.core.cache import caches
from django.utils.translation import gettext as _

from .errors import TooManyRequests

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour|day)\s*$")
_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def rate_parse(rate: str) -> tuple[int, int]:
    """ "60/minute" as (60, 60): requests allowed per window of seconds."""
    found = _RATE.match(rate or "")
    if not found:
        raise ValueError(f"a rate is N/second, N/minute, N/hour or N/day, not {rate!r}")
    return int(found.group(1)), _SECONDS[found.group(2)]


def network_of(ip: str | None) -> str:
    """The key a visitor's address counts under: the address for IPv4, its /64 for IPv6 (one
    phone or home is given a whole /64 and may rotate within it)."""
    if not ip:
        return "unknown"
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def network_hit(scope: str, ip: str | None, rate: str) -> None:
    """Count one request of `scope` from the visitor's network; past `rate`, refuse it.

    The window slides: this window's count plus the previous one's, weighted by how much of it
    still overlaps, so a burst across a window's edge is not let through twice.
    """
    limit, seconds = rate_parse(rate)
    cache = caches["throttle"]
    stamp = time.time()
    window, into = divmod(stamp, seconds)
    key = f"{scope}:{network_of(ip)}"
    current, previous = f"{key}:{int(window)}", f"{key}:{int(window) - 1}"
    cache.add(current, 0, timeout=2 * seconds + 1)
    count = cache.incr(current)
    before = cache.get(previous, 0)
    if count + before * (1 - into / seconds) > limit:
        raise TooManyRequests(_("Too many requests from this network; try again in a minute."), code="rate_limited")


def reset() -> None:
    """Forget every count (between tests)."""
    caches["throttle"].clear()
