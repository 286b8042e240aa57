"""File → Runs…: the training runs in the user's runs folder and their total disk use,
with Resume, Export…, Delete and Clean up (the Settings cap, as ``desktop-ft runs
--prune``) — the same list as ``desktop-ft runs``; Compare (two or more selected runs side
by side, :mod:`desktop_ft.gui.widgets.run_compare`) and each run's note, kept in its
run.json.

The list itself comes from the runs' small ``run.json`` files, read here; measuring each
run's disk use and deleting folders (legacy runs hold 1–2 GB) run as tasks
(:mod:`desktop_ft.gui.task_runner`), with a progress bar, while the dialog stays responsive."""

from __future__ import annotations

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QFileDialog, QHBoxLayout,
                               QHeaderView, QLabel, QMessageBox, QPlainTextEdit,
                               QProgressBar, QPushButton, QTableWidget, QTableWidgetItem,
                               QVBoxLayout)

from desktop_ft.gui import worker_functions as work
from desktop_ft.gui.task_runner import STOP, QtObserver, TaskRunner, TaskSpec

COLUMNS = ("Run", "Status", "Epochs", "Best validation", "Data", "Size", "Note")
SIZE_COLUMN, NOTE_COLUMN = 5, 6


def _size_text(n: int | None) -> str:
    return "…" if n is None else f"{n / 1e6:.1f} MB"


