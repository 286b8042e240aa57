"""Which columns of a table hold what: the item (a text, or an image file's path), and the
labels — one label column (one label per row, or several separated by ``;`` or ``|``) or
one 0/1 column per label (one-hot). :func:`find_layout` decides from the header and the
rows; :class:`TableLayout` is its answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from desktop_ft.core.data.label_sets import holds_several, one_hot_value
from desktop_ft.core.errors import UserError

TEXT_COLUMN_CANDIDATES = ("text", "sentence", "review", "content", "document", "body")
LABEL_COLUMN_CANDIDATES = ("label", "class", "category", "target", "sentiment", "y")
LABELS_COLUMN_CANDIDATES = ("labels", "classes", "categories", "tags")
IMAGE_COLUMN_CANDIDATES = ("path", "image", "image_path", "img", "file", "filename",
                           "filepath", "file_path", "image_file")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")


@dataclass
class TableLayout:
    """``kind`` (``"text"``/``"images"``), the item column, and either ``label`` (one label
    column) or ``one_hot`` (one 0/1 column per label); ``multi_label``: a row holds a set."""

    kind: str
    item: int
    label: int | None
    multi_label: bool
    one_hot: list[int] = field(default_factory=list)

    def describe(self, header: list[str]) -> str:
        what = "image column" if self.kind == "images" else "text column"
        if self.one_hot:
            names = ", ".join(header[i] for i in self.one_hot)
            labels = f"one-hot label columns {names}"
        elif self.multi_label:
            labels = f"label column '{header[self.label]}', several labels per row " \
                     "separated by ; or |"
        else:
            labels = f"label column '{header[self.label]}'"
        prefix = "multi-label table" if self.multi_label else "table"
        return f"{prefix} ({what} '{header[self.item]}', {labels})"


def find_layout(path: Path, header: list[str], rows: list[list[str]], kind: str | None,
                columns: tuple[str | None, str | None],
                multi_label: bool | None) -> TableLayout:
    """The layout of a table. ``columns`` are the (item, label) columns asked for (None:
    found by name); ``kind`` forces images or text; ``multi_label`` True reads the label
    column as several labels per row, False refuses data with several, None decides from
    the cells."""
    text_column, label_column = columns
    lower = [h.lower() for h in header]
    item, kind = _item_column(path, header, lower, text_column, kind, rows)
    label = None
    if label_column or _find(lower, LABEL_COLUMN_CANDIDATES + LABELS_COLUMN_CANDIDATES,
                             skip=item) is not None:
        label = _pick(path, header, lower, label_column,
                      LABEL_COLUMN_CANDIDATES + LABELS_COLUMN_CANDIDATES, "label", item)
    if label is None:
        one_hot = _one_hot_columns(header, rows, item)
        if len(one_hot) >= 2:
            if multi_label is False:
                names = ", ".join(header[i] for i in one_hot)
                raise UserError(f"{path} has one-hot label columns ({names}): several "
                                "labels per row, but this data must have one label per row.")
            return TableLayout(kind, item, None, True, one_hot)
        label = _pick(path, header, lower, None, LABEL_COLUMN_CANDIDATES, "label", item)
    several = [r[label] for r in rows if len(r) > label and holds_several(r[label])]
    if multi_label is False and several:
        raise UserError(f"{path} has several labels in a row (e.g. '{several[0].strip()}'), "
                        "but this data must have one label per row.")
    return TableLayout(kind, item, label, bool(multi_label or several))


def _item_column(path, header, lower, wanted, kind, rows) -> tuple[int, str]:
    """(index, kind) of the column holding texts or image paths."""
    if kind == "images":
        if wanted:
            return _pick(path, header, lower, wanted, IMAGE_COLUMN_CANDIDATES, "image", None), \
                "images"
        found = _find(lower, IMAGE_COLUMN_CANDIDATES)
        if found is None:
            raise UserError(f"{path} has no image-path column (looked for "
                            f"{', '.join(IMAGE_COLUMN_CANDIDATES)}). An image model needs a "
                            "folder with one subfolder of images per class, or a table with "
                            "a column of image paths.")
        return found, "images"
    if kind is None and not wanted and _find(lower, TEXT_COLUMN_CANDIDATES) is None:
        found = _find(lower, IMAGE_COLUMN_CANDIDATES)
        if found is not None:
            return found, "images"
    index = _pick(path, header, lower, wanted, TEXT_COLUMN_CANDIDATES, "text", None)
    if kind is None and _mostly_image_paths(rows, index):
        return index, "images"
    return index, kind or "text"


def _mostly_image_paths(rows, index: int) -> bool:
    cells = [r[index].strip() for r in rows if len(r) > index and r[index].strip()]
    paths = sum(c.lower().endswith(IMAGE_SUFFIXES) for c in cells)
    return bool(cells) and paths * 2 > len(cells)


def _one_hot_columns(header, rows, item: int) -> list[int]:
    """The columns (besides the item's) whose filled cells are mostly 0 or 1."""
    out = []
    for i in range(len(header)):
        if i == item:
            continue
        cells = [r[i] for r in rows if len(r) > i and r[i].strip()]
        good = sum(one_hot_value(c) is not None for c in cells)
        if cells and good * 2 > len(cells):
            out.append(i)
    return out


def _find(lower, candidates, skip=None) -> int | None:
    for c in candidates:
        if c in lower and lower.index(c) != skip:
            return lower.index(c)
    return None


def _pick(path, header, lower, wanted, candidates, what, skip) -> int:
    if wanted:
        if wanted.lower() in lower:
            return lower.index(wanted.lower())
        raise UserError(f"{path} has no column '{wanted}'. Columns: {', '.join(header)}.")
    found = _find(lower, candidates, skip)
    if found is not None:
        return found
    message = f"{path}: no {what} column found (looked for {', '.join(candidates)}). " \
        f"Columns: {', '.join(header)}."
    # (The window offers the table's columns beside this message.)
    flag = "text" if what == "image" else what
    raise UserError(f"{message} Name it with --{flag}-column.",
                    window_message=f"{message} Choose the {flag} column under Columns.")
