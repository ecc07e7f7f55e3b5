"""Run the whole service in one terminal: the web server (with the change feed), a Celery worker and beat.

`make run` uses it on the embedded default. Ctrl-C (or any one process exiting) stops all
three. In production, run each as its own service instead (see docker-compose.yml).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time


def commands(host: str, port: str) -> dict[str, list[str]]:
    python = sys.executable
    return {
        # ASGI, for the change feed's streams (feed/) beside everything else; reloads on code changes.
        "web": [python, "-m", "uvicorn", "project.asgi:application", "--host", host, "--port", port, "--reload",
                "--timeout-graceful-shutdown", "3"],
        "worker": [python, "-m", "celery", "-A", "project", "worker", "--loglevel", "INFO", "--concurrency", "2"],
        "beat": [python, "-m", "celery", "-A", "project", "beat", "--loglevel", "INFO"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="8000")
    args = parser.parse_args()

    processes = {
        name: subprocess.Popen(command, start_new_session=True)
        for name, command in commands(args.host, args.port).items()
    }
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while not stopping and all(p.poll() is None for p in processes.values()):
            time.sleep(0.2)
    finally:
        # Each main process only: it stops its own children. The worker's pool children, sent
        # SIGTERM too, would die under it mid-shutdown, and it logs each as an ERROR. uvicorn's
        # reloader stops the server it runs when it exits. Then whatever is left of each group,
        # past the deadline or orphaned, is killed.
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _kill_group(process.pid)
            process.wait()
    exited = [name for name, p in processes.items() if p.returncode not in (0, -signal.SIGTERM, None)]
    return 1 if exited and not stopping else 0


def _kill_group(group: int) -> None:
    try:
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:  # nothing left in it
        pass


if __name__ == "__main__":
    sys.exit(main())
