"""Finding, validating and feeding training data.

A *scan* looks at a path once, before training, and says what it found: classes and
their counts, files it skipped and why, and warnings. It never raises for a single bad
file (the file is listed as skipped); it raises :class:`UserError` when the path as a
whole is not a dataset, naming what was expected.

Supported layouts
-----------------
Images: ``ROOT/<class>/**/*.jpg|jpeg|png|bmp|gif|webp``; or ``ROOT/train/<class>/...``
with ``ROOT/val`` (or ``validation``) and optionally ``ROOT/test`` beside it.
Text: ``ROOT/<class>/**/*.txt``, or a CSV/TSV file with a text and a label column.
Tables (:mod:`.tables`): a text or an image-path column, and a label column — several
labels per row when its cells hold ``a;b`` or ``a|b`` — or one 0/1 column per label
(one-hot); those are multi-label (``DataScan.multi_label``).

The scan of class folders is :mod:`.folders`, of tables :mod:`.tables`; each file is
read by :mod:`.file_checks`; the result and its warnings are :mod:`.scan_result`.
Feeding the data to a model is :mod:`desktop_ft.core.data.datasets`.
"""

from __future__ import annotations

import os
from pathlib import Path

from desktop_ft.core.data.folders import find_split_folders, scan_class_folders
from desktop_ft.core.data.scan_result import DataScan
from desktop_ft.core.data.tables import TABLE_EXTENSIONS, scan_table
from desktop_ft.core.errors import UserError


def scan(path: str | os.PathLike, kind: str | None = None, *, text_column: str | None = None,
         label_column: str | None = None, classes: list[str] | None = None,
         stop=None, multi_label: bool | None = None) -> DataScan:
    """Scan ``path`` (a folder or a CSV/TSV file) and return a :class:`DataScan`.

    ``kind`` forces ``"images"`` or ``"text"``; by default it is guessed from the files.
    ``classes`` fixes the class order (e.g. a trained model's labels) — then the data may
    hold a subset of them but no others. Setting ``stop`` (a ``threading.Event``) ends a
    long scan early with :class:`ScanCancelled`. ``multi_label`` (tables): True reads
    every label cell as a set of labels, False refuses several labels per row, None (the
    default) decides from the table.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise UserError(f"{p} does not exist. Expected a folder with one subfolder per class"
                        " (or a CSV/TSV file of texts and labels).")
    if p.is_file():
        if p.suffix.lower() in TABLE_EXTENSIONS:
            return scan_table(p, text_column, label_column, classes, kind=kind,
                              multi_label=multi_label, stop=stop)
        raise UserError(f"{p} is a file, not a dataset. Expected a folder with one subfolder per "
                        "class (images or .txt files), or a .csv/.tsv file with a text (or "
                        "image-path) column and a label column.")

    split_dirs = find_split_folders(p)
    if multi_label:
        raise UserError(f"{p} is a folder of class folders: one label per example. Several "
                        "labels per example come from a table (CSV/TSV) with a label column "
                        "(labels separated by ; or |) or one 0/1 column per label.")
    if split_dirs:
        train_dir, val_dir, test_dir = split_dirs
        train = scan(train_dir, kind, classes=classes, stop=stop)
        known = classes or train.classes
        result = DataScan(train.kind, str(p), train.classes, train.train,
                          skipped=list(train.skipped), warnings=list(train.warnings),
                          layout="train/val/test folders")
        for name, d in (("val", val_dir), ("test", test_dir)):
            if d is None:
                continue
            sub = scan_class_folders(d, train.kind, known, True, stop)
            setattr(result, name, sub.train)
            result.skipped += sub.skipped
        return result
    return scan_class_folders(p, kind, classes, classes is not None, stop)
