"""Feeding data to a model: decoding images, batched datasets of (input, target), and
raw inputs for prediction. Families choose the preprocessing (``Family.make_dataset``)."""

from __future__ import annotations

from desktop_ft.core.data import Split


def load_inputs(kind: str, items: list) -> list:
    """Split items → raw model inputs: decoded uint8 images for ``images``, the strings
    themselves for ``text``."""
    if kind == "images":
        return [load_image_rgb(p) for p in items]
    return list(items)


def load_image_rgb(path: str):
    """Decode any supported image file to a ``uint8 [H, W, 3]`` array (EXIF-rotated)."""
    import numpy as np
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode != "RGB":
            im = im.convert("RGBA").convert("RGB") if im.mode in ("P", "LA", "RGBA") \
                else im.convert("RGB")
        return np.asarray(im, dtype=np.uint8)


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


def image_dataset(split: Split, num_classes: int, batch_size: int, *, preprocess,
                  example_bytes: int, shuffle: bool, seed: int = 0, binary: bool,
                  cache_bytes: int = 2 << 30, epochs: tuple[int, int] | None = None):
    """A batched ``tf.data.Dataset`` of (model input, target) from image files.

    Decoding uses PIL (it reads every format we accept, webp and palette GIFs included)
    in parallel; ``preprocess`` (a family's: ``uint8 [H, W, 3]`` tensor → model input)
    is the very function its exported SavedModel uses, so training and serving see
    identical inputs. Decoded examples are cached in memory when they fit
    ``cache_bytes`` (``example_bytes`` each). With ``epochs``, shuffled batches for those
    epochs (:func:`epoch_batches`).
    """
    import numpy as np
    import tensorflow as tf

    paths = np.array(split.items, dtype=object).astype(str)
    targets = _targets(split.labels, num_classes, binary)

    def decode(p):
        return load_image_rgb(p.decode() if isinstance(p, bytes) else str(p))

    def load(path, y):
        img = tf.numpy_function(decode, [path], tf.uint8, stateful=False)
        img.set_shape([None, None, 3])
        return preprocess(img), y

    ds = tf.data.Dataset.from_tensor_slices((paths, targets))
    ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if len(split) * example_bytes <= cache_bytes:
        ds = ds.cache()
    if shuffle and epochs is not None:
        return epoch_batches(ds, len(split), batch_size, seed, epochs)
    if shuffle:
        ds = ds.shuffle(max(len(split), 1), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def text_dataset(split: Split, num_classes: int, batch_size: int, *, shuffle: bool,
                 seed: int = 0, binary: bool, epochs: tuple[int, int] | None = None):
    """A batched ``tf.data.Dataset`` of (raw string, target); the model's preprocessor
    tokenizes it (keras-hub tasks map their preprocessor over the dataset in ``fit``)."""
    import tensorflow as tf

    targets = _targets(split.labels, num_classes, binary)
    ds = tf.data.Dataset.from_tensor_slices((tf.constant(split.items, tf.string), targets))
    if shuffle and epochs is not None:
        return epoch_batches(ds, len(split), batch_size, seed, epochs)
    if shuffle:
        ds = ds.shuffle(max(len(split), 1), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size)


def _targets(labels: list[int], num_classes: int, binary: bool):
    import numpy as np

    y = np.asarray(labels, dtype=np.int64)
    if binary:
        return y.astype(np.float32).reshape(-1, 1)
    return np.eye(num_classes, dtype=np.float32)[y] if len(y) else \
        np.zeros((0, num_classes), np.float32)
