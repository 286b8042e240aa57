"""Suspect labels in the window: finding them (a cancellable model task), the decisions
Relabel / Exclude / Keep written to the data's corrections file (the next scan applies
them), and "Apply to folder…" with its undo. The file moves run in a task too."""

from __future__ import annotations

from PySide6.QtCore import Slot

from desktop_ft.core.data import corrections as corr
from desktop_ft.core.errors import UserError
from desktop_ft.gui.operations import _Operations
from desktop_ft.gui.task_runner import STOP, TaskSpec


def find_suspect_labels(job: dict, observer, stop, bundle, scan) -> dict:
    """(Worker.) The search's result, with a thumbnail per suspect image."""
    from desktop_ft.core.training import TrainJob
    from desktop_ft.core.training.label_issues import find_suspects
    from desktop_ft.gui.worker_functions import thumbnail

    found = find_suspects(TrainJob.from_dict(job), observer, stop, bundle=bundle, scan=scan)
    if found["kind"] == "images":
        for s in found["suspects"]:
            s["thumbnail"] = thumbnail(s["item"])
    return found


def move_files(root: str) -> dict:
    """(Worker.) Apply the corrections to the folder; the corrections left to keep."""
    path = corr.corrections_path_for(root)
    left, notes = corr.apply_to_folder(corr.load_corrections(path), root,
                                       corr.undo_path_for(root))
    corr.save_corrections(path, left)
    return {"root": root, "notes": notes}


def move_back(root: str) -> dict:
    """(Worker.) Undo the last "Apply to folder…": files and corrections as they were."""
    entries = corr.undo_apply(corr.undo_path_for(root))
    corr.save_corrections(corr.corrections_path_for(root), entries)
    return {"root": root, "notes": []}


class LabelOperations(_Operations):
    def find(self, options: dict) -> None:
        s = self._session
        if s.scan is None or s.bundle is None:
            self._refusals.say("Load a model and open data before looking for suspect "
                               "labels.")
            return
        if self._refusals.while_training("looking for suspect labels"):
            return
        try:
            from desktop_ft.core.training import TrainJob

            job = TrainJob.from_dict({**options, **s.data_fields(), "strategy": None,
                                      "model": s.bundle.spec.to_dict()}).to_dict()
        except UserError as e:
            self._refusals.user_error(e)
            return
        self._run(TaskSpec("label-issues", "Finding suspect labels…", owns_model=True,
                           wait=True, cancellable=True),
                  find_suspect_labels, job, s.observer, STOP, s.bundle, s.scan,
                  on_done=self._on_found)

    @Slot(object)
    def _on_found(self, found: dict) -> None:
        s = self._session
        s.suspectsReady.emit(found)
        s.status.emit(f"{len(found['suspects'])} suspect label(s) among "
                      f"{found['examples']} training examples.")

    def decide(self, item: str, given: str, decision: str, label: str) -> None:
        """Write the decision to the corrections file and scan again, which applies it."""
        s = self._session
        if s.scan is None:
            return
        path = corr.corrections_path_for(s.scan.root)
        try:
            corr.save_corrections(path, corr.decide(corr.load_corrections(path), item,
                                                    given, decision, label or None))
        except (OSError, UserError) as e:
            self._refusals.say(f"The corrections could not be saved to {path}: {e}")
            return
        s.status.emit(f"{decision.capitalize()}: {item} (saved in {path.name}).")
        self._rescan()

    def apply_to_folder(self) -> None:
        s = self._session
        if s.scan is not None and not self._refusals.while_training("moving files"):
            self._run(TaskSpec("apply-corrections", "Moving files…"), move_files,
                      s.scan.root, on_done=self._on_moved)

    def undo(self) -> None:
        s = self._session
        if s.scan is not None and not self._refusals.while_training("moving files"):
            self._run(TaskSpec("undo-corrections", "Moving files back…"), move_back,
                      s.scan.root, on_done=self._on_moved)

    @Slot(object)
    def _on_moved(self, outcome: dict) -> None:
        for note in outcome["notes"]:
            self._session.note.emit(note)
        self._rescan()

    def _rescan(self) -> None:
        s = self._session
        s.correctionsChanged.emit(corr.undo_path_for(s.scan.root).exists())
        s.open_data(s.scan.root, s.scan_columns)
