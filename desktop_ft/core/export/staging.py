"""The staging folder of an export written in a subprocess, and the bound on how long
that subprocess may take.

An export through another backend first writes ``model.keras`` and the reference
probabilities to ``.desktop-ft-stage-*`` beside ``OUT`` (same file system, so the final
swap is a rename). The folder is removed when the export ends, however it ends — except
when the exporting process itself is killed. So each stage holds ``owner.json`` (the
exporting process and its subprocess); the next export beside it removes stages whose
processes are all gone, and those without an owner after a day.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

from desktop_ft.core import atomic
from desktop_ft.core.errors import UserError

STAGE_PREFIX = ".desktop-ft-stage-"
OWNER = "owner.json"
TIMEOUT_VARIABLE = "DESKTOP_FT_EXPORT_TIMEOUT"
DEFAULT_TIMEOUT_S = 2 * 3600.0   # a base-size model's int8 LiteRT on 2 cores is minutes
UNOWNED_STALE_S = 24 * 3600.0    # a stage predating owner.json, or a remote one


def export_timeout() -> float:
    """Seconds an export subprocess may run in all: ``DESKTOP_FT_EXPORT_TIMEOUT``, else
    two hours."""
    raw = os.environ.get(TIMEOUT_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise UserError(f"{TIMEOUT_VARIABLE} must be a number of seconds above 0, got "
                        f"'{raw}'.")
    return value


def timeout_message(seconds: float, via: str, kept: str) -> str:
    took = f"{seconds / 60:g} minutes" if seconds >= 60 else f"{seconds:g} s"
    return (f"The export through {via} did not finish within {took} and was stopped; "
            f"{kept}. If this model needs longer on this machine, set {TIMEOUT_VARIABLE} "
            f"to the seconds to allow.")


def end_with_parent(poll_s: float = 2.0) -> None:
    """In the export subprocess: end it soon after the process that started it is gone.
    Killed, that process reads no result, and a subprocess stuck without it would keep
    its stage owned for good. (POSIX hands an orphan to another parent; Windows keeps
    the dead one's pid, hence both checks.)"""
    import threading

    parent = os.getppid()

    def watch():
        while os.getppid() == parent and atomic.pid_alive(parent):
            time.sleep(poll_s)
        os._exit(3)

    threading.Thread(target=watch, name="desktop-ft-parent-watch", daemon=True).start()


def new_stage(parent: Path) -> Path:
    """A fresh stage beside ``OUT`` (in ``parent``), owned by this process; abandoned
    stages there are removed first."""
    reclaim_stale_stages(parent)
    stage = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=parent))
    _write_owner(stage, [os.getpid()])
    return stage


def add_owner(stage: Path, pid: int) -> None:
    """``pid`` (the export subprocess, which reads the stage) owns it too."""
    _write_owner(stage, [*_owner(stage)["pids"], pid])


def _write_owner(stage: Path, pids: list[int]) -> None:
    (stage / OWNER).write_text(json.dumps({"pids": pids, "host": socket.gethostname()}))


def _owner(stage: Path) -> dict:
    return json.loads((stage / OWNER).read_text())


def reclaim_stale_stages(parent: Path) -> list[Path]:
    """Remove the stages in ``parent`` that no live process owns; return them. A stage
    another machine owns (a shared folder) or one without a readable owner is removed
    only after a day."""
    removed = []
    for stage in Path(parent).glob(f"{STAGE_PREFIX}*"):
        if stage.is_dir() and _abandoned(stage):
            shutil.rmtree(stage, ignore_errors=True)
            removed.append(stage)
    return removed


def _abandoned(stage: Path) -> bool:
    try:
        owner = _owner(stage)
        local = owner.get("host") == socket.gethostname()
        pids = [int(p) for p in owner["pids"]]
    except (OSError, ValueError, KeyError, TypeError):
        local, pids = False, []
    if local:
        return not any(atomic.pid_alive(p) for p in pids)
    try:
        return time.time() - stage.stat().st_mtime > UNOWNED_STALE_S
    except FileNotFoundError:
        return False
