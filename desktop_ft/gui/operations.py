"""The session's operations, one class per concern: each checks it may run, starts its
task (:mod:`desktop_ft.gui.task_runner`) with a function of
:mod:`desktop_ft.gui.worker_functions`, and takes the result back in a slot here, in the
GUI thread, where it updates the session (:class:`~desktop_ft.gui.controller.
SessionController`) — whose signals the panels follow.

Slots given to a task must be methods of GUI-thread QObjects, hence QObject classes."""

from __future__ import annotations

from PySide6.QtCore import QObject, Slot

from desktop_ft.core.errors import UserError
from desktop_ft.core.models import check_spec, modality_for_input
from desktop_ft.gui import worker_functions as work
from desktop_ft.gui.task_runner import STOP, TaskSpec


class _Operations(QObject):
    def __init__(self, session, refusals):
        super().__init__(session)
        self._session, self._refusals = session, refusals

    def _run(self, spec: TaskSpec, fn, *args, on_done=None, on_error=None):
        return self._session.tasks.run(spec, fn, *args, on_done=on_done, on_error=on_error)


class ModelOperations(_Operations):
    """Start-up (the Keras import), loading a model, and strategies that change it."""

    def start(self) -> None:
        self._run(TaskSpec("warm-up", "Starting Keras…", owns_model=True), work.warm_up,
                  on_done=self._on_device)

    @Slot(object)
    def _on_device(self, description: str) -> None:
        self._session.set_device(description)

    def load(self, spec: dict) -> None:
        s = self._session
        if self._refusals.while_training("loading another model") or s.loading:
            return
        try:
            fits = s.scan_fits(spec)
            spec = check_spec({**spec, "num_classes": s.scan.num_classes if fits else 2,
                               "multi_label": bool(fits and s.scan.multi_label)}).to_dict()
        except UserError as e:
            self._refusals.user_error(e)
            return
        s.set_loading(True)
        # Clicked while Keras is still starting (or another model task runs): it waits.
        s.load_task = self._run(
            TaskSpec("load-model", "Loading the model…", owns_model=True, wait=True),
            work.load_model, spec, s.observer, STOP, s.sample_mode,
            on_done=self._on_loaded, on_error=self.on_load_error)

    @Slot(object)
    def _on_loaded(self, loaded) -> None:
        bundle, note = loaded
        s = self._session
        s.set_loading(False)
        if note:
            s.note.emit(note)
        if s.scan is not None and s.scan_fits(bundle.spec.to_dict()):
            bundle.classes = list(s.scan.classes)
        s.set_bundle(bundle)
        s.status.emit(f"Loaded {bundle.architecture.upper()} — weights: "
                      f"{bundle.weights_source}")

    @Slot(str, str)
    def on_load_error(self, message: str, details: str) -> None:
        self._session.set_loading(False)
        self._refusals.say(message, details)

    def apply_strategy(self, key: str, unfreeze_last: int, lora_rank: int) -> None:
        """Tree strategies apply at once; LoRA/int8 (or leaving them) change the model in a
        worker."""
        bundle = self._session.bundle
        if bundle is None:
            self._refusals.say("Load a model first (left, 'Load model').")
            return
        if self._refusals.while_training("changing the strategy"):
            return
        one_way = key in ("lora", "qlora") or any(bundle.peft().values())
        if not one_way:
            try:
                bundle.tree.apply_strategy(key, unfreeze_last)
            except UserError as e:
                self._refusals.user_error(e)
            return
        if bundle.modality.lora_unavailable and key in ("lora", "qlora"):
            self._refusals.say(bundle.modality.lora_unavailable)
            return
        self._run(TaskSpec("strategy", "Preparing the model…", owns_model=True,
                           cancellable=True),
                  work.prepare_strategy, bundle, key, unfreeze_last, lora_rank,
                  self._session.observer, STOP, on_done=self.on_prepared)

    @Slot(object)
    def on_prepared(self, bundle) -> None:
        self._session.set_bundle(bundle)


