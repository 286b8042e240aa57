"""The first epoch on a small task, where tracing is most of the time: the engine's
`fit` against plain Keras's `compile` + `fit` of the same model on the same arrays, in
one process, each setting run twice alternately (best of two). Plain Keras on TensorFlow
creates the optimizer's slots inside the first traced step and then traces that step a
second time; the engine builds them at compile time. Prints the ratio engine/plain (goal
≤ 1.00).

    python bench/first_step.py
"""

from __future__ import annotations

import os
import sys
import time
import types

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def tiny_bert():
    import keras_hub

    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=64, num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32,
        max_sequence_length=32)
    return keras_hub.models.BertTextClassifier(backbone, num_classes=2, preprocessor=None,
                                               activation="softmax")


def vgg16_32():
    import keras

    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    x = keras.layers.GlobalAveragePooling2D()(base.output)
    return keras.Model(base.input, keras.layers.Dense(2, activation="softmax")(x))


def data(kind: str, n: int = 24):
    rng = np.random.default_rng(0)
    y = np.eye(2, dtype="float32")[np.arange(n) % 2]
    if kind == "text":
        x = {"token_ids": rng.integers(5, 64, (n, 16)).astype("int32"),
             "segment_ids": np.zeros((n, 16), "int32"),
             "padding_mask": np.ones((n, 16), bool)}
    else:
        x = rng.normal(size=(n, 32, 32, 3)).astype("float32")
    return x, y


def first_epoch(build, kind: str, engine: bool) -> float:
    """Seconds for compile + one epoch (batch 8, a validation split) of a fresh model."""
    import keras

    model = build()
    x, y = data(kind)
    t0 = time.perf_counter()
    if engine:
        from desktop_ft.core.training.compile import compile_model
        from desktop_ft.core.training.job import TrainJob

        # (compile_model reads only the model and whether the head is binary)
        compile_model(types.SimpleNamespace(model=model, binary=False), TrainJob(), 1e-3)
    else:
        model.compile(optimizer=keras.optimizers.Adam(1e-3),
                      loss=keras.losses.CategoricalCrossentropy(),
                      metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])
    model.fit(x, y, batch_size=8, epochs=1, validation_split=0.25, verbose=0)
    return time.perf_counter() - t0


def main() -> int:
    rows = []
    for label, build, kind in (("tiny BERT (2 layers), every weight", tiny_bert, "text"),
                               ("VGG16 at 32 px, every layer", vgg16_32, "images")):
        plain, eng = [], []
        for _ in range(2):
            plain.append(first_epoch(build, kind, engine=False))
            eng.append(first_epoch(build, kind, engine=True))
        rows.append((label, min(plain), min(eng)))
    print("| model | plain Keras s | engine s | engine/plain |")
    print("|---|---:|---:|---:|")
    for label, p, e in rows:
        print(f"| {label} | {p:.2f} | {e:.2f} | {e / p:.2f} |")
    print(f"ratio engine/plain (worst): {max(e / p for _, p, e in rows):.2f}  (goal ≤ 1.00)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
