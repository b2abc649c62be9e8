"""The visitor's address, as every per-network limit (landing pages, lead forms, logins) sees it."""

import pytest
from django.test import RequestFactory

from siyu.kit.http import client_ip
from siyu.kit.throttle import network_of, rate_parse

REQUESTS = RequestFactory()


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (0, None, "10.0.0.1"),
        (0, "203.0.113.5", "10.0.0.1"),  # nobody configured a proxy: the header is ignored
        (1, "203.0.113.5", "203.0.113.5"),
        (1, "1.1.1.1, 203.0.113.5", "203.0.113.5"),  # the left part is the visitor's own writing
        (2, "203.0.113.5, 198.51.100.7", "203.0.113.5"),  # a CDN, then the load balancer
        (2, "198.51.100.7", "10.0.0.1"),  # fewer hops than configured: not through the proxies
    ],
)
def test_client_ip(settings, proxies, forwarded, expected):
    settings.SIYU_PROXY_COUNT = proxies
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    assert client_ip(REQUESTS.get("/", REMOTE_ADDR="10.0.0.1", **extra)) == expected


def test_networks_and_rates():
    assert network_of("203.0.113.5") == "203.0.113.5"
    assert network_of("2001:db8:1:2:3:4:5:6") == network_of("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"
    assert network_of("::ffff:203.0.113.5") == "203.0.113.5"
    assert network_of("not an address") == network_of(None) == "unknown"
    assert rate_parse("60/minute") == (60, 60) and rate_parse(" 5 / hour ") == (5, 3600)
    with pytest.raises(ValueError, match="N/minute"):
        rate_parse("60 per minute")
