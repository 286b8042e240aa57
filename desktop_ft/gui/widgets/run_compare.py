"""The Runs dialog's Compare: two or more runs side by side — their per-epoch curves
overlaid (one line per run), the settings that differ, and each run's final and best
metrics. It shows the plain ``dict`` of :func:`desktop_ft.core.training.compare.
compare_runs` (built from the runs' small ``run.json`` files, on the GUI thread)."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QGridLayout,
                               QHeaderView, QLabel, QSplitter, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

# One colour per run, in the order listed (the page of ``runs --compare --html`` too).
COLOURS = ("#1f3c8c", "#dc6e14", "#2e7d32", "#8e24aa", "#c62828", "#00838f", "#6d4c41",
           "#546e7a")


def _table(name: str, rows: list[tuple[str, list[str]]], runs: list[str]) -> QTableWidget:
    table = QTableWidget(len(rows), len(runs), objectName=name)
    table.setHorizontalHeaderLabels([f"[{i}] {n}" for i, n in enumerate(runs, 1)])
    table.setVerticalHeaderLabels([title for title, _ in rows])
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    for i, (_title, cells) in enumerate(rows):
        for j, text in enumerate(cells):
            table.setItem(i, j, QTableWidgetItem(text))
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    return table


class RunCompareView(QWidget):
    """``plots`` (key → PlotWidget), ``lines`` (key → one PlotDataItem per run),
    ``settings_table`` (a row per differing setting) and ``metrics_table``."""

    def __init__(self, comparison: dict, parent=None):
        from desktop_ft.core.training.compare import LABELS, curve_names, format_value, \
            metric_rows

        super().__init__(parent)
        self.setObjectName("runCompare")
        self.comparison = comparison
        runs = comparison["runs"]
        names = [r["name"] for r in runs]
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        split = QSplitter(Qt.Orientation.Vertical)
        layout.addWidget(split)
        plots = QWidget()
        grid = QGridLayout(plots)
        grid.setContentsMargins(0, 0, 0, 0)
        self.plots, self.lines = {}, {}
        for k, (key, title) in enumerate(curve_names(comparison)[:4]):
            plot = self._plot(key, title, runs)
            grid.addWidget(plot, k // 2, k % 2)
        split.addWidget(plots)
        tables = QWidget()
        box = QVBoxLayout(tables)
        box.setContentsMargins(0, 0, 0, 0)
        differs = comparison["differs"]
        box.addWidget(QLabel(f"<b>Settings that differ</b> ({len(differs)})" if differs
                             else "<b>Settings that differ</b>: none, the runs trained "
                                  "alike"))
        self.settings_table = _table(
            "compareSettings", [(LABELS[k], [format_value(r["settings"][k]) for r in runs])
                                for k in differs], names)
        # As tall as its rows (few, usually): the metrics below get the room.
        rows_height = sum(self.settings_table.rowHeight(i) for i in range(len(differs)))
        self.settings_table.setMaximumHeight(
            self.settings_table.horizontalHeader().sizeHint().height() + rows_height + 8)
        box.addWidget(self.settings_table)
        box.addWidget(QLabel("<b>Metrics</b> (final: the last epoch; best: the epoch kept "
                             "as best)"))
        notes = [("Note", [r["note"] for r in runs])] if any(r["note"] for r in runs) else []
        self.metrics_table = _table("compareMetrics", metric_rows(comparison) + notes, names)
        box.addWidget(self.metrics_table, 1)
        split.addWidget(tables)
        split.setSizes([360, 300])

    def _plot(self, key: str, title: str, runs: list[dict]) -> pg.PlotWidget:
        plot = pg.PlotWidget(title=title)
        plot.setObjectName(f"compare_{key}")
        plot.setBackground("w")
        plot.showGrid(x=True, y=True, alpha=0.25)
        plot.addLegend(offset=(-10, 10))
        plot.setLabel("bottom", "epoch")
        if "accuracy" in key or "f1" in key:
            plot.setYRange(0, 1)
        self.plots[key], self.lines[key] = plot, []
        for i, r in enumerate(runs):
            values = r["curves"].get(key) or []
            colour = COLOURS[i % len(COLOURS)]
            item = plot.plot(list(range(1, len(values) + 1)), values, name=f"[{i + 1}]",
                             pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=6,
                             symbolBrush=colour)
            self.lines[key].append(item)
        return plot


class RunCompareDialog(QDialog):
    def __init__(self, comparison: dict, parent=None):
        super().__init__(parent)
        self.setObjectName("runCompareDialog")
        n = len(comparison["runs"])
        self.setWindowTitle(f"{n} runs compared")
        self.resize(980, 720)
        layout = QVBoxLayout(self)
        self.view = RunCompareView(comparison, self)
        layout.addWidget(self.view)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


__all__ = ["RunCompareDialog", "RunCompareView"]
