"""Folders replaced atomically: written beside the target as ``.NAME.tmp-*``, swapped in
with ``os.replace``. A process killed at any point leaves either the previous folder or the
new one under the target's name — and, between the two renames, the previous one as
``.NAME.old-*``, which :func:`recover` puts back before anything else touches the target.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path


def temp_beside(target: Path) -> Path:
    """A fresh, empty folder next to ``target`` to write its new contents into."""
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    return tmp


def replace_dir(new: Path, target: Path) -> None:
    """Move ``new`` to ``target``; an existing target is swapped out, then removed. If the
    swap is interrupted, the previous target is put back."""
    old = None
    try:
        if target.exists():
            old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(target, old)
        os.replace(new, target)
    except BaseException:
        if old is not None and not target.exists():
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def recover(target: Path) -> None:
    """Undo what a killed process left beside ``target``: a previous version parked
    between the renames comes back; half-written temporaries are removed."""
    parent = target.parent
    if not parent.is_dir():
        return
    parked = sorted(parent.glob(f".{target.name}.old-*"), key=lambda p: p.stat().st_mtime)
    if parked and not target.exists():
        os.replace(parked.pop(), target)
    for leftover in [*parked, *parent.glob(f".{target.name}.tmp-*")]:
        shutil.rmtree(leftover, ignore_errors=True)
