"""The Webhook-Signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>`.

The timestamp is signed with the body, so a receiver can refuse a replay (an old `t`) as well as
a forgery. To verify (docs/CONSUMERS.md shows it in five lines): split the header, compute the
HMAC of `f"{t}.".encode() + raw_body` with the subscription's secret, compare in constant time,
and check that `t` is recent.
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "Webhook-Signature"


def signature(secret: str, body: bytes, at: int | None = None) -> str:
    t = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: str, body: bytes, header: str, tolerance: int = 300, now: int | None = None) -> bool:
    """What a receiver does: the signature matches the body, and it was made within `tolerance` s."""
    parts = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    fresh = abs((int(time.time()) if now is None else now) - t) <= tolerance
    return fresh and hmac.compare_digest(expected, parts.get("v1", ""))
