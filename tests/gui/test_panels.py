"""Panels through their public API and signals; errors in the banner; the app stays
usable."""

import json
import re
import os
import subprocess
import sys

import pytest

from PySide6.QtCore import Qt

from tests.conftest import write_image_folder
from tests.gui.conftest import (LONG, click, drop_path, load_model, load_tiny_vgg,
                                load_tiny_vgg_with_data, lora_bert_with_data, train_and_wait)


def test_model_panel_spec_round_trip_and_changed_marker(qtbot, window, tmp_path):
    w = window
    panel = w.model_panel
    weights = tmp_path / "w.weights.h5"
    weights.write_bytes(b"")
    spec = {"architecture": "vgg16", "weights": str(weights), "image_size": 48, "head": "gap",
            "augment": ["flip"], "precision": "float32"}
    panel.set_spec(spec)
    got = panel.spec()
    assert {k: got[k] for k in spec} == spec
    panel.set_spec({"architecture": "bert", "preset": "bert_tiny_en_uncased", "seq_len": 32})
    assert panel.architecture() == "bert" and panel.spec()["augment"] == []
    assert panel.image_size.isHidden() and not panel.seq_len.isHidden()
    load_tiny_vgg(qtbot, w)
    assert panel.load_button.text() == "Load model"
    panel.image_size.setValue(48)
    assert panel.load_button.text() == "Load model — settings changed"
    panel.image_size.setValue(32)
    assert panel.load_button.text() == "Load model"
    panel.augment["flip"].setChecked(True)
    assert panel.settings_differ()


def test_pretrained_weights_load_with_only_the_head_trainable(qtbot, window, tmp_path):
    import keras

    source = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = tmp_path / "notop.weights.h5"
    source.save_weights(str(path))
    bundle = load_model(qtbot, window, architecture="vgg16", weights=str(path), image_size=32)
    assert bundle.tree.strategy == "head"
    assert window.layers_panel.summary.text().startswith("Trainable: 513 of")


@pytest.mark.skipif(not os.environ.get("DESKTOP_FT_ISOLATED"),
                    reason="run in its own process by test_item_model_passes_qt_tester")
def test_item_model_passes_qt_tester_isolated(qtbot, qtmodeltester, window):
    tiny_bert_preset = os.environ["DESKTOP_FT_ISOLATED"]    # the parent's (made once)
    w = window
    load_tiny_vgg(qtbot, w)
    qtmodeltester.check(w.layers_panel.tree_model, force_py=True)
    # (The tester stays connected and checks again at every signal: the reset of a new
    # model, each click's layout change. A second check() would connect it twice.)
    load_model(qtbot, w, architecture="bert", preset=str(tiny_bert_preset), seq_len=16)
    assert w.controller.bundle.architecture == "bert"
    click(qtbot, w.layers_panel.buttons["bitfit"])
    model = w.layers_panel.tree_model
    q = model.index_for_path("transformer_layer_0/self_attention_layer/query")
    assert model.data(q, Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.PartiallyChecked


def test_item_model_passes_qt_tester(tiny_bert_preset):
    """Qt's model tester, in a process of its own: under PySide6 6.12, running it leaves
    the interpreter's refcounts corrupted, and the test process aborted at exit
    ("bool_dealloc: deallocating True or False") or a later test found its window
    deleted — with the tester left out, neither happens."""
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           f"{__file__}::test_item_model_passes_qt_tester_isolated"],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "DESKTOP_FT_ISOLATED": str(tiny_bert_preset)})
    assert re.search(r"^1 passed", proc.stdout, re.M), proc.stdout[-3000:] + proc.stderr[-2000:]


def test_space_context_menu_and_read_only(qtbot, window):
    w = window
    load_tiny_vgg(qtbot, w)
    click(qtbot, w.layers_panel.buttons["head"])
    view, model, tree = (w.layers_panel.tree_view, w.layers_panel.tree_model,
                         w.controller.bundle.tree)
    idx = model.index_for_path("block4")
    view.setCurrentIndex(idx)
    view.setFocus()
    signals = []
    model.dataChanged.connect(lambda *a: signals.append("data"))
    model.layoutChanged.connect(lambda *a: signals.append("layout"))
    qtbot.keyClick(view, Qt.Key.Key_Space)
    assert tree.find("block4").state == "on"
    # One repaint of the whole tree per click: a signal per row made the view measure
    # every row again for each one (0.67 s a click on MiniLM's 75 rows).
    assert signals == ["layout"], signals
    menu = view.build_context_menu(model.index_for_path("block2/block2_conv1"))
    texts = [a.text() for a in menu.actions() if a.text()]
    assert texts[:3] == ["Freeze up to here", "Unfreeze from here",
                         "Unfreeze this block (block2)"]
    menu.actions()[1].trigger()     # unfreeze from block2_conv1 onwards
    assert tree.find("block1").state == "off" and tree.find("block3").state == "on"
    model.set_read_only(True)
    assert not model.flags(idx) & Qt.ItemFlag.ItemIsUserCheckable
    assert not model.setData(idx, Qt.CheckState.Unchecked.value,
                             Qt.ItemDataRole.CheckStateRole)


