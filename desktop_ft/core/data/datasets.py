"""Feeding data to a model: decoding images, batched datasets of (input, target), and
raw inputs for prediction. Modalities choose the preprocessing (``Modality.make_dataset``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from desktop_ft.core.data import Split
from desktop_ft.core.data.images import UNREADABLE, load_image_rgb, unreadable_reason

__all__ = ["UNREADABLE", "ImageFeed", "epoch_batches", "image_dataset", "load_image_rgb",
           "load_inputs", "readable_inputs", "targets_and_weights", "unreadable_reason"]

def load_inputs(kind: str, items: list) -> list:
    """Split items → raw model inputs: decoded uint8 images for ``images``, the strings
    themselves for ``text``."""
    if kind == "images":
        return [load_image_rgb(p) for p in items]
    return list(items)


def readable_inputs(kind: str, items: list, labels: list, on_unreadable=None):
    """(inputs, items, labels) for the items that can still be read — a file deleted or
    replaced by something unreadable since the scan is left out and passed to
    ``on_unreadable(path, reason)``."""
    if kind != "images":
        return list(items), list(items), list(labels)
    inputs, kept, kept_labels = [], [], []
    for item, label in zip(items, labels):
        try:
            inputs.append(load_image_rgb(item))
        except UNREADABLE as e:
            if on_unreadable is not None:
                on_unreadable(item, unreadable_reason(e))
            continue
        kept.append(item)
        kept_labels.append(label)
    return inputs, kept, kept_labels


def epoch_batches(examples, n: int, batch_size: int, seed: int, epochs: tuple[int, int]):
    """Batches for epochs ``epochs[0]`` … ``epochs[1] - 1`` in one stream, each epoch in
    its own order fixed by (seed, epoch) — so a run resumed at epoch k sees exactly the
    batches an uninterrupted run saw. Train it with ``steps_per_epoch``."""
    import tensorflow as tf

    stream = None
    for epoch in range(*epochs):
        order_seed = (seed * 1_000_003 + epoch) % (2 ** 31 - 1)
        one = examples.shuffle(max(n, 1), seed=order_seed,
                               reshuffle_each_iteration=False).batch(batch_size)
        stream = one if stream is None else stream.concatenate(one)
    if stream is None:
        stream = examples.take(0).batch(batch_size)
    return stream.prefetch(tf.data.AUTOTUNE)


@dataclass(frozen=True)
class ImageFeed:
    """What a model takes from image files: ``preprocess`` (the modality's ``uint8
    [H, W, 3]`` tensor → model input, the very function its exported SavedModel uses),
    ``preprocess_numpy`` (the same on a numpy array, for the torch and jax backends),
    ``example_bytes`` (one preprocessed example: decoded examples are cached in memory
    when the split fits ``cache_bytes``) and its targets (``num_classes``; ``binary``: one
    sigmoid unit; a split whose labels are tuples gets multi-hot targets, one per label)."""
    preprocess: Callable
    num_classes: int
    binary: bool
    example_bytes: int
    preprocess_numpy: Callable | None = None
    cache_bytes: int = 2 << 30


def image_dataset(split: Split, feed: ImageFeed, batch_size: int, *, shuffle: bool,
                  seed: int = 0, epochs: tuple[int, int] | None = None, class_weights=None,
                  on_unreadable=None):
    """A batched ``tf.data.Dataset`` of (model input, target, sample weight) from image
    files — on the torch and jax backends a ``keras.utils.PyDataset`` with the same
    contract (:mod:`desktop_ft.core.data.batches`, ``feed.preprocess_numpy`` per image).

    The weight is the example's class weight (1 without ``class_weights``) — and 0
    for a file deleted or made unreadable after the scan: it is skipped without changing
    the number of batches (so a resumed run still sees the same batches), and reported
    once through ``on_unreadable(path, reason)``.

    Decoding uses PIL (it reads every format we accept, webp and palette GIFs included)
    in parallel; ``feed.preprocess`` is the function the exported SavedModel uses, so
    training and serving see identical inputs. With ``epochs``, shuffled batches for
    those epochs (:func:`epoch_batches`).
    """
    import keras
    import numpy as np

    targets = _targets(split.labels, feed.num_classes, feed.binary)
    weights = _weights(split.labels, class_weights)
    if keras.backend.backend() != "tensorflow":
        from desktop_ft.core.data.batches import ImageBatches, Order

        return ImageBatches(split.items, targets, weights, batch_size,
                            preprocess=feed.preprocess_numpy,
                            order=Order(seed if shuffle else None, epochs[0] if epochs else 0),
                            cache=len(split) * feed.example_bytes <= feed.cache_bytes,
                            on_unreadable=on_unreadable)
    import tensorflow as tf

    paths = np.array(split.items, dtype=object).astype(str)
    reported: set[str] = set()

    def decode(p):
        path = p.decode() if isinstance(p, bytes) else str(p)
        try:
            return load_image_rgb(path), np.float32(1)
        except UNREADABLE as e:
            if on_unreadable is not None and path not in reported:
                reported.add(path)
                on_unreadable(path, unreadable_reason(e))
            return np.zeros((1, 1, 3), np.uint8), np.float32(0)

    def load(path, y, w):
        img, ok = tf.numpy_function(decode, [path], (tf.uint8, tf.float32), stateful=True)
        img.set_shape([None, None, 3])
        ok.set_shape([])
        return feed.preprocess(img), y, w * ok

    ds = tf.data.Dataset.from_tensor_slices((paths, targets, weights))
    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if len(split) * feed.example_bytes <= feed.cache_bytes:
        ds = ds.cache()
    if shuffle and epochs is not None:
        return epoch_batches(ds, len(split), batch_size, seed, epochs)
    if shuffle:
        ds = ds.shuffle(max(len(split), 1), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def targets_and_weights(split: Split, num_classes: int, binary: bool, class_weights=None):
    """(targets, sample weights) of a split: ``[N, 1]`` 0/1 for a sigmoid output, one-hot
    for a softmax, multi-hot ``[N, num_classes]`` float32 for a multi-label split (its
    labels are tuples; ``binary`` is then ignored); each example's class weight (1 without
    ``class_weights``; multi-label: its rarest label's, the largest weight among its labels,
    and 1 for a row with no label)."""
    return _targets(split.labels, num_classes, binary), _weights(split.labels, class_weights)


def _targets(labels: list[int], num_classes: int, binary: bool):
    import numpy as np

    if len(labels) and isinstance(labels[0], tuple):   # multi-label: multi-hot [N, C]
        hot = np.zeros((len(labels), num_classes), np.float32)
        for row, ys in enumerate(labels):
            hot[row, list(ys)] = 1.0
        return hot
    y = np.asarray(labels, dtype=np.int64)
    if binary:
        return y.astype(np.float32).reshape(-1, 1)
    return np.eye(num_classes, dtype=np.float32)[y] if len(y) else \
        np.zeros((0, num_classes), np.float32)


def _weights(labels: list, class_weights: dict | None):
    """Per-example sample weights: the class weight of each label (1 without); for a set
    of labels the largest (its rarest label's), 1 for an empty set."""
    import numpy as np

    if not class_weights:
        return np.ones(len(labels), np.float32)
    return np.array([max((class_weights[int(i)] for i in y), default=1.0)
                     if isinstance(y, tuple) else class_weights[int(y)] for y in labels],
                    np.float32)
