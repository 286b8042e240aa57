"""The "Suspect labels" view of the Mistakes tab: training examples whose given label
looks wrong (most suspect first) with thumbnails or text snippets, given and suggested
label and score; Relabel to…, Exclude and Keep save a decision; "Apply to folder…" moves
the files (after asking) and Undo moves them back."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, Signal, Slot
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (QHBoxLayout, QInputDialog, QLabel, QListWidget,
                               QListWidgetItem, QMessageBox, QPushButton, QVBoxLayout,
                               QWidget)

DECIDED = {"relabel": "relabelled to {label}", "exclude": "excluded", "keep": "kept"}


class SuspectLabelsView(QWidget):
    """``set_suspects(found)``; asks through ``findRequested``, ``decided(item, given,
    decision, label)``, ``applyRequested`` and ``undoRequested``."""

    findRequested = Signal()
    decided = Signal(str, str, str, str)
    applyRequested = Signal()
    undoRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        self.caption = QLabel("Find training examples whose label looks wrong: each is "
                              "judged by models that never saw it.",
                              objectName="suspectsCaption")
        self.caption.setWordWrap(True)
        self.find = QPushButton("Find", objectName="suspectsFind")
        self.find.clicked.connect(self.findRequested)
        top.addWidget(self.caption, 1)
        top.addWidget(self.find)
        layout.addLayout(top)
        self.list = QListWidget(objectName="suspectsView")
        self.list.setIconSize(QSize(48, 48))
        self.list.setWordWrap(True)
        self.list.currentItemChanged.connect(self._on_current)
        layout.addWidget(self.list, 1)
        actions = QHBoxLayout()
        self.relabel = QPushButton("Relabel to…", objectName="suspectsRelabel")
        self.exclude = QPushButton("Exclude", objectName="suspectsExclude")
        self.keep = QPushButton("Keep", objectName="suspectsKeep")
        self.apply = QPushButton("Apply to folder…", objectName="suspectsApply")
        self.undo = QPushButton("Undo", objectName="suspectsUndo")
        self.relabel.clicked.connect(self._relabel)
        self.exclude.clicked.connect(lambda: self._decide("exclude", ""))
        self.keep.clicked.connect(lambda: self._decide("keep", ""))
        self.apply.clicked.connect(self._apply)
        self.undo.clicked.connect(self.undoRequested)
        for b in (self.relabel, self.exclude, self.keep):
            actions.addWidget(b)
        layout.addLayout(actions)
        # The folder-changing actions on their own row: the pane is narrow.
        folder = QHBoxLayout()
        folder.addWidget(self.apply)
        folder.addWidget(self.undo)
        layout.addLayout(folder)
        self._found: dict = {"suspects": [], "classes": []}
        self._decisions: dict[str, str] = {}
        self.set_undo_available(False)
        self._on_current(None, None)

    def set_suspects(self, found: dict) -> None:
        self._found, self._decisions = found, {}
        self.list.clear()
        for s in found["suspects"]:
            image = s.get("thumbnail")
            snippet = Path(s["item"]).name if image is not None else str(s["item"])[:120]
            item = QListWidgetItem()
            item.setData(Qt.ItemDataRole.UserRole, s)
            if image is not None and not image.isNull():
                item.setIcon(QIcon(QPixmap.fromImage(image)))
            item.setToolTip("\n".join(f"{c}: {p:.1%}" for c, p in s["probs"].items()))
            self.list.addItem(item)
            self._label(item, snippet)
        self.caption.setText(f"{len(found['suspects'])} suspect label(s) among "
                             f"{found['examples']} training examples, most suspect first "
                             f"({found['folds']} folds).")
        self.apply.setEnabled(True)

    def set_undo_available(self, available: bool) -> None:
        self.undo.setEnabled(available)

    def _label(self, item: QListWidgetItem, snippet: str) -> None:
        s = item.data(Qt.ItemDataRole.UserRole)
        done = self._decisions.get(s["item"], "")
        item.setText(f"given {s['given']} → suggested {s['suggested']}   score "
                     f"{s['score']:.2f}{'   — ' + done if done else ''}\n{snippet}")

    @Slot(QListWidgetItem, QListWidgetItem)
    def _on_current(self, current, _previous) -> None:
        for b in (self.relabel, self.exclude, self.keep):
            b.setEnabled(current is not None)
        self.apply.setEnabled(bool(self._found["suspects"]))

    @Slot()
    def _relabel(self) -> None:
        s = self._current()
        if s is None:
            return
        classes = [c for c in self._found["classes"] if c != s["given"]]
        label, ok = QInputDialog.getItem(self, "Relabel", f"New label for "
                                         f"{Path(str(s['item'])).name[:60]}:", classes,
                                         classes.index(s["suggested"])
                                         if s["suggested"] in classes else 0, False)
        if ok and label:
            self._decide("relabel", label)

    def _decide(self, decision: str, label: str) -> None:
        s = self._current()
        if s is None:
            return
        self._decisions[s["item"]] = DECIDED[decision].format(label=label)
        item = self.list.currentItem()
        self._label(item, item.text().split("\n", 1)[-1])
        self.decided.emit(str(s["item"]), s["given"], decision, label)

    def _current(self) -> dict | None:
        item = self.list.currentItem()
        return None if item is None else item.data(Qt.ItemDataRole.UserRole)

    @Slot()
    def _apply(self) -> None:
        answer = QMessageBox.question(
            self, "Apply to folder", "Move the relabelled files into their new class's "
            "folder and the excluded ones into a hidden .excluded folder? Undo moves them "
            "back.")
        if answer == QMessageBox.StandardButton.Yes:
            self.applyRequested.emit()
