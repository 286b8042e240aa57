"""The SavedModel: a raw-input ``serve`` endpoint around the Keras model (images as
uint8 of any size, or strings), returning probabilities, class index and label."""

from __future__ import annotations

from pathlib import Path

from desktop_ft.core import compat


def _serve_function(bundle, labels: list[str]):
    """The raw-input ``tf.function`` that becomes the ``serve`` endpoint."""
    import tensorflow as tf

    label_table = tf.constant(labels)
    binary = bundle.binary

    def outputs(raw):
        raw = tf.cast(raw, tf.float32)
        probs = tf.concat([1.0 - raw, raw], axis=-1) if binary else raw
        index = tf.argmax(probs, axis=-1)
        return {"probs": probs, "class_index": index, "label": tf.gather(label_table, index)}

    return bundle.family_impl.serve_function(bundle, outputs)


def write_saved_model(bundle, path: Path, labels: list[str]) -> None:
    import keras

    archive = keras.export.ExportArchive()
    archive.track(bundle.model)
    for extra in bundle.family_impl.archive_extras(bundle):
        archive.track(extra)
    archive.add_endpoint("serve", _serve_function(bundle, labels))
    # Keras 3.15's archive would store every weight twice: keep only the captured ones.
    compat.archive_keeps_only_captured_variables(archive)
    archive.write_out(str(path), verbose=False)

