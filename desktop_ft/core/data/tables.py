"""Scanning a CSV/TSV table: its encoding and delimiter, which columns hold the item (a
text or an image file's path) and the labels (:mod:`.table_layout`), and the rows it skips.
A label cell may hold several labels (``billing;delivery``), or the labels may be one 0/1
column each: then the scan is multi-label (:mod:`.label_sets`)."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from desktop_ft.core.data.file_checks import decode_text
from desktop_ft.core.data.image_tables import check_image_rows
from desktop_ft.core.data.label_sets import one_hot_value, split_cell
from desktop_ft.core.data.scan_result import DataScan, Split, class_warnings
from desktop_ft.core.data.table_layout import (IMAGE_COLUMN_CANDIDATES, LABEL_COLUMN_CANDIDATES,
                                               TEXT_COLUMN_CANDIDATES, TableLayout, find_layout)
from desktop_ft.core.errors import UserError

__all__ = ["IMAGE_COLUMN_CANDIDATES", "LABEL_COLUMN_CANDIDATES", "TABLE_EXTENSIONS",
           "TEXT_COLUMN_CANDIDATES", "scan_table", "table_columns"]

TABLE_EXTENSIONS = (".csv", ".tsv")
# Tried in this order; the first whose header has two columns or more and whose rows
# mostly match it wins — so a comma table with "a;b" label cells stays a comma table.
DELIMITERS = (",", "\t", ";", "|")
SNIFF_ROWS = 50


def table_columns(path: str | os.PathLike) -> list[str]:
    """A CSV/TSV file's header row: the columns a text and a label column are chosen from
    (the window offers them)."""
    return _read_table(Path(path).expanduser())[0]


def _read_table(path: Path):
    """(header, reader over the rows after it, encoding)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UserError(f"{path} cannot be read ({e.strerror or e}).") from None
    raw, encoding = decode_text(data)
    if raw is None:
        raise UserError(f"{path} is not text in an encoding that can be recognised; save the "
                        "table as UTF-8 CSV.")
    if not raw.strip():
        raise UserError(f"{path} is empty. Expected a table with a header row, e.g. text,label.")
    delimiter = "\t" if path.suffix.lower() == ".tsv" else sniff_delimiter(raw)
    reader = csv.reader(io.StringIO(raw), delimiter=delimiter)
    try:
        return [h.strip() for h in next(reader)], reader, encoding
    except (StopIteration, csv.Error) as e:
        raise UserError(f"{path} could not be read as a table: {e}") from None


def sniff_delimiter(raw: str) -> str:
    """The delimiter of a table: the first of , TAB ; | that splits the header into two
    columns or more with most of the first rows the same width; ``,`` when none does."""
    best, best_score = ",", -1.0
    for delimiter in DELIMITERS:
        try:
            rows = [r for _, r in zip(range(SNIFF_ROWS), csv.reader(io.StringIO(raw[:65536]),
                                                                     delimiter=delimiter)) if r]
        except csv.Error:
            continue
        if not rows or len(rows[0]) < 2:
            continue
        same = sum(len(r) == len(rows[0]) for r in rows[1:]) / max(len(rows) - 1, 1)
        if same > best_score + 0.2:      # a later delimiter must fit clearly better
            best, best_score = delimiter, same
    return best


def scan_table(path: Path, text_column: str | None, label_column: str | None,
               classes: list[str] | None, *, kind: str | None = None,
               multi_label: bool | None = None, stop=None) -> DataScan:
    """Scan a table. ``kind`` forces images or text; ``multi_label``: True reads several
    labels per row, False refuses them, None decides from the cells."""
    header, reader, encoding = _read_table(path)
    lines = [(n, row) for n, row in enumerate(reader, start=2)
             if any(cell.strip() for cell in row)]
    layout = find_layout(path, header, [row for _, row in lines], kind,
                         (text_column, label_column), multi_label)
    rows, skipped = _read_rows(path, header, layout, lines)
    if layout.kind == "images":
        rows = _readable_images(path, rows, skipped, stop)
    classes = _classes(path, header, layout, rows, classes)
    index = {name: i for i, name in enumerate(classes)}
    labels = [tuple(sorted(index[n] for n in names)) if layout.multi_label else index[names]
              for _, names in rows]
    result = DataScan(layout.kind, str(path), list(classes), Split([it for it, _ in rows], labels),
                      skipped=skipped, layout=layout.describe(header),
                      multi_label=layout.multi_label)
    result.warnings = class_warnings(result)
    if encoding not in ("utf-8", "ascii"):
        result.warnings.insert(0, f"{path.name} is not UTF-8; it was read as {encoding}.")
    return result


def _read_rows(path: Path, header: list[str], layout: TableLayout, lines):
    """([(item, label or labels)], skipped): each row's item cell and its label names (a
    list for a multi-label layout), and the rows left out with why."""
    rows, skipped = [], []
    last = max([layout.item] + ([layout.label] if layout.label is not None else [])
               + layout.one_hot)
    for line_no, row in lines:
        where = f"{path}:{line_no}"
        if len(row) <= last:
            skipped.append((where, "missing columns"))
            continue
        item = row[layout.item].strip()
        if not item:
            skipped.append((where, "empty image path" if layout.kind == "images"
                            else "empty text"))
            continue
        if layout.one_hot:
            bad = [(header[i], row[i].strip()) for i in layout.one_hot
                   if one_hot_value(row[i]) is None]
            if bad:
                column, cell = bad[0]
                skipped.append((where, f"one-hot cell '{cell}' in column '{column}' is not "
                                       "0 or 1" if cell else f"empty cell in column '{column}'"))
                continue
            rows.append((item, [header[i] for i in layout.one_hot if one_hot_value(row[i])]))
            continue
        cell = row[layout.label].strip()
        if layout.multi_label:
            rows.append((item, split_cell(cell)))     # an empty cell: a row with no label
        elif not cell:
            skipped.append((where, "empty label"))
        else:
            rows.append((item, cell))
    return rows, skipped


def _readable_images(path: Path, rows: list, skipped: list, stop) -> list:
    """The rows whose image file PIL can decode, each with the image's full path; the
    others are added to ``skipped`` (by the image's path)."""
    checks = check_image_rows(path, [item for item, _ in rows], stop)
    out = []
    for (_, names), (ok, image, reason) in zip(rows, checks):
        if ok:
            out.append((image, names))
        else:
            skipped.append((image, reason))
    return out


def _classes(path: Path, header: list[str], layout: TableLayout, rows: list,
             classes: list[str] | None) -> list[str]:
    """The class (label) names: the ones given (the data may hold a subset, no others), or
    the ones found — a one-hot table's columns in their order, else sorted."""
    if layout.one_hot:
        found = [header[i] for i in layout.one_hot]
    else:
        names = {n for _, ns in rows for n in ns} if layout.multi_label else \
            {n for _, n in rows}
        found = sorted(names, key=_label_sort_key)
    if classes is None:
        if len(found) < 2:
            column = "its one-hot columns" if layout.one_hot else \
                f"column '{header[layout.label]}'"
            raise UserError(f"{path} has {len(found)} distinct label(s) in {column}; a "
                            f"classifier needs at least 2 "
                            f"{'labels' if layout.multi_label else 'classes'}.")
        return found
    unknown = [c for c in found if c not in classes]
    if unknown:
        raise UserError(f"{path} has labels the model does not know: {', '.join(unknown)}.")
    return list(classes)


def _label_sort_key(label: str):
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)
