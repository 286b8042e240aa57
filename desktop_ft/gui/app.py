"""Starting the desktop app: the window is shown before TensorFlow is imported."""

from __future__ import annotations

import sys


def run_app(argv: list[str] | None = None) -> int:
    from desktop_ft.core.runtime import quiet_tensorflow
    from desktop_ft.gui.platform_check import window_problem

    problem = window_problem()
    if problem is not None:      # Qt would abort with its own message
        print(f"desktop-ft: {problem}", file=sys.stderr)
        return 1
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
