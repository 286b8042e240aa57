"""The Data tab's view of multi-label data: the facts a scan states (labels per row, rows
with no label, labels too rare to learn, the labels that occur together) and the first
rows with their labels, e.g. "billing; delivery"."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QLabel, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from desktop_ft.core.data.label_sets import NO_LABEL, label_text

ROWS_SHOWN = 200
PAIRS_SHOWN = 5


class LabelSetsView(QWidget):
    """``show_scan(scan)``: hidden for one label per example; for several, the facts
    (``facts``, a label) and the rows with their labels (``rows``, a table)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("labelSets")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.facts = QLabel(objectName="labelFacts")
        self.facts.setWordWrap(True)
        layout.addWidget(self.facts)
        self.rows = QTableWidget(0, 2, objectName="labelRows")
        self.rows.setHorizontalHeaderLabels(["Example", "Labels"])
        self.rows.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.rows.horizontalHeader().setSectionResizeMode(
            1, QHeaderView.ResizeMode.ResizeToContents)
        self.rows.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        layout.addWidget(self.rows)
        self.hide()

    def show_scan(self, scan) -> None:
        if not getattr(scan, "multi_label", False):
            self.rows.setRowCount(0)
            self.facts.clear()
            self.hide()
            return
        self.facts.setText(facts_text(scan.summary()))
        split = scan.train
        shown = min(len(split), ROWS_SHOWN)
        self.rows.setRowCount(shown)
        for row in range(shown):
            item = split.items[row]
            name = Path(item).name if scan.kind == "images" else item[:120]
            cell = QTableWidgetItem(name)
            cell.setToolTip(str(item))
            self.rows.setItem(row, 0, cell)
            labels = QTableWidgetItem(label_text(split.labels[row], scan.classes))
            self.rows.setItem(row, 1, labels)
        more = len(split) - shown
        self.rows.setToolTip(f"The first {shown} of {len(split)} rows." if more > 0 else "")
        self.show()


def facts_text(s: dict) -> str:
    """The multi-label facts of a scan's summary, in a sentence or four."""
    rows = s["train"] + s.get("val", 0) + s.get("test", 0)
    parts = [f"<b>Several labels per row</b>: {s['labels_per_row']:g} labels per row on "
             f"average over {rows} rows; {s['no_label_rows']} row(s) with no label "
             f"(shown as {NO_LABEL})."]
    if s["rare_labels"]:
        parts.append(f"Too rare to learn (fewer than {s['rare_below']} rows): "
                     f"{', '.join(s['rare_labels'])}.")
    pairs = s["cooccurrence"][:PAIRS_SHOWN]
    if pairs:
        parts.append("Most often together: " + ", ".join(
            f"{' + '.join(p['labels'])} ({p['count']})" for p in pairs) + ".")
    return " ".join(parts)
