"""The model panel: which network, its weights or preset, input size, precision."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog,
                               QFormLayout, QGroupBox, QHBoxLayout, QLabel, QProgressBar,
                               QPushButton, QSpinBox, QWidget)

from desktop_ft.core.models import (ARCHITECTURES, Modality, ModelSpec, architecture_for_folder,
                                    modality_for)
from desktop_ft.core.models.image.preprocess import MAX_AUGMENT_STRENGTH
from desktop_ft.gui.settings import AppSettings
from desktop_ft.gui.widgets.architecture_picker import ArchitecturePicker

PRECISIONS = (("auto", "Auto (mixed on capable GPUs)"), ("float32", "float32"),
              ("mixed_bfloat16", "mixed bfloat16"), ("mixed_float16", "mixed float16 (GPU only)"))


def _select(combo: QComboBox, data) -> None:
    index = combo.findData(data)
    if index >= 0:
        combo.setCurrentIndex(index)


def _looks_like_path(text: str) -> bool:
    if not text:          # Path("") is ".", a folder: an empty box is not a path
        return False
    return "/" in text or os.sep in text or text.startswith((".", "~")) or \
        Path(text).expanduser().is_dir()


class ModelPanel(QGroupBox):
    """``spec()`` / ``set_spec()`` as a ModelSpec dict; ``loadRequested(spec)`` when the
    user presses Load; ``architectureChanged(name)`` when the network changes."""

    loadRequested = Signal(dict)
    cancelRequested = Signal()
    architectureChanged = Signal(str)

    def __init__(self, settings: AppSettings, parent=None):
        super().__init__("Model", parent)
        self.setObjectName("modelPanel")
        self._settings = settings
        self._weights_file: str | None = None
        # What a network without a Weights row loads: its preset's weights unless a
        # project said "none" (random weights).
        self._hidden_weights = ModelSpec().weights
        self._loaded: dict | None = None
        form = self._form = QFormLayout(self)
        self._detected: tuple[str, str] | None = None   # (folder, modality) from Folder…
        self.architecture_picker = ArchitecturePicker(objectName="modelPicker")
        form.addRow("Network", self.architecture_picker)
        self.about = QLabel(objectName="networkAbout")
        self.about.setStyleSheet("color: palette(mid);")
        form.addRow("", self.about)
        self.weights = QComboBox(objectName="weightsPicker")
        self.weights.activated.connect(self._on_weights_chosen)
        self.image_size = QSpinBox(objectName="imageSize", minimum=1, maximum=1024,
                                   singleStep=16, suffix=" px")
        self.head = QComboBox(objectName="headPicker")
        self.head.currentIndexChanged.connect(self._on_head_changed)
        self.train_bn = QCheckBox("Let BatchNorm layers of unfrozen blocks train",
                                  objectName="trainBn")
        self.train_bn.setToolTip("Off (the default, as Keras's fine-tuning guide advises): "
                                 "BatchNormalization stays frozen and runs in inference "
                                 "mode even inside blocks you unfreeze, so its statistics "
                                 "are not moved by small batches of new data.")
        preset_row = self._make_preset_row()
        self.seq_len = QSpinBox(objectName="seqLen", minimum=8, maximum=512, value=128)
        augment_row = self._make_augment_row()
        # One row per ModelSpec field; a modality shows the rows of its spec_fields.
        self._rows = {"weights": ("Weights", self.weights),
                      "image_size": ("Image size", self.image_size),
                      "head": ("Head", self.head),
                      "train_bn": ("BatchNorm", self.train_bn),
                      "augment": ("Augmentation", augment_row),
                      "preset": ("Preset or folder", preset_row),
                      "seq_len": ("Sequence length", self.seq_len)}
        for label, widget in self._rows.values():
            form.addRow(label, widget)
        self.precision = QComboBox(objectName="precisionPicker")
        for key, text in PRECISIONS:
            self.precision.addItem(text, key)
        form.addRow("Precision", self.precision)
        form.addRow(self._make_load_row())
        self._connect_changes()
        self._on_architecture_changed()

    def _make_preset_row(self) -> QWidget:
        """The preset box, Folder… and what a chosen folder was found to hold."""
        self.preset = QComboBox(objectName="presetPicker", editable=True)
        browse = QPushButton("Folder…", objectName="presetBrowse")
        browse.clicked.connect(self._on_browse_preset)
        preset_row = QWidget()
        row = QHBoxLayout(preset_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.preset, 1)
        row.addWidget(browse)
        self.detected = QLabel(objectName="presetDetected")
        self.detected.hide()
        row.addWidget(self.detected)
        return preset_row

    def _make_augment_row(self) -> QWidget:
        """One box per augmentation any architecture offers."""
        augment_row = QWidget()
        row = QHBoxLayout(augment_row)
        row.setContentsMargins(0, 0, 0, 0)
        self.augment = {}
        for name in dict.fromkeys(a for f in ARCHITECTURES.values() for a in f.augmentations):
            box = QCheckBox(name, objectName=f"augment_{name}")
            box.setToolTip("Random during training only (inside the model); turns off the "
                           "feature cache.")
            row.addWidget(box)
            self.augment[name] = box
        self.augment_strength = QDoubleSpinBox(objectName="augmentStrength", minimum=0.25,
                                               maximum=MAX_AUGMENT_STRENGTH, singleStep=0.25,
                                               value=1.0, prefix="strength ×")
        self.augment_strength.setToolTip("Scales how far rotation, zoom and contrast may "
                                         "go: 1 is up to 18 degrees, 10 % zoom and 20 % "
                                         "contrast; 2 doubles them")
        row.addWidget(self.augment_strength)
        row.addStretch(1)
        return augment_row

    def _make_load_row(self) -> QHBoxLayout:
        """Load model, the download's progress, Cancel."""
        self.load_button = QPushButton("Load model", objectName="loadButton")
        self.load_button.clicked.connect(self._on_load_clicked)
        self.progress = QProgressBar(objectName="downloadProgress")
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel", objectName="cancelLoad")
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(self.cancelRequested)
        row = QHBoxLayout()
        row.addWidget(self.load_button)
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        return row

    def _connect_changes(self) -> None:
        """Follow the controls: the network (its rows), the preset (what it holds), and
        every change (the changed marker, ``_on_changed``)."""
        self.architecture_picker.itemChosen.connect(self._on_architecture_changed)
        self.preset.currentTextChanged.connect(self._on_preset_text)
        for signal in (self.weights.currentIndexChanged, self.image_size.valueChanged,
                       self.head.currentIndexChanged, self.preset.currentTextChanged,
                       self.seq_len.valueChanged, self.precision.currentIndexChanged,
                       self.train_bn.toggled, self.augment_strength.valueChanged,
                       *(b.toggled for b in self.augment.values())):
            signal.connect(self._on_changed)

    def bind(self, controller) -> None:
        """Wire to the session: Load/Cancel go to it; loads and data update the panel."""
        self.loadRequested.connect(controller.load_model)
        self.cancelRequested.connect(controller.cancel_load)
        controller.architectureWanted.connect(self.set_architecture)
        controller.loadingChanged.connect(self.set_loading)
        controller.observer.progress.connect(self.set_download_progress)
        controller.bundleChanged.connect(self._on_bundle)
        controller.projectOpened.connect(self._on_project)

    @Slot(object)
    def _on_bundle(self, bundle) -> None:
        if bundle is not None:   # show what was loaded (e.g. a fallback to weights none)
            spec = bundle.spec.to_dict()
            self.set_spec(spec)
            self.set_loaded(spec)

    @Slot(object)
    def _on_project(self, project) -> None:
        self.set_spec(project.job.model.to_dict())

    # ------------------------------------------------------------------ public API
    def architecture(self) -> str:
        return self.architecture_picker.currentData()

    @Slot(str)
    def set_architecture(self, name: str) -> None:
        _select(self.architecture_picker, name)

    def spec(self) -> dict:
        """The panel's settings as a ModelSpec dict (``num_classes`` left at 2)."""
        fields = modality_for(self.architecture()).spec_fields
        weights = self.weights.currentData()
        if weights == "file":
            weights = self._weights_file or "none"
        if "weights" not in fields:   # a text or keras-hub network: pretrained from its preset
            weights = self._hidden_weights
        return ModelSpec(architecture=self.architecture(), weights=weights or "none",
                         image_size=self.image_size.value(),
                         head=self.head.currentData() or "gap",
                         train_bn=self.train_bn.isChecked() and "train_bn" in fields,
                         preset=self.preset.currentText().strip() or None,
                         seq_len=self.seq_len.value(), precision=self.precision.currentData(),
                         augment=[n for n, b in self.augment.items() if b.isChecked()]
                         if "augment" in modality_for(self.architecture()).spec_fields else [],
                         augment_strength=self.augment_strength.value()
                         ).to_dict()

    def set_spec(self, spec: dict) -> None:
        self.set_architecture(spec.get("architecture", self.architecture()))
        defaults = modality_for(self.architecture()).spec_defaults()
        weights = spec.get("weights") or defaults.get("weights", "none")
        self._hidden_weights = "none" if weights == "none" else ModelSpec().weights
        if self.weights.findData(weights) >= 0 and weights != "file":
            _select(self.weights, weights)
        elif self.weights.findData("file") >= 0:
            self.set_weights_file(weights)
        self.image_size.setValue(int(spec.get("image_size", defaults.get("image_size", 1))))
        _select(self.head, spec.get("head", "gap"))
        self.train_bn.setChecked(bool(spec.get("train_bn", False)))
        if spec.get("preset"):
            self.preset.setCurrentText(str(spec["preset"]))
        self.seq_len.setValue(int(spec.get("seq_len", 128)))
        _select(self.precision, spec.get("precision", "auto"))
        for name, box in self.augment.items():
            box.setChecked(name in (spec.get("augment") or []))
        self.augment_strength.setValue(float(spec.get("augment_strength", 1.0)))

    def set_weights_file(self, path: str) -> None:
        self._weights_file = path
        self.weights.setItemText(self.weights.findData("file"), f"File: {Path(path).name}")
        _select(self.weights, "file")

    def set_loaded(self, spec: dict | None) -> None:
        """What is loaded now: the Load button says when the panel no longer matches."""
        self._loaded = spec
        self._on_changed()

    def settings_differ(self) -> bool:
        if self._loaded is None:
            return False
        wanted = self.spec()
        keys = ("architecture", "precision") + modality_for(wanted["architecture"]).spec_fields
        return any(wanted.get(k) != self._loaded.get(k) for k in keys)

    @Slot(bool)
    def set_loading(self, loading: bool) -> None:
        self.progress.setRange(0, 0)
        self.progress.setVisible(loading)
        self.cancel_button.setVisible(loading)
        self.load_button.setEnabled(not loading)

    def set_can_load(self, can: bool) -> None:
        """False while another task owns the model (Load during start-up waits)."""
        self.load_button.setEnabled(can)

    @Slot(float, float, str)
    def set_download_progress(self, done: float, total: float, what: str) -> None:
        if total > 0:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * done / total))
            self.progress.setFormat(f"{what} %p%")

    # ------------------------------------------------------------------ slots
    @Slot()
    def _on_load_clicked(self) -> None:
        self.loadRequested.emit(self.spec())

    @Slot()
    def _on_architecture_changed(self, *_) -> None:
        modality = modality_for(self.architecture())
        for key, (_, widget) in self._rows.items():
            self._form.setRowVisible(widget, key in modality.spec_fields)
        self._fill_choices(modality)
        self._fill_presets(modality)
        if self._detected and self._detected[1] != modality.name:
            self._show_detected(None)
        self.architectureChanged.emit(self.architecture())
        self._on_changed()

    @Slot()
    def _on_changed(self, *_) -> None:
        differ = self.settings_differ()
        self.load_button.setText("Load model — settings changed" if differ else "Load model")
        self.load_button.setToolTip("Training uses the loaded model; press to load it with "
                                    "the settings above." if differ else "")
        font = self.load_button.font()
        font.setBold(differ)
        self.load_button.setFont(font)

    @Slot(int)
    def _on_weights_chosen(self, index: int) -> None:
        if self.weights.itemData(index) != "file":
            return
        short = modality_for(self.architecture()).short
        path, _ = QFileDialog.getOpenFileName(self, f"{short} "
                                              "weights file",
                                              self._settings.last_dir("weights"),
                                              "Keras weights or saved model "
                                              "(*.h5 *.weights.h5 *.keras)")
        if path:
            self._settings.remember_dir("weights", path)
            self.set_weights_file(path)
        elif not self._weights_file:
            _select(self.weights, "none")

    @Slot()
    def _on_head_changed(self, *_) -> None:
        original = self.head.currentData() == "original"
        if original:   # ImageNet's fc1/fc2 take the network's own size only
            self.image_size.setValue(modality_for(self.architecture()).spec_defaults()["image_size"])
        self.image_size.setEnabled(not original)

    @Slot()
    def _on_browse_preset(self) -> None:
        path = QFileDialog.getExistingDirectory(
            self, "keras-hub preset or Hugging Face folder", self._settings.last_dir("preset"))
        if not path:
            return
        self._settings.remember_dir("preset", path)
        # Told from config.json alone (no weights read), so Load builds the right network.
        name = architecture_for_folder(path)
        if name is not None and name != self.architecture():
            self.set_architecture(name)
        self.preset.setCurrentText(path)
        self._show_detected((path, name) if name else None)

    def _fill_choices(self, modality: Modality) -> None:
        """The weights and head lists, the size and the line under the picker are the
        picked network's (from core: its table entry)."""
        row = modality.table_row()
        facts = [f"{row['params'] / 1e6:.1f} M parameters" if row["params"] else "",
                 f"ImageNet top-1 {row['top1']:.1f} %" if row["top1"] is not None else "",
                 f"{row['speed']:.0f} images/s on a 2-core CPU" if row["speed"] else ""]
        self.about.setText(" · ".join(f for f in facts if f))
        self._form.setRowVisible(self.about, any(facts))
        previous_architecture = getattr(self, "_choices_of", None)
        if previous_architecture == modality.name:
            return
        self._choices_of = modality.name
        defaults = modality.spec_defaults()
        for combo, choices, key in ((self.weights, modality.arch.weights_choices, "weights"),
                                    (self.head, modality.arch.head_choices, "head")):
            current = combo.currentData()
            combo.blockSignals(True)
            try:
                combo.clear()
                for value, text in choices:
                    combo.addItem(text, value)
                if current == "file" and self._weights_file and combo is self.weights:
                    combo.setItemText(combo.findData("file"),
                                      f"File: {Path(self._weights_file).name}")
                _select(combo, current if combo.findData(current) >= 0
                        else defaults.get(key))
            finally:
                combo.blockSignals(False)
        self.image_size.setMinimum(modality.min_image_size)
        if "image_size" in defaults:
            self.image_size.setValue(defaults["image_size"])
        self._on_head_changed()

    def _fill_presets(self, modality: Modality) -> None:
        """Offer only ``modality``'s presets; a typed folder stays, another modality's preset
        name gives way to this modality's first."""
        text = self.preset.currentText().strip()
        others = {p for f in ARCHITECTURES.values() if f is not modality for p in f.presets}
        if modality.presets and not _looks_like_path(text) and (
                not text or (text in others and text not in modality.presets)):
            text = modality.presets[0]
        self.preset.blockSignals(True)
        try:
            self.preset.clear()
            self.preset.addItems(modality.presets)
            self.preset.setCurrentText(text)
        finally:
            self.preset.blockSignals(False)

    def _show_detected(self, detected: tuple[str, str] | None) -> None:
        self._detected = detected
        text = tip = ""
        if detected:
            modality = modality_for(detected[1])
            text = f"Detected: {modality.short}"
            tip = (f"{Path(detected[0]) / 'config.json'} says this folder holds a "
                   f"{modality.short} checkpoint; Network is set to {modality.title}.")
        self.detected.setText(text)
        self.detected.setToolTip(tip)
        self.detected.setStatusTip(tip)
        self.detected.setVisible(bool(detected))

    @Slot(str)
    def _on_preset_text(self, text: str) -> None:
        if self._detected and text.strip() != self._detected[0]:
            self._show_detected(None)
