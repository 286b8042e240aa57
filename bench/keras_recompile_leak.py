"""Upstream check: does recompiling and fitting the same Keras model keep memory?

The window's soak test (tests/gui/test_soak.py) loses ~60–150 MB per training run. The
cause reproduces in plain Keras, without desktop-ft: each ``compile`` + ``fit`` of the same
model with a fresh Adam keeps the traced training graphs alive (they capture the old
optimizer's slot variables); with SGD (no slots) almost nothing grows. Prints resident
memory and the number of live captured-handle tuples per round, and the growth per round.

    python bench/keras_recompile_leak.py [--rounds 5] [--optimizer adam|sgd]

Rerun after upgrading Keras/TensorFlow: growth near 0 means the soak test's xfail mark
can go.
"""

from __future__ import annotations

import argparse
import gc
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    args = ap.parse_args()
    import keras
    import numpy as np
    import tensorflow as tf

    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    x = keras.layers.GlobalAveragePooling2D()(base.output)
    model = keras.Model(base.input, keras.layers.Dense(3, activation="softmax")(x))
    rng = np.random.default_rng(0)
    data = tf.data.Dataset.from_tensor_slices(
        (rng.random((24, 32, 32, 3), np.float32),
         np.eye(3, dtype=np.float32)[rng.integers(0, 3, 24)])).batch(8)
    sizes = []
    for i in range(args.rounds):
        opt = keras.optimizers.Adam(1e-4) if args.optimizer == "adam" else \
            keras.optimizers.SGD(1e-4)
        model.compile(opt, "categorical_crossentropy", metrics=["accuracy"])
        model.fit(data, epochs=1, verbose=0)
        gc.collect()
        sizes.append(rss_mb())
        print(f"round {i + 1}: {sizes[-1]:7.0f} MB")
    per_round = (sizes[-1] - sizes[0]) / max(1, len(sizes) - 1)
    print(f"keras {keras.__version__}, tensorflow {tf.__version__}, {args.optimizer}: "
          f"{per_round:+.0f} MB per compile+fit (VGG16 weights ≈ 59 MB, Adam slots ≈ 118 MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
