"""Fine-tuning: ``fine_tune(job, observer, stop)`` — used by the CLI and the window alike.

The observer gets plain floats per batch and per epoch; ``stop`` (a ``threading.Event``)
ends training after the batch in flight, and the model stays usable for evaluation,
try-it and export.

Example:
    >>> job = TrainJob(model=ModelSpec(weights="none", image_size=32),   # the default network
    ...                data="shapes/", epochs=2, strategy="head")
    >>> fine_tune(job).summary()["epochs_run"]
    2
"""

from __future__ import annotations

import math
import threading
import time

from desktop_ft.core import data as data_mod
from desktop_ft.core import distribution, interrupts, runtime
from desktop_ft.core.data import splits
from desktop_ft.core.data.datasets import readable_inputs
from desktop_ft.core.errors import UserError, describe_exception
from desktop_ft.core.models import ModelBundle, modality_for, load_model, with_num_classes
from desktop_ft.core.observer import Observer
from desktop_ft.core.training import feature_cache, retention
from desktop_ft.core.training.checkpoint import note_trained
from desktop_ft.core.training.compile import compile_model
from desktop_ft.core.training.job import TrainJob, check_memory, resolve_learning_rate
from desktop_ft.core.training.results import TrainResult, metrics_from_probs
from desktop_ft.core.training.runs import (Run, checkpoint_callback, restore_seed_states,
                                           split_record)
from desktop_ft.core.training.strategy import prepare_strategy


