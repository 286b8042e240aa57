"""The PySide6 desktop app: thin Qt adapters over ``desktop_ft.core``.

``MainWindow`` is importable from here; importing it does not import TensorFlow.
"""


def __getattr__(name):
    if name == "MainWindow":
        from desktop_ft.gui.main_window import MainWindow

        return MainWindow
    raise AttributeError(name)


__all__ = ["MainWindow"]
