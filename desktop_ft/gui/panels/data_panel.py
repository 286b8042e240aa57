"""The data panel: a welcome page until data is chosen, then its classes with counts and
thumbnails (or sample texts) — for several labels per row also the rows with their labels
and the labels' facts — warnings, skipped files and the validation split."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDoubleSpinBox,
                               QFileDialog,
                               QHBoxLayout, QHeaderView, QLabel, QListWidget, QPushButton,
                               QStackedWidget, QTableWidget, QTableWidgetItem, QVBoxLayout,
                               QWidget)

from desktop_ft.core.errors import window_text
from desktop_ft.gui.settings import AppSettings
from desktop_ft.gui.widgets.label_sets_view import LabelSetsView

WELCOME = (
    "<h2>Welcome to desktop_ft</h2>"
    "<p>Teach a pretrained network <b>your</b> categories in three steps:</p>"
    "<ol><li><b>Drop a folder</b> here with one subfolder per class (cats/, dogs/ …)"
    " — or a CSV of texts and labels, in any language, for a text model.</li>"
    "<li>Pick a model on the left and tick the layers that should train.</li>"
    "<li>Press <b>Train</b>, watch the curves, try the result and export it.</li></ol>"
    "<p>No data at hand? Use the built-in sample: coloured shapes in three classes.</p>")


MULTI_LABEL_TIP = ("Read every label cell as a set of labels separated by ; or | — even "
                   "when each row names one. Found by itself when a cell holds several, or "
                   "for one 0/1 column per label.")


class DataPanel(QWidget):
    """``show_scan(scan, thumbs)``; ``dataChosen(path)`` when the user picks data with a
    dialog; ``sampleRequested`` for the built-in sample; ``val_split()``; for a table,
    ``show_columns(path, header, chosen)`` and ``columnsChosen(path, text, label,
    several)`` (several: read every label cell as a set of labels)."""

    dataChosen = Signal(str)
    sampleRequested = Signal()
    # A table, its text and label columns ("": auto), and "read several labels per row".
    columnsChosen = Signal(str, str, str, bool)

    def __init__(self, settings: AppSettings, parent=None):
        super().__init__(parent)
        self.setObjectName("dataPanel")
        self._settings = settings
        self._own_val = False           # the data has its own validation folder
        self._val_data = ""             # validation data chosen under Advanced (Train tab)
        layout = QVBoxLayout(self)
        self.stack = QStackedWidget()
        self.stack.addWidget(self._build_welcome())
        self.stack.addWidget(self._build_details())
        layout.addWidget(self.stack)

    def _build_welcome(self) -> QWidget:
        page = QWidget(objectName="welcomePage")
        layout = QVBoxLayout(page)
        layout.addStretch(1)
        text = QLabel(WELCOME, objectName="welcome")
        text.setWordWrap(True)
        layout.addWidget(text)
        row = QHBoxLayout()
        self.sample_button = QPushButton("Use the sample dataset", objectName="sampleButton")
        self.sample_button.clicked.connect(self.sampleRequested)
        folder = QPushButton("Open folder…")
        folder.clicked.connect(self.choose_folder)
        table = QPushButton("Open CSV…")
        table.clicked.connect(self.choose_table)
        for b in (self.sample_button, folder, table):
            row.addWidget(b)
        row.addStretch(1)
        layout.addLayout(row)
        layout.addStretch(2)
        return page

    def _build_details(self) -> QWidget:
        page = QWidget(objectName="dataDetails")
        layout = QVBoxLayout(page)
        self.title = QLabel(objectName="dataTitle")
        self.title.setWordWrap(True)
        layout.addWidget(self.title)
        layout.addWidget(self._build_columns())
        self.class_table = QTableWidget(0, 3, objectName="classTable")
        self.class_table.setHorizontalHeaderLabels(["Class", "Examples", "Samples"])
        self.class_table.horizontalHeader().setSectionResizeMode(
            2, QHeaderView.ResizeMode.Stretch)
        self.class_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.class_table.verticalHeader().setDefaultSectionSize(54)
        layout.addWidget(self.class_table, 3)
        self.label_sets = LabelSetsView()       # several labels per row: facts and rows
        layout.addWidget(self.label_sets, 3)
        self.warnings = QLabel(objectName="dataWarnings")
        self.warnings.setWordWrap(True)
        self.warnings.setStyleSheet("color: #8a5a00;")
        layout.addWidget(self.warnings)
        layout.addWidget(QLabel("Skipped files:"))
        self.skipped = QListWidget(objectName="skippedList")
        layout.addWidget(self.skipped, 1)
        row = QHBoxLayout()
        row.addWidget(QLabel("Validation split"))
        self.val_split_box = QDoubleSpinBox(objectName="valSplit", minimum=0.0, maximum=0.5,
                                            singleStep=0.05, value=0.2)
        row.addWidget(self.val_split_box)
        row.addStretch(1)
        other = QPushButton("Open other data…")
        other.clicked.connect(self.choose_folder)
        row.addWidget(other)
        layout.addLayout(row)
        return page

    def _build_columns(self) -> QWidget:
        """A table's text and label columns, picked from its header."""
        self.columns_row = QWidget(objectName="tableColumns")
        row = QHBoxLayout(self.columns_row)
        row.setContentsMargins(0, 0, 0, 0)
        self.text_column = QComboBox(objectName="textColumn")
        self.label_column = QComboBox(objectName="labelColumn")
        row.addWidget(QLabel("Columns — text or image path:"))
        row.addWidget(self.text_column)
        row.addWidget(QLabel("label:"))
        row.addWidget(self.label_column)
        self.multi_label_box = QCheckBox("Several labels per row", objectName="multiLabel")
        self.multi_label_box.setToolTip(MULTI_LABEL_TIP)
        self.multi_label_box.clicked.connect(self._on_column_activated)
        row.addWidget(self.multi_label_box)
        self._forced_multi = False
        row.addStretch(1)
        for combo in (self.text_column, self.label_column):
            combo.setToolTip("Automatic: a column named text, sentence, review … or path, "
                             "image, filename … (label, labels, class, …; without one, "
                             "one 0/1 column per label)")
            combo.activated.connect(self._on_column_activated)
        self._table = ""
        self.columns_row.hide()
        return self.columns_row

    def bind(self, controller) -> None:
        self.dataChosen.connect(controller.open_data)
        self.columnsChosen.connect(controller.choose_columns)
        controller.tableColumns.connect(self.show_columns)
        controller.scanChanged.connect(self.show_scan)
        controller.projectOpened.connect(self._on_project)

    @Slot(object)
    def _on_project(self, project) -> None:
        self.set_val_split(project.job.val_split)

    # ------------------------------------------------------------------ public API
    def val_split(self) -> float:
        return self.val_split_box.value()

    def set_val_split(self, value: float) -> None:
        self.val_split_box.setValue(float(value))

    @Slot(str, object, object)
    def show_columns(self, path: str, header: list, chosen: tuple) -> None:
        """Offer a table's columns (``header``), ``chosen`` (text, label[, several labels
        per row]) selected (None: automatic); hidden for folders (no header)."""
        self._table = path
        self._forced_multi = len(chosen) > 2 and bool(chosen[2])
        self.columns_row.setVisible(bool(header))
        for combo, name in zip((self.text_column, self.label_column), chosen):
            combo.clear()
            combo.addItem("automatic", "")
            for column in header:
                combo.addItem(column, column)
            combo.setCurrentIndex(max(0, combo.findData(name or "")))
        if header and self.showing_welcome():     # (no table read yet: its columns)
            self.stack.setCurrentIndex(1)
            self.title.setText(f"<b>{path}</b> — choose its text and label columns")

    @Slot()
    def _on_column_activated(self) -> None:
        self.columnsChosen.emit(self._table, self.text_column.currentData(),
                                self.label_column.currentData(),
                                self.multi_label_box.isChecked())

    def showing_welcome(self) -> bool:
        return self.stack.currentIndex() == 0

    @Slot(object, object)
    def show_scan(self, scan, thumbs: dict) -> None:
        self.stack.setCurrentIndex(1)
        self.title.setText(f"<b>{scan.root}</b> — {scan.kind}, {scan.layout}")
        counts = scan.counts()
        multi = getattr(scan, "multi_label", False)
        self.class_table.setHorizontalHeaderLabels(["Label", "Rows", "Samples"] if multi
                                                   else ["Class", "Examples", "Samples"])
        self.class_table.setRowCount(len(scan.classes))
        for row, name in enumerate(scan.classes):
            self.class_table.setItem(row, 0, QTableWidgetItem(name))
            count = QTableWidgetItem(str(counts[name]))
            count.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.class_table.setItem(row, 1, count)
            samples = thumbs.get(name, [])
            self.class_table.removeCellWidget(row, 2)
            if samples and not isinstance(samples[0], str):
                strip = QWidget()
                strip_layout = QHBoxLayout(strip)
                strip_layout.setContentsMargins(2, 2, 2, 2)
                for img in samples:
                    label = QLabel()
                    if not img.isNull():
                        label.setPixmap(QPixmap.fromImage(img))
                    strip_layout.addWidget(label)
                strip_layout.addStretch(1)
                self.class_table.setCellWidget(row, 2, strip)
                self.class_table.setItem(row, 2, QTableWidgetItem(""))
            else:
                self.class_table.setItem(row, 2, QTableWidgetItem(" · ".join(samples)))
        self.label_sets.show_scan(scan)
        # Checked for data read with several labels per row; fixed when the table itself
        # says so (a cell with several labels, one-hot columns).
        self.multi_label_box.setChecked(multi)
        found = multi and not self._forced_multi
        self.multi_label_box.setEnabled(not found)
        self.multi_label_box.setToolTip("This table has several labels per row." if found
                                        else MULTI_LABEL_TIP)
        self.skipped.clear()
        for path, reason in scan.skipped:
            self.skipped.addItem(f"{path} — {reason}")
        if not scan.skipped:
            self.skipped.addItem("(none)")
        # In the window's words: the controls to use, not command-line flags.
        self.warnings.setText("\n".join(f"⚠ {window_text(w)}" for w in scan.warnings))
        self._own_val = scan.val is not None
        self._update_split_box()

    @Slot(str)
    def set_val_data(self, path: str) -> None:
        """Validation data chosen on the Train tab: the split is then not used."""
        self._val_data = path.strip()
        self._update_split_box()

    def _update_split_box(self) -> None:
        why = ("Validation data is set under Advanced on the Train tab." if self._val_data
               else "This data has its own validation folder." if self._own_val else "")
        self.val_split_box.setEnabled(not why)
        self.val_split_box.setToolTip(why)

    # ------------------------------------------------------------------ dialogs
    @Slot()
    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Data folder (one subfolder per class)",
                                                self._settings.last_dir("data"))
        if path:
            self._settings.remember_dir("data", path)
            self.dataChosen.emit(path)

    @Slot()
    def choose_table(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Texts and labels",
                                              self._settings.last_dir("data"),
                                              "Tables (*.csv *.tsv)")
        if path:
            self._settings.remember_dir("data", path)
            self.dataChosen.emit(path)
