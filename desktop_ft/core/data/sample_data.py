"""The built-in sample dataset: coloured shapes in three classes, generated (no download)
so a new user can press Train at once, even offline."""

from __future__ import annotations

import os
from pathlib import Path

SAMPLE_CLASSES = ("circle", "square", "triangle")


def default_location() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "desktop_ft" / "sample_shapes"


def make_sample_dataset(folder: str | os.PathLike | None = None, per_class: int = 40,
                        size: int = 64, seed: int = 0) -> Path:
    """Write ``folder/<shape>/<n>.png`` (idempotent: an existing complete set is reused)."""
    import numpy as np
    from PIL import Image, ImageDraw

    folder = Path(folder) if folder else default_location()
    marker = folder / ".complete"
    if marker.exists() and marker.read_text() == f"{per_class} {size} {seed}":
        return folder
    rng = np.random.default_rng(seed)
    for shape in SAMPLE_CLASSES:
        (folder / shape).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            bg = tuple(int(c) for c in rng.integers(0, 90, 3))
            fg = tuple(int(c) for c in rng.integers(120, 256, 3))
            img = Image.new("RGB", (size, size), bg)
            draw = ImageDraw.Draw(img)
            r = int(rng.integers(size // 6, size // 3))
            cx, cy = (int(v) for v in rng.integers(r + 2, size - r - 2, 2))
            if shape == "circle":
                draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fg)
            elif shape == "square":
                draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=fg)
            else:
                draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fg)
            noise = rng.integers(-12, 13, (size, size, 3))
            arr = np.clip(np.asarray(img, np.int16) + noise, 0, 255).astype(np.uint8)
            Image.fromarray(arr).save(folder / shape / f"{shape}_{i:03d}.png")
    marker.write_text(f"{per_class} {size} {seed}")
    return folder
