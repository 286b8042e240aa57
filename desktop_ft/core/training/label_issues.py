"""Suspect labels: training examples whose given label looks wrong.

Each example gets predicted probabilities from a model that never saw it (k-fold, out of
fold); Confident Learning (``cleanlab.filter.find_label_issues``) then picks the
examples whose given label those probabilities contradict. With a frozen backbone the
prefix's features are computed once and only the small head trains per fold (seconds);
otherwise the whole model trains per fold, from the same starting weights each time.
The bundle's weights are put back afterwards.
"""

from __future__ import annotations

import math
import threading

from desktop_ft.core import runtime
from desktop_ft.core.data.scan_result import Split
from desktop_ft.core.errors import UserError
from desktop_ft.core.models.shared import predict_batch, to_class_probs
from desktop_ft.core.observer import Observer
from desktop_ft.core.training import feature_cache
from desktop_ft.core.training.compile import compile_model
from desktop_ft.core.training.job import TrainJob, resolve_learning_rate

WHAT = "Finding suspect labels"


class SearchCancelled(UserError):
    pass


def find_suspects(job: TrainJob, observer: Observer | None = None,
                  stop: threading.Event | None = None, *, folds: int = 5,
                  bundle=None, scan=None) -> dict:
    """Rank the training examples whose label looks wrong. Returns a JSON-friendly dict:
    ``suspects`` (each ``item``, ``given``, ``suggested``, ``score`` — cleanlab's label
    quality, lower is more suspect; most suspect first), ``examples``, ``folds``,
    ``cached`` (the cut when head-only on cached features) and ``classes``. The scan
    applies ``job.corrections``, so examples already decided on are judged as decided."""
    from desktop_ft.core.training.fit import prepared_model

    runtime.configure()
    observer = observer or Observer()
    stop = stop or threading.Event()
    bundle, scan = prepared_model(job, observer, stop, bundle, scan)
    if scan.multi_label:
        raise UserError("Finding suspect labels judges one label per example; this data has "
                        "several labels per example, which it does not handle.")
    split = scan.train
    counts = [c for c in split.counts(scan.num_classes) if c]
    if folds < 2 or len(counts) < 2 or min(counts) < folds:
        raise UserError(f"Finding suspect labels with {folds} folds needs at least 2 folds "
                        f"and {folds} examples in every class (the smallest has "
                        f"{min(counts) if counts else 0}).")
    lr, _ = resolve_learning_rate(job, bundle.tree)
    bundle.tree.apply_to_model()
    plan = feature_cache.plan_feature_cache(bundle, len(split), job.cache_budget_mb << 20,
                                            job.feature_cache)
    fold_of = _stratified_folds(split.labels, folds, job.seed)
    if plan.cut:
        observer.on_status(f"{WHAT}: features up to {plan.cut} once, then the head "
                           f"trains {folds} times.")
        outs, ok = _cached_folds(bundle, job, split, plan.cut, fold_of, (lr, observer, stop))
    else:
        observer.on_status(f"{WHAT}: the model trains {folds} times ({plan.reason}).")
        outs, ok = _full_folds(bundle, job, split, fold_of, (lr, observer, stop))
    return _suspects(bundle, scan, outs, ok, folds, plan.cut)


def _stratified_folds(labels, folds: int, seed: int):
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    fold_of = np.zeros(len(labels), int)
    kfold = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for k, (_, held) in enumerate(kfold.split(np.zeros(len(labels)), labels)):
        fold_of[held] = k
    return fold_of


