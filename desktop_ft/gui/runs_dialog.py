"""File → Runs…: the training runs in the user's runs folder and their total disk use,
with Resume, Export…, Delete and Clean up (the Settings cap, as ``desktop-ft runs
--prune``) — the same list as ``desktop-ft runs``."""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QFileDialog, QHBoxLayout,
                               QHeaderView, QLabel, QMessageBox, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout)

COLUMNS = ("Run", "Status", "Epochs", "Best validation", "Data", "Size")


class RunsDialog(QDialog):
    """``resumeRequested(path)`` and ``exportRequested(run_path, out)`` go to the
    controller; deleting happens here (after a confirmation)."""

    resumeRequested = Signal(str)
    exportRequested = Signal(str, str)

    def __init__(self, settings, parent=None):
        super().__init__(parent)
        self.setObjectName("runsDialog")
        self.setWindowTitle("Training runs")
        self.resize(900, 420)
        self._settings = settings
        layout = QVBoxLayout(self)
        self.where = QLabel(objectName="runsFolder")
        layout.addWidget(self.where)
        self.table = QTableWidget(0, len(COLUMNS), objectName="runsTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        layout.addWidget(self.table, 1)
        row = QHBoxLayout()
        self.resume_button = QPushButton("Resume", objectName="runsResume")
        self.export_button = QPushButton("Export…", objectName="runsExport")
        self.delete_button = QPushButton("Delete", objectName="runsDelete")
        self.cleanup_button = QPushButton("Clean up…", objectName="runsCleanUp")
        self.cleanup_button.setToolTip("Remove the oldest finished runs beyond the cap set "
                                       "in Settings; interrupted runs are kept")
        close = QPushButton("Close")
        self.resume_button.clicked.connect(self._on_resume)
        self.export_button.clicked.connect(self._on_export)
        self.delete_button.clicked.connect(self._on_delete_clicked)
        self.cleanup_button.clicked.connect(self.clean_up)
        close.clicked.connect(self.accept)
        for b in (self.resume_button, self.export_button, self.delete_button,
                  self.cleanup_button):
            row.addWidget(b)
        row.addStretch(1)
        row.addWidget(close)
        layout.addLayout(row)
        self.runs: list[dict] = []
        self.refresh()

    def refresh(self) -> None:
        from desktop_ft.core.training.retention import format_bytes
        from desktop_ft.core.training.runs import default_runs_dir, list_runs

        self.runs = list_runs()
        total = sum(r["bytes"] or 0 for r in self.runs)
        self.where.setText(f"Runs in {default_runs_dir()}: {len(self.runs)} "
                           f"run{'s' if len(self.runs) != 1 else ''}, {format_bytes(total)} "
                           "in all")
        self.table.setRowCount(len(self.runs))
        for i, r in enumerate(self.runs):
            best = r["best"] or {}
            values = (r["name"], r["status"], f"{r['epochs_done']} / {r['epochs']}",
                      f"{best['monitor']} {best['value']:.4f} (epoch {best['epoch']})"
                      if best else "—", r["data"] or "", f"{r['bytes'] / 1e6:.1f} MB")
            for j, text in enumerate(values):
                item = QTableWidgetItem(text)
                if j == 1 and r.get("error"):
                    item.setToolTip(r["error"])
                self.table.setItem(i, j, item)
        for j in (0, 1, 2, 3, 5):     # the data path column stretches
            self.table.resizeColumnToContents(j)
        if self.runs:
            self.table.selectRow(0)
        self._update_buttons()

    def selected(self) -> dict | None:
        rows = self.table.selectionModel().selectedRows()
        return self.runs[rows[0].row()] if rows else None

    def select(self, name: str) -> None:
        for i, r in enumerate(self.runs):
            if r["name"] == name:
                self.table.selectRow(i)

    @Slot()
    def _update_buttons(self) -> None:
        run = self.selected()
        self.resume_button.setEnabled(run is not None and run["status"] in
                                      ("interrupted", "stopped", "failed")
                                      and run["epochs_done"] < (run["epochs"] or 0))
        self.export_button.setEnabled(run is not None and run["epochs_done"] > 0)
        self.delete_button.setEnabled(run is not None and run["status"] != "running")

    @Slot()
    def _on_resume(self) -> None:
        run = self.selected()
        if run is not None:
            self.resumeRequested.emit(run["path"])
            self.accept()

    @Slot()
    def _on_export(self) -> None:
        run = self.selected()
        if run is None:
            return
        path, _ = QFileDialog.getSaveFileName(
            self, "Export the run to folder", f"{self._settings.last_dir('export')}/"
            f"{run['name']}", "Export folder (*)")
        if path:
            self._settings.remember_dir("export", path)
            self.exportRequested.emit(run["path"], path)

    @Slot()
    def _on_delete_clicked(self) -> None:
        self._delete(confirm=True)

    def _delete(self, confirm: bool) -> None:
        from desktop_ft.core.errors import UserError
        from desktop_ft.core.training.runs import delete_run

        run = self.selected()
        if run is None:
            return
        if confirm and QMessageBox.question(
                self, "Delete run", f"Delete {run['name']} and its checkpoints "
                f"({run['bytes'] / 1e6:.1f} MB)?") != QMessageBox.StandardButton.Yes:
            return
        try:
            delete_run(run["path"])
        except UserError as e:
            QMessageBox.warning(self, "Delete run", str(e))
        self.refresh()

    def delete_selected_without_asking(self) -> None:
        self._delete(confirm=False)

    @Slot()
    def clean_up(self) -> None:
        """Apply the Settings cap: list what goes (count, size), ask, remove, refresh."""
        from desktop_ft.core.training import retention
        from desktop_ft.core.training.runs import list_runs

        keep, max_bytes = self._settings.keep_runs(), self._settings.max_runs_gb() * 1e9
        cap = retention.describe_cap(keep, max_bytes)
        doomed = retention.plan_prune(list_runs(), keep, max_bytes)
        if not doomed:
            QMessageBox.information(self, "Clean up runs", f"Nothing to remove: the runs "
                                    f"folder already keeps {cap} (set in Settings).")
            return
        freed = sum(r["bytes"] or 0 for r in doomed)
        names = "\n".join(f"  {r['name']} ({r['status']}, "
                          f"{retention.format_bytes(r['bytes'] or 0)})" for r in doomed[:12])
        more = f"\n  … and {len(doomed) - 12} more" if len(doomed) > 12 else ""
        if QMessageBox.question(
                self, "Clean up runs", f"Remove {len(doomed)} old "
                f"run{'s' if len(doomed) != 1 else ''} ({retention.format_bytes(freed)}) to "
                f"keep {cap}?\n\n{names}{more}") != QMessageBox.StandardButton.Yes:
            return
        removed = retention.remove_runs(doomed)
        self.refresh()
        if removed:
            self.where.setText(f"{self.where.text()} — "
                               f"{retention.describe(removed, keep, max_bytes)}")


def interrupted_run() -> dict | None:
    """The newest interrupted (killed, crashed) run that has epochs left, if any — offered
    on start. Reads only run.json files: it runs on the GUI thread."""
    from desktop_ft.core.training.runs import list_runs

    for r in list_runs(sizes=False):
        if r["status"] == "interrupted" and r["epochs_done"] < (r["epochs"] or 0):
            return r
    return None


__all__ = ["RunsDialog", "interrupted_run"]