def test_worker_error_is_shown_and_app_stays_usable(qtbot, window, tmp_path):
    w = window
    w.model_panel.set_spec({"architecture": "bert", "preset": str(tmp_path / "no_such_bert")})
    click(qtbot, w.model_panel.load_button)
    qtbot.waitUntil(lambda: w.banner.isVisible(), timeout=LONG)
    assert "not a folder" in w.banner.text()
    assert w.model_panel.load_button.isEnabled()
    load_tiny_vgg(qtbot, w)     # still usable
    assert w.controller.bundle.architecture == "vgg16"


def test_dropping_something_that_is_not_a_dataset(qtbot, window, tmp_path):
    note = tmp_path / "notes.docx"
    note.write_bytes(b"x")
    drop_path(window, note)
    assert "not a dataset" in window.banner.text()
    single = write_image_folder(tmp_path / "one", classes=("red",), per_class=3)
    drop_path(window, single)
    qtbot.waitUntil(lambda: window.banner.isVisible() and "only one class" in
                    window.banner.text(), timeout=LONG)
    assert window.controller.scan is None


def test_train_failure_is_shown(qtbot, window, image_folder, monkeypatch):
    w = window
    load_tiny_vgg_with_data(qtbot, w, image_folder)
    click(qtbot, w.layers_panel.buttons["full"])
    # SGD with an absurd learning rate diverges: the NaN check reports it.
    options = w.train_panel.options
    monkeypatch.setattr(w.train_panel, "options", lambda: {**options(), "optimizer": "sgd"})
    w.train_panel.lr.setText("1e12")
    w.train_panel.set_options({**options(), "epochs": 2, "batch_size": 8})
    click(qtbot, w.train_panel.train_button)
    qtbot.waitUntil(lambda: not w.controller.training and w.banner.isVisible(), timeout=LONG)
    assert "diverged" in w.banner.text()
    assert w.train_panel.progress_label.text() == "Training failed."
    assert w.train_panel.train_button.isEnabled()
    assert not w.layers_panel.tree_model.read_only


def test_offline_imagenet_names_window_controls_and_keeps_details(qtbot, window, image_folder,
                                                                  monkeypatch, tmp_path):
    """After the sample, the user's own data must not silently train on random weights;
    the message names the window's controls, the cause is behind Details."""
    import urllib.error

    from desktop_ft.core.models.image import weights as vgg_weights

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))

    def offline(*a, **k):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(vgg_weights.urllib.request, "urlopen", offline)
    w, c = window, window.controller
    click(qtbot, w.data_panel.sample_button)
    qtbot.waitUntil(lambda: c.scan is not None, timeout=LONG)
    assert c.sample_mode
    drop_path(w, image_folder)
    qtbot.waitUntil(lambda: c.scan.root == str(image_folder), timeout=LONG)
    assert not c.sample_mode
    w.model_panel.set_spec({**w.model_panel.spec(), "weights": "imagenet", "image_size": 32})
    click(qtbot, w.model_panel.load_button)
    qtbot.waitUntil(lambda: w.banner.isVisible() and c.tasks.running() == 0, timeout=LONG)
    text = w.banner.text()
    assert "Could not download the ImageNet weights" in text
    assert "Weights → From file…" in text and "--weights" not in text
    assert not w.banner.details_button.isHidden()
    assert "Temporary failure in name resolution" in w.banner.details_text()
    click(qtbot, w.banner.details_button)
    assert not w.banner.details.isHidden()
    assert c.bundle is None and w.model_panel.spec()["weights"] == "imagenet"


