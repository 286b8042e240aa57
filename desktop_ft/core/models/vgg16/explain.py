"""Grad-CAM for VGG16: which parts of the image raised the predicted class's score.

The feature map is taken from the last convolution whose output is still at least
:data:`MIN_CAM_SIZE` pixels across — block5_conv3 (14×14) at 224 px; a finer block for
small images, where block 5 is 2×2 and cannot localize anything (measured in
tests/core/test_explain.py). The gradient of the predicted class's *logit* (before the
output activation, which saturates for confident predictions) weights the feature
channels (Selvaraju et al., 2017).
"""

from __future__ import annotations

from desktop_ft.core.models.base import split_chain
from desktop_ft.core.models.vgg16.build import preprocess_uint8

MIN_CAM_SIZE = 14


def cam_layer(chain: list) -> str:
    convs = [layer for layer in chain if type(layer).__name__ == "Conv2D"]
    for layer in reversed(convs):
        if int(layer.output.shape[1]) >= MIN_CAM_SIZE:
            return layer.name
    return convs[-1].name


def grad_cam(bundle, images) -> list[dict]:
    import numpy as np
    import tensorflow as tf

    chain = bundle.family_impl.chain_layers(bundle.model)
    name = cam_layer(chain)
    prefix, _ = split_chain(bundle, name)
    rest = chain[[layer.name for layer in chain].index(name) + 1:]
    output = rest.pop()     # the Dense whose activation gives the probabilities
    out = []
    for img in images:
        img = np.asarray(img, dtype=np.uint8)
        features = prefix(preprocess_uint8(tf.constant(img[None]), bundle.spec.image_size),
                          training=False)
        with tf.GradientTape() as tape:
            tape.watch(features)
            y = features
            for layer in rest:
                y = layer(y, training=False)
            y = tf.cast(y, output.kernel.dtype)
            logits = tf.cast(tf.matmul(y, output.kernel) + output.bias, tf.float32)
            if bundle.binary:   # one sigmoid unit: the logit of class 1, its negation for 0
                logits = tf.concat([-logits, logits], axis=-1)
            c = int(tf.argmax(logits[0]))
            score = logits[0, c]
        grads = tape.gradient(score, features)
        weights = tf.reduce_mean(grads, axis=(1, 2))
        cam = tf.nn.relu(tf.reduce_sum(features * weights[:, None, None, :], axis=-1))[0]
        cam = tf.image.resize(cam[..., None], img.shape[:2], method="bilinear")[..., 0]
        cam = np.asarray(cam, dtype=np.float32)
        peak = float(cam.max())
        probs = bundle.predict_proba([img])[0]
        out.append({"heatmap": cam / peak if peak > 0 else cam, "layer": name,
                    "probs": [float(p) for p in probs]})
    return out
