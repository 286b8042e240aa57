"""The main window: model panel + layer tree on the left; data, training, try-it and export
on the right. Every slow step runs in a :class:`Worker`; the GUI thread only paints."""

from __future__ import annotations

import threading
import time
from importlib import resources
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, QUrl, Slot
from PySide6.QtGui import QAction, QDesktopServices, QIcon, QImage, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_ft.core.errors import UserError
from desktop_ft.core.layer_tree import STRATEGY_HELP
from desktop_ft.gui.plots import TrainingPlots
from desktop_ft.gui.qt_layer_tree import LayerTreeView, QtLayerTreeModel
from desktop_ft.gui.qt_workers import QtObserver, Worker
from desktop_ft.gui.widgets import ConfusionMatrixView, ErrorBanner, ImageDropLabel, ProbabilityBars

BERT_PRESETS = ["bert_tiny_en_uncased", "bert_small_en_uncased", "bert_base_en_uncased",
                "all_minilm_l6_v2_en"]
DATA_SUFFIXES = (".csv", ".tsv")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
THUMBS_PER_CLASS = 4


def resource_path(name: str) -> str:
    return str(resources.files("desktop_ft") / "resources" / name)


# ----------------------------------------------------------------- worker functions
# Plain functions run in worker threads. They may use TensorFlow and Qt's QImage (safe off
# the GUI thread), never widgets.

def _warm_up() -> str:
    from desktop_ft.core import runtime

    runtime.configure()
    return runtime.device_description()


def _load_model(spec_dict: dict, observer, stop, allow_fallback: bool):
    from desktop_ft.core.models import ModelSpec, load_model

    spec = ModelSpec.from_dict(spec_dict)
    try:
        return load_model(spec, observer, stop), ""
    except UserError as e:
        if not (allow_fallback and spec.family == "vgg16" and spec.weights == "imagenet"
                and not (stop and stop.is_set())):
            raise
        note = (f"ImageNet weights are not available ({str(e).split('. ')[0]}). Using "
                "weights=none (random initialisation) so you can train the sample dataset "
                "now; choose ImageNet or a weights file later for real transfer learning.")
        spec.weights = "none"
        return load_model(spec, observer, stop), note


def _scan_data(path: str, kind: str | None, val_split: float):
    from desktop_ft.core import data

    scan = data.scan(path, kind)
    thumbs = {}
    for y, name in enumerate(scan.classes):
        items = [it for it, lbl in zip(scan.train.items, scan.train.labels) if lbl == y]
        picked = items[:THUMBS_PER_CLASS]
        if scan.kind == "images":
            thumbs[name] = [_thumbnail(p) for p in picked]
        else:
            thumbs[name] = [t[:80] for t in picked]
    return scan, thumbs


def _thumbnail(path: str) -> QImage:
    img = QImage(path)
    if img.isNull():
        return img
    return img.scaled(48, 48, Qt.AspectRatioMode.KeepAspectRatio,
                      Qt.TransformationMode.SmoothTransformation)


def _prepare_strategy(bundle, key: str, rank: int, unfreeze_last: int, observer):
    from desktop_ft.core import peft

    bundle = peft.prepare_strategy(bundle, key, rank, observer)
    bundle.tree.apply_strategy(key, unfreeze_last)
    return bundle


def _with_classes(bundle, scan):
    return bundle.with_num_classes(scan.num_classes, list(scan.classes))


def _fine_tune(job_dict, observer, stop, bundle, scan):
    from desktop_ft.core.train import TrainJob, fine_tune

    return fine_tune(TrainJob.from_dict(job_dict), observer, stop, bundle=bundle, scan=scan)


def _predict(bundle, item, kind: str):
    from desktop_ft.core.data import load_image_rgb

    if kind == "images":
        try:
            x = load_image_rgb(item)
        except (OSError, ValueError) as e:
            raise UserError(f"Cannot read {item} as an image ({e}).") from None
        return bundle.predict_proba([x])[0].tolist()
    return bundle.predict_proba([item])[0].tolist()


def _export(bundle, out: str, classes, result, observer):
    from desktop_ft.core.export import export_model

    return export_model(bundle, out, classes, samples=result.parity_samples(),
                        info=result.export_info(), observer=observer)


def _sample_dataset() -> str:
    from desktop_ft.core.sample_data import make_sample_dataset

    return str(make_sample_dataset())


