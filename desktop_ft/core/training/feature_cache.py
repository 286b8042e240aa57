"""The frozen-prefix feature cache.

When the first layers of a chain-shaped model (every image model: VGG's layers, or any
other backbone as one layer, then the head) are frozen and deterministic, their
output is computed once per dataset and only the suffix trains, on cached features. The
suffix is rebuilt from the very same layer objects, so the full model (try-it, export)
sees the trained weights: ``full(x) == suffix(prefix(x))``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from desktop_ft.core import compat
from desktop_ft.core.models import split_chain
from desktop_ft.core.models.shared import predict_batch, to_class_probs

ALWAYS_RANDOM = ("GaussianNoise", "GaussianDropout", "AlphaDropout")


def random_in_training(layer) -> bool:
    """Whether ``layer`` (or a layer inside it) computes differently in training: random
    layers, a Dropout or stochastic depth with a rate (a frozen one's is 0,
    ``layer_tree``), and a BatchNormalization that trains (a frozen one runs in
    inference mode)."""
    kind = type(layer).__name__
    if layer.name.startswith("augment_") or kind.startswith("Random") or \
            kind in ALWAYS_RANDOM:
        return True
    if kind == "BatchNormalization":
        return bool(layer.trainable)
    if "Dropout" in kind:
        return float(getattr(layer, "rate", 0.0)) > 0
    if hasattr(layer, "drop_prob") and not layer.weights:     # stochastic depth (Swin)
        return float(layer.drop_prob or 0.0) > 0
    return any(random_in_training(sub) for sub in compat.direct_sublayers(layer))


@dataclass
class CachePlan:
    cut: str | None          # name of the last cached layer
    reason: str              # why (not) — shown to the user
    feature_shape: tuple = ()
    feature_bytes: int = 0


def plan_feature_cache(bundle, n_examples: int, budget_bytes: int, enabled: bool = True,
                       distributed: bool = False) -> CachePlan:
    """Where to cut the model: after the last layer of the longest frozen, deterministic
    prefix. ``cut`` is None when there is nothing to cache or it would not fit."""
    if not enabled:
        return CachePlan(None, "feature cache turned off")
    chain = bundle.modality.chain_layers(bundle.model)
    if chain is None:
        return CachePlan(None, "feature cache applies to chain-shaped models (images)")
    if distributed:
        return CachePlan(None, "feature cache is not used with several devices")
    cut = None
    stopper = ""
    for layer in chain:
        trains = layer.trainable and any(v.trainable for v in layer.weights)
        if trains:
            stopper = f"{layer.name} trains"
            if getattr(layer, "layers", None) and any(not v.trainable for v in layer.weights):
                stopper += (": its frozen layers cannot be cut from it (its blocks are "
                            "joined by branches), so only head-only training is cached")
            break
        if random_in_training(layer):
            stopper = f"{layer.name} is random in training"
            break
        cut = layer
    if cut is None:
        return CachePlan(None, f"no frozen prefix to cache ({stopper})")
    if cut is chain[-1]:
        return CachePlan(None, "every layer is frozen")
    shape = tuple(int(d) for d in cut.output.shape[1:])
    per_example = 4
    for d in shape:
        per_example *= d
    total = per_example * n_examples
    if total > budget_bytes:
        return CachePlan(None, f"features after {cut.name} would take "
                               f"{total / 2**20:,.0f} MiB, over the {budget_bytes / 2**20:,.0f} "
                               "MiB cache budget; training normally", shape, total)
    return CachePlan(cut.name, f"features cached after {cut.name}", shape, total)


def split_model(bundle, cut: str):
    """(prefix, suffix) Keras models sharing the bundle's layer objects at ``cut``."""
    return split_chain(bundle, cut)


def compute_features(prefix, dataset):
    """Run ``prefix`` once over a batched (x, y, weight) dataset → (features, targets,
    weights) arrays."""
    import numpy as np

    feats, targets, weights = [], [], []
    for x, y, w in dataset:
        feats.append(predict_batch(prefix, x))
        targets.append(np.asarray(y))
        weights.append(np.asarray(w))
    return np.concatenate(feats), np.concatenate(targets), np.concatenate(weights)


def cached_datasets(bundle, cut: str, train_ds, val_ds, batch_size: int, seed: int,
                    epochs: tuple[int, int]):
    """(suffix model, train features ds for ``epochs``, val features ds or None, seconds
    spent, the val features as arrays or None). The training batches come in the same
    per-epoch orders as uncached ones."""
    import keras

    t0 = time.perf_counter()
    prefix, suffix = split_model(bundle, cut)
    xs, ys, ws = compute_features(prefix, train_ds)
    val_features = None if val_ds is None else compute_features(prefix, val_ds)
    if keras.backend.backend() != "tensorflow":
        from desktop_ft.core.data.batches import ArrayBatches

        train = ArrayBatches((xs, ys, ws), batch_size, seed=seed, first_epoch=epochs[0])
        val = None if val_ds is None else ArrayBatches(val_features, batch_size)
        return suffix, train, val, time.perf_counter() - t0, val_features
    import tensorflow as tf

    from desktop_ft.core.data.datasets import epoch_batches

    examples = tf.data.Dataset.from_tensor_slices((xs, ys, ws))
    train = epoch_batches(examples, len(xs), batch_size, seed, epochs)
    val = None
    if val_ds is not None:
        val = tf.data.Dataset.from_tensor_slices(val_features).batch(batch_size)
    return suffix, train, val, time.perf_counter() - t0, val_features


def probs_from_features(bundle, suffix, features, split, skipped, batch_size: int):
    """(probs, items, labels) of ``split`` from its cached features (``features``: the
    arrays :func:`cached_datasets` returned, one row per item of the split in its order;
    a file unreadable while they were computed has a row of weight 0 and is in
    ``skipped``), through the trained ``suffix``: what the full model gives on those
    images (``full(x) == suffix(prefix(x))``) without running the frozen prefix over
    them again, nor tracing the full model. The ``skipped`` files are left out. ``None``
    when the features do not line up with the split."""
    import numpy as np

    xs = features[0]
    if len(xs) != len(split.items):
        return None
    gone = {path for path, _ in skipped}
    rows = [i for i, item in enumerate(split.items) if item not in gone]
    if not rows:
        return None
    xs = xs[rows]
    out = np.concatenate([predict_batch(suffix, xs[i:i + batch_size])
                          for i in range(0, len(xs), batch_size)])
    return (to_class_probs(out, bundle.binary), [split.items[i] for i in rows],
            [split.labels[i] for i in rows])


def log_entry(plan: CachePlan, phase: int, epoch_seconds: list, cache_seconds: float,
              observer) -> dict:
    """What ``export.json`` records about the cache in one phase (and a status line)."""
    if not plan.cut:
        return {"phase": phase, "cut": None, "reason": plan.reason}
    epoch = sum(epoch_seconds) / len(epoch_seconds) if epoch_seconds else 0.0
    # Without the cache each epoch would also run the frozen prefix forward over the same
    # images — the one-time pass measured above.
    factor = (epoch + cache_seconds) / epoch if epoch else 0.0
    observer.on_status(f"{plan.reason}: {len(epoch_seconds)} epoch(s) ×{factor:.1f} faster "
                       f"(estimated; features took {cache_seconds:.1f} s once).")
    return {"phase": phase, "cut": plan.cut, "epochs": len(epoch_seconds),
            "feature_seconds": round(cache_seconds, 3),
            "feature_mib": round(plan.feature_bytes / 2**20, 2),
            "estimated_speedup": round(factor, 1)}
