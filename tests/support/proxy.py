"""A TCP proxy the fault tests can cut and restore, standing between our processes and a server.

`cut()` closes every open connection and refuses new ones, as a server that went away does;
`restore()` accepts again. `freeze()` keeps every connection open but holds the bytes, as a
frozen server or a partition behind a pooler does; `hold_replies_after(b"COMMIT")` lets a
connection's request through and holds its answer; `thaw()` delivers what was held. The
machine's PostgreSQL and RabbitMQ are never touched.
"""

from __future__ import annotations

import socket
import threading


class TcpProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._listener: socket.socket | None = None
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thawed = threading.Event()
        self._thawed.set()
        self._replies_flowing: list[threading.Event] = []
        self._reply_trigger: bytes | None = None

    def __enter__(self) -> "TcpProxy":
        self.restore()
        return self

    def __exit__(self, *exc) -> None:
        self._stopped.set()
        self.cut()

    @property
    def url_port(self) -> int:
        return self.port

    def restore(self) -> None:
        """Listen (again) on the same port."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Stop listening and drop every connection: clients see resets, then refusals."""
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread; close() alone does not
            except OSError:
                pass
            listener.close()
        with self._lock:
            connections, self._connections = self._connections, set()
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            connection.close()

    def freeze(self) -> None:
        """Forward nothing, either way, on open and new connections, until thaw()."""
        self._thawed.clear()

    def hold_replies_after(self, trigger: bytes) -> None:
        """On any connection whose client sends `trigger`, forward it but hold every answer after it."""
        self._reply_trigger = trigger

    def thaw(self) -> None:
        """Deliver what was held and forward again."""
        self._reply_trigger = None
        with self._lock:
            held = list(self._replies_flowing)
        for flowing in held:
            flowing.set()
        self._thawed.set()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by cut()
            try:
                server = socket.create_connection(self.target, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            replies_flowing = threading.Event()
            replies_flowing.set()
            with self._lock:
                self._connections |= {client, server}
                self._replies_flowing.append(replies_flowing)
            threading.Thread(target=self._pipe, args=(client, server, replies_flowing), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, None, replies_flowing), daemon=True).start()

    def _pipe(
        self,
        source: socket.socket,
        sink: socket.socket,
        stops_replies: threading.Event | None = None,
        held_by: threading.Event | None = None,
    ) -> None:
        try:
            while data := source.recv(65536):
                self._thawed.wait()
                if held_by is not None:
                    held_by.wait()
                trigger = self._reply_trigger
                if stops_replies is not None and trigger is not None and trigger in data:
                    stops_replies.clear()
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            with self._lock:
                self._connections -= {source, sink}