def test_imagenet_download_shows_progress_and_cancels(qtbot, window, monkeypatch, tmp_path):
    """The download path with a slow fake server: the bar moves, Cancel stops it, the
    error says so, nothing partial is left and the app stays usable."""
    import time

    from desktop_ft.core.models.image import weights as vgg_weights

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))

    class SlowResponse:
        headers = {"Content-Length": str(100 << 20)}

        def __init__(self):
            self.sent = 0

        def read(self, n):
            time.sleep(0.05)
            self.sent += n
            return b"\0" * n if self.sent <= 100 << 20 else b""

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(vgg_weights.urllib.request, "urlopen", lambda *a, **k: SlowResponse())
    w = window
    panel = w.model_panel
    panel.set_spec({"architecture": "vgg16", "weights": "imagenet", "image_size": 32})
    click(qtbot, panel.load_button)
    qtbot.waitUntil(lambda: panel.progress.maximum() == 1000 and panel.progress.value() > 0,
                    timeout=LONG)
    assert panel.cancel_button.isVisible()
    click(qtbot, panel.cancel_button)
    qtbot.waitUntil(lambda: w.banner.isVisible(), timeout=LONG)
    assert "Download cancelled" in w.banner.text()
    assert not panel.progress.isVisible() and w.controller.bundle is None
    assert not list((tmp_path / "models").glob("*"))
    load_tiny_vgg(qtbot, w)


def test_project_save_and_open(qtbot, window, image_folder, tmp_path):
    w, c = window, window.controller
    load_tiny_vgg_with_data(qtbot, w, image_folder)
    click(qtbot, w.layers_panel.buttons["partial"])
    w.train_panel.epochs.setValue(7)
    path = tmp_path / "p.json"
    w.save_project(str(path))
    saved = json.loads(path.read_text())
    assert saved["job"]["epochs"] == 7 and saved["job"]["data"] == str(image_folder)
    assert saved["tree"]["block5/block5_conv1"] == [True, True] and saved["peft"] is None
    w.train_panel.epochs.setValue(1)
    click(qtbot, w.layers_panel.buttons["head"])
    c.open_project(str(path))
    qtbot.waitUntil(lambda: not c.loading and c.tasks.running() == 0, timeout=LONG)
    assert w.train_panel.epochs.value() == 7
    assert c.bundle.tree.find("block5").state == "on"
    assert c.bundle.tree.find("block4").state == "off"


