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
    import keras
    import numpy as np

    from desktop_ft.core.backend import gradient

    ops = keras.ops
    chain = bundle.family_impl.chain_layers(bundle.model)
    name = cam_layer(chain)
    prefix, _ = split_chain(bundle, name)
    rest = chain[[layer.name for layer in chain].index(name) + 1:]
    output = rest.pop()     # the Dense whose activation gives the probabilities

    def logits_of(features):
        y = features
        for layer in rest:
            y = layer(y, training=False)
        y = ops.cast(y, output.kernel.dtype)
        logits = ops.cast(ops.matmul(y, output.kernel) + output.bias, "float32")
        if bundle.binary:   # one sigmoid unit: the logit of class 1, its negation for 0
            logits = ops.concatenate([-logits, logits], axis=-1)
        return logits

    out = []
    for img in images:
        img = np.asarray(img, dtype=np.uint8)
        features = ops.convert_to_numpy(prefix(preprocess_uint8(img[None], bundle.spec.image_size),
                                               training=False))
        c = int(np.argmax(ops.convert_to_numpy(logits_of(features))[0]))
        grads = gradient(lambda f, c=c: logits_of(f)[0, c], features)
        weights = grads.mean(axis=(1, 2))
        cam = np.maximum((features * weights[:, None, None, :]).sum(axis=-1), 0)[0]
        cam = ops.image.resize(cam[..., None].astype(np.float32), img.shape[:2],
                               interpolation="bilinear")[..., 0]
        cam = np.asarray(ops.convert_to_numpy(cam), dtype=np.float32)
        peak = float(cam.max())
        probs = bundle.predict_proba([img])[0]
        out.append({"heatmap": cam / peak if peak > 0 else cam, "layer": name,
                    "probs": [float(p) for p in probs]})
    return out
