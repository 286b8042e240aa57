"""Runs retention: the runs folder keeps the last ``keep`` finished runs and at most
``max_bytes`` in all, whichever cap is reached first; older runs are deleted.

Only runs that are over go: *finished*, *stopped* (by the user) and *failed*, oldest
first (by the time they were created). *Interrupted* runs (offered for resume) and
*running* ones are never removed — they stay until resumed or deleted by hand — but
they count towards the size cap. Only folders with a readable ``run.json`` are touched,
through :func:`~desktop_ft.core.training.runs.delete_run`, which refuses a run whose
process is alive.

``keep=0`` turns retention off (every run is kept); ``max_bytes=0`` (or None) turns off
only the size cap.

Example:
    >>> removed = prune_runs("runs/", keep=20, max_bytes=10e9, dry_run=True)
    >>> describe(removed, 20, 10e9)      # doctest: +SKIP
    'Removed 3 old runs (1.2 GB) to keep the last 20 finished runs and at most 10 GB.'
"""

from __future__ import annotations

import os
from pathlib import Path

from desktop_ft.core.errors import UserError
from desktop_ft.core.training.runs import default_runs_dir, delete_run, list_runs

DEFAULT_KEEP = 20
DEFAULT_MAX_GB = 10.0
# Statuses of runs that are over and may be removed; interrupted and running never are.
PRUNABLE = ("finished", "stopped", "failed")


def _root(root) -> Path:
    return Path(root).expanduser() if root else default_runs_dir()


def total_usage(root: str | os.PathLike | None = None) -> int:
    """Bytes used by every run under ``root`` (default: the user's runs folder)."""
    return sum(r["bytes"] or 0 for r in list_runs(_root(root)))


def plan_prune(runs: list[dict], keep: int = DEFAULT_KEEP,
               max_bytes: float | None = DEFAULT_MAX_GB * 1e9,
               protect: tuple = ()) -> list[dict]:
    """The runs (``list_runs`` summaries, with sizes) that the cap removes, oldest
    first. ``protect``: paths never removed (e.g. the run that just finished)."""
    if keep <= 0:
        return []
    protected = {Path(p).resolve() for p in protect}
    oldest_first = sorted(runs, key=lambda r: (r.get("created") or "", r["name"]))
    prunable = [r for r in oldest_first if r["status"] in PRUNABLE
                and not Path(r["path"]).is_symlink()
                and Path(r["path"]).resolve() not in protected]
    # Protected runs count as kept finished runs: the count cap keeps keep - 1 others.
    kept_finished = sum(r["status"] in PRUNABLE for r in runs) - len(prunable)
    over_count = max(0, len(prunable) + kept_finished - keep)
    doomed = prunable[:over_count]
    if max_bytes:
        total = sum(r["bytes"] or 0 for r in runs) - sum(r["bytes"] or 0 for r in doomed)
        for r in prunable[over_count:]:
            if total <= max_bytes:
                break
            doomed.append(r)
            total -= r["bytes"] or 0
    return doomed


def prune_runs(root: str | os.PathLike | None = None, keep: int = DEFAULT_KEEP,
               max_bytes: float | None = DEFAULT_MAX_GB * 1e9, *, protect: tuple = (),
               dry_run: bool = False) -> list[dict]:
    """Apply the cap to the runs under ``root``; return the summaries (``name``,
    ``path``, ``status``, ``created``, ``bytes`` …) of the runs removed — or, with
    ``dry_run``, of those that would be. A run that cannot be removed (it started running
    again, another process removed it first, a permission error) is skipped."""
    doomed = plan_prune(list_runs(_root(root)), keep, max_bytes, protect)
    return doomed if dry_run else remove_runs(doomed)


def remove_runs(runs: list[dict]) -> list[dict]:
    """Delete these runs (summaries, e.g. a confirmed :func:`plan_prune`); return those
    removed, skipping any that cannot be."""
    removed = []
    for r in runs:
        try:
            delete_run(r["path"])
        except (UserError, OSError):
            continue
        removed.append(r)
    return removed


def format_bytes(n: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} bytes"


def describe_cap(keep: int, max_bytes: float | None) -> str:
    if keep <= 0:
        return "every run is kept"
    cap = f"the last {keep} finished run{'s' if keep != 1 else ''}"
    return f"{cap} and at most {format_bytes(max_bytes)}" if max_bytes else cap


def describe(removed: list[dict], keep: int, max_bytes: float | None,
             verb: str = "Removed") -> str:
    """One line: what was removed and why (empty when nothing was)."""
    if not removed:
        return ""
    freed = sum(r["bytes"] or 0 for r in removed)
    n = len(removed)
    return (f"{verb} {n} old run{'s' if n != 1 else ''} ({format_bytes(freed)}) to keep "
            f"{describe_cap(keep, max_bytes)}.")


def after_run(run_path: str | os.PathLike, keep: int, max_gb: float | None,
              observer) -> list[dict]:
    """The cap applied when a run ends, in the folder that holds it, never removing it.
    Reports through ``observer.on_status``; a failure here never fails the training."""
    if keep <= 0:
        return []
    max_bytes = (max_gb or 0) * 1e9
    try:
        root = Path(run_path).parent
        removed = prune_runs(root, keep, max_bytes, protect=(run_path,))
        if removed:
            observer.on_status(f"{describe(removed, keep, max_bytes)[:-1]}; runs now use "
                               f"{format_bytes(total_usage(root))} in {root}.")
        return removed
    except Exception as e:   # noqa: BLE001 — pruning is housekeeping
        observer.on_status(f"Old runs were not pruned: {e}")
        return []


__all__ = ["DEFAULT_KEEP", "DEFAULT_MAX_GB", "PRUNABLE", "after_run", "describe",
           "describe_cap", "format_bytes", "plan_prune", "prune_runs", "remove_runs",
           "total_usage"]