class DataOperations(_Operations):
    """Scanning a folder or table (or the built-in sample), and matching the model's
    output layer to what was scanned."""

    def open(self, path: str, columns: tuple | None = None) -> None:
        """Scan a folder or table; ``columns``: a table's (text, label) columns, None for
        either to find it by name."""
        if self._refusals.while_training("changing the data"):
            return
        self._session.status.emit(f"Scanning {path}…")
        self._run(TaskSpec("scan", "Scanning…", cancellable=True), work.scan_data, path,
                  STOP, columns, on_done=self._on_scanned)

    def use_sample(self) -> None:
        self._run(TaskSpec("sample-data"), work.sample_dataset, on_done=self._on_sample_ready)

    @Slot(object)
    def _on_sample_ready(self, path: str) -> None:
        self.open(path)

    @Slot(object)
    def _on_scanned(self, scanned: dict) -> None:
        s = self._session
        scan = scanned["scan"]
        s.tableColumns.emit(scanned["path"], scanned["header"], scanned["columns"])
        if scan is None:      # a table read by the wrong columns: the window offers others
            self._refusals.say(scanned["message"])
            return
        # The decisions about suspect labels (Relabel, Exclude) the user made here before.
        from desktop_ft.core.data.corrections import apply_saved_corrections

        try:
            apply_saved_corrections(scan)
        except UserError as e:
            self._refusals.user_error(e)
        s.set_scan(scan, scanned["columns"], scanned["samples"])
        s.status.emit(f"{scan.kind.capitalize()}: {len(scan.classes)} "
                      f"{'labels' if scan.multi_label else 'classes'}, {scan.examples()} "
                      f"examples, {len(scan.skipped)} skipped.")
        self._match_the_model(scan)

    def _match_the_model(self, scan) -> None:
        s = self._session
        if s.bundle is None:
            s.architectureWanted.emit(modality_for_input(scan.kind).name)
        elif s.bundle.input_kind != scan.kind:
            wanted = modality_for_input(scan.kind)
            self._refusals.say(f"This data holds {scan.kind}, but the loaded model is "
                               f"{s.bundle.modality.title}. Choose {wanted.title} and "
                               "load it to train.")
        elif s.bundle.num_classes != scan.num_classes or s.bundle.classes != scan.classes \
                or s.bundle.multi_label != scan.multi_label:
            # (After the model task running now, on the model it leaves.)
            self._run(TaskSpec("new-head", "Replacing the output layer…", owns_model=True,
                               wait=True),
                      self._with_scan_classes, on_done=s.model_ops.on_prepared)

    def _with_scan_classes(self):
        """(In the new-head worker, once the model is free.) The model with an output
        layer for the scanned classes — unchanged when it already has it."""
        bundle, scan = self._session.bundle, self._session.scan
        if bundle is None or scan is None or bundle.input_kind != scan.kind or (
                bundle.num_classes == scan.num_classes and bundle.classes == scan.classes
                and bundle.multi_label == scan.multi_label):
            return bundle
        return work.with_classes(bundle, scan)


class TrainingOperations(_Operations):
    """Training (a new run, or resuming a run folder) and stopping it."""

    def train(self, job: dict) -> None:
        """``job``: TrainJob fields (``strategy`` None: the tree as the user left it)."""
        s = self._session
        if s.training:
            return
        if s.scan is None:
            self._refusals.say("Drop a data folder on the window (or use the sample "
                               "dataset) before training.")
            return
        if s.bundle is not None:
            job["model"] = s.bundle.spec.to_dict()
        job["model"] = {**job["model"], "num_classes": s.scan.num_classes}
        try:
            from desktop_ft.core.training import TrainJob
            from desktop_ft.gui.settings import AppSettings

            # The runs cap from Settings, unless the job names its own.
            job = TrainJob.from_dict({**AppSettings().retention(), **job,
                                      **s.data_fields(), "strategy": None}).to_dict()
        except UserError as e:
            self._refusals.user_error(e)
            return
        s.train_task = self._run(
            TaskSpec("train", "Training…", owns_model=True, busy=False),
            work.fine_tune, job, s.observer, STOP, s.bundle, s.scan, s.sample_mode,
            on_done=self._on_trained, on_error=self._on_train_error)
        s.set_training(s.train_task is not None)

    def resume(self, path: str) -> None:
        """Continue an interrupted run folder (its data split, model and state)."""
        s = self._session
        if s.training or self._refusals.while_training("resuming a run"):
            return
        s.train_task = self._run(
            TaskSpec("resume", "Training…", owns_model=True, busy=False),
            work.resume, path, s.observer, STOP,
            on_done=self._on_trained, on_error=self._on_train_error)
        s.set_training(s.train_task is not None)

    @Slot(object)
    def _on_trained(self, outcome) -> None:
        result, note, mistakes, *samples = outcome
        s = self._session
        if samples:       # a resumed run brings its own data
            s.set_scan(result.scan, (result.job.text_column, result.job.label_column),
                       samples[0])
        if note:
            s.note.emit(note)
        s.result, s.mistakes = result, mistakes
        if result.bundle is not s.bundle:
            s.set_bundle(result.bundle)
        s.set_training(False)
        s.resultReady.emit(result)
        s.mistakesReady.emit(mistakes)
        s.status.emit(f"Training {result.stop_reason} — {result.epochs_run} epoch(s).")

    @Slot(str, str)
    def _on_train_error(self, message: str, details: str) -> None:
        s = self._session
        s.set_training(False)
        s.trainingFailed.emit()
        self._refusals.say(message, details)


