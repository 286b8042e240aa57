"""What a scan found: :class:`DataScan` (classes, splits, skipped files, warnings), its
:class:`Split` s, and the warnings about class sizes every scan carries."""

from __future__ import annotations

from dataclasses import dataclass, field

from desktop_ft.core.data.label_sets import label_facts, multi_label_warnings
from desktop_ft.core.errors import UserError, Worded

TINY_CLASS = 5          # fewer examples than this in a class: warn
IMBALANCE_RATIO = 5.0   # largest / smallest class above this: warn
# The window's name for TrainJob.class_weights (its Train tab's checkbox), which the
# imbalance warning points to there.
CLASS_WEIGHTS_BOX = "Class weights (balance classes)"


class ScanCancelled(UserError):
    pass


@dataclass
class Split:
    """Examples of one split: ``items`` are file paths (images) or strings (text).
    ``labels`` are class indices — or, in a multi-label scan, sorted tuples of label
    indices (an empty tuple: a row with no label)."""

    items: list
    labels: list

    def __len__(self) -> int:
        return len(self.items)

    def counts(self, num_classes: int) -> list[int]:
        counts = [0] * num_classes
        for y in self.labels:
            for i in (y if isinstance(y, tuple) else (y,)):
                counts[i] += 1
        return counts


@dataclass
class DataScan:
    """What a scan found. ``kind`` is ``"images"`` or ``"text"``. With ``multi_label`` a
    row may hold several labels (``classes`` are the label names, ``Split.labels`` tuples)."""

    kind: str
    root: str
    classes: list[str]
    train: Split
    val: Split | None = None
    test: Split | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    layout: str = "class folders"
    multi_label: bool = False

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def examples(self) -> int:
        """Examples (rows) over all splits — with several labels per row, fewer than the
        label occurrences :meth:`counts` adds up."""
        return sum(len(split) for split in (self.train, self.val, self.test)
                   if split is not None)

    def counts(self) -> dict[str, int]:
        """Examples per class (multi-label: occurrences of each label) over all splits."""
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
        if self.multi_label:
            out.update(label_facts(self, TINY_CLASS))
        return out


def class_warnings(scan_: DataScan) -> list[str]:
    """A class with few or no examples; classes far apart in size (a multi-label scan:
    :func:`desktop_ft.core.data.label_sets.multi_label_warnings`)."""
    if scan_.multi_label:
        return multi_label_warnings(scan_, TINY_CLASS, IMBALANCE_RATIO)
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
