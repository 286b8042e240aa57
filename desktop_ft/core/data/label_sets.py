"""Several labels per row: reading a cell such as ``billing;delivery`` (or
``billing|delivery``) and a one-hot cell (``0``/``1``), and the facts a multi-label scan
states — how often each label occurs, which labels occur together, rows with no label and
labels too rare to learn."""

from __future__ import annotations

from itertools import combinations

SEPARATORS = (";", "|")
ONE_HOT_VALUES = {"0": False, "1": True, "0.0": False, "1.0": True}
NO_LABEL = "(no label)"
# The most frequent pairs the warnings and the CLI name (the summary lists them all).
TOP_PAIRS = 5


def split_cell(cell: str) -> list[str]:
    """The labels of one cell, split at ``;`` or ``|``, blanks dropped, duplicates once:
    ``"billing; delivery"`` → ``["billing", "delivery"]``."""
    parts = [cell]
    for sep in SEPARATORS:
        parts = [piece for part in parts for piece in part.split(sep)]
    out: list[str] = []
    for piece in (p.strip() for p in parts):
        if piece and piece not in out:
            out.append(piece)
    return out


def holds_several(cell: str) -> bool:
    """A label cell that names two labels or more (``a;b``, ``a | b``)."""
    return len(split_cell(cell)) > 1


def one_hot_value(cell: str) -> bool | None:
    """True / False for a one-hot cell (1 or 0), None for anything else."""
    return ONE_HOT_VALUES.get(cell.strip())


def label_text(labels, classes: list[str]) -> str:
    """A row's labels as the window and the CLI write them: ``"billing; delivery"``."""
    if not isinstance(labels, tuple):
        return classes[labels]
    return "; ".join(classes[i] for i in labels) if labels else NO_LABEL


def _all_labels(scan_) -> list[tuple]:
    out: list[tuple] = []
    for split in (scan_.train, scan_.val, scan_.test):
        if split is not None:
            out += [y if isinstance(y, tuple) else (y,) for y in split.labels]
    return out


def cooccurrence(label_sets: list[tuple], classes: list[str]) -> list[dict]:
    """Pairs of labels that occur in the same row, with how many rows hold both; the most
    frequent first: ``[{"labels": ["billing", "delivery"], "count": 12}, …]``."""
    pairs: dict[tuple[int, int], int] = {}
    for labels in label_sets:
        for a, b in combinations(sorted(set(labels)), 2):
            pairs[(a, b)] = pairs.get((a, b), 0) + 1
    ordered = sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
    return [{"labels": [classes[a], classes[b]], "count": n} for (a, b), n in ordered]


def label_facts(scan_, rare_below: int) -> dict:
    """The multi-label part of ``DataScan.summary()``: ``label_counts`` (rows holding each
    label), ``cooccurrence`` (pairs), ``no_label_rows``, ``rare_labels`` (on fewer than
    ``rare_below`` rows; that number too) and ``labels_per_row`` (the mean)."""
    label_sets = _all_labels(scan_)
    counts = scan_.counts()
    rows = len(label_sets)
    return {"multi_label": True, "label_counts": counts,
            "cooccurrence": cooccurrence(label_sets, scan_.classes),
            "no_label_rows": sum(1 for labels in label_sets if not labels),
            "rare_labels": [name for name, n in counts.items() if n < rare_below],
            "rare_below": rare_below,
            "labels_per_row": round(sum(map(len, label_sets)) / rows, 3) if rows else 0.0}


def multi_label_warnings(scan_, rare_below: int, imbalance_ratio: float) -> list:
    """A multi-label scan's warnings: labels too rare to learn (on fewer than
    ``rare_below`` rows) or never present, rows with no label, labels far apart in
    frequency (more than ``imbalance_ratio``)."""
    facts = label_facts(scan_, rare_below)
    counts = facts["label_counts"]
    out: list = []
    for name, n in counts.items():
        if n == 0:
            out.append(f"Label '{name}' is on no row of this data.")
        elif n < rare_below:
            out.append(f"Label '{name}' is on only {n} row(s): too rare to learn; results for "
                       "it will be unreliable.")
    if facts["no_label_rows"]:
        out.append(f"{facts['no_label_rows']} row(s) have no label; they are kept and teach "
                   "the model that none of the labels applies.")
    nonzero = {k: n for k, n in counts.items() if n}
    if nonzero and max(nonzero.values()) / min(nonzero.values()) > imbalance_ratio:
        big = max(nonzero, key=nonzero.get)
        small = min(nonzero, key=nonzero.get)
        # (Each label's own threshold, chosen on validation, makes up for rarity.)
        out.append(f"Labels are imbalanced: '{big}' is on {counts[big]} rows, '{small}' on "
                   f"{counts[small]}; more rows with '{small}' would help.")
    return out
