"""Fine-tuning: ``fine_tune(job, observer, stop)`` — used by the CLI and the window alike.

The observer gets plain floats per batch and per epoch; ``stop`` (a ``threading.Event``)
ends training after the batch in flight, and the model stays usable for evaluation,
try-it and export. Here: the data scanned, the model loaded and set up for its strategy,
the run folder; the training itself is the named steps of
:mod:`desktop_ft.core.training.fit_steps`.

Example:
    >>> job = TrainJob(model=ModelSpec(weights="none", image_size=32),   # the default network
    ...                data="shapes/", epochs=2, strategy="head")
    >>> fine_tune(job).summary()["epochs_run"]
    2
"""

from __future__ import annotations

import dataclasses
import threading

from desktop_ft.core import data as data_mod
from desktop_ft.core import distribution, interrupts, runtime
from desktop_ft.core.data import splits
from desktop_ft.core.data.scan_result import CLASS_WEIGHTS_BOX
from desktop_ft.core.data.corrections import apply_corrections, load_corrections
from desktop_ft.core.errors import UserError
from desktop_ft.core.models import ModelBundle, modality_for, load_model, with_num_classes
from desktop_ft.core.observer import Observer
from desktop_ft.core.training import retention
from desktop_ft.core.training.job import TrainJob, check_memory, resolve_learning_rate
from desktop_ft.core.training.fit_steps import (TrainState, raise_if_diverged, run_phases,
                                                train_result)
from desktop_ft.core.training.calibration import fit_calibration
from desktop_ft.core.training.held_out import fit_thresholds
from desktop_ft.core.training.results import TrainResult
from desktop_ft.core.training.runs import Run, split_record
from desktop_ft.core.training.strategy import prepare_strategy


def prepare(job: TrainJob, observer: Observer | None = None,
            stop: threading.Event | None = None, bundle: ModelBundle | None = None,
            scan: data_mod.DataScan | None = None) -> tuple[ModelBundle, data_mod.DataScan]:
    """Scan the data and load (or adapt) the model so its head matches the classes."""
    observer = observer or Observer()
    expected = modality_for(job.model.architecture).input_kind
    if scan is None:
        observer.on_status(f"Scanning {job.data}…")
        scan = with_val_data(data_mod.scan(job.data, expected, text_column=job.text_column,
                                           label_column=job.label_column,
                                           multi_label=job.multi_label or None), job)
        if job.corrections:
            apply_corrections(scan, load_corrections(job.corrections))
    elif job.val_data:      # a scan of the data alone (the window's): validate on val_data
        scan = with_val_data(scan, job)
    if scan.kind != expected:
        raise UserError(f"{job.model.architecture.upper()} needs {expected} but {scan.root} holds "
                        f"{scan.kind}.")
    for path, reason in scan.skipped:
        observer.on_status(f"Skipped {path}: {reason}")
    for w in scan.warnings:
        observer.on_status(f"Warning: {w}")
    if bundle is None:
        bundle = load_model(job.model.replace(num_classes=scan.num_classes,
                                              multi_label=scan.multi_label), observer, stop)
        bundle.classes = list(scan.classes)
        bundle.parts["source_seed"] = job.seed    # rebuildable from the run's record
    else:
        bundle = with_num_classes(bundle, scan.num_classes, list(scan.classes),
                                  multi_label=scan.multi_label)
    return bundle, scan


def with_val_data(scan: data_mod.DataScan, job: TrainJob) -> data_mod.DataScan:
    """``scan`` validated on ``job.val_data`` (a folder or table of the same classes) when
    the job names one; a copy, so the scan the caller holds keeps its own split."""
    if not job.val_data:
        return scan
    val = data_mod.scan(job.val_data, scan.kind, classes=scan.classes,
                        text_column=job.text_column, label_column=job.label_column,
                        multi_label=scan.multi_label)
    return dataclasses.replace(scan, val=val.train, skipped=scan.skipped + val.skipped)