class MainWindow(QMainWindow):
    """The desktop_ft main window. Construct with no arguments once a QApplication exists."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.setWindowTitle("desktop_ft — transfer learning")
        self.setWindowIcon(QIcon(resource_path("icon.svg")))
        self.setAcceptDrops(True)
        self.settings = QSettings("desktop_ft", "desktop-ft")

        self.bundle = None            # core ModelBundle (used only from workers)
        self.scan = None              # core DataScan
        self.data_path: str | None = None
        self.result = None            # last TrainResult
        self.device = ""
        self.training = False
        self.last_export: dict | None = None
        self._workers: set[Worker] = set()
        self._busy = 0
        self._stop = threading.Event()
        self._load_stop = threading.Event()
        self._weights_file: str | None = None
        self._sample_mode = False
        self._train_after_load = False
        self._pending_tree_states: dict | None = None
        self._pending_peft: str | None = None
        self._export_dir: str | None = None
        self._train_t0 = 0.0
        self._done_before_phase = 0
        self._steps = 1
        self._epochs = 1

        self.observer = QtObserver(self)
        self.observer.status.connect(self._on_status)
        self.observer.progress.connect(self._on_download_progress)
        self.observer.trainBegan.connect(self._on_train_began)
        self.observer.batchEnded.connect(self._on_batch)
        self.observer.epochEnded.connect(self._on_epoch)

        self._build_ui()
        self._build_menus()
        self._restore_settings()
        self._update_enabled()
        # TensorFlow is imported in a worker after the window is shown.
        QTimer.singleShot(0, self._start_warm_up)

    # ================================================================= UI building
    def _build_ui(self) -> None:
        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(6, 6, 6, 6)
        self.banner = ErrorBanner()
        outer.addWidget(self.banner)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self._build_model_side())
        self.tabs = QTabWidget()
        self.tabs.setObjectName("mainTabs")
        self.tabs.addTab(self._build_data_panel(), "1 · Data")
        self.tabs.addTab(self._build_train_panel(), "2 · Train")
        self.tabs.addTab(self._build_try_panel(), "3 · Try it && export")
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([600, 700])   # room for every tree column, Trainable included
        outer.addWidget(splitter, 1)
        self.setCentralWidget(central)

        bar = self.statusBar()
        self.busy = QProgressBar()
        self.busy.setObjectName("busyIndicator")
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(120)
        self.busy.hide()
        self.device_label = QLabel("Starting TensorFlow…")
        self.device_label.setObjectName("deviceLabel")
        bar.addPermanentWidget(self.busy)
        bar.addPermanentWidget(self.device_label)
        self.resize(1280, 820)

    def _build_model_side(self) -> QWidget:
        side = QWidget()
        layout = QVBoxLayout(side)
        layout.setContentsMargins(0, 0, 0, 0)

        box = QGroupBox("Model")
        form = QFormLayout(box)
        self.model_picker = QComboBox()
        self.model_picker.setObjectName("modelPicker")
        self.model_picker.addItem("VGG16 — images", "vgg16")
        self.model_picker.addItem("BERT — text", "bert")
        self.model_picker.currentIndexChanged.connect(self._on_family_changed)
        form.addRow("Network", self.model_picker)

        self.weights_combo = QComboBox()
        self.weights_combo.setObjectName("weightsPicker")
        self.weights_combo.addItem("ImageNet (downloads once)", "imagenet")
        self.weights_combo.addItem("From file…", "file")
        self.weights_combo.addItem("None (random initialisation)", "none")
        self.weights_combo.activated.connect(self._on_weights_chosen)
        self.image_size = QSpinBox()
        self.image_size.setObjectName("imageSize")
        self.image_size.setRange(32, 512)
        self.image_size.setSingleStep(16)
        self.image_size.setValue(224)
        self.image_size.setSuffix(" px")
        self.head_combo = QComboBox()
        self.head_combo.setObjectName("headPicker")
        self.head_combo.addItem("New GAP head (any size)", "gap")
        self.head_combo.addItem("Keep fc1/fc2, replace output (224 px)", "original")
        self.head_combo.currentIndexChanged.connect(self._on_head_changed)
        self.preset_combo = QComboBox()
        self.preset_combo.setObjectName("presetPicker")
        self.preset_combo.setEditable(True)
        self.preset_combo.addItems(BERT_PRESETS)
        self.preset_browse = QPushButton("Folder…")
        self.preset_browse.clicked.connect(self._on_browse_preset)
        preset_row = QHBoxLayout()
        preset_row.addWidget(self.preset_combo, 1)
        preset_row.addWidget(self.preset_browse)
        self.seq_len = QSpinBox()
        self.seq_len.setObjectName("seqLen")
        self.seq_len.setRange(8, 512)
        self.seq_len.setValue(128)
        aug_row = QHBoxLayout()
        self.augment_boxes = {}
        for name in ("flip", "rotation", "zoom", "contrast"):
            check = QCheckBox(name)
            check.setObjectName(f"augment_{name}")
            check.setToolTip("Random during training only (inside the model); turns off the "
                             "feature cache.")
            aug_row.addWidget(check)
            self.augment_boxes[name] = check
        aug_row.addStretch(1)
        self.precision = QComboBox()
        self.precision.setObjectName("precisionPicker")
        for text, key in (("Auto (mixed on capable GPUs)", "auto"), ("float32", "float32"),
                          ("mixed bfloat16", "mixed_bfloat16"),
                          ("mixed float16 (GPU only)", "mixed_float16")):
            self.precision.addItem(text, key)
        self._vgg_rows = [("Weights", self.weights_combo), ("Image size", self.image_size),
                          ("Head", self.head_combo), ("Augmentation", aug_row)]
        self._bert_rows = [("Preset or folder", preset_row), ("Sequence length", self.seq_len)]
        for label, w in self._vgg_rows + self._bert_rows:
            form.addRow(label, w)
        form.addRow("Precision", self.precision)
        for signal in (self.model_picker.currentIndexChanged,
                       self.weights_combo.currentIndexChanged,
                       self.image_size.valueChanged, self.head_combo.currentIndexChanged,
                       self.preset_combo.currentTextChanged, self.seq_len.valueChanged,
                       self.precision.currentIndexChanged,
                       *(b.toggled for b in self.augment_boxes.values())):
            signal.connect(self._on_model_settings_changed)
        self.load_button = QPushButton("Load model")
        self.load_button.setObjectName("loadButton")
        self.load_button.clicked.connect(self.load_model)
        self.download_bar = QProgressBar()
        self.download_bar.setObjectName("downloadProgress")
        self.download_bar.hide()
        self.cancel_load = QPushButton("Cancel")
        self.cancel_load.setObjectName("cancelLoad")
        self.cancel_load.hide()
        self.cancel_load.clicked.connect(self._load_stop.set)
        row = QHBoxLayout()
        row.addWidget(self.load_button)
        row.addWidget(self.download_bar, 1)
        row.addWidget(self.cancel_load)
        form.addRow(row)
        layout.addWidget(box)

        tree_box = QGroupBox("Layers — tick to train, untick to freeze")
        tl = QVBoxLayout(tree_box)
        strat = QHBoxLayout()
        self.strategy_buttons = {}
        strat2 = QHBoxLayout()
        for key, text, row in (("head", "New head only", strat),
                               ("partial", "Last N blocks", strat),
                               ("full", "Everything", strat), ("bitfit", "BitFit", strat2),
                               ("lora", "LoRA", strat2), ("qlora", "int8 + LoRA", strat2),
                               ("two-phase", "Two-phase", strat2)):
            b = QPushButton(text)
            b.setObjectName(f"strategy_{key}")
            b.setToolTip(STRATEGY_HELP[key])
            b.clicked.connect(lambda checked=False, k=key: self.apply_strategy(k))
            row.addWidget(b)
            self.strategy_buttons[key] = b
        self.lora_rank = QSpinBox()
        self.lora_rank.setObjectName("loraRank")
        self.lora_rank.setRange(1, 256)
        self.lora_rank.setValue(4)
        self.lora_rank.setPrefix("rank ")
        self.lora_rank.setToolTip("Rank of the LoRA adapters")
        strat2.addWidget(self.lora_rank)
        self.unfreeze_last = QSpinBox()
        self.unfreeze_last.setObjectName("unfreezeLast")
        self.unfreeze_last.setRange(0, 24)
        self.unfreeze_last.setValue(1)
        self.unfreeze_last.setPrefix("N = ")
        self.unfreeze_last.setToolTip("How many of the last blocks (VGG16) or transformer "
                                      "layers (BERT) 'Last N blocks' unfreezes.")
        strat.addWidget(self.unfreeze_last)
        tl.addLayout(strat)
        tl.addLayout(strat2)
        self.strategy_help = QLabel("Pick a strategy, or tick layers yourself.")
        self.strategy_help.setObjectName("strategyHelp")
        self.strategy_help.setWordWrap(True)
        self.strategy_help.setStyleSheet("color: #444;")
        tl.addWidget(self.strategy_help)
        self.tree_model = QtLayerTreeModel(self)
        self.tree_model.totalsChanged.connect(self._on_totals)
        self.tree_view = LayerTreeView()
        self.tree_view.setModel(self.tree_model)
        tl.addWidget(self.tree_view, 1)
        self.summary = QLabel("Load a model to see its layers.")
        self.summary.setObjectName("trainableSummary")
        tl.addWidget(self.summary)
        layout.addWidget(tree_box, 1)
        self._on_family_changed()
        return side

    def _build_data_panel(self) -> QWidget:
        panel = QWidget()
        panel.setObjectName("dataPanel")
        layout = QVBoxLayout(panel)
        self.data_stack = QStackedWidget()
        welcome = QWidget()
        wl = QVBoxLayout(welcome)
        wl.addStretch(1)
        text = QLabel(
            "<h2>Welcome to desktop_ft</h2>"
            "<p>Teach a pretrained network <b>your</b> categories in three steps:</p>"
            "<ol><li><b>Drop a folder</b> here with one subfolder per class (cats/, dogs/ …)"
            " — or a CSV of texts and labels for BERT.</li>"
            "<li>Pick a model on the left and tick the layers that should train.</li>"
            "<li>Press <b>Train</b>, watch the curves, try the result and export it.</li></ol>"
            "<p>No data at hand? Use the built-in sample: coloured shapes in three classes.</p>")
        text.setObjectName("welcome")
        text.setWordWrap(True)
        wl.addWidget(text)
        buttons = QHBoxLayout()
        self.sample_button = QPushButton("Use the sample dataset")
        self.sample_button.setObjectName("sampleButton")
        self.sample_button.clicked.connect(self.use_sample_dataset)
        open_button = QPushButton("Open folder…")
        open_button.clicked.connect(self._on_open_data)
        open_csv = QPushButton("Open CSV…")
        open_csv.clicked.connect(self._on_open_csv)
        for b in (self.sample_button, open_button, open_csv):
            buttons.addWidget(b)
        buttons.addStretch(1)
        wl.addLayout(buttons)
        wl.addStretch(2)
        self.data_stack.addWidget(welcome)

        details = QWidget()
        dl = QVBoxLayout(details)
        self.data_title = QLabel()
        self.data_title.setWordWrap(True)
        dl.addWidget(self.data_title)
        self.class_table = QTableWidget(0, 3)
        self.class_table.setObjectName("classTable")
        self.class_table.setHorizontalHeaderLabels(["Class", "Examples", "Samples"])
        self.class_table.horizontalHeader().setSectionResizeMode(
            2, QHeaderView.ResizeMode.Stretch)
        self.class_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.class_table.verticalHeader().setDefaultSectionSize(54)
        dl.addWidget(self.class_table, 3)
        self.warnings_label = QLabel()
        self.warnings_label.setObjectName("dataWarnings")
        self.warnings_label.setWordWrap(True)
        self.warnings_label.setStyleSheet("color: #8a5a00;")
        dl.addWidget(self.warnings_label)
        dl.addWidget(QLabel("Skipped files:"))
        self.skipped_list = QListWidget()
        self.skipped_list.setObjectName("skippedList")
        dl.addWidget(self.skipped_list, 1)
        row = QHBoxLayout()
        row.addWidget(QLabel("Validation split"))
        self.val_split = QDoubleSpinBox()
        self.val_split.setObjectName("valSplit")
        self.val_split.setRange(0.0, 0.5)
        self.val_split.setSingleStep(0.05)
        self.val_split.setValue(0.2)
        row.addWidget(self.val_split)
        row.addStretch(1)
        other = QPushButton("Open other data…")
        other.clicked.connect(self._on_open_data)
        row.addWidget(other)
        dl.addLayout(row)
        self.data_stack.addWidget(details)
        layout.addWidget(self.data_stack)
        return panel

    def _build_train_panel(self) -> QWidget:
        panel = QWidget()
        layout = QVBoxLayout(panel)
        controls = QHBoxLayout()
        self.epochs = QSpinBox()
        self.epochs.setObjectName("epochs")
        self.epochs.setRange(1, 1000)
        self.epochs.setValue(10)
        self.batch_size = QSpinBox()
        self.batch_size.setObjectName("batchSize")
        self.batch_size.setRange(1, 1024)
        self.batch_size.setValue(32)
        self.lr = QLineEdit()
        self.lr.setObjectName("learningRate")
        self.lr.setPlaceholderText("auto")
        self.lr.setToolTip("Empty: Adam 1e-3 for a new head, 1e-4 to fine-tune VGG16; AdamW "
                           "5e-5 for BERT")
        self.lr.setFixedWidth(90)
        self.early = QSpinBox()
        self.early.setObjectName("earlyStopping")
        self.early.setRange(0, 100)
        self.early.setSpecialValueText("off")
        for label, w in (("Epochs", self.epochs), ("Batch", self.batch_size),
                         ("Learning rate", self.lr), ("Early stopping", self.early)):
            controls.addWidget(QLabel(label))
            controls.addWidget(w)
        self.two_phase = QCheckBox("Two-phase")
        self.two_phase.setObjectName("twoPhase")
        self.two_phase.setToolTip(STRATEGY_HELP["two-phase"])
        self.phase1_epochs = QSpinBox()
        self.phase1_epochs.setObjectName("phase1Epochs")
        self.phase1_epochs.setRange(0, 999)
        self.phase1_epochs.setSpecialValueText("auto")
        self.phase1_epochs.setPrefix("phase 1: ")
        self.phase1_epochs.setToolTip("Epochs of phase 1 (head only); auto: until the "
                                      "validation loss stops improving")
        options = QHBoxLayout()
        options.addWidget(self.two_phase)
        options.addWidget(self.phase1_epochs)
        self.feature_cache = QCheckBox("Feature cache")
        self.feature_cache.setObjectName("featureCache")
        self.feature_cache.setChecked(True)
        self.feature_cache.setToolTip("Compute the frozen first layers' output once and train "
                                      "only the rest on it (VGG16; much faster)")
        self.jit = QCheckBox("XLA")
        self.jit.setObjectName("jitCompile")
        self.jit.setToolTip("Compile the training step with XLA")
        options.addWidget(self.feature_cache)
        options.addWidget(self.jit)
        options.addStretch(1)
        controls.addStretch(1)
        self.train_button = QPushButton("Train")
        self.train_button.setObjectName("trainButton")
        self.train_button.clicked.connect(self.train)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("stopButton")
        self.stop_button.clicked.connect(self.stop)
        controls.addWidget(self.train_button)
        controls.addWidget(self.stop_button)
        layout.addLayout(controls)
        layout.addLayout(options)
        prog = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setObjectName("progressBar")
        self.progress.setRange(0, 100)
        self.progress_label = QLabel("Not trained yet.")
        self.progress_label.setObjectName("progressLabel")
        # The label's size must not follow its text: a re-layout on every batch would
        # repaint the plots too.
        self.progress_label.setSizePolicy(QSizePolicy.Policy.Ignored,
                                          QSizePolicy.Policy.Fixed)
        prog.addWidget(self.progress, 1)
        layout.addLayout(prog)
        layout.addWidget(self.progress_label)
        self.plots = TrainingPlots()
        self.loss_plot, self.accuracy_plot = self.plots.loss_plot, self.plots.acc_plot
        results = QHBoxLayout()
        self.per_class = QTableWidget(0, 2)
        self.per_class.setObjectName("perClassAccuracy")
        self.per_class.setHorizontalHeaderLabels(["Class", "Val accuracy"])
        self.per_class.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.Stretch)
        self.per_class.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.per_class.setMaximumWidth(260)
        self.confusion = ConfusionMatrixView()
        results.addWidget(self.per_class)
        results.addWidget(self.confusion, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.plots)
        res_widget = QWidget()
        res_widget.setLayout(results)
        split.addWidget(res_widget)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        layout.addWidget(split, 1)
        return panel

    def _build_try_panel(self) -> QWidget:
        panel = QWidget()
        layout = QVBoxLayout(panel)
        box = QGroupBox("Try it")
        box.setObjectName("tryItPanel")
        self.try_panel = box
        tl = QHBoxLayout(box)
        left = QVBoxLayout()
        self.try_image = ImageDropLabel("Drop an image here")
        self.try_image.setObjectName("tryImage")
        self.try_image.fileDropped.connect(self.try_image_file)
        self.try_choose = QPushButton("Choose image…")
        self.try_choose.clicked.connect(self._on_choose_try_image)
        left.addWidget(self.try_image)
        left.addWidget(self.try_choose)
        self.try_text = QLineEdit()
        self.try_text.setObjectName("tryText")
        self.try_text.setPlaceholderText("Type a sentence and press Enter")
        self.try_text.returnPressed.connect(lambda: self.try_sentence(self.try_text.text()))
        left.addWidget(self.try_text)
        tl.addLayout(left)
        right = QVBoxLayout()
        self.try_result = QLabel("Train a model, then drop an image or type a sentence.")
        self.try_result.setObjectName("tryResult")
        self.bars = ProbabilityBars()
        self.bars.setObjectName("probabilityBars")
        right.addWidget(self.try_result)
        right.addWidget(self.bars)
        right.addStretch(1)
        tl.addLayout(right, 1)
        layout.addWidget(box, 1)

        ebox = QGroupBox("Export")
        el = QVBoxLayout(ebox)
        el.addWidget(QLabel("Writes a TensorFlow SavedModel that takes raw images (any size) "
                            "or raw strings, plus model.keras, labels.json and export.json."))
        row = QHBoxLayout()
        self.export_button = QPushButton("Export…")
        self.export_button.setObjectName("exportButton")
        self.export_button.clicked.connect(self._on_export_clicked)
        self.open_export = QPushButton("Open folder")
        self.open_export.setObjectName("openExportFolder")
        self.open_export.setEnabled(False)
        self.open_export.clicked.connect(self._on_open_export_folder)
        row.addWidget(self.export_button)
        row.addWidget(self.open_export)
        row.addStretch(1)
        el.addLayout(row)
        self.export_label = QLabel("")
        self.export_label.setObjectName("exportResult")
        self.export_label.setWordWrap(True)
        self.export_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        el.addWidget(self.export_label)
        layout.addWidget(ebox)
        return panel

    def _build_menus(self) -> None:
        def action(menu, text, slot, shortcut=None, name=None):
            a = QAction(text, self)
            if shortcut:
                a.setShortcut(QKeySequence(shortcut))
            if name:
                a.setObjectName(name)
            a.triggered.connect(slot)
            menu.addAction(a)
            return a

        file_menu = self.menuBar().addMenu("&File")
        action(file_menu, "Open data folder…", self._on_open_data, QKeySequence.StandardKey.Open,
               "actionOpenData")
        action(file_menu, "Open CSV/TSV…", self._on_open_csv)
        self.recent_menu = file_menu.addMenu("Recent data")
        action(file_menu, "Use the sample dataset", self.use_sample_dataset)
        file_menu.addSeparator()
        action(file_menu, "Open project…", self._on_open_project, "Ctrl+Shift+O")
        action(file_menu, "Save project…", self._on_save_project, QKeySequence.StandardKey.Save)
        file_menu.addSeparator()
        self.export_action = action(file_menu, "Export…", self._on_export_clicked, "Ctrl+E",
                                    "actionExport")
        file_menu.addSeparator()
        action(file_menu, "Quit", self.close, QKeySequence.StandardKey.Quit)
        train_menu = self.menuBar().addMenu("&Train")
        self.train_action = action(train_menu, "Train", self.train, "Ctrl+T", "actionTrain")
        self.stop_action = action(train_menu, "Stop", self.stop, "Ctrl+.", "actionStop")
        view = self.menuBar().addMenu("&View")
        action(view, "Expand all layers", self.tree_view.expandAll)
        action(view, "Collapse all layers", self.tree_view.collapseAll)
        help_menu = self.menuBar().addMenu("&Help")
        action(help_menu, "About desktop_ft", self._on_about)

    # ================================================================= settings
    def _restore_settings(self) -> None:
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        self._refresh_recent()

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        recent = self.settings.value("data/recent", []) or []
        if isinstance(recent, str):
            recent = [recent]
        for path in recent[:8]:
            a = self.recent_menu.addAction(path)
            a.triggered.connect(lambda checked=False, p=path: self.open_data(p))
        self.recent_menu.setEnabled(bool(recent))

    def _remember_data(self, path: str) -> None:
        recent = self.settings.value("data/recent", []) or []
        if isinstance(recent, str):
            recent = [recent]
        recent = [path] + [p for p in recent if p != path]
        self.settings.setValue("data/recent", recent[:8])
        self.settings.setValue("data/last_dir", str(Path(path).parent))
        self._refresh_recent()

    # ================================================================= workers
    def _run(self, name: str, fn, *args, on_done=None, on_error=None, busy=True, **kwargs):
        worker = Worker(name, fn, *args, parent=self, **kwargs)
        if on_done is not None:
            worker.returned.connect(on_done)
        worker.errored.connect(on_error or self.show_error)
        worker.finished.connect(self._on_worker_finished)
        self._workers.add(worker)
        if busy:
            self._busy += 1
            worker.setProperty("busy", True)
        self.busy.setVisible(self._busy > 0)
        worker.start()
        return worker

    @Slot()
    def _on_worker_finished(self) -> None:
        worker = self.sender()
        if worker in self._workers:
            self._workers.discard(worker)
            if worker.property("busy"):
                self._busy -= 1
            worker.deleteLater()
        self.busy.setVisible(self._busy > 0)
        self._update_enabled()

    def wait_for_workers(self, timeout_s: float = 10.0) -> bool:
        """Process events until every worker finished (or the timeout). True if all did."""
        deadline = time.monotonic() + timeout_s
        while self._workers and time.monotonic() < deadline:
            QApplication.processEvents()
            for w in list(self._workers):
                w.wait(20)
        QApplication.processEvents()
        return not self._workers

    @property
    def busy_workers(self) -> int:
        return len(self._workers)

    @Slot(str)
    def show_error(self, message: str) -> None:
        self.banner.show_message(message)
        self.statusBar().showMessage(message.split("\n")[0][:200], 10000)

    @Slot(str)
    def _on_status(self, message: str) -> None:
        self.statusBar().showMessage(message, 8000)

    # ================================================================= start-up
    def _start_warm_up(self) -> None:
        self._run("warm-up", _warm_up, on_done=self._on_device)

    @Slot(object)
    def _on_device(self, description: str) -> None:
        self.device = description
        self.device_label.setText(f"Compute: {description}")

    # ================================================================= model
    @Slot()
    def _on_family_changed(self, *_) -> None:
        vgg = self.model_picker.currentData() == "vgg16"
        form = self.weights_combo.parentWidget().layout()
        for label, w in self._vgg_rows:
            form.setRowVisible(w, vgg)
        for label, w in self._bert_rows:
            form.setRowVisible(w, not vgg)
        self.strategy_buttons["partial"].setText("Last N blocks" if vgg else "Last N layers")

    @Slot(int)
    def _on_weights_chosen(self, index: int) -> None:
        if self.weights_combo.itemData(index) == "file":
            start = self.settings.value("weights/last_dir", str(Path.home()))
            path, _ = QFileDialog.getOpenFileName(self, "VGG16 weights file", start,
                                                  "Keras weights (*.h5 *.weights.h5)")
            if path:
                self.set_weights_file(path)
            else:
                self.weights_combo.setCurrentIndex(2)

    def set_weights_file(self, path: str) -> None:
        self._weights_file = path
        self.settings.setValue("weights/last_dir", str(Path(path).parent))
        self.weights_combo.setItemText(1, f"File: {Path(path).name}")
        self.weights_combo.setCurrentIndex(1)

    @Slot(int)
    def _on_head_changed(self, *_) -> None:
        if self.head_combo.currentData() == "original":
            self.image_size.setValue(224)
        self.image_size.setEnabled(self.head_combo.currentData() != "original")

    @Slot()
    def _on_browse_preset(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "keras-hub preset or Hugging Face BERT "
                                                "folder", str(Path.home()))
        if path:
            self.preset_combo.setCurrentText(path)

    def model_spec(self) -> dict:
        family = self.model_picker.currentData()
        weights = self.weights_combo.currentData()
        if weights == "file":
            weights = self._weights_file or "none"
        num_classes = 2
        if self.scan is not None and self.scan.kind == ("images" if family == "vgg16"
                                                         else "text"):
            num_classes = self.scan.num_classes
        augment = [n for n, box in self.augment_boxes.items() if box.isChecked()] \
            if family == "vgg16" else []
        return {"family": family, "weights": weights, "image_size": self.image_size.value(),
                "head": self.head_combo.currentData(),
                "preset": self.preset_combo.currentText().strip() or None,
                "seq_len": self.seq_len.value(), "num_classes": num_classes,
                "augment": augment, "precision": self.precision.currentData()}

    @Slot()
    def load_model(self) -> None:
        if self.training:
            self.show_error("Training is running; stop it before loading another model.")
            return
        try:
            from desktop_ft.core.models.registry import ModelSpec

            spec = ModelSpec.from_dict(self.model_spec()).to_dict()
        except UserError as e:
            self.show_error(str(e))
            return
        self.banner.hide_error()
        self._load_stop.clear()
        self.download_bar.setRange(0, 0)
        self.download_bar.show()
        self.cancel_load.show()
        self.load_button.setEnabled(False)
        self.tree_model.set_tree(None)
        self.bundle = None
        self.summary.setText("Loading…")
        self._run("load-model", _load_model, spec, self.observer, self._load_stop,
                  self._sample_mode, on_done=self._on_model_loaded, on_error=self._on_load_error)

    @Slot(float, float, str)
    def _on_download_progress(self, done: float, total: float, what: str) -> None:
        if total > 0:
            self.download_bar.setRange(0, 1000)
            self.download_bar.setValue(int(1000 * done / total))
            self.download_bar.setFormat(f"{what} %p%")

    def _end_loading(self) -> None:
        self.download_bar.hide()
        self.cancel_load.hide()
        self.load_button.setEnabled(True)

    @Slot(str)
    def _on_load_error(self, message: str) -> None:
        self._end_loading()
        self._train_after_load = False
        self.summary.setText("No model loaded.")
        self.show_error(message)

    @Slot(object)
    def _on_model_loaded(self, loaded) -> None:
        bundle, note = loaded
        self._end_loading()
        if note:
            self.weights_combo.setCurrentIndex(2)
            self.banner.show_message(note, note=True)
        self._set_bundle(bundle)
        if self._pending_peft:
            key, self._pending_peft = self._pending_peft, None
            self._run("strategy", _prepare_strategy, bundle, key, self.lora_rank.value(),
                      self.unfreeze_last.value(), self.observer,
                      on_done=self._on_model_loaded_after_peft)
            return
        if self._pending_tree_states:
            bundle.tree.set_states(self._pending_tree_states)
            self._pending_tree_states = None
        self.statusBar().showMessage(f"Loaded {bundle.family.upper()} — weights: "
                                     f"{bundle.weights_source}", 8000)
        if self._train_after_load:
            self._train_after_load = False
            self.train()

    @Slot(object)
    def _on_model_loaded_after_peft(self, bundle) -> None:
        self._on_model_loaded((bundle, ""))

    def _set_bundle(self, bundle) -> None:
        self.bundle = bundle
        self._on_model_settings_changed()
        self.tree_model.set_tree(bundle.tree)
        self.tree_view.expandToDepth(0)
        images = bundle.family == "vgg16"
        self.try_image.setVisible(images)
        self.try_choose.setVisible(images)
        self.try_text.setVisible(not images)
        self._update_enabled()

    SPEC_KEYS = ("family", "weights", "image_size", "head", "preset", "seq_len", "augment",
                 "precision")

    def model_settings_changed(self) -> bool:
        """True when the model panel no longer describes the loaded model."""
        if self.bundle is None:
            return False
        wanted, loaded = self.model_spec(), self.bundle.spec.to_dict()
        keys = [k for k in self.SPEC_KEYS if k not in (
            ("preset", "seq_len") if wanted["family"] == "vgg16" else
            ("weights", "image_size", "head", "augment"))]
        if wanted["family"] == "vgg16" and self.weights_combo.currentData() == "none" \
                and loaded["weights"] == "none":
            keys.remove("weights")
        return any(wanted[k] != loaded[k] for k in keys)

    @Slot()
    def _on_model_settings_changed(self, *_) -> None:
        changed = self.model_settings_changed()
        self.load_button.setText("Load model — settings changed" if changed else "Load model")
        self.load_button.setToolTip("Training uses the loaded model; press to load it with "
                                    "the settings above." if changed else "")
        font = self.load_button.font()
        font.setBold(changed)
        self.load_button.setFont(font)

    @Slot(int, int)
    def _on_totals(self, trainable: int, frozen: int) -> None:
        total = trainable + frozen
        pct = 100.0 * trainable / total if total else 0.0
        self.summary.setText(f"Trainable: {trainable:,} of {total:,} parameters ({pct:.2f}%)")

    def apply_strategy(self, key: str) -> None:
        """Set the tree to a strategy. LoRA/int8 change the model (in a worker); switching
        away from them reloads it."""
        if self.bundle is None:
            self.show_error("Load a model first (left, 'Load model').")
            return
        if self.training:
            return
        from desktop_ft.core import peft

        if key in ("lora", "qlora") and self.bundle.family != "bert":
            self.show_error(peft.VGG16_NO_LORA)
            return
        self.two_phase.setChecked(key == "two-phase")
        self.strategy_help.setText(f"<b>{self.strategy_buttons[key].text()}</b>: "
                                   f"{STRATEGY_HELP[key]}")
        state = peft.peft_state(self.bundle)
        rank = self.lora_rank.value()
        one_way = key in ("lora", "qlora") or state["lora_rank"] is not None or \
            state["quantized"]
        if not one_way:
            try:
                self.bundle.tree.apply_strategy(key, self.unfreeze_last.value())
            except UserError as e:
                self.show_error(str(e))
            return
        self.summary.setText("Preparing the model…")
        self._run("strategy", _prepare_strategy, self.bundle, key, rank,
                  self.unfreeze_last.value(), self.observer, on_done=self._on_strategy_ready)

    @Slot(object)
    def _on_strategy_ready(self, bundle) -> None:
        self._set_bundle(bundle)
        self.tree_model._emit_totals()

    # ================================================================= data
    @Slot()
    def _on_open_data(self) -> None:
        start = self.settings.value("data/last_dir", str(Path.home()))
        path = QFileDialog.getExistingDirectory(self, "Data folder (one subfolder per class)",
                                                start)
        if path:
            self.open_data(path)

    @Slot()
    def _on_open_csv(self) -> None:
        start = self.settings.value("data/last_dir", str(Path.home()))
        path, _ = QFileDialog.getOpenFileName(self, "Texts and labels", start,
                                              "Tables (*.csv *.tsv)")
        if path:
            self.open_data(path)

    def open_data(self, path: str) -> None:
        """Scan ``path`` in a worker and show what it holds."""
        if self.training:
            self.show_error("Training is running; stop it before changing the data.")
            return
        self.banner.hide_error()
        self.statusBar().showMessage(f"Scanning {path}…")
        self._run("scan", _scan_data, path, None, self.val_split.value(),
                  on_done=self._on_scanned)

    @Slot()
    def use_sample_dataset(self) -> None:
        self._sample_mode = True
        if self.bundle is None:
            self.model_picker.setCurrentIndex(0)
            self.image_size.setValue(64)
            self.head_combo.setCurrentIndex(0)
            self.epochs.setValue(5)
        self._run("sample-data", _sample_dataset, on_done=self._on_sample_ready)

    @Slot(object)
    def _on_sample_ready(self, path: str) -> None:
        self.open_data(path)

    @Slot(object)
    def _on_scanned(self, scanned) -> None:
        scan, thumbs = scanned
        self.scan = scan
        # Only the built-in sample may fall back to weights=none when ImageNet is offline;
        # a user's own data gets the error and the choice.
        from desktop_ft.core.sample_data import default_location

        self._sample_mode = Path(scan.root).resolve() == default_location().resolve()
        self.data_path = scan.root
        self._remember_data(scan.root)
        self._show_scan(scan, thumbs)
        want = "vgg16" if scan.kind == "images" else "bert"
        if self.bundle is None:
            if self.model_picker.currentData() != want:
                self.model_picker.setCurrentIndex(0 if want == "vgg16" else 1)
        elif self.bundle.family != want:
            self.show_error(f"This data holds {scan.kind}, but the loaded model is "
                            f"{self.bundle.family.upper()}. Choose "
                            f"{'VGG16' if want == 'vgg16' else 'BERT'} and load it to train.")
        elif self.bundle.num_classes != scan.num_classes or \
                self.bundle.classes != scan.classes:
            self._run("new-head", _with_classes, self.bundle, scan,
                      on_done=self._on_head_rebuilt)
        self.statusBar().showMessage(f"{scan.kind.capitalize()}: {len(scan.classes)} classes, "
                                     f"{sum(scan.counts().values())} examples, "
                                     f"{len(scan.skipped)} skipped.", 8000)
        self._update_enabled()

    @Slot(object)
    def _on_head_rebuilt(self, bundle) -> None:
        self._set_bundle(bundle)

    def _show_scan(self, scan, thumbs) -> None:
        self.data_stack.setCurrentIndex(1)
        self.data_title.setText(f"<b>{scan.root}</b> — {scan.kind}, {scan.layout}")
        counts = scan.counts()
        self.class_table.setRowCount(len(scan.classes))
        for row, name in enumerate(scan.classes):
            self.class_table.setItem(row, 0, QTableWidgetItem(name))
            count = QTableWidgetItem(str(counts[name]))
            count.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.class_table.setItem(row, 1, count)
            if scan.kind == "images":
                strip = QWidget()
                sl = QHBoxLayout(strip)
                sl.setContentsMargins(2, 2, 2, 2)
                for img in thumbs.get(name, []):
                    lbl = QLabel()
                    if not img.isNull():
                        lbl.setPixmap(QPixmap.fromImage(img))
                    sl.addWidget(lbl)
                sl.addStretch(1)
                self.class_table.setCellWidget(row, 2, strip)
            else:
                self.class_table.removeCellWidget(row, 2)
                self.class_table.setItem(row, 2, QTableWidgetItem(
                    " · ".join(thumbs.get(name, []))))
        self.skipped_list.clear()
        for path, reason in scan.skipped:
            self.skipped_list.addItem(f"{path} — {reason}")
        if not scan.skipped:
            self.skipped_list.addItem("(none)")
        self.warnings_label.setText("\n".join(f"⚠ {w}" for w in scan.warnings))
        if scan.val is not None:
            self.val_split.setEnabled(False)
            self.val_split.setToolTip("This data has its own validation folder.")
        else:
            self.val_split.setEnabled(True)
            self.val_split.setToolTip("")

    # ================================================================= drag and drop
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if not paths:
            return
        event.acceptProposedAction()
        self.handle_dropped_path(paths[0])

    def handle_dropped_path(self, path: str) -> None:
        p = Path(path)
        if p.is_dir() or p.suffix.lower() in DATA_SUFFIXES:
            self.open_data(str(p))
            self.tabs.setCurrentIndex(0)
        elif p.suffix.lower() in IMAGE_SUFFIXES and p.is_file():
            self.tabs.setCurrentIndex(2)
            self.try_image_file(str(p))
        else:
            self.show_error(f"{p.name} is not a dataset. Drop a folder with one subfolder per "
                            "class (images or .txt files), a .csv/.tsv file of texts and "
                            "labels, or an image to try the trained model on.")

    # ================================================================= training
    def job_dict(self) -> dict:
        text = self.lr.text().strip()
        lr = None
        if text:
            try:
                lr = float(text)
            except ValueError:
                raise UserError(f"Learning rate '{text}' is not a number (e.g. 0.001), or "
                                "leave it empty for the default.") from None
        return {"model": self.model_spec(), "data": self.data_path or "",
                "val_split": self.val_split.value(), "strategy": None,
                "epochs": self.epochs.value(), "batch_size": self.batch_size.value(),
                "lr": lr, "early_stopping": self.early.value(), "seed": 0,
                "two_phase": self.two_phase.isChecked(),
                "feature_cache": self.feature_cache.isChecked(),
                "jit_compile": self.jit.isChecked(),
                "phase1_epochs": self.phase1_epochs.value(),
                "lora_rank": self.lora_rank.value()}

    @Slot()
    def train(self) -> None:
        if self.training:
            return
        if self.scan is None:
            self.show_error("Drop a data folder on the window (or use the sample dataset) "
                            "before training.")
            self.tabs.setCurrentIndex(0)
            return
        if self.bundle is None:
            self._train_after_load = True
            self.load_model()
            return
        try:
            from desktop_ft.core.train import TrainJob

            job = TrainJob.from_dict(self.job_dict())
        except UserError as e:
            self.show_error(str(e))
            return
        job_d = job.to_dict()
        job_d["model"] = {**job_d["model"], **self.bundle.spec.to_dict(),
                          "num_classes": self.scan.num_classes}
        self.banner.hide_error()
        self.training = True
        self._stop.clear()
        self.tree_model.set_read_only(True)
        self.plots.reset()
        self.progress.setValue(0)
        self.progress_label.setText("Preparing…")
        self.per_class.setRowCount(0)
        self.confusion.clear()
        self.tabs.setCurrentIndex(1)
        self._update_enabled()
        self._run("train", _fine_tune, job_d, self.observer, self._stop, self.bundle, self.scan,
                  on_done=self._on_trained, on_error=self._on_train_error, busy=False)

    @Slot()
    def stop(self) -> None:
        if self.training:
            self._stop.set()
            self.progress_label.setText("Stopping after this batch…")
            self.stop_button.setEnabled(False)

    @Slot(object)
    def _on_train_began(self, info: dict) -> None:
        self._steps = max(int(info["steps_per_epoch"]), 1)
        self._epochs = int(info["epochs"])
        if info.get("phase", 1) == 1:
            self._train_t0 = time.perf_counter()
            self._done_before_phase = 0
            self.plots.reset(self._steps, self._epochs)
        else:
            self._done_before_phase = info["first_epoch"] * self._steps
            self._train_t0 = time.perf_counter()
            self.plots.mark_phase(info["first_epoch"],
                                  f"phase {info['phase']} (lr {info['learning_rate']:g})")

    @Slot(int, int, object)
    def _on_batch(self, epoch: int, batch: int, logs: dict) -> None:
        if "loss" in logs:
            self.plots.add_batch(epoch, batch, logs["loss"])
        done = epoch * self._steps + batch + 1
        total = self._epochs * self._steps
        pct = int(100 * done / total)
        if pct != self.progress.value():
            self.progress.setValue(pct)
        elapsed = time.perf_counter() - self._train_t0
        in_phase = max(done - self._done_before_phase, 1)
        eta = elapsed / in_phase * (total - done)
        self.progress_label.setText(f"Epoch {epoch + 1}/{self._epochs} · batch {batch + 1}/"
                                    f"{self._steps} · loss {logs.get('loss', 0):.4f} · "
                                    f"ETA {_fmt_seconds(eta)}")

    @Slot(int, object)
    def _on_epoch(self, epoch: int, logs: dict) -> None:
        self.plots.add_epoch(epoch, logs)

    def _end_training(self) -> None:
        self.training = False
        self.tree_model.set_read_only(False)
        self.plots.flush()
        self._update_enabled()

    @Slot(object)
    def _on_trained(self, result) -> None:
        self.result = result
        if result.bundle is not self.bundle:
            self._set_bundle(result.bundle)
        self._end_training()
        if result.stop_reason != "stopped by user":
            self.progress.setValue(100)
        last = {k: v[-1] for k, v in result.history.items() if v}
        metrics = "  ".join(f"{k} {v:.4f}" for k, v in last.items())
        self.progress_label.setText(f"{result.stop_reason.capitalize()} after "
                                    f"{result.epochs_run} epoch(s). {metrics}")
        ev = result.evaluation
        if ev:
            self.per_class.setRowCount(len(ev["classes"]))
            for row, name in enumerate(ev["classes"]):
                acc = ev["per_class_accuracy"][name]
                self.per_class.setItem(row, 0, QTableWidgetItem(name))
                self.per_class.setItem(row, 1, QTableWidgetItem(
                    "n/a" if acc is None else f"{acc:.1%}"))
            self.confusion.set_matrix(ev["confusion_matrix"], ev["classes"])
        self.try_result.setText("Drop an image or type a sentence to try the model.")
        self.statusBar().showMessage(f"Training {result.stop_reason} — "
                                     f"{result.epochs_run} epoch(s).", 10000)

    @Slot(str)
    def _on_train_error(self, message: str) -> None:
        self._end_training()
        self.progress_label.setText("Training failed.")
        self.show_error(message)

    # ================================================================= try it
    @Slot()
    def _on_choose_try_image(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Image to classify", str(Path.home()),
                                              "Images (*.png *.jpg *.jpeg *.bmp *.gif *.webp)")
        if path:
            self.try_image_file(path)

    @Slot(str)
    def try_image_file(self, path: str) -> None:
        if not self._can_try("images"):
            return
        pix = QPixmap(path)
        if not pix.isNull():
            self.try_image.setPixmap(pix.scaled(200, 200, Qt.AspectRatioMode.KeepAspectRatio,
                                                Qt.TransformationMode.SmoothTransformation))
        self._run("predict", _predict, self.bundle, path, "images", on_done=self._on_predicted)

    def try_sentence(self, text: str) -> None:
        if not text.strip() or not self._can_try("text"):
            return
        self._run("predict", _predict, self.bundle, text, "text", on_done=self._on_predicted)

    def _can_try(self, kind: str) -> bool:
        if self.bundle is None or self.result is None:
            self.show_error("Train a model first; then try it here.")
            return False
        if self.training:
            self.show_error("Training is running; try the model when it has finished.")
            return False
        have = "images" if self.bundle.family == "vgg16" else "text"
        if have != kind:
            self.show_error(f"The model takes {have}, not {kind}.")
            return False
        return True

    @Slot(object)
    def _on_predicted(self, probs) -> None:
        labels = self.bundle.classes or [str(i) for i in range(len(probs))]
        self.bars.set_probabilities(labels, probs)
        best = max(range(len(probs)), key=lambda i: probs[i])
        self.try_result.setText(f"<b>{labels[best]}</b> ({probs[best]:.1%})")

    # ================================================================= export
    @Slot()
    def _on_export_clicked(self) -> None:
        if not self._can_export():
            return
        start = self.settings.value("export/last_dir", str(Path.home()))
        path, _ = QFileDialog.getSaveFileName(self, "Export to folder", str(Path(start) /
                                              "my_model"), "Export folder (*)")
        if path:
            self.export_to(path)

    def _can_export(self) -> bool:
        if self.training:
            self.show_error("Training is running; export when it has finished (or press "
                            "Stop).")
            return False
        if self.bundle is None or self.result is None:
            self.show_error("Train a model before exporting it.")
            return False
        return True

    def export_to(self, path: str) -> None:
        if not self._can_export():
            return
        self.settings.setValue("export/last_dir", str(Path(path).parent))
        self.export_label.setText(f"Exporting to {path}…")
        self.export_button.setEnabled(False)
        self._run("export", _export, self.bundle, path, self.bundle.classes, self.result,
                  self.observer, on_done=self._on_exported, on_error=self._on_export_error)

    @Slot(object)
    def _on_exported(self, record: dict) -> None:
        self.last_export = record
        out = record["path"]
        self._export_dir = out
        self.export_label.setText(
            f"Exported to <b>{out}</b><br>SavedModel parity with the app: max |Δ| = "
            f"{record['parity_max_abs_diff']:.2e} on {record['parity_samples']} inputs. "
            f"SavedModel {record['saved_model_bytes'] / 1e6:.1f} MB.")
        self.open_export.setEnabled(True)
        self._update_enabled()

    @Slot(str)
    def _on_export_error(self, message: str) -> None:
        self.export_label.setText("Export failed; any previous export is unchanged.")
        self.show_error(message)

    @Slot()
    def _on_open_export_folder(self) -> None:
        if self._export_dir:
            QDesktopServices.openUrl(QUrl.fromLocalFile(self._export_dir))

    # ================================================================= projects
    def project_dict(self) -> tuple[dict, dict | None]:
        job = self.job_dict()
        states = None
        if self.bundle is not None:
            from desktop_ft.core.peft import peft_state

            states = self.bundle.tree.states()
            state = peft_state(self.bundle)
            if state["lora_rank"] is not None:
                job["peft_strategy"] = "qlora" if state["quantized"] else "lora"
                job["lora_rank"] = state["lora_rank"]
        return job, states

    @Slot()
    def _on_save_project(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save project", str(Path.home() /
                                              "project.dftproj.json"), "Projects (*.json)")
        if path:
            self.save_project(path)

    def save_project(self, path: str) -> None:
        from desktop_ft.core.project import save_project

        try:
            job, states = self.project_dict()
            save_project(path, job, states)
        except (UserError, OSError) as e:
            self.show_error(f"Could not save the project: {e}")
            return
        self.statusBar().showMessage(f"Project saved to {path}", 6000)

    @Slot()
    def _on_open_project(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open project", str(Path.home()),
                                              "Projects (*.json)")
        if path:
            self.open_project(path)

    def open_project(self, path: str) -> None:
        from desktop_ft.core.project import load_project

        try:
            project = load_project(path)
        except UserError as e:
            self.show_error(str(e))
            return
        job = project["job"]
        model = job.get("model", {})
        self.model_picker.setCurrentIndex(0 if model.get("family", "vgg16") == "vgg16" else 1)
        weights = model.get("weights", "imagenet")
        if weights in ("imagenet", "none"):
            self.weights_combo.setCurrentIndex(0 if weights == "imagenet" else 2)
        else:
            self.set_weights_file(weights)
        self.image_size.setValue(int(model.get("image_size", 224)))
        self.head_combo.setCurrentIndex(0 if model.get("head", "gap") == "gap" else 1)
        for name, box in self.augment_boxes.items():
            box.setChecked(name in (model.get("augment") or []))
        index = self.precision.findData(model.get("precision", "auto"))
        self.precision.setCurrentIndex(max(index, 0))
        self.feature_cache.setChecked(bool(job.get("feature_cache", True)))
        self.jit.setChecked(bool(job.get("jit_compile", False)))
        if model.get("preset"):
            self.preset_combo.setCurrentText(model["preset"])
        self.seq_len.setValue(int(model.get("seq_len", 128)))
        self.epochs.setValue(int(job.get("epochs", 10)))
        self.batch_size.setValue(int(job.get("batch_size", 32)))
        self.lr.setText("" if job.get("lr") is None else str(job["lr"]))
        self.early.setValue(int(job.get("early_stopping", 0)))
        self.two_phase.setChecked(bool(job.get("two_phase", False)))
        self.phase1_epochs.setValue(int(job.get("phase1_epochs", 0)))
        self.lora_rank.setValue(int(job.get("lora_rank", 4)))
        self._pending_peft = job.get("peft_strategy")
        self.val_split.setValue(float(job.get("val_split", 0.2)))
        self._pending_tree_states = project.get("tree")
        if job.get("data"):
            self.open_data(job["data"])
        self.bundle = None
        self.load_model()

    # ================================================================= misc
    def _update_enabled(self) -> None:
        trained = self.result is not None and self.bundle is not None
        self.train_button.setEnabled(not self.training and self.scan is not None)
        self.train_action.setEnabled(not self.training)
        self.stop_button.setEnabled(self.training and not self._stop.is_set())
        self.stop_action.setEnabled(self.training)
        self.export_button.setEnabled(trained and not self.training)
        self.load_button.setEnabled(not self.training and not self.cancel_load.isVisible())
        for b in self.strategy_buttons.values():
            b.setEnabled(self.bundle is not None and not self.training)
        if self.bundle is not None and self.bundle.family != "bert":
            from desktop_ft.core.peft import VGG16_NO_LORA

            for key in ("lora", "qlora"):
                # Shown but disabled, with the reason, rather than silently hidden.
                self.strategy_buttons[key].setEnabled(False)
                self.strategy_buttons[key].setToolTip(VGG16_NO_LORA)
        elif self.bundle is not None:
            for key in ("lora", "qlora"):
                self.strategy_buttons[key].setToolTip(STRATEGY_HELP[key])

    @Slot()
    def _on_about(self) -> None:
        from PySide6.QtWidgets import QMessageBox

        from desktop_ft import __version__

        QMessageBox.about(self, "About desktop_ft",
                          f"<b>desktop_ft {__version__}</b><p>Transfer learning and "
                          "fine-tuning with Keras: VGG16 for images, BERT for text.</p>"
                          f"<p>Compute: {self.device or 'starting…'}</p>")

    def closeEvent(self, event) -> None:
        """Closing while training: request stop, wait a bounded time, then close."""
        self.settings.setValue("window/geometry", self.saveGeometry())
        self._stop.set()
        self._load_stop.set()
        if self._workers:
            self.statusBar().showMessage("Stopping…")
            self.wait_for_workers(15.0)
        event.accept()


def _fmt_seconds(s: float) -> str:
    s = max(0, int(round(s)))
    return f"{s // 60}:{s % 60:02d}"