class RunsDialog(QDialog):
    """``resumeRequested(path)`` and ``exportRequested(run_path, out)`` go to the
    controller; sizing and deleting run as tasks of ``tasks`` (the window's runner, so
    closing the window waits for them), or of a runner of its own."""

    resumeRequested = Signal(str)
    exportRequested = Signal(str, str)

    def __init__(self, settings, parent=None, tasks: TaskRunner | None = None):
        super().__init__(parent)
        self.setObjectName("runsDialog")
        self.setWindowTitle("Training runs")
        self.resize(900, 420)
        self._settings = settings
        self._tasks = tasks if tasks is not None else TaskRunner(self)
        # Progress of the sizes (shown while nothing else runs) and of a delete/clean-up.
        self._size_observer, self._observer = QtObserver(self), QtObserver(self)
        for observer in (self._size_observer, self._observer):
            observer.progress.connect(self._on_progress)
        self._sizing = None          # the TaskState measuring the listed runs
        self._sized = False
        self._busy = ""              # what a delete or clean-up is doing, while it runs
        self._note = ""              # what the last clean-up removed
        self.runs: list[dict] = []
        self._note_run = None        # the run whose note the note box holds
        self.compare_dialog = None
        layout = QVBoxLayout(self)
        self.where = QLabel(objectName="runsFolder")
        layout.addWidget(self.where)
        layout.addWidget(self._make_table(), 1)
        layout.addLayout(self._make_note_row())
        layout.addLayout(self._make_progress_row())
        layout.addLayout(self._make_buttons())
        self.refresh()

    def _make_table(self) -> QTableWidget:
        self.table = QTableWidget(0, len(COLUMNS), objectName="runsTable")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        # Several rows at once: Compare takes two or more; the other actions one.
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        return self.table

    def _make_note_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.note_edit = QPlainTextEdit(objectName="runNote")
        self.note_edit.setPlaceholderText("A note on the selected run (what you tried, what "
                                          "you saw)")
        self.note_edit.setMaximumHeight(60)
        self.note_button = QPushButton("Save note", objectName="runsSaveNote")
        self.note_button.clicked.connect(self.save_note)
        row.addWidget(self.note_edit, 1)
        row.addWidget(self.note_button)
        return row

    def _make_progress_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.activity = QLabel(objectName="runsActivity")
        self.progress = QProgressBar(objectName="runsProgress")
        self.progress.setTextVisible(False)
        self.progress.setMaximumWidth(240)
        row.addWidget(self.activity, 1)
        row.addWidget(self.progress)
        self.activity.hide()
        self.progress.hide()
        return row

    def _make_buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.resume_button = QPushButton("Resume", objectName="runsResume")
        self.export_button = QPushButton("Export…", objectName="runsExport")
        self.delete_button = QPushButton("Delete", objectName="runsDelete")
        self.compare_button = QPushButton("Compare", objectName="runsCompare")
        self.compare_button.setToolTip("Select two or more runs: their curves, the settings "
                                       "that differ and their metrics side by side")
        self.cleanup_button = QPushButton("Clean up…", objectName="runsCleanUp")
        self.cleanup_button.setToolTip("Remove the oldest finished runs beyond the cap set "
                                       "in Settings; interrupted runs are kept")
        close = QPushButton("Close")
        self.resume_button.clicked.connect(self._on_resume)
        self.export_button.clicked.connect(self._on_export)
        self.delete_button.clicked.connect(self._on_delete_clicked)
        self.compare_button.clicked.connect(self.compare)
        self.cleanup_button.clicked.connect(self.clean_up)
        close.clicked.connect(self.accept)
        for b in (self.resume_button, self.export_button, self.delete_button,
                  self.compare_button, self.cleanup_button):
            row.addWidget(b)
        row.addStretch(1)
        row.addWidget(close)
        return row

    # ------------------------------------------------------------------ the list
    def refresh(self) -> None:
        """List the runs (their run.json files) now; measure their sizes in a task."""
        from desktop_ft.core.training.runs import list_runs

        if self._sizing is not None:
            self._sizing.cancel()
        self.runs = list_runs(sizes=False)
        self._sized = not self.runs
        self.table.setRowCount(len(self.runs))
        for i, r in enumerate(self.runs):
            best = r["best"] or {}
            values = (r["name"], r["status"], f"{r['epochs_done']} / {r['epochs']}",
                      f"{best['monitor']} {best['value']:.4f} (epoch {best['epoch']})"
                      if best else "—", r["data"] or "", _size_text(None),
                      r.get("note", "").replace("\n", " "))
            for j, text in enumerate(values):
                item = QTableWidgetItem(text)
                if j == 1 and r.get("error"):
                    item.setToolTip(r["error"])
                elif j == NOTE_COLUMN:
                    item.setToolTip(r.get("note", ""))
                self.table.setItem(i, j, item)
        for j in (0, 1, 2, 3, 5):     # the data path column stretches
            self.table.resizeColumnToContents(j)
        if self.runs:
            self.table.selectRow(0)
        self._show_total()
        self._sizing = None
        if self.runs:
            paths = [r["path"] for r in self.runs]
            self._sizing = self._tasks.run(TaskSpec("runs-sizes", "Measuring the runs…"),
                                           work.run_sizes, paths, self._size_observer, STOP,
                                           on_done=self._on_sized,
                                           on_error=self._on_sizing_failed)
            if not self._busy:
                self._show_activity("Measuring disk use…", len(paths))
        self._update_buttons()

    def _show_total(self) -> None:
        from desktop_ft.core.training.retention import format_bytes
        from desktop_ft.core.training.runs import default_runs_dir

        n = len(self.runs)
        total = format_bytes(sum(r["bytes"] or 0 for r in self.runs)) if self._sized \
            else "measuring…"
        note = f" — {self._note}" if self._note else ""
        self.where.setText(f"Runs in {default_runs_dir()}: {n} run{'s' if n != 1 else ''}, "
                           f"{total}{' in all' if self._sized else ''}{note}")

    @Slot(object)
    def _on_sized(self, sizes: dict) -> None:
        if set(sizes) != {r["path"] for r in self.runs}:
            return    # an older listing's (or a cancelled) measure: a newer one follows
        for i, r in enumerate(self.runs):
            r["bytes"] = sizes[r["path"]]
            item = self.table.item(i, SIZE_COLUMN)
            item.setText(_size_text(r["bytes"]) if r["bytes"] is not None else "?")
            item.setToolTip("" if r["bytes"] is not None else "Could not be measured")
        self.table.resizeColumnToContents(SIZE_COLUMN)
        self._sized = True
        self._show_total()
        if not self._busy:
            self._show_activity("")

    def selected(self) -> dict | None:
        """The selected run when exactly one is (Resume, Export, Delete, its note)."""
        rows = self.selected_runs()
        return rows[0] if len(rows) == 1 else None

    def selected_runs(self) -> list[dict]:
        rows = sorted(i.row() for i in self.table.selectionModel().selectedRows())
        return [self.runs[i] for i in rows if i < len(self.runs)]

    # ------------------------------------------------------------------ busy state
    def _show_activity(self, text: str, total: int = 0) -> None:
        """``text`` beside a progress bar (``total`` 0: busy without steps); "" hides."""
        self.activity.setText(text)
        self.progress.setRange(0, total)
        self.progress.setValue(0)
        self.activity.setVisible(bool(text))
        self.progress.setVisible(bool(text))

    def _start(self, what: str, name: str, fn, *args, on_done, total: int = 0) -> None:
        self._busy = what
        self._show_activity(what, total)
        self._update_buttons()
        self._tasks.run(TaskSpec(name, what), fn, *args, on_done=on_done,
                        on_error=self._on_failed)

    def _end(self) -> None:
        self._busy = ""
        self._show_activity("")

    @Slot(float, float, str)
    def _on_progress(self, done: float, total: float, what: str) -> None:
        if self.sender() is self._size_observer and self._busy:
            return        # a delete or clean-up shows its own progress
        if self.progress.maximum() > 0:
            self.progress.setValue(int(done))
            self.activity.setText(f"{(self._busy or 'Measuring disk use…').rstrip('…')}: "
                                  f"{what} ({int(done)} of {int(total)})")

    @Slot(str, str)
    def _on_failed(self, message: str, details: str) -> None:
        """A delete or clean-up failed: say what and why; the dialog stays usable and
        lists what is there now."""
        what = self._busy.rstrip("…")
        self._end()
        self._tell(f"{what} failed: {message}", details)
        self.refresh()

    @Slot(str, str)
    def _on_sizing_failed(self, message: str, details: str) -> None:
        if not self._busy:
            self._show_activity("")
        self._tell(f"Measuring the runs' disk use failed: {message}", details)

    def _tell(self, text: str, details: str) -> None:
        box = QMessageBox(QMessageBox.Icon.Warning, "Training runs", text,
                          QMessageBox.StandardButton.Ok, self)
        box.setObjectName("runsError")
        if details:
            box.setDetailedText(details)
        box.open()      # not exec(): a nested event loop would hold the task's slot

    @Slot()
    def _update_buttons(self) -> None:
        run, idle = self.selected(), not self._busy
        self.resume_button.setEnabled(idle and run is not None and run["status"] in
                                      ("interrupted", "stopped", "failed")
                                      and run["epochs_done"] < (run["epochs"] or 0))
        # A run another process is still training exports its last finished epoch:
        # reading a run leaves a live writer's files alone (core.atomic.current).
        self.export_button.setEnabled(idle and run is not None and run["epochs_done"] > 0)
        self.export_button.setToolTip(
            f"Export epoch {run['epochs_done']}, the last finished; training goes on"
            if run is not None and run["status"] == "running" else
            "Export the run's last checkpoint (no retraining)")
        self.delete_button.setEnabled(idle and run is not None and
                                      run["status"] != "running")
        self.compare_button.setEnabled(idle and len(self.selected_runs()) >= 2)
        self._show_note(run)
        self.cleanup_button.setEnabled(idle)

    # ------------------------------------------------------------------ notes, compare
    def _show_note(self, run: dict | None) -> None:
        """The selected run's note, editable unless its writer is alive (run.json is then
        that process's file). An edit in progress stays while the same run is selected."""
        path = run["path"] if run is not None else None
        if path != self._note_run:
            self._note_run = path
            self.note_edit.setPlainText(run.get("note", "") if run is not None else "")
        writable = run is not None and run["status"] != "running"
        self.note_edit.setReadOnly(not writable)
        self.note_edit.setEnabled(run is not None)
        self.note_button.setEnabled(writable)
        self.note_button.setToolTip(
            "Still training: its note can be written once it stops or finishes"
            if run is not None and not writable else "Keep the note in the run's folder")

    @Slot()
    def save_note(self) -> None:
        """Keep the edited note in the selected run's run.json (a small file: written
        here, atomically)."""
        from desktop_ft.core.errors import UserError
        from desktop_ft.core.training.runs import set_note

        run = self.selected()
        if run is None:
            return
        try:
            run["note"] = set_note(run["path"], self.note_edit.toPlainText())
        except UserError as e:
            self._tell(f"The note was not kept: {e.window_message}", e.details or "")
            return
        row = self.runs.index(run)
        self.table.item(row, NOTE_COLUMN).setText(run["note"].replace("\n", " "))
        self.table.item(row, NOTE_COLUMN).setToolTip(run["note"])

    @Slot()
    def compare(self):
        """Open the selected runs side by side (their run.json files, read here)."""
        from desktop_ft.core.errors import UserError
        from desktop_ft.core.training.compare import compare_runs
        from desktop_ft.gui.widgets.run_compare import RunCompareDialog

        runs = self.selected_runs()
        if len(runs) < 2:
            return None
        try:
            comparison = compare_runs([r["path"] for r in runs])
        except UserError as e:
            self._tell(f"The runs cannot be compared: {e.window_message}", e.details or "")
            return None
        self.compare_dialog = RunCompareDialog(comparison, self)
        self.compare_dialog.open()
        return self.compare_dialog

    # ------------------------------------------------------------------ actions
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
        run = self.selected()
        if run is None or self._busy:
            return
        size = f" ({_size_text(run['bytes'])})" if run["bytes"] is not None else ""
        if QMessageBox.question(
                self, "Delete run", f"Delete {run['name']} and its checkpoints{size}?"
        ) != QMessageBox.StandardButton.Yes:
            return
        self._start(f"Deleting {run['name']}…", "runs-delete", work.delete_run, run["path"],
                    on_done=self._on_deleted)

    @Slot(object)
    def _on_deleted(self, _path: str) -> None:
        self._end()
        self.refresh()

    @Slot()
    def clean_up(self) -> None:
        """Apply the Settings cap: measure the runs and list what goes (count, size), ask,
        remove, refresh — the measuring and removing in tasks."""
        if self._busy:
            return
        keep, max_bytes = self._settings.keep_runs(), self._settings.max_runs_gb() * 1e9
        self._start("Measuring the runs…", "runs-plan", work.plan_cleanup, keep, max_bytes,
                    self._observer, STOP, on_done=self._on_cleanup_planned,
                    total=len(self.runs))

    @Slot(object)
    def _on_cleanup_planned(self, doomed: list[dict]) -> None:
        from desktop_ft.core.training import retention

        self._end()
        self._update_buttons()
        keep, max_bytes = self._settings.keep_runs(), self._settings.max_runs_gb() * 1e9
        cap = retention.describe_cap(keep, max_bytes)
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
        self._start("Removing old runs…", "runs-remove", work.remove_runs, doomed,
                    self._observer, STOP, on_done=self._on_cleaned, total=len(doomed))

    @Slot(object)
    def _on_cleaned(self, removed: list[dict]) -> None:
        from desktop_ft.core.training import retention

        keep, max_bytes = self._settings.keep_runs(), self._settings.max_runs_gb() * 1e9
        self._end()
        self._note = retention.describe(removed, keep, max_bytes) if removed else ""
        self.refresh()


def interrupted_run() -> dict | None:
    """The newest interrupted (killed, crashed) run that has epochs left, if any — offered
    on start. Reads only run.json files: it runs on the GUI thread."""
    from desktop_ft.core.training.runs import list_runs

    for r in list_runs(sizes=False):
        if r["status"] == "interrupted" and r["epochs_done"] < (r["epochs"] or 0):
            return r
    return None


__all__ = ["RunsDialog", "interrupted_run"]
