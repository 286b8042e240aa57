"""Epoch time with the frozen-prefix feature cache vs without, same engine, same run.

    python bench/feature_cache.py [--size 64] [--per-class 86] [--epochs 4]

Two cuts: head-only (everything pretrained frozen; features cached after head_pool) and
last block trainable (cached after block4_pool). Epoch 1 is left out of the averages; the
one-time feature pass is printed separately. Goal: ≥ 30× for head-only.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))


def run(folder, size, epochs, strategy, cache):
    from desktop_ft.core.models import ModelSpec
    from desktop_ft.core.training import TrainJob, fine_tune

    job = TrainJob(model=ModelSpec("vgg16", weights="none", image_size=size), data=folder,
                   strategy=strategy, unfreeze_last=1, epochs=epochs, batch_size=32, seed=0,
                   feature_cache=cache)
    r = fine_tune(job)
    rest = r.epoch_seconds[1:] or r.epoch_seconds
    return sum(rest) / len(rest), r.feature_cache[0]


def main() -> int:
    from _images import image_bench_parser, make_images

    ap = image_bench_parser(__doc__, size=64, per_class=86, epochs=4)
    args = ap.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = str(make_images(Path(tmp) / "shapes", args.per_class, args.size))
        for label, strategy in (("head only", "head"), ("last block trains", "partial")):
            without, _ = run(folder, args.size, args.epochs, strategy, False)
            with_, info = run(folder, args.size, args.epochs, strategy, True)
            rows.append((label, info["cut"], without, with_, info["feature_seconds"]))
    print(f"VGG16 {args.size}px, {3 * args.per_class} images, batch 32, {args.epochs} epochs")
    print("| setting | cut after | s/epoch without cache | s/epoch with cache | one-time "
          "features (s) | speed-up |")
    print("|---|---|---:|---:|---:|---:|")
    for label, cut, a, b, f in rows:
        print(f"| {label} | {cut} | {a:.3f} | {b:.4f} | {f:.2f} | ×{a / b:.1f} |")
    print(f"ratio without/with cache (head only): {rows[0][2] / rows[0][3]:.1f}  (goal ≥ 30)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
