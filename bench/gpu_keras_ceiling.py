"""Plain Keras's own ceiling for VGG16 training on a backend — no desktop_ft involved.

Used to tell what limits ``bench/gpu.py``'s rows: images/s of ``fit`` on random float32
arrays in memory, and of ``train_on_batch`` on one batch repeated (no input pipeline at
all), for an image data format, a precision and, optionally, a callback that reads every
batch's loss as a float (as the engine does, for its live plots, the NaN stop and Stop).
Prints one JSON line.

    KERAS_BACKEND=torch python bench/gpu_keras_ceiling.py channels_first mixed_bfloat16
    KERAS_BACKEND=jax   python bench/gpu_keras_ceiling.py channels_last float32 --sync

Sizes from the environment: N images (512), S px (224), B per batch (128).
"""

from __future__ import annotations

import argparse
import json
import os
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data_format", choices=["channels_last", "channels_first"])
    ap.add_argument("precision", choices=["float32", "mixed_bfloat16", "mixed_float16"])
    ap.add_argument("--sync", action="store_true",
                    help="read every batch's loss as a Python float")
    args = ap.parse_args()
    import keras
    import numpy as np

    n, size, batch = (int(os.environ.get(k, d)) for k, d in (("N", 512), ("S", 224),
                                                             ("B", 128)))
    keras.config.set_image_data_format(args.data_format)
    keras.mixed_precision.set_global_policy(args.precision)
    shape = (size, size, 3) if args.data_format == "channels_last" else (3, size, size)
    x = np.random.default_rng(0).standard_normal((n, *shape), dtype=np.float32)
    y = keras.utils.to_categorical(np.arange(n) % 2, 2)
    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=shape)
    out = keras.layers.Dense(2, activation="softmax", dtype="float32")(
        keras.layers.GlobalAveragePooling2D()(base.output))
    model = keras.Model(base.input, out)
    model.compile(keras.optimizers.Adam(1e-4), "categorical_crossentropy")
    from _timing import epoch_timer

    seconds: list[float] = []

    class ReadLoss(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            float(logs["loss"])

    model.fit(x, y, batch_size=batch, epochs=3, verbose=0,
              callbacks=[epoch_timer(seconds), *([ReadLoss()] if args.sync else [])])
    fit_rate = n * 2 / sum(seconds[1:])          # the first epoch compiles: not timed
    xb, yb = x[:batch], y[:batch]
    model.train_on_batch(xb, yb)
    t0 = time.perf_counter()
    for _ in range(8):
        loss = model.train_on_batch(xb, yb)
    float(np.asarray(loss).ravel()[0])
    step_rate = 8 * batch / (time.perf_counter() - t0)
    print(json.dumps({"backend": keras.backend.backend(), "data_format": args.data_format,
                      "precision": args.precision, "sync": args.sync,
                      "fit_images_per_s": round(fit_rate),
                      "train_on_batch_images_per_s": round(step_rate)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
