"""Time from process start to the main window shown, vs the time to `import tensorflow`
alone — each in a fresh process, best of N. Goal: window shown in < 1.5 s.

    python bench/startup.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

SHOW = r"""
import time, sys
t0 = float(sys.argv[1])
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
from desktop_ft.gui import MainWindow
w = MainWindow()
w.show()
app.processEvents()
print(time.time() - t0, flush=True)
w.close()   # waits for the TensorFlow warm-up worker
"""
IMPORT_TF = r"""
import time, sys
t0 = float(sys.argv[1])
import tensorflow
print(time.time() - t0)
"""


def timed(code: str) -> float:
    import time

    env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"),
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", code, repr(time.time())], capture_output=True,
                         text=True, env=env, check=True).stdout
    return float(out.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    window = min(timed(SHOW) for _ in range(args.runs))
    tf = min(timed(IMPORT_TF) for _ in range(args.runs))
    print(f"main window shown after {window:.2f} s; import tensorflow alone takes {tf:.2f} s")
    print(f"ratio window/import-tensorflow: {window / tf:.2f}  (goal: window < 1.5 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
