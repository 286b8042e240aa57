"""The main window's menu bar."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence


def build_menus(window) -> dict[str, QAction]:
    """Add File, Train, View and Help; return the actions whose state changes."""
    bar = window.menuBar()

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
    window.recent_menu.aboutToShow.connect(window.fill_recent_menu)
    action(file_menu, "Use the sample dataset", window.use_sample)
    file_menu.addSeparator()
    action(file_menu, "Open project…", window.choose_project_to_open, "Ctrl+Shift+O")
    action(file_menu, "Save project…", window.choose_project_to_save,
           QKeySequence.StandardKey.Save)
    file_menu.addSeparator()
    export = action(file_menu, "Export…", tryit.choose_export_folder, "Ctrl+E", "actionExport")
    file_menu.addSeparator()
    action(file_menu, "Quit", window.close, QKeySequence.StandardKey.Quit)
    train_menu = bar.addMenu("&Train")
    train = action(train_menu, "Train", window.train, "Ctrl+T", "actionTrain")
    stop = action(train_menu, "Stop", window.controller.stop, "Ctrl+.", "actionStop")
    view = bar.addMenu("&View")
    action(view, "Expand all layers", layers.tree_view.expandAll)
    action(view, "Collapse all layers", layers.tree_view.collapseAll)
    action(bar.addMenu("&Help"), "About desktop_ft", window.show_about)
    return {"export": export, "train": train, "stop": stop}
