"""The SavedModel: a raw-input ``serve`` endpoint around the Keras model (images as
uint8 of any size, or strings), returning probabilities (calibrated by the model's
temperature), class index and label; for a multi-label model each label's probability
(``probs`` ``[N, labels]``) and ``predicted`` (bool ``[N, labels]``: the labels that reach
their thresholds)."""

from __future__ import annotations

import types
from pathlib import Path

from desktop_ft.core import compat
from desktop_ft.core.models.shared import two_class_probs


def _serve_function(bundle, labels: list[str]):
    """The raw-input ``tf.function`` that becomes the ``serve`` endpoint."""
    import tensorflow as tf

    label_table = tf.constant(labels)
    binary, decision = bundle.binary, bundle.decision
    # What Decision.calibrated_tensor calls, by TensorFlow's names.
    ops = types.SimpleNamespace(log=tf.math.log, clip=tf.clip_by_value, max=tf.reduce_max,
                                exp=tf.exp, sum=tf.reduce_sum)

    if decision.multi_label:
        # One sigmoid per label, and which labels reach their thresholds.
        thresholds = tf.constant(decision.label_thresholds(len(labels)), tf.float32)

        def label_outputs(raw):
            probs = tf.cast(raw, tf.float32)
            return {"probs": probs, "predicted": probs >= thresholds}
        return bundle.modality.serve_function(bundle, label_outputs)

    def outputs(raw):
        raw = tf.cast(raw, tf.float32)
        probs = decision.calibrated_tensor(ops, two_class_probs(raw, binary, tf.concat))
        index = tf.argmax(probs, axis=-1)
        return {"probs": probs, "class_index": index, "label": tf.gather(label_table, index)}

    return bundle.modality.serve_function(bundle, outputs)


def write_saved_model(bundle, path: Path, labels: list[str]) -> None:
    save_function(_serve_function(bundle, labels), path, ("serving_default", "serve"),
                  resources_of=bundle.modality.archive_extras(bundle))


def save_function(fn, path: Path, names: tuple[str, ...], *, resources_of=()) -> None:
    """A SavedModel of ``fn`` (a ``tf.function`` with an input signature) under the
    signature ``names``, holding the variables it uses once each and the lookup tables
    found in ``resources_of`` (a tokenizer's).

    Keras's ``ExportArchive`` does the same at a cost: it traces ``fn`` once before the
    save and the save traces it again; it walks the tracked models in SavedModel mode,
    which traces each one's unused default signature; and it stores the graph twice.
    Here ``fn`` is traced once (:func:`compat.traced_for_saving`): a whole text export
    now takes 5.0 s instead of 8.6 s, and its ``saved_model.pb`` is half the size
    (``bench/export_speed.py``)."""
    import tensorflow as tf

    traced = compat.traced_for_saving(fn)
    root = tf.Module(name="exported")
    root.serve = fn
    root.weights = list(traced.variables)
    resource = tf.saved_model.experimental.TrackableResource
    root.resources = [obj for tracked in resources_of
                      for obj in tf.train.TrackableView(tracked).descendants()
                      if isinstance(obj, resource)]
    tf.saved_model.save(root, str(path), signatures=dict.fromkeys(names, traced))
