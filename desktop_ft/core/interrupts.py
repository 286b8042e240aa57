"""Termination requests (SIGTERM, SIGHUP, a second Ctrl+C): stop now, leave every run
folder and export consistent, and end the process within a deadline.

The CLI and the window install their own handlers (:func:`install`); this module holds the
part they share — the process-wide "terminating" flag the engine reads to record a run as
*interrupted* (offered for resume) rather than *stopped*, and a watchdog that ends the
process if a step that cannot be cancelled (a TensorFlow op, a model load) outlasts the
deadline. Checkpoints and exports are written beside their target and swapped in with
``os.replace``, so ending the process at any point leaves the previous one intact.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time

EXIT_DEADLINE_S = 4.0       # the process ends within this, even mid-op
TERMINATING_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP")
                            if hasattr(signal, name))

_terminating = threading.Event()


class Terminated(KeyboardInterrupt):
    """Raised in the main thread by a termination signal (a KeyboardInterrupt, so that
    every ``except Exception`` lets it through and cleanup code treats it as an abort)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
        self.exit_code = 128 + signum

    def __str__(self) -> str:
        try:
            return f"terminated by {signal.Signals(self.signum).name}"
        except ValueError:
            return f"terminated by signal {self.signum}"


class Cancel(threading.Event):
    """A task's cancel event. :meth:`abandon` also says that nobody waits for the result
    (the window is closing): the engine stops and skips what only serves the result,
    such as the evaluation on held-out data after training."""

    abandoned = False

    def abandon(self) -> None:
        self.abandoned = True
        self.set()


def abandoned(stop) -> bool:
    """True when ``stop`` was set by :meth:`Cancel.abandon`."""
    return bool(getattr(stop, "abandoned", False))


def terminating() -> bool:
    """True once a termination was requested in this process."""
    return _terminating.is_set()


def termination_code() -> int | None:
    """The exit status of the termination under way; None when there is none."""
    return _exit_code[0] if _terminating.is_set() else None


_exit_code: list = [None]


def begin_termination(exit_code: int, deadline_s: float = EXIT_DEADLINE_S) -> None:
    """Set the flag and start the watchdog (once): the process ends with ``exit_code``
    after ``deadline_s`` however far the cooperative shutdown got."""
    if _terminating.is_set():
        return
    _exit_code[0] = exit_code
    _terminating.set()

    def bite() -> None:
        time.sleep(deadline_s)
        logging.getLogger(__name__).error("still running %.0f s after the termination "
                                          "request: exiting now", deadline_s)
        _flush_and_exit(exit_code)

    threading.Thread(target=bite, name="exit-watchdog", daemon=True).start()


def exit_if_terminating(exit_code: int) -> None:
    """After an aborted command has left its run folder consistent: end the process now
    if a termination was requested. Python's own shutdown with TensorFlow or PyTorch
    loaded takes 2–13 s of native teardown (measured on 2 cores), in which the watchdog
    can no longer run, and a terminated process must end within the deadline."""
    if _terminating.is_set():
        _flush_and_exit(exit_code)


def _flush_and_exit(exit_code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(exit_code)


def install(handler) -> dict | None:
    """Call ``handler(signum)`` on each terminating signal. Returns the handlers it
    replaced (for :func:`restore`); None off the main thread, where Python cannot
    install handlers."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = {signum: signal.getsignal(signum) for signum in TERMINATING_SIGNALS}
    for signum in TERMINATING_SIGNALS:
        signal.signal(signum, lambda s, frame: handler(s))
    return previous


def restore(previous: dict | None) -> None:
    """Put back the handlers :func:`install` replaced."""
    for signum, old in (previous or {}).items():
        signal.signal(signum, old)

