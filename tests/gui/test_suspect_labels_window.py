"""The Mistakes tab's "Suspect labels" view, driven as a user would: Find (a task), the
list with thumbnails, Relabel to… writing the corrections file (which the rescan
applies), Apply to folder… and Undo."""

import json
import os

import pytest
from PySide6.QtWidgets import QInputDialog, QMessageBox

from desktop_ft.core.data.corrections import corrections_path_for, undo_path_for
from tests.core.test_label_issues import flipped_folder
from tests.gui.conftest import LONG, click, load_tiny_vgg_with_data

pytestmark = pytest.mark.usefixtures("narrow_vgg16")


def test_find_relabel_apply_and_undo(qtbot, window, tmp_path, monkeypatch):
    w, c = window, window.controller
    root = tmp_path / "shapes"
    flipped = flipped_folder(root)
    load_tiny_vgg_with_data(qtbot, w, root)
    click(qtbot, w.layers_panel.buttons["head"])
    w.train_panel.set_options({**w.train_panel.options(), "epochs": 40, "lr": 0.05})
    view = w.train_panel.mistakes.suspects
    with qtbot.waitSignal(c.suspectsReady, timeout=LONG) as found:
        click(qtbot, view.find)
    suspects = found.args[0]["suspects"]
    assert suspects and view.list.count() == len(suspects)
    assert {s["item"] for s in suspects} & flipped
    first = view.list.item(0)
    assert not first.icon().isNull()                     # a thumbnail
    assert f"given {suspects[0]['given']} → suggested {suspects[0]['suggested']}" in \
        first.text()
    if os.environ.get("DESKTOP_FT_SCREENSHOTS"):
        w.tabs.setCurrentIndex(1)
        w.train_panel.results.setCurrentWidget(w.train_panel.mistakes)
        w.train_panel.mistakes.pages.setCurrentIndex(1)
        view.list.setCurrentRow(0)
        qtbot.wait(200)
        w.grab().save(os.path.join(os.environ["DESKTOP_FT_SCREENSHOTS"],
                                   "suspect_labels.png"))

    # Relabel to… the suggested class: a correction, and the rescan applies it.
    item, given, suggested = suspects[0]["item"], suspects[0]["given"], \
        suspects[0]["suggested"]
    view.list.setCurrentRow(0)
    monkeypatch.setattr(QInputDialog, "getItem", lambda *a, **k: (suggested, True))
    before = c.scan
    click(qtbot, view.relabel)
    path = corrections_path_for(root)
    saved = json.loads(path.read_text())["corrections"]
    assert saved == [{"item": item, "given": given, "decision": "relabel",
                      "label": suggested}]
    qtbot.waitUntil(lambda: c.scan is not before, timeout=LONG)
    labels = dict(zip(c.scan.train.items, c.scan.train.labels))
    assert c.scan.classes[labels[item]] == suggested
    assert "relabelled" in view.list.item(0).text()

    # Apply to folder… (confirmed) moves the file; Undo moves it back.
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: QMessageBox.StandardButton.Yes)
    click(qtbot, view.apply)
    moved = root / suggested / os.path.basename(item)
    qtbot.waitUntil(lambda: moved.exists() and view.undo.isEnabled(), timeout=LONG)
    assert not os.path.exists(item) and undo_path_for(root).exists()
    click(qtbot, view.undo)
    qtbot.waitUntil(lambda: os.path.exists(item) and not moved.exists() and
                    not view.undo.isEnabled(), timeout=LONG)
    assert json.loads(path.read_text())["corrections"] == saved
