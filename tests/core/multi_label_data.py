"""Synthetic multi-label tasks whose labels are visible in the input: sentences holding
the words of each of their labels, and images holding a shape of each of their labels'
colours. Every label is present in about half the rows, independently of the others,
so a constant answer has a mean average precision near 0.5 and learning shows as
clearly more."""

from __future__ import annotations

import numpy as np
from PIL import Image

from desktop_ft.core.data import DataScan, Split
from tests.conftest import WORDS

TEXT_LABELS = ["negative", "positive", "the"]
IMAGE_LABELS = ["blue", "green", "red"]
IMAGE_COLOURS = {"blue": (40, 60, 230), "green": (40, 210, 60), "red": (230, 40, 40)}


def label_sets(rng, n: int, labels: int) -> list[tuple]:
    """``n`` sets of label indices, each label in a row with probability 1/2."""
    return [tuple(int(i) for i in np.flatnonzero(rng.random(labels) < 0.5))
            for _ in range(n)]


def sentence(rng, labels: tuple) -> str:
    """"this is" and a filler, with two words of each of ``labels`` (negative, positive
    words; "the"), in random order."""
    words = ["this", "is", "a"]
    if 0 in labels:
        words += list(rng.choice(WORDS["neg"], 2))
    if 1 in labels:
        words += list(rng.choice(WORDS["pos"], 2))
    if 2 in labels:
        words += ["the", "the"]
    rng.shuffle(words)
    return " ".join(words)


def text_split(n: int, seed: int) -> Split:
    rng = np.random.default_rng(seed)
    sets = label_sets(rng, n, len(TEXT_LABELS))
    return Split([sentence(rng, s) for s in sets], sets)


def text_scan(n_train: int = 64, n_val: int = 32, n_test: int = 32) -> DataScan:
    """A multi-label text scan with train, validation and test splits."""
    return DataScan("text", "synthetic sentences", list(TEXT_LABELS), text_split(n_train, 0),
                    val=text_split(n_val, 1), test=text_split(n_test, 2),
                    layout="synthetic", multi_label=True)


def image(rng, labels: tuple, size: int) -> np.ndarray:
    """A dark noisy image with a square of each label's colour, one per quadrant-ish
    place (they may touch but never hide each other)."""
    a = rng.integers(0, 60, (size, size, 3)).astype(np.uint8)
    side = size // 2 - 2
    corners = [(1, 1), (1, size // 2 + 1), (size // 2 + 1, 1)]
    for i in labels:
        y, x = corners[i]
        dy, dx = rng.integers(0, 2, 2)
        a[y + dy:y + dy + side - 1, x + dx:x + dx + side - 1] = \
            IMAGE_COLOURS[IMAGE_LABELS[i]]
    return a


def image_split(root, n: int, seed: int, size: int = 32) -> Split:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    sets = label_sets(rng, n, len(IMAGE_LABELS))
    items = []
    for k, s in enumerate(sets):
        path = root / f"{seed}_{k}.png"
        Image.fromarray(image(rng, s, size)).save(path)
        items.append(str(path))
    return Split(items, sets)


def image_scan(root, n_train: int = 48, n_val: int = 24, n_test: int = 24,
               size: int = 32) -> DataScan:
    """A multi-label image scan (PNG files under ``root``) with train, validation and
    test splits."""
    return DataScan("images", str(root), list(IMAGE_LABELS),
                    image_split(root / "train", n_train, 10, size),
                    val=image_split(root / "val", n_val, 11, size),
                    test=image_split(root / "test", n_test, 12, size),
                    layout="synthetic", multi_label=True)


SHAPE_LABELS = ["circle", "cross", "square"]


def shape_image(rng, labels: tuple, size: int) -> np.ndarray:
    """A noisy grey image with a shape of each label (circle, cross, square), each in a
    random bright colour in its own place (shuffled between three corners): the labels
    are the shapes, whatever their colour or place."""
    a = rng.integers(60, 120, (size, size, 3)).astype(np.uint8)
    side = size // 2 - 4
    corners = [(2, 2), (2, size // 2 + 2), (size // 2 + 2, size // 4)]
    order = rng.permutation(3)
    yy, xx = np.mgrid[:side, :side]
    c = (side - 1) / 2
    masks = {"circle": (yy - c) ** 2 + (xx - c) ** 2 <= (side / 2.2) ** 2,
             "cross": (np.abs(yy - c) <= side / 8) | (np.abs(xx - c) <= side / 8),
             "square": (np.abs(yy - c) <= side / 2.6) & (np.abs(xx - c) <= side / 2.6)}
    for i in labels:
        y, x = corners[order[i]]
        colour = rng.integers(0, 256, 3)
        colour[rng.integers(0, 3)] = 255
        patch = a[y:y + side, x:x + side]
        patch[masks[SHAPE_LABELS[i]]] = colour
    return a


def shape_scan(root, n_train: int, n_val: int, n_test: int, size: int) -> DataScan:
    """A multi-label image scan of :func:`shape_image` files under ``root``."""
    def split(name, n, seed):
        rng = np.random.default_rng(seed)
        (root / name).mkdir(parents=True, exist_ok=True)
        sets = label_sets(rng, n, len(SHAPE_LABELS))
        items = []
        for k, s in enumerate(sets):
            items.append(str(root / name / f"{k}.png"))
            Image.fromarray(shape_image(rng, s, size)).save(items[-1])
        return Split(items, sets)

    return DataScan("images", str(root), list(SHAPE_LABELS), split("train", n_train, 20),
                    val=split("val", n_val, 21), test=split("test", n_test, 22),
                    layout="synthetic", multi_label=True)
