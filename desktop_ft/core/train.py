"""Fine-tuning: ``fine_tune(job, observer, stop)`` — used by the CLI and the GUI alike.

The observer gets plain floats per batch and per epoch; ``stop`` (a ``threading.Event``)
ends training after the batch in flight, and the model stays usable for evaluation,
try-it and export.

Example:
    >>> job = TrainJob(model=ModelSpec("vgg16", weights="none", image_size=32),
    ...                data="shapes/", epochs=2, strategy="head")
    >>> result = fine_tune(job)
    >>> result.summary()["epochs_run"]
    2
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import asdict, dataclass, field, fields

from desktop_ft.core import data as data_mod
from desktop_ft.core.errors import UserError
from desktop_ft.core.models.registry import ModelBundle, ModelSpec, load_model
from desktop_ft.core.observer import Observer

OPTIMIZERS = ("adam", "adamw", "sgd")


@dataclass
class TrainJob:
    """What to train, on what, and how. Serialisable (``to_dict``) for project files."""

    model: ModelSpec = field(default_factory=ModelSpec)
    data: str = ""
    val_data: str | None = None
    val_split: float = 0.2
    strategy: str | None = "head"        # None: use the layer tree exactly as it is
    unfreeze_last: int = 1
    lora_rank: int = 4                   # lora / qlora
    two_phase: bool = False              # head first, then the chosen layers at lr / 10
    phase1_epochs: int = 0               # 0: phase 1 runs until val_loss stops improving
    patterns: list = field(default_factory=list)   # [("freeze"|"unfreeze", glob), ...]
    epochs: int = 10
    batch_size: int = 32
    lr: float | None = None              # None: the family/strategy default
    optimizer: str | None = None         # None: adam (VGG16) / adamw (BERT)
    early_stopping: int = 0              # patience in epochs; 0 = off
    seed: int = 0
    class_weights: bool = False
    text_column: str | None = None
    label_column: str | None = None
    feature_cache: bool = True           # train on cached features of a frozen prefix
    cache_budget_mb: int = 2048          # ... when they fit in this much memory
    jit_compile: bool = False            # XLA

    def __post_init__(self):
        if isinstance(self.model, dict):
            self.model = ModelSpec.from_dict(self.model)
        self.patterns = [tuple(p) for p in self.patterns]
        if self.epochs < 1:
            raise UserError(f"--epochs must be at least 1, got {self.epochs}.")
        if self.batch_size < 1:
            raise UserError(f"--batch-size must be at least 1, got {self.batch_size}.")
        if self.lr is not None and not (self.lr > 0 and math.isfinite(self.lr)):
            raise UserError(f"--lr must be a positive number, got {self.lr}.")
        if self.optimizer is not None and self.optimizer not in OPTIMIZERS:
            raise UserError(f"Unknown optimizer '{self.optimizer}'. Choose one of: "
                            f"{', '.join(OPTIMIZERS)}.")
        if self.early_stopping < 0:
            raise UserError("--early-stopping must be 0 (off) or a patience in epochs.")
        if self.strategy == "two-phase":
            self.two_phase = True
        if self.phase1_epochs < 0 or (self.two_phase and self.phase1_epochs >= self.epochs):
            raise UserError(f"--phase1-epochs must be below --epochs ({self.epochs}); got "
                            f"{self.phase1_epochs}.")
        if self.two_phase and self.epochs < 2:
            raise UserError("Two-phase training needs at least 2 epochs.")
        if self.two_phase and self.strategy in ("lora", "qlora"):
            raise UserError("Two-phase training unfreezes pretrained layers; it does not "
                            "combine with lora/qlora.")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["patterns"] = [list(p) for p in self.patterns]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainJob":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def learning_rate(self) -> float:
        if self.lr is not None:
            return self.lr
        # Few trainable weights (a new head, adapters, biases) take a larger step; full
        # fine-tuning of pretrained weights a small one. Phase 2 of two-phase uses lr / 10.
        few = self.strategy in ("head", "two-phase", "lora", "qlora", "bitfit") or self.two_phase
        if self.model.family == "bert":
            return 1e-3 if few else 5e-5
        return 1e-3 if few else 1e-4

    def optimizer_name(self) -> str:
        return self.optimizer or ("adamw" if self.model.family == "bert" else "adam")


@dataclass
class TrainResult:
    bundle: ModelBundle
    scan: data_mod.DataScan
    job: TrainJob
    history: dict
    epochs_run: int
    epoch_seconds: list
    stop_reason: str
    evaluation: dict | None
    train_counts: dict
    val_counts: dict | None
    phase2_epoch: int | None = None
    feature_cache: list = field(default_factory=list)

    @property
    def classes(self) -> list[str]:
        return self.scan.classes

    def export_info(self) -> dict:
        """What ``export.json`` records about this training run."""
        return {"metrics": self.evaluation, "epochs_run": self.epochs_run,
                "stop_reason": self.stop_reason, "history": self.history,
                "feature_cache": self.feature_cache, "train_job": self.job.to_dict()}

    def parity_samples(self, n: int = 4) -> list:
        """A few real training inputs for the export's parity check."""
        return load_inputs(self.bundle.family, self.scan.train.items[:n])

    def summary(self) -> dict:
        trainable, frozen = self.bundle.tree.totals()
        per_epoch = []
        for i in range(self.epochs_run):
            row = {"epoch": i + 1, "seconds": round(self.epoch_seconds[i], 3)}
            row.update({k: float(v[i]) for k, v in self.history.items() if i < len(v)})
            per_epoch.append(row)
        return {
            "model": self.bundle.family,
            "weights": self.bundle.weights_source,
            "classes": self.classes,
            "strategy": self.bundle.tree.strategy,
            "trainable_params": trainable,
            "frozen_params": frozen,
            "epochs_run": self.epochs_run,
            "stop_reason": self.stop_reason,
            "epochs": per_epoch,
            "evaluation": self.evaluation,
            "train_examples": self.train_counts,
            "val_examples": self.val_counts,
            "skipped": len(self.scan.skipped),
            "phase2_epoch": self.phase2_epoch,
            "feature_cache": self.feature_cache,
            "lora_rank": self.bundle.parts.get("peft", {}).get("lora_rank"),
            "quantized": self.bundle.parts.get("peft", {}).get("quantized"),
        }


