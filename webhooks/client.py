"""The HTTP client deliveries go through: one per process, kept, connecting only where it may.

Kept, because making an httpx client loads the CA certificates (about 30 ms, more than a whole
delivery to a receiver that answers at once), and because its pool keeps the connection to a
receiver open from one delivery to the next.

Where it may: the connection is made to an address that addresses.public_addresses has just
checked, resolved once, here. A name checked and then resolved again by the HTTP client could
point inside by the second time (DNS rebinding). TLS is still verified against the URL's host
name, which httpcore gives the handshake separately. Proxies from the environment are not used:
the connection goes to the receiver itself, whose address is the one checked.
"""

from __future__ import annotations

import os

import httpcore
import httpx
from django.conf import settings

from . import addresses


class CheckedBackend(httpcore.NetworkBackend):
    """httpcore's own sockets, opened to a checked address of the host rather than to its name."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self.inner = inner

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        if settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
            return self.inner.connect_tcp(host, port, timeout, local_address, socket_options)
        failure: Exception | None = None
        for address in addresses.public_addresses(host, port):  # RefusedAddress if any is not public
            try:
                return self.inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error  # the next address of the host, as a browser would try
        raise failure or httpcore.ConnectError(f"{host} has no address")

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise addresses.RefusedAddress("A webhook is sent over TCP.")

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


_client: httpx.Client | None = None
_client_pid: int | None = None


def shared() -> httpx.Client:
    """This process's client (a forked worker process makes its own: a pool's sockets are not shared)."""
    global _client, _client_pid
    if _client is None or _client_pid != os.getpid():
        transport = httpx.HTTPTransport(trust_env=False)
        # httpx does not take a network backend; its pool (httpcore's) does.
        pool = transport._pool
        pool._network_backend = CheckedBackend(pool._network_backend)
        _client = httpx.Client(transport=transport, follow_redirects=False, trust_env=False)
        _client_pid = os.getpid()
    return _client
