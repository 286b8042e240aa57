"""Synthetic image datasets for the benchmarks (coloured shapes, like the app's sample)."""

import argparse
from pathlib import Path


def image_bench_parser(doc: str, *, size: int, per_class: int,
                       epochs: int) -> argparse.ArgumentParser:
    """The options every image benchmark takes: image size, images per class, epochs."""
    ap = argparse.ArgumentParser(description=doc,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=size)
    ap.add_argument("--per-class", type=int, default=per_class)
    ap.add_argument("--epochs", type=int, default=epochs)
    return ap


def make_images(folder: Path, per_class: int = 64, size: int = 64) -> Path:
    from desktop_ft.core.data.sample_data import make_sample_dataset

    return make_sample_dataset(folder, per_class=per_class, size=size)
