"""Learning-rate range test (Smith 2015; fastai's ``lr_find``): train a few hundred steps
with the rate growing exponentially, record the smoothed loss, suggest a rate.

The model starts as training would (``fit.prepared_model``: seed, data, strategy); with a
frozen backbone the head trains on cached features (seconds). Nothing the test touches is
kept: every model variable (BatchNorm statistics and other non-trainable ones included),
the model's own optimizer and compile state (the test trains through a separate wrapper
with its own optimizer) and the numpy/Python random state are as before, also when
cancelled.
"""

from __future__ import annotations

import math
import random
import threading

from desktop_ft.core import runtime
from desktop_ft.core.errors import UserError
from desktop_ft.core.observer import Observer
from desktop_ft.core.training import feature_cache
from desktop_ft.core.training.compile import compile_model
from desktop_ft.core.training.job import TrainJob

WHAT = "Finding a learning rate"
BETA = 0.98          # fastai's smoothing of the recorded loss
DIVERGED = 4.0       # stop once the smoothed loss exceeds this many times the best
EPOCHS_CAP = 50      # on tiny data, at most this many passes over the training set
RULES = ("valley", "steepest")


class FinderCancelled(UserError):
    pass


def find_learning_rate(job: TrainJob, observer: Observer | None = None,
                       stop: threading.Event | None = None, *,
                       sweep: tuple = (1e-7, 10.0, 100), rule: str = "valley",
                       on_point=None, bundle=None, scan=None) -> dict:
    """Sweep the rate exponentially over ``sweep`` = (start, end, steps), one batch a step
    (fewer steps on tiny data: at most EPOCHS_CAP passes), stopping early when the loss
    diverges. ``on_point(lr, loss)`` gets each smoothed point as it is measured (plain
    floats). Returns ``curve``
    (``lr``, ``loss``), ``suggestion``, ``rule``, ``cached`` and ``stopped_early``."""
    import numpy as np

    from desktop_ft.core.training.fit import prepared_model

    start, end, steps = sweep
    if rule not in RULES:
        raise UserError(f"Unknown rule {rule!r}: one of {', '.join(RULES)}.")
    if not 0 < start < end:
        raise UserError("The learning-rate sweep needs 0 < start < end.")
    runtime.configure()
    observer = observer or Observer()
    stop = stop or threading.Event()
    states = random.getstate(), np.random.get_state()
    try:
        bundle, scan = prepared_model(job, observer, stop, bundle, scan)
        bundle.tree.apply_to_model()
        if bundle.tree.totals()[0] == 0:
            raise UserError("Every layer is frozen: nothing would train. Unfreeze at least "
                            "the head.")
        split = scan.train
        per_epoch = max(1, math.ceil(len(split) / job.batch_size))
        steps = max(2, min(steps, EPOCHS_CAP * per_epoch))
        plan = feature_cache.plan_feature_cache(bundle, len(split),
                                                job.cache_budget_mb << 20, job.feature_cache)
        saved = _snapshot(bundle.model)
        try:
            model, batches = _trainer(bundle, job, split, plan.cut, steps)
            lrs = [start * (end / start) ** (i / (steps - 1)) for i in range(steps)]
            curve, early = _sweep(model, batches, lrs, (observer, stop, on_point))
        finally:
            _restore(bundle.model, saved)
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
    if len(curve) < 3:
        raise UserError("The loss diverged at once: the sweep needs a lower start rate.")
    xs = [p["lr"] for p in curve]
    ys = [p["loss"] for p in curve]
    pick = valley if rule == "valley" else steepest
    return {"curve": curve, "suggestion": pick(*_trimmed(xs, ys)), "rule": rule,
            "cached": plan.cut, "stopped_early": early}


def _snapshot(model):
    import keras

    return [keras.ops.convert_to_numpy(v.value).copy() for v in model.variables]


def _restore(model, saved) -> None:
    for v, value in zip(model.variables, saved):
        v.assign(value)


def _trainer(bundle, job, split, cut, steps):
    """(a compiled model to step, an iterator of (x, y, weight) batches, cycling)."""
    import numpy as np

    if cut:
        prefix, suffix = feature_cache.split_model(bundle, cut)
        ordered = bundle.modality.make_dataset(bundle, split, job.batch_size, shuffle=False)
        xs, ys, ws = feature_cache.compute_features(prefix, ordered)
        compile_model(bundle, job, 1e-3, suffix)
        rng = np.random.default_rng(job.seed)   # its own: the global state stays put

        def cached():
            while True:
                order = rng.permutation(len(xs))
                for i in range(0, len(order), job.batch_size):
                    rows = order[i:i + job.batch_size]
                    yield xs[rows], ys[rows], ws[rows]
        return suffix, cached()
    probe = _wrapper_class()(bundle.model)
    compile_model(bundle, job, 1e-3, probe)
    passes = math.ceil(steps * job.batch_size / max(1, len(split))) + 1
    data = bundle.modality.make_dataset(bundle, split, job.batch_size, shuffle=True,
                                        seed=job.seed, epochs=(0, passes))
    return probe, iter(data)


def _wrapper_class():
    import keras

    class Wrapper(keras.Model):
        """The bundle's model behind its own compile state and optimizer, so the test
        leaves the model's optimizer as it was."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def call(self, x, training=False):
            return self.inner(x, training=training)
    return Wrapper


def _sweep(model, batches, lrs, context):
    """Step once per rate; returns (the smoothed curve, whether it stopped on divergence)."""
    observer, stop, on_point = context
    avg, best, curve = 0.0, math.inf, []
    for i, lr in enumerate(lrs):
        if stop.is_set():
            raise FinderCancelled("Finding a learning rate was cancelled.")
        x, y, w = next(batches)
        model.optimizer.learning_rate = lr
        loss = float(model.train_on_batch(x, y, sample_weight=w, return_dict=True)["loss"])
        avg = BETA * avg + (1 - BETA) * loss
        smooth = avg / (1 - BETA ** (i + 1))
        if not math.isfinite(smooth) or (i > 0 and smooth > DIVERGED * best):
            observer.on_status(f"{WHAT}: the loss diverged at {lr:.3g}; stopped.")
            return curve, True
        best = min(best, smooth)
        curve.append({"lr": float(lr), "loss": float(smooth)})
        observer.on_progress(i + 1, len(lrs), WHAT)
        if on_point is not None:
            on_point(float(lr), float(smooth))
    return curve, False


def _trimmed(lrs, losses):
    """fastai suggests from the curve less its first tenth and last five points (warm-up
    of the average; the blow-up), when that leaves enough to judge."""
    head, tail = len(lrs) // 10, 5
    if len(lrs) - head - tail >= 5:
        return lrs[head:len(lrs) - tail], losses[head:len(losses) - tail]
    return lrs, losses


def valley(lrs, losses) -> float:
    """fastai's default rule (2021): the longest stretch over which the loss keeps
    falling; a rate a third plus a sixth of the way into it."""
    n = len(losses)
    run = [1] * n
    best_start, best_end = 0, 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and run[i] < run[j] + 1:
                run[i] = run[j] + 1
            if run[best_end] < run[i]:
                best_end = i
                best_start = max(0, best_end - run[best_end])
    third = (best_end - best_start) / 3
    return float(lrs[best_start + int(third) + int(third / 2)])


def steepest(lrs, losses) -> float:
    """Where the smoothed loss falls fastest against log(rate)."""
    import numpy as np

    slope = np.gradient(np.asarray(losses), np.log(np.asarray(lrs)))
    return float(lrs[int(np.argmin(slope))])
