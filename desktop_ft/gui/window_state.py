"""Which of the window's controls may start something now, and what the status bar says
runs. One task owns the model at a time (:mod:`desktop_ft.gui.task_runner`): while it runs,
the controls that would start another are disabled — except Load during start-up, which
waits for Keras."""

from __future__ import annotations

STARTUP_TASK = "warm-up"


def update_controls(window) -> None:
    c = window.controller
    task = c.tasks.model_task
    model_busy = task is not None
    load_waits = task is not None and task.name == STARTUP_TASK
    trained = c.result is not None and c.bundle is not None and not c.training
    window.busy.setVisible(c.tasks.busy_count > 0)
    window.task_label.setText(task.label if task is not None else "")
    window.task_label.setVisible(task is not None)
    cancellable = c.tasks.cancellable_tasks()
    window.cancel_button.setVisible(bool(cancellable))
    window.cancel_button.setEnabled(not any(t.cancelled for t in cancellable))
    window.model_panel.set_can_load(not c.loading and (not model_busy or load_waits))
    window.layers_panel.set_busy(model_busy)
    window.train_panel.set_can_train(c.scan is not None and not c.loading and
                                     not model_busy)
    window.actions_["train"].setEnabled(not c.training and not model_busy)
    window.actions_["stop"].setEnabled(c.training)
    window.actions_["export"].setEnabled(trained and not model_busy)
    window.actions_["report"].setEnabled(trained)
    window.try_panel.set_export_enabled(trained and not model_busy)


def starting_backend() -> str:
    """The backend's name for the status bar before Keras is imported."""
    from desktop_ft.core import backend
    from desktop_ft.core.errors import UserError

    try:
        return backend.active() or backend.requested()
    except UserError:
        return "Keras"
