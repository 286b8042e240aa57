"""The Train panel's Find… dialog: the learning-rate range test plotted as it runs (loss
against rate, log x), its suggestion marked; a click on the curve or "Use suggestion"
hands a rate back (``rateChosen``)."""

from __future__ import annotations

import math

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout


class LrFinderDialog(QDialog):
    rateChosen = Signal(float)
    cancelRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("lrFinderDialog")
        self.setWindowTitle("Find a learning rate")
        self.resize(560, 380)
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.suggestion: float | None = None
        layout = QVBoxLayout(self)
        self.plot = pg.PlotWidget(objectName="lrFinderPlot", background="w")
        self.plot.setLogMode(x=True, y=False)
        self.plot.setLabel("bottom", "learning rate")
        self.plot.setLabel("left", "loss (smoothed)")
        self.curve = self.plot.plot([], [], pen=pg.mkPen("#1f77b4", width=2))
        self.mark = pg.InfiniteLine(angle=90, pen=pg.mkPen("#d62728", style=Qt.PenStyle.DashLine))
        self.mark.hide()
        self.plot.addItem(self.mark)
        self.plot.scene().sigMouseClicked.connect(self._on_click)
        layout.addWidget(self.plot, 1)
        self.label = QLabel("Training a few steps at growing rates… the model is left as "
                            "it was.", objectName="lrFinderStatus")
        self.label.setWordWrap(True)
        layout.addWidget(self.label)
        buttons = QHBoxLayout()
        self.use = QPushButton("Use suggestion", objectName="useSuggestion", enabled=False)
        self.use.clicked.connect(self._use_suggestion)
        self.cancel = QPushButton("Cancel", objectName="cancelLrFinder")
        self.cancel.clicked.connect(self.cancelRequested)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        buttons.addStretch(1)
        for b in (self.use, self.cancel, close):
            buttons.addWidget(b)
        layout.addLayout(buttons)

    @Slot(float, float)
    def add_point(self, lr: float, loss: float) -> None:
        self.lrs.append(lr)
        self.losses.append(loss)
        self.curve.setData(self.lrs, self.losses)

    @Slot(object)
    def show_result(self, found: dict) -> None:
        self.lrs = [p["lr"] for p in found["curve"]]
        self.losses = [p["loss"] for p in found["curve"]]
        self.curve.setData(self.lrs, self.losses)
        self.suggestion = found["suggestion"]
        self.mark.setValue(math.log10(self.suggestion))
        self.mark.show()
        self.use.setEnabled(True)
        self.cancel.setEnabled(False)
        self.label.setText(f"Suggested ({found['rule']}): {self.suggestion:.3g}. Click the "
                           "curve to pick another rate.")

    @Slot(str)
    def show_stopped(self, message: str) -> None:
        self.cancel.setEnabled(False)
        self.label.setText(message)

    def rate_at(self, x_log10: float) -> float | None:
        """The measured rate nearest to a point of the plot (x is log10 of the rate)."""
        if not self.lrs:
            return None
        return min(self.lrs, key=lambda lr: abs(math.log10(lr) - x_log10))

    @Slot(object)
    def _on_click(self, event) -> None:
        view = self.plot.getPlotItem().vb
        if not view.sceneBoundingRect().contains(event.scenePos()):
            return
        rate = self.rate_at(view.mapSceneToView(event.scenePos()).x())
        if rate is not None:
            self.rateChosen.emit(rate)
            self.label.setText(f"Learning rate set to {rate:.3g}.")

    @Slot()
    def _use_suggestion(self) -> None:
        if self.suggestion is not None:
            self.rateChosen.emit(self.suggestion)
            self.accept()
