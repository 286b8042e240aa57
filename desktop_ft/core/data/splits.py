"""Holding data out: the stratified validation split, and balanced class weights."""

from __future__ import annotations

import random

from desktop_ft.core.data import DataScan, Split
from desktop_ft.core.errors import UserError


def split_validation(scan_: DataScan, val_split: float,
                     seed: int = 0) -> tuple[Split, Split | None]:
    """Return (train, val). Uses ``scan_.val`` when the data had one, else a stratified split.

    Each class keeps at least one training example; a class with a single example gives
    none to validation. Multi-label rows (tuples) are stratified by their rarest label
    (rows with no label form a group of their own), so a rare label still reaches
    validation when it can.
    """
    if scan_.val is not None and len(scan_.val):
        return scan_.train, scan_.val
    if not val_split or val_split <= 0:
        return scan_.train, None
    if not 0 < val_split < 1:
        raise UserError(f"--val-split must be between 0 and 1, got {val_split}.")
    rng = random.Random(seed)
    by_class: dict[int, list[int]] = {}
    for i, y in enumerate(_strata(scan_.train, scan_.num_classes)):
        by_class.setdefault(y, []).append(i)
    train_idx, val_idx = [], []
    for _, idx in sorted(by_class.items()):
        idx = idx[:]
        rng.shuffle(idx)
        n_val = int(round(len(idx) * val_split))
        n_val = min(max(n_val, 1 if len(idx) > 1 else 0), len(idx) - 1)
        val_idx += idx[:n_val]
        train_idx += idx[n_val:]
    train_idx.sort()
    val_idx.sort()
    items, labels = scan_.train.items, scan_.train.labels
    return (Split([items[i] for i in train_idx], [labels[i] for i in train_idx]),
            Split([items[i] for i in val_idx], [labels[i] for i in val_idx]) if val_idx else None)


def _strata(split: Split, num_classes: int) -> list[int]:
    """The group each example is stratified by: its class; for a set of labels the rarest
    of them (-1 for a row with no label)."""
    if not any(isinstance(y, tuple) for y in split.labels):
        return list(split.labels)
    counts = split.counts(num_classes)
    return [min(y, key=lambda i: (counts[i], i)) if y else -1 for y in split.labels]


def class_weights(split: Split, num_classes: int) -> dict[int, float]:
    """Balanced class weights, n_samples / (n_classes * n_class). Multi-label: n_samples
    counts label occurrences, and an example is weighted by its rarest label's weight
    (:func:`desktop_ft.core.data.datasets.targets_and_weights`)."""
    counts = split.counts(num_classes)
    total = sum(counts)
    return {i: (total / (num_classes * c) if c else 0.0) for i, c in enumerate(counts)}
