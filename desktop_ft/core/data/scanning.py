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

Feeding the data to a model is :mod:`desktop_ft.core.data.datasets`.
"""

from __future__ import annotations

import csv
import io
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from desktop_ft.core.errors import UserError, Worded

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
TEXT_EXTENSIONS = (".txt",)
TABLE_EXTENSIONS = (".csv", ".tsv")
TEXT_COLUMN_CANDIDATES = ("text", "sentence", "review", "content", "document", "body")
LABEL_COLUMN_CANDIDATES = ("label", "class", "category", "target", "sentiment", "y")
VAL_FOLDER_NAMES = ("val", "validation", "valid")
TINY_CLASS = 5          # fewer examples than this in a class: warn
IMBALANCE_RATIO = 5.0   # largest / smallest class above this: warn
# The window's name for TrainJob.class_weights (its Train tab's checkbox), which the
# imbalance warning points to there.
CLASS_WEIGHTS_BOX = "Class weights (balance classes)"


class ScanCancelled(UserError):
    pass


@dataclass
class Split:
    """Examples of one split: ``items`` are file paths (images) or strings (text)."""

    items: list
    labels: list[int]

    def __len__(self) -> int:
        return len(self.items)

    def counts(self, num_classes: int) -> list[int]:
        counts = [0] * num_classes
        for y in self.labels:
            counts[y] += 1
        return counts


@dataclass
class DataScan:
    """What a scan found. ``kind`` is ``"images"`` or ``"text"``."""

    kind: str
    root: str
    classes: list[str]
    train: Split
    val: Split | None = None
    test: Split | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    layout: str = "class folders"

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def counts(self) -> dict[str, int]:
        """Examples per class over all splits."""
        total = [0] * self.num_classes
        for split in (self.train, self.val, self.test):
            if split is not None:
                for i, c in enumerate(split.counts(self.num_classes)):
                    total[i] += c
        return dict(zip(self.classes, total))

    def summary(self) -> dict:
        """A JSON-friendly description (used by the CLI and the GUI's data panel)."""
        out = {"kind": self.kind, "root": self.root, "layout": self.layout,
               "classes": self.classes, "counts": self.counts(), "train": len(self.train),
               "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
               "warnings": list(self.warnings)}
        out.update({name: len(split) for name, split in (("val", self.val),
                                                          ("test", self.test))
                    if split is not None})
        return out


# --------------------------------------------------------------------------- scanning

def scan(path: str | os.PathLike, kind: str | None = None, *, text_column: str | None = None,
         label_column: str | None = None, classes: list[str] | None = None,
         stop=None) -> DataScan:
    """Scan ``path`` (a folder or a CSV/TSV file) and return a :class:`DataScan`.

    ``kind`` forces ``"images"`` or ``"text"``; by default it is guessed from the files.
    ``classes`` fixes the class order (e.g. a trained model's labels) — then the data may
    hold a subset of them but no others. Setting ``stop`` (a ``threading.Event``) ends a
    long scan early with :class:`ScanCancelled`.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise UserError(f"{p} does not exist. Expected a folder with one subfolder per class"
                        " (or a CSV/TSV file of texts and labels).")
    if p.is_file():
        if p.suffix.lower() in TABLE_EXTENSIONS:
            if kind == "images":
                raise UserError(f"{p} is a table; an image model needs a folder with one "
                                "subfolder of images per class.")
            return _scan_table(p, text_column, label_column, classes)
        raise UserError(f"{p} is a file, not a dataset. Expected a folder with one subfolder per "
                        "class (images or .txt files), or a .csv/.tsv file with a text and a "
                        "label column.")

    split_dirs = _find_split_folders(p)
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
            sub = _scan_class_folders(d, train.kind, known, True, stop)
            setattr(result, name, sub.train)
            result.skipped += sub.skipped
        return result
    return _scan_class_folders(p, kind, classes, classes is not None, stop)


def _find_split_folders(root: Path):
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


def _scan_class_folders(root: Path, kind: str | None, classes: list[str] | None,
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
    check = _check_image if kind == "images" else _read_text
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
    scan_.warnings = _warnings(scan_)
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


def _check_image(path: Path) -> tuple[bool, str]:
    """(True, "") when PIL can fully decode the file, else (False, reason)."""
    try:
        if path.stat().st_size == 0:
            return False, "zero bytes"
        from PIL import Image

        with Image.open(path) as im:
            im.load()   # decodes every pixel: catches truncated files that verify() accepts
            if im.width < 1 or im.height < 1:
                return False, "empty image"
        return True, ""
    except OSError as e:
        msg = str(e)
        if "truncated" in msg.lower():
            return False, "truncated image"
        if "cannot identify image file" in msg:
            return False, "not an image (cannot identify image format)"
        return False, f"unreadable ({msg})"
    except Exception as e:  # PIL raises assorted errors on hostile files
        return False, f"undecodable image ({type(e).__name__}: {e})"


def decode_text(data: bytes) -> tuple[str | None, str]:
    """(text, encoding): UTF-8 (with or without BOM) first, else the encoding
    charset-normalizer settles on (Excel on Windows writes cp1252); (None, "") when it
    cannot tell."""
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    # Windows' Western code page first — what Excel writes, and the guess that short
    # texts otherwise get wrong (café read as cp1006) — unless the text makes no sense
    # in it; then whatever charset-normalizer finds most coherent.
    western = from_bytes(data, cp_isolation=["cp1252"]).best()
    best = western if western is not None and western.chaos < 0.2 else from_bytes(data).best()
    if best is None:
        return None, ""
    return str(best), best.encoding


def _read_text(path: Path) -> tuple[bool, str]:
    try:
        raw = path.read_bytes()
    except OSError as e:
        return False, f"unreadable ({e.strerror or e})"
    if not raw:
        return False, "zero bytes"
    text, _ = decode_text(raw)
    if text is None:
        return False, "undecodable text (neither UTF-8 nor a recognisable encoding)"
    text = text.strip()
    if not text:
        return False, "empty text (only whitespace)"
    return True, text


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


def _scan_table(path: Path, text_column: str | None, label_column: str | None,
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
    result.warnings = _warnings(result)
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


def _warnings(scan_: DataScan) -> list[str]:
    counts = scan_.counts()
    out = []
    for name, n in counts.items():
        if 0 < n < TINY_CLASS:
            out.append(f"Class '{name}' has only {n} example(s); results will be unreliable.")
        elif n == 0:
            out.append(f"Class '{name}' has no examples in this data.")
    nonzero = [n for n in counts.values() if n]
    if nonzero and max(nonzero) / min(nonzero) > IMBALANCE_RATIO:
        big = max(counts, key=counts.get)
        small = min((k for k in counts if counts[k]), key=counts.get)
        facts = (f"Classes are imbalanced: '{big}' has {counts[big]} examples, '{small}' "
                 f"{counts[small]}.")
        out.append(Worded(f"{facts} Consider class weights (--class-weights).",
                          window=f"{facts} Consider ticking {CLASS_WEIGHTS_BOX} on the "
                                 "Train tab."))
    return out