class ResultOperations(_Operations):
    """What follows training: trying the model (and explaining it), the report, export
    (of the session's model, or of a run folder's checkpoint)."""

    def __init__(self, session, refusals):
        super().__init__(session, refusals)
        self.explain_enabled = False
        self._last_try: tuple[str, str] | None = None
        self._export_target: str | None = None

    def predict(self, item: str, kind: str) -> None:
        s = self._session
        if not self._refusals.trained("trying the model"):
            return
        if s.bundle.input_kind != kind:
            self._refusals.say(f"The model takes {s.bundle.input_kind}, not {kind}.")
            return
        self._last_try = (item, kind)
        self._run(TaskSpec("predict", "Explaining…" if self.explain_enabled else
                           "Predicting…", owns_model=True),
                  work.predict, s.bundle, item, self.explain_enabled,
                  on_done=self._on_predicted)

    def set_explain(self, on: bool) -> None:
        """Explain each try (a Grad-CAM heatmap or word importance); turning it on
        explains the last input tried."""
        s = self._session
        self.explain_enabled = on
        if on and self._last_try is not None and s.result is not None and not s.training:
            self.predict(*self._last_try)

    @Slot(object)
    def _on_predicted(self, outcome) -> None:
        s = self._session
        probs = outcome["probs"]
        labels = s.bundle.classes or [str(i) for i in range(len(probs))]
        s.predicted.emit(labels, probs)
        if outcome["explanation"] is not None:
            s.explained.emit(outcome)

    def save_report(self, path: str) -> None:
        s = self._session
        if not self._refusals.trained("writing a report"):
            return
        self._run(TaskSpec("report"), work.write_report, path, s.result, s.mistakes,
                  s.last_export, s.scan.root if s.scan else "", on_done=self._on_report)

    @Slot(object)
    def _on_report(self, path: str) -> None:
        self._session.reportWritten.emit(path)
        self._session.status.emit(f"Report written to {path}")

    def export(self, path: str, formats: list[str] | None = None) -> bool:
        s = self._session
        if not self._refusals.trained("exporting"):
            return False
        if formats is not None and not formats:
            self._refusals.say("Choose at least one export format.")
            return False
        self._export_target = path
        return self._run(TaskSpec("export", "Exporting…", owns_model=True,
                                  cancellable=True),
                         work.export, s.bundle, path, s.result, s.observer, formats, STOP,
                         on_done=self._on_exported,
                         on_error=self._on_export_error) is not None

    def export_run(self, run_path: str, out: str, formats: list[str] | None = None) -> None:
        """Export a run folder's last checkpoint (no retraining)."""
        self._export_target = out
        self._run(TaskSpec("export-run", "Exporting from the run…", owns_model=True,
                           cancellable=True),
                  work.export_run, run_path, out, self._session.observer, formats, STOP,
                  on_done=self._on_exported, on_error=self._on_export_error)

    @Slot(object)
    def _on_exported(self, record: dict) -> None:
        self._session.last_export = record
        self._session.exported.emit(record)

    @Slot(str, str)
    def _on_export_error(self, message: str, details: str) -> None:
        s = self._session
        s.exportFailed.emit()
        self._refusals.say(message, details)
        run = getattr(s.result, "run_path", None)
        if run and self._export_target:
            s.exportFailedWithRun.emit(run, self._export_target)
