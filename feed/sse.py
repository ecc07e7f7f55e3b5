"""The change feed as Server-Sent Events: each message's id is its position token, so a client
that reconnects (an EventSource does so by itself, sending Last-Event-ID) resumes after it."""

from __future__ import annotations

import json
import random
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable

from django.conf import settings

from products.eventstore import Checkpoint, RecordedEvent

from .hub import Heartbeat, TooSlow, follow, the_hub

# How long a browser waits before it reconnects after the stream ends: between these, at random,
# so that followers cut off together (a restart) do not all come back in the same instant.
RECONNECT_MS = (1000, 5000)


def message(event: str, data: dict, message_id: str | None = None) -> bytes:
    """One SSE message. JSON text has no raw line breaks, so `data` is one line."""
    head = f"id: {message_id}\n" if message_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def comment(text: str) -> bytes:
    return f": {text}\n\n".encode()


async def stream(after: Checkpoint, accept: Callable[[RecordedEvent], bool],
                 shape: Callable[[RecordedEvent], tuple[str, dict]]) -> AsyncIterator[bytes]:
    """The messages after `after`: `shape(event)` gives each accepted event's (event name, data),
    worked out once per event whatever the number of followers (a module-level function).

    A subscriber too slow for the feed gets a `resume` message naming where to resume (also as
    its id, which an EventSource sends back as Last-Event-ID), and the stream ends."""
    retry = random.randint(*RECONNECT_MS)
    yield f"retry: {retry}\n".encode() + comment(f"after {after}")  # the headers go out now
    hub = await the_hub()
    async for item in follow(hub, after, accept, settings.FEED_HEARTBEAT_SECONDS):
        if isinstance(item, Heartbeat):
            yield comment("heartbeat")
        elif isinstance(item, TooSlow):
            yield message("resume", {
                "after": str(item.after),
                "detail": "This connection fell behind the feed and is closed; reconnect with this position "
                          "as Last-Event-ID (or ?after=) to go on from it.",
            }, str(item.after))
            return
        else:
            yield b"".join(_encoded(shape, event) for event in item)


_ENCODED_KEPT = 4096
_encoded_messages: OrderedDict[tuple, bytes] = OrderedDict()


def _encoded(shape: Callable[[RecordedEvent], tuple[str, dict]], event: RecordedEvent) -> bytes:
    """An event's message, made once for all the followers it goes to (the most recent kept)."""
    key = (shape, event.checkpoint)
    found = _encoded_messages.get(key)
    if found is None:
        name, data = shape(event)
        found = _encoded_messages[key] = message(name, data, str(event.checkpoint))
        if len(_encoded_messages) > _ENCODED_KEPT:
            _encoded_messages.popitem(last=False)
    return found
