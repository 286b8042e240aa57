"""The main window: it composes the panels, binds them to the session controller, and
owns the status bar, drag and drop, projects' file dialogs and closing. State and
operations live in ``controller.py`` and ``operations.py``, widgets in ``panels/``, workers
in ``task_runner.py``."""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (QLabel, QMainWindow, QProgressBar, QPushButton, QSplitter,
                               QTabWidget, QVBoxLayout, QWidget)

from desktop_ft.core.data import IMAGE_EXTENSIONS, TABLE_EXTENSIONS
from desktop_ft.core.errors import UserError
from desktop_ft.core.models import SAMPLE_SPEC
from desktop_ft.gui.controller import SessionController
from desktop_ft.gui.menus import build_menus
from desktop_ft.gui.panels import DataPanel, LayersPanel, ModelPanel, TrainPanel, TryExportPanel
from desktop_ft.gui.settings import AppSettings
from desktop_ft.gui.widgets import ErrorBanner
from desktop_ft.gui.window_state import starting_backend, update_controls

CLOSE_DEADLINE_S = 10.0
DATA_TAB, TRAIN_TAB, TRY_TAB = range(3)


def resource_path(name: str) -> str:
    return str(resources.files("desktop_ft") / "resources" / name)


class MainWindow(QMainWindow):
    """The desktop_ft main window. Construct with no arguments once a QApplication exists."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.setWindowTitle("desktop_ft — transfer learning")
        self.setWindowIcon(QIcon(resource_path("icon.svg")))
        self.setAcceptDrops(True)
        self.settings = AppSettings()
        self.controller = c = SessionController(self)
        self.banner = ErrorBanner()
        self.model_panel = ModelPanel(self.settings)
        self.layers_panel = LayersPanel()
        self.data_panel = DataPanel(self.settings)
        self.train_panel = TrainPanel()
        self.try_panel = TryExportPanel(self.settings)
        for panel in (self.model_panel, self.layers_panel, self.data_panel, self.train_panel,
                      self.try_panel):
            panel.bind(c)
        self._compose()
        self.actions_ = build_menus(self)     # File, Train, View, Help (menus.py)
        self._close_deadline: float | None = None
        self.layers_panel.strategyRequested.connect(self._on_strategy_requested)
        self.layers_panel.totalsChanged.connect(self.train_panel.refresh_auto_learning_rate)
        self.data_panel.sampleRequested.connect(self.use_sample)
        self.train_panel.advanced.val_data.textChanged.connect(self.data_panel.set_val_data)
        self.train_panel.trainRequested.connect(self.train)
        self.try_panel.imageChosen.connect(self._show_try_tab)
        self.train_panel.exampleActivated.connect(self._on_example)
        c.scanChanged.connect(self._on_scan)
        for signal in (c.loadingChanged, c.trainingChanged, c.resultReady, c.bundleChanged,
                       c.scanChanged, c.tasks.busyChanged, c.tasks.modelTaskChanged):
            signal.connect(self._update_enabled)
        c.error.connect(self.show_error)
        c.note.connect(self._on_note)
        c.status.connect(self._on_status)
        c.deviceReady.connect(self._on_device)
        c.exportFailedWithRun.connect(self._offer_export_from_run)
        self.settings.restore_geometry(self)
        self._update_enabled()
        # TensorFlow is imported in a worker after the window is shown.
        QTimer.singleShot(0, c.start)

    def _compose(self) -> None:
        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(6, 6, 6, 6)
        outer.addWidget(self.banner)
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.model_panel)
        left.addWidget(self.layers_panel)
        left.setStretchFactor(1, 1)
        self.tabs = QTabWidget(objectName="mainTabs")
        self.tabs.addTab(self.data_panel, "1 · Data")
        self.tabs.addTab(self.train_panel, "2 · Train")
        self.tabs.addTab(self.try_panel, "3 · Try it && export")
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(self.tabs)
        splitter.setSizes([600, 700])
        outer.addWidget(splitter, 1)
        self.setCentralWidget(central)
        self.busy = QProgressBar(objectName="busyIndicator", minimum=0, maximum=0)
        self.busy.setMaximumWidth(120)
        self.busy.hide()
        self.task_label = QLabel(objectName="taskLabel")     # what owns the model now
        # Stops an export, a scan or a model preparation (Load and Train have their own).
        self.cancel_button = QPushButton("Cancel", objectName="cancelTask")
        self.cancel_button.setToolTip("Stop this task; what it was changing stays as it was.")
        self.cancel_button.clicked.connect(self._cancel_tasks)
        self.cancel_button.hide()
        self.device_label = QLabel(f"Starting {starting_backend()}…", objectName="deviceLabel")
        self.statusBar().addPermanentWidget(self.task_label)
        self.statusBar().addPermanentWidget(self.cancel_button)
        self.statusBar().addPermanentWidget(self.busy)
        self.statusBar().addPermanentWidget(self.device_label)
        self.resize(1300, 840)

    def _job(self) -> dict:
        """The training settings of every panel, as TrainJob fields."""
        return {"model": self.model_panel.spec(), "val_split": self.data_panel.val_split(),
                **self.train_panel.options(), **self.layers_panel.options()}

    # ------------------------------------------------------------------ user actions
    @Slot()
    def train(self) -> None:
        try:
            job = self._job()
        except UserError as e:
            self.show_error(e.window_message)
            return
        self.banner.hide_error()
        self.controller.train(job)
        self.tabs.setCurrentIndex(TRAIN_TAB if self.controller.training else DATA_TAB)

    @Slot()
    def _cancel_tasks(self) -> None:
        self.controller.cancel_tasks()
        self.cancel_button.setEnabled(False)      # until the task has stopped
        self.statusBar().showMessage("Cancelling…")

    @Slot()
    def use_sample(self) -> None:
        if self.controller.bundle is None:   # small and quick: the sample is 64 px shapes
            self.model_panel.set_spec({**self.model_panel.spec(), **SAMPLE_SPEC})
            self.train_panel.set_options({**self.train_panel.options(), "epochs": 5})
        self.controller.use_sample()

    def open_path(self, path: str) -> None:
        """A dropped (or opened) path: a dataset, or an image to try the model on."""
        p = Path(path)
        if not p.exists():
            self.show_error(f"{p} does not exist (moved or deleted?).")
        elif p.is_dir() or p.suffix.lower() in TABLE_EXTENSIONS:
            self.banner.hide_error()
            self.controller.open_data(str(p))
            self.tabs.setCurrentIndex(DATA_TAB)
        elif p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file():
            self.try_panel.try_image(str(p))
        else:
            self.show_error(f"{p.name} is not a dataset. Drop a folder with one subfolder per "
                            "class (images or .txt files), a .csv/.tsv file of texts and "
                            "labels, or an image to try the trained model on.")

    def save_project(self, path: str) -> None:
        try:
            self.controller.save_project(path, self._job())
        except UserError as e:
            self.show_error(e.window_message)

    @Slot(str)
    def _on_example(self, item: str) -> None:
        """A mistake clicked: open it in Try it."""
        if self.controller.bundle is not None and self.controller.bundle.input_kind == "text":
            self.tabs.setCurrentIndex(TRY_TAB)
            self.try_panel.try_text(item)
        else:
            self.try_panel.try_image(item)

    # ------------------------------------------------------------------ controller events
    @Slot(str, int, int)
    def _on_strategy_requested(self, key: str, *_) -> None:
        self.train_panel.set_two_phase(key == "two-phase")

    @Slot(str)
    def _show_try_tab(self, *_) -> None:
        self.tabs.setCurrentIndex(TRY_TAB)

    @Slot(object, object)
    def _on_scan(self, scan, samples) -> None:
        self.settings.remember_data(scan.root)

    @Slot(str, str)
    def show_error(self, message: str, details: str = "") -> None:
        self.banner.show_message(message, details)
        self.statusBar().showMessage(message.split("\n")[0][:200], 10000)

    @Slot(str)
    def _on_note(self, message: str) -> None:
        self.banner.show_message(message, note=True)

    @Slot(str)
    def _on_status(self, message: str) -> None:
        self.statusBar().showMessage(message, 8000)

    @Slot(str)
    def _on_device(self, description: str) -> None:
        self.device_label.setText(f"Compute: {description}")
        # Training on several machines is a command-line mode (processes started
        # together, one per machine); the window trains on this machine's devices.
        self.device_label.setToolTip(
            f"Training here uses {description}. Several machines: multi-process training "
            "is a command-line mode — desktop-ft train --distributed (see README).")
        from desktop_ft.gui.runs_dialog import interrupted_run

        run = interrupted_run()
        if run is not None and not self.banner.isVisible():
            self.banner.show_message(
                f"A training run was interrupted after epoch {run['epochs_done']} of "
                f"{run['epochs']}: {run['name']}.", note=True,
                action=("Resume", lambda: self.controller.resume_run(run["path"])))

    @Slot(str, str)
    def _offer_export_from_run(self, run: str, out: str) -> None:
        self.banner.show_message(
            f"{self.banner.label.text()} The trained weights are safe in the run folder.",
            self.banner.details_text(), action=("Export again from the run",
                                                lambda: self.controller.export_run(run, out)))

    def open_runs_dialog(self):
        from desktop_ft.gui.runs_dialog import RunsDialog

        dialog = RunsDialog(self.settings, self, tasks=self.controller.tasks)
        dialog.resumeRequested.connect(self.controller.resume_run)
        dialog.exportRequested.connect(self.controller.export_run)
        dialog.show()
        return dialog

    def _update_enabled(self, *_) -> None:
        update_controls(self)

    # ------------------------------------------------------------------ drop and close
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_path(paths[0])

    def closeEvent(self, event) -> None:
        """Ask every task to stop; close only when none runs (or after a deadline)."""
        if self._close_deadline is None:
            self.settings.save_geometry(self)
            self._close_deadline = time.monotonic() + CLOSE_DEADLINE_S
            self.controller.shut_down()
        if self.controller.tasks.running() and time.monotonic() < self._close_deadline:
            self.statusBar().showMessage("Stopping…")
            event.ignore()
            QTimer.singleShot(50, self.close)
            return
        event.accept()
