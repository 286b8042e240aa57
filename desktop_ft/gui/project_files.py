"""File → Save project… / Open project…: a project file written from the session, and
one replayed into it (its model loaded and its data scanned, in a task)."""

from __future__ import annotations

from PySide6.QtCore import QObject, Slot

from desktop_ft.core.errors import UserError
from desktop_ft.gui import worker_functions as work
from desktop_ft.gui.task_runner import STOP, TaskSpec


class ProjectFiles(QObject):
    """Saves the session as a project file and opens one into it."""

    def __init__(self, session, refusals):
        super().__init__(session)
        self._session, self._refusals = session, refusals

    def save(self, path: str, job: dict) -> None:
        from desktop_ft.core.project import project_from_session, save_project
        from desktop_ft.core.training import TrainJob

        s = self._session
        try:
            job = TrainJob.from_dict({**job, **s.data_fields(), "strategy": None})
            save_project(path, project_from_session(job, s.bundle, s.unknown_below))
        except (UserError, OSError) as e:
            self._refusals.say(f"Could not save the project: {e}")
            return
        s.status.emit(f"Project saved to {path}")

    def open(self, path: str) -> None:
        from desktop_ft.core.project import load_project

        s = self._session
        if self._refusals.while_training("opening a project"):
            return
        try:
            project = load_project(path)
        except UserError as e:
            self._refusals.user_error(e)
            return
        s.projectOpened.emit(project)
        s.set_loading(True)
        s.load_task = s.tasks.run(
            TaskSpec("open-project", "Opening the project…", owns_model=True, wait=True),
            work.replay_project, project, s.observer, STOP,
            on_done=self._on_replayed, on_error=s.model_ops.on_load_error)

    @Slot(object)
    def _on_replayed(self, replayed) -> None:
        bundle, scan, samples, table = replayed
        s = self._session
        s.set_loading(False)
        s.tableColumns.emit(scan.root, table["header"], table["columns"])
        s.set_scan(scan, table["columns"], samples)
        s.set_bundle(bundle)
