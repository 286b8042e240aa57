"""Live training curves (pyqtgraph). Data is appended to preallocated buffers as it
arrives; painting happens on a 100 ms timer, so a fast stream of batches never floods the
event loop and no point is dropped."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QVBoxLayout, QWidget

SMOOTHING = 0.9   # exponential moving average weight for the smoothed batch-loss line


class _Series:
    """A growable float buffer feeding one PlotDataItem (created once, setData later)."""

    def __init__(self, item: pg.PlotDataItem):
        self.item = item
        self.x = np.zeros(256)
        self.y = np.zeros(256)
        self.n = 0
        self.dirty = False

    def append(self, x: float, y: float) -> None:
        if self.n == len(self.x):
            self.x = np.concatenate([self.x, np.zeros(len(self.x))])
            self.y = np.concatenate([self.y, np.zeros(len(self.y))])
        self.x[self.n], self.y[self.n] = x, y
        self.n += 1
        self.dirty = True

    def clear(self) -> None:
        self.n = 0
        self.item.setData([], [])

    def paint(self) -> None:
        if self.dirty:
            self.dirty = False
            self.item.setData(self.x[:self.n], self.y[:self.n])


class TrainingPlots(QWidget):
    """``lossPlot`` (per-batch loss, its smoothed line, per-epoch train/val loss),
    ``accuracyPlot`` (per-epoch train/val accuracy, and validation macro-F1 when a run
    monitors it) and, small, ``learningRatePlot`` (the
    rate of every step, as the schedule sets it)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        # Antialiasing roughly doubles the paint time of a curve; at 10 redraws a second
        # during training that shows up as event-loop stalls (bench/gui_latency.py).
        pg.setConfigOptions(antialias=False, background="w", foreground="k")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.loss_plot = pg.PlotWidget(title="Loss")
        self.loss_plot.setObjectName("lossPlot")
        self.acc_plot = pg.PlotWidget(title="Accuracy")
        self.acc_plot.setObjectName("accuracyPlot")
        self.lr_plot = pg.PlotWidget(title="Learning rate")
        self.lr_plot.setObjectName("learningRatePlot")
        self.lr_plot.setMaximumHeight(130)
        for plot in (self.loss_plot, self.acc_plot, self.lr_plot):
            plot.showGrid(x=True, y=True, alpha=0.25)
            plot.addLegend(offset=(-10, 10))
            plot.setLabel("bottom", "epoch")
            layout.addWidget(plot)
        self.acc_plot.setYRange(0, 1)

        def line(plot, name, color, width=1.5, style=None, symbol=None):
            pen = pg.mkPen(color, width=width, style=style) if style else pg.mkPen(color,
                                                                                 width=width)
            item = plot.plot([], [], name=name, pen=pen, symbol=symbol, symbolSize=6,
                             symbolBrush=color)
            item.setDownsampling(auto=True, method="peak")
            item.setClipToView(True)
            return _Series(item)

        self.batch_loss = line(self.loss_plot, "batch loss", (170, 190, 230), 1)
        self.smooth_loss = line(self.loss_plot, "batch loss (smoothed)", (40, 90, 200), 2)
        self.epoch_loss = line(self.loss_plot, "train loss", (20, 40, 140), 2, symbol="o")
        self.val_loss = line(self.loss_plot, "val loss", (220, 110, 20), 2, symbol="s")
        self.train_acc = line(self.acc_plot, "train accuracy", (20, 40, 140), 2, symbol="o")
        self.val_acc = line(self.acc_plot, "val accuracy", (220, 110, 20), 2, symbol="s")
        # Only a run that monitors it has macro-F1: in the legend from its first value.
        self.val_f1 = line(self.acc_plot, None, (46, 125, 50), 2, symbol="t")
        self.rate = line(self.lr_plot, "rate", (40, 140, 60), 1.5)
        self._series = [self.batch_loss, self.smooth_loss, self.epoch_loss, self.val_loss,
                        self.train_acc, self.val_acc, self.val_f1, self.rate]
        self.phase_lines: list = []
        self._smooth = None
        self._steps = 1
        self._dirty = False
        self._timer = QTimer(self)
        self._timer.setInterval(100)
        self._timer.timeout.connect(self._paint)
        self._timer.start()

    def reset(self, steps_per_epoch: int = 1, epochs: int | None = None) -> None:
        """Clear the curves. With ``epochs`` the x axis is fixed to the run's length, so
        it does not re-layout its ticks on every redraw."""
        for s in self._series:
            s.clear()
        self.acc_plot.plotItem.legend.removeItem(self.val_f1.item)
        for plot in (self.loss_plot, self.acc_plot, self.lr_plot):
            if epochs:
                plot.setXRange(0, epochs, padding=0.02)
                plot.enableAutoRange(axis="x", enable=False)
            else:
                plot.enableAutoRange(axis="x", enable=True)
        for m in self.phase_lines:
            self.loss_plot.removeItem(m)
        self.phase_lines = []
        self._smooth = None
        self._steps = max(int(steps_per_epoch), 1)

    def mark_phase(self, at_epoch: float, label: str) -> None:
        """A dashed vertical line where a new phase begins (two-phase training)."""
        for plot in (self.loss_plot, self.acc_plot):
            m = pg.InfiniteLine(at_epoch, angle=90, label=label,
                                pen=pg.mkPen((120, 120, 120), width=1.5,
                                             style=pg.QtCore.Qt.PenStyle.DashLine),
                                labelOpts={"position": 0.85, "color": (80, 80, 80)})
            plot.addItem(m)
            self.phase_lines.append(m)

    def add_batch(self, epoch: int, batch: int, loss: float, lr: float | None = None) -> None:
        x = epoch + (batch + 1) / self._steps
        if lr is not None:
            self.rate.append(x, lr)
            self._dirty = True
        if not np.isfinite(loss):
            return
        self.batch_loss.append(x, loss)
        self._smooth = loss if self._smooth is None else \
            SMOOTHING * self._smooth + (1 - SMOOTHING) * loss
        self.smooth_loss.append(x, self._smooth)
        self._dirty = True

    def add_epoch(self, epoch: int, logs: dict) -> None:
        x = epoch + 1
        for key, series in (("loss", self.epoch_loss), ("val_loss", self.val_loss),
                            ("accuracy", self.train_acc), ("val_accuracy", self.val_acc),
                            ("val_macro_f1", self.val_f1)):
            if key in logs and np.isfinite(logs[key]):
                series.append(x, logs[key])
        legend = self.acc_plot.plotItem.legend
        if self.val_f1.n and legend.getLabel(self.val_f1.item) is None:
            legend.addItem(self.val_f1.item, "val macro-F1")
        self._dirty = True

    def _paint(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        for s in self._series:
            s.paint()

    def flush(self) -> None:
        """Paint now (at the end of training)."""
        self._dirty = True
        self._paint()
        for s in self._series:   # a reset series is cleared at once; keep them in step
            s.paint()
