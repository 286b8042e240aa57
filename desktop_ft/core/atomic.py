"""Files and folders replaced atomically and durably.

A folder is written beside its target as ``.NAME.tmp-*`` and swapped in with
``os.replace``. A process killed at any point leaves either the previous folder or the
new one under the target's name — and, between the two renames, the previous one as
``.NAME.old-*``, which a *writer* puts back with :func:`recover` before it writes again.
Readers use :func:`current` instead, which changes nothing: the ``.tmp-*`` folder it
would remove may be the one a live writer is filling (an export of a run still training).

A rename alone is atomic but not durable: after a power cut the new name can point at a
file whose data never reached the disk (an empty ``run.json``). So every swap here syncs
the new file (or every file of the new folder) before the rename and the folder holding
it after (POSIX; where a folder cannot be synced, e.g. Windows, that step is skipped).
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path


def fsync_file(path: Path) -> None:
    """Flush ``path``'s data to the disk."""
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def fsync_dir(path: Path) -> None:
    """Flush ``path``'s entries (names just renamed into it) to the disk, where the
    platform can: Windows cannot open a folder, some file systems refuse (EINVAL)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sync_tree(folder: Path) -> None:
    """Flush every file under ``folder``, then its folders (deepest first)."""
    for root, _dirs, files in os.walk(folder, topdown=False):
        for name in files:
            fsync_file(Path(root) / name)
        fsync_dir(Path(root))


def replace_file(tmp: Path, target: Path) -> None:
    """``os.replace(tmp, target)``, durably: ``tmp`` is synced before, the folder after."""
    fsync_file(tmp)
    os.replace(tmp, target)
    fsync_dir(Path(target).parent)


def write_text(path: Path, text: str, encoding: str = "utf-8") -> None:
    """Write ``path`` atomically and durably: a crash leaves the previous file or the new
    one, never a partial or empty one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:6]}")
    try:
        tmp.write_text(text, encoding=encoding)
        replace_file(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def temp_beside(target: Path) -> Path:
    """A fresh, empty folder next to ``target`` to write its new contents into."""
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    return tmp


def replace_dir(new: Path, target: Path) -> None:
    """Move ``new`` to ``target``; an existing target is swapped out, then removed. If the
    swap is interrupted, the previous target is put back."""
    sync_tree(new)
    old = None
    try:
        if target.exists():
            old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(target, old)
        os.replace(new, target)
        fsync_dir(target.parent)
    except BaseException:
        if old is not None and not target.exists():
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _parked(target: Path) -> list[Path]:
    """The previous versions parked beside ``target``, oldest first (one a writer removes
    while this looks is left out)."""
    found = []
    for p in target.parent.glob(f".{target.name}.old-*"):
        try:
            found.append((p.stat().st_mtime, p))
        except FileNotFoundError:
            continue
    return [p for _, p in sorted(found)]


def current(target: Path) -> Path:
    """Where ``target``'s contents are for a reader, changing nothing: ``target``, or,
    while a writer is between its two renames (or was killed there), the version it
    parked. Temporaries are left alone: they may belong to a writer still at work."""
    if target.exists() or not target.parent.is_dir():
        return target
    parked = _parked(target)
    return parked[-1] if parked else target


def recover(target: Path) -> None:
    """Undo what a killed process left beside ``target``: a previous version parked
    between the renames comes back; half-written temporaries are removed. Only for the
    writer of ``target`` (it removes other writers' temporaries); readers use
    :func:`current`."""
    parent = target.parent
    if not parent.is_dir():
        return
    parked = _parked(target)
    if parked and not target.exists():
        os.replace(parked.pop(), target)
    for leftover in [*parked, *parent.glob(f".{target.name}.tmp-*")]:
        shutil.rmtree(leftover, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` (on this machine) still runs — what decides that a folder
    some process was writing is now abandoned. Never signals it: on Windows
    ``os.kill(pid, 0)`` would terminate the process."""
    if pid <= 0:             # 0 would ask about this process group
        return False
    if os.name == "nt":
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    """A process that ended but was not reaped (its parent died where the init process
    does not reap, as in some containers): it answers signals, yet owns nothing."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:         # no /proc (macOS), or gone meanwhile
        return False
    return stat[stat.rfind(")") + 2:].startswith("Z")


def _windows_pid_alive(pid: int) -> bool:
    import ctypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    handle = kernel32.OpenProcess(0x1000, False, pid)   # PROCESS_QUERY_LIMITED_INFORMATION
    if not handle:
        return ctypes.get_last_error() == 5    # ERROR_ACCESS_DENIED: it exists
    try:
        code = ctypes.c_ulong()
        ok = kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        return not ok or code.value == 259     # STILL_ACTIVE
    finally:
        kernel32.CloseHandle(handle)
