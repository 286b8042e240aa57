"""The session: what is loaded, scanned and trained, and the operations on it.

:class:`SessionController` owns the state (``bundle``, ``scan``, ``result``) and says
when it changes through signals; panels never talk to each other, the main window wires
them to it. Every slow operation runs in a worker (:mod:`desktop_ft.gui.tasks`) whose
result comes back to a slot here, in the GUI thread.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from desktop_ft.core.errors import UserError
from desktop_ft.core.models import ModelSpec, check_spec, modality_for_input, modality_for
from desktop_ft.core.data.sample_data import default_location
from desktop_ft.gui import jobs
from desktop_ft.gui.tasks import STOP, QtObserver, TaskRunner


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
    projectOpened = Signal(object)        # Project: the panels show its settings
    architectureWanted = Signal(str)            # data dropped that another modality takes
    tableColumns = Signal(str, object, object)   # a table, its header, (text, label) asked
    error = Signal(str, str)              # message, details
    note = Signal(str)
    status = Signal(str)
    deviceReady = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.bundle = None
        self.scan = None
        self.scan_columns: tuple = (None, None)   # the table columns self.scan was read by
        self.result = None
        self.mistakes: list[dict] = []
        self.last_export: dict | None = None
        self.explain_enabled = False
        self._export_target: str | None = None
        self._last_try: tuple[str, str] | None = None
        self.device = ""
        self.training = False
        self.loading = False
        self.observer = QtObserver(self)
        self.observer.status.connect(self.status)
        self.tasks = TaskRunner(self)
        self.tasks.error.connect(self.error)
        self._load_task = self._train_task = None

    # ------------------------------------------------------------------ start-up
    def start(self) -> None:
        """Import TensorFlow in a worker (after the window is shown)."""
        self.tasks.run("warm-up", jobs.warm_up, on_done=self._on_device, owns_model=True,
                       label="Starting Keras…")

    @Slot(object)
    def _on_device(self, description: str) -> None:
        self.device = description
        self.deviceReady.emit(description)

    @property
    def sample_mode(self) -> bool:
        """The built-in sample is loaded: only then may ImageNet fall back to none."""
        return self.scan is not None and \
            Path(self.scan.root).resolve() == default_location().resolve()

    def _refuse_while_training(self, what: str) -> bool:
        if self.training:
            self.error.emit(f"Training is running; stop it before {what}.", "")
        return self.training

    # ------------------------------------------------------------------ model
    def load_model(self, spec: dict) -> None:
        if self._refuse_while_training("loading another model") or self.loading:
            return
        try:
            spec = check_spec({**spec, "num_classes": self.scan.num_classes if self._scan_fits(
                spec) else 2}).to_dict()
        except UserError as e:
            self.error.emit(e.window_message, e.details or "")
            return
        self._set_loading(True)
        # Clicked while Keras is still starting (or another model task runs): it waits.
        self._load_task = self.tasks.run(
            "load-model", jobs.load_model, spec, self.observer, STOP, self.sample_mode,
            on_done=self._on_loaded, on_error=self._on_load_error, owns_model=True,
            wait=True, label="Loading the model…")

    def cancel_load(self) -> None:
        if self._load_task is not None:
            self._load_task.cancel()

    def _scan_fits(self, spec: dict) -> bool:
        return self.scan is not None and \
            self.scan.kind == modality_for(
                spec.get("architecture", ModelSpec().architecture)).input_kind

    def _set_loading(self, loading: bool) -> None:
        self.loading = loading
        self.loadingChanged.emit(loading)

    @Slot(object)
    def _on_loaded(self, loaded) -> None:
        bundle, note = loaded
        self._set_loading(False)
        if note:
            self.note.emit(note)
        if self.scan is not None and self._scan_fits(bundle.spec.to_dict()):
            bundle.classes = list(self.scan.classes)
        self._set_bundle(bundle)
        self.status.emit(f"Loaded {bundle.architecture.upper()} — weights: {bundle.weights_source}")

    @Slot(str, str)
    def _on_load_error(self, message: str, details: str) -> None:
        self._set_loading(False)
        self.error.emit(message, details)

    def _set_bundle(self, bundle) -> None:
        self.bundle = bundle
        self.bundleChanged.emit(bundle)

    def apply_strategy(self, key: str, unfreeze_last: int, lora_rank: int) -> None:
        """Tree strategies apply at once; LoRA/int8 (or leaving them) change the model in a
        worker."""
        if self.bundle is None:
            self.error.emit("Load a model first (left, 'Load model').", "")
            return
        if self._refuse_while_training("changing the strategy"):
            return
        one_way = key in ("lora", "qlora") or any(self.bundle.peft().values())
        if not one_way:
            try:
                self.bundle.tree.apply_strategy(key, unfreeze_last)
            except UserError as e:
                self.error.emit(e.window_message, e.details or "")
            return
        if self.bundle.modality.lora_unavailable and key in ("lora", "qlora"):
            self.error.emit(self.bundle.modality.lora_unavailable, "")
            return
        self.tasks.run("strategy", jobs.prepare_strategy, self.bundle, key, unfreeze_last,
                       lora_rank, self.observer, STOP, on_done=self._on_prepared,
                       owns_model=True, label="Preparing the model…")

    @Slot(object)
    def _on_prepared(self, bundle) -> None:
        self._set_bundle(bundle)

    def _with_scan_classes(self):
        """(In the new-head worker, once the model is free.) The model with an output
        layer for the scanned classes — unchanged when it already has it."""
        bundle, scan = self.bundle, self.scan
        if bundle is None or scan is None or bundle.input_kind != scan.kind or (
                bundle.num_classes == scan.num_classes and bundle.classes == scan.classes):
            return bundle
        return jobs.with_classes(bundle, scan)

    # ------------------------------------------------------------------ data
    def open_data(self, path: str, columns: tuple | None = None) -> None:
        """Scan a folder or table; ``columns``: a table's (text, label) columns, None for
        either to find it by name."""
        if self._refuse_while_training("changing the data"):
            return
        self.status.emit(f"Scanning {path}…")
        self.tasks.run("scan", jobs.scan_data, path, STOP, columns,
                       on_done=self._on_scanned, label="Scanning…")

    @Slot(str, str, str)
    def choose_columns(self, path: str, text: str, label: str) -> None:
        """Read a table again by the columns chosen in the window ("": by name)."""
        self.open_data(path, (text or None, label or None))

    def use_sample(self) -> None:
        self.tasks.run("sample-data", jobs.sample_dataset, on_done=self._on_sample_ready)

    @Slot(object)
    def _on_sample_ready(self, path: str) -> None:
        self.open_data(path)

    @Slot(object)
    def _on_scanned(self, scanned: dict) -> None:
        scan = scanned["scan"]
        self.tableColumns.emit(scanned["path"], scanned["header"], scanned["columns"])
        if scan is None:      # a table read by the wrong columns: the window offers others
            self.error.emit(scanned["message"], "")
            return
        self.scan, self.scan_columns = scan, scanned["columns"]
        self.scanChanged.emit(scan, scanned["samples"])
        self.status.emit(f"{scan.kind.capitalize()}: {len(scan.classes)} classes, "
                         f"{sum(scan.counts().values())} examples, {len(scan.skipped)} "
                         "skipped.")
        if self.bundle is None:
            self.architectureWanted.emit(modality_for_input(scan.kind).name)
        elif self.bundle.input_kind != scan.kind:
            wanted = modality_for_input(scan.kind)
            self.error.emit(f"This data holds {scan.kind}, but the loaded model is "
                            f"{self.bundle.modality.title}. Choose {wanted.title} and "
                            "load it to train.", "")
        elif self.bundle.num_classes != scan.num_classes or \
                self.bundle.classes != scan.classes:
            # (After the model task running now, on the model it leaves.)
            self.tasks.run("new-head", self._with_scan_classes, on_done=self._on_prepared,
                           owns_model=True, wait=True, label="Replacing the output layer…")

    # ------------------------------------------------------------------ training
    def train(self, job: dict) -> None:
        """``job``: TrainJob fields (``strategy`` None: the tree as the user left it)."""
        if self.training:
            return
        if self.scan is None:
            self.error.emit("Drop a data folder on the window (or use the sample dataset) "
                            "before training.", "")
            return
        if self.bundle is not None:
            job["model"] = self.bundle.spec.to_dict()
        job["model"] = {**job["model"], "num_classes": self.scan.num_classes}
        try:
            from desktop_ft.core.training import TrainJob
            from desktop_ft.gui.settings import AppSettings

            # The runs cap from Settings, unless the job names its own.
            job = TrainJob.from_dict({**AppSettings().retention(), **job,
                                      **self._data_fields(), "strategy": None}).to_dict()
        except UserError as e:
            self.error.emit(e.window_message, e.details or "")
            return
        self._train_task = self.tasks.run(
            "train", jobs.fine_tune, job, self.observer, STOP, self.bundle, self.scan,
            self.sample_mode, on_done=self._on_trained, on_error=self._on_train_error,
            busy=False, owns_model=True, label="Training…")
        self._set_training(self._train_task is not None)

    def _data_fields(self) -> dict:
        """The TrainJob fields that say which data the session holds, as it was read."""
        text, label = self.scan_columns
        return {"data": self.scan.root if self.scan else "", "text_column": text,
                "label_column": label}

    def stop(self) -> None:
        if self._train_task is not None:
            self._train_task.cancel()

    def _set_training(self, training: bool) -> None:
        self.training = training
        self.trainingChanged.emit(training)

    def resume_run(self, path: str) -> None:
        """Continue an interrupted run folder (its data split, model and state)."""
        if self.training or self._refuse_while_training("resuming a run"):
            return
        self._train_task = self.tasks.run(
            "resume", jobs.resume, path, self.observer, STOP, on_done=self._on_trained,
            on_error=self._on_train_error, busy=False, owns_model=True, label="Training…")
        self._set_training(self._train_task is not None)

    @Slot(object)
    def _on_trained(self, outcome) -> None:
        result, note, mistakes, *samples = outcome
        if samples:       # a resumed run brings its own data
            self.scan = result.scan
            self.scan_columns = (result.job.text_column, result.job.label_column)
            self.scanChanged.emit(result.scan, samples[0])
        if note:
            self.note.emit(note)
        self.result, self.mistakes = result, mistakes
        if result.bundle is not self.bundle:
            self._set_bundle(result.bundle)
        self._set_training(False)
        self.resultReady.emit(result)
        self.mistakesReady.emit(mistakes)
        self.status.emit(f"Training {result.stop_reason} — {result.epochs_run} epoch(s).")

    @Slot(str, str)
    def _on_train_error(self, message: str, details: str) -> None:
        self._set_training(False)
        self.trainingFailed.emit()
        self.error.emit(message, details)

    # ------------------------------------------------------------------ try it and export
    def _trained(self, what: str) -> bool:
        if self._refuse_while_training(what):
            return False
        if self.bundle is None or self.result is None:
            self.error.emit("Train a model first.", "")
            return False
        return True

    def predict(self, item: str, kind: str) -> None:
        if not self._trained("trying the model"):
            return
        if self.bundle.input_kind != kind:
            self.error.emit(f"The model takes {self.bundle.input_kind}, not {kind}.", "")
            return
        self._last_try = (item, kind)
        self.tasks.run("predict", jobs.predict, self.bundle, item, self.explain_enabled,
                       on_done=self._on_predicted, owns_model=True,
                       label="Explaining…" if self.explain_enabled else "Predicting…")

    def set_explain(self, on: bool) -> None:
        """Explain each try (a Grad-CAM heatmap or word importance); turning it on
        explains the last input tried."""
        self.explain_enabled = on
        if on and self._last_try is not None and self.result is not None and \
                not self.training:
            self.predict(*self._last_try)

    @Slot(object)
    def _on_predicted(self, outcome) -> None:
        probs = outcome["probs"]
        labels = self.bundle.classes or [str(i) for i in range(len(probs))]
        self.predicted.emit(labels, probs)
        if outcome["explanation"] is not None:
            self.explained.emit(outcome)

    def save_report(self, path: str) -> None:
        if not self._trained("writing a report"):
            return
        self.tasks.run("report", jobs.write_report, path, self.result, self.mistakes,
                       self.last_export, self.scan.root if self.scan else "",
                       on_done=self._on_report)

    @Slot(object)
    def _on_report(self, path: str) -> None:
        self.reportWritten.emit(path)
        self.status.emit(f"Report written to {path}")

    def export(self, path: str, formats: list[str] | None = None) -> bool:
        if not self._trained("exporting"):
            return False
        if formats is not None and not formats:
            self.error.emit("Choose at least one export format.", "")
            return False
        self._export_target = path
        return self.tasks.run("export", jobs.export, self.bundle, path, self.result,
                              self.observer, formats, STOP, on_done=self._on_exported,
                              on_error=self._on_export_error, owns_model=True,
                              label="Exporting…") is not None

    @Slot(object)
    def _on_exported(self, record: dict) -> None:
        self.last_export = record
        self.exported.emit(record)

    @Slot(str, str)
    def _on_export_error(self, message: str, details: str) -> None:
        self.exportFailed.emit()
        self.error.emit(message, details)
        run = getattr(self.result, "run_path", None)
        if run and self._export_target:
            self.exportFailedWithRun.emit(run, self._export_target)

    def export_run(self, run_path: str, out: str, formats: list[str] | None = None) -> None:
        """Export a run folder's last checkpoint (no retraining)."""
        self._export_target = out
        self.tasks.run("export-run", jobs.export_run, run_path, out, self.observer, formats,
                       STOP, on_done=self._on_exported, on_error=self._on_export_error,
                       owns_model=True, label="Exporting from the run…")

    # ------------------------------------------------------------------ projects
    def save_project(self, path: str, job: dict) -> None:
        from desktop_ft.core.project import project_from_session, save_project
        from desktop_ft.core.training import TrainJob

        try:
            job = TrainJob.from_dict({**job, **self._data_fields(), "strategy": None})
            save_project(path, project_from_session(job, self.bundle))
        except (UserError, OSError) as e:
            self.error.emit(f"Could not save the project: {e}", "")
            return
        self.status.emit(f"Project saved to {path}")

    def open_project(self, path: str) -> None:
        from desktop_ft.core.project import load_project

        if self._refuse_while_training("opening a project"):
            return
        try:
            project = load_project(path)
        except UserError as e:
            self.error.emit(e.window_message, e.details or "")
            return
        self.projectOpened.emit(project)
        self._set_loading(True)
        self._load_task = self.tasks.run(
            "open-project", jobs.replay_project, project, self.observer, STOP,
            on_done=self._on_project_replayed, on_error=self._on_load_error,
            owns_model=True, wait=True, label="Opening the project…")

    @Slot(object)
    def _on_project_replayed(self, replayed) -> None:
        bundle, scan, samples, table = replayed
        self._set_loading(False)
        self.tableColumns.emit(scan.root, table["header"], table["columns"])
        self.scan, self.scan_columns = scan, table["columns"]
        self.scanChanged.emit(scan, samples)
        self._set_bundle(bundle)

    # ------------------------------------------------------------------ shutdown
    def shut_down(self) -> None:
        """Ask every task to stop (training after its batch, a scan between files) and
        skip what only serves a result nobody will see (the evaluation after training)."""
        self.tasks.cancel_all(abandon=True)
