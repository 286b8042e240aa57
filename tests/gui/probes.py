"""What tests read off widgets and do to them beyond a user's clicks — kept here, out of
the product: a confusion-matrix cell's centre, the plots' phase marks, and the Runs
dialog's busy state, tasks and selection."""

from unittest import mock

from PySide6.QtWidgets import QMessageBox


def cell_center(view, row: int, col: int) -> tuple[float, float]:
    """The centre of a cell of a ConfusionMatrixView, in the widget's coordinates."""
    from desktop_ft.gui.widgets.views import CM_CELL, CM_MARGIN

    pix = view.pixmap()
    full = CM_MARGIN + len(view.matrix) * CM_CELL + 10     # the unscaled image's width
    scale = pix.width() / full
    ox = (view.width() - pix.width()) / 2
    oy = (view.height() - pix.height()) / 2
    return (ox + (CM_MARGIN + (col + 0.5) * CM_CELL) * scale,
            oy + (CM_MARGIN + (row + 0.5) * CM_CELL) * scale)


def phase_marks(plots) -> list[float]:
    """Where the training plots mark a new phase (epochs)."""
    return sorted({m.value() for m in plots.phase_lines})


def runs_busy(dialog) -> bool:
    """A delete or clean-up is running (sizing alone leaves every button usable)."""
    return bool(dialog._busy)


def runs_tasks(dialog) -> int:
    """Tasks of the dialog's runner started and not ended (all the window's when it
    shares the window's)."""
    return dialog._tasks.running()


def select_run(dialog, name: str) -> None:
    for i, r in enumerate(dialog.runs):
        if r["name"] == name:
            dialog.table.selectRow(i)


def delete_selected_run(dialog) -> None:
    """Press Delete and answer Yes to the question it asks."""
    assert dialog.delete_button.isEnabled(), "runsDelete is disabled"
    with mock.patch.object(QMessageBox, "question",
                           return_value=QMessageBox.StandardButton.Yes):
        dialog.delete_button.click()


def runs_error(dialog) -> str:
    """The text of the error box the dialog shows, "" when none."""
    box = dialog.findChild(QMessageBox, "runsError")
    return box.text() if box is not None else ""
