"""The layers panel: the layer tree with its checkboxes, the strategy buttons, and the
live count of trainable parameters."""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout

from desktop_ft.core.layer_tree import STRATEGY_HELP
from desktop_ft.gui.qt_layer_tree import LayerTreeView, QtLayerTreeModel

STRATEGY_BUTTONS = ((("head", "New head only"), ("partial", "Last N blocks"),
                     ("full", "Everything")),
                    (("bitfit", "BitFit"), ("lora", "LoRA"), ("qlora", "int8 + LoRA"),
                     ("two-phase", "Two-phase")))
PEFT_KEYS = ("lora", "qlora")
MAX_UNFREEZE_LAST = 24      # before a model is loaded


class LayersPanel(QGroupBox):
    """``set_bundle(bundle)`` shows a model's tree; ``strategyRequested(key,
    unfreeze_last, lora_rank)`` when a strategy button is pressed; ``totalsChanged``
    relays the tree's (trainable, frozen) counts."""

    strategyRequested = Signal(str, int, int)
    totalsChanged = Signal(int, int)

    def __init__(self, parent=None):
        super().__init__("Layers — tick to train, untick to freeze", parent)
        self.setObjectName("layersPanel")
        layout = QVBoxLayout(self)
        self.buttons: dict[str, QPushButton] = {}
        rows = [QHBoxLayout(), QHBoxLayout()]
        for row, keys in zip(rows, STRATEGY_BUTTONS):
            for key, text in keys:
                b = QPushButton(text, objectName=f"strategy_{key}")
                b.setToolTip(STRATEGY_HELP[key])
                b.clicked.connect(self._on_strategy_clicked)
                b.setProperty("strategy", key)
                row.addWidget(b)
                self.buttons[key] = b
        # At most the loaded model's block count (set_bundle); reads "all 5 blocks" there.
        self.unfreeze_last = QSpinBox(objectName="unfreezeLast", minimum=0,
                                      maximum=MAX_UNFREEZE_LAST, value=1, prefix="N = ")
        self.unfreeze_last.valueChanged.connect(self._on_unfreeze_last)
        rows[0].addWidget(self.unfreeze_last)
        self.lora_rank = QSpinBox(objectName="loraRank", minimum=1, maximum=256, value=4,
                                  prefix="rank ")
        self.lora_rank.setToolTip("Rank of the LoRA adapters")
        rows[1].addWidget(self.lora_rank)
        for row in rows:
            layout.addLayout(row)
        self.help = QLabel("Pick a strategy, or tick layers yourself.", objectName="strategyHelp")
        self.help.setWordWrap(True)
        self.help.setStyleSheet("color: #444;")
        layout.addWidget(self.help)
        self.tree_model = QtLayerTreeModel(self)
        self.tree_model.totalsChanged.connect(self._on_totals)
        self.tree_view = LayerTreeView()
        self.tree_view.setModel(self.tree_model)
        layout.addWidget(self.tree_view, 1)
        self.summary = QLabel("Load a model to see its layers.", objectName="trainableSummary")
        layout.addWidget(self.summary)
        self._bundle = None
        self._busy = False
        self._on_unfreeze_last(self.unfreeze_last.value())
        self._update_buttons()

    def bind(self, controller) -> None:
        self.strategyRequested.connect(controller.apply_strategy)
        controller.bundleChanged.connect(self.set_bundle)
        controller.projectOpened.connect(self._on_project)

    @Slot(object)
    def _on_project(self, project) -> None:
        self.set_options(project.job.to_dict())

    # ------------------------------------------------------------------ public API
    @Slot(object)
    def set_bundle(self, bundle) -> None:
        self._bundle = bundle
        self.tree_model.set_tree(bundle.tree if bundle is not None else None)
        if bundle is None:
            self.summary.setText("Load a model to see its layers.")
        else:
            self.tree_view.expandToDepth(0)
            unit = bundle.modality.arch.unit_name
            self.buttons["partial"].setText(f"Last N {unit}")
        # (A value above the new maximum is clamped to it by QSpinBox.)
        self.unfreeze_last.setMaximum(bundle.tree.block_count if bundle is not None
                                      else MAX_UNFREEZE_LAST)
        self._on_unfreeze_last(self.unfreeze_last.value())
        self._update_buttons()

    @Slot(bool)
    def set_busy(self, busy: bool) -> None:
        """While a task owns the model (training, preparing, exporting…), the tree and the
        buttons are read-only."""
        self._busy = busy
        self.tree_model.set_read_only(busy)
        self._update_buttons()

    def options(self) -> dict:
        return {"unfreeze_last": self.unfreeze_last.value(),
                "lora_rank": self.lora_rank.value()}

    def set_options(self, options: dict) -> None:
        self.unfreeze_last.setValue(int(options.get("unfreeze_last", 1)))
        self.lora_rank.setValue(int(options.get("lora_rank", 4)))

    def show_strategy(self, key: str) -> None:
        self.help.setText(f"<b>{self.buttons[key].text()}</b>: {STRATEGY_HELP[key]}")

    # ------------------------------------------------------------------ slots
    @Slot()
    def _on_strategy_clicked(self) -> None:
        key = self.sender().property("strategy")
        self.show_strategy(key)
        self.strategyRequested.emit(key, self.unfreeze_last.value(), self.lora_rank.value())

    @Slot(int)
    def _on_unfreeze_last(self, value: int) -> None:
        """Say "all 5 blocks" when N covers every block of the loaded model."""
        count = self._bundle.tree.block_count if self._bundle is not None else 0
        unit = self._bundle.modality.arch.unit_name if self._bundle is not None else ""
        self.unfreeze_last.setSuffix(f" (all {count} {unit})" if count and value >= count
                                     else "")
        self.unfreeze_last.setToolTip(
            f"How many of the last {unit or 'blocks (CNNs) or transformer layers'} "
            f"'Last N' unfreezes{f'; this model has {count}' if count else ''}.")

    @Slot(int, int)
    def _on_totals(self, trainable: int, frozen: int) -> None:
        total = trainable + frozen
        pct = 100.0 * trainable / total if total else 0.0
        self.summary.setText(f"Trainable: {trainable:,} of {total:,} parameters ({pct:.2f}%)")
        self.totalsChanged.emit(trainable, frozen)

    def _update_buttons(self) -> None:
        usable = self._bundle is not None and not self._busy
        for key, b in self.buttons.items():
            b.setEnabled(usable)
            b.setToolTip(STRATEGY_HELP[key])
        reason = self._bundle.modality.lora_unavailable if self._bundle is not None \
            else None
        if reason:
            for key in PEFT_KEYS:
                # Shown but disabled, with the reason, rather than silently hidden.
                self.buttons[key].setEnabled(False)
                self.buttons[key].setToolTip(reason)
