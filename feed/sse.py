"""The change feed as Server-Sent Events: each message's id is its position token, so a client
that reconnects (an EventSource does so by itself, sending Last-Event-ID) resumes after it."""

from __future__ import annotations

import json
import random
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator

from django.conf import settings

from products.eventstore import Checkpoint

from .hub import Expired, Heartbeat, TooSlow, follow, the_hub
from .sources import LOG, Source

# How long a browser waits before it reconnects after the stream ends: between these, at random,
# so that followers cut off together (a restart) do not all come back in the same instant.
RECONNECT_MS = (1000, 5000)


def message(event: str, data: str, message_id: str | None = None) -> bytes:
    """One SSE message; `data` is JSON text, which has no raw line breaks: one line."""
    head = f"id: {message_id}\n" if message_id is not None else ""
    return f"{head}event: {event}\ndata: {data}\n\n".encode()


def to_json(data) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def comment(text: str) -> bytes:
    return f": {text}\n\n".encode()


async def stream(after: Checkpoint, accept: Callable, shape: Callable[..., tuple[str, str]],
                 source: Source = LOG) -> AsyncIterator[bytes]:
    """The messages after `after`: `shape(item)` gives each accepted item's (event name, JSON
    data), worked out once per item whatever the number of followers (a module-level function).

    A subscriber too slow for the feed gets a `resume` message naming where to resume (also as
    its id, which an EventSource sends back as Last-Event-ID), and the stream ends. One behind
    what the source keeps gets an `expired` message, and the stream ends."""
    retry = random.randint(*RECONNECT_MS)
    yield f"retry: {retry}\n".encode() + comment(f"after {after}")  # the headers go out now
    hub = await the_hub(source)
    async for item in follow(hub, after, accept, settings.FEED_HEARTBEAT_SECONDS):
        if isinstance(item, Heartbeat):
            yield comment("heartbeat")
        elif isinstance(item, TooSlow):
            yield message("resume", to_json(too_slow(item)), str(item.after))
            return
        elif isinstance(item, Expired):
            yield message("expired", to_json(expired(item)))
            return
        else:
            for chunk in _in_writes(_encoded(shape, event) for event in item):
                yield chunk


def too_slow(item: TooSlow) -> dict:
    return {
        "after": str(item.after),
        "detail": "This connection fell behind the feed and is closed; reconnect with this position "
                  "as Last-Event-ID (or ?after=) to go on from it.",
    }


def expired(item: Expired) -> dict:
    return {
        "trimmed_through": str(item.trimmed_through),
        "detail": "This feed no longer keeps the changes after the position this connection resumed from "
                  "(they are older than its retention). Load the catalog again, then follow from now.",
    }


# The most one write to the client holds (a message larger than this goes alone). The server
# waits between writes while the client's socket is full, so a client that reads slowly holds
# the follower back, and it falls behind the tail, rather than its messages piling up here.
WRITE_BYTES = 64 * 1024


def _in_writes(messages) -> Iterator[bytes]:
    """The messages joined into writes of up to WRITE_BYTES: as few writes as that allows."""
    pending, size = [], 0
    for encoded in messages:
        if pending and size + len(encoded) > WRITE_BYTES:
            yield b"".join(pending)
            pending, size = [], 0
        pending.append(encoded)
        size += len(encoded)
    if pending:
        yield b"".join(pending)


_ENCODED_KEPT = 4096
_encoded_messages: OrderedDict[tuple, bytes] = OrderedDict()


def _encoded(shape: Callable[..., tuple[str, str]], event) -> bytes:
    """An event's message, made once for all the followers it goes to (the most recent kept)."""
    key = (shape, event.checkpoint)
    found = _encoded_messages.get(key)
    if found is None:
        name, data = shape(event)
        found = _encoded_messages[key] = message(name, data, str(event.checkpoint))
        if len(_encoded_messages) > _ENCODED_KEPT:
            _encoded_messages.popitem(last=False)
    return found
