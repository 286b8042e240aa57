"""File → Settings…: the Keras backend (it takes effect when the app starts: Keras fixes
it when it is first imported) and the runs cap (how many finished runs, and how much disk,
the runs folder keeps; applied when each training run ends)."""

from __future__ import annotations

import os

from PySide6.QtWidgets import (QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox,
                               QFormLayout, QLabel, QSpinBox, QVBoxLayout)

from desktop_ft.core import backend
from desktop_ft.gui.settings import AppSettings

DESCRIPTIONS = {
    "tensorflow": "TensorFlow — GPUs on Linux (CUDA); every export format",
    "torch": "PyTorch — GPUs on Linux and Windows (CUDA), Apple silicon (MPS)",
    "jax": "JAX — GPUs on Linux (CUDA), several GPUs in one machine",
}


class SettingsDialog(QDialog):
    def __init__(self, parent=None, settings: AppSettings | None = None):
        super().__init__(parent, objectName="settingsDialog")
        self.setWindowTitle("Settings")
        self.settings = settings or AppSettings()
        self.backend_box = QComboBox(objectName="backendChoice")
        for name in backend.BACKENDS:
            ok = backend.installed(name)
            self.backend_box.addItem(DESCRIPTIONS[name] + ("" if ok else
                                     f" — not installed: {backend.INSTALL[name]}"), name)
            if not ok:
                self.backend_box.model().item(self.backend_box.count() - 1).setEnabled(False)
        current = self.settings.backend() or backend.active() or backend.DEFAULT
        self.backend_box.setCurrentIndex(max(0, backend.BACKENDS.index(current)
                                             if current in backend.BACKENDS else 0))
        self.note = QLabel(objectName="backendNote", wordWrap=True)
        self.backend_box.currentIndexChanged.connect(self._update_note)
        form = QFormLayout()
        form.addRow("Compute backend:", self.backend_box)
        self.keep_runs = QSpinBox(objectName="keepRuns", minimum=0, maximum=100_000,
                                  specialValueText="every run")
        self.keep_runs.setValue(self.settings.keep_runs())
        self.max_runs_gb = QDoubleSpinBox(objectName="maxRunsGb", minimum=0,
                                          maximum=1_000_000, decimals=1, suffix=" GB",
                                          specialValueText="no size cap")
        self.max_runs_gb.setValue(self.settings.max_runs_gb())
        form.addRow("Keep finished runs:", self.keep_runs)
        form.addRow("Runs folder at most:", self.max_runs_gb)
        form.addRow(QLabel("When a run ends, the oldest finished runs beyond either cap are "
                           "removed; interrupted runs are kept.", wordWrap=True))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok |
                                   QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.note)
        layout.addWidget(buttons)
        self._update_note()

    def chosen(self) -> str:
        return self.backend_box.currentData()

    def _update_note(self) -> None:
        running = backend.active() or "not started yet"
        lines = [f"Running now: {running}. Keras chooses its backend when the app starts: "
                 "a change takes effect after a restart."]
        if os.environ.get("KERAS_BACKEND"):
            lines.append(f"KERAS_BACKEND={os.environ['KERAS_BACKEND']} is set in the "
                         "environment and wins over this choice.")
        if self.chosen() != backend.active():
            lines.append(f"Restart desktop-ft to train on {self.chosen()}.")
        self.note.setText(" ".join(lines))

    def accept(self) -> None:
        self.settings.set_backend(self.chosen())
        self.settings.set_retention(self.keep_runs.value(), self.max_runs_gb.value())
        super().accept()
