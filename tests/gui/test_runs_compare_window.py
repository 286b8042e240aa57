"""File → Runs…: two real runs (learning rates 1e-3 and 1e-2) selected and compared show
both runs' curves, the learning rate among the settings that differ, and their metrics;
a note typed in the dialog is kept in run.json and shown again."""

import json
import os

import pytest
from PySide6.QtCore import QItemSelectionModel, QSettings

from desktop_ft.gui.settings import AppSettings
from tests.core.test_compare import train_two_runs
from tests.gui.conftest import click
from tests.gui.probes import runs_tasks, select_run

pytestmark = pytest.mark.usefixtures("narrow_vgg16")


def test_compare_two_runs_and_keep_a_note(qtbot, image_folder, tmp_path):
    from desktop_ft.gui.runs_dialog import NOTE_COLUMN, RunsDialog

    paths = train_two_runs(image_folder, os.environ["DESKTOP_FT_RUNS"])
    settings = AppSettings(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    dialog = RunsDialog(settings)
    qtbot.addWidget(dialog)
    assert dialog.table.rowCount() == 2
    assert not dialog.compare_button.isEnabled()        # one run selected
    model = dialog.table.selectionModel()
    for row in range(2):
        model.select(dialog.table.model().index(row, 0),
                     QItemSelectionModel.SelectionFlag.Select |
                     QItemSelectionModel.SelectionFlag.Rows)
    assert dialog.compare_button.isEnabled() and dialog.selected() is None
    click(qtbot, dialog.compare_button)
    compared = dialog.compare_dialog
    assert compared is not None and compared.isVisible()
    view = compared.view
    curves = {r["name"]: r["curves"] for r in view.comparison["runs"]}
    assert set(curves) == {os.path.basename(p) for p in paths}
    for key in ("val_loss", "val_accuracy"):
        lines = view.lines[key]
        assert len(lines) == 2                  # one line per run, both drawn
        for line, run in zip(lines, view.comparison["runs"]):
            x, y = line.getData()
            assert list(x) == [1, 2] and list(y) == pytest.approx(run["curves"][key])
    rows = [view.settings_table.verticalHeaderItem(i).text()
            for i in range(view.settings_table.rowCount())]
    assert "Learning rate" in rows and "Network" not in rows
    lr_row = rows.index("Learning rate")
    assert {view.settings_table.item(lr_row, j).text() for j in range(2)} == {"0.001", "0.01"}
    assert view.metrics_table.columnCount() == 2
    compared.close()

    # The note: typed, saved into run.json, shown again when the dialog lists the runs.
    name = os.path.basename(paths[0])
    select_run(dialog, name)
    assert dialog.note_button.isEnabled() and not dialog.compare_button.isEnabled()
    dialog.note_edit.setPlainText("lr 1e-3: steadier")
    click(qtbot, dialog.note_button)
    assert json.loads(open(f"{paths[0]}/run.json").read())["note"] == "lr 1e-3: steadier"
    dialog.refresh()
    select_run(dialog, name)
    assert dialog.note_edit.toPlainText() == "lr 1e-3: steadier"
    row = [r["name"] for r in dialog.runs].index(name)
    assert dialog.table.item(row, NOTE_COLUMN).text() == "lr 1e-3: steadier"
    qtbot.waitUntil(lambda: runs_tasks(dialog) == 0)     # (the sizes, measured in tasks)
    dialog.close()
