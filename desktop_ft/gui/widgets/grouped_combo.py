"""A combo box whose items are grouped under section headers that cannot be chosen."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QComboBox


class GroupedComboBox(QComboBox):
    """``add_section(title)``, then ``add_item(text, data, tooltip)`` for its items.

    A header is never the current item: Qt's own keyboard and wheel moves skip disabled
    rows and the popup cannot pick them, and ``setCurrentIndex`` onto a header (from
    code) moves on to the nearest item in the direction of travel. Listen to
    ``itemChosen(data)`` rather than ``currentIndexChanged``: it fires for items only.
    """

    itemChosen = Signal(object)

    def __init__(self, parent=None, **kwargs):
        super().__init__(parent, **kwargs)
        self._last = -1
        # Connected in the constructor so that it runs before any slot connected later.
        self.currentIndexChanged.connect(self._on_index_changed)

    def add_section(self, title: str) -> None:
        self.addItem(title)
        item = self.model().item(self.count() - 1)
        item.setFlags(Qt.ItemFlag.NoItemFlags)   # neither enabled nor selectable
        font = item.font()
        font.setBold(True)
        item.setFont(font)

    def add_item(self, text: str, data, tooltip: str = "") -> None:
        self.addItem(text, data)
        row = self.count() - 1
        if tooltip:
            self.setItemData(row, tooltip, Qt.ItemDataRole.ToolTipRole)
        if not self.is_item(self.currentIndex()):
            self.setCurrentIndex(row)

    def is_item(self, index: int) -> bool:
        """Whether row ``index`` is a choosable item (not a header, not out of range)."""
        return 0 <= index < self.count() and bool(
            self.model().flags(self.model().index(index, self.modelColumn()))
            & Qt.ItemFlag.ItemIsEnabled)

    @Slot(int)
    def _on_index_changed(self, index: int) -> None:
        if index >= 0 and not self.is_item(index):
            forward, backward = range(index + 1, self.count()), range(index - 1, -1, -1)
            order = (*forward, *backward) if index >= self._last else (*backward, *forward)
            target = next((i for i in order if self.is_item(i)), None)
            if target is not None:
                self.setCurrentIndex(target)   # emits again, for the item
            return
        if index == self._last:   # bounced off a header back to where it was
            return
        self._last = index
        if index >= 0:   # the closed box explains its current item too
            self.setToolTip(self.itemData(index, Qt.ItemDataRole.ToolTipRole) or "")
            self.itemChosen.emit(self.itemData(index))
