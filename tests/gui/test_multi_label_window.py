"""The real window with a multi-label table (issue 32, point 7): dropped, trained, shown
per label on the Train tab, tried with each label's bar at its fitted threshold, and
exported with the thresholds in labels.json."""

import json

import numpy as np

from tests.core.multi_label_data import TEXT_LABELS, text_split
from tests.gui.conftest import LONG, drop_path, load_model, train_and_wait


def test_train_try_and_export_several_labels(qtbot, window, tiny_bert_preset, tmp_path):
    w, c = window, window.controller
    split = text_split(40, seed=3)
    table = tmp_path / "sentences.csv"
    table.write_text("text,labels\n" + "".join(
        f"{text},{';'.join(TEXT_LABELS[i] for i in labels)}\n"
        for text, labels in zip(split.items, split.labels)))
    drop_path(w, table)
    qtbot.waitUntil(lambda: c.scan is not None, timeout=LONG)
    assert c.scan.multi_label
    load_model(qtbot, w, architecture="bert", preset=str(tiny_bert_preset), seq_len=16)
    result = train_and_wait(qtbot, w, epochs=1, batch_size=8)
    assert result.bundle.multi_label and len(result.bundle.decision.thresholds) == 3

    # The Train tab: one row per label (TP, FP, FN, P, R, F1), no confusion matrix.
    panel = w.train_panel
    table_widget = panel.per_class
    header = [table_widget.horizontalHeaderItem(i).text()
              for i in range(table_widget.columnCount())]
    assert header[:4] == ["Label", "TP", "FP", "FN"]
    assert [table_widget.item(r, 0).text() for r in range(3)] == TEXT_LABELS
    assert panel.confusion.isHidden() and "micro-F1" in panel.overall.text()

    # Try it: each label's bar at the model's own threshold; the answer names those
    # that pass.
    w.try_panel.try_text("this is good and the the")
    bars = w.try_panel.label_bars
    qtbot.waitUntil(lambda: len(bars.rows) == 3, timeout=LONG)
    thresholds = dict(zip(TEXT_LABELS, c.bundle.decision.thresholds))
    assert {r["label"]: r["threshold"] for r in bars.rows} == thresholds
    probs = c.bundle.predict_proba(["this is good and the the"])[0]
    for r in bars.rows:
        assert r["probability"] == \
            np.float32(probs[TEXT_LABELS.index(r["label"])]).item()
        assert r["passes"] == (r["probability"] >= thresholds[r["label"]])
    assert not bars.isHidden() and w.try_panel.bars.isHidden()   # (its tab is not shown)
    text = w.try_panel.result.text()
    assert all(f"<b>{name}</b>" in text for name in bars.passing()) or \
        (not bars.passing() and text == "No label reaches its threshold.")

    # Export: labels.json holds the labels and the thresholds the window tried with.
    out = tmp_path / "export"
    w.try_panel.format_boxes["saved_model"].setChecked(False)
    w.try_panel.exportRequested.emit(str(out))
    qtbot.waitUntil(lambda: c.last_export is not None, timeout=LONG)
    assert json.loads((out / "labels.json").read_text()) == {
        "labels": TEXT_LABELS, "thresholds": list(thresholds.values()), "multi_label": True}
