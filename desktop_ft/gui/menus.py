"""The main window's menu bar, and the handlers of menu items that open a file dialog."""

from __future__ import annotations

from PySide6.QtCore import QObject, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMessageBox

from desktop_ft.core.models import ARCHITECTURES


class MenuActions(QObject):
    """Slots for File → Recent data, Open/Save project, Save report, and Help → About."""

    def __init__(self, window):
        super().__init__(window)
        self.w = window

    @Slot()
    def fill_recent_menu(self) -> None:
        menu = self.w.recent_menu
        menu.clear()
        for path in self.w.settings.recent_data():
            action = menu.addAction(path)
            action.setData(path)
            action.triggered.connect(self._on_recent)

    @Slot()
    def _on_recent(self) -> None:
        self.w.open_path(self.sender().data())

    def _file(self, save: bool, title: str, kind: str, name: str, filters: str) -> str:
        settings = self.w.settings
        start = f"{settings.last_dir(kind)}/{name}" if save else settings.last_dir(kind)
        dialog = QFileDialog.getSaveFileName if save else QFileDialog.getOpenFileName
        path, _ = dialog(self.w, title, start, filters)
        if path:
            settings.remember_dir(kind, path)
        return path

    @Slot()
    def open_project(self) -> None:
        path = self._file(False, "Open project", "project", "", "Projects (*.json)")
        if path:
            self.w.controller.open_project(path)

    @Slot()
    def save_project(self) -> None:
        path = self._file(True, "Save project", "project", "project.dftproj.json",
                          "Projects (*.json)")
        if path:
            self.w.save_project(path)

    @Slot()
    def save_report(self) -> None:
        path = self._file(True, "Save report", "report", "report.html", "HTML (*.html)")
        if path:
            self.w.controller.save_report(path)

    @Slot()
    def show_runs(self) -> None:
        self.w.open_runs_dialog()

    @Slot()
    def settings(self) -> None:
        from desktop_ft.gui.settings_dialog import SettingsDialog

        from desktop_ft.core import backend

        dialog = SettingsDialog(self.w)
        if dialog.exec() and dialog.chosen() != (backend.active() or backend.requested()):
            self.w.statusBar().showMessage(f"The {dialog.chosen()} backend will be used when "
                                           "desktop-ft restarts.", 15000)

    @Slot()
    def about(self) -> None:
        from desktop_ft import __version__

        QMessageBox.about(self.w, "About desktop_ft",
                          f"<b>desktop_ft {__version__}</b><p>Transfer learning and "
                          "fine-tuning with Keras, for images and text: "
                          f"{', '.join(f.short for f in ARCHITECTURES.values())}."
                          "</p>"
                          f"<p>Compute: {self.w.controller.device or 'starting…'}</p>"
                          "<p>Training on several machines is a command-line mode: "
                          "<code>desktop-ft train --distributed</code> (see README).</p>")


def build_menus(window) -> dict[str, QAction]:
    """Add File, Train, View and Help; return the actions whose state changes."""
    bar = window.menuBar()
    handlers = MenuActions(window)

    def action(menu, text, slot, shortcut=None, name=None):
        a = QAction(text, window, objectName=name or "")
        if shortcut:
            a.setShortcut(QKeySequence(shortcut))
        a.triggered.connect(slot)
        menu.addAction(a)
        return a

    data, tryit, layers = window.data_panel, window.try_panel, window.layers_panel
    file_menu = bar.addMenu("&File")
    action(file_menu, "Open data folder…", data.choose_folder, QKeySequence.StandardKey.Open,
           "actionOpenData")
    action(file_menu, "Open CSV/TSV…", data.choose_table)
    window.recent_menu = file_menu.addMenu("Recent data")
    window.recent_menu.aboutToShow.connect(handlers.fill_recent_menu)
    action(file_menu, "Use the sample dataset", window.use_sample)
    file_menu.addSeparator()
    action(file_menu, "Open project…", handlers.open_project, "Ctrl+Shift+O")
    action(file_menu, "Save project…", handlers.save_project, QKeySequence.StandardKey.Save)
    file_menu.addSeparator()
    export = action(file_menu, "Export…", tryit.choose_export_folder, "Ctrl+E", "actionExport")
    report = action(file_menu, "Save report…", handlers.save_report, "Ctrl+R", "actionReport")
    action(file_menu, "Runs…", handlers.show_runs, "Ctrl+Shift+R", "actionRuns")
    action(file_menu, "Settings…", handlers.settings, QKeySequence.StandardKey.Preferences,
           "actionSettings")
    file_menu.addSeparator()
    action(file_menu, "Quit", window.close, QKeySequence.StandardKey.Quit)
    train_menu = bar.addMenu("&Train")
    train = action(train_menu, "Train", window.train, "Ctrl+T", "actionTrain")
    stop = action(train_menu, "Stop", window.controller.stop, "Ctrl+.", "actionStop")
    view = bar.addMenu("&View")
    action(view, "Expand all layers", layers.tree_view.expandAll)
    action(view, "Collapse all layers", layers.tree_view.collapseAll)
    action(bar.addMenu("&Help"), "About desktop_ft", handlers.about)
    return {"export": export, "report": report, "train": train, "stop": stop}
