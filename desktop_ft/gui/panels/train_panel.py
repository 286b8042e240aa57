"""The train panel: options, Train/Stop, progress with ETA, live curves, and the results
(per-class accuracy and the confusion matrix) in a pane of their own beside the curves."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDoubleSpinBox,
                               QHBoxLayout, QHeaderView, QLabel, QLineEdit, QProgressBar,
                               QPushButton, QSizePolicy, QSpinBox,
                               QSplitter, QTableWidget, QTabWidget,
                               QVBoxLayout, QWidget)

from desktop_ft.core.data.scan_result import CLASS_WEIGHTS_BOX
from desktop_ft.core.errors import UserError
from desktop_ft.core.layer_tree import STRATEGY_HELP
from desktop_ft.core.progress import Progress, format_seconds
from desktop_ft.core.training import default_learning_rate
from desktop_ft.core.training.schedules import SCHEDULES
from desktop_ft.gui.widgets import ConfusionMatrixView, MistakesView, TrainingPlots
from desktop_ft.gui.widgets.metric_tables import MonitorChoice, fill_metrics_table, overall_text
from desktop_ft.gui.widgets.training_options import TrainingOptions
from desktop_ft.gui.widgets.wiring import connect_all


class TrainPanel(QWidget):
    """``options()`` / ``set_options()`` (TrainJob fields); ``trainRequested`` /
    ``stopRequested``; the observer's signals go to ``on_train_begin``, ``on_batch`` and
    ``on_epoch``; ``show_result(result)`` after a run."""

    trainRequested = Signal()
    stopRequested = Signal()
    exampleActivated = Signal(str)     # a mistake clicked: try it
    optionsChanged = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("trainPanel")
        layout = QVBoxLayout(self)
        layout.addLayout(self._make_controls())
        layout.addLayout(self._make_options())
        self.monitor = MonitorChoice()        # Stop/keep best by (suggests macro-F1)
        layout.addWidget(self.monitor)
        self.advanced = TrainingOptions()     # optimizer, weight decay, seed, validation data
        layout.addWidget(self.advanced)
        self.progress = QProgressBar(objectName="progressBar", minimum=0, maximum=100)
        layout.addWidget(self.progress)
        self.progress_label = QLabel("Not trained yet.", objectName="progressLabel")
        # The label's size must not follow its text: a re-layout on every batch would
        # repaint the plots too.
        self.progress_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        layout.addWidget(self.progress_label)
        layout.addWidget(self._make_curves_and_results(), 1)
        self._progress = Progress()
        self._training = False
        self._controller = None
        self._classes: list[str] = []
        for signal in (self.two_phase.toggled, self.lr.textChanged):
            signal.connect(self.optionsChanged)

    def _make_controls(self) -> QHBoxLayout:
        """Epochs, batch, learning rate, early stopping; Train and Stop."""
        controls = QHBoxLayout()
        self.epochs = QSpinBox(objectName="epochs", minimum=1, maximum=1000, value=10)
        self.batch_size = QSpinBox(objectName="batchSize", minimum=1, maximum=1024, value=32)
        self.lr = QLineEdit(objectName="learningRate", placeholderText="auto")
        self.lr.setFixedWidth(80)
        self.find_lr = QPushButton("Find…", objectName="findLearningRate")
        self.find_lr.setToolTip("Train a few steps at growing rates and suggest one; the "
                                "model is left as it was.")
        self.find_lr.clicked.connect(self._find_learning_rate)
        self._lr_dialog = None
        self.auto_lr = QLabel("", objectName="autoLearningRate")
        self.auto_lr.setStyleSheet("color: #555;")
        self.early = QSpinBox(objectName="earlyStopping", minimum=0, maximum=100)
        self.early.setSpecialValueText("off")
        for label, w in (("Epochs", self.epochs), ("Batch", self.batch_size),
                         ("Learning rate", self.lr)):
            controls.addWidget(QLabel(label))
            controls.addWidget(w)
        controls.addWidget(self.find_lr)
        controls.addWidget(self.auto_lr)
        controls.addWidget(QLabel("Early stopping"))
        controls.addWidget(self.early)
        controls.addStretch(1)
        self.train_button = QPushButton("Train", objectName="trainButton")
        self.train_button.clicked.connect(self.trainRequested)
        self.stop_button = QPushButton("Stop", objectName="stopButton", enabled=False)
        self.stop_button.clicked.connect(self._on_stop_clicked)
        controls.addWidget(self.train_button)
        controls.addWidget(self.stop_button)
        return controls

    def _make_options(self) -> QHBoxLayout:
        """Two-phase and its phase 1, the feature cache, XLA, class weights."""
        options = QHBoxLayout()
        self.two_phase = QCheckBox("Two-phase", objectName="twoPhase")
        self.two_phase.setToolTip(STRATEGY_HELP["two-phase"])
        self.phase1_epochs = QSpinBox(objectName="phase1Epochs", minimum=0, maximum=999,
                                      prefix="phase 1: ")
        self.phase1_epochs.setSpecialValueText("auto")
        self.phase1_epochs.setToolTip("Epochs of phase 1 (head only); auto: until what "
                                      "'Stop/keep best by' follows stops improving")
        self.feature_cache = QCheckBox("Feature cache", objectName="featureCache", checked=True)
        self.feature_cache.setToolTip("Compute the frozen first layers' output once and train "
                                      "only the rest on it (images; much faster)")
        self.jit = QCheckBox("XLA", objectName="jitCompile")
        self.jit.setToolTip("Compile the training step with XLA")
        self.class_weights = QCheckBox(CLASS_WEIGHTS_BOX, objectName="classWeights")
        self.class_weights.setToolTip("Weight each class inversely to its number of "
                                      "training examples, so a rare class counts as much "
                                      "as a common one")
        # "auto": the model's default (constant, as measured: BENCHMARKS.md), kept as
        # "auto" so a project file keeps following the default.
        self.schedule = QComboBox(objectName="schedule")
        self.schedule.addItems(["auto", *SCHEDULES])
        self.schedule.setToolTip("How the learning rate changes over each phase's steps "
                                 "(auto: constant; text models are often fine-tuned with "
                                 "linear decay after a 10 % warm-up, image models with cosine)")
        self.warmup = QDoubleSpinBox(objectName="warmup", minimum=-0.05, maximum=0.9,
                                     singleStep=0.05, value=-0.05, prefix="warm-up ")
        self.warmup.setSpecialValueText("warm-up auto")
        self.warmup.setToolTip("Fraction of each phase's steps over which the rate ramps up")
        for w in (self.two_phase, self.phase1_epochs, self.feature_cache, self.jit,
                  self.class_weights, QLabel("Schedule"), self.schedule, self.warmup):
            options.addWidget(w)
        options.addStretch(1)
        return options

    def _make_curves_and_results(self) -> QSplitter:
        """The live curves beside the results pane."""
        self.plots = TrainingPlots()
        self.plots.setMinimumHeight(260)
        results = self._make_results()
        # Curves on the left, results on the right: neither squeezes the other.
        self.splitter = QSplitter(Qt.Orientation.Horizontal, objectName="trainSplitter")
        self.splitter.addWidget(self.plots)
        self.splitter.addWidget(results)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        return self.splitter

    def _make_results(self) -> QTabWidget:
        """Per class (accuracy table, confusion matrix) and Mistakes."""
        self.per_class = QTableWidget(0, 2, objectName="perClassAccuracy")
        self.per_class.setHorizontalHeaderLabels(["Class", "Accuracy"])
        self.per_class.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.per_class.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.confusion = ConfusionMatrixView()
        self.confusion.cellClicked.connect(self._on_cell_clicked)
        self.confusion.setToolTip("Click a cell to see its examples under Mistakes")
        summary = QWidget()
        column = QVBoxLayout(summary)
        column.setContentsMargins(0, 0, 0, 0)
        self.overall = QLabel(objectName="overallMetrics", wordWrap=True)
        column.addWidget(self.overall)
        column.addWidget(self.per_class, 2)
        column.addWidget(self.confusion, 3)
        self.mistakes = MistakesView()
        self.mistakes.exampleActivated.connect(self.exampleActivated)
        results = QTabWidget(objectName="resultsPane")
        results.setMinimumWidth(240)
        results.addTab(summary, "Per class")
        results.addTab(self.mistakes, "Mistakes")
        self.results = results
        return results

    def bind(self, controller) -> None:
        self._controller = controller
        suspects = self.mistakes.suspects
        observer = controller.observer
        connect_all(
            (self.stopRequested, controller.stop),
            (controller.trainingChanged, self.set_training),
            (controller.resultReady, self.show_result),
            (controller.trainingFailed, self.show_failure),
            (controller.mistakesReady, self.mistakes.set_mistakes),
            (suspects.findRequested, self._find_suspects),
            (suspects.decided, controller.decide_label),
            (suspects.applyRequested, controller.apply_corrections_to_folder),
            (suspects.undoRequested, controller.undo_corrections),
            (controller.suspectsReady, suspects.set_suspects),
            (controller.correctionsChanged, suspects.set_undo_available),
            (controller.bundleChanged, self.refresh_auto_learning_rate),
            (self.optionsChanged, self.refresh_auto_learning_rate),
            (observer.trainBegan, self.on_train_begin),
            (observer.batchEnded, self.on_batch),
            (observer.epochEnded, self.on_epoch),
            (controller.projectOpened, self._on_project),
            (controller.scanChanged, self.monitor.on_scan),
            (controller.lrPoint, self._on_lr_point),
            (controller.lrFound, self._on_lr_found),
            (controller.lrFailed, self._on_lr_stopped),
            (controller.taskCancelled, self._on_cancelled))

    @Slot()
    def _find_learning_rate(self) -> None:
        """The range test with these settings (batch size, optimizer …), in a dialog."""
        from desktop_ft.gui.widgets.lr_finder_dialog import LrFinderDialog

        try:
            options = self.options()
        except UserError as e:
            self._controller.error.emit(e.window_message, "")
            return
        dialog = LrFinderDialog(self)
        dialog.rateChosen.connect(self._set_learning_rate)
        dialog.cancelRequested.connect(self._controller.cancel_tasks)
        self._lr_dialog = dialog
        if self._controller.find_learning_rate(options):
            dialog.show()
        else:
            self._lr_dialog = None
            dialog.deleteLater()

    @Slot(float, float)
    def _on_lr_point(self, lr: float, loss: float) -> None:
        if self._lr_dialog is not None:
            self._lr_dialog.add_point(lr, loss)

    @Slot(object)
    def _on_lr_found(self, found: dict) -> None:
        if self._lr_dialog is not None:
            self._lr_dialog.show_result(found)

    @Slot(str)
    def _on_lr_stopped(self, message: str) -> None:
        if self._lr_dialog is not None:
            self._lr_dialog.show_stopped(message)

    @Slot(str)
    def _on_cancelled(self, name: str) -> None:
        if name == "lr-find":
            self._on_lr_stopped("Cancelled; the model is as it was.")

    @Slot(float)
    def _set_learning_rate(self, rate: float) -> None:
        self.lr.setText(f"{rate:.3g}")

    @Slot()
    def _find_suspects(self) -> None:
        """The search trains like Train does: these settings (epochs, learning rate …)."""
        try:
            options = self.options()
        except UserError as e:
            self._controller.error.emit(e.window_message, "")
            return
        self._controller.find_suspects(options)

    @Slot(object)
    def _on_project(self, project) -> None:
        self.set_options(project.job.to_dict())

    # ------------------------------------------------------------------ public API
    def options(self) -> dict:
        """TrainJob fields set here. Raises UserError for a learning rate that is not a
        number."""
        text = self.lr.text().strip()
        lr = None
        if text:
            try:
                lr = float(text)
            except ValueError:
                raise UserError(f"Learning rate '{text}' is not a number (e.g. 0.001), or "
                                "leave it empty for the automatic rate.") from None
        return {"epochs": self.epochs.value(), "batch_size": self.batch_size.value(),
                "lr": lr, "early_stopping": self.early.value(),
                "two_phase": self.two_phase.isChecked(),
                "phase1_epochs": self.phase1_epochs.value(),
                "feature_cache": self.feature_cache.isChecked(),
                "jit_compile": self.jit.isChecked(),
                "class_weights": self.class_weights.isChecked(),
                "schedule": self.schedule.currentText() if self.schedule.currentIndex()
                else None,
                "warmup": None if self.warmup.value() < 0 else self.warmup.value(),
                **self.advanced.options(), **self.monitor.options()}

    def set_options(self, job: dict) -> None:
        self.epochs.setValue(int(job.get("epochs", 10)))
        self.batch_size.setValue(int(job.get("batch_size", 32)))
        self.lr.setText("" if job.get("lr") is None else str(job["lr"]))
        self.early.setValue(int(job.get("early_stopping", 0)))
        self.two_phase.setChecked(bool(job.get("two_phase", False)))
        self.phase1_epochs.setValue(int(job.get("phase1_epochs", 0)))
        self.feature_cache.setChecked(bool(job.get("feature_cache", True)))
        self.jit.setChecked(bool(job.get("jit_compile", False)))
        self.class_weights.setChecked(bool(job.get("class_weights", False)))
        self.schedule.setCurrentIndex(max(self.schedule.findText(job.get("schedule") or
                                                                 "auto"), 0))
        warmup = job.get("warmup")
        self.warmup.setValue(self.warmup.minimum() if warmup is None else float(warmup))
        self.advanced.set_options(job)
        self.monitor.set_options(job)

    def set_two_phase(self, on: bool) -> None:
        self.two_phase.setChecked(on)

    @Slot()
    def refresh_auto_learning_rate(self, *_) -> None:
        """Show what "auto" means for the model as it stands: the rate training will use
        when the field is empty (the same function the CLI uses)."""
        bundle = self._controller.bundle if self._controller is not None else None
        if bundle is None or bundle.tree is None:
            self.auto_lr.setText("")
            return
        rate, why = default_learning_rate(bundle.architecture, bundle.tree,
                                          self.two_phase.isChecked())
        self.auto_lr.setText(f"auto = {rate:g}")
        self.auto_lr.setToolTip(f"Used when the field is empty: {why}.")

    def auto_learning_rate(self) -> str:
        return self.auto_lr.text()

    def set_can_train(self, can: bool) -> None:
        self.train_button.setEnabled(can and not self._training)

    @Slot(bool)
    def set_training(self, training: bool) -> None:
        self._training = training
        self.train_button.setEnabled(not training)
        self.stop_button.setEnabled(training)
        if training:
            self.plots.reset()
            self.progress.setValue(0)
            self.progress_label.setText("Preparing…")
            self.per_class.setRowCount(0)
            self.overall.clear()
            self.confusion.clear()
            self.mistakes.set_mistakes([])
            self.results.setCurrentIndex(0)
        else:
            self.plots.flush()

    @Slot()
    def show_failure(self) -> None:
        self.progress_label.setText("Training failed.")

    @Slot(object)
    def show_result(self, result) -> None:
        if result.stop_reason != "stopped by user":
            self.progress.setValue(100)
        last = {k: v[-1] for k, v in result.history.items() if v and k != "lr"}
        metrics = "  ".join(f"{k} {v:.4f}" for k, v in last.items())
        self.progress_label.setText(f"{result.stop_reason.capitalize()} after "
                                    f"{result.epochs_run} epoch(s) at learning rate "
                                    f"{result.learning_rate:g}. {metrics}")
        ev = result.evaluation
        if not ev:
            return
        fill_metrics_table(self.per_class, ev)      # multi-label: per label, no matrix
        self.overall.setText(overall_text(ev))
        self._classes = list(ev["classes"])
        self.confusion.setVisible(not ev.get("multi_label"))
        if not ev.get("multi_label"):
            self.confusion.set_matrix(ev["confusion_matrix"], ev["classes"])
        width = self.splitter.width()
        if self.splitter.sizes()[1] < width // 3:   # make room for the results once
            self.splitter.setSizes([width * 3 // 5, width * 2 // 5])

    # ------------------------------------------------------------------ observer slots
    @Slot(object)
    def on_train_begin(self, info: dict) -> None:
        self._progress.begin(info)
        if info.get("phase", 1) == 1:
            self.plots.reset(self._progress.steps, self._progress.epochs)
            before = info.get("history_before") or {}
            for epoch in range(len(next(iter(before.values()), []))):
                self.plots.add_epoch(epoch, {k: v[epoch] for k, v in before.items()
                                             if epoch < len(v)})
        else:
            self.plots.mark_phase(info["first_epoch"],
                                  f"phase {info['phase']} (lr {info['learning_rate']:g})")

    @Slot(int, int, object)
    def on_batch(self, epoch: int, batch: int, logs: dict) -> None:
        if "loss" in logs:
            self.plots.add_batch(epoch, batch, logs["loss"], logs.get("lr"))
        p = self._progress
        p.batch(epoch, batch)
        pct = int(100 * p.fraction())
        if pct != self.progress.value():
            self.progress.setValue(pct)
        self.progress_label.setText(f"Epoch {epoch + 1}/{p.epochs} · batch {batch + 1}/"
                                    f"{p.steps} · loss {logs.get('loss', 0):.4f} · "
                                    f"ETA {format_seconds(p.eta_seconds())}")

    @Slot(int, object)
    def on_epoch(self, epoch: int, logs: dict) -> None:
        self.plots.add_epoch(epoch, logs)

    @Slot(int, int)
    def _on_cell_clicked(self, row: int, col: int) -> None:
        classes = self._classes
        if row < len(classes) and col < len(classes):
            self.mistakes.filter_cell(classes[row], classes[col])
            self.results.setCurrentWidget(self.mistakes)

    @Slot()
    def _on_stop_clicked(self) -> None:
        self.progress_label.setText("Stopping after this batch…")
        self.stop_button.setEnabled(False)
        self.stopRequested.emit()
