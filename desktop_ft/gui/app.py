"""Starting the desktop app: the window is shown before TensorFlow is imported."""

from __future__ import annotations

import sys


def run_app(argv: list[str] | None = None) -> int:
    from desktop_ft.core.runtime import quiet_tensorflow

    quiet_tensorflow()
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from desktop_ft.gui.main_window import MainWindow, resource_path

    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    app.setApplicationName("desktop-ft")
    app.setOrganizationName("desktop_ft")
    app.setWindowIcon(QIcon(resource_path("icon.svg")))
    with open(resource_path("style.qss"), encoding="utf-8") as f:
        app.setStyleSheet(f.read())
    window = MainWindow()
    window.show()
    return app.exec()
