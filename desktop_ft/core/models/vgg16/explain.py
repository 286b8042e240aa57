"""Grad-CAM for VGG16: which parts of the image raised the predicted class's score.

The feature map is taken from the last convolution whose output is still at least
:data:`MIN_CAM_SIZE` pixels across — block5_conv3 (14×14) at 224 px; a finer block for
small images, where block 5 is 2×2 and cannot localize anything. The gradient of the
predicted class's log-probability weights the feature channels (Selvaraju et al., 2017).
"""

from __future__ import annotations

from desktop_ft.core.models.base import split_chain
from desktop_ft.core.models.vgg16.build import preprocess_uint8

MIN_CAM_SIZE = 7


def cam_layer(chain: list) -> str:
    convs = [layer for layer in chain if type(layer).__name__ == "Conv2D"]
    for layer in reversed(convs):
        if int(layer.output.shape[1]) >= MIN_CAM_SIZE:
            return layer.name
    return convs[-1].name


def grad_cam(bundle, images) -> list[dict]:
    import numpy as np
    import tensorflow as tf

    name = cam_layer(bundle.family_impl.chain_layers(bundle.model))
    prefix, suffix = split_chain(bundle, name)
    out = []
    for img in images:
        img = np.asarray(img, dtype=np.uint8)
        features = prefix(preprocess_uint8(tf.constant(img[None]), bundle.spec.image_size),
                          training=False)
        with tf.GradientTape() as tape:
            tape.watch(features)
            raw = tf.cast(suffix(features, training=False), tf.float32)
            probs = tf.concat([1.0 - raw, raw], axis=-1) if bundle.binary else raw
            c = int(tf.argmax(probs[0]))
            score = tf.math.log(probs[0, c] + 1e-9)
        grads = tape.gradient(score, features)
        weights = tf.reduce_mean(grads, axis=(1, 2))
        cam = tf.nn.relu(tf.reduce_sum(features * weights[:, None, None, :], axis=-1))[0]
        cam = tf.image.resize(cam[..., None], img.shape[:2], method="bilinear")[..., 0]
        cam = np.asarray(cam, dtype=np.float32)
        peak = float(cam.max())
        out.append({"heatmap": cam / peak if peak > 0 else cam, "layer": name,
                    "probs": np.asarray(probs[0], dtype=np.float32).tolist()})
    return out
