"""Background work for the window: tasks, workers, cancellation, shutdown.

Every slow step (the Keras import, loading a model, scanning, fit, export, prediction)
runs as a task: :meth:`TaskRunner.run` takes a :class:`TaskSpec` — its name, what the
status bar says, whether it owns the model, waits for it, counts as busy — and the
function with its arguments; a :class:`TaskState` (the spec's name and label, and the
cancel event) is run by a :class:`Worker`. The cancel event is the
one handed to the engine (``STOP`` in :meth:`TaskRunner.run`'s arguments) and the one
:meth:`TaskRunner.cancel_all` sets; the engine stops cooperatively (after the batch in
flight, between scanned files, between downloaded chunks).

Tasks that read or replace the model (start-up, load, strategy, new head, train, export,
try/explain, export from a run) own it: one at a time. Another is refused — the window
disables the controls that would start it — or, with ``TaskSpec.wait``, queued until the
running one ends (a Load clicked while Keras is still starting).

A ``TaskSpec.cancellable`` task is one the window's Cancel button stops
(:meth:`TaskRunner.cancel_tasks`): once cancelled, its failure is not an error but
:attr:`TaskRunner.cancelled` (the engine stops at its next check and leaves nothing
half-written), so the window says "Cancelled" instead of showing a banner.

Results come back through signals connected to ``@Slot`` methods of GUI-thread objects —
PySide6 runs a lambda or free function connected to a worker's signal in the *worker*
thread, even with a queued connection. Workers are never parented to a widget and are
kept alive here until they finish; the exit hook (:func:`install_exit_hooks`, installed
with the first runner) waits for them with a deadline — a QThread destroyed while
running aborts the whole process.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field

from PySide6.QtCore import QObject, QThread, Signal, Slot

from desktop_ft.core.errors import UserError, describe_exception
from desktop_ft.core.interrupts import Cancel
from desktop_ft.core.runtime import (limit_malloc_arenas, release_thread_state,
                                     return_free_memory, traced_gradients_released)

log = logging.getLogger(__name__)

BACKGROUND_NICENESS = 10
SHUTDOWN_DEADLINE_S = 5.0
_live: dict["Worker", threading.Event] = {}     # every running worker, app-wide
STOP = object()     # in TaskRunner.run's arguments: the task's own cancel event


@dataclass(frozen=True)
class TaskSpec:
    """What a task is, apart from the function it runs: its ``name``; the ``label`` the
    status bar shows while it runs (default: the name); whether it ``owns_model`` (one
    such task at a time); whether it ``wait``s for the model rather than being refused;
    whether it counts as ``busy`` (the status bar's indicator); whether the window's Cancel
    button stops it (``cancellable``: the engine checks the stop event and leaves nothing
    half-written, so a cancelled task ends as *cancelled*, not as an error).

    >>> TaskSpec("load-model", "Loading the model…", owns_model=True, wait=True).busy
    True
    """

    name: str
    label: str = ""
    owns_model: bool = False
    wait: bool = False
    busy: bool = True
    cancellable: bool = False


@dataclass(eq=False)
class TaskState:
    """One task: what it is, what the status bar says while it runs, whether it owns the
    model, and the cancel event the engine watches."""

    name: str
    label: str
    owns_model: bool = False
    stop: Cancel = field(default_factory=Cancel)
    cancellable: bool = False

    def cancel(self, abandon: bool = False) -> None:
        """Stop the task; ``abandon``: and nobody waits for its result (closing)."""
        if abandon:
            self.stop.abandon()
        else:
            self.stop.set()

    @property
    def cancelled(self) -> bool:
        return self.stop.is_set()


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
        self.state: TaskState | None = None
        self.on_done = self.on_error = None

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
    """Starts tasks, owns the model for one task at a time, queues or refuses the others,
    cancels them all, and counts the busy ones."""

    busyChanged = Signal(int)
    modelTaskChanged = Signal(str)     # the label of the task owning the model, or ""
    error = Signal(str, str)
    cancelled = Signal(str, str)       # a cancellable task's name and label: it stopped

    def __init__(self, parent=None):
        super().__init__(parent)
        self._mine: dict[Worker, bool] = {}          # running worker -> counts as busy
        self._queued: list[tuple] = []
        self.model_task: TaskState | None = None
        limit_malloc_arenas()     # one thread per task: keep freed memory reusable
        install_exit_hooks()

    def run(self, spec: TaskSpec, fn, *args, on_done=None, on_error=None,
            **kwargs) -> TaskState | None:
        """Run ``fn(*args, **kwargs)`` in a worker; ``STOP`` among the arguments stands
        for the task's cancel event. ``on_done(result)`` / ``on_error(message, details)``
        must be slots of GUI-thread objects (default error handler: :attr:`error`).
        A task whose spec ``owns_model`` while another does is queued (``spec.wait``) or
        refused: None, with the reason on :attr:`error`."""
        state = TaskState(spec.name, spec.label or spec.name, spec.owns_model,
                          cancellable=spec.cancellable)
        task = (state, fn, args, kwargs, on_done, on_error, spec.busy)
        if spec.owns_model and self.model_task is not None:
            if not spec.wait:
                self.error.emit(f"{self.model_task.label.rstrip('…')} is running; wait "
                                "for it to finish.", "")
                return None
            self._queued.append(task)
            return state
        self._start(*task)
        return state

    def _start(self, state, fn, args, kwargs, on_done, on_error, busy) -> None:
        args = tuple(state.stop if a is STOP else a for a in args)
        worker = Worker(state.name, fn, *args, stop_event=state.stop, **kwargs)
        worker.state, worker.on_done, worker.on_error = state, on_done, on_error
        worker.returned.connect(self._on_returned)
        worker.errored.connect(self._on_errored)
        worker.finished.connect(self._on_finished)
        self._mine[worker] = busy
        _live[worker] = state.stop
        if state.owns_model:
            self.model_task = state
            self.modelTaskChanged.emit(state.label)
        worker.start()
        self.busyChanged.emit(self.busy_count)

    @property
    def busy_count(self) -> int:
        return sum(1 for busy in self._mine.values() if busy)

    def running(self) -> int:
        """Tasks started or queued and not yet ended."""
        return len(self._mine) + len(self._queued)

    def cancel_all(self, abandon: bool = False) -> None:
        """Cancel every task; queued ones end through their error slot without running.
        ``abandon`` (closing): nobody waits for the results either."""
        for worker in self._mine:
            worker.state.cancel(abandon)
        for task in self._queued:
            task[0].cancel(abandon)

    def cancellable_tasks(self) -> list[TaskState]:
        """The cancellable tasks started or queued and not yet ended (the window's Cancel
        button shows while there is one)."""
        states = [w.state for w in self._mine] + [task[0] for task in self._queued]
        return [s for s in states if s is not None and s.cancellable]

    def cancel_tasks(self) -> None:
        """Cancel the cancellable tasks (the window's Cancel button); Load and Train have
        their own Cancel and Stop."""
        for state in self.cancellable_tasks():
            state.cancel()

    def _ended_by_cancel(self, state: TaskState | None) -> bool:
        """A cancellable task the user cancelled failed because it stopped: say so
        (``cancelled``) instead of reporting an error. (Closing abandons tasks: nobody
        listens any more.)"""
        if state is None or not state.cancellable or not state.cancelled:
            return False
        if not state.stop.abandoned:
            self.cancelled.emit(state.name, state.label)
        return True

    def _release(self, worker: Worker) -> None:
        """The task's outcome is in: the model is free for the next task (which its own
        result slot may start), before the thread has quite ended."""
        if worker.state is not None and worker.state is self.model_task:
            self.model_task = None
            self.modelTaskChanged.emit("")

    @Slot(object)
    def _on_returned(self, result) -> None:
        worker = self.sender()
        self._release(worker)
        if worker.on_done is not None:
            worker.on_done(result)
        self._start_queued()

    @Slot(str, str)
    def _on_errored(self, message: str, details: str) -> None:
        worker = self.sender()
        self._release(worker)
        if not self._ended_by_cancel(worker.state):
            (worker.on_error or self.error.emit)(message, details)
        self._start_queued()

    def _start_queued(self) -> None:
        while self._queued and self.model_task is None:
            task = self._queued.pop(0)
            state, on_error = task[0], task[5]
            if self._ended_by_cancel(state):
                continue
            if state.cancelled:
                (on_error or self.error.emit)(f"{state.label.rstrip('…')}: cancelled.", "")
                continue
            self._start(*task)

    @Slot()
    def _on_finished(self) -> None:
        worker = self.sender()
        if worker is not None:
            # ``finished`` is emitted just before the thread ends: let it end, then drop
            # the last reference (Python owns the unparented QThread and deletes it; a
            # deleteLater as well would delete it twice).
            worker.wait()
            self._release(worker)      # (a worker that neither returned nor errored)
            worker.on_done = worker.on_error = None
        self._mine.pop(worker, None)
        _live.pop(worker, None)
        self.busyChanged.emit(self.busy_count)
        self._start_queued()


# A test runner sets this False: it must keep its own exit status.
HARD_EXIT_AFTER_WAIT = True
_uncaught = False
_hooks_installed = False
_previous_excepthook = sys.excepthook


def _record_uncaught(*exc_info) -> None:
    global _uncaught
    _uncaught = True
    _previous_excepthook(*exc_info)


def install_exit_hooks() -> None:
    """Record uncaught exceptions and wait for workers at exit (once per process; called
    by the first :class:`TaskRunner`, not at import)."""
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    global _previous_excepthook
    _previous_excepthook = sys.excepthook
    sys.excepthook = _record_uncaught
    atexit.register(_shutdown_workers)


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
