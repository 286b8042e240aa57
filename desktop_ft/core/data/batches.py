"""The input pipeline without TensorFlow: ``keras.utils.PyDataset`` batches for the torch
and jax backends, decoded with Pillow by parallel worker threads.

They keep the contract of the ``tf.data`` pipeline (:mod:`desktop_ft.core.data.datasets`):
batches of (model input, target, sample weight), a weight of 0 for a file that became
unreadable after the scan, and shuffled orders fixed by (seed, epoch) so that a resumed
run sees the batches an uninterrupted one saw. Keras asks for the batches of one epoch
at a time; :class:`EpochOrder` (a callback the engine adds to ``fit``) tells the dataset
which epoch is starting.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass

import keras
import numpy as np

from desktop_ft.core.data.images import UNREADABLE, load_image_rgb, unreadable_reason


def workers() -> int:
    """Decoding threads: Pillow releases the GIL while it decodes and resizes, so on a GPU
    machine parallel workers keep the card fed. Without an accelerator the same cores
    train the model: there one thread decoding between steps was faster (tiny VGG16 on
    2 cores, torch: 1.03× plain Keras against 0.92× with two decoding threads)."""
    from desktop_ft.core import backend

    if not backend.gpus():
        return 1
    return max(2, min(8, os.cpu_count() or 2))


@dataclass(frozen=True)
class Order:
    """The order batches come in: as given (``seed`` None), or shuffled per epoch in an
    order fixed by (``seed``, epoch), starting at epoch ``first_epoch``."""
    seed: int | None = None
    first_epoch: int = 0


class _Batches(keras.utils.PyDataset):
    def __init__(self, n: int, batch_size: int, *, seed: int | None, first_epoch: int,
                 parallel: bool):
        super().__init__(workers=workers() if parallel else 1, use_multiprocessing=False,
                         max_queue_size=8)
        self.n, self.batch_size, self.seed = n, max(1, batch_size), seed
        self.epoch = first_epoch
        self._orders: dict[int, np.ndarray] = {}
        self._shard: tuple[int, int] | None = None

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def indices(self, i: int) -> np.ndarray:
        if self.seed is None:
            order = np.arange(self.n)
        else:
            order = self._orders.get(self.epoch)
            if order is None:
                rng = np.random.default_rng([self.seed, self.epoch])
                order = self._orders[self.epoch] = rng.permutation(self.n)
        return order[i * self.batch_size:(i + 1) * self.batch_size]

    def shard(self, index: int, count: int) -> "_Batches":
        """Read only part ``index`` of ``count`` of every batch (one process of several
        training together). Each batch is first the one a single process would read,
        cut from the same fixed order, padded to the whole batch size with weight-0
        copies of its first example: every process then has equally many, equally
        shaped batches, and together they hold exactly the single process's batch."""
        if self.batch_size % count:
            raise ValueError(f"batch size {self.batch_size} does not split into {count}")
        self._shard = (index, count)
        return self

    def slot(self, i: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Batch ``i``'s example indices, and which are real (None: all of them)."""
        idx = self.indices(i)
        if self._shard is None:
            return idx, None
        index, count = self._shard
        real = np.zeros(self.batch_size, bool)
        real[:len(idx)] = True
        idx = np.concatenate([idx, np.full(self.batch_size - len(idx), idx[0], idx.dtype)])
        part = self.batch_size // count
        cut = slice(index * part, (index + 1) * part)
        return idx[cut], real[cut]


class ImageBatches(_Batches):
    """Image files → batches of preprocessed float32 inputs. ``preprocess`` maps one
    decoded ``uint8 [H, W, 3]`` array to the model's input; decoded examples are kept in
    memory when ``cache`` is true."""

    def __init__(self, paths, targets, weights, batch_size: int, *, preprocess,
                 order: Order = Order(), cache: bool = True, on_unreadable=None):
        super().__init__(len(paths), batch_size, seed=order.seed,
                         first_epoch=order.first_epoch, parallel=True)
        self.paths, self.targets, self.weights = list(paths), targets, weights
        self.preprocess, self.on_unreadable = preprocess, on_unreadable
        self._cache: dict[int, np.ndarray] | None = {} if cache else None
        self._reported: set[str] = set()
        self._lock = threading.Lock()

    def _example(self, k: int):
        if self._cache is not None and k in self._cache:
            return self._cache[k], 1.0
        path = self.paths[k]
        try:
            image = load_image_rgb(path)
        except UNREADABLE as e:
            with self._lock:
                first = path not in self._reported
                self._reported.add(path)
            if first and self.on_unreadable is not None:
                self.on_unreadable(path, unreadable_reason(e))
            return None, 0.0
        x = self.preprocess(image)      # outside the try: a bug here is not a bad file
        if self._cache is not None:
            self._cache[k] = x
        return x, 1.0

    def __getitem__(self, i: int):
        idx, real = self.slot(i)
        examples = [self._example(int(k)) for k in idx]
        shape = next((x.shape for x, _ in examples if x is not None), None)
        if shape is None:        # every file of the batch became unreadable
            shape = self._any_shape()
        x = np.stack([e if e is not None else np.zeros(shape, np.float32)
                      for e, _ in examples])
        ok = np.array([w for _, w in examples], np.float32)
        if real is not None:
            ok = ok * real
        return x, self.targets[idx], self.weights[idx] * ok

    def _any_shape(self):
        probe = self.preprocess(np.zeros((8, 8, 3), np.uint8))
        return probe.shape


class ArrayBatches(_Batches):
    """In-memory arrays (the feature cache; tokenized texts) → batches of (inputs,
    targets, weights). The inputs may be one array or a dict of arrays by input name."""

    def __init__(self, arrays, batch_size: int, *, seed: int | None = None,
                 first_epoch: int = 0):
        y = arrays[1]
        super().__init__(len(y), batch_size, seed=seed, first_epoch=first_epoch,
                         parallel=False)
        self.arrays = arrays

    def __getitem__(self, i: int):
        idx, real = self.slot(i)
        batch = [{k: v[idx] for k, v in a.items()} if isinstance(a, dict) else a[idx]
                 for a in self.arrays]
        if real is not None and len(batch) > 2:      # padding weighs nothing
            batch[2] = batch[2] * real
        return tuple(batch)


class EpochOrder(keras.callbacks.Callback):
    """Tells shuffled datasets which epoch starts (Keras calls ``on_epoch_begin`` before
    it asks for the epoch's first batch)."""

    def __init__(self, dataset: _Batches):
        super().__init__()
        self.dataset = dataset

    def on_epoch_begin(self, epoch, logs=None):
        self.dataset.set_epoch(epoch)


def epoch_order_callbacks(*datasets) -> list:
    return [EpochOrder(d) for d in datasets if isinstance(d, _Batches) and d.seed is not None]