class _ObserverCallback:
    """Keras callback → observer, plus cooperative stop. Built lazily (imports keras)."""

    @staticmethod
    def make(observer: Observer, stop: threading.Event | None):
        import keras

        class Callback(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.epoch_seconds: list[float] = []
                self.stopped_by_user = False
                self.nan_at: tuple[int, int] | None = None
                self._t0 = 0.0
                self._epoch = 0

            def on_epoch_begin(self, epoch, logs=None):
                self._epoch = epoch
                self._t0 = time.perf_counter()

            def on_train_batch_end(self, batch, logs=None):
                logs = _floats(logs)
                observer.on_batch(self._epoch, batch, logs)
                loss = logs.get("loss")
                if loss is not None and not math.isfinite(loss):
                    self.nan_at = (self._epoch + 1, batch + 1)
                    self.model.stop_training = True
                if stop is not None and stop.is_set():
                    # fit() checks this after the batch in flight and returns normally.
                    self.stopped_by_user = True
                    self.model.stop_training = True

            def on_epoch_end(self, epoch, logs=None):
                seconds = time.perf_counter() - self._t0
                self.epoch_seconds.append(seconds)
                observer.on_epoch(epoch, {**_floats(logs), "seconds": seconds})

        return Callback()


def _floats(logs) -> dict:
    out = {}
    for k, v in (logs or {}).items():
        try:
            out[k] = float(v)
        except (TypeError, ValueError):
            pass
    return out


def compile_model(bundle: ModelBundle, job: TrainJob, lr: float | None = None,
                  model=None) -> None:
    """Compile with a *new* optimizer instance.

    ``trainable`` changes take effect only after compile(), and a built optimizer cannot
    be reused with a different set of variables ("Unknown variable … can only be called
    for the variables it was originally built with").
    """
    import keras

    from desktop_ft.core import speed

    lr = lr or job.learning_rate()
    name = job.optimizer_name()
    if name == "adamw":
        opt = keras.optimizers.AdamW(learning_rate=lr, weight_decay=0.01)
    elif name == "sgd":
        opt = keras.optimizers.SGD(learning_rate=lr, momentum=0.9)
    else:
        opt = keras.optimizers.Adam(learning_rate=lr)
    if speed.mixed_precision_enabled() and "float16" in \
            keras.mixed_precision.global_policy().name:
        opt = keras.optimizers.LossScaleOptimizer(opt)
    if bundle.binary:
        loss = keras.losses.BinaryCrossentropy()
        metric = keras.metrics.BinaryAccuracy(name="accuracy")
    else:
        loss = keras.losses.CategoricalCrossentropy()
        metric = keras.metrics.CategoricalAccuracy(name="accuracy")
    (model or bundle.model).compile(optimizer=opt, loss=loss, metrics=[metric],
                                    jit_compile=job.jit_compile)


def make_dataset(bundle: ModelBundle, split: data_mod.Split, batch_size: int, *,
                 shuffle: bool, seed: int = 0):
    if bundle.family == "vgg16":
        return data_mod.image_dataset(split, bundle.num_classes, bundle.spec.image_size,
                                      batch_size, shuffle=shuffle, seed=seed,
                                      binary=bundle.binary)
    return data_mod.text_dataset(split, bundle.num_classes, batch_size, shuffle=shuffle,
                                 seed=seed, binary=bundle.binary)


def prepare(job: TrainJob, observer: Observer | None = None,
            stop: threading.Event | None = None, bundle: ModelBundle | None = None,
            scan: data_mod.DataScan | None = None) -> tuple[ModelBundle, data_mod.DataScan]:
    """Scan the data and load (or adapt) the model so its head matches the classes."""
    observer = observer or Observer()
    if scan is None:
        observer.on_status(f"Scanning {job.data}…")
        kind = "images" if job.model.family == "vgg16" else "text"
        scan = data_mod.scan(job.data, kind, text_column=job.text_column,
                             label_column=job.label_column)
        if job.val_data:
            val = data_mod.scan(job.val_data, scan.kind, classes=scan.classes,
                                text_column=job.text_column, label_column=job.label_column)
            scan.val = val.train
            scan.skipped += val.skipped
    expected = "images" if job.model.family == "vgg16" else "text"
    if scan.kind != expected:
        raise UserError(f"{job.model.family.upper()} needs {expected} but {scan.root} holds "
                        f"{scan.kind}.")
    for path, reason in scan.skipped:
        observer.on_status(f"Skipped {path}: {reason}")
    for w in scan.warnings:
        observer.on_status(f"Warning: {w}")
    if bundle is None:
        spec = ModelSpec.from_dict({**job.model.to_dict(), "num_classes": scan.num_classes})
        bundle = load_model(spec, observer, stop)
        bundle.classes = list(scan.classes)
    else:
        bundle = bundle.with_num_classes(scan.num_classes, list(scan.classes))
    return bundle, scan


def fine_tune(job: TrainJob, observer: Observer | None = None,
              stop: threading.Event | None = None, *, bundle: ModelBundle | None = None,
              scan: data_mod.DataScan | None = None) -> TrainResult:
    """Fine-tune per ``job``. Pass ``bundle`` (and its edited tree, with
    ``job.strategy=None``) to train a model that is already loaded, as the GUI does."""
    from desktop_ft.core import runtime, speed

    runtime.configure()
    import keras

    observer = observer or Observer()
    keras.utils.set_random_seed(job.seed)
    bundle, scan = prepare(job, observer, stop, bundle, scan)
    if job.strategy:
        from desktop_ft.core import peft

        bundle = peft.prepare_strategy(bundle, job.strategy, job.lora_rank, observer, stop)
    tree = bundle.tree
    if job.strategy:
        tree.apply_strategy(job.strategy, job.unfreeze_last)
    if job.patterns:
        tree.apply_patterns(job.patterns)
    trainable, frozen = tree.totals()
    observer.on_status(f"Trainable: {trainable:,} of {trainable + frozen:,} parameters "
                       f"(strategy: {tree.strategy}).")
    if trainable == 0:
        raise UserError("Every layer is frozen: nothing would train. Unfreeze at least the "
                        "head.")

    train_split, val_split = data_mod.split_validation(scan, job.val_split, job.seed)
    if len(train_split) == 0:
        raise UserError("No training examples left after the validation split.")
    train_ds = make_dataset(bundle, train_split, job.batch_size, shuffle=True, seed=job.seed)
    val_ds = make_dataset(bundle, val_split, job.batch_size, shuffle=False) \
        if val_split is not None else None
    steps = math.ceil(len(train_split) / job.batch_size)
    cb = _ObserverCallback.make(observer, stop)
    weights = data_mod.class_weights(train_split, scan.num_classes) if job.class_weights else None
    monitor = "val_loss" if val_ds is not None else "loss"
    base_info = {"epochs": job.epochs, "steps_per_epoch": steps,
                 "classes": list(scan.classes), "train_examples": len(train_split),
                 "val_examples": len(val_split) if val_split else 0}

    strategy = speed.distribution_strategy()
    distributed = speed.is_distributed(strategy)
    if distributed:
        observer.on_status(f"Training on {speed.describe_strategy(strategy)}.")
    n_examples = len(train_split) + (len(val_split) if val_split else 0)
    cache_log: list[dict] = []

    def fit(first_epoch: int, last_epoch: int, lr: float, patience: int, phase: int):
        tree.apply_to_model()
        fit_model, fit_train, fit_val = bundle.model, train_ds, val_ds
        plan = speed.plan_feature_cache(bundle, n_examples, job.cache_budget_mb << 20,
                                        job.feature_cache, distributed)
        cache_seconds = 0.0
        if plan.cut:
            observer.on_status(f"Computing features up to {plan.cut} once "
                               f"({plan.feature_bytes / 2**20:,.1f} MiB)…")
            ordered = make_dataset(bundle, train_split, job.batch_size, shuffle=False)
            fit_model, fit_train, fit_val, cache_seconds = speed.cached_datasets(
                bundle, plan.cut, ordered, val_ds, job.batch_size, job.seed)
        elif bundle.family == "vgg16":
            observer.on_status(f"Feature cache not used: {plan.reason}.")
        with strategy.scope():
            compile_model(bundle, job, lr, fit_model)
        if speed.is_multiworker(strategy):
            speed.prepare_model_for_multiworker(fit_model)
        callbacks = [cb]
        if patience:
            callbacks.append(keras.callbacks.EarlyStopping(
                monitor=monitor, patience=patience, restore_best_weights=True, verbose=0))
        observer.on_train_begin({**base_info, "phase": phase, "first_epoch": first_epoch,
                                 "learning_rate": lr})
        n_before = len(cb.epoch_seconds)
        try:
            h = fit_model.fit(fit_train, validation_data=fit_val, epochs=last_epoch,
                              initial_epoch=first_epoch, callbacks=callbacks,
                              class_weight=weights, verbose=0,
                              shuffle=False)  # the dataset shuffles itself
        except Exception as e:  # resource exhaustion, bad data that slipped through
            raise _training_error(e) from e
        if plan.cut:
            secs = cb.epoch_seconds[n_before:]
            epoch = sum(secs) / len(secs) if secs else 0.0
            # Without the cache each epoch would also run the frozen prefix forward over
            # the same images — the one-time pass measured above.
            factor = (epoch + cache_seconds) / epoch if epoch else 0.0
            cache_log.append({"phase": phase, "cut": plan.cut, "epochs": len(secs),
                              "feature_seconds": round(cache_seconds, 3),
                              "feature_mib": round(plan.feature_bytes / 2**20, 2),
                              "estimated_speedup": round(factor, 1)})
            observer.on_status(f"{plan.reason}: {len(secs)} epoch(s) ×{factor:.1f} faster "
                               f"(estimated; features took {cache_seconds:.1f} s once).")
        else:
            cache_log.append({"phase": phase, "cut": None, "reason": plan.reason})
        return {k: [float(x) for x in v] for k, v in h.history.items()}

    history: dict = {}
    phase2_at = None
    lr = job.learning_rate()
    if not (stop is not None and stop.is_set()):
        if job.two_phase:
            chosen = tree.states()
            strategy_name = "two-phase" if job.strategy == "two-phase" else \
                f"two-phase ({tree.strategy})"
            tree.apply_strategy("head")
            observer.on_status("Phase 1: training the new head with the backbone frozen.")
            p1_last = job.phase1_epochs or max(1, job.epochs // 2)
            history = fit(0, p1_last, lr, 0 if job.phase1_epochs else 2, phase=1)
            tree.set_states(chosen)
            tree.strategy = strategy_name
            if not (cb.stopped_by_user or cb.nan_at):
                phase2_at = len(cb.epoch_seconds)
                observer.on_status(f"Phase 2: fine-tuning the chosen layers at lr {lr / 10:g}.")
                more = fit(phase2_at, job.epochs, lr / 10, job.early_stopping, phase=2)
                history = {k: history.get(k, []) + more.get(k, []) for k in
                           set(history) | set(more)}
        else:
            history = fit(0, job.epochs, lr, job.early_stopping, phase=1)
    if cb.nan_at:
        raise UserError(f"Training diverged: the loss became NaN/inf at epoch {cb.nan_at[0]}, "
                        f"batch {cb.nan_at[1]}. Lower the learning rate (now "
                        f"{job.learning_rate():g}) and try again.")
    epochs_run = len(cb.epoch_seconds)
    if cb.stopped_by_user:
        reason = "stopped by user"
    elif epochs_run < job.epochs:
        reason = "early stopping"
    else:
        reason = "completed"
    evaluation = None
    eval_split = scan.test if scan.test is not None and len(scan.test) else val_split
    if eval_split is not None and len(eval_split):
        observer.on_status("Evaluating on held-out data…")
        probs = bundle.predict_proba(load_inputs(bundle.family, eval_split.items),
                                     batch_size=job.batch_size)
        evaluation = metrics_from_probs(eval_split.labels, probs, scan.classes)
        evaluation["split"] = "test" if eval_split is scan.test else "val"
    result = TrainResult(bundle=bundle, scan=scan, job=job, history=history,
                         phase2_epoch=phase2_at, feature_cache=cache_log,
                         epochs_run=epochs_run, epoch_seconds=cb.epoch_seconds,
                         stop_reason=reason, evaluation=evaluation,
                         train_counts=dict(zip(scan.classes,
                                               train_split.counts(scan.num_classes))),
                         val_counts=dict(zip(scan.classes, val_split.counts(scan.num_classes)))
                         if val_split else None)
    observer.on_train_end(result.summary())
    return result


def _training_error(e: Exception) -> Exception:
    name = type(e).__name__
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    if "ResourceExhausted" in name or "out of memory" in text.lower() or "OOM" in text:
        return UserError(f"Out of memory while training ({text[:200]}). Use a smaller batch "
                         "size or image size, or freeze more layers.")
    if isinstance(e, UserError):
        return e
    return UserError(f"Training failed: {name}: {text[:300]}")


def load_inputs(family: str, items: list) -> list:
    """Split items → model inputs: decoded uint8 images for VGG16, the strings for BERT."""
    if family == "vgg16":
        return [data_mod.load_image_rgb(p) for p in items]
    return list(items)


def metrics_from_probs(labels: list[int], probs, classes: list[str]) -> dict:
    """Accuracy, per-class accuracy and the confusion matrix (rows: true, cols: predicted)."""
    import numpy as np

    n = len(classes)
    y = np.asarray(labels, dtype=np.int64)
    pred = np.asarray(probs).argmax(axis=1) if len(y) else np.zeros(0, np.int64)
    cm = np.zeros((n, n), dtype=np.int64)
    for t, p in zip(y, pred):
        cm[t, p] += 1
    per_class = {}
    for i, name in enumerate(classes):
        total = int(cm[i].sum())
        per_class[name] = float(cm[i, i] / total) if total else None
    return {
        "examples": int(len(y)),
        "accuracy": float((pred == y).mean()) if len(y) else None,
        "per_class_accuracy": per_class,
        "confusion_matrix": cm.tolist(),
        "classes": list(classes),
    }
