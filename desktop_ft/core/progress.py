"""Training progress as people read it: done fraction and time left, phase-aware.

Both the CLI's progress bar and the window's progress label use :class:`Progress`.
"""

from __future__ import annotations

import time


class Progress:
    """Feed it ``begin(info)`` and ``batch(epoch, batch)``; read :meth:`fraction` and
    :meth:`eta_seconds`. The rate is measured within the current phase (two-phase runs
    restart the clock, their second phase being slower)."""

    def __init__(self, clock=time.perf_counter):
        self._clock = clock
        self.steps = 1
        self.epochs = 1
        self.done = 0
        self._phase_start_done = 0
        self._t0 = clock()

    def begin(self, info: dict) -> None:
        self.steps = max(int(info.get("steps_per_epoch", 1)), 1)
        self.epochs = max(int(info.get("epochs", 1)), 1)
        self.done = int(info.get("first_epoch", 0)) * self.steps
        self._phase_start_done = self.done
        self._t0 = self._clock()

    def batch(self, epoch: int, batch: int) -> None:
        self.done = epoch * self.steps + batch + 1

    @property
    def total(self) -> int:
        return self.epochs * self.steps

    def fraction(self) -> float:
        return min(self.done / self.total, 1.0) if self.total else 0.0

    def eta_seconds(self) -> float:
        in_phase = max(self.done - self._phase_start_done, 1)
        elapsed = self._clock() - self._t0
        return elapsed / in_phase * max(self.total - self.done, 0)


def format_seconds(s: float) -> str:
    """``m:ss`` (``h:mm:ss`` from an hour)."""
    s = max(0, int(round(s)))
    if s >= 3600:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"