def _make_callback(observer: Observer, stop: threading.Event | None):
    """Keras callback → observer, plus cooperative stop (built lazily: imports keras)."""
    import keras

    class Callback(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epoch_seconds: list[float] = []
            self.history: dict[str, list[float]] = {}
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
                if interrupts.abandoned(stop):
                    # The window is closing: not even the partial epoch's validation.
                    raise _Abandoned

        def on_epoch_end(self, epoch, logs=None):
            seconds = time.perf_counter() - self._t0
            self.epoch_seconds.append(seconds)
            for k, v in _floats(logs).items():
                self.history.setdefault(k, []).append(v)
            observer.on_epoch(epoch, {**_floats(logs), "seconds": seconds})

    return Callback()


class _Abandoned(Exception):
    """Ends ``fit`` at once for a task nobody waits for (see ``interrupts.Cancel``)."""


def _floats(logs) -> dict:
    out = {}
    for k, v in (logs or {}).items():
        try:
            out[k] = float(v)
        except (TypeError, ValueError):
            pass
    return out


def prepare(job: TrainJob, observer: Observer | None = None,
            stop: threading.Event | None = None, bundle: ModelBundle | None = None,
            scan: data_mod.DataScan | None = None) -> tuple[ModelBundle, data_mod.DataScan]:
    """Scan the data and load (or adapt) the model so its head matches the classes."""
    observer = observer or Observer()
    expected = modality_for(job.model.architecture).input_kind
    if scan is None:
        observer.on_status(f"Scanning {job.data}…")
        scan = data_mod.scan(job.data, expected, text_column=job.text_column,
                             label_column=job.label_column)
        if job.val_data:
            val = data_mod.scan(job.val_data, scan.kind, classes=scan.classes,
                                text_column=job.text_column, label_column=job.label_column)
            scan.val = val.train
            scan.skipped += val.skipped
    if scan.kind != expected:
        raise UserError(f"{job.model.architecture.upper()} needs {expected} but {scan.root} holds "
                        f"{scan.kind}.")
    for path, reason in scan.skipped:
        observer.on_status(f"Skipped {path}: {reason}")
    for w in scan.warnings:
        observer.on_status(f"Warning: {w}")
    if bundle is None:
        bundle = load_model(job.model.replace(num_classes=scan.num_classes), observer, stop)
        bundle.classes = list(scan.classes)
        bundle.parts["source_seed"] = job.seed    # rebuildable from the run's record
    else:
        bundle = with_num_classes(bundle, scan.num_classes, list(scan.classes))
    return bundle, scan


def fine_tune(job: TrainJob, observer: Observer | None = None,
              stop: threading.Event | None = None, *, bundle: ModelBundle | None = None,
              scan: data_mod.DataScan | None = None, run_dir=None, record_run: bool = True,
              resume: Run | None = None) -> TrainResult:
    """Fine-tune per ``job``. Pass ``bundle`` (and its edited tree, with
    ``job.strategy=None``) to train a model that is already loaded, as the window does.

    The run is recorded in a run folder under ``run_dir`` (default: the user's data
    folder) with a checkpoint after every epoch; ``resume`` continues such a run
    (:func:`desktop_ft.core.training.resume.resume_run` sets it up)."""
    runtime.configure()

    observer = observer or Observer()
    check_memory(job)
    runtime.set_random_seed(job.seed)
    bundle, scan = prepare(job, observer, stop, bundle, scan)
    if job.strategy:
        bundle = prepare_strategy(bundle, job.strategy, unfreeze_last=job.unfreeze_last,
                                  lora_rank=job.lora_rank, patterns=job.patterns,
                                  observer=observer, stop=stop)
    elif job.patterns:
        bundle.tree.apply_patterns(job.patterns)
    tree = bundle.tree
    trainable, frozen = tree.totals()
    observer.on_status(f"Trainable: {trainable:,} of {trainable + frozen:,} parameters "
                       f"(strategy: {tree.strategy}).")
    if trainable == 0:
        raise UserError("Every layer is frozen: nothing would train. Unfreeze at least the "
                        "head.")
    lr, why = resolve_learning_rate(job, tree)
    observer.on_status(f"Learning rate {lr:g} ({why}).")

    train_split, val_split = splits.split_validation(scan, job.val_split, job.seed)
    if len(train_split) == 0:
        raise UserError("No training examples left after the validation split.")
    run = resume
    # (One process of several that train together writes: process 0.)
    if run is None and record_run and distribution.is_chief():
        run = Run.create(run_dir, job=job.to_dict(), architecture=bundle.architecture,
                         classes=scan.classes, tree=tree.states(), peft=_peft_record(bundle),
                         split=split_record(train_split, val_split))
        run.record["processes"] = distribution.process_count()
        run.save()
        observer.on_status(f"Run folder: {run.path}")
    if run is not None and not run.record["epochs_done"]:
        run.record_source(bundle)     # checkpoints then hold only what training changes
    skip = _SkipReporter(scan, observer)
    try:
        result = _train(job, observer, stop, bundle, scan, train_split, val_split, lr, run,
                        skip)
    except BaseException as e:
        if run is not None:   # an abort (second Ctrl+C, SIGTERM) leaves it resumable
            run.mark(*(("interrupted", None) if isinstance(e, KeyboardInterrupt)
                       or interrupts.terminating() else ("failed", str(e)[:500])))
        raise
    finally:
        skip.close()
    if run is not None:
        run.record["phase2_epoch"] = result.phase2_epoch
        # Stopped on purpose: resumable, but not "interrupted" (a crash, a kill or a
        # termination, which the window offers to resume when it starts).
        run.mark("finished" if result.stop_reason != "stopped by user" else
                 "interrupted" if interrupts.terminating() else "stopped")
        result.run_path = str(run.path)
        if not run.read_only:
            retention.after_run(run.path, job.keep_runs, job.max_runs_gb, observer)
    observer.on_train_end(result.summary())
    return result


class _SkipReporter:
    """``on_unreadable`` for the datasets: a file deleted or spoiled after the scan is
    added to the scan's skipped list (the summary, the window and the report show it) and
    announced once. Called from tf.data's threads. TensorFlow keeps the Python functions
    of a ``numpy_function`` for the life of the process, so :meth:`close` drops the scan
    and the observer once training is over."""

    def __init__(self, scan, observer: Observer):
        self._lock = threading.Lock()
        self._scan, self._observer = scan, observer

    def __call__(self, path: str, reason: str) -> None:
        with self._lock:
            scan, observer = self._scan, self._observer
            if scan is None or any(p == path for p, _ in scan.skipped):
                return
            scan.skipped.append((path, reason))
        observer.on_status(f"Skipped {path}: {reason}; training goes on without it.")

    def close(self) -> None:
        with self._lock:
            self._scan = self._observer = None


def _peft_record(bundle) -> dict | None:
    from desktop_ft.core.training.strategy import peft_strategy_of

    strategy = peft_strategy_of(bundle)
    return {"strategy": strategy, "lora_rank": bundle.peft()["lora_rank"]} if strategy \
        else None


def _train(job, observer, stop, bundle, scan, train_split, val_split, lr, run, skip):
    import keras

    from desktop_ft.core.data.batches import epoch_order_callbacks

    tree, modality = bundle.tree, bundle.modality
    start = run.record["epochs_done"] if run is not None else 0
    resuming = start > 0
    val_ds = distribution.shard_dataset(modality.make_dataset(
        bundle, val_split, job.batch_size, shuffle=False, on_unreadable=skip),
        job.batch_size) if val_split is not None else None
    steps = math.ceil(len(train_split) / job.batch_size)
    cb = _make_callback(observer, stop)
    weights = splits.class_weights(train_split, scan.num_classes) if job.class_weights else None
    monitor = "val_loss" if val_ds is not None else "loss"
    base_info = {"epochs": job.epochs, "steps_per_epoch": steps,
                 "classes": list(scan.classes), "train_examples": len(train_split),
                 "val_examples": len(val_split) if val_split else 0}
    strategy = distribution.distribution_strategy()
    distributed = distribution.is_distributed(strategy)
    if distributed:
        observer.on_status(f"Training on {distribution.describe_strategy(strategy)}.")
    n_examples = len(train_split) + (len(val_split) if val_split else 0)
    cache_log: list[dict] = []
    history: dict = {k: list(v) for k, v in (run.record["history"] if run else {}).items()}
    cached_val: list = []     # the last phase's (suffix, cached validation features)
    callbacks_extra = [checkpoint_callback(run, bundle, monitor, history)] if run else []

    def fit(first_epoch: int, last_epoch: int, lr: float, patience: int, phase: int):
        tree.apply_to_model()
        fit_model, fit_val = bundle.model, val_ds
        plan = feature_cache.plan_feature_cache(bundle, n_examples, job.cache_budget_mb << 20,
                                                job.feature_cache, distributed)
        cache_seconds = 0.0
        if plan.cut:
            observer.on_status(f"Computing features up to {plan.cut} once "
                               f"({plan.feature_bytes / 2**20:,.1f} MiB)…")
            ordered = modality.make_dataset(bundle, train_split, job.batch_size, shuffle=False,
                                          class_weights=weights, on_unreadable=skip)
            fit_model, fit_train, fit_val, cache_seconds, val_features = \
                feature_cache.cached_datasets(bundle, plan.cut, ordered, val_ds,
                                              job.batch_size, job.seed,
                                              (first_epoch, last_epoch))
            cached_val[:] = [(fit_model, val_features)] if val_features is not None else []
        else:
            cached_val.clear()
            fit_train = modality.make_dataset(bundle, train_split, job.batch_size, shuffle=True,
                                            seed=job.seed, epochs=(first_epoch, last_epoch),
                                            class_weights=weights, on_unreadable=skip)
            fit_train = distribution.shard_dataset(fit_train, job.batch_size)
            if modality.chain_layers(bundle.model) is not None:
                observer.on_status(f"Feature cache not used: {plan.reason}.")
        with strategy.scope():
            compile_model(bundle, job, lr, fit_model)
        note_trained(bundle)
        if distribution.is_multiworker(strategy):
            distribution.prepare_model_for_multiworker(fit_model)
        if resuming and first_epoch == start:
            _restore_training_state(run, fit_model, bundle, observer)
        callbacks = [*epoch_order_callbacks(fit_train), cb, *callbacks_extra]
        if patience:
            callbacks.append(keras.callbacks.EarlyStopping(
                monitor=monitor, patience=patience, restore_best_weights=True, verbose=0))
        observer.on_train_begin({**base_info, "phase": phase, "first_epoch": first_epoch,
                                 "learning_rate": lr,
                                 # A resumed run: the epochs before, for the plots.
                                 "history_before": {k: list(v) for k, v in history.items()}
                                 if resuming and first_epoch == start else {}})
        n_before = len(cb.epoch_seconds)
        try:
            with runtime.traced_gradients_released():
                # Keras's own fit, also for keras-hub tasks: their fit would wrap our
                # batches into a tf.data or grain pipeline for a preprocessor they do not
                # have (token ids come from the checkpoint's tokenizer, on any backend).
                keras.Model.fit(fit_model, fit_train, validation_data=fit_val,
                                epochs=last_epoch,
                                initial_epoch=first_epoch, steps_per_epoch=steps,
                                callbacks=callbacks, verbose=0,
                                shuffle=False)  # the dataset shuffles itself, per epoch
        except _Abandoned:
            pass
        except Exception as e:  # resource exhaustion, bad data that slipped through
            if interrupts.terminating():   # a termination surfaced as another error
                raise
            raise _training_error(e, job) from e
        cache_log.append(feature_cache.log_entry(plan, phase, cb.epoch_seconds[n_before:],
                                                 cache_seconds, observer))

    phase2_at = run.record.get("phase2_epoch") if run is not None else None
    if not (stop is not None and stop.is_set()):
        if job.two_phase:
            chosen = tree.states()
            strategy_name = "two-phase" if job.strategy == "two-phase" else \
                f"two-phase ({tree.strategy})"
            p1_last = job.phase1_epochs or max(1, job.epochs // 2)
            if phase2_at is None and start < p1_last:
                tree.apply_strategy("head")
                observer.on_status("Phase 1: training the new head with the backbone frozen.")
                fit(start, p1_last, lr, 0 if job.phase1_epochs else 2, phase=1)
            tree.set_states(chosen)
            tree.strategy = strategy_name
            if not (cb.stopped_by_user or cb.nan_at):
                phase2_at = phase2_at if phase2_at is not None else start + len(cb.epoch_seconds)
                if run is not None:
                    run.record["phase2_epoch"] = phase2_at
                observer.on_status(f"Phase 2: fine-tuning the chosen layers at lr {lr / 10:g}.")
                fit(max(phase2_at, start), job.epochs, lr / 10, job.early_stopping, phase=2)
        else:
            fit(start, job.epochs, lr, job.early_stopping, phase=1)
    distribution.end_training(bundle.model)     # evaluation and export on one device
    if not run:
        history = cb.history
    if cb.nan_at:
        kept = ""
        if run is not None and run.record["epochs_done"]:
            run.load_weights(bundle.model)
            kept = f" The weights of epoch {run.record['epochs_done']} were restored."
        raise UserError(f"Training diverged: the loss became NaN/inf at epoch {cb.nan_at[0]}, "
                        f"batch {cb.nan_at[1]}. Lower the learning rate (now {lr:g}) and try "
                        f"again.{kept}")
    epochs_run = start + len(cb.epoch_seconds)
    if cb.stopped_by_user or (stop is not None and stop.is_set()):
        reason = "stopped by user"
    elif epochs_run < job.epochs:
        reason = "early stopping"
    else:
        reason = "completed"
    evaluation, probs = None, []
    eval_split = scan.test if scan.test is not None and len(scan.test) else val_split
    if eval_split is not None and len(eval_split) and not interrupts.abandoned(stop) and \
            distribution.is_chief():       # (the process that exports evaluates)
        observer.on_status("Evaluating on held-out data…")
        cached = feature_cache.probs_from_features(
            bundle, *cached_val[0], eval_split, scan.skipped, job.batch_size) \
            if cached_val and eval_split is val_split else None
        if cached is not None:
            probs, eval_items, eval_labels = cached
        else:
            inputs, eval_items, eval_labels = readable_inputs(
                bundle.input_kind, eval_split.items, eval_split.labels, skip)
            probs = bundle.predict_proba(inputs, batch_size=job.batch_size)
        evaluation = metrics_from_probs(eval_labels, probs, scan.classes)
        evaluation["split"] = "test" if eval_split is scan.test else "val"
        probs = probs.tolist()
    seconds = list(run.record.get("epoch_seconds", [])) if run else list(cb.epoch_seconds)
    return TrainResult(bundle=bundle, scan=scan, job=job, history=history,
                       learning_rate=lr, phase2_epoch=phase2_at, feature_cache=cache_log,
                       epochs_run=epochs_run, epoch_seconds=seconds,
                       resumed_from=start if resuming else None,
                       stop_reason=reason, evaluation=evaluation,
                       eval_items=eval_items if evaluation else [],
                       eval_labels=eval_labels if evaluation else [],
                       eval_probs=probs, devices=distribution.training_devices(),
                       train_counts=dict(zip(scan.classes,
                                             train_split.counts(scan.num_classes))),
                       val_counts=dict(zip(scan.classes, val_split.counts(scan.num_classes)))
                       if val_split else None)


def _restore_training_state(run: Run, fit_model, bundle, observer) -> None:
    """A resumed run: the optimizer's moments and the random generators as they were."""
    state = run.load_state()
    if not run.load_optimizer(fit_model.optimizer, fit_model.trainable_variables):
        observer.on_status("The optimizer's saved state does not fit this model; it "
                           "starts afresh.")
    restore_seed_states(bundle.model, state.get("seed_states", []))


def _training_error(e: Exception, job: TrainJob) -> Exception:
    if isinstance(e, UserError):
        return e
    why = describe_exception(e)
    if "ResourceExhausted" in type(e).__name__ or "out of memory" in why.lower() or \
            "OOM" in why:
        size = f", image size {job.model.image_size}" if "image_size" in \
            modality_for(job.model.architecture).spec_fields else ""
        return UserError(f"Out of memory at batch size {job.batch_size}{size}: try batch size "
                         f"{max(1, job.batch_size // 2)} (or freeze more layers).", details=why)
    return UserError(f"Training failed: {why[:300]}", details=why)
