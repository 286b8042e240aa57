"""The engine vs a plain-Keras script doing the same fit: same model (VGG16, GAP head),
same images, batch size and epochs. Prints seconds per epoch and the ratio engine/plain
(goal ≤ 1.00), measured in one process.

    python bench/train_overhead.py [--size 64] [--per-class 64] [--epochs 4]

Two settings: a full fine-tune (every layer trains, so nothing can be cached and the
ratio is pure overhead), and head-only, where the engine trains on cached features.
Epoch 1 (tracing) is left out of the averages and shown on its own: there the engine
builds the optimizer's slots before the first step, which plain Keras on TensorFlow
leaves to the traced step (and then traces it twice).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parent))


def plain_keras(folder: str, size: int, epochs: int, batch: int, train_all: bool) -> list:
    """What a user would write by hand (Keras's transfer-learning guide, tf.data best
    practice: parallel decode, cache, prefetch)."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    train, val = keras.utils.image_dataset_from_directory(
        folder, image_size=(size, size), batch_size=batch, label_mode="categorical",
        validation_split=0.2, subset="both", seed=0, verbose=False)
    prep = keras.applications.vgg16.preprocess_input
    train = train.map(lambda x, y: (prep(x), y), num_parallel_calls=tf.data.AUTOTUNE) \
        .cache().prefetch(tf.data.AUTOTUNE)
    val = val.map(lambda x, y: (prep(x), y), num_parallel_calls=tf.data.AUTOTUNE) \
        .cache().prefetch(tf.data.AUTOTUNE)
    base = keras.applications.VGG16(include_top=False, weights=None,
                                    input_shape=(size, size, 3))
    base.trainable = train_all
    x = keras.layers.GlobalAveragePooling2D()(base.output)
    x = keras.layers.Dropout(0.2)(x)
    out = keras.layers.Dense(3, activation="softmax")(x)
    model = keras.Model(base.input, out)
    model.compile(keras.optimizers.Adam(1e-4 if train_all else 1e-3),
                  "categorical_crossentropy", metrics=["accuracy"])
    times = []

    class T(keras.callbacks.Callback):
        def on_epoch_begin(self, e, logs=None):
            self.t = time.perf_counter()

        def on_epoch_end(self, e, logs=None):
            times.append(time.perf_counter() - self.t)

    model.fit(train, validation_data=val, epochs=epochs, callbacks=[T()], verbose=0)
    return times


def engine(folder: str, size: int, epochs: int, batch: int, strategy: str) -> list:
    from desktop_ft.core.models import ModelSpec
    from desktop_ft.core.training import TrainJob, fine_tune

    job = TrainJob(model=ModelSpec("vgg16", weights="none", image_size=size), data=folder,
                   strategy=strategy, epochs=epochs, batch_size=batch, seed=0)
    return fine_tune(job).epoch_seconds


def mean_after_first(times: list) -> float:
    rest = times[1:] or times
    return sum(rest) / len(rest)


def main() -> int:
    from _images import image_bench_parser, make_images

    ap = image_bench_parser(__doc__, size=64, per_class=64, epochs=4)
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = str(make_images(Path(tmp) / "shapes", args.per_class, args.size))
        rows = []
        for label, strategy, train_all in (("full fine-tune", "full", True),
                                           ("head only", "head", False)):
            p = plain_keras(folder, args.size, args.epochs, args.batch_size, train_all)
            e = engine(folder, args.size, args.epochs, args.batch_size, strategy)
            rows.append((label, mean_after_first(p), mean_after_first(e), p[0], e[0]))
    print(f"VGG16 {args.size}px, {3 * args.per_class} images, batch {args.batch_size}, "
          f"{args.epochs} epochs (epoch 1 excluded)")
    print("| setting | plain Keras s/epoch | engine s/epoch | engine/plain "
          "| plain epoch 1 s | engine epoch 1 s | engine/plain, epoch 1 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, p, e, p1, e1 in rows:
        print(f"| {label} | {p:.3f} | {e:.3f} | {e / p:.2f} | {p1:.2f} | {e1:.2f} "
              f"| {e1 / p1:.2f} |")
    print(f"ratio engine/plain (full fine-tune): {rows[0][2] / rows[0][1]:.2f}  (goal ≤ 1.00)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
