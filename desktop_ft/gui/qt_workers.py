"""Background work for the GUI: a QThread runner and the observer bridge.

Slow things (TensorFlow import, model loading, scanning, fit, export, prediction) run in
:class:`Worker` threads. Results come back through signals to ``@Slot`` methods of
GUI-thread objects — PySide6 runs a lambda or free function connected to a worker's
signal in the *worker* thread, even with a queued connection.
"""

from __future__ import annotations

import logging
import traceback

from PySide6.QtCore import QObject, QThread, Signal

from desktop_ft.core.errors import UserError

log = logging.getLogger(__name__)


BACKGROUND_NICENESS = 10


def _lower_this_threads_priority() -> None:
    """Run background work at a lower OS priority than the GUI thread, so painting is
    never starved on a busy CPU. On Linux niceness is per thread and inherited by threads
    created later — TensorFlow's thread pools are created in the warm-up worker, so they
    run at this priority too. (Qt's QThread.setPriority is ignored on Linux.)"""
    import os
    import threading

    if not hasattr(os, "setpriority"):
        return
    try:
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        if current < BACKGROUND_NICENESS:
            os.setpriority(os.PRIO_PROCESS, tid, BACKGROUND_NICENESS)
    except OSError:
        pass   # not permitted here: run at normal priority


class Worker(QThread):
    """Runs ``fn(*args, **kwargs)`` in a thread; emits ``returned(result)`` or
    ``errored(message)``, then QThread's ``finished``."""

    returned = Signal(object)
    errored = Signal(str)

    def __init__(self, name: str, fn, *args, parent=None, **kwargs):
        super().__init__(parent)
        self.setObjectName(name)
        self._fn, self._args, self._kwargs = fn, args, kwargs

    def run(self) -> None:
        _lower_this_threads_priority()
        try:
            result = self._fn(*self._args, **self._kwargs)
        except UserError as e:
            self.errored.emit(str(e))
        except MemoryError:
            self.errored.emit("Out of memory. Use a smaller batch or image size, or freeze "
                              "more layers.")
        except Exception as e:  # shown in the window; the app stays usable
            log.error("worker %s failed:\n%s", self.objectName(), traceback.format_exc())
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            self.errored.emit(f"{type(e).__name__}: {first[:500]}")
        else:
            self.returned.emit(result)


class QtObserver(QObject):
    """The engine's observer protocol as Qt signals (plain values only cross threads)."""

    status = Signal(str)
    progress = Signal(float, float, str)
    trainBegan = Signal(object)
    batchEnded = Signal(int, int, object)
    epochEnded = Signal(int, object)
    trainEnded = Signal(object)

    def on_status(self, message: str) -> None:
        self.status.emit(message)

    def on_progress(self, done: float, total: float, what: str) -> None:
        self.progress.emit(float(done), float(total), what)

    def on_train_begin(self, info: dict) -> None:
        self.trainBegan.emit(dict(info))

    def on_batch(self, epoch: int, batch: int, logs: dict) -> None:
        self.batchEnded.emit(epoch, batch, dict(logs))

    def on_epoch(self, epoch: int, logs: dict) -> None:
        self.epochEnded.emit(epoch, dict(logs))

    def on_train_end(self, summary: dict) -> None:
        self.trainEnded.emit(summary)
