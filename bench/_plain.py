"""What a user would write by hand with Keras, for the benchmarks that compare the app
with it: Keras's transfer-learning guide (keras.io, "Transfer learning & fine-tuning"):
the pretrained base frozen (called with ``training=False``), global average pooling,
Dropout(0.2), a new Dense layer, ``Adam()`` (its default rate, 1e-3), ``fit``."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

VGG16_CONVS = [(b, i) for b, n in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))
               for i in range(1, n + 1)]


def hed_vgg16(weights: str, size: int, train_last_block: bool = False):
    """keras.applications.VGG16 (no top) with HED's conv weights read from its file by
    hand (its layers are named block1/layers/conv2d…), frozen but for block 5 if asked."""
    import h5py
    import keras

    base = keras.applications.VGG16(include_top=False, weights=None,
                                    input_shape=(size, size, 3))
    with h5py.File(weights) as f:
        for b, i in VGG16_CONVS:
            group = f[f"block{b}/layers/conv2d{'' if i == 1 else f'_{i - 1}'}/vars"]
            base.get_layer(f"block{b}_conv{i}").set_weights([group["0"][()],
                                                             group["1"][()]])
    base.trainable = False
    if train_last_block:
        for layer in base.layers:
            layer.trainable = layer.name.startswith("block5")
    return base


def image_folder_arrays(root: str, size: int) -> tuple:
    """(float32 images after VGG16's preprocessing, int labels, class names)."""
    import keras
    from PIL import Image

    classes = sorted(p.name for p in Path(root).iterdir() if p.is_dir())
    files = [(f, c) for c, name in enumerate(classes)
             for f in sorted((Path(root) / name).glob("*.png"))]
    x = np.stack([np.asarray(Image.open(f).convert("RGB").resize((size, size)))
                  for f, _ in files]).astype("float32")
    return keras.applications.vgg16.preprocess_input(x), np.array([c for _, c in files]), \
        classes


def image_head_model(base, classes: int):
    import keras

    inputs = keras.Input(base.input_shape[1:])
    x = keras.layers.GlobalAveragePooling2D()(base(inputs, training=False))
    x = keras.layers.Dropout(0.2)(x)
    return keras.Model(inputs, keras.layers.Dense(classes, activation="softmax")(x))


def plain_image_fit(train: str, val: str, weights: str, seed: int, epochs: int,
                    batch: int = 32, size: int = 32) -> dict:
    import keras

    keras.utils.set_random_seed(seed)
    x, y, classes = image_folder_arrays(train, size)
    xv, yv, _ = image_folder_arrays(val, size)
    model = image_head_model(hed_vgg16(weights, size), len(classes))
    model.compile(keras.optimizers.Adam(), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    h = model.fit(x, y, validation_data=(xv, yv), batch_size=batch, epochs=epochs, verbose=0)
    return {"val_accuracy": h.history["val_accuracy"][-1],
            "val_loss": h.history["val_loss"][-1]}


def read_csv(path: str) -> tuple:
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    classes = sorted({r["label"] for r in rows})
    return np.array([r["text"] for r in rows]), \
        np.array([classes.index(r["label"]) for r in rows]), classes


def plain_text_fit(train: str, val: str, preset: str, seed: int, epochs: int,
                   batch: int = 32, seq_len: int = 64) -> dict:
    """keras-hub's BertTextClassifier from the checkpoint folder (its own preprocessor),
    the backbone frozen, a new two-class head (keras-hub's, logits), Adam()."""
    import keras
    import keras_hub

    keras.utils.set_random_seed(seed)
    x, y, classes = read_csv(train)
    xv, yv, _ = read_csv(val)
    pre = keras_hub.models.BertTextClassifierPreprocessor.from_preset(
        preset, sequence_length=seq_len)
    model = keras_hub.models.BertTextClassifier.from_preset(
        preset, num_classes=len(classes), preprocessor=pre, dropout=0.2)
    model.backbone.trainable = False
    model.compile(keras.optimizers.Adam(),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    h = model.fit(x, y, validation_data=(xv, yv), batch_size=batch, epochs=epochs, verbose=0)
    return {"val_accuracy": h.history["val_accuracy"][-1],
            "val_loss": h.history["val_loss"][-1]}
