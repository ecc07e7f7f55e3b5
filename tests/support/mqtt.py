"""A Mosquitto of the test's own, on a port of its own: a test that stops it stops no one else's."""

from __future__ import annotations

import getpass
import json
import shutil
import socket
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import paho.mqtt.client as mqtt

from . import spawning
from .polling import wait_until
from .processes import ARTIFACTS, ROOT
from .spawning import free_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


class Broker:
    """A Mosquitto process that keeps its retained messages on disk across a stop and a start."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.config = directory / "mosquitto.conf"
        self.config.write_text(
            # As this user: started as root, Mosquitto would switch to its own and could not save here.
            f"user {getpass.getuser()}\nlistener {self.port} 127.0.0.1\nallow_anonymous true\n"
            f"persistence true\npersistence_location {directory}/\nautosave_interval 1\n"
        )
        self.process = None

    def start(self) -> None:
        self.process = spawning.start([MOSQUITTO, "-c", str(self.config)], {}, ARTIFACTS / f"mosquitto-{self.port}.log", ROOT)
        wait_until(self.answers, timeout=15, what=f"Mosquitto on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            spawning.stop(self.process)  # SIGTERM: it saves its retained messages first
            self.process = None

    def answers(self) -> bool:
        assert self.process is not None and self.process.poll() is None, \
            f"Mosquitto exited; see test-artifacts/mosquitto-{self.port}.log"
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False


@contextmanager
def mosquitto() -> Iterator[Broker]:
    with tempfile.TemporaryDirectory(prefix="mosquitto-") as directory:
        broker = Broker(Path(directory))
        broker.start()
        try:
            yield broker
        finally:
            broker.stop()


class Subscriber:
    """An MQTT client that keeps every message it receives on `topic`, retained ones included."""

    def __init__(self, broker: Broker, topic: str) -> None:
        self.received: list[tuple[str, dict, bool]] = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        subscribed = threading.Event()
        self.client.on_connect = lambda client, *args: client.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        assert subscribed.wait(10), f"could not subscribe to {topic}"

    def _on_message(self, client, userdata, message) -> None:
        with self.lock:
            self.received.append((message.topic, json.loads(message.payload), bool(message.retain)))

    def messages(self) -> list[tuple[str, dict, bool]]:
        with self.lock:
            return list(self.received)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
