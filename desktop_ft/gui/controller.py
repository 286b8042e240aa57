"""The session: what is loaded, scanned and trained, and the signals that say it changed.

:class:`SessionController` is the window's one handle on the session. It holds the state
(``bundle``, ``scan``, ``result`` …) and its signals; panels never talk to each other, the
main window wires them to it. The work is done by parts with one job each:

* :mod:`~desktop_ft.gui.operations` — model, data, training, and try/export operations:
  each starts tasks (:mod:`desktop_ft.gui.task_runner`) whose results come back to its
  slots, in the GUI thread, and updates the session;
* :class:`~desktop_ft.gui.project_files.ProjectFiles` — saving and opening project files;
* :class:`~desktop_ft.gui.refusals.Refusals` — why something cannot run now, and errors,
  on the ``error`` signal (the banner).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from desktop_ft.core.data.corrections import corrections_path_for
from desktop_ft.core.data.sample_data import default_location
from desktop_ft.core.models import ModelSpec, modality_for
from desktop_ft.gui.operations import (DataOperations, ModelOperations, ResultOperations,
                                       TrainingOperations)
from desktop_ft.gui.label_operations import LabelOperations
from desktop_ft.gui.lr_operations import LrFinderOperations
from desktop_ft.gui.project_files import ProjectFiles
from desktop_ft.gui.refusals import Refusals
from desktop_ft.gui.task_runner import QtObserver, TaskRunner


class SessionController(QObject):
    bundleChanged = Signal(object)        # ModelBundle or None
    scanChanged = Signal(object, object)  # DataScan, samples per class
    loadingChanged = Signal(bool)
    trainingChanged = Signal(bool)
    trainingFailed = Signal()
    resultReady = Signal(object)          # TrainResult
    mistakesReady = Signal(object)        # wrong held-out predictions, most confident first
    predicted = Signal(object, object)    # labels, probabilities
    explained = Signal(object)            # {"item", "probs", "explanation", "image"}
    reportWritten = Signal(str)
    exported = Signal(object)             # export.json record
    exportFailed = Signal()
    exportFailedWithRun = Signal(str, str)   # run folder, export folder: offer a retry
    taskCancelled = Signal(str)           # a cancelled task's name (it changed nothing)
    projectOpened = Signal(object)        # Project: the panels show its settings
    architectureWanted = Signal(str)      # data dropped that another modality takes
    tableColumns = Signal(str, object, object)   # a table, its header, (text, label) asked
    error = Signal(str, str)              # message, details
    note = Signal(str)
    status = Signal(str)
    deviceReady = Signal(str)
    suspectsReady = Signal(object)        # label-issues result: suspects, most suspect first
    correctionsChanged = Signal(bool)     # a decision was saved; whether Undo can move back
    lrPoint = Signal(float, float)        # the range test's (rate, smoothed loss), as measured
    lrFound = Signal(object)              # its result: curve, suggestion, rule
    lrFailed = Signal(str)                # it stopped with this message (not cancelled)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.bundle = None
        self.scan = None
        # The table columns self.scan was read by (text, label[, several labels per row]).
        self.scan_columns: tuple = (None, None)
        self.result = None
        self.mistakes: list[dict] = []
        self.last_export: dict | None = None
        # Try it and the exports answer "unknown" below this top probability (None: never).
        self.unknown_below: float | None = None
        self.device = ""
        self.training = False
        self.loading = False
        self.load_task = self.train_task = None
        self.observer = QtObserver(self)
        self.observer.status.connect(self.status)
        self.tasks = TaskRunner(self)
        self.tasks.error.connect(self.error)
        self.tasks.cancelled.connect(self._on_cancelled)
        refusals = Refusals(self)
        self.model_ops = ModelOperations(self, refusals)
        self.data_ops = DataOperations(self, refusals)
        self.training_ops = TrainingOperations(self, refusals)
        self.result_ops = ResultOperations(self, refusals)
        self.projects = ProjectFiles(self, refusals)
        self.label_ops = LabelOperations(self, refusals)
        self.lr_ops = LrFinderOperations(self, refusals)

    # ------------------------------------------------------------------ the state
    @property
    def sample_mode(self) -> bool:
        """The built-in sample is loaded: only then may ImageNet fall back to none."""
        return self.scan is not None and \
            Path(self.scan.root).resolve() == default_location().resolve()

    def scan_fits(self, spec: dict) -> bool:
        """The scanned data is what the model ``spec`` takes (images or text)."""
        return self.scan is not None and self.scan.kind == modality_for(
            spec.get("architecture", ModelSpec().architecture)).input_kind

    def data_fields(self) -> dict:
        """The TrainJob fields that say which data the session holds, as it was read."""
        text, label = self.scan_columns[:2]
        fields = {"data": self.scan.root if self.scan else "", "text_column": text,
                  "label_column": label,
                  # read with several labels per row: a replay of the project reads so too
                  "multi_label": bool(self.scan is not None and self.scan.multi_label)}
        if self.scan is not None and corrections_path_for(self.scan.root).exists():
            fields["corrections"] = str(corrections_path_for(self.scan.root))
        return fields

    def set_bundle(self, bundle) -> None:
        self.bundle = bundle
        self._apply_unknown_below()
        self.bundleChanged.emit(bundle)

    @Slot(object)
    def set_unknown_below(self, value: float | None) -> None:
        """The confidence below which Try it (and what is exported from now on) answers
        "unknown"; None: always the most probable class."""
        self.unknown_below = value
        self._apply_unknown_below()

    def _apply_unknown_below(self) -> None:
        decision = getattr(self.bundle, "decision", None)
        if decision is not None and not decision.multi_label:   # (a label set has no "none")
            self.bundle.decision = decision.replace(unknown_below=self.unknown_below)

    def set_scan(self, scan, columns: tuple, samples) -> None:
        self.scan, self.scan_columns = scan, columns
        self.scanChanged.emit(scan, samples)

    def set_loading(self, loading: bool) -> None:
        self.loading = loading
        self.loadingChanged.emit(loading)

    def set_training(self, training: bool) -> None:
        self.training = training
        self.trainingChanged.emit(training)

    def set_device(self, description: str) -> None:
        self.device = description
        self.deviceReady.emit(description)

    # ------------------------------------------------------------------ what the window asks
    def start(self) -> None:
        """Import TensorFlow in a worker (after the window is shown)."""
        self.model_ops.start()

    def load_model(self, spec: dict) -> None:
        self.model_ops.load(spec)

    def cancel_load(self) -> None:
        if self.load_task is not None:
            self.load_task.cancel()

    def apply_strategy(self, key: str, unfreeze_last: int, lora_rank: int) -> None:
        self.model_ops.apply_strategy(key, unfreeze_last, lora_rank)

    def find_suspects(self, options: dict) -> None:
        self.label_ops.find(options)

    def find_learning_rate(self, options: dict) -> bool:
        return self.lr_ops.find(options)

    def decide_label(self, item: str, given: str, decision: str, label: str) -> None:
        self.label_ops.decide(item, given, decision, label)

    def apply_corrections_to_folder(self) -> None:
        self.label_ops.apply_to_folder()

    def undo_corrections(self) -> None:
        self.label_ops.undo()

    def open_data(self, path: str, columns: tuple | None = None) -> None:
        self.data_ops.open(path, columns)

    @Slot(str, str, str, bool)
    def choose_columns(self, path: str, text: str, label: str, several: bool = False) -> None:
        """Read a table again by the columns chosen in the window ("": by name) and, with
        ``several``, with several labels per row."""
        self.data_ops.open(path, (text or None, label or None, several))

    def use_sample(self) -> None:
        self.data_ops.use_sample()

    def train(self, job: dict) -> None:
        self.training_ops.train(job)

    def resume_run(self, path: str) -> None:
        self.training_ops.resume(path)

    def stop(self) -> None:
        if self.train_task is not None:
            self.train_task.cancel()

    def cancel_tasks(self) -> None:
        """The status bar's Cancel: stop the export, scan, or model preparation running."""
        self.tasks.cancel_tasks()

    @Slot(str, str)
    def _on_cancelled(self, name: str, label: str) -> None:
        """A cancelled task stopped having changed nothing: say so (no error banner)."""
        if name == "strategy":    # the model was put back as it was: show it again
            self.set_bundle(self.bundle)
        self.taskCancelled.emit(name)
        self.status.emit(f"Cancelled: {label.rstrip('…')} stopped; nothing was changed.")

    def predict(self, item: str, kind: str) -> None:
        self.result_ops.predict(item, kind)

    def set_explain(self, on: bool) -> None:
        self.result_ops.set_explain(on)

    def save_report(self, path: str) -> None:
        self.result_ops.save_report(path)

    def export(self, path: str, formats: list[str] | None = None) -> bool:
        return self.result_ops.export(path, formats)

    def export_run(self, run_path: str, out: str, formats: list[str] | None = None) -> None:
        self.result_ops.export_run(run_path, out, formats)

    def save_project(self, path: str, job: dict) -> None:
        self.projects.save(path, job)

    def open_project(self, path: str) -> None:
        self.projects.open(path)

    def shut_down(self) -> None:
        """Ask every task to stop (training after its batch, a scan between files) and
        skip what only serves a result nobody will see (the evaluation after training)."""
        self.tasks.cancel_all(abandon=True)
