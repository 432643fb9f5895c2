"""Progress bars on stderr for long steps, drawn only when stderr is a terminal (never in cron logs)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 30


class ProgressBar:
    """``label [#######.......] done/total``, redrawn at most every 0.1 s; silent off a terminal."""

    def __init__(self, label: str, total: int, stream: TextIO | None = None, *, force: bool = False):
        self.label = label
        self.total = max(total, 0)
        self.stream = stream or sys.stderr
        self.enabled = force or self.stream.isatty()
        self.done = 0
        self._drawn_at = 0.0

    def update(self, done: int) -> None:
        """Set the number of finished items (monotonic; the last call draws the final state)."""
        self.done = min(max(done, self.done), self.total) if self.total else done
        now = time.monotonic()
        if self.enabled and (now - self._drawn_at >= 0.1 or self.done >= self.total):
            self._drawn_at = now
            self._draw()

    def advance(self, steps: int = 1) -> None:
        self.update(self.done + steps)

    def close(self) -> None:
        """End the bar's line (only if one was drawn)."""
        if self.enabled and self._drawn_at:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()
            self._drawn_at = 0.0

    def render(self) -> str:
        filled = WIDTH if not self.total else WIDTH * self.done // self.total
        return f"{self.label} [{'#' * filled}{'.' * (WIDTH - filled)}] {self.done}/{self.total}"

    def _draw(self) -> None:
        self.stream.write(f"\r{self.render()}\033[K")
        self.stream.flush()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
