"""Training as named steps over one explicit state: :class:`TrainState` starts from the
scanned, split data and the prepared model; :func:`run_phases` runs one or two fit
phases (each: :func:`phase_datasets` — cached features or decoded batches —,
:func:`compile_phase`, :func:`fit_phase`); :func:`evaluate` measures the held-out split;
:func:`train_result` gathers what :func:`desktop_ft.core.training.fit.fine_tune`
returns. The run's checkpoint after every epoch is a Keras callback
(:func:`desktop_ft.core.training.runs.checkpoint_callback`)."""

from __future__ import annotations

import dataclasses
import math
import time

from desktop_ft.core import distribution, interrupts, runtime
from desktop_ft.core.data import splits
from desktop_ft.core.errors import UserError, describe_exception
from desktop_ft.core.models import modality_for
from desktop_ft.core.observer import Observer
from desktop_ft.core.training import feature_cache
from desktop_ft.core.training.checkpoint import note_trained
from desktop_ft.core.training.compile import compile_model
from desktop_ft.core.training.held_out import held_out_probs
from desktop_ft.core.training.metrics import multi_label_metrics, single_label_metrics
from desktop_ft.core.training.monitor import MACRO_F1, macro_f1_callback, monitor_mode
from desktop_ft.core.training.results import TrainResult
from desktop_ft.core.training.runs import checkpoint_callback, restore_seed_states


@dataclasses.dataclass
class Phase:
    """One call of Keras's fit: epochs ``first`` … ``last - 1`` at ``lr``, early
    stopping after ``patience`` epochs without progress (0: none). The rate's schedule
    spans epochs ``since`` … ``last - 1`` (a resumed phase began before ``first``)."""
    first: int
    last: int
    lr: float
    patience: int
    number: int
    since: int = 0


@dataclasses.dataclass
class TrainState:
    """What the steps of one training share. Set up by :meth:`start`; the steps fill in
    ``history``, ``cache_log``, ``cached_val`` (the last phase's cached validation
    features) and ``phase2_at``; ``callback`` counts the epochs run."""
    job: object
    observer: Observer
    stop: object
    bundle: object
    scan: object
    train_split: object
    val_split: object
    lr: float
    run: object
    skip: object
    start: int = 0
    val_ds: object = None
    steps: int = 0
    class_weights: dict | None = None
    monitor: str = "loss"
    strategy: object = None
    callback: object = None
    extra_callbacks: list = dataclasses.field(default_factory=list)
    history: dict = dataclasses.field(default_factory=dict)
    cache_log: list = dataclasses.field(default_factory=list)
    cached_val: list = dataclasses.field(default_factory=list)
    phase2_at: int | None = None
    held_out: dict = dataclasses.field(default_factory=dict)   # held_out.held_out_probs

    def __post_init__(self):
        job, run, val_split = self.job, self.run, self.val_split
        self.start = run.record["epochs_done"] if run is not None else 0
        self.val_ds = distribution.shard_dataset(self.bundle.modality.make_dataset(
            self.bundle, val_split, job.batch_size, shuffle=False,
            on_unreadable=self.skip), job.batch_size) if val_split is not None else None
        self.steps = math.ceil(len(self.train_split) / job.batch_size)
        self.callback = make_callback(self.observer, self.stop)
        self.class_weights = splits.class_weights(self.train_split, self.scan.num_classes) \
            if job.class_weights else None
        # What early stopping and the best checkpoint follow (the training loss when
        # nothing is held out); macro-F1 is computed per epoch by monitor.macro_f1_callback.
        self.monitor = job.monitor if self.val_ds is not None else "loss"
        if self.monitor == MACRO_F1 and distribution.process_count() > 1:
            raise UserError("--monitor val_macro_f1 needs one training process: each "
                            "process sees only its part of the validation data. Use "
                            "val_loss or val_accuracy.")
        self.strategy = distribution.distribution_strategy()
        if self.distributed:
            self.observer.on_status(
                f"Training on {distribution.describe_strategy(self.strategy)}.")
        self.history = {k: list(v) for k, v in (run.record["history"] if run else {}).items()}
        self.extra_callbacks = [checkpoint_callback(run, self.bundle, self.monitor,
                                                    self.history)] if run else []
        self.phase2_at = run.record.get("phase2_epoch") if run is not None else None

    @property
    def resuming(self) -> bool:
        return self.start > 0

    @property
    def distributed(self) -> bool:
        return distribution.is_distributed(self.strategy)

    @property
    def stopped(self) -> bool:
        return self.stop is not None and self.stop.is_set()


