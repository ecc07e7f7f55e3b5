"""Readers of the change feed for tests/integration/gap_harness.py: the hub in this process, and
the SSE route of a real ASGI server, each handing the harness what it was sent."""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import threading
import uuid

import requests

from tests.integration.gap_harness import Seen
from tests.support.polling import wait_until


READ_THREADS = 4


class HubReader:
    """feed.hub's follow() on a Hub of its own, run on an event loop in a thread of this process.

    `read` replaces the hub's reader of the log (the control gives it the naive one)."""

    def __init__(self, name: str = "hub", tail_size: int = 10_000, read=None) -> None:
        self.name = name
        self.tail_size = tail_size
        self.read = read
        self.received: queue.Queue = queue.Queue()
        self.loop = asyncio.new_event_loop()
        # The hub reads on the loop's executor threads, each with its own database connection.
        self.executor = concurrent.futures.ThreadPoolExecutor(READ_THREADS, thread_name_prefix=f"feed-{name}-read")
        self.loop.set_default_executor(self.executor)
        self.thread = threading.Thread(target=self.loop.run_forever, name=f"feed-{name}", daemon=True)
        self.thread.start()
        self.failure: BaseException | None = None
        asyncio.run_coroutine_threadsafe(self._follow(), self.loop)

    async def _follow(self) -> None:
        from feed.hub import Hub, follow

        try:
            hub = Hub(self.tail_size, read=self.read)
            ready = self.loop.create_future()
            self.hub_task = self.loop.create_task(hub.run(ready))
            await ready
            async for item in follow(hub, hub.base, lambda event: True, heartbeat=60):
                for event in item if isinstance(item, list) else []:
                    self.received.put(Seen(event.position, event.stream_type, event.stream_id, event.version))
        except BaseException as error:  # the test reports it
            self.failure = error
            raise

    def poll(self) -> list[Seen]:
        if self.failure is not None:
            raise AssertionError(f"the hub reader failed: {self.failure!r}")
        return _drained(self.received)

    def close(self) -> None:
        async def cancel_the_rest() -> None:  # and wait for them: the hub closes its listening connection
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(cancel_the_rest(), self.loop).result(timeout=15)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        # Each read thread closes its connection: one job each, held at a barrier until all run.
        barrier = threading.Barrier(READ_THREADS)

        def close_connections() -> None:
            from django.db import connections

            connections.close_all()
            barrier.wait(timeout=10)

        for job in [self.executor.submit(close_connections) for _ in range(READ_THREADS)]:
            job.result(timeout=15)
        self.executor.shutdown()


class SseReader:
    """GET /api/events/stream/ of a running feed server, resuming with Last-Event-ID after it
    closes its own connection every `reconnect_every` events (a forced reconnect mid-burst)."""

    name = "sse"

    def __init__(self, base_url: str, token: str, reconnect_every: int = 300) -> None:
        self.url = f"{base_url}/api/events/stream/"
        self.headers = {"Authorization": f"Token {token}", "Accept": "text/event-stream"}
        self.reconnect_every = reconnect_every
        self.received: queue.Queue = queue.Queue()
        self.reconnects = 0
        self.failure: BaseException | None = None
        self.stopping = threading.Event()
        self.connected = threading.Event()
        self.thread = threading.Thread(target=self._run, name="sse-reader", daemon=True)
        self.thread.start()
        wait_until(lambda: self.connected.is_set() or self.failure is not None, timeout=30, what="the SSE stream")

    def _run(self) -> None:
        last_id = None
        try:
            while not self.stopping.is_set():
                headers = dict(self.headers, **({"Last-Event-ID": last_id} if last_id else {}))
                with requests.get(self.url, headers=headers, stream=True, timeout=(5, 30)) as response:
                    assert response.status_code == 200, response.text
                    self.connected.set()
                    count = 0
                    for message in sse_messages(response.iter_lines(chunk_size=None, decode_unicode=True),
                                                comments=True):
                        if "id" in message and message.get("event") != "resume":
                            last_id = message["id"]
                            self.received.put(_seen(message))
                            count += 1
                        if count >= self.reconnect_every or self.stopping.is_set():
                            break
                self.reconnects += 1
        except BaseException as error:
            self.failure = error

    def poll(self) -> list[Seen]:
        if self.failure is not None:
            raise AssertionError(f"the SSE reader failed: {self.failure!r}")
        return _drained(self.received)

    def close(self) -> None:
        self.stopping.set()  # seen at the next message or heartbeat
        self.thread.join(35)


def messages(response: requests.Response):
    """The SSE messages of a streaming response, as dicts of their fields (comments left out)."""
    return sse_messages(response.iter_lines(chunk_size=None, decode_unicode=True))


def sse_messages(lines, comments: bool = False):
    """The SSE messages in these lines (without their line ends), as dicts of their fields; with
    `comments`, each comment line too, as {":": its text} (a heartbeat, say)."""
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if fields:
                yield fields
            fields = {}
        elif line.startswith(":"):
            if comments:
                yield {":": line[1:].strip()}
        else:
            name, _, value = line.partition(":")
            fields[name] = value[1:] if value.startswith(" ") else value


def _seen(message: dict) -> Seen:
    import json

    data = json.loads(message["data"])
    return Seen(int(data["position"].split("-")[1]), data["stream_type"], uuid.UUID(data["stream_id"]),
                data["version"])


def _drained(received: queue.Queue) -> list[Seen]:
    out = []
    while True:
        try:
            out.append(received.get_nowait())
        except queue.Empty:
            return out
