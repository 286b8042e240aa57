"""Scanning folders: one subfolder per class (images or .txt files), and the
``train/`` + ``val/`` (+ ``test/``) folders a dataset may already be split into."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from desktop_ft.core.data.file_checks import check_image, read_text
from desktop_ft.core.data.scan_result import DataScan, ScanCancelled, Split, class_warnings
from desktop_ft.core.errors import UserError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
TEXT_EXTENSIONS = (".txt",)
VAL_FOLDER_NAMES = ("val", "validation", "valid")


def find_split_folders(root: Path):
    names = {c.name.lower(): c for c in root.iterdir() if c.is_dir()}
    if "train" not in names:
        return None
    val = next((names[n] for n in VAL_FOLDER_NAMES if n in names), None)
    test = names.get("test")
    if val is None and test is None:
        return None
    return names["train"], val, test


def _class_dirs(root: Path) -> list[Path]:
    return sorted((c for c in root.iterdir() if c.is_dir() and not c.name.startswith(".")),
                  key=lambda c: c.name)


def _files_under(folder: Path) -> list[Path]:
    files = [f for f in folder.rglob("*") if f.is_file() and not f.name.startswith(".")]
    return sorted(files)


def scan_class_folders(root: Path, kind: str | None, classes: list[str] | None,
                       allow_subset: bool, stop=None) -> DataScan:
    dirs = _class_dirs(root)
    loose = [f for f in root.iterdir() if f.is_file() and not f.name.startswith(".")]
    if not dirs:
        what = f"{len(loose)} loose file(s) but no class subfolders" if loose else \
            "nothing (it is empty)"
        raise UserError(f"{root} holds {what}. Expected one subfolder "
                        "per class, e.g. cats/ and dogs/, each holding that class's images "
                        "(or .txt files).")
    files = {d.name: _files_under(d) for d in dirs}
    if kind is None:
        kind = _guess_kind(files)
    if classes is None:
        classes = [d.name for d in dirs]
        if len(classes) < 2:
            raise UserError(f"{root} has only one class folder ({classes[0]}); a classifier "
                            "needs at least 2 classes, one subfolder each.")
    else:
        unknown = [name for name in files if name not in classes]
        if unknown:
            raise UserError(f"{root} has classes the model does not know: {', '.join(unknown)}."
                            f" Known classes: {', '.join(classes)}.")

    skipped: list[tuple[str, str]] = []
    items, labels = [], []
    read = check_image if kind == "images" else read_text

    def check(f: Path):
        # Per file, so a cancel ends a class folder of thousands of files at once.
        if stop is not None and stop.is_set():
            raise ScanCancelled(f"Scanning {root} was cancelled.")
        return read(f)

    for name, paths in files.items():
        if stop is not None and stop.is_set():
            raise ScanCancelled(f"Scanning {root} was cancelled.")
        label = classes.index(name)
        wanted = []
        for f in paths:
            ext_ok = f.suffix.lower() in (IMAGE_EXTENSIONS if kind == "images" else TEXT_EXTENSIONS)
            if not ext_ok:
                skipped.append((str(f), f"not {'an image' if kind == 'images' else 'a .txt file'}"
                                f" ({f.suffix or 'no extension'})"))
            else:
                wanted.append(f)
        with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2) * 2)) as pool:
            results = list(pool.map(check, wanted))
        n_ok = 0
        for f, (ok, value) in zip(wanted, results):
            if ok:
                items.append(str(f) if kind == "images" else value)
                labels.append(label)
                n_ok += 1
            else:
                skipped.append((str(f), value))
        if n_ok == 0 and not allow_subset:
            raise UserError(f"Class folder '{name}' in {root} has no usable "
                            f"{'images' if kind == 'images' else 'text files'}"
                            f" ({len(paths)} file(s) found, none usable). Every class needs "
                            "examples.")
    scan_ = DataScan(kind, str(root), list(classes), Split(items, labels), skipped=skipped)
    scan_.warnings = class_warnings(scan_)
    return scan_


def _guess_kind(files: dict[str, list[Path]]) -> str:
    n_img = n_txt = 0
    for paths in files.values():
        for f in paths:
            ext = f.suffix.lower()
            n_img += ext in IMAGE_EXTENSIONS
            n_txt += ext in TEXT_EXTENSIONS
    if n_img == 0 and n_txt == 0:
        raise UserError("The class folders hold no images (jpg, jpeg, png, bmp, gif, webp) and "
                        "no .txt files.")
    return "images" if n_img >= n_txt else "text"
