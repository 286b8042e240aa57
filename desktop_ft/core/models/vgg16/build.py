"""Building VGG16 from ``keras.applications`` with a new classification head.

Heads:
    ``gap``      GlobalAveragePooling → Dropout → Dense (any image size ≥ 32).
    ``original`` keep ImageNet's flatten/fc1/fc2 (224×224 only) and replace only the
                 ``predictions`` layer — the first of the three classic ways to transfer.
"""

from __future__ import annotations

import threading
from pathlib import Path

from desktop_ft.core.models.base import Family, ModelBundle, ModelSpec
from desktop_ft.core.models.vgg16.weights import download_imagenet, load_weights_file
from desktop_ft.core.observer import Observer

CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
AUGMENTATIONS = ("flip", "rotation", "zoom", "contrast")


def preprocess_uint8(images, image_size: int):
    """uint8 ``[N, H, W, 3]`` RGB of any H, W → VGG16 input ``float32 [N, S, S, 3]``.

    Bilinear resize, then Caffe-style preprocessing (RGB→BGR, ImageNet mean subtracted),
    exactly what ``keras.applications.vgg16.preprocess_input`` does. Used by the training
    pipeline, try-it and the exported SavedModel alike.
    """
    import keras

    if keras.backend.backend() == "tensorflow":   # also inside tf.data and tf.function
        import tensorflow as tf

        x = tf.image.resize(tf.cast(images, tf.float32), (image_size, image_size),
                            method="bilinear", antialias=False)
        return x[..., ::-1] - tf.constant(CAFFE_MEAN_BGR, tf.float32)
    # The same arithmetic on torch and jax (measured: bit-identical to TensorFlow's).
    ops = keras.ops
    x = ops.image.resize(ops.cast(images, "float32"), (image_size, image_size),
                         interpolation="bilinear", antialias=False)
    return ops.flip(x, axis=-1) - ops.convert_to_tensor(CAFFE_MEAN_BGR, "float32")


def preprocess_to_numpy(image, image_size: int):
    """One decoded ``uint8 [H, W, 3]`` image → its VGG16 input as a float32 array (the
    input pipeline of the torch and jax backends)."""
    import keras
    import numpy as np

    return np.asarray(keras.ops.convert_to_numpy(
        preprocess_uint8(np.asarray(image)[None], image_size)[0]), np.float32)


def build(family: Family, spec: ModelSpec, observer: Observer,
          stop: threading.Event | None = None) -> ModelBundle:
    import keras

    include_top = spec.head == "original"
    shape = (spec.image_size, spec.image_size, 3)
    weights = spec.weights or "none"
    observer.on_status("Building VGG16…")
    base = keras.applications.VGG16(include_top=include_top, weights=None, input_shape=shape)
    if weights.lower() == "imagenet":
        path = download_imagenet(include_top, observer, stop)
        base.load_weights(str(path))
        source = f"imagenet ({path.name})"
    elif weights.lower() in ("none", ""):
        source = "none (random initialisation)"
    else:
        n = load_weights_file(base, weights)
        source = f"file {Path(weights).name} ({n} layers loaded)"
    observer.on_status(f"VGG16 weights: {source}")
    bundle = attach_head(family, base, spec)
    bundle.weights_source = source
    return bundle


def augmentation_layers(names: list[str]) -> list:
    """Keras preprocessing layers, active only in training (identity at inference, so
    try-it and the export are unaffected). They work on VGG16-preprocessed pixels."""
    import keras

    factories = {
        "flip": lambda: keras.layers.RandomFlip("horizontal", name="augment_flip"),
        "rotation": lambda: keras.layers.RandomRotation(0.05, fill_mode="reflect",
                                                        name="augment_rotation"),
        "zoom": lambda: keras.layers.RandomZoom(0.1, fill_mode="reflect", name="augment_zoom"),
        "contrast": lambda: keras.layers.RandomContrast(0.2, name="augment_contrast"),
    }
    return [factories[n]() for n in names]


def attach_head(family: Family, base, spec: ModelSpec) -> ModelBundle:
    """The trained model: [augmentation] → VGG16's layers (the same objects, so weights
    are shared with ``base``) → head, as one flat chain of layers."""
    import keras

    from desktop_ft.core.runtime import mixed_precision_enabled

    units = 1 if spec.num_classes == 2 else spec.num_classes
    activation = "sigmoid" if spec.num_classes == 2 else "softmax"
    inputs = keras.Input(shape=(spec.image_size, spec.image_size, 3), name="image")
    x = inputs
    for layer in augmentation_layers(spec.augment):
        x = layer(x)
    stop_at = "fc2" if spec.head == "original" else None
    for layer in base.layers[1:]:
        x = layer(x)
        if layer.name == stop_at:
            break
    # Under mixed precision the output layer computes in float32 for stable softmax/loss.
    out_dtype = "float32" if mixed_precision_enabled() else None
    if spec.head == "original":
        out = keras.layers.Dense(units, activation=activation, name="predictions_new",
                                 dtype=out_dtype)(x)
        new = {"predictions_new"}
    else:
        x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
        x = keras.layers.Dropout(spec.dropout, name="head_dropout")(x)
        out = keras.layers.Dense(units, activation=activation, name="head_output",
                                 dtype=out_dtype)(x)
        new = {"head_pool", "head_dropout", "head_output"}
    model = keras.Model(inputs, out, name=f"vgg16_{spec.head}")
    return ModelBundle(spec=spec, model=model, new_layers=new, weights_source="",
                       family_impl=family, parts={"base": base})