def test_lora_project_replays_in_window_and_cli(qtbot, window, tiny_bert_preset, text_csv,
                                                tmp_path, capsys):
    """One replay for both: the window's project with LoRA trains the same in the CLI."""
    w, c = window, window.controller
    lora_bert_with_data(qtbot, w, tiny_bert_preset, text_csv)
    trainable = c.bundle.tree.totals()[0]
    w.train_panel.set_options({**w.train_panel.options(), "epochs": 1, "batch_size": 8})
    path = tmp_path / "lora.json"
    w.save_project(str(path))
    assert json.loads(path.read_text())["peft"] == {"strategy": "lora", "lora_rank": 2}
    from desktop_ft.cli import main

    # (train needs an export; nothing reads it here, so the cheapest format.)
    assert main(["train", "--project", str(path), "--export", str(tmp_path / "o"),
                 "--formats", "keras", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["trainable_params"] == trainable and summary["lora_rank"] == 2


def test_strategy_buttons_lora_and_vgg16_reason(qtbot, window, tiny_bert_preset):
    w = window
    load_tiny_vgg(qtbot, w)
    lora_button = w.layers_panel.buttons["lora"]
    assert not lora_button.isEnabled() and "has only convolutions" in lora_button.toolTip()
    load_model(qtbot, w, architecture="bert", preset=str(tiny_bert_preset), seq_len=16)
    assert lora_button.isEnabled()
    assert w.layers_panel.buttons["partial"].text() == "Last N layers"
    w.layers_panel.lora_rank.setValue(2)
    click(qtbot, lora_button)
    c = w.controller
    qtbot.waitUntil(lambda: c.bundle.tree.has_lora and c.tasks.running() == 0, timeout=LONG)
    model = w.layers_panel.tree_model
    adapter = model.index_for_path("transformer_layer_0/self_attention_layer/value/lora")
    assert adapter.isValid()
    assert model.data(adapter.siblingAtColumn(1)) == "LoRA adapter (rank 2)"
    trainable, frozen = c.bundle.tree.totals()
    assert w.layers_panel.summary.text().startswith(
        f"Trainable: {trainable:,} of {trainable + frozen:,}")
    assert "LoRA" in w.layers_panel.help.text()
    rows = model.rowCount()
    # Back to a freezing strategy: the model is reloaded without adapters.
    click(qtbot, w.layers_panel.buttons["head"])
    qtbot.waitUntil(lambda: not c.bundle.tree.has_lora and c.tasks.running() == 0,
                    timeout=LONG)
    assert model.rowCount() == rows


def test_export_refused_while_training(qtbot, window, image_folder, tmp_path):
    w, c = window, window.controller
    load_tiny_vgg_with_data(qtbot, w, image_folder)
    click(qtbot, w.layers_panel.buttons["head"])    # (cheapest: what trains is not tested)
    train_and_wait(qtbot, w, epochs=1, batch_size=8)
    w.train_panel.set_options({**w.train_panel.options(), "epochs": 200, "batch_size": 2,
                               "feature_cache": False})
    click(qtbot, w.train_panel.train_button)
    assert not w.try_panel.export_button.isEnabled()
    w.try_panel.exportRequested.emit(str(tmp_path / "nope"))
    assert "Training is running" in w.banner.text()
    assert not (tmp_path / "nope").exists()
    click(qtbot, w.train_panel.stop_button)
    qtbot.waitUntil(lambda: not c.training, timeout=LONG)
    assert w.try_panel.export_button.isEnabled()


def test_dialogs_remember_their_own_folders(tmp_path):
    from PySide6.QtCore import QSettings

    from desktop_ft.gui.settings import AppSettings

    s = AppSettings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    (tmp_path / "data").mkdir()
    (tmp_path / "models").mkdir()
    s.remember_dir("data", str(tmp_path / "data"))
    s.remember_dir("weights", str(tmp_path / "models" / "w.h5"))
    assert s.last_dir("data") == str(tmp_path / "data")
    assert s.last_dir("weights") == str(tmp_path / "models")
    s.remember_data(str(tmp_path / "data" / "cats"))
    assert s.recent_data()[0] == str(tmp_path / "data" / "cats")
    assert s.last_dir("data") == str(tmp_path / "data")


@pytest.fixture
def model_panel(qtbot, tmp_path):
    """The model panel alone, over its own settings file."""
    from PySide6.QtCore import QSettings

    from desktop_ft.gui.panels import ModelPanel
    from desktop_ft.gui.settings import AppSettings

    panel = ModelPanel(AppSettings(QSettings(str(tmp_path / "s.ini"),
                                             QSettings.Format.IniFormat)))
    qtbot.addWidget(panel)
    return panel


def test_network_picker_headers_are_never_current(qtbot, model_panel):
    from desktop_ft.core.models import ARCHITECTURES

    picker = model_panel.architecture_picker
    rows = [(picker.itemText(i), picker.itemData(i)) for i in range(picker.count())]
    headers = [i for i in range(picker.count()) if not picker.is_item(i)]
    assert [rows[i][0] for i in headers] == ["Images", "Text"]
    for i in headers:   # neither enabled nor selectable: the popup cannot pick them
        flags = picker.model().flags(picker.model().index(i, 0))
        assert not flags & (Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled)
    kinds = [ARCHITECTURES[data].input_kind for _, data in rows if data is not None]
    assert kinds == sorted(kinds, key=lambda k: k != "images")   # images first
    assert len(kinds) == len(ARCHITECTURES) and rows[headers[1] + 1][1] != "vgg16"
    assert picker.currentIndex() == 1 and model_panel.architecture() == "vgg16"
    roberta_tip = picker.itemData(picker.findData("xlm_roberta"), Qt.ItemDataRole.ToolTipRole)
    assert ARCHITECTURES["xlm_roberta"].arch.languages in roberta_tip
    text_header, first_text = headers[1], headers[1] + 1
    changes = []
    model_panel.architectureChanged.connect(changes.append)
    last_image = text_header - 1
    qtbot.keyClick(picker, Qt.Key.Key_Up)            # nothing above but a header
    assert picker.currentIndex() == 1
    picker.setCurrentIndex(last_image)
    qtbot.keyClick(picker, Qt.Key.Key_Down)          # over the "Text" header
    assert picker.currentIndex() == first_text
    qtbot.keyClick(picker, Qt.Key.Key_Up)
    assert picker.currentIndex() == last_image
    qtbot.keyClick(picker, Qt.Key.Key_End)
    qtbot.keyClick(picker, Qt.Key.Key_Home)
    assert picker.currentIndex() == 1
    picker.setCurrentIndex(last_image)
    picker.setCurrentIndex(text_header)              # from code, moving down
    assert picker.currentIndex() == first_text
    picker.setCurrentIndex(text_header)              # moving up
    assert picker.currentIndex() == last_image
    picker.setCurrentIndex(0)
    assert picker.currentIndex() == 1
    first, last = picker.itemData(first_text), picker.itemData(picker.count() - 1)
    image = picker.itemData(last_image)
    assert changes == [image, first, image, last, "vgg16", image, first, image,
                       "vgg16"]   # one per change
    assert None not in changes and picker.toolTip().startswith(ARCHITECTURES["vgg16"].title)
    model_panel.set_architecture("roberta")
    assert picker.currentData() == "roberta" and model_panel.architecture() == "roberta"


def test_presets_follow_the_network(qtbot, model_panel, tmp_path):
    from desktop_ft.core.models import ARCHITECTURES

    panel = model_panel

    def offered():
        return [panel.preset.itemText(i) for i in range(panel.preset.count())]

    panel.set_architecture("bert")
    assert offered() == list(ARCHITECTURES["bert"].presets)
    panel.preset.setCurrentText("bert_base_multi")
    panel.set_architecture("roberta")      # another modality's preset name gives way
    assert offered() == list(ARCHITECTURES["roberta"].presets)
    assert panel.spec()["preset"] == ARCHITECTURES["roberta"].presets[0]
    panel.preset.setCurrentText("roberta_large_en")
    panel.set_architecture("vgg16")
    panel.set_architecture("roberta")
    assert panel.spec()["preset"] == "roberta_large_en"
    folder = tmp_path / "my model"
    folder.mkdir()
    panel.preset.setCurrentText(str(folder))
    panel.set_architecture("xlm_roberta")  # a typed folder stays
    assert offered() == list(ARCHITECTURES["xlm_roberta"].presets)
    assert panel.spec()["preset"] == str(folder)
    panel.set_spec({"architecture": "albert", "preset": "albert_large_en_uncased"})
    assert panel.spec()["preset"] == "albert_large_en_uncased"


def test_choosing_a_folder_detects_its_network(qtbot, model_panel, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QPushButton

    panel = model_panel
    folder = tmp_path / "hf-roberta"
    folder.mkdir()   # config.json only: detection must not need (or load) weights
    (folder / "config.json").write_text(json.dumps({"model_type": "roberta"}))
    titles = []

    def choose(parent, title, start):
        titles.append(title)
        return str(folder)

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(choose))
    panel.set_architecture("bert")
    panel.findChild(QPushButton, "presetBrowse").click()
    assert titles == ["keras-hub preset or Hugging Face folder"]
    assert panel.architecture() == "roberta"
    assert panel.spec()["architecture"] == "roberta" and panel.spec()["preset"] == str(folder)
    assert not panel.detected.isHidden() and panel.detected.text() == "Detected: RoBERTa"
    panel.set_architecture("bert")         # the user overrides it: the note goes
    assert panel.detected.isHidden() and panel.spec()["preset"] == str(folder)


def test_hidden_rows_send_what_the_network_needs(model_panel):
    """A network without a Weights row (text, keras-hub) loads its preset's weights, not
    random ones; a BatchNorm tick made for one network does not follow to another."""
    panel = model_panel
    panel.set_architecture("bert")
    assert panel.spec()["weights"] != "none"
    panel.set_spec({**panel.spec(), "weights": "none"})        # a project with random weights
    assert panel.spec()["weights"] == "none"
    panel.set_spec({**panel.spec(), "architecture": "vit", "weights": "imagenet"})
    assert panel.spec()["weights"] != "none"
    panel.set_architecture("mobilenet_v2")
    panel.train_bn.setChecked(True)
    assert panel.spec()["train_bn"] is True
    panel.set_architecture("vgg19")                                   # no BatchNorm in VGG
    assert panel.spec()["train_bn"] is False
    assert panel.spec()["image_size"] == 224 and panel.image_size.minimum() == 32
    panel.set_architecture("xception")
    assert panel.spec()["image_size"] == 299 and panel.image_size.minimum() == 71


def test_an_empty_preset_box_takes_the_networks_first_preset(model_panel):
    model_panel.preset.setCurrentText("")
    for name in ("vit", "bert"):
        model_panel.set_architecture(name)
        assert model_panel.spec()["preset"] == model_panel.preset.itemText(0), name
