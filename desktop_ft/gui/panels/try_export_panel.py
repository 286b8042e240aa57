"""Try it (an image or a sentence through the in-memory model) and Export."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QImage, QPixmap
from PySide6.QtWidgets import (QCheckBox, QFileDialog, QGroupBox, QHBoxLayout, QLabel,
                               QLineEdit, QPushButton, QSlider, QSpinBox, QVBoxLayout,
                               QWidget)

from desktop_ft.core.export.plan import DEFAULT_FORMATS
from desktop_ft.gui.settings import AppSettings
from desktop_ft.gui.widgets import ImageDropLabel, ProbabilityBars
from desktop_ft.gui.widgets.label_bars import LabelBars
from desktop_ft.gui.widgets.wiring import connect_all

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.webp)"
FORMAT_CHOICES = (
    ("saved_model", "SavedModel", "TensorFlow SavedModel: raw images of any size or raw "
     "strings (TF Serving, tf.saved_model.load)"),
    ("keras", "Keras", "model.keras, for keras.saving.load_model"),
    ("onnx", "ONNX", "model.onnx for onnxruntime (C#, C++, JavaScript…); text models also "
     "get tokenizer.json"),
    ("litert", "LiteRT", "model.tflite and an int8 model_int8.tflite for phones and edge "
     "boards"),
)


class TryExportPanel(QWidget):
    """``set_input_kind(kind)``; ``imageChosen(path)`` / ``sentenceEntered(text)`` to try
    the model; ``show_probabilities``; ``exportRequested(folder)``; ``show_export``."""

    imageChosen = Signal(str)
    sentenceEntered = Signal(str)
    exportRequested = Signal(str)
    unknownBelowChanged = Signal(object)     # a probability, or None: never "unknown"

    def __init__(self, settings: AppSettings, parent=None):
        super().__init__(parent)
        self._settings = settings
        self._export_dir: str | None = None
        self._controller = None
        self._overlay_source = None
        self._bundle = None          # the model tried: its decision (multi-label thresholds)
        self.overlay_shown = False
        layout = QVBoxLayout(self)
        layout.addWidget(self._make_try_box(), 1)
        layout.addWidget(self._make_export_box())
        self.set_input_kind("images")

    def _make_try_box(self) -> QGroupBox:
        """Try it: the input on the left (image, sentence, "Show why"), the answer on the
        right."""
        box = QGroupBox("Try it", objectName="tryItPanel")
        row = QHBoxLayout(box)
        row.addLayout(self._make_try_inputs())
        right = QVBoxLayout()
        self.result = QLabel("Train a model, then drop an image or type a sentence.",
                             objectName="tryResult")
        self.bars = ProbabilityBars()
        self.bars.setObjectName("probabilityBars")
        self.label_bars = LabelBars(objectName="labelBars")   # multi-label: thresholds
        self.label_bars.hide()
        self.highlights = QLabel("", objectName="tokenHighlights")
        self.highlights.setWordWrap(True)
        self.highlights.setTextFormat(Qt.TextFormat.RichText)
        right.addWidget(self.result)
        right.addWidget(self.bars)
        right.addWidget(self.label_bars)
        right.addWidget(self.highlights)
        right.addStretch(1)
        row.addLayout(right, 1)
        return box

    def _make_try_inputs(self) -> QVBoxLayout:
        left = QVBoxLayout()
        self.image = ImageDropLabel("Drop an image here")
        self.image.setObjectName("tryImage")
        self.image.fileDropped.connect(self.try_image)
        self.choose = QPushButton("Choose image…", objectName="tryChoose")
        self.choose.clicked.connect(self._on_choose_image)
        self.text = QLineEdit(objectName="tryText",
                              placeholderText="Type a sentence and press Enter")
        self.text.returnPressed.connect(self._on_return)
        self.explain_toggle = QCheckBox("Show why", objectName="explainToggle")
        self.explain_toggle.setToolTip("Images: a Grad-CAM heatmap of what raised the "
                                       "predicted class. Text: each word's importance.")
        self.opacity = QSlider(Qt.Orientation.Horizontal, objectName="explainOpacity",
                               minimum=0, maximum=100, value=50)
        self.opacity.setToolTip("Heatmap opacity")
        self.opacity.valueChanged.connect(self._redraw_overlay)
        explain_row = QHBoxLayout()
        explain_row.addWidget(self.explain_toggle)
        explain_row.addWidget(self.opacity, 1)
        for w in (self.image, self.choose, self.text):
            left.addWidget(w)
        left.addLayout(explain_row)
        left.addLayout(self._make_unknown_row())
        return left

    def _make_unknown_row(self) -> QHBoxLayout:
        """"None of these": answer "unknown" below a confidence (kept in the project,
        carried by exports made afterwards)."""
        tip = ("When the model's top probability (calibrated on the validation split) is "
               "below this, the answer is “unknown” — for inputs unlike any class. Exports "
               "made afterwards answer the same way, and the project keeps it.")
        self.unknown_toggle = QCheckBox("Answer “unknown” below", objectName="unknownToggle")
        self.unknown_percent = QSpinBox(objectName="unknownBelow", minimum=1, maximum=99,
                                        value=60, suffix=" %", enabled=False)
        for w in (self.unknown_toggle, self.unknown_percent):
            w.setToolTip(tip)
        self.unknown_toggle.toggled.connect(self._on_unknown_changed)
        self.unknown_percent.valueChanged.connect(self._on_unknown_changed)
        row = QHBoxLayout()
        row.addWidget(self.unknown_toggle)
        row.addWidget(self.unknown_percent)
        row.addStretch(1)
        return row

    def unknown_below(self) -> float | None:
        return self.unknown_percent.value() / 100 if self.unknown_toggle.isChecked() else None

    def set_unknown_below(self, value: float | None) -> None:
        if value is not None:
            self.unknown_percent.setValue(max(1, min(99, round(value * 100))))
        self.unknown_toggle.setChecked(value is not None)

    @Slot()
    def _on_unknown_changed(self, *_) -> None:
        self.unknown_percent.setEnabled(self.unknown_toggle.isChecked())
        self.unknownBelowChanged.emit(self.unknown_below())

    @Slot(object)
    def _on_project(self, project) -> None:
        self.set_unknown_below(project.unknown_below)

    def _make_export_box(self) -> QGroupBox:
        """Export: the formats to write, Export… and Open folder, and what was written."""
        ebox = QGroupBox("Export", objectName="exportPanel")
        el = QVBoxLayout(ebox)
        el.addWidget(QLabel("Every format takes raw input and returns class probabilities; "
                            "labels.json, export.json and a model card (README.md) always "
                            "come with them."))
        choices = QHBoxLayout()
        self.format_boxes = {}
        for key, text, tip in FORMAT_CHOICES:
            box = QCheckBox(text, objectName=f"format_{key}",
                            checked=key in DEFAULT_FORMATS)
            box.setToolTip(tip)
            choices.addWidget(box)
            self.format_boxes[key] = box
        choices.addStretch(1)
        el.addLayout(choices)
        buttons = QHBoxLayout()
        self.export_button = QPushButton("Export…", objectName="exportButton", enabled=False)
        self.export_button.clicked.connect(self.choose_export_folder)
        self.open_button = QPushButton("Open folder", objectName="openExportFolder",
                                       enabled=False)
        self.open_button.clicked.connect(self._on_open_folder)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.open_button)
        buttons.addStretch(1)
        el.addLayout(buttons)
        self.export_label = QLabel("", objectName="exportResult")
        self.export_label.setWordWrap(True)
        self.export_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        el.addWidget(self.export_label)
        return ebox

    def bind(self, controller) -> None:
        self._controller = controller
        connect_all(
            (self.imageChosen, self._on_image),
            (self.sentenceEntered, self._on_sentence),
            (self.exportRequested, self.export_to),
            (controller.predicted, self.show_probabilities),
            (self.unknownBelowChanged, controller.set_unknown_below),
            (controller.projectOpened, self._on_project),
            (controller.exported, self.show_export),
            (controller.exportFailed, self.show_export_failed),
            (controller.taskCancelled, self.show_export_cancelled),
            (controller.resultReady, self.show_ready),
            (controller.bundleChanged, self._on_bundle),
            (controller.explained, self.show_explanation),
            (self.explain_toggle.toggled, controller.set_explain))

    def formats(self) -> list[str]:
        return [key for key, box in self.format_boxes.items() if box.isChecked()]

    @Slot(str)
    def export_to(self, path: str) -> None:
        if self._controller.export(path, self.formats()):
            self.show_exporting(path)

    @Slot(str)
    def _on_image(self, path: str) -> None:
        self._controller.predict(path, "images")

    @Slot(str)
    def _on_sentence(self, text: str) -> None:
        self._controller.predict(text, "text")

    @Slot(object)
    def _on_bundle(self, bundle) -> None:
        self._bundle = bundle
        if bundle is not None:
            self.set_input_kind(bundle.input_kind)
            # A multi-label model answers each label at its threshold: no "unknown".
            single = not getattr(getattr(bundle, "decision", None), "multi_label", False)
            self.unknown_toggle.setEnabled(single)
            self.unknown_percent.setEnabled(single and self.unknown_toggle.isChecked())

    # ------------------------------------------------------------------ public API
    def set_input_kind(self, kind: str) -> None:
        images = kind == "images"
        self.image.setVisible(images)
        self.choose.setVisible(images)
        self.text.setVisible(not images)
        self.opacity.setVisible(images)
        self.explain_toggle.setText("Show why (Grad-CAM)" if images else
                                    "Show why (word importance)")

    @Slot(object)
    def show_explanation(self, outcome: dict) -> None:
        """A heatmap over the image (blended here, at the slider's opacity) or the text
        with its words highlighted."""
        e = outcome["explanation"]
        if "heatmap" in e:
            self._overlay_source = (outcome["image"], e["heatmap"])
            self._redraw_overlay()
        else:
            from desktop_ft.core.explain import highlighted_html

            self.highlights.setText(highlighted_html(e["tokens"], e["scores"]))

    @Slot()
    def _redraw_overlay(self, *_) -> None:
        if self._overlay_source is None or not self.explain_toggle.isChecked():
            return
        from desktop_ft.core.explain import overlay

        image, heatmap = self._overlay_source
        blended = overlay(image, heatmap, self.opacity.value() / 100)
        h, w, _ = blended.shape
        qimage = QImage(blended.tobytes(), w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        self.image.setPixmap(QPixmap.fromImage(qimage).scaled(
            200, 200, Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation))
        self.overlay_shown = True

    def set_export_enabled(self, enabled: bool) -> None:
        self.export_button.setEnabled(enabled)

    @Slot(str)
    def try_image(self, path: str) -> None:
        self._overlay_source, self.overlay_shown = None, False
        pix = QPixmap(path)
        if not pix.isNull():
            self.image.setPixmap(pix.scaled(200, 200, Qt.AspectRatioMode.KeepAspectRatio,
                                            Qt.TransformationMode.SmoothTransformation))
        self.imageChosen.emit(path)

    @Slot(object, object)
    def show_probabilities(self, labels: list[str], probs: list[float]) -> None:
        decision = getattr(self._bundle, "decision", None)
        multi = decision is not None and decision.multi_label
        self.bars.setVisible(not multi)
        self.label_bars.setVisible(multi)
        if multi:
            self._show_labels(labels, probs, decision)
            return
        self.bars.set_probabilities(labels, probs)
        best = max(range(len(probs)), key=lambda i: probs[i])
        below = getattr(decision, "unknown_below", None)
        if below is not None and probs[best] < below:     # "none of these"
            self.result.setText(f"<b>unknown</b> — the most probable, {labels[best]} "
                                f"({probs[best]:.1%}), is below {below:.0%}")
            return
        self.result.setText(f"<b>{labels[best]}</b> ({probs[best]:.1%})")

    def _show_labels(self, labels: list[str], probs: list[float], decision) -> None:
        """Multi-label: every label's bar with its threshold marked; the answer is the
        labels that reach their thresholds, each with its probability."""
        self.label_bars.set_labels(labels, probs, decision.label_thresholds(len(labels)))
        [answer] = decision.answers([probs], labels)
        passed = ", ".join(f"<b>{html.escape(a['label'])}</b> ({a['probability']:.1%})"
                           for a in answer["labels"])
        self.result.setText(passed or "No label reaches its threshold.")

    @Slot()
    def show_ready(self, *_) -> None:
        self.result.setText("Drop an image or type a sentence to try the model.")

    def show_exporting(self, path: str) -> None:
        self.export_label.setText(f"Exporting to {path}…")
        self.export_button.setEnabled(False)

    @Slot(object)
    def show_export(self, record: dict) -> None:
        from desktop_ft.core.export import not_written_note, parity_parts

        self._export_dir = record["path"]
        files = ", ".join(record.get("formats_written", []))
        parts = parity_parts(record)
        parity = (f"Max |Δ| between the app and each format, run by its own runtime: "
                  f"{', '.join(parts)}.") if parts else \
            "No SavedModel, ONNX or LiteRT file to compare with the app."
        left_out = record.get("formats_not_written")
        if left_out:     # e.g. a text SavedModel on Windows (no tensorflow-text there)
            parity += "<br>" + html.escape(not_written_note(left_out, record["path"]))
        self.export_label.setText(f"Exported to <b>{record['path']}</b> ({files})<br>{parity}")
        self.open_button.setEnabled(True)

    @Slot()
    def show_export_failed(self) -> None:
        self.export_label.setText("Export failed; any previous export is unchanged.")

    @Slot(str)
    def show_export_cancelled(self, task: str) -> None:
        if task in ("export", "export-run"):
            self.export_label.setText("Export cancelled; any previous export is unchanged.")

    # ------------------------------------------------------------------ slots
    @Slot()
    def choose_export_folder(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export to folder",
                                              f"{self._settings.last_dir('export')}/my_model",
                                              "Export folder (*)")
        if path:
            self._settings.remember_dir("export", str(path).rsplit("/", 1)[0])
            self.exportRequested.emit(path)

    @Slot()
    def _on_choose_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Image to classify",
                                              self._settings.last_dir("try"), IMAGE_FILTER)
        if path:
            self._settings.remember_dir("try", path)
            self.try_image(path)

    def try_text(self, text: str) -> None:
        self.text.setText(text)
        self.highlights.setText("")
        if text.strip():
            self.sentenceEntered.emit(text)

    @Slot()
    def _on_return(self) -> None:
        self.try_text(self.text.text())

    @Slot()
    def _on_open_folder(self) -> None:
        if self._export_dir:
            QDesktopServices.openUrl(QUrl.fromLocalFile(self._export_dir))
