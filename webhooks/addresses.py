"""Where a webhook may point: http or https, and by default not at this network's own machines.

A subscription is made in the admin; without this, a URL such as http://127.0.0.1:5432/ or the
cloud's metadata address (169.254.169.254) would let whoever edits subscriptions reach internal
services from the worker. Loopback, private, link-local, reserved and multicast addresses are
refused unless WEBHOOK_ALLOW_PRIVATE_ADDRESSES is on; the host is resolved again before every
delivery, so a name that later points inside is refused then too.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings


class RefusedAddress(ValueError):
    """The URL is not one a webhook may be sent to; the message says why."""


def check(url: str) -> None:
    """RefusedAddress unless `url` is http(s) and every address its host resolves to is public."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RefusedAddress("A webhook URL is http:// or https:// with a host.")
    if settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        return
    try:
        found = {info[4][0] for info in socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)}
    except (socket.gaierror, UnicodeError) as error:
        raise RefusedAddress(f"{parts.hostname} does not resolve: {error}") from None
    for address in found:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not ip.is_global or ip.is_multicast:
            raise RefusedAddress(f"{parts.hostname} is {ip}, an address of this network (loopback, private, "
                                 "link-local or reserved); set WEBHOOK_ALLOW_PRIVATE_ADDRESSES to allow it.")
