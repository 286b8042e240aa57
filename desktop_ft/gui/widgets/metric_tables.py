"""The Train tab's metrics: the "Stop/keep best by" choice (:class:`MonitorChoice`, which
suggests macro-F1 for imbalanced data) and the per-class / per-label table of an
evaluation (:func:`fill_metrics_table`)."""

from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtWidgets import (QComboBox, QHBoxLayout, QLabel, QTableWidget,
                               QTableWidgetItem, QWidget)

from desktop_ft.core.training.monitor import DEFAULT_MONITOR, MACRO_F1, suggested_monitor

MONITOR_CHOICES = (("validation loss", "val_loss"), ("validation accuracy", "val_accuracy"),
                   ("validation macro-F1", "val_macro_f1"))
MACRO_F1_HINT = "Suggested: macro-F1 — the classes are imbalanced, and accuracy rewards " \
    "predicting the common ones."


class MonitorChoice(QWidget):
    """What early stopping and the run's best checkpoint follow. ``options()`` /
    ``set_options(job)``; ``suggest_for(scan)`` preselects macro-F1 for an imbalanced
    scan (unless the user or a project chose) and says why beside the box."""

    def __init__(self, parent=None):
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.combo = QComboBox(objectName="monitor")
        for title, value in MONITOR_CHOICES:
            self.combo.addItem(title, value)
        self.combo.setToolTip("What early stopping watches, and which epoch's weights the "
                              "run keeps as its best. Macro-F1 averages F1 over classes: a "
                              "rare class counts as much as a common one.")
        self.hint = QLabel(objectName="monitorHint")
        self.hint.setStyleSheet("color: #8a5a00;")
        self.hint.setWordWrap(True)
        self.hint.hide()
        row.addWidget(QLabel("Stop/keep best by"))
        row.addWidget(self.combo)
        row.addWidget(self.hint, 1)
        self._chosen = False            # by the user, or by an opened project
        self.combo.activated.connect(self._on_user_choice)

    @Slot(int)
    def _on_user_choice(self, _index: int) -> None:
        self._chosen = True

    def monitor(self) -> str:
        return self.combo.currentData()

    def options(self) -> dict:
        return {"monitor": self.monitor()}

    def set_options(self, job: dict) -> None:
        if "monitor" in job:            # projects from before the choice keep the default
            self._chosen = True
        self._select(job.get("monitor") or DEFAULT_MONITOR)

    def _select(self, value: str) -> None:
        self.combo.setCurrentIndex(max(self.combo.findData(value), 0))

    @Slot(object, object)
    def on_scan(self, scan, _samples=None) -> None:
        self.suggest_for(scan)

    def suggest_for(self, scan) -> None:
        suggestion = suggested_monitor(scan) if scan is not None else None
        self.hint.setVisible(suggestion == MACRO_F1)
        self.hint.setText(MACRO_F1_HINT if suggestion == MACRO_F1 else "")
        if suggestion and not self._chosen:
            self._select(suggestion)


def _pct(value) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def fill_metrics_table(table: QTableWidget, ev: dict) -> None:
    """One row per class — accuracy, precision, recall, F1, support — or, for a
    multi-label evaluation, per label: TP, FP, FN, precision, recall, F1."""
    if ev.get("multi_label"):
        header = ["Label", "TP", "FP", "FN", "Precision", "Recall", "F1"]
        rows = [[name, str(r["tp"]), str(r["fp"]), str(r["fn"]), _pct(r["precision"]),
                 _pct(r["recall"]), _pct(r["f1"])] for name, r in ev["per_label"].items()]
    else:
        header = ["Class", f"{ev.get('split', 'val')} acc.", "Precision", "Recall", "F1",
                  "Support"]
        per_class = ev.get("per_class", {})
        rows = [[name, _pct(acc), _pct(per_class.get(name, {}).get("precision")),
                 _pct(per_class.get(name, {}).get("recall")),
                 _pct(per_class.get(name, {}).get("f1")),
                 str(per_class.get(name, {}).get("support", ""))]
                for name, acc in ev["per_class_accuracy"].items()]
    table.clear()
    table.setColumnCount(len(header))
    table.setHorizontalHeaderLabels(header)
    table.setRowCount(len(rows))
    for r, cells in enumerate(rows):
        for c, text in enumerate(cells):
            table.setItem(r, c, QTableWidgetItem(text))


def overall_text(ev: dict) -> str:
    """The evaluation's overall numbers in one line, for under the table."""
    if ev.get("multi_label"):
        parts = [("micro-F1", ev.get("micro_f1")), ("macro-F1", ev.get("macro_f1")),
                 ("exact match", ev.get("exact_match")),
                 ("mAP", ev.get("mean_average_precision"))]
    else:
        parts = [("accuracy", ev.get("accuracy")), ("macro-F1", ev.get("macro_f1")),
                 ("balanced accuracy", ev.get("balanced_accuracy")),
                 ("top-5", ev.get("top5_accuracy")), ("ROC-AUC", ev.get("roc_auc"))]
    return " · ".join(f"{name} {_pct(v)}" for name, v in parts if v is not None)