def _stopper(stop):
    """A Keras callback that ends fit after the batch in flight when ``stop`` is set."""
    import keras

    class Stopper(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if stop.is_set():
                self.model.stop_training = True
    return Stopper()


def _each_fold(model, fold_of, context, train_and_predict):
    """Run ``train_and_predict(k, held_mask)`` per fold from the same starting weights;
    put them back at the end (also when cancelled)."""
    import numpy as np

    lr, observer, stop = context
    start = model.get_weights()
    folds = int(fold_of.max()) + 1
    outs = [None] * len(fold_of)
    try:
        for k in range(folds):
            if stop.is_set():
                raise SearchCancelled("Finding suspect labels was cancelled.")
            observer.on_progress(k, folds, WHAT)
            observer.on_status(f"{WHAT}: fold {k + 1} of {folds}…")
            model.set_weights(start)
            held = fold_of == k
            for i, row in zip(np.flatnonzero(held), train_and_predict(held)):
                outs[i] = row
            if stop.is_set():
                raise SearchCancelled("Finding suspect labels was cancelled.")
        observer.on_progress(folds, folds, WHAT)
    finally:
        model.set_weights(start)
    return np.stack(outs)


def _cached_folds(bundle, job, split, cut, fold_of, context):
    import keras
    import numpy as np

    lr, observer, stop = context
    prefix, suffix = feature_cache.split_model(bundle, cut)
    ordered = bundle.modality.make_dataset(bundle, split, job.batch_size, shuffle=False)
    xs, ys, ws = feature_cache.compute_features(prefix, ordered)

    def train_and_predict(held):
        keep = ~held & (ws > 0)
        # The job's schedule over this fold's steps, as training would run it.
        compile_model(bundle, job, lr, suffix,
                      math.ceil(int(keep.sum()) / job.batch_size) * job.epochs)
        keras.Model.fit(suffix, xs[keep], ys[keep], batch_size=job.batch_size,
                        epochs=job.epochs, shuffle=True, verbose=0,
                        callbacks=[_stopper(stop)])
        rows = xs[held]
        return np.concatenate([predict_batch(suffix, rows[i:i + job.batch_size])
                               for i in range(0, len(rows), job.batch_size)])

    return _each_fold(suffix, fold_of, context, train_and_predict), ws > 0


def _full_folds(bundle, job, split, fold_of, context):
    import keras
    import numpy as np

    lr, observer, stop = context
    modality = bundle.modality
    readable = np.ones(len(split), bool)

    def subset(mask):
        return Split([split.items[i] for i in np.flatnonzero(mask)],
                     [split.labels[i] for i in np.flatnonzero(mask)])

    def train_and_predict(held):
        part = subset(~held)
        compile_model(bundle, job, lr, None,
                      math.ceil(len(part) / job.batch_size) * job.epochs)
        train = modality.make_dataset(bundle, part, job.batch_size, shuffle=True,
                                      seed=job.seed, epochs=(0, job.epochs))
        keras.Model.fit(bundle.model, train, epochs=job.epochs,
                        steps_per_epoch=math.ceil(len(part) / job.batch_size), verbose=0,
                        shuffle=False, callbacks=[_stopper(stop)])
        out = []
        for x, _, _w in modality.make_dataset(bundle, subset(held), job.batch_size,
                                             shuffle=False):
            out.append(predict_batch(bundle.model, x))
        return np.concatenate(out)

    return _each_fold(bundle.model, fold_of, context, train_and_predict), readable


def _suspects(bundle, scan, outs, ok, folds: int, cut) -> dict:
    import numpy as np
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    rows = np.flatnonzero(ok)
    probs = to_class_probs(outs[rows], bundle.binary).astype(np.float64)
    probs /= probs.sum(axis=1, keepdims=True)
    labels = np.asarray(scan.train.labels)[rows]
    ranked = find_label_issues(labels, probs, return_indices_ranked_by="self_confidence")
    scores = get_label_quality_scores(labels, probs, method="self_confidence")
    classes = scan.classes
    suspects = [{"item": str(scan.train.items[rows[i]]), "given": classes[labels[i]],
                 "suggested": classes[int(np.argmax(probs[i]))],
                 "score": round(float(scores[i]), 4),
                 "probs": {c: round(float(p), 4) for c, p in zip(classes, probs[i])}}
                for i in ranked]
    return {"classes": list(classes), "examples": int(len(rows)), "folds": folds,
            "cached": cut, "kind": scan.kind, "root": scan.root, "suspects": suspects}
