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
    from desktop_ft.core.errors import UserError
    from desktop_ft.gui.settings import AppSettings, choose_backend

    try:
        backend_note = choose_backend(AppSettings())
    except UserError as e:          # KERAS_BACKEND names a backend that is not installed
        print(f"desktop-ft: error: {e}", file=sys.stderr)
        return 1
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
    if backend_note:
        window.banner.show_message(backend_note, note=True)
    terminated = close_on_termination(app, window)
    return exec_until_terminated(app, terminated)


def exec_until_terminated(app, terminated: list[int]) -> int:
    """Run the event loop; after a termination, end the process at once rather than in
    Python's native teardown (see :func:`interrupts.exit_if_terminating`)."""
    from desktop_ft.core import interrupts

    code = app.exec()
    if terminated:
        interrupts.exit_if_terminating(terminated[0])
    return terminated[0] if terminated else code


def close_on_termination(app, window) -> list[int]:
    """SIGTERM, SIGHUP and Ctrl-C in the terminal close the window as its close button
    does — workers stop after the batch in flight, a training run is recorded as
    interrupted (the next start offers to resume it) — and the process ends within
    ``interrupts.EXIT_DEADLINE_S`` whatever is running. Returns a list that receives the
    exit status."""
    import signal

    from PySide6.QtCore import QTimer

    from desktop_ft.core import interrupts

    terminated: list[int] = []

    def on_signal(signum: int) -> None:
        if terminated:
            return
        terminated.append(128 + signum)
        interrupts.begin_termination(128 + signum)
        print(f"desktop-ft: {interrupts.Terminated(signum)}; closing", file=sys.stderr,
              flush=True)
        window.close()
        QTimer.singleShot(int(interrupts.EXIT_DEADLINE_S * 1000) - 500, app.quit)

    if interrupts.install(on_signal):
        signal.signal(signal.SIGINT, lambda s, frame: on_signal(s))
        # Python runs signal handlers only between its own bytecodes: wake it regularly
        # while Qt's event loop (C++) waits.
        wake = QTimer(app)
        wake.timeout.connect(lambda: None)
        wake.start(200)
    return terminated
