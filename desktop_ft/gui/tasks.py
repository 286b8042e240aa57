"""Background work for the window: workers, the busy count, cancellation, shutdown.

Every slow step (the TensorFlow import, loading a model, scanning, fit, export,
prediction) runs in a :class:`Worker`. Results come back through signals connected to
``@Slot`` methods of GUI-thread objects — PySide6 runs a lambda or free function
connected to a worker's signal in the *worker* thread, even with a queued connection.

Each task gets its own ``threading.Event``; :meth:`TaskRunner.cancel_all` sets them, and
the engine stops cooperatively (after the batch in flight, between scanned files, between
downloaded chunks). Workers are never parented to a widget and are kept alive here until
they finish, and an ``atexit`` hook waits for them with a deadline — a QThread destroyed
while running aborts the whole process.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time
import traceback

from PySide6.QtCore import QObject, QThread, Signal, Slot

from desktop_ft.core.errors import UserError, describe_exception
from desktop_ft.core.runtime import (limit_malloc_arenas, release_thread_state,
                                     return_free_memory, traced_gradients_released)

log = logging.getLogger(__name__)

BACKGROUND_NICENESS = 10
SHUTDOWN_DEADLINE_S = 5.0
_live: dict["Worker", threading.Event] = {}     # every running worker, app-wide


def _stops_of(workers) -> list[threading.Event]:
    return [w.stop_event for w in workers]


def live_workers() -> list["Worker"]:
    """Workers started and not yet finished (tests check none is left behind)."""
    return [w for w in list(_live) if not w.isFinished()]


def _lower_this_threads_priority() -> None:
    """Run background work below the GUI thread's OS priority, so painting is never
    starved on a busy CPU. On Linux niceness is per thread and inherited by threads
    created later — TensorFlow's thread pools are created in the warm-up worker, so they
    run at this priority too. (Qt's QThread.setPriority is ignored on Linux.)"""
    if not hasattr(os, "setpriority"):
        return
    try:
        tid = threading.get_native_id()
        if os.getpriority(os.PRIO_PROCESS, tid) < BACKGROUND_NICENESS:
            os.setpriority(os.PRIO_PROCESS, tid, BACKGROUND_NICENESS)
    except OSError:
        pass   # not permitted here: run at normal priority


class Worker(QThread):
    """Runs ``fn(*args, **kwargs)``; emits ``returned(result)`` or ``errored(message,
    details)``, then QThread's ``finished``."""

    returned = Signal(object)
    errored = Signal(str, str)

    def __init__(self, name: str, fn, *args, stop_event: threading.Event | None = None,
                 **kwargs):
        super().__init__()
        self.setObjectName(name)
        self.stop_event = stop_event or threading.Event()
        self._fn, self._args, self._kwargs = fn, args, kwargs

    def run(self) -> None:
        _lower_this_threads_priority()
        try:
            with traced_gradients_released():    # what this task's traces registered
                result = self._fn(*self._args, **self._kwargs)
        except UserError as e:
            self.errored.emit(e.window_message, e.details or "")
        except MemoryError:
            self.errored.emit("Out of memory. Use a smaller batch or image size, or freeze "
                              "more layers.", "")
        except Exception as e:  # shown in the window; the app stays usable
            details = traceback.format_exc()
            log.error("worker %s failed:\n%s", self.objectName(), details)
            self.errored.emit(describe_exception(e), details)
        else:
            self.returned.emit(result)
        finally:
            self._fn = self._args = self._kwargs = None
            release_thread_state()
            return_free_memory()


class TaskRunner(QObject):
    """Starts workers, counts the busy ones, cancels them, and waits for them."""

    busyChanged = Signal(int)
    error = Signal(str, str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self._mine: dict[Worker, tuple[threading.Event, bool]] = {}
        limit_malloc_arenas()     # one thread per task: keep freed memory reusable

    def run(self, name: str, fn, *args, on_done=None, on_error=None, busy: bool = True,
            stop: threading.Event | None = None, **kwargs) -> Worker:
        """Run ``fn`` in a worker. ``on_done(result)`` / ``on_error(message, details)``
        must be slots of GUI-thread objects (default error handler: :attr:`error`).
        ``stop`` is the task's cancel event (made here when not given)."""
        stop = stop or threading.Event()
        worker = Worker(name, fn, *args, stop_event=stop, **kwargs)
        if on_done is not None:
            worker.returned.connect(on_done)
        worker.errored.connect(on_error or self.error)
        worker.finished.connect(self._on_finished)
        self._mine[worker] = (stop, busy)
        _live[worker] = stop
        worker.start()
        self.busyChanged.emit(self.busy_count)
        return worker

    @property
    def busy_count(self) -> int:
        return sum(1 for _, busy in self._mine.values() if busy)

    def running(self) -> int:
        return len(self._mine)

    def cancel_all(self) -> None:
        for stop, _ in self._mine.values():
            stop.set()

    @Slot()
    def _on_finished(self) -> None:
        worker = self.sender()
        if worker is not None:
            # ``finished`` is emitted just before the thread ends: let it end, then drop
            # the last reference (Python owns the unparented QThread and deletes it; a
            # deleteLater as well would delete it twice).
            worker.wait()
        self._mine.pop(worker, None)
        _live.pop(worker, None)
        self.busyChanged.emit(self.busy_count)


# A test runner sets this False: it must keep its own exit status.
HARD_EXIT_AFTER_WAIT = True
_uncaught = False
_previous_excepthook = sys.excepthook


def _record_uncaught(*exc_info) -> None:
    global _uncaught
    _uncaught = True
    _previous_excepthook(*exc_info)


sys.excepthook = _record_uncaught


@atexit.register
def _shutdown_workers() -> None:
    """Cancel and join workers still running when the interpreter exits, then end the
    process at once.

    Letting Qt destroy a running QThread aborts the process; and letting the interpreter
    finalize right after a worker finished mid-shutdown (e.g. TensorFlow's import in the
    warm-up worker) crashes in library destructors. So: stop cooperatively, wait with a
    deadline, flush, and ``os._exit`` with the status the interpreter would have had
    (1 after an uncaught exception, else 0).
    """
    running = [w for w in _live if not w.isFinished()]
    _live.clear()
    if not running or not HARD_EXIT_AFTER_WAIT:
        return
    for worker in running:
        worker.requestInterruption()
    for stop in _stops_of(running):
        stop.set()
    deadline = time.monotonic() + SHUTDOWN_DEADLINE_S
    for worker in running:
        remaining = max(0.0, deadline - time.monotonic())
        if not worker.wait(int(remaining * 1000)):
            log.error("worker %s did not stop within %.0f s", worker.objectName(),
                      SHUTDOWN_DEADLINE_S)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(1 if _uncaught else 0)


class QtObserver(QObject):
    """The engine's observer protocol as Qt signals (plain values only cross threads)."""

    status = Signal(str)
    progress = Signal(float, float, str)
    trainBegan = Signal(object)
    batchEnded = Signal(int, int, object)
    epochEnded = Signal(int, object)

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
        pass
