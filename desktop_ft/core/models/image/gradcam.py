"""Why an image model decided as it did: Grad-CAM on CNNs, a patch-token map on ViTs.

Grad-CAM (Selvaraju et al., 2017) weights a feature map's channels by the gradient of
the predicted class's *logit* (before the output activation, which saturates for
confident predictions). The map is the last one that still localizes:

* in a flattened chain (VGG), the last convolution at least :data:`MIN_CAM_SIZE` pixels
  across — block5_conv3 (14×14) at 224 px, block2_conv2 at 32 px;
* in any other backbone, the last layer at least :data:`MIN_NESTED_CAM_SIZE` across from
  which the rest can be cut (a layer inside a residual block cannot: a branch skips it) —
  the last stage's 7×7 map at 224 px, the stage before at small sizes. Measured on the
  real MobileNetV2 (tests/core/test_explain.py) at 96 px: 74 % of the map on the object
  at 6×6, 34 % at 24×24, 22 % at the final 3×3.

On images so small that no map is that large, the largest maps are used.

A transformer's map is over its patch tokens: gradient × activation of the patch
embeddings (before any attention mixes them), summed over channels, the class (and
distillation) token left out. Measured on a tiny ViT: 99 % of the map on the object; the
final tokens, already mixed, gave 18 % (chance: 14 %).
"""

from __future__ import annotations

from desktop_ft.core.models.shared import split_chain
from desktop_ft.core.models.image.preprocess import preprocess_uint8

MIN_CAM_SIZE = 14
MIN_NESTED_CAM_SIZE = 6


def cam_layer(chain: list) -> str:
    """A flattened chain's (VGG's) map: the last convolution at least MIN_CAM_SIZE across."""
    convs = [layer for layer in chain if type(layer).__name__ == "Conv2D"]
    for layer in reversed(convs):
        if int(layer.output.shape[1]) >= MIN_CAM_SIZE:
            return layer.name
    return convs[-1].name


def _nested_point(backbone):
    """(layer name, prefix model, suffix model or None) inside a nested backbone."""
    import keras

    layers = [layer for layer in backbone.layers if type(layer).__name__ != "InputLayer"]
    if len(backbone.output.shape) == 3:        # tokens: the patch embeddings
        first = layers[0]
        return first.name, keras.Model(backbone.input, first.output), \
            keras.Model(first.output, backbone.output)
    sizes = [int(layer.output.shape[1]) for layer in layers if len(layer.output.shape) == 4]
    least = MIN_NESTED_CAM_SIZE
    threshold = least if max(sizes) >= least else max(sizes)
    for layer in reversed(layers):
        shape = layer.output.shape
        if len(shape) != 4 or int(shape[1]) < threshold or "Padding" in type(layer).__name__:
            continue
        if layer is layers[-1]:
            return layer.name, backbone, None
        try:
            suffix = keras.Model(layer.output, backbone.output)
        except ValueError:        # a branch skips the layer: the graph cannot be cut here
            continue
        return layer.name, keras.Model(backbone.input, layer.output), suffix
    return layers[-1].name, backbone, None


def feature_point(bundle):
    """(layer name, prefix: preprocessed image → features, rest: features → head input)
    — cached on the bundle, the search builds models."""
    cached = bundle.parts.get("cam_point")
    if cached is not None and cached[0] == (MIN_CAM_SIZE, MIN_NESTED_CAM_SIZE):
        return cached[1]
    chain = bundle.modality.chain_layers(bundle.model)
    if bundle.modality.arch.chain:
        name = cam_layer(chain)
        prefix, _ = split_chain(bundle, name)
        rest = chain[[layer.name for layer in chain].index(name) + 1:]
        rest = [layer for layer in rest if layer.name not in bundle.new_layers]
    else:
        name, prefix, suffix = _nested_point(bundle.parts["base"])
        rest = [suffix] if suffix is not None else []
    head = [layer for layer in chain if layer.name in bundle.new_layers]
    point = (name, prefix, rest + head)
    bundle.parts["cam_point"] = ((MIN_CAM_SIZE, MIN_NESTED_CAM_SIZE), point)
    return point


def grad_cam(bundle, images, label: int | None = None) -> list[dict]:
    """Each image's map of evidence for its most probable class (a multi-label model:
    its most probable label; each sigmoid's logit is its own), or for ``label``."""
    import keras
    import numpy as np

    from desktop_ft.core.backend import gradient

    ops = keras.ops
    name, prefix, rest = feature_point(bundle)
    rest = list(rest)
    output = rest.pop()     # the Dense whose activation gives the probabilities
    preprocessing = bundle.parts["preprocessing"]

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
        x = preprocess_uint8(img[None], bundle.spec.image_size, preprocessing)
        features = ops.convert_to_numpy(prefix(x, training=False))
        c = int(np.argmax(ops.convert_to_numpy(logits_of(features))[0])) \
            if label is None else int(label)
        grads = gradient(lambda f, c=c: logits_of(f)[0, c], features)
        if features.ndim == 4:
            weights = grads.mean(axis=(1, 2))
            cam = np.maximum((features * weights[:, None, None, :]).sum(axis=-1), 0)[0]
        else:
            cam = _token_map(np.maximum((features * grads).sum(axis=-1), 0)[0])
        cam = ops.image.resize(cam[..., None].astype(np.float32), img.shape[:2],
                               interpolation="bilinear")[..., 0]
        cam = np.asarray(ops.convert_to_numpy(cam), dtype=np.float32)
        peak = float(cam.max())
        probs = bundle.predict_proba([img])[0]
        out.append({"heatmap": cam / peak if peak > 0 else cam, "layer": name,
                    "probs": [float(p) for p in probs], "label": c})
    return out


def _token_map(scores):
    """Per-token scores → the patch grid (the class token — and DeiT's distillation
    token — first, left out)."""
    import math

    while math.isqrt(len(scores)) ** 2 != len(scores):
        scores = scores[1:]
    side = math.isqrt(len(scores))
    return scores.reshape(side, side)
