"""Raw ``uint8`` images → an architecture's input: resize, then its per-channel affine map.

One formula for every entry (``architectures.CAFFE``, ``TF``, ``TORCH``, ``RAW``):
``(x[..., ::-1] if bgr else x) * scale + offset`` — exactly what each
``keras.applications`` ``preprocess_input`` computes. The training pipeline, try-it and
the exported SavedModel all use :func:`preprocess_uint8`.
"""

from __future__ import annotations

AUGMENTATIONS = ("flip", "rotation", "zoom", "contrast")
# ModelSpec.augment_strength scales these factors (1: as they are); above 4 a contrast
# factor would pass 1, what RandomContrast accepts.
AUGMENT_FACTORS = {"rotation": 0.05, "zoom": 0.1, "contrast": 0.2}
MAX_AUGMENT_STRENGTH = 4.0


def _affine(x, preprocessing, ops):
    scale, offset, bgr = preprocessing
    if bgr:
        x = ops.flip(x, axis=-1)
    if tuple(scale) != (1.0, 1.0, 1.0):
        x = x * ops.convert_to_tensor(scale, "float32")
    return x + ops.convert_to_tensor(offset, "float32")


def preprocess_uint8(images, image_size: int, preprocessing):
    """uint8 ``[N, H, W, 3]`` RGB of any H, W → ``float32 [N, S, S, 3]``: bilinear
    resize, then the architecture's preprocessing."""
    import keras

    if keras.backend.backend() == "tensorflow":   # also inside tf.data and tf.function
        import tensorflow as tf

        x = tf.image.resize(tf.cast(images, tf.float32), (image_size, image_size),
                            method="bilinear", antialias=False)
        scale, offset, bgr = preprocessing
        if bgr:
            x = x[..., ::-1]
        if tuple(scale) != (1.0, 1.0, 1.0):
            x = x * tf.constant(scale, tf.float32)
        return x + tf.constant(offset, tf.float32)
    # The same arithmetic on torch and jax (measured: bit-identical to TensorFlow's).
    ops = keras.ops
    x = ops.image.resize(ops.cast(images, "float32"), (image_size, image_size),
                         interpolation="bilinear", antialias=False)
    return _affine(x, preprocessing, ops)


def preprocess_resized(x, preprocessing):
    """The affine map alone, inside a Keras graph (ONNX/LiteRT wrappers)."""
    import keras

    return _affine(keras.ops.cast(x, "float32"), preprocessing, keras.ops)


def preprocess_to_numpy(image, image_size: int, preprocessing):
    """One decoded ``uint8 [H, W, 3]`` image → its model input as a float32 array (the
    input pipeline of the torch and jax backends, and try-it)."""
    import keras
    import numpy as np

    return np.asarray(keras.ops.convert_to_numpy(
        preprocess_uint8(np.asarray(image)[None], image_size, preprocessing)[0]), np.float32)
