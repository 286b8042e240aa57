"""File → Runs…: a run stopped in the window is listed, resumed to the end, exported
again and deleted; on start the window offers to resume an interrupted run."""

import json
import subprocess
import sys
import threading
from pathlib import Path

from tests.gui.probes import delete_selected_run
from tests.gui.conftest import LONG, click, close_window, load_tiny_vgg_with_data


def test_runs_dialog_resume_export_delete_and_offer(qtbot, window, image_folder, tmp_path,
                                                   monkeypatch):
    from desktop_ft.core.export import plan

    # The dialog's export is checked for being written from the run, not for its formats
    # (test_runs.py checks a run's SavedModel again): the cheapest default.
    monkeypatch.setattr(plan, "DEFAULT_FORMATS", ("keras",))
    w, c = window, window.controller
    load_tiny_vgg_with_data(qtbot, w, image_folder)
    # (Every layer trains, uncached: an epoch takes long enough that Stop, clicked once the
    # first epoch is plotted, lands in the second.)
    w.train_panel.set_options({**w.train_panel.options(), "epochs": 3, "batch_size": 2,
                               "feature_cache": False})
    click(qtbot, w.train_panel.train_button)
    qtbot.waitUntil(lambda: w.train_panel.plots.epoch_loss.n >= 1, timeout=LONG)
    click(qtbot, w.train_panel.stop_button)
    qtbot.waitUntil(lambda: not c.training, timeout=LONG)
    stopped = c.result
    assert stopped.stop_reason == "stopped by user" and stopped.run_path

    dialog = w.open_runs_dialog()
    assert dialog.table.rowCount() == 1
    assert dialog.table.item(0, 1).text() == "stopped"
    assert dialog.resume_button.isEnabled()
    click(qtbot, dialog.resume_button)
    qtbot.waitUntil(lambda: c.result is not stopped and not c.training, timeout=LONG)
    assert c.result.epochs_run == 3 and c.result.resumed_from >= 1
    # The curves continued where they stopped: one point per epoch of the whole run.
    assert w.train_panel.plots.epoch_loss.n == 3

    dialog = w.open_runs_dialog()
    assert dialog.table.item(0, 1).text() == "finished"
    assert not dialog.resume_button.isEnabled()
    out = tmp_path / "from_run"
    dialog.exportRequested.emit(dialog.selected()["path"], str(out))
    qtbot.waitUntil(lambda: (out / "export.json").exists() and c.tasks.running() == 0,
                    timeout=LONG)
    delete_selected_run(dialog)      # (in a task: test_runs_dialog_threads.py)
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 0 and c.tasks.running() == 0,
                    timeout=LONG)
    dialog.close()


def test_start_offers_to_resume_an_interrupted_run(qtbot, image_folder):
    from desktop_ft.core.models import ModelSpec
    from desktop_ft.core.observer import Observer
    from desktop_ft.core.training import TrainJob, fine_tune
    from desktop_ft.gui import MainWindow

    # A run that ends after its first epoch as if the machine had gone down: its status
    # still says running, for a process that no longer exists.
    stop = threading.Event()

    class StopAfterOneEpoch(Observer):
        def on_epoch(self, epoch, logs):
            stop.set()

    # (The head alone trains, here and in the resumed run: what trains is not under test.)
    result = fine_tune(TrainJob(model=ModelSpec("vgg16", weights="none", image_size=32),
                                data=str(image_folder), epochs=3, batch_size=8,
                                strategy="head"),
                       StopAfterOneEpoch(), stop)
    record_file = Path(result.run_path) / "run.json"
    record = json.loads(record_file.read_text())
    assert record["status"] == "stopped"    # a deliberate Stop is not offered on start
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    record_file.write_text(json.dumps({**record, "status": "running", "pid": gone.pid}))
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.banner.isVisible(), timeout=LONG)
    assert "interrupted after epoch 1 of 3" in w.banner.text()
    assert w.banner.action_button.text() == "Resume"
    click(qtbot, w.banner.action_button)
    qtbot.waitUntil(lambda: w.controller.result is not None and not w.controller.training,
                    timeout=LONG)
    assert w.controller.result.epochs_run == 3
    close_window(qtbot, w)
