"""The window's metrics: "Stop/keep best by" reaches the job (macro-F1 suggested for
imbalanced data), the per-class table holds precision/recall/F1, a multi-label evaluation
becomes a per-label table (TP, FP, FN, P, R, F1) instead of the confusion matrix, and
Mistakes names the labels a row missed or wrongly added."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from desktop_ft.core.training import TrainJob
from desktop_ft.core.training.metrics import (label_set_mistakes, multi_label_metrics,
                                              single_label_metrics)
from desktop_ft.gui.panels.train_panel import TrainPanel
from desktop_ft.gui.widgets import MistakesView
from tests.conftest import write_image_folder
from tests.gui.conftest import LONG, click, drop_path
from tests.gui.test_window_wording import capture_jobs


def _table(table) -> list[list[str]]:
    return [[table.horizontalHeaderItem(c).text() for c in range(table.columnCount())]] + [
        [table.item(r, c).text() for c in range(table.columnCount())]
        for r in range(table.rowCount())]


def _result(ev):
    return SimpleNamespace(stop_reason="completed", history={"loss": [0.5]}, epochs_run=1,
                           learning_rate=1e-3, evaluation=ev)


def test_imbalanced_data_suggests_macro_f1_and_the_choice_reaches_the_job(
        qtbot, window, image_folder, tmp_path, monkeypatch):
    w, c, panel = window, window.controller, window.train_panel
    assert panel.monitor.monitor() == "val_loss" and panel.monitor.hint.isHidden()
    drop_path(w, image_folder)                      # balanced: the default stands
    qtbot.waitUntil(lambda: c.scan is not None and c.tasks.running() == 0, timeout=LONG)
    assert panel.monitor.monitor() == "val_loss" and panel.monitor.hint.isHidden()

    skewed = write_image_folder(tmp_path / "skewed", per_class=12, seed=4)
    for path in sorted((skewed / "red").iterdir())[2:]:
        path.unlink()                                 # 12 : 12 : 2
    drop_path(w, skewed)
    qtbot.waitUntil(lambda: c.scan is not None and c.scan.root == str(skewed) and
                    c.tasks.running() == 0, timeout=LONG)
    assert panel.monitor.monitor() == "val_macro_f1"
    assert not panel.monitor.hint.isHidden() and "macro-F1" in panel.monitor.hint.text()
    jobs = capture_jobs(monkeypatch)
    click(qtbot, panel.train_button)
    qtbot.waitUntil(lambda: bool(jobs) and not c.training, timeout=LONG)
    assert TrainJob.from_dict(jobs[0]).monitor == "val_macro_f1"

    # the user's own choice wins over a later suggestion, and reaches the job too
    combo = panel.monitor.combo
    combo.setCurrentIndex(combo.findData("val_accuracy"))
    combo.activated.emit(combo.currentIndex())
    panel.monitor.suggest_for(c.scan)
    assert panel.options()["monitor"] == "val_accuracy"
    assert TrainJob.from_dict({**jobs[0], **panel.options()}).monitor == "val_accuracy"
    panel.set_options({"monitor": "val_loss"})        # a project's choice is kept
    panel.monitor.suggest_for(c.scan)
    assert panel.options()["monitor"] == "val_loss"


def test_per_class_table_has_precision_recall_f1(qtbot):
    panel = TrainPanel()
    qtbot.addWidget(panel)
    ev = single_label_metrics([0, 1, 1], [[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]], ["a", "b"])
    ev["split"] = "val"
    panel.show_result(_result(ev))
    rows = _table(panel.per_class)
    assert rows[0] == ["Class", "val acc.", "Precision", "Recall", "F1", "Support"]
    assert rows[2] == ["b", "50.0%", "100.0%", "50.0%", "66.7%", "2"]
    assert "macro-F1 66.7%" in panel.overall.text() and "ROC-AUC 100.0%" in \
        panel.overall.text()
    assert not panel.confusion.isHidden() and panel.confusion.matrix == [[1, 0], [1, 1]]


def test_a_multi_label_evaluation_shows_a_per_label_table(qtbot):
    panel = TrainPanel()
    qtbot.addWidget(panel)
    sets = [(0,), (0, 1), (), (1,)]
    probs = np.array([[0.9, 0.2], [0.8, 0.3], [0.1, 0.7], [0.2, 0.9]])
    ev = multi_label_metrics(sets, probs, ["billing", "delivery"], [0.5, 0.5])
    panel.show_result(_result(ev))
    rows = _table(panel.per_class)
    assert rows[0] == ["Label", "TP", "FP", "FN", "Precision", "Recall", "F1"]
    assert rows[1] == ["billing", "2", "0", "0", "100.0%", "100.0%", "100.0%"]
    assert rows[2] == ["delivery", "1", "1", "1", "50.0%", "50.0%", "50.0%"]
    assert panel.confusion.isHidden() and "micro-F1" in panel.overall.text()


def test_mistakes_list_the_labels_missed_and_wrongly_added(qtbot):
    view = MistakesView()
    qtbot.addWidget(view)
    sets = [(0,), (0, 1), (), (1,)]
    probs = np.array([[0.9, 0.2], [0.8, 0.3], [0.1, 0.7], [0.2, 0.9]])
    view.set_mistakes(label_set_mistakes(["t1", "t2", "t3", "t4"], sets, probs,
                                         ["billing", "delivery"], [0.5, 0.5]))
    texts = [view.list.item(i).text() for i in range(view.list.count())]
    assert len(texts) == 2                  # rows 2 and 3; rows 1 and 4 are right
    assert any("missed: delivery (30%)" in t and t.endswith("t2") for t in texts)
    assert any("true: (no label)" in t and "wrongly added: delivery (70%)" in t
               for t in texts)


def test_the_accuracy_plot_draws_validation_macro_f1_when_monitored(qtbot):
    panel = TrainPanel()
    qtbot.addWidget(panel)
    plots, legend = panel.plots, panel.plots.acc_plot.plotItem.legend
    panel.on_epoch(0, {"val_accuracy": 0.5})
    assert plots.val_f1.n == 0 and legend.getLabel(plots.val_f1.item) is None
    panel.on_epoch(0, {"val_accuracy": 0.5, "val_macro_f1": 0.4})
    panel.on_epoch(1, {"val_accuracy": 0.6, "val_macro_f1": 0.55})
    assert list(plots.val_f1.y[:plots.val_f1.n]) == [0.4, 0.55]
    assert legend.getLabel(plots.val_f1.item).text == "val macro-F1"
    plots.reset()                            # the next run may not monitor it
    assert plots.val_f1.n == 0 and legend.getLabel(plots.val_f1.item) is None
