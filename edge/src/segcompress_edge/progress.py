"""A one-line progress bar on stderr (no dependency): frames done, of how many, and frames/s."""

from __future__ import annotations

import sys
import time

__all__ = ["Progress"]

WIDTH = 30
INTERVAL_S = 0.25


class Progress:
    """Redrawn at most every ``INTERVAL_S``; only on a terminal unless ``enabled`` forces it."""

    def __init__(self, total: int | None, label: str, *, enabled: bool = True) -> None:
        self.total = total
        self.label = label
        self.enabled = enabled and sys.stderr.isatty()
        self.start = self.last = time.perf_counter()
        self.done = 0

    def update(self, done: int) -> None:
        self.done = done
        now = time.perf_counter()
        if self.enabled and now - self.last >= INTERVAL_S:
            self.last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        fps = self.done / max(1e-9, now - self.start)
        if self.total:
            filled = min(WIDTH, WIDTH * self.done // self.total)
            bar = f"[{'#' * filled}{'.' * (WIDTH - filled)}] {self.done}/{self.total}"
        else:
            bar = f"{self.done} frames"
        sys.stderr.write(f"\r{self.label}: {bar} {fps:.1f} frames/s ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(time.perf_counter())
            sys.stderr.write("\n")
