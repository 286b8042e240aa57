"""The Train tab's "Advanced" group: the optimizer and its weight decay, label smoothing,
the seed, and a separate validation folder or table (chosen, typed or dropped).

``options()`` / ``set_options()`` speak TrainJob fields, as the Train panel does."""

from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (QComboBox, QDoubleSpinBox, QFileDialog, QGridLayout,
                               QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton,
                               QSpinBox)

from desktop_ft.core.errors import UserError
from desktop_ft.core.training import OPTIMIZERS

AUTO = "auto"
OPTIMIZER_HELP = ("auto: the model's (Adam for image models, AdamW for text models; AdamW "
                  "when a weight decay is set). AdamW is Adam with decoupled weight decay; "
                  "SGD runs with momentum 0.9.")


class PathEdit(QLineEdit):
    """A path field that also takes a folder or file dropped on it."""

    def dragEnterEvent(self, event) -> None:
        if any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            self.setText(paths[0])
            event.acceptProposedAction()
        else:
            super().dropEvent(event)


class TrainingOptions(QGroupBox):
    """Optimizer, weight decay, label smoothing, seed and validation data."""

    def __init__(self, parent=None):
        super().__init__("Advanced", parent)
        self.setObjectName("trainingOptions")
        grid = QGridLayout(self)
        self.optimizer = QComboBox(objectName="optimizer")
        self.optimizer.addItems([AUTO, *OPTIMIZERS])
        self.optimizer.setToolTip(OPTIMIZER_HELP)
        self.optimizer.currentIndexChanged.connect(self._on_optimizer)
        self.weight_decay = QLineEdit(objectName="weightDecay", placeholderText="default")
        self.weight_decay.setFixedWidth(80)
        self.label_smoothing = QDoubleSpinBox(objectName="labelSmoothing", minimum=0.0,
                                              maximum=0.9, singleStep=0.05, decimals=2)
        self.label_smoothing.setSpecialValueText("off")
        self.label_smoothing.setToolTip("Train towards 1 - s for the right class and share s "
                                        "among all classes: a model less sure of itself, "
                                        "often better calibrated (0.1 is common)")
        self.seed = QSpinBox(objectName="seed", minimum=0, maximum=2**31 - 1)
        self.seed.setToolTip("Seeds the validation split, the new head's weights, shuffling "
                             "and augmentation: the same seed, the same run")
        row = QHBoxLayout()
        for label, w in (("Optimizer", self.optimizer), ("Weight decay", self.weight_decay),
                         ("Label smoothing", self.label_smoothing), ("Seed", self.seed)):
            row.addWidget(QLabel(label))
            row.addWidget(w)
        row.addStretch(1)
        grid.addLayout(row, 0, 0, 1, 2)
        grid.addWidget(QLabel("Validation data"), 1, 0)
        grid.addLayout(self._make_val_row(), 1, 1)
        self._on_optimizer()

    def _make_val_row(self) -> QHBoxLayout:
        """The validation folder or table: typed, dropped, or chosen with Folder…/File…."""
        self.val_data = PathEdit(objectName="valData",
                                 placeholderText="none: held out from the data (Data tab)")
        self.val_data.setToolTip("A folder of the same classes (one subfolder per class), or "
                                 "a table with the same columns, to validate on instead of "
                                 "a split of the training data. Drop it here or choose it.")
        folder = QPushButton("Folder…", objectName="valFolder")
        folder.clicked.connect(self._choose_folder)
        table = QPushButton("File…", objectName="valFile")
        table.clicked.connect(self._choose_file)
        clear = QPushButton("Clear", objectName="valClear")
        clear.clicked.connect(self.val_data.clear)
        row = QHBoxLayout()
        row.addWidget(self.val_data, 1)
        for b in (folder, table, clear):
            row.addWidget(b)
        return row

    @Slot()
    def _on_optimizer(self, *_) -> None:
        adam = self.optimizer.currentText() == "adam"
        self.weight_decay.setEnabled(not adam)
        self.weight_decay.setToolTip(
            "Adam has no weight decay: choose AdamW (Adam with weight decay) for one." if adam
            else "Decoupled weight decay (AdamW, SGD), e.g. 0.01; empty: the optimizer's "
                 "default (AdamW 0.01, SGD none)")

    @Slot()
    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Validation folder (one subfolder per "
                                                "class)", self._start_dir())
        if path:
            self.val_data.setText(path)

    @Slot()
    def _choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Validation table", self._start_dir(),
                                              "Tables (*.csv *.tsv)")
        if path:
            self.val_data.setText(path)

    def _start_dir(self) -> str:
        text = self.val_data.text().strip()
        return str(Path(text).parent) if text else ""

    # ------------------------------------------------------------------ public API
    def options(self) -> dict:
        """TrainJob fields set here. Raises UserError for a weight decay that is not a
        number and for validation data that does not exist."""
        return {"optimizer": None if self.optimizer.currentIndex() == 0
                else self.optimizer.currentText(),
                "weight_decay": self._weight_decay(),
                "label_smoothing": self.label_smoothing.value(),
                "seed": self.seed.value(), "val_data": self._val_data()}

    def _weight_decay(self) -> float | None:
        text = self.weight_decay.text().strip()
        if not text or not self.weight_decay.isEnabled():
            return None
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (value >= 0 and math.isfinite(value)):
            raise UserError(f"Weight decay '{text}' must be 0 or a positive number (e.g. "
                            "0.01), or leave it empty for the optimizer's default.")
        return value

    def _val_data(self) -> str | None:
        text = self.val_data.text().strip()
        if text and not Path(text).expanduser().exists():
            raise UserError(f"The validation data {text} does not exist (moved or deleted?). "
                            "Choose it again under Advanced on the Train tab, or clear it.")
        return str(Path(text).expanduser()) if text else None

    def set_options(self, job: dict) -> None:
        index = self.optimizer.findText(job.get("optimizer") or AUTO)
        self.optimizer.setCurrentIndex(max(index, 0))
        decay = job.get("weight_decay")
        self.weight_decay.setText("" if decay is None else f"{decay:g}")
        self.label_smoothing.setValue(float(job.get("label_smoothing") or 0.0))
        self.seed.setValue(int(job.get("seed") or 0))
        self.val_data.setText(job.get("val_data") or "")

