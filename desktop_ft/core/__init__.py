"""The Qt-free engine: models, layer tree, data, training and export.

Nothing under ``desktop_ft.core`` imports PySide6, pyqtgraph or ``desktop_ft.gui``;
``tests/core/test_boundary.py`` enforces it. Submodules import TensorFlow lazily
where they can, so ``import desktop_ft.core`` itself is cheap.
"""

from desktop_ft.core.errors import UserError
from desktop_ft.core.observer import Observer

__all__ = ["UserError", "Observer"]