def make_callback(observer: Observer, stop):
    """Keras callback → observer, plus cooperative stop (built lazily: imports keras)."""
    import keras
    import numpy as np

    class Callback(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epoch_seconds: list[float] = []
            self.history: dict[str, list[float]] = {}
            self.stopped_by_user = False
            self.nan_at: tuple[int, int] | None = None
            self._t0 = 0.0
            self._epoch = 0
            self._step0 = 0
            self._rates = np.zeros(1)
            self.schedule = None      # the phase's (compile_phase sets it)

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch = epoch
            self._t0 = time.perf_counter()
            # The optimizer's step count is in sync between epochs on every backend.
            self._step0 = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
            # The epoch's rates in one call: evaluating the schedule per batch costs a
            # dispatch of each of its ops every step (JAX runs them one by one).
            steps = (self.params or {}).get("steps") or 1
            self._rates = self._rate(np.arange(self._step0, self._step0 + steps))

        def on_train_batch_end(self, batch, logs=None):
            rates = self._rates
            logs = {**_floats(logs), "lr": float(rates[min(batch, len(rates) - 1)])}
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
                    raise Abandoned

        def _rate(self, steps):
            """The rates at ``steps`` (an array of optimizer step counts)."""
            rate = self.model.optimizer.learning_rate if self.schedule is None else \
                self.schedule(steps)
            return np.broadcast_to(keras.ops.convert_to_numpy(rate), np.shape(steps))

        def on_epoch_end(self, epoch, logs=None):
            if logs is not None:
                # The rate of the epoch's first step, for run.json and the summary (the
                # run's checkpoint callback comes later and records it too).
                logs["lr"] = float(self._rates[0])
            seconds = time.perf_counter() - self._t0
            self.epoch_seconds.append(seconds)
            for k, v in _floats(logs).items():
                self.history.setdefault(k, []).append(v)
            observer.on_epoch(epoch, {**_floats(logs), "seconds": seconds})

    return Callback()


class Abandoned(Exception):
    """Ends ``fit`` at once for a task nobody waits for (see ``interrupts.Cancel``)."""


def _floats(logs) -> dict:
    out = {}
    for k, v in (logs or {}).items():
        try:
            out[k] = float(v)
        except (TypeError, ValueError):
            pass
    return out


def run_phases(state: TrainState) -> None:
    """One phase, or two (the head with the backbone frozen, then the chosen layers at a
    tenth of the learning rate) — a resumed run starts where it stopped."""
    job, tree, cb = state.job, state.bundle.tree, state.callback
    if state.stopped:
        return
    if not job.two_phase:
        fit_phase(state, Phase(state.start, job.epochs, state.lr, job.early_stopping, 1))
        return
    chosen = tree.states()
    strategy_name = "two-phase" if job.strategy == "two-phase" else \
        f"two-phase ({tree.strategy})"
    p1_last = job.phase1_epochs or max(1, job.epochs // 2)
    if state.phase2_at is None and state.start < p1_last:
        tree.apply_strategy("head")
        state.observer.on_status("Phase 1: training the new head with the backbone frozen.")
        fit_phase(state, Phase(state.start, p1_last, state.lr,
                               0 if job.phase1_epochs else 2, 1))
    tree.set_states(chosen)
    tree.strategy = strategy_name
    if cb.stopped_by_user or cb.nan_at:
        return
    if state.phase2_at is None:
        state.phase2_at = state.start + len(cb.epoch_seconds)
    if state.run is not None:
        state.run.record["phase2_epoch"] = state.phase2_at
    state.observer.on_status(f"Phase 2: fine-tuning the chosen layers at lr "
                             f"{state.lr / 10:g}.")
    fit_phase(state, Phase(max(state.phase2_at, state.start), job.epochs, state.lr / 10,
                           job.early_stopping, 2, state.phase2_at))


def phase_datasets(state: TrainState, phase: Phase):
    """(model to fit, training data, validation data, feature-cache plan, seconds spent
    caching): the backbone's features up to the plan's cut computed once when they fit
    the budget (the suffix then trains on them), else decoded batches."""
    job, bundle, modality = state.job, state.bundle, state.bundle.modality
    n_examples = len(state.train_split) + (len(state.val_split) if state.val_split else 0)
    plan = feature_cache.plan_feature_cache(bundle, n_examples, job.cache_budget_mb << 20,
                                            job.feature_cache, state.distributed)
    if plan.cut:
        state.observer.on_status(f"Computing features up to {plan.cut} once "
                                 f"({plan.feature_bytes / 2**20:,.1f} MiB)…")
        ordered = modality.make_dataset(bundle, state.train_split, job.batch_size,
                                        shuffle=False, class_weights=state.class_weights,
                                        on_unreadable=state.skip)
        fit_model, fit_train, fit_val, seconds, val_features = \
            feature_cache.cached_datasets(bundle, plan.cut, ordered, state.val_ds,
                                          job.batch_size, job.seed, (phase.first, phase.last))
        state.cached_val[:] = [(fit_model, val_features)] if val_features is not None else []
        return fit_model, fit_train, fit_val, plan, seconds
    state.cached_val.clear()
    fit_train = modality.make_dataset(bundle, state.train_split, job.batch_size, shuffle=True,
                                      seed=job.seed, epochs=(phase.first, phase.last),
                                      class_weights=state.class_weights,
                                      on_unreadable=state.skip)
    fit_train = distribution.shard_dataset(fit_train, job.batch_size)
    if modality.chain_layers(bundle.model) is not None:
        state.observer.on_status(f"Feature cache not used: {plan.reason}.")
    return bundle.model, fit_train, state.val_ds, plan, 0.0


def compile_phase(state: TrainState, fit_model, phase: Phase) -> None:
    """Compile ``fit_model`` for the phase (inside the distribution strategy); a resumed
    run's first phase gets the optimizer's and random generators' saved states."""
    with state.strategy.scope():
        state.callback.schedule = compile_model(state.bundle, state.job, phase.lr, fit_model,
                                                (phase.last - phase.since) * state.steps)
    note_trained(state.bundle)
    if distribution.is_multiworker(state.strategy):
        distribution.prepare_model_for_multiworker(fit_model)
    if state.resuming and phase.first == state.start:
        restore_training_state(state.run, fit_model, state.bundle, state.observer)


def fit_phase(state: TrainState, phase: Phase) -> None:
    """Train one phase with Keras's fit; the observer hears every batch and epoch."""
    import keras

    from desktop_ft.core.data.batches import epoch_order_callbacks

    state.bundle.tree.apply_to_model()
    fit_model, fit_train, fit_val, plan, cache_seconds = phase_datasets(state, phase)
    compile_phase(state, fit_model, phase)
    cb = state.callback
    # val_macro_f1 goes into the epoch's logs first: the callbacks after it read it.
    scores = [macro_f1_callback(fit_val, state.bundle.binary, state.bundle.multi_label)] \
        if state.monitor == MACRO_F1 and fit_val is not None else []
    callbacks = [*epoch_order_callbacks(fit_train), *scores, cb, *state.extra_callbacks]
    if phase.patience:
        callbacks.append(keras.callbacks.EarlyStopping(
            monitor=state.monitor, mode=monitor_mode(state.monitor), patience=phase.patience,
            restore_best_weights=True, verbose=0))
    state.observer.on_train_begin(_phase_info(state, phase))
    n_before = len(cb.epoch_seconds)
    try:
        with runtime.traced_gradients_released():
            # Keras's own fit, also for keras-hub tasks: their fit would wrap our
            # batches into a tf.data or grain pipeline for a preprocessor they do not
            # have (token ids come from the checkpoint's tokenizer, on any backend).
            keras.Model.fit(fit_model, fit_train, validation_data=fit_val,
                            epochs=phase.last, initial_epoch=phase.first,
                            steps_per_epoch=state.steps, callbacks=callbacks, verbose=0,
                            shuffle=False)  # the dataset shuffles itself, per epoch
    except Abandoned:
        pass
    except Exception as e:  # resource exhaustion, bad data that slipped through
        if interrupts.terminating():   # a termination surfaced as another error
            raise
        raise training_error(e, state.job) from e
    state.cache_log.append(feature_cache.log_entry(
        plan, phase.number, cb.epoch_seconds[n_before:], cache_seconds, state.observer))


def _phase_info(state: TrainState, phase: Phase) -> dict:
    """``on_train_begin``'s facts of a phase."""
    job, val_split = state.job, state.val_split
    resumed_here = state.resuming and phase.first == state.start
    return {"epochs": job.epochs, "steps_per_epoch": state.steps,
            "classes": list(state.scan.classes), "train_examples": len(state.train_split),
            "val_examples": len(val_split) if val_split else 0,
            "phase": phase.number, "first_epoch": phase.first, "learning_rate": phase.lr,
            # A resumed run: the epochs before, for the plots.
            "history_before": {k: list(v) for k, v in state.history.items()}
            if resumed_here else {}}


def raise_if_diverged(state: TrainState) -> None:
    """A NaN/inf loss ends training with one line (a run's last good weights restored)."""
    cb, run = state.callback, state.run
    if not cb.nan_at:
        return
    kept = ""
    if run is not None and run.record["epochs_done"]:
        run.checkpoints.load_weights(state.bundle.model)
        kept = f" The weights of epoch {run.record['epochs_done']} were restored."
    raise UserError(f"Training diverged: the loss became NaN/inf at epoch {cb.nan_at[0]}, "
                    f"batch {cb.nan_at[1]}. Lower the learning rate (now {state.lr:g}) and "
                    f"try again.{kept}")


def stop_reason(state: TrainState) -> str:
    if state.callback.stopped_by_user or state.stopped:
        return "stopped by user"
    if state.start + len(state.callback.epoch_seconds) < state.job.epochs:
        return "early stopping"
    return "completed"


def evaluate(state: TrainState) -> tuple[dict | None, list, list, list]:
    """(metrics, probabilities, items, labels) on the test split, else the validation
    split — on the cached validation features when the last phase has them."""
    scan, val_split, bundle = state.scan, state.val_split, state.bundle
    eval_split = scan.test if scan.test is not None and len(scan.test) else val_split
    if not (eval_split is not None and len(eval_split)) or interrupts.abandoned(state.stop) \
            or not distribution.is_chief():       # (the process that exports evaluates)
        return None, [], [], []
    state.observer.on_status("Evaluating on held-out data…")
    probs, items, labels = held_out_probs(state, eval_split)
    probs = bundle.decision.calibrated(probs)       # the temperature fitted on validation
    if bundle.multi_label:      # each label decided at its threshold (fit_thresholds)
        evaluation = multi_label_metrics(labels, probs, scan.classes,
                                         bundle.decision.label_thresholds(scan.num_classes))
    else:
        evaluation = single_label_metrics(labels, probs, scan.classes)
    evaluation["split"] = "test" if eval_split is scan.test else "val"
    return evaluation, probs.tolist(), items, labels


def train_result(state: TrainState) -> TrainResult:
    """Evaluate, and gather what the training did into a :class:`TrainResult`."""
    scan, run, cb = state.scan, state.run, state.callback
    reason = stop_reason(state)
    evaluation, probs, items, labels = evaluate(state)
    seconds = list(run.record.get("epoch_seconds", [])) if run else list(cb.epoch_seconds)
    n = scan.num_classes
    return TrainResult(bundle=state.bundle, scan=scan, job=state.job, history=state.history,
                       learning_rate=state.lr, phase2_epoch=state.phase2_at,
                       feature_cache=state.cache_log,
                       epochs_run=state.start + len(cb.epoch_seconds), epoch_seconds=seconds,
                       resumed_from=state.start if state.resuming else None,
                       stop_reason=reason, evaluation=evaluation,
                       eval_items=items, eval_labels=labels,
                       eval_probs=probs, devices=distribution.training_devices(),
                       train_counts=dict(zip(scan.classes, state.train_split.counts(n))),
                       val_counts=dict(zip(scan.classes, state.val_split.counts(n)))
                       if state.val_split else None)


def restore_training_state(run, fit_model, bundle, observer) -> None:
    """A resumed run: the optimizer's moments and the random generators as they were."""
    saved = run.checkpoints.load_state()
    if not run.checkpoints.load_optimizer(fit_model.optimizer, fit_model.trainable_variables):
        observer.on_status("The optimizer's saved state does not fit this model; it "
                           "starts afresh.")
    restore_seed_states(bundle.model, saved.get("seed_states", []))


def training_error(e: Exception, job) -> Exception:
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
