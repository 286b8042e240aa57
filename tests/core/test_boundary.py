"""desktop_ft.core stays Qt-free: importing every core module pulls in no Qt module."""

import subprocess
import sys
import textwrap

CHECK = textwrap.dedent("""
    import importlib, pkgutil, sys

    class BlockQt:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("PySide6", "shiboken6", "pyqtgraph", "PyQt5", "PyQt6") \\
                    or name.startswith("desktop_ft.gui"):
                raise ImportError(f"core imported {name}")
            return None

    sys.meta_path.insert(0, BlockQt())
    import desktop_ft.core
    for mod in pkgutil.walk_packages(desktop_ft.core.__path__, "desktop_ft.core."):
        importlib.import_module(mod.name)
    import desktop_ft.cli
    desktop_ft.cli.build_parser()
    bad = [m for m in sys.modules if m.startswith(("PySide6", "pyqtgraph", "desktop_ft.gui"))]
    assert not bad, bad
    print("ok")
""")


def test_core_imports_no_qt():
    proc = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("ok")


def test_core_import_is_cheap():
    """``import desktop_ft.core`` must not import TensorFlow (the GUI shows its window
    first and imports TensorFlow in a worker)."""
    code = "import sys, desktop_ft.core, desktop_ft.cli; print('tensorflow' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.stdout.strip() == "False", proc.stderr
