"""Images/s of every image architecture at 224 px on this machine, through the engine.

For each entry of the image table (random weights: speed does not depend on them):
inference (the picker's "speed"), head-only training on cached features, training with
the last block unfrozen, and full training — each as images per second over a few
batches after a warm-up, with the peak resident memory of a process that measured that
architecture alone (each runs in a fresh one). Prints one Markdown row per architecture
(BENCHMARKS.md).

    python bench/image_backbones.py [NAME ...] [--size 224] [--batch 8] [--infer-only]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np


def _rate(fn, batch: int, repeats: int) -> float:
    fn()                                   # warm-up: tracing, allocation
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return batch * repeats / (time.perf_counter() - t0)


def measure(name: str, size: int, batch: int, infer_only: bool) -> dict:
    import keras

    from desktop_ft.core.models import ModelSpec, load_model
    from desktop_ft.core.training.feature_cache import split_model

    bundle = load_model(ModelSpec(name, weights="none", image_size=size, num_classes=5))
    x = np.random.default_rng(0).normal(size=(batch, size, size, 3)).astype("float32")
    y = keras.utils.to_categorical(np.arange(batch) % 5, 5)
    row = {"name": name, "infer": _rate(lambda: bundle.model.predict_on_batch(x), batch, 3)}
    if infer_only:
        return row
    tree = bundle.tree
    for strategy, key in (("head", "head"), ("partial", "last_block"), ("full", "full")):
        tree.apply_strategy(strategy, unfreeze_last=1)
        tree.apply_to_model()
        model = bundle.model
        if strategy == "head":             # the feature cache: only the head trains
            prefix, model = split_model(bundle, "head_pool")
            feats = prefix.predict_on_batch(x)
            t0 = time.perf_counter()
            prefix.predict_on_batch(x)
            once = time.perf_counter() - t0
            model.compile(optimizer="adam", loss="categorical_crossentropy")
            step = _rate(lambda m=model, f=feats: m.train_on_batch(f, y), batch, 20)
            row[key] = step
            row["features"] = batch / once
            continue
        model.compile(optimizer="adam", loss="categorical_crossentropy")
        row[key] = _rate(lambda m=model: m.train_on_batch(x, y), batch, 2)
    row["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return row


def main(argv=None) -> int:
    from desktop_ft.core.models.image.architectures import ARCHITECTURES

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--infer-only", action="store_true")
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.one:                 # a child: one architecture, its row as JSON
        [name] = args.names
        print(json.dumps(measure(name, args.size, args.batch, args.infer_only)))
        return 0
    names = args.names or list(ARCHITECTURES)
    print("| architecture | inference img/s | head-only (cached) img/s | last block img/s "
          "| full img/s | peak RSS MB |")
    print("|---|---|---|---|---|---|")
    for name in names:
        size = args.size if not ARCHITECTURES[name].fixed_size else \
            ARCHITECTURES[name].default_size
        cmd = [sys.executable, __file__, name, "--one", "--size", str(size),
               "--batch", str(args.batch)] + (["--infer-only"] if args.infer_only else [])
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode:
            print(f"| {name} | failed: {out.stderr.strip().splitlines()[-1:]} |", flush=True)
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        cells = [f"{r.get(k, float('nan')):.1f}" for k in ("infer", "head", "last_block", "full")]
        print(f"| {name} | " + " | ".join(cells) + f" | {r.get('peak_mb', 0):.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
