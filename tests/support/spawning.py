"""Processes of ours on this machine: a free port to give one, started in a process group of its
own, stopped with its children and nothing else."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def free_port() -> int:
    """A loopback port nothing listens on now (the OS's pick)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(args: list[str], env: dict[str, str], log_path: Path, cwd: Path) -> subprocess.Popen:
    """Start a process in its own process group, its output appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(args, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen, timeout: float = 20) -> None:
    """Stop a process we started, and its children (its own process group): SIGTERM, then SIGKILL."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout)


@contextmanager
def started(args: list[str], env: dict[str, str], log_path: Path, cwd: Path) -> Iterator[subprocess.Popen]:
    """Run a process of ours for the duration of the block; stop it (and only it) afterwards."""
    process = start(args, env, log_path, cwd)
    try:
        yield process
    finally:
        stop(process)
