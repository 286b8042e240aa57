"""File → Runs… measures and deletes runs off the GUI thread (issue 31: legacy runs hold
1–2 GB): the dialog opens at once with its list, the event loop keeps running while a
slow measure or delete works, progress shows, the result arrives, an error is shown, and
a run another process is training cannot be exported."""

import os
import shutil
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QMessageBox

from desktop_ft.gui.settings import AppSettings
from tests.core.test_retention import names, runs_folder
from tests.gui.probes import delete_selected_run, runs_busy, runs_error, runs_tasks, \
    select_run
from tests.gui.conftest import click

SLOW_S = 0.6          # one simulated slow measure or delete


@pytest.fixture
def settings(tmp_path):
    return AppSettings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))


class LoopWatch:
    """The longest gap between ticks of a 10 ms timer: how long the GUI thread was held."""

    def __init__(self):
        self.last, self.longest = time.monotonic(), 0.0
        self.timer = QTimer(interval=10)
        self.timer.timeout.connect(self.tick)
        self.timer.start()

    def tick(self):
        now = time.monotonic()
        self.longest, self.last = max(self.longest, now - self.last), now


def slow(fn):
    def wrapper(*args, **kwargs):
        time.sleep(SLOW_S)
        return fn(*args, **kwargs)
    return wrapper


def test_sizes_are_measured_in_a_task_with_progress(qtbot, settings, monkeypatch):
    from desktop_ft.core.training import runs
    from desktop_ft.gui.runs_dialog import RunsDialog

    root = Path(os.environ["DESKTOP_FT_RUNS"])
    runs_folder(root, ["finished", "stopped", "finished"])
    monkeypatch.setattr(runs, "disk_usage", slow(runs.disk_usage))
    started = time.monotonic()
    dialog = RunsDialog(settings)
    qtbot.addWidget(dialog)
    dialog.show()
    assert time.monotonic() - started < SLOW_S     # the list at once, sizes to come
    assert dialog.table.rowCount() == 3 and dialog.table.item(0, 5).text() == "…"
    assert dialog.where.text() == f"Runs in {root}: 3 runs, measuring…"
    assert dialog.progress.isVisible() and dialog.progress.maximum() == 3
    assert dialog.delete_button.isEnabled()        # measuring holds nothing back
    watch = LoopWatch()
    qtbot.waitUntil(lambda: "run-01 (2 of 3)" in dialog.activity.text(), timeout=5000)
    qtbot.waitUntil(lambda: dialog.where.text().endswith("3.0 MB in all"), timeout=5000)
    assert watch.longest < SLOW_S / 2, watch.longest
    assert [dialog.table.item(i, 5).text() for i in range(3)] == ["1.0 MB"] * 3
    assert not dialog.progress.isVisible()
    qtbot.waitUntil(lambda: runs_tasks(dialog) == 0)


def test_delete_runs_in_a_task_and_the_dialog_stays_responsive(qtbot, settings,
                                                                monkeypatch):
    from desktop_ft.gui.runs_dialog import RunsDialog

    root = Path(os.environ["DESKTOP_FT_RUNS"])
    runs_folder(root, ["finished", "stopped"])
    dialog = RunsDialog(settings)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.where.text().endswith("in all"))
    monkeypatch.setattr(shutil, "rmtree", slow(shutil.rmtree))
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a: QMessageBox.StandardButton.Yes)
    select_run(dialog, "run-01")
    watch = LoopWatch()
    started = time.monotonic()
    click(qtbot, dialog.delete_button)
    assert time.monotonic() - started < SLOW_S / 2
    assert runs_busy(dialog) and dialog.activity.text() == "Deleting run-01…"
    assert dialog.progress.isVisible()
    assert not dialog.delete_button.isEnabled() and not dialog.cleanup_button.isEnabled()
    qtbot.waitUntil(lambda: dialog.table.rowCount() == 1, timeout=5000)
    assert watch.longest < SLOW_S / 2, watch.longest
    assert names(root) == ["run-00"] and not runs_busy(dialog)
    qtbot.waitUntil(lambda: runs_tasks(dialog) == 0)
    assert dialog.delete_button.isEnabled()
    monkeypatch.undo()


def test_a_failed_delete_is_shown_and_the_dialog_stays_usable(qtbot, settings,
                                                               monkeypatch):
    from desktop_ft.gui.runs_dialog import RunsDialog

    root = Path(os.environ["DESKTOP_FT_RUNS"])
    runs_folder(root, ["finished"])

    def refuse(path, *a, **k):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(shutil, "rmtree", refuse)
    dialog = RunsDialog(settings)
    qtbot.addWidget(dialog)
    dialog.show()
    delete_selected_run(dialog)
    qtbot.waitUntil(lambda: bool(runs_error(dialog)), timeout=5000)
    assert runs_error(dialog).startswith("Deleting run-00 failed: ")
    assert "Permission denied" in runs_error(dialog)
    box = dialog.findChild(QMessageBox, "runsError")
    assert box is not None and box.isVisible()
    assert names(root) == ["run-00"] and dialog.table.rowCount() == 1
    qtbot.waitUntil(lambda: runs_tasks(dialog) == 0)
    assert dialog.delete_button.isEnabled()
    box.close()
    monkeypatch.undo()       # (before the runs folder's own clean-up)


def test_a_run_another_process_trains_exports_its_last_epoch(qtbot, settings):
    from desktop_ft.gui.runs_dialog import RunsDialog

    root = Path(os.environ["DESKTOP_FT_RUNS"])
    runs_folder(root, ["running", "interrupted"])     # (a live pid; a dead one)
    dialog = RunsDialog(settings)
    qtbot.addWidget(dialog)
    select_run(dialog, "run-00")
    assert dialog.selected()["status"] == "running"
    # Reading a run leaves a live writer's files alone (test_run_readers.py): export the
    # finished epoch, but never delete a run being written.
    assert dialog.export_button.isEnabled() and not dialog.delete_button.isEnabled()
    assert dialog.export_button.toolTip() == ("Export epoch 1, the last finished; "
                                              "training goes on")
    select_run(dialog, "run-01")
    assert dialog.selected()["status"] == "interrupted"
    assert dialog.export_button.isEnabled() and dialog.resume_button.isEnabled()
    qtbot.waitUntil(lambda: runs_tasks(dialog) == 0)
