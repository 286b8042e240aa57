"""The learning-rate range test in the window: a cancellable model task whose points come
back one by one (plain floats, on a queued signal) for the Find… dialog to plot."""

from __future__ import annotations

from PySide6.QtCore import Slot

from desktop_ft.core.errors import UserError
from desktop_ft.gui.operations import _Operations
from desktop_ft.gui.task_runner import STOP, TaskSpec


def sweep_learning_rates(job: dict, observer, stop, bundle, scan, on_point) -> dict:
    """(Worker.) The range test on the loaded model; it is left as it was."""
    from desktop_ft.core.training import TrainJob
    from desktop_ft.core.training.lr_finder import find_learning_rate

    return find_learning_rate(TrainJob.from_dict(job), observer, stop, on_point=on_point,
                              bundle=bundle, scan=scan)


class LrFinderOperations(_Operations):
    def find(self, options: dict) -> bool:
        """Start the test with the Train panel's settings; whether it started."""
        s = self._session
        if s.scan is None or s.bundle is None:
            self._refusals.say("Load a model and open data before finding a learning rate.")
            return False
        if self._refusals.while_training("finding a learning rate"):
            return False
        try:
            from desktop_ft.core.training import TrainJob

            job = TrainJob.from_dict({**options, **s.data_fields(), "strategy": None,
                                      "model": s.bundle.spec.to_dict()}).to_dict()
        except UserError as e:
            self._refusals.user_error(e)
            return False
        # The worker emits the points itself: emitting a signal from another thread is
        # queued to the GUI thread's receivers, and only floats cross.
        task = self._run(TaskSpec("lr-find", "Finding a learning rate…", owns_model=True,
                                  wait=True, cancellable=True),
                         sweep_learning_rates, job, s.observer, STOP, s.bundle, s.scan,
                         s.lrPoint.emit, on_done=self._on_found, on_error=self._on_failed)
        return task is not None

    @Slot(object)
    def _on_found(self, found: dict) -> None:
        s = self._session
        s.lrFound.emit(found)
        s.status.emit(f"Suggested learning rate ({found['rule']}): "
                      f"{found['suggestion']:.3g}.")

    @Slot(str, str)
    def _on_failed(self, message: str, details: str) -> None:
        self._session.lrFailed.emit(message)
        self._session.error.emit(message, details)
