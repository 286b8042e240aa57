"""Images named by a table: a path cell, relative to the table's folder or absolute, made
a file path, and every file checked (PIL decodes it) as the folder scan checks its files —
a missing or unreadable image is skipped and listed."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from desktop_ft.core.data.file_checks import check_image
from desktop_ft.core.data.scan_result import ScanCancelled


def image_path(table: Path, cell: str) -> Path:
    """The file a path cell names: absolute as written, else relative to the table's
    folder (``~`` expanded)."""
    p = Path(cell.strip()).expanduser()
    return p if p.is_absolute() else table.parent / p


def check_image_rows(table: Path, cells: list[str], stop=None) -> list[tuple[bool, str, str]]:
    """For each path cell: (ok, the image's path, reason when not ok). Files are decoded in
    parallel; setting ``stop`` ends the checks with :class:`ScanCancelled`."""

    def check(cell: str) -> tuple[bool, str, str]:
        if stop is not None and stop.is_set():
            raise ScanCancelled(f"Scanning {table} was cancelled.")
        path = image_path(table, cell)
        if not path.is_file():
            reason = "not a file (a folder)" if path.exists() else "no such image file"
            return False, str(path), reason
        ok, reason = check_image(path)
        return ok, str(path), reason

    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2) * 2)) as pool:
        return list(pool.map(check, cells))
