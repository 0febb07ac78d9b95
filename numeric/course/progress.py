"""A one-line progress bar on the terminal, silent everywhere else.

Long runs redraw one line on standard error (``\\r``); when standard error is not a terminal
(a pipe, a log file, a test) or the user asked for ``--quiet``, nothing is written at all.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["ProgressBar"]


class ProgressBar:
    """``bar.update(done, note)`` redraws ``label [#####.....] done/total note``; ``bar.close()``
    ends the line. ``enabled=None`` means: only when ``stream`` is a terminal."""

    WIDTH = 30

    def __init__(self, total: int, label: str = "", enabled: bool | None = None, stream: TextIO | None = None):
        self.stream = sys.stderr if stream is None else stream
        self.total = max(int(total), 1)
        self.label = label
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._last = 0.0
        self._drawn = False

    def update(self, done: int, note: str = "", force: bool = False) -> None:
        """Redraw (at most 20 times a second unless ``force`` or finished)."""
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and done < self.total and now - self._last < 0.05:
            return
        self._last = now
        filled = round(self.WIDTH * min(done, self.total) / self.total)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self.stream.write(f"\r{self.label} [{bar}] {done}/{self.total} {note}".rstrip() + "\033[K")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """Finish the line so that later output starts on a fresh one."""
        if self.enabled and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
