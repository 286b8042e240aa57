"""Result views: probability bars, the confusion matrix, an image drop area."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QProgressBar, QSizePolicy, QWidget


class ProbabilityBars(QWidget):
    """One labelled bar per class, sorted by probability."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._rows: list[tuple[QLabel, QProgressBar]] = []
        self.values: dict[str, float] = {}

    def set_probabilities(self, labels: list[str], probs) -> None:
        for label, bar in self._rows:
            label.deleteLater()
            bar.deleteLater()
        self._rows = []
        self.values = {c: float(p) for c, p in zip(labels, probs)}
        order = sorted(self.values.items(), key=lambda kv: -kv[1])
        for row, (name, p) in enumerate(order):
            label = QLabel(name)
            if row == 0:
                font = label.font()
                font.setBold(True)
                label.setFont(font)
            bar = QProgressBar()
            bar.setRange(0, 1000)
            bar.setValue(int(round(p * 1000)))
            bar.setFormat(f"{p:.1%}")
            self._grid.addWidget(label, row, 0)
            self._grid.addWidget(bar, row, 1)
            self._rows.append((label, bar))


CM_MARGIN, CM_CELL = 90, 44


def confusion_image(matrix, classes: list[str], cell: int = CM_CELL) -> QImage:
    """The confusion matrix drawn as an image: rows true, columns predicted."""
    n = len(classes)
    margin = CM_MARGIN
    img = QImage(margin + n * cell + 10, margin + n * cell + 10, QImage.Format.Format_RGB32)
    img.fill(QColor("white"))
    p = QPainter(img)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    font = QFont()
    font.setPointSize(8)
    p.setFont(font)
    row_max = [max(max(r), 1) for r in matrix]
    for i in range(n):
        for j in range(n):
            v = matrix[i][j]
            shade = v / row_max[i]
            base = (40, 120, 60) if i == j else (200, 60, 40)
            color = QColor(int(255 - shade * (255 - base[0])), int(255 - shade * (255 - base[1])),
                           int(255 - shade * (255 - base[2])))
            rect = QRectF(margin + j * cell, margin + i * cell, cell - 2, cell - 2)
            p.fillRect(rect, color)
            p.setPen(QColor("white") if shade > 0.6 else QColor("black"))
            p.drawText(rect, Qt.AlignmentFlag.AlignCenter, str(v))
    p.setPen(QColor("black"))
    for i, name in enumerate(classes):
        p.drawText(QRectF(0, margin + i * cell, margin - 6, cell), Qt.AlignmentFlag.AlignRight |
                   Qt.AlignmentFlag.AlignVCenter, name[:12])
        p.save()
        p.translate(margin + i * cell + cell / 2, margin - 6)
        p.rotate(-60)
        p.drawText(QRectF(0, -8, margin, 16), Qt.AlignmentFlag.AlignLeft |
                   Qt.AlignmentFlag.AlignVCenter, name[:12])
        p.restore()
    p.drawText(QRectF(0, 0, margin, 20), Qt.AlignmentFlag.AlignLeft, "true ↓ / pred →")
    p.end()
    return img


class ConfusionMatrixView(QLabel):
    """The matrix scaled to the space it is given: it never asks for more, so the plots
    beside it keep theirs. Clicking a cell emits ``cellClicked(true_row, predicted_col)``."""

    cellClicked = Signal(int, int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("confusionMatrix")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setMinimumSize(120, 120)
        self.matrix = None
        self._image: QImage | None = None

    def set_matrix(self, matrix, classes) -> None:
        self.matrix = matrix
        self._image = confusion_image(matrix, classes)
        self._rescale()

    def clear(self) -> None:
        super().clear()
        self.matrix, self._image = None, None

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._rescale()

    def cell_at(self, x: float, y: float) -> tuple[int, int] | None:
        """The (row, column) under a point of this widget, if any."""
        pix = self.pixmap()
        if self._image is None or pix is None or pix.isNull():
            return None
        scale = pix.width() / self._image.width()
        ox = (self.width() - pix.width()) / 2
        oy = (self.height() - pix.height()) / 2
        col = int(((x - ox) / scale - CM_MARGIN) // CM_CELL)
        row = int(((y - oy) / scale - CM_MARGIN) // CM_CELL)
        n = len(self.matrix)
        return (row, col) if 0 <= row < n and 0 <= col < n else None

    def mousePressEvent(self, event) -> None:
        cell = self.cell_at(event.position().x(), event.position().y())
        if cell is not None:
            self.cellClicked.emit(*cell)
        super().mousePressEvent(event)

    def _rescale(self) -> None:
        if self._image is None:
            return
        pix = QPixmap.fromImage(self._image)
        if pix.width() > self.width() or pix.height() > self.height():
            pix = pix.scaled(self.width(), self.height(), Qt.AspectRatioMode.KeepAspectRatio,
                             Qt.TransformationMode.SmoothTransformation)
        self.setPixmap(pix)


class ImageDropLabel(QLabel):
    """Shows an image; accepts a dropped image file (emits its path)."""

    fileDropped = Signal(str)

    def __init__(self, text: str, parent=None):
        super().__init__(text, parent)
        self.setAcceptDrops(True)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(160, 160)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setStyleSheet("QLabel { border: 2px dashed #aaa; border-radius: 6px; "
                           "color: #666; }")

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.fileDropped.emit(urls[0])
            event.acceptProposedAction()
