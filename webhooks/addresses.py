"""Where a webhook may point: http or https, and by default not at this network's own machines.

A subscription is made in the admin; without this, a URL such as http://127.0.0.1:5432/ or the
cloud's metadata address (169.254.169.254) would let whoever edits subscriptions reach internal
services from the worker. Loopback, private, link-local, reserved and multicast addresses are
refused unless WEBHOOK_ALLOW_PRIVATE_ADDRESSES is on. A URL is checked when it is saved, and its
host again at every connection a delivery makes (webhooks/client.py), to the very address the
connection then goes to: a name that later points inside is refused then too.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

from django.conf import settings


class RefusedAddress(ValueError):
    """The URL is not one a webhook may be sent to; the message says why."""


def check(url: str) -> None:
    """RefusedAddress unless `url` is http(s) and every address its host resolves to is public."""
    parts = check_scheme(url)
    if not settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        public_addresses(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))


def check_scheme(url: str) -> SplitResult:
    """RefusedAddress unless `url` is http(s) with a host; the URL's parts."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedAddress("A webhook URL is http:// or https:// with a host.")
    return parts


def public_addresses(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, if every one of them is public; else RefusedAddress."""
    try:
        found = [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
    except (socket.gaierror, UnicodeError) as error:
        raise RefusedAddress(f"{host} does not resolve: {error}") from None
    for address in found:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not ip.is_global or ip.is_multicast:
            raise RefusedAddress(f"{host} is {ip}, an address of this network (loopback, private, "
                                 "link-local or reserved); set WEBHOOK_ALLOW_PRIVATE_ADDRESSES to allow it.")
    return list(dict.fromkeys(found))
