"""One task owns the model at a time: start-up, load, strategy, new head, train, export,
try. Controls that would start another are disabled while one runs, a Load clicked during
start-up waits for it, cancel reaches every task, and closing during any of them ends
within 5 s with every worker stopped (no fallback to the exit hook's ``os._exit``)."""

import subprocess
import sys
import textwrap
import time

import pytest

from tests.gui.conftest import (LONG, click, drop_path, load_model, load_tiny_vgg_with_data,
                                train_and_wait)

CLOSE_S = 5.0


def model_tasks(c) -> list[str]:
    """Record the labels of the tasks that take the model, in order."""
    seen: list[str] = []
    c.tasks.modelTaskChanged.connect(lambda label: seen.append(label) if label else None)
    return seen


# A fresh process, as `desktop-ft` starts: Load is clicked the moment the window shows,
# while Keras is still being imported by the start-up task.
EARLY_LOAD = textwrap.dedent("""
    import os, sys
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    app = QApplication([])
    from desktop_ft.gui import MainWindow
    w = MainWindow()
    w.show()
    app.processEvents()
    c = w.controller
    task = getattr(c.tasks, "model_task", None)
    print("startup task:", task and task.name, flush=True)
    w.model_panel.set_spec({**w.model_panel.spec(), "architecture": "vgg16", "weights": "none",
                            "image_size": 32})
    w.model_panel.load_button.click()

    def check():
        if c.bundle is not None and not c.loading:
            print("loaded", w.banner.isVisible() and w.banner.label.text(), flush=True)
            w.close()
        elif w.banner.isVisible():
            print("error", w.banner.label.text(), flush=True)
            w.close()

    timer = QTimer()
    timer.timeout.connect(check)
    timer.start(50)
    QTimer.singleShot(170_000, app.quit)
    app.exec()
""")


@pytest.mark.slow
def test_load_clicked_while_keras_starts_waits_for_it(tmp_path):
    proc = subprocess.run([sys.executable, "-c", EARLY_LOAD], capture_output=True,
                          text=True, timeout=200,
                          env={**__import__("os").environ, "DESKTOP_FT_RUNS": str(tmp_path)})
    assert "startup task: warm-up" in proc.stdout, proc.stdout + proc.stderr[-2000:]
    assert "loaded False" in proc.stdout, proc.stdout + proc.stderr[-2000:]
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_load_during_startup_is_queued_behind_it(qtbot):
    from desktop_ft.gui import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    c = w.controller
    seen = model_tasks(c)
    w.show()
    qtbot.waitUntil(lambda: c.tasks.model_task is not None, timeout=5_000)
    assert c.tasks.model_task.name == "warm-up"
    assert w.task_label.text() == "Starting Keras…"
    assert w.model_panel.load_button.isEnabled()       # a Load now waits for start-up
    load_model(qtbot, w, architecture="vgg16", weights="none", image_size=32)
    assert seen[:2] == ["Starting Keras…", "Loading the model…"]
    assert not w.banner.isVisible()
    w.close()
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=30_000)


def test_train_and_export_are_refused_while_lora_is_prepared(qtbot, window, tiny_bert_preset,
                                                             text_csv):
    w, c = window, window.controller
    drop_path(w, text_csv)
    qtbot.waitUntil(lambda: c.scan is not None, timeout=LONG)
    load_model(qtbot, w, architecture="bert", preset=str(tiny_bert_preset), seq_len=16)
    w.layers_panel.lora_rank.setValue(2)
    click(qtbot, w.layers_panel.buttons["lora"])
    assert c.tasks.model_task is not None and c.tasks.model_task.name == "strategy"
    # Everything that would start another model task is disabled…
    assert not w.train_panel.train_button.isEnabled()
    assert not w.actions_["train"].isEnabled()
    assert not w.model_panel.load_button.isEnabled()
    assert not w.layers_panel.buttons["head"].isEnabled()
    assert w.task_label.text() == "Preparing the model…"
    # …and the controller refuses it if asked anyway, saying what runs.
    errors = []
    c.error.connect(lambda message, details: errors.append(message))
    c.train({**w._job()})
    assert not c.training and errors and "Preparing the model is running" in errors[-1]
    qtbot.waitUntil(lambda: c.bundle.tree.has_lora and c.tasks.model_task is None,
                    timeout=LONG)
    assert w.train_panel.train_button.isEnabled() and w.task_label.text() == ""
    result = train_and_wait(qtbot, w, epochs=1, batch_size=4)
    assert result.bundle is c.bundle and c.bundle.tree.has_lora   # trained the LoRA model


