"""The runs cap in the window: File → Runs… shows the total disk use and cleans up to the
Settings cap (after a confirmation that says how many runs and how much); Settings keeps
the cap; a run that ends in the window applies it and says what it removed."""

import os
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox

from desktop_ft.gui.settings import AppSettings
from tests.core.test_retention import names, runs_folder
from tests.gui.probes import runs_busy, runs_tasks
from tests.gui.conftest import click, load_tiny_vgg_with_data, train_and_wait


@pytest.fixture
def settings(tmp_path):
    return AppSettings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))


def test_runs_dialog_shows_the_total_and_cleans_up(qtbot, settings, monkeypatch):
    from desktop_ft.gui.runs_dialog import RunsDialog

    root = Path(os.environ["DESKTOP_FT_RUNS"])
    runs_folder(root, ["finished", "interrupted", "stopped", "failed", "finished"])
    settings.set_retention(2, 10.0)
    asked, told = [], []
    monkeypatch.setattr(QMessageBox, "question", lambda parent, title, text: (
        asked.append(text), QMessageBox.StandardButton.Yes)[1])
    monkeypatch.setattr(QMessageBox, "information",
                        lambda parent, title, text: told.append(text))
    dialog = RunsDialog(settings)
    qtbot.addWidget(dialog)
    assert dialog.table.rowCount() == 5
    # (The sizes are measured in a task: test_runs_dialog_threads.py.)
    qtbot.waitUntil(lambda: dialog.where.text() == f"Runs in {root}: 5 runs, 5.0 MB in all")

    click(qtbot, dialog.cleanup_button)
    qtbot.waitUntil(lambda: "in all — Removed" in dialog.where.text())
    [question] = asked
    assert question.startswith("Remove 2 old runs (2.0 MB) to keep the last 2 finished runs "
                               "and at most 10.0 GB?")
    assert "run-00 (finished, 1.0 MB)" in question and "run-02 (stopped" in question
    assert names(root) == ["run-01", "run-03", "run-04"]     # interrupted run-01 stays
    assert dialog.table.rowCount() == 3
    assert dialog.where.text().startswith(f"Runs in {root}: 3 runs, 3.0 MB in all — "
                                          "Removed 2 old runs (2.0 MB)")
    # Nothing more to remove: it says so, and asks nothing.
    qtbot.waitUntil(lambda: dialog.cleanup_button.isEnabled())
    click(qtbot, dialog.cleanup_button)
    qtbot.waitUntil(lambda: len(told) == 1)
    assert len(asked) == 1 and "Nothing to remove" in told[0]
    qtbot.waitUntil(lambda: not runs_busy(dialog) and runs_tasks(dialog) == 0)


def test_clean_up_asks_first_and_no_removes_nothing(qtbot, settings, monkeypatch):
    from desktop_ft.gui.runs_dialog import RunsDialog

    root = Path(os.environ["DESKTOP_FT_RUNS"])
    runs_folder(root, ["finished"] * 3)
    settings.set_retention(1, 0.0)
    asked = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a: (asked.append(a), QMessageBox.StandardButton.No)[1])
    dialog = RunsDialog(settings)
    qtbot.addWidget(dialog)
    click(qtbot, dialog.cleanup_button)
    qtbot.waitUntil(lambda: bool(asked) and not runs_busy(dialog))
    assert len(names(root)) == 3 and dialog.table.rowCount() == 3
    qtbot.waitUntil(lambda: runs_tasks(dialog) == 0)


def test_settings_dialog_keeps_the_runs_cap(qtbot, settings):
    from desktop_ft.gui.settings_dialog import SettingsDialog

    assert settings.retention() == {"keep_runs": 20, "max_runs_gb": 10.0}
    dialog = SettingsDialog(settings=settings)
    qtbot.addWidget(dialog)
    assert dialog.keep_runs.value() == 20 and dialog.max_runs_gb.value() == 10.0
    dialog.keep_runs.setValue(5)
    dialog.max_runs_gb.setValue(2.5)
    dialog.accept()
    assert settings.retention() == {"keep_runs": 5, "max_runs_gb": 2.5}
    again = SettingsDialog(settings=settings)
    qtbot.addWidget(again)
    assert again.keep_runs.value() == 5 and again.max_runs_gb.value() == 2.5


def test_a_run_that_ends_in_the_window_applies_the_settings_cap(qtbot, window,
                                                                 image_folder):
    w, c = window, window.controller
    root = Path(os.environ["DESKTOP_FT_RUNS"])
    runs_folder(root, ["finished", "interrupted", "finished"])
    shared = AppSettings()        # the window's own (isolated) settings store
    shared.set_retention(1, 10.0)
    statuses = []
    c.status.connect(statuses.append)
    try:
        load_tiny_vgg_with_data(qtbot, w, image_folder)
        click(qtbot, w.layers_panel.buttons["head"])  # (cheapest: what trains is not tested)
        result = train_and_wait(qtbot, w, epochs=1, batch_size=8, feature_cache=False)
    finally:
        shared.set_retention(20, 10.0)
    new = Path(result.run_path).name
    assert names(root) == sorted(["run-01", new])
    qtbot.waitUntil(lambda: any("Removed 2 old runs" in s for s in statuses), timeout=10_000)
    line = next(s for s in statuses if "Removed 2 old runs" in s)
    assert "to keep the last 1 finished run and at most 10.0 GB" in line