def prepared_model(job: TrainJob, observer: Observer, stop, bundle=None, scan=None):
    """The seeded model and data scan with the job's strategy (or only its freeze and
    unfreeze patterns) applied: what training and the suspect-label search start from."""
    runtime.set_random_seed(job.seed)
    bundle, scan = prepare(job, observer, stop, bundle, scan)
    if job.strategy:
        bundle = prepare_strategy(bundle, job.strategy, unfreeze_last=job.unfreeze_last,
                                  lora_rank=job.lora_rank, patterns=job.patterns,
                                  observer=observer, stop=stop)
    elif job.patterns:
        bundle.tree.apply_patterns(job.patterns)
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
    bundle, scan = prepared_model(job, observer, stop, bundle, scan)
    tree = bundle.tree
    trainable, frozen = _check_trainable(job, tree, scan, observer)
    lr, why = resolve_learning_rate(job, tree)
    observer.on_status(f"Learning rate {lr:g} ({why}).")

    train_split, val_split = splits.split_validation(scan, job.val_split, job.seed)
    if len(train_split) == 0:
        raise UserError("No training examples left after the validation split.")
    run = resume
    # (One process of several that train together writes: process 0.)
    if run is None and record_run and distribution.is_chief():
        run = Run.create(run_dir, job=_job_record(job, bundle),
                         architecture=bundle.architecture, classes=scan.classes,
                         tree=tree.states(), peft=_peft_record(bundle),
                         split=split_record(train_split, val_split))
        run.record["processes"] = distribution.process_count()
        # What the job's options leave open, resolved here: runs compared side by side
        # (core.training.compare) show these numbers, not "default".
        run.record["settings"] = {
            "learning_rate": lr, "trainable_params": trainable, "frozen_params": frozen,
            "strategy": tree.strategy, "weights": bundle.weights_source,
            "optimizer": job.optimizer_name(), "train_examples": len(train_split),
            "val_examples": len(val_split) if val_split is not None else 0}
        run.save()
        observer.on_status(f"Run folder: {run.path}")
    if run is not None and not run.record["epochs_done"]:
        # Checkpoints then hold only what training changes.
        run.checkpoints.record_source(bundle, int(run.record["job"].get("seed", 0)))
    skip = _SkipReporter(scan, observer)
    try:
        result = _train(TrainState(job, observer, stop, bundle, scan, train_split, val_split,
                                   lr, run, skip))
    except BaseException as e:
        if run is not None:   # an abort (second Ctrl+C, SIGTERM) leaves it resumable
            run.mark(*(("interrupted", None) if isinstance(e, KeyboardInterrupt)
                       or interrupts.terminating() else ("failed", str(e)[:500])))
        raise
    finally:
        skip.close()
    if run is not None:
        run.record["phase2_epoch"] = result.phase2_epoch
        # How probabilities become answers (per-label thresholds, calibration): an
        # export or a resume from this run answers as this model does.
        run.record["decision"] = result.bundle.decision.to_dict()
        evaluation = result.evaluation or {}
        run.record["evaluation"] = {k: evaluation.get(k) for k in (
            "accuracy", "macro_f1", "examples")} if evaluation else None
        # Stopped on purpose: resumable, but not "interrupted" (a crash, a kill or a
        # termination, which the window offers to resume when it starts).
        run.mark("finished" if result.stop_reason != "stopped by user" else
                 "interrupted" if interrupts.terminating() else "stopped")
        result.run_path = str(run.path)
        if not run.read_only:
            retention.after_run(run.path, job.keep_runs, job.max_runs_gb, observer)
    observer.on_train_end(result.summary())
    return result


def _check_trainable(job: TrainJob, tree, scan, observer) -> tuple[int, int]:
    """(trainable, frozen) parameters, said; refused when nothing would train, or class
    weights are asked of several labels per example."""
    trainable, frozen = tree.totals()
    observer.on_status(f"Trainable: {trainable:,} of {trainable + frozen:,} parameters "
                       f"(strategy: {tree.strategy}).")
    if trainable == 0:
        raise UserError("Every layer is frozen: nothing would train. Unfreeze at least the "
                        "head.")
    if scan.multi_label and job.class_weights:
        raise UserError("--class-weights balances classes of one label per example; with "
                        "several labels per example it is not offered. Train without it.",
                        window_message=f"{CLASS_WEIGHTS_BOX} balances classes of one label "
                        "per example; with several labels per example it is not offered. "
                        "Untick it on the Train tab.")
    return trainable, frozen


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


def _job_record(job: TrainJob, bundle) -> dict:
    """The job as run.json keeps it, its model as trained: a multi-label head when the
    data has several labels per example (a resume rebuilds the same head)."""
    record = job.to_dict()
    record["model"] = {**record["model"], "multi_label": bundle.multi_label}
    return record


def _peft_record(bundle) -> dict | None:
    from desktop_ft.core.training.strategy import peft_strategy_of

    strategy = peft_strategy_of(bundle)
    return {"strategy": strategy, "lora_rank": bundle.peft()["lora_rank"]} if strategy \
        else None


def _train(state: TrainState) -> TrainResult:
    """The named steps after setting up: the fit phases, then on one device the
    divergence check and the evaluation."""
    run_phases(state)
    distribution.end_training(state.bundle.model)     # evaluation and export on one device
    if not state.run:
        state.history = state.callback.history
    raise_if_diverged(state)
    fit_thresholds(state)
    fit_calibration(state)
    return train_result(state)
