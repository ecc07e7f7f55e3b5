"""A small text progress bar for management commands: no dependency, bounded redraws."""

from __future__ import annotations

import time

WIDTH = 30


class ProgressBar:
    """Draws `label  [#####.....]  12,000/24,000 events` on a command's stdout.

    On a terminal the line is redrawn in place at most `per_second` times a second; into a
    file or pipe it is written as a new line at most every few seconds, so logs stay short.
    """

    def __init__(self, out, label: str, total: int, per_second: float = 10) -> None:
        self.out, self.label, self.total = out, label, total
        self.tty = out.isatty()
        self.interval = 1 / per_second if self.tty else 5.0
        self.last_drawn = float("-inf")

    def update(self, done: int) -> None:
        now = time.monotonic()
        if now - self.last_drawn >= self.interval:
            self.last_drawn = now
            self._draw(done)

    def finish(self, done: int) -> None:
        self._draw(done, final=True)

    def render(self, done: int) -> str:
        # The log can grow while it is replayed, so `done` may pass the total counted at the start.
        fraction = min(done / self.total, 1.0) if self.total else 1.0
        filled = round(fraction * WIDTH)
        return f"{self.label}  [{'#' * filled}{'.' * (WIDTH - filled)}]  {done:,}/{max(self.total, done):,} events"

    def _draw(self, done: int, final: bool = False) -> None:
        if self.tty:
            self.out.write("\r" + self.render(done), ending="\n" if final else "")
            self.out.flush()
        else:
            self.out.write(self.render(done))
