"""One follower of the log per process, shared by every subscriber of the change feed.

(And one of the catalog's product changes, shared by every subscriber of those: a hub follows
a source, feed/sources.py. What follows says "the log" and "events" for either.)

Subscribers cost no database connection and no query each. The hub is told that events were
stored (PostgreSQL's LISTEN, see feed/signals.py), reads what is new once, with the horizon
reader the projections use (products.eventstore.read_all: an event that commits late, behind
one still running, is read after it commits and never passed over), and keeps the most recent
FEED_TAIL_EVENTS in memory. Every subscriber walks that shared tail from its own position.

A subscriber that starts behind the tail (it resumes from an older position) reads the log
itself, a page at a time, until it reaches the tail. A subscriber that was following the tail
and falls behind it (it reads more slowly than the catalog changes) is told where to resume
and let go: its memory is never more than one page, whatever the client does.
"""

from __future__ import annotations

import asyncio
import bisect
import contextvars
import functools
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from django.conf import settings
from django.db import InterfaceError, OperationalError

from products.eventstore import Checkpoint

from . import signals
from .sources import LOG, Source, on_a_read_thread

log = logging.getLogger(__name__)

PAGE = 500  # events read from the log at once, by the hub or by a subscriber catching up
UNSETTLED_FIRST_WAIT = 0.002  # seconds before looking again for an event stored but not settled


@dataclass(frozen=True)
class Heartbeat:
    """Nothing to send for FEED_HEARTBEAT_SECONDS: a sign of life for the client and proxies."""


@dataclass(frozen=True)
class TooSlow:
    """The subscriber fell behind the tail: it must resume from `after`, the last place it had."""

    after: Checkpoint


@dataclass(frozen=True)
class Expired:
    """The subscriber is behind what its source keeps (retention removed items it has not had)."""

    trimmed_through: Checkpoint


class Hub:
    """The recent tail of a source (the log, by default): every item after `base`, in log order."""

    def __init__(self, tail_size: int, source: Source = LOG, read=None) -> None:
        self.tail_size = tail_size
        self.source = source
        # On worker threads, each with its own connection: a handful for the process, none per subscriber.
        self.read = read or on_a_read_thread(source.read)  # `read`: an async reader of the same items
        self._last = on_a_read_thread(source.last)
        self._unsettled_after = on_a_read_thread(source.unsettled)
        self.trimmed_through = on_a_read_thread(source.trimmed_through)
        self.base = Checkpoint.START
        self._events: list = []
        self._keys: list[tuple[int, int]] = []
        self._changed = asyncio.Event()
        self.stopped = False  # its task ended: followers end too, and reconnect to a new hub

    @property
    def head(self) -> Checkpoint:
        return self._events[-1].checkpoint if self._events else self.base

    def after(self, position: Checkpoint, limit: int = PAGE) -> list | None:
        """Up to `limit` events after `position` from the tail; None if `position` is behind it."""
        if position < self.base:
            return None
        start = bisect.bisect_right(self._keys, (position.tx, position.position))
        return self._events[start:start + limit]

    def stop(self) -> None:
        self.stopped = True
        self._changed.set()

    def next_change(self) -> asyncio.Event:
        """Set when events after the present head are in the tail."""
        return self._changed

    def add(self, events: list) -> None:
        if not events:
            return
        kept = len(self._events)
        self._events.extend(events)
        self._keys.extend((event.tx, event.position) for event in events)
        # Only what was there before: a subscriber waiting at the head gets the whole new batch.
        excess = min(len(self._events) - self.tail_size, kept)
        if excess > self.tail_size // 4:  # trimmed in steps: deleting from the front moves the rest
            self.base = self._events[excess - 1].checkpoint
            del self._events[:excess]
            del self._keys[:excess]
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def run(self, started: asyncio.Future) -> None:
        """Follow the log for as long as the process serves the feed."""
        self.base = await self._last()
        started.set_result(None)
        poll = settings.FEED_POLL_SECONDS
        async for _ in signals.new_events(poll, self.source.channel):
            await self._read_new()
            # An event whose notification came while an older transaction was still running (a
            # projection's, say) is not below the horizon yet, and that transaction's end notifies
            # nobody: look again soon, less and less often, until it is read or the poll takes over.
            wait = UNSETTLED_FIRST_WAIT
            while wait < poll and await self._unsettled():
                await asyncio.sleep(wait)
                await self._read_new()
                wait *= 2

    async def _unsettled(self) -> bool:
        try:
            return await self._unsettled_after(self.head)
        except (OperationalError, InterfaceError):
            return False  # the poll looks again

    async def _read_new(self) -> None:
        while True:
            try:
                events = await self.read(self.head, PAGE)
            except (OperationalError, InterfaceError):
                log.warning("The change feed could not read the log; it tries again.", exc_info=True)
                return
            self.add(events)
            if len(events) < PAGE:
                return


