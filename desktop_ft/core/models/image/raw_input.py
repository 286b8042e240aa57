"""Image models for ONNX and LiteRT: raw uint8 images in, probabilities out."""

from __future__ import annotations

from desktop_ft.core.models.shared import probs_model
from desktop_ft.core.models.image.preprocess import preprocess_resized


def raw_input_model(bundle):
    """A Keras model: raw ``uint8 [N, S, S, 3]`` → ``probs``, the architecture's
    preprocessing inside (what the app does after resizing)."""
    import keras
    import numpy as np

    size = bundle.spec.image_size
    preprocessing = bundle.parts["preprocessing"]
    inp = keras.Input((size, size, 3), dtype="uint8", name="images")
    x = keras.layers.Lambda(lambda t: preprocess_resized(t, preprocessing),
                            name="preprocess")(inp)
    wrapper = probs_model(bundle, inp, x, "raw_images_to_probs")
    wrapper(np.zeros((1, size, size, 3), np.uint8))
    return wrapper


def format_inputs(bundle, raw_inputs) -> dict:
    """Raw images of any size → ``{"images": uint8 [N, S, S, 3]}``, resized as the app
    resizes them."""
    import numpy as np
    import tensorflow as tf

    size = bundle.spec.image_size
    out = []
    for img in raw_inputs:
        x = tf.image.resize(tf.cast(np.asarray(img)[None], tf.float32), (size, size),
                            method="bilinear", antialias=False)
        out.append(np.asarray(tf.cast(tf.round(tf.clip_by_value(x, 0, 255)), tf.uint8)))
    return {"images": np.concatenate(out)}
