"""Before the QApplication exists: can this machine show a window at all?

Without a display, or (on Linux) without the xcb libraries Qt's X11 plugin needs, Qt
aborts the process with its own message. Detect both first and say in one line what
to install — or that the command line works without a window.
"""

from __future__ import annotations

import ctypes.util
import os
import sys

# library (as ctypes finds it) → package, per family of Linux distributions
XCB_LIBRARIES = {
    "xcb-cursor": ("libxcb-cursor0", "xcb-util-cursor", "xcb-util-cursor"),
    "xcb-icccm": ("libxcb-icccm4", "xcb-util-wm", "xcb-util-wm"),
    "xcb-keysyms": ("libxcb-keysyms1", "xcb-util-keysyms", "xcb-util-keysyms"),
    "xkbcommon-x11": ("libxkbcommon-x11-0", "libxkbcommon-x11", "libxkbcommon-x11"),
    "xcb-shape": ("libxcb-shape0", "libxcb", "libxcb"),
    "xcb-render-util": ("libxcb-render-util0", "xcb-util-renderutil", "xcb-util-renderutil"),
    "xcb-image": ("libxcb-image0", "xcb-util-image", "xcb-util-image"),
}
CLI_HINT = "The command line works without a window: desktop-ft --help."


def missing_xcb_libraries(find=ctypes.util.find_library) -> list[str]:
    return [name for name in XCB_LIBRARIES if find(name) is None]


def install_line(missing: list[str]) -> str:
    debian = " ".join(XCB_LIBRARIES[n][0] for n in missing)
    fedora = " ".join(dict.fromkeys(XCB_LIBRARIES[n][1] for n in missing))
    arch = " ".join(dict.fromkeys(XCB_LIBRARIES[n][2] for n in missing))
    return (f"Debian/Ubuntu: sudo apt-get install {debian}; Fedora: sudo dnf install "
            f"{fedora}; Arch: sudo pacman -S {arch}")


def window_problem(environ=os.environ, platform: str = sys.platform,
                   find=ctypes.util.find_library) -> str | None:
    """One line saying why no window can be shown here, or None."""
    if not platform.startswith("linux"):
        return None
    qpa = environ.get("QT_QPA_PLATFORM", "")
    if qpa and not qpa.startswith("xcb"):
        return None          # offscreen, wayland, vnc … chosen on purpose
    if not environ.get("DISPLAY") and not environ.get("WAYLAND_DISPLAY"):
        return ("No display to show the window on (neither DISPLAY nor WAYLAND_DISPLAY is "
                f"set; over SSH use ssh -X, or run in a desktop session). {CLI_HINT}")
    if environ.get("DISPLAY") and not environ.get("WAYLAND_DISPLAY"):
        missing = missing_xcb_libraries(find)
        if missing:
            return ("Qt's X11 support needs system libraries this machine lacks ("
                    f"{', '.join('lib' + m for m in missing)}). Install them — "
                    f"{install_line(missing)} — or use the command line: desktop-ft --help.")
    return None
