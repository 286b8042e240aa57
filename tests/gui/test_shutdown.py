"""Closing the window, or the interpreter ending, while workers run: a cooperative stop
with a deadline, never Qt's abort."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests.conftest import write_image_folder
from tests.gui.conftest import LONG, click, load_tiny_vgg_with_data

# Deadlines of a few seconds: measured alone, not beside other tests (README).
pytestmark = pytest.mark.deadline


def test_close_during_training_waits_for_the_worker(qtbot, image_folder):
    from desktop_ft.gui import MainWindow
    from desktop_ft.gui.task_runner import live_workers

    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.controller.device != "", timeout=LONG)
    load_tiny_vgg_with_data(qtbot, w, image_folder)
    click(qtbot, w.layers_panel.buttons["head"])    # (the cheapest training to stop)
    w.train_panel.set_options({**w.train_panel.options(), "epochs": 500, "batch_size": 2})
    click(qtbot, w.train_panel.train_button)
    qtbot.waitUntil(lambda: w.train_panel.plots.batch_loss.n >= 1, timeout=LONG)
    t0 = time.monotonic()
    w.close()
    assert w.isVisible()     # not accepted while the training worker still runs
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=10_000)
    assert time.monotonic() - t0 < 10
    assert w.controller.tasks.running() == 0 and not live_workers()
    assert w.controller.result.stop_reason == "stopped by user"


SCRIPT = textwrap.dedent("""
    import os, sys
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtWidgets import QApplication
    app = QApplication([])
    from desktop_ft.gui import MainWindow
    w = MainWindow()
    w.show()
    w.open_path(sys.argv[1])      # a scan worker starts...
    app.processEvents()
    print("leaving", flush=True)  # ...and the script ends at once
""")


def test_interpreter_exit_during_a_scan_does_not_abort(tmp_path):
    folder = write_image_folder(tmp_path / "many", per_class=150)
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(folder)], capture_output=True,
                          text=True, timeout=120)
    assert "leaving" in proc.stdout
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "QThread: Destroyed while thread is still running" not in proc.stderr


# The app as ``desktop-ft`` starts it, driven as a user would: load a tiny model, drop the
# folder, train; the parent sends SIGTERM at the step named by argv[2].
DRIVEN = textwrap.dedent("""
    import os, sys
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    app = QApplication([])
    from desktop_ft.gui import MainWindow
    from desktop_ft.gui.app import close_on_termination, exec_until_terminated
    folder, phase = sys.argv[1], sys.argv[2]
    w = MainWindow()
    w.show()
    terminated = close_on_termination(app, w)
    c = w.controller
    state = {"step": "warm"}

    def tick():
        if state["step"] == "warm" and c.device:
            if phase == "scan":
                w.open_path(folder)
                print("scanning", flush=True)
                state["step"] = "done"
                return
            w.model_panel.set_spec({**w.model_panel.spec(), "architecture": "vgg16",
                                    "weights": "none", "image_size": 32})
            w.model_panel.load_button.click()
            state["step"] = "loading"
        elif state["step"] == "loading" and c.bundle is not None and not c.loading:
            w.open_path(folder)
            state["step"] = "scanning"
        elif state["step"] == "scanning" and c.scan is not None and c.tasks.running() == 0:
            w.layers_panel.buttons["head"].click()     # (the cheapest training to stop)
            w.train_panel.set_options({**w.train_panel.options(), "epochs": 500,
                                       "batch_size": 2})
            w.train_panel.train_button.click()
            print("training", flush=True)
            state["step"] = "done"

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(50)
    sys.exit(exec_until_terminated(app, terminated))
""")


@pytest.mark.slow
@pytest.mark.parametrize("phase", ["scan", "train"])
def test_sigterm_closes_the_window_within_5_s(tmp_path, phase):
    folder = write_image_folder(tmp_path / "data", per_class=400 if phase == "scan" else 8)
    runs = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-c", DRIVEN, str(folder), phase],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "DESKTOP_FT_RUNS": str(runs),
                                 "PYTHONUNBUFFERED": "1"})
    assert proc.stdout.readline().strip() == ("scanning" if phase == "scan" else "training")
    deadline = time.monotonic() + 180
    while phase == "train" and time.monotonic() < deadline and not any(
            json.loads(p.read_text())["epochs_done"] for p in runs.glob("*/run.json")):
        time.sleep(0.05)       # until epoch 1's checkpoint is written
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    seconds = time.monotonic() - t0
    assert proc.returncode == 143 and seconds < 5, (proc.returncode, seconds, err[-3000:])
    assert "terminated by SIGTERM" in err and "Traceback" not in err, err[-3000:]
    assert "QThread: Destroyed" not in err
    if phase == "train":
        [record] = [json.loads(p.read_text()) for p in runs.glob("*/run.json")]
        assert record["status"] == "interrupted" and record["epochs_done"] >= 1
        [run] = list(runs.iterdir())
        assert (run / "checkpoints" / "last" / "variables.npz").is_file()
        assert not [p for p in run.rglob(".*") if ".tmp-" in p.name]