async def follow(hub: Hub, after: Checkpoint, accept, heartbeat: float
                 ) -> AsyncIterator[list | Heartbeat | TooSlow | Expired]:
    """The items after `after` that `accept` takes, in log order, for as long as the caller
    reads, as many at a time as there are (one write to the client for all of them); a Heartbeat
    when nothing was given for `heartbeat` seconds; TooSlow (and the end) when the subscriber
    fell behind the tail it was following; Expired (and the end) when it is behind what the
    source keeps."""
    position, following, last_sent = after, False, time.monotonic()
    while not hub.stopped:
        change = hub.next_change()  # taken before looking, so an event added meanwhile wakes us
        events = hub.after(position)
        if events is None:
            if following:
                yield TooSlow(position)
                return
            events = await hub.read(position, PAGE)  # behind the tail: from the source itself
            trimmed = await hub.trimmed_through()  # after the read: a trim before it shows here
            if position < trimmed:
                yield Expired(trimmed)
                return
        else:
            following = True
        if events:
            position = events[-1].checkpoint
            taken = [event for event in events if accept(event)]
            if taken:
                yield taken
                last_sent = time.monotonic()
            elif time.monotonic() - last_sent >= heartbeat:  # many events, none of them taken
                yield Heartbeat()
                last_sent = time.monotonic()
            continue
        try:
            await asyncio.wait_for(change.wait(), max(0.0, heartbeat - (time.monotonic() - last_sent)))
        except TimeoutError:
            yield Heartbeat()
            last_sent = time.monotonic()


_running: dict[str, tuple[asyncio.AbstractEventLoop, Hub, asyncio.Future]] = {}


async def the_hub(source: Source = LOG) -> Hub:
    """This process's hub of `source`, started on first use on the running event loop."""
    loop = asyncio.get_running_loop()
    running = _running.get(source.name)
    if running is None or running[0] is not loop:
        hub, ready = Hub(settings.FEED_TAIL_EVENTS, source), loop.create_future()
        # A context of its own: not the first subscriber's request (its ids, its deadline).
        task = loop.create_task(hub.run(ready), name=f"change-feed-hub-{source.name}", context=contextvars.Context())
        task.add_done_callback(functools.partial(_stopped, source.name, hub, ready))
        running = _running[source.name] = (loop, hub, ready)
    _, hub, ready = running
    await asyncio.shield(ready)
    return hub


def _stopped(name: str, hub: Hub, ready: asyncio.Future, task: asyncio.Task) -> None:
    """A hub that stops (it cannot start, or it fails) is replaced at the next subscriber; its
    followers' streams end, so that their clients reconnect to that one."""
    hub.stop()
    error = None if task.cancelled() else task.exception()
    if error is not None:
        log.error("The change feed's hub stopped; the next subscriber starts another.", exc_info=error)
    if not ready.done():
        ready.set_exception(error or RuntimeError("The change feed's hub stopped."))
    if name in _running and _running[name][2] is ready:
        del _running[name]
