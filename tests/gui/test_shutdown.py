"""Closing the window, or the interpreter ending, while workers run: a cooperative stop
with a deadline, never Qt's abort."""

import subprocess
import sys
import textwrap
import time

from tests.conftest import write_image_folder
from tests.gui.conftest import LONG, click, load_tiny_vgg_with_data


def test_close_during_training_waits_for_the_worker(qtbot, image_folder):
    from desktop_ft.gui import MainWindow
    from desktop_ft.gui.tasks import live_workers

    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.controller.device != "", timeout=LONG)
    load_tiny_vgg_with_data(qtbot, w, image_folder)
    w.train_panel.set_options({**w.train_panel.options(), "epochs": 500, "batch_size": 2})
    click(qtbot, w.train_panel.train_button)
    qtbot.waitUntil(lambda: w.train_panel.plots.point_count() >= 1, timeout=LONG)
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
