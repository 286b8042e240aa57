"""Scanning a CSV/TSV table of texts and labels: its encoding and delimiter, which
columns hold the text and the label, and the rows it skips."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from desktop_ft.core.data.file_checks import decode_text
from desktop_ft.core.data.scan_result import DataScan, Split, class_warnings
from desktop_ft.core.errors import UserError

TABLE_EXTENSIONS = (".csv", ".tsv")
TEXT_COLUMN_CANDIDATES = ("text", "sentence", "review", "content", "document", "body")
LABEL_COLUMN_CANDIDATES = ("label", "class", "category", "target", "sentiment", "y")


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
    delimiter = "\t" if path.suffix.lower() == ".tsv" else _sniff_delimiter(raw)
    reader = csv.reader(io.StringIO(raw), delimiter=delimiter)
    try:
        return [h.strip() for h in next(reader)], reader, encoding
    except (StopIteration, csv.Error) as e:
        raise UserError(f"{path} could not be read as a table: {e}") from None


def scan_table(path: Path, text_column: str | None, label_column: str | None,
               classes: list[str] | None) -> DataScan:
    header, reader, encoding = _read_table(path)
    lower = [h.lower() for h in header]
    t_idx = _pick_column(path, header, lower, text_column, TEXT_COLUMN_CANDIDATES, "text")
    l_idx = _pick_column(path, header, lower, label_column, LABEL_COLUMN_CANDIDATES, "label")
    rows: list[tuple[str, str]] = []
    skipped = []
    for line_no, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(t_idx, l_idx):
            skipped.append((f"{path}:{line_no}", "missing columns"))
            continue
        text, label = row[t_idx].strip(), row[l_idx].strip()
        if not text:
            skipped.append((f"{path}:{line_no}", "empty text"))
        elif not label:
            skipped.append((f"{path}:{line_no}", "empty label"))
        else:
            rows.append((text, label))
    found = sorted({label for _, label in rows}, key=_label_sort_key)
    if classes is None:
        classes = found
        if len(classes) < 2:
            raise UserError(f"{path} has {len(classes)} distinct label(s) in column "
                            f"'{header[l_idx]}'; a classifier needs at least 2 classes.")
    else:
        unknown = [c for c in found if c not in classes]
        if unknown:
            raise UserError(f"{path} has labels the model does not know: {', '.join(unknown)}.")
    split = Split([t for t, _ in rows], [classes.index(lbl) for _, lbl in rows])
    result = DataScan("text", str(path), list(classes), split, skipped=skipped,
                      layout=f"table (text column '{header[t_idx]}', label column "
                             f"'{header[l_idx]}')")
    result.warnings = class_warnings(result)
    if encoding not in ("utf-8", "ascii"):
        result.warnings.insert(0, f"{path.name} is not UTF-8; it was read as {encoding}.")
    return result


def _sniff_delimiter(raw: str) -> str:
    try:
        return csv.Sniffer().sniff(raw[:4096], delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _pick_column(path, header, lower, wanted, candidates, what) -> int:
    if wanted:
        if wanted.lower() in lower:
            return lower.index(wanted.lower())
        raise UserError(f"{path} has no column '{wanted}'. Columns: {', '.join(header)}.")
    for c in candidates:
        if c in lower:
            return lower.index(c)
    found = f"{path}: no {what} column found (looked for {', '.join(candidates)}). " \
        f"Columns: {', '.join(header)}."
    # (The window offers the table's columns beside this message.)
    raise UserError(f"{found} Name it with --{what}-column.",
                    window_message=f"{found} Choose the {what} column under Columns.")


def _label_sort_key(label: str):
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)

