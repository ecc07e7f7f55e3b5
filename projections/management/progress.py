"""A small text progress bar for management commands: no dependency, bounded redraws."""

from __future__ import annotations

import time

WIDTH = 30


class ProgressBar:
    """Draws `label  [#####.....]  12,000/24,000 events  3,000 events/s  ETA 4 s` on a command's stdout.

    The rate counts from the bar's start (`initial`: what was done before it, a resumed rebuild's
    events); the ETA assumes the rate holds. On a terminal the line is redrawn in place at most `per_second` times a second; into a
    file or pipe it is written as a new line at most every few seconds, so logs stay short.
    """

    def __init__(self, out, label: str, total: int, per_second: float = 10, initial: int = 0) -> None:
        self.out, self.label, self.total, self.initial = out, label, total, initial
        self.started = time.monotonic()
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

    def render(self, done: int, elapsed: float | None = None) -> str:
        # The log can grow while it is replayed, so `done` may pass the total counted at the start.
        fraction = min(done / self.total, 1.0) if self.total else 1.0
        filled = round(fraction * WIDTH)
        line = f"{self.label}  [{'#' * filled}{'.' * (WIDTH - filled)}]  {done:,}/{max(self.total, done):,} events"
        elapsed = time.monotonic() - self.started if elapsed is None else elapsed
        rate = (done - self.initial) / elapsed if elapsed > 0 else 0
        if rate > 0:
            line += f"  {rate:,.0f} events/s  ETA {max(self.total - done, 0) / rate:,.0f} s"
        return line

    def _draw(self, done: int, final: bool = False) -> None:
        if self.tty:
            self.out.write("\r" + self.render(done), ending="\n" if final else "")
            self.out.flush()
        else:
            self.out.write(self.render(done))
