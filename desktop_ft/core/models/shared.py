"""Helpers both modalities and the engine share: class probabilities from a model's
output, the raw-input probability model, keras-hub preset errors, a chain model split at
a layer, batched prediction, and reading a checkpoint folder's ``config.json``."""

from __future__ import annotations

import json
from contextlib import contextmanager
from desktop_ft.core.errors import UserError

def read_config_json(folder) -> dict | None:
    """A checkpoint folder's ``config.json`` as a dict — what recognising a folder reads
    (no weights); None where there is none, or it is not a JSON object."""
    from pathlib import Path

    try:
        config = json.loads((Path(folder).expanduser() / "config.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return config if isinstance(config, dict) else None


def two_class_probs(out, binary: bool, concatenate):
    """A sigmoid unit ``[N, 1]`` → ``[N, 2]`` (1 − p, p); softmax output unchanged.
    ``concatenate`` is the array library's (NumPy's, ``keras.ops``' or TensorFlow's)."""
    return concatenate([1.0 - out, out], axis=-1) if binary else out


def probs_from_output(keras, raw, binary: bool):
    """Inside a Keras graph: :func:`two_class_probs` in float32."""
    return two_class_probs(keras.ops.cast(raw, "float32"), binary, keras.ops.concatenate)


def to_class_probs(out, binary: bool):
    """:func:`two_class_probs` on a NumPy array, in float32."""
    import numpy as np

    return two_class_probs(np.asarray(out, dtype=np.float32), binary, np.concatenate)


def probs_model(bundle, inputs, model_inputs, name: str):
    """A Keras model from raw-input tensors ``inputs`` to ``probs`` (what ONNX and LiteRT
    exports hold): ``model_inputs`` (tensors built from ``inputs``) through the bundle's
    model, then :func:`probs_from_output` calibrated by the bundle's decision (the
    temperature is a constant of the graph)."""
    import keras

    decision = bundle.decision
    raw = bundle.model(model_inputs, training=False)
    out = keras.layers.Lambda(lambda t: decision.calibrated_tensor(
        keras.ops, probs_from_output(keras, t, bundle.binary)), name="probs")(raw)
    return keras.Model(inputs, out, name=name)


def needs_preset(short: str, example: str, more: str = "") -> UserError:
    """The error for a keras-hub architecture given no preset (nor random weights)."""
    return UserError(f"{short} needs --preset: a keras-hub preset name (e.g. {example}) or "
                     f"a local folder{more}.",
                     window_message=f"{short} needs a preset name or a local folder "
                     "(Preset or folder → Folder…).")


@contextmanager
def preset_errors(word):
    """Around keras-hub's ``from_preset``: an exception becomes the :class:`UserError`
    ``word(e)`` returns (offline, no such preset, a folder of another kind …); one it
    cannot word (None) is a fault in the code, re-raised as it is, not disguised as an
    offline problem."""
    try:
        yield
    except UserError:
        raise
    except Exception as e:
        error = word(e)
        if error is None:
            raise
        raise error from e


def split_chain(bundle, cut: str):
    """(prefix, suffix) Keras models sharing a chain-shaped model's layer objects at the
    layer named ``cut``: ``full(x) == suffix(prefix(x))``. Used by the feature cache and
    by Grad-CAM."""
    import keras

    model = bundle.model
    layers = bundle.modality.chain_layers(model)
    names = [layer.name for layer in layers]
    i = names.index(cut)
    # Re-apply the layer objects to fresh inputs (a layer's own .output may belong to
    # another graph it was first called in, e.g. keras.applications' VGG16).
    inp = keras.Input(shape=model.input.shape[1:], name="image")
    x = inp
    for layer in layers[:i + 1]:
        x = layer(x)
    prefix = keras.Model(inp, x, name="prefix")
    feats = keras.Input(shape=x.shape[1:], name="features")
    y = feats
    for layer in layers[i + 1:]:
        y = layer(y)
    return prefix, keras.Model(feats, y, name="suffix")


def predict_batch(model, x):
    """``model(x)`` as a NumPy array, through Keras's compiled predict step: calling a
    VGG16 eagerly held ~400 MB more at 224 px (every conv's output allocated on its own;
    measured). Under a multi-device ``tf.distribute`` strategy ``predict_on_batch``
    returns mis-shaped outputs (Keras 3.15), so that case keeps the eager call."""
    import keras
    import numpy as np

    strategy = getattr(model, "distribute_strategy", None)
    if getattr(strategy, "num_replicas_in_sync", 1) > 1:
        return np.asarray(keras.ops.convert_to_numpy(model(x, training=False)))
    return np.asarray(model.predict_on_batch(x))
