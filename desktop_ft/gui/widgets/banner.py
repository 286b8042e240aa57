"""A dismissable message strip at the top of the window — non-modal, so a worker's error
never blocks the app. Errors may carry details (the underlying exception), shown on
demand."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton,
                               QVBoxLayout)


class ErrorBanner(QFrame):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("errorBanner")
        self.is_note = False
        outer = QVBoxLayout(self)
        outer.setContentsMargins(8, 4, 4, 4)
        row = QHBoxLayout()
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details_button = QPushButton("Details")
        self.details_button.setObjectName("bannerDetails")
        self.details_button.setCheckable(True)
        self.details_button.toggled.connect(self._on_details_toggled)
        self.action_button = QPushButton("", objectName="bannerAction")
        self.action_button.clicked.connect(self._on_action)
        self.action_button.hide()
        self._action = None
        close = QPushButton("Dismiss")
        close.setObjectName("bannerDismiss")
        close.clicked.connect(self.hide)
        row.addWidget(self.label, 1)
        row.addWidget(self.action_button)
        row.addWidget(self.details_button)
        row.addWidget(close)
        outer.addLayout(row)
        self.details = QPlainTextEdit()
        self.details.setObjectName("bannerDetailsText")
        self.details.setReadOnly(True)
        self.details.setMaximumHeight(140)
        self.details.hide()
        outer.addWidget(self.details)
        self.hide()

    def show_message(self, text: str, details: str = "", note: bool = False,
                     action: tuple | None = None) -> None:
        """An error (red) or, with ``note=True``, an informational note (amber);
        ``action`` = (button text, callable) offers one thing to do about it."""
        self.is_note = note
        bg, border, fg = ("#fff4d6", "#e0c070", "#6b4e00") if note else \
            ("#fde8e8", "#e0a0a0", "#8a1c1c")
        self.setStyleSheet(f"#errorBanner {{ background: {bg}; border: 1px solid {border}; "
                           f"border-radius: 4px; }} QLabel {{ color: {fg}; }}")
        self.label.setText(text)
        self.details.setPlainText(details)
        self.details_button.setChecked(False)
        self.details_button.setVisible(bool(details))
        self._action = action[1] if action else None
        self.action_button.setText(action[0] if action else "")
        self.action_button.setVisible(action is not None)
        self.show()

    def _on_action(self) -> None:
        action, self._action = self._action, None
        self.hide()
        if action is not None:
            action()

    def hide_error(self) -> None:
        """Hide the banner unless it shows a note the user has not dismissed."""
        if not self.is_note:
            self.hide()

    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""

    def details_text(self) -> str:
        return self.details.toPlainText()

    def _on_details_toggled(self, shown: bool) -> None:
        self.details.setVisible(shown)
