"""Synthetic image datasets for the benchmarks (coloured shapes, like the app's sample)."""

from pathlib import Path


def make_images(folder: Path, per_class: int = 64, size: int = 64) -> Path:
    from desktop_ft.core.data.sample_data import make_sample_dataset

    return make_sample_dataset(folder, per_class=per_class, size=size)
