"""Try it for a multi-label model: :class:`LabelBars`, one bar per label with the label's
threshold marked on it; the labels that reach their thresholds are drawn in green and
bold, the others grey."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

PASS_COLOUR = QColor("#2e7d32")
FAIL_COLOUR = QColor("#b0bec5")
MARK_COLOUR = QColor("#c62828")
TRACK_COLOUR = QColor("#eceff1")


class LabelBars(QWidget):
    """``set_labels(labels, probs, thresholds)``: a row per label, most probable first —
    its name, a bar as long as its probability, a red mark at its threshold and the
    probability written on the bar. ``rows`` holds what is drawn (``label``,
    ``probability``, ``threshold``, ``passes``); :meth:`bar_rect` and :meth:`mark_x`
    say where."""

    ROW_HEIGHT, NAME_WIDTH, GAP = 24, 130, 8

    def __init__(self, parent=None, **properties):
        super().__init__(parent, **properties)
        self.rows: list[dict] = []
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("Each label's probability; the red mark is its threshold (chosen on "
                        "the validation data for the best F1). Green labels reach it.")

    def set_labels(self, labels: list[str], probs, thresholds) -> None:
        rows = [{"label": c, "probability": float(p), "threshold": float(t),
                 "passes": float(p) >= float(t)}
                for c, p, t in zip(labels, probs, thresholds)]
        self.rows = sorted(rows, key=lambda r: -r["probability"])
        self.updateGeometry()
        self.setMinimumHeight(self.sizeHint().height())
        self.update()

    def passing(self) -> list[str]:
        """The labels that reach their thresholds, most probable first."""
        return [r["label"] for r in self.rows if r["passes"]]

    def sizeHint(self) -> QSize:
        return QSize(self.NAME_WIDTH + 200, max(len(self.rows), 1) * self.ROW_HEIGHT)

    def bar_rect(self, i: int) -> QRectF:
        """The track of row ``i``'s bar (probability 0 at its left edge, 1 at its right)."""
        left = self.NAME_WIDTH + self.GAP
        return QRectF(left, i * self.ROW_HEIGHT + 3, max(self.width() - left - 2, 10),
                      self.ROW_HEIGHT - 6)

    def mark_x(self, i: int) -> float:
        """Where row ``i``'s threshold is marked."""
        track = self.bar_rect(i)
        return track.left() + self.rows[i]["threshold"] * track.width()

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        for i, row in enumerate(self.rows):
            self._paint_row(p, i, row)
        p.end()

    def _paint_row(self, p: QPainter, i: int, row: dict) -> None:
        track = self.bar_rect(i)
        font = QFont(self.font())
        font.setBold(row["passes"])
        p.setFont(font)
        p.setPen(PASS_COLOUR if row["passes"] else self.palette().text().color())
        name = QRectF(0, i * self.ROW_HEIGHT, self.NAME_WIDTH, self.ROW_HEIGHT)
        p.drawText(name, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                   row["label"])
        p.fillRect(track, TRACK_COLOUR)
        filled = QRectF(track.left(), track.top(), track.width() * row["probability"],
                        track.height())
        p.fillRect(filled, PASS_COLOUR if row["passes"] else FAIL_COLOUR)
        p.setPen(QPen(MARK_COLOUR, 2))
        x = self.mark_x(i)
        p.drawLine(round(x), round(track.top() - 3), round(x), round(track.bottom() + 3))
        p.setPen(self.palette().text().color())
        p.drawText(track.adjusted(4, 0, -4, 0),
                   Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                   f"{row['probability']:.1%} (threshold {row['threshold']:.0%})")
