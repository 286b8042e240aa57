"""Before Qt starts: no display, or missing xcb libraries, give one line saying what to
install (or to use the CLI) instead of Qt's abort."""

import os
import subprocess
import sys

from desktop_ft.gui.platform_check import window_problem


def test_no_display_is_one_clear_line():
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    proc = subprocess.run([sys.executable, "-m", "desktop_ft"], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "No display" in proc.stderr
    assert "desktop-ft --help" in proc.stderr and "Aborted" not in proc.stderr


def test_missing_xcb_libraries_name_the_packages():
    def find(name):
        return None if name in ("xcb-cursor", "xkbcommon-x11") else f"lib{name}.so"

    line = window_problem({"DISPLAY": ":0"}, "linux", find)
    assert "libxcb-cursor" in line and "libxkbcommon-x11" in line
    assert "sudo apt-get install libxcb-cursor0 libxkbcommon-x11-0" in line
    assert "dnf install xcb-util-cursor libxkbcommon-x11" in line
    assert window_problem({"DISPLAY": ":0"}, "linux", lambda n: "x.so") is None
    assert window_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux", find) is None
    assert window_problem({}, "win32", find) is None