def test_export_is_disabled_while_training(qtbot, window, image_folder, tmp_path):
    w, c = window, window.controller
    load_tiny_vgg_with_data(qtbot, w, image_folder)
    click(qtbot, w.layers_panel.buttons["head"])    # (cheapest: what trains is not tested)
    train_and_wait(qtbot, w, epochs=1, batch_size=4)
    assert w.try_panel.export_button.isEnabled()
    w.train_panel.set_options({**w.train_panel.options(), "epochs": 500, "batch_size": 2})
    click(qtbot, w.train_panel.train_button)
    assert not w.try_panel.export_button.isEnabled() and not w.actions_["export"].isEnabled()
    assert not w.layers_panel.buttons["full"].isEnabled()
    assert w.task_label.text() == "Training…"
    assert not c.export(str(tmp_path / "out"))
    w.actions_["stop"].trigger()
    qtbot.waitUntil(lambda: not c.training and c.tasks.model_task is None, timeout=LONG)
    assert w.try_panel.export_button.isEnabled()


def close_within_deadline(qtbot, w):
    from desktop_ft.gui.task_runner import live_workers

    t0 = time.monotonic()
    w.close()
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=30_000)
    seconds = time.monotonic() - t0
    assert seconds < CLOSE_S, seconds
    assert w.controller.tasks.running() == 0 and not live_workers()


@pytest.mark.slow
@pytest.mark.deadline
@pytest.mark.parametrize("task", ["load", "new-head", "strategy", "train", "export"])
def test_closing_during_a_task_stops_it_within_5_s(qtbot, image_folder, tmp_path, task,
                                                 request):
    from desktop_ft.gui import MainWindow

    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    c = w.controller
    qtbot.waitUntil(lambda: c.device != "", timeout=LONG)
    started = []
    c.tasks.modelTaskChanged.connect(lambda label: started.append(label) if label else None)
    spec = {**w.model_panel.spec(), "architecture": "vgg16", "weights": "none", "image_size": 32}
    if task == "load":
        w.model_panel.set_spec(spec)
        click(qtbot, w.model_panel.load_button)
    elif task == "new-head":
        load_model(qtbot, w, **spec)
        # A tiny VGG16's new head takes milliseconds: held for a second (a real network's
        # takes seconds), so that the window is closed while it is being built.
        from desktop_ft.gui import worker_functions

        build_head = worker_functions.with_classes
        monkeypatch = request.getfixturevalue("monkeypatch")
        monkeypatch.setattr(worker_functions, "with_classes",
                            lambda *a: (time.sleep(1.0), build_head(*a))[1])
        drop_path(w, image_folder)
        qtbot.waitUntil(lambda: "Replacing the output layer…" in started, timeout=LONG)
    elif task == "strategy":           # LoRA on a tiny BERT, prepared in a worker
        drop_path(w, request.getfixturevalue("text_csv"))
        qtbot.waitUntil(lambda: c.scan is not None, timeout=LONG)
        load_model(qtbot, w, architecture="bert", seq_len=16,
                   preset=str(request.getfixturevalue("tiny_bert_preset")))
        click(qtbot, w.layers_panel.buttons["lora"])
    else:
        load_tiny_vgg_with_data(qtbot, w, image_folder)
        if task == "export":
            click(qtbot, w.layers_panel.buttons["head"])    # (trained only to be exported)
            train_and_wait(qtbot, w, epochs=1, batch_size=4)
            assert c.export(str(tmp_path / "out"))
        else:
            click(qtbot, w.layers_panel.buttons["head"])    # (cheapest before the close)
            w.train_panel.set_options({**w.train_panel.options(), "epochs": 500,
                                       "batch_size": 2})
            click(qtbot, w.train_panel.train_button)
            # Past the first step's tracing, which nothing can interrupt.
            qtbot.waitUntil(lambda: w.train_panel.plots.batch_loss.n >= 1, timeout=LONG)
    assert c.tasks.model_task is not None
    close_within_deadline(qtbot, w)
    if task == "export":
        assert not (tmp_path / "out").exists() or (tmp_path / "out" / "export.json").exists()


def test_cancel_reaches_every_task(qtbot):
    """The cancel event handed to the engine is the one cancel_all sets — for queued
    tasks too (they end through their error slot, saying so)."""
    import threading

    from desktop_ft.gui.task_runner import STOP, TaskRunner, TaskSpec

    runner = TaskRunner()
    seen = {}

    def job(stop):
        seen["stop"] = stop
        stop.wait(10)
        return stop.is_set()

    errors = []
    runner.error.connect(lambda message, details: errors.append(message))
    first = runner.run(TaskSpec("first", "First…", owns_model=True), job, STOP)
    queued = runner.run(TaskSpec("second", "Second…", owns_model=True, wait=True), job, STOP)
    refused = runner.run(TaskSpec("third", "Third…", owns_model=True), job, STOP)
    assert refused is None and errors == ["First is running; wait for it to finish."]
    qtbot.waitUntil(lambda: "stop" in seen, timeout=5_000)
    assert seen["stop"] is first.stop and isinstance(first.stop, threading.Event)
    runner.cancel_all()
    qtbot.waitUntil(lambda: runner.running() == 0, timeout=5_000)
    assert queued.cancelled and errors[-1] == "Second: cancelled."
