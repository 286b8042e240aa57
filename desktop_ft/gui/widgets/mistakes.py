"""The validation examples the model got wrong, most confident first — thumbnails or
text snippets with true and predicted class (multi-label: the rows with any wrong label,
with the labels missed and wrongly added); filterable by a confusion-matrix cell —
beside the suspect labels (:mod:`.suspect_labels`)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton,
                               QTabWidget, QVBoxLayout, QWidget)

from desktop_ft.gui.widgets.suspect_labels import SuspectLabelsView


def describe(m: dict) -> str:
    """A mistake in a line: the true and predicted class, or for a multi-label row the
    labels it missed and the ones it wrongly added."""
    if "missed" not in m:
        return (f"true {m['true']} ({m['probs'][m['true']]:.0%}) → predicted "
                f"{m['predicted']} ({m['confidence']:.0%})")
    parts = [f"true: {', '.join(m['true']) or '(no label)'}"]
    if m["missed"]:
        parts.append("missed: " + ", ".join(f"{c} ({m['probs'][c]:.0%})" for c in m["missed"]))
    if m["added"]:
        parts.append("wrongly added: " + ", ".join(f"{c} ({m['probs'][c]:.0%})"
                                                   for c in m["added"]))
    return " — ".join(parts)


class MistakesView(QWidget):
    """``set_mistakes(list)``; ``filter_cell(true, predicted)``; ``exampleActivated(item)``
    when the user clicks an example (a file path or a text)."""

    exampleActivated = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        # Two views: what the model got wrong, and what the data may have wrong.
        self.pages = QTabWidget(objectName="mistakesPages")
        wrong = QWidget()
        self.suspects = SuspectLabelsView()
        self.pages.addTab(wrong, "Wrong predictions")
        self.pages.addTab(self.suspects, "Suspect labels")
        outer.addWidget(self.pages)
        layout = QVBoxLayout(wrong)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.caption = QLabel("Train a model to see the examples it gets wrong.",
                              objectName="mistakesCaption")
        self.caption.setWordWrap(True)
        self.show_all = QPushButton("Show all", objectName="mistakesShowAll")
        self.show_all.clicked.connect(self.clear_filter)
        self.show_all.hide()
        row.addWidget(self.caption, 1)
        row.addWidget(self.show_all)
        layout.addLayout(row)
        self.list = QListWidget(objectName="mistakesView")
        self.list.setIconSize(QSize(48, 48))
        self.list.setWordWrap(True)
        self.list.itemClicked.connect(self._on_clicked)
        layout.addWidget(self.list, 1)
        self._mistakes: list[dict] = []
        self._filter: tuple[str, str] | None = None

    def set_mistakes(self, mistakes: list[dict]) -> None:
        self._mistakes = list(mistakes)
        self._filter = None
        self._fill()

    def filter_cell(self, true: str, predicted: str) -> None:
        self.pages.setCurrentIndex(0)
        self._filter = (true, predicted)
        self._fill()

    @Slot()
    def clear_filter(self) -> None:
        self._filter = None
        self._fill()

    def shown(self) -> list[dict]:
        if self._filter is None:
            return list(self._mistakes)
        return [m for m in self._mistakes if (m["true"], m["predicted"]) == self._filter]

    def _fill(self) -> None:
        self.list.clear()
        shown = self.shown()
        for m in shown:
            snippet = Path(m["item"]).name if m.get("thumbnail") is not None else \
                str(m["item"])[:120]
            item = QListWidgetItem(f"{describe(m)}\n{snippet}")
            if m.get("thumbnail") is not None and not m["thumbnail"].isNull():
                item.setIcon(QIcon(QPixmap.fromImage(m["thumbnail"])))
            item.setData(Qt.ItemDataRole.UserRole, str(m["item"]))
            item.setToolTip("Click to try it\n" + "\n".join(
                f"{c}: {p:.1%}" for c, p in m["probs"].items()))
            self.list.addItem(item)
        if self._filter is not None:
            self.caption.setText(f"{len(shown)} example(s) of {self._filter[0]} predicted as "
                                 f"{self._filter[1]}.")
        else:
            self.caption.setText(f"{len(shown)} mistake(s), most confident first. Click a "
                                 "confusion-matrix cell to filter, an example to try it.")
        self.show_all.setVisible(self._filter is not None)

    @Slot(QListWidgetItem)
    def _on_clicked(self, item: QListWidgetItem) -> None:
        self.exampleActivated.emit(item.data(Qt.ItemDataRole.UserRole))
