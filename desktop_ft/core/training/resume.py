"""Continuing a run folder: the model rebuilt as it was (LoRA/int8, tree states, the
checkpoint's weights), the same split, then :func:`fine_tune` from the next epoch with
the optimizer's state and the random generators restored."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from desktop_ft.core import distribution, runtime
from desktop_ft.core.data import DataScan, Split
from desktop_ft.core.errors import UserError
from desktop_ft.core.models import modality_for, load_model
from desktop_ft.core.models.decision import Decision
from desktop_ft.core.observer import Observer
from desktop_ft.core.training.fit import fine_tune
from desktop_ft.core.training.job import TrainJob
from desktop_ft.core.training.runs import Run
from desktop_ft.core.training.strategy import prepare_model


def bundle_from_run(run: Run, which: str = "last", observer: Observer | None = None,
                    stop: threading.Event | None = None):
    """The run's model with a checkpoint's weights (``last`` or ``best``): rebuilt from
    its source as the run started, then the checkpoint's variables on top."""
    run.checkpoints.directory(which)      # no checkpoint: say so before loading a model
    try:
        bundle = rebuild_source(run, observer, stop)
    except UserError as e:
        raise UserError(f"Run {run.path.name} takes its frozen weights from its source, "
                        f"which cannot be loaded now: {e}", details=e.details) from e
    run.checkpoints.load_weights(bundle.model, which, rebuilt=True)
    if run.record.get("decision"):   # per-label thresholds, calibration: as trained
        bundle.decision = Decision.from_dict(run.record["decision"])
    if which == "best" and bundle.multi_label:
        refit_thresholds(run, bundle)
    return bundle


def refit_thresholds(run: Run, bundle) -> None:
    """A multi-label checkpoint other than the one training ended with: its own labels'
    thresholds, chosen on the run's validation split for the best F1 as training chose
    the final model's (0.5 each without a validation split)."""
    from desktop_ft.core.data.datasets import readable_inputs
    from desktop_ft.core.training.metrics import best_f1_thresholds

    val = run.record["split"].get("val") or {}
    inputs, _, labels = readable_inputs(bundle.input_kind, val.get("items", []),
                                        [tuple(y) for y in val.get("labels", [])])
    thresholds = best_f1_thresholds(labels, bundle.predict_proba(inputs)) if labels else None
    bundle.decision = bundle.decision.replace(multi_label=True, thresholds=thresholds)


def rebuild_source(run: Run, observer: Observer | None = None,
                   stop: threading.Event | None = None):
    """The model the run started from, built as ``fine_tune`` built it (same seed, so
    random weights come out the same), with the run's PEFT and tree states."""
    job = TrainJob.from_dict(run.record["job"])
    classes = run.record["classes"]
    runtime.set_random_seed(job.seed)
    bundle = load_model(job.model.replace(num_classes=len(classes)), observer, stop)
    bundle.classes = list(classes)
    bundle.parts["source_seed"] = job.seed
    peft = run.record.get("peft")
    if peft:
        bundle = prepare_model(bundle, peft["strategy"], int(peft["lora_rank"]), observer, stop)
    bundle.tree.set_states(run.record["tree"])
    return bundle


def run_scan(run: Run, observer: Observer) -> DataScan:
    """The run's recorded split; examples whose files have gone are skipped and listed."""
    job = TrainJob.from_dict(run.record["job"])
    kind = modality_for(job.model.architecture).input_kind
    multi_label = job.model.multi_label
    skipped = []

    def split(part):
        if not part:
            return None
        items, labels = [], []
        for item, label in zip(part["items"], part["labels"]):
            if kind == "images" and not os.path.isfile(item):
                skipped.append((item, "missing since the run started"))
                continue
            items.append(item)
            # (JSON holds a multi-label row's label tuple as a list.)
            labels.append(tuple(label) if multi_label else label)
        return Split(items, labels)

    scan = DataScan(kind, job.data, list(run.record["classes"]),
                    split(run.record["split"]["train"]), val=split(run.record["split"]["val"]),
                    layout="the run's split", multi_label=multi_label)
    scan.skipped = skipped
    for path, reason in skipped:
        observer.on_status(f"Skipped {path}: {reason}")
    return scan


def resume_run(path: str | os.PathLike, observer: Observer | None = None,
               stop: threading.Event | None = None):
    """Continue an interrupted run at its next epoch; returns the TrainResult."""
    observer = observer or Observer()
    run = Run.open(Path(path))
    # Process 1… of several reads the run (on storage every process sees) but leaves
    # writing it, and judging whether it is free, to process 0.
    run.read_only = not distribution.is_chief()
    status = run.status
    if status == "running" and not run.read_only:
        raise UserError(f"{run.path} is still training in another process.")
    recorded, now = int(run.record.get("processes", 1)), distribution.process_count()
    if recorded != now:
        raise UserError(f"{run.path.name} trained on {recorded} process(es) and continues "
                        f"only on as many (this is {now}): how each batch is split and "
                        "summed follows that count, so another would not continue the same "
                        f"run. Start {recorded} processes with --distributed --resume.")
    done, total = run.record["epochs_done"], run.record["job"]["epochs"]
    if status == "finished" and done >= total:
        raise UserError(f"{run.path} finished all {total} epochs; export it with "
                        f"desktop-ft export {run.path} OUT.")
    observer.on_status(f"Resuming {run.path.name} after epoch {done} of {total}.")
    bundle = bundle_from_run(run, "last", observer, stop) if done else None
    scan = run_scan(run, observer)
    run.record.update(status="running", pid=os.getpid())
    run.save()
    job = TrainJob.from_dict({**run.record["job"], "strategy": None if done else
                              run.record["job"]["strategy"]})
    if bundle is None:     # killed before the first checkpoint: start again, same folder
        bundle = rebuild_source(run, observer, stop)
        job = TrainJob.from_dict({**job.to_dict(), "strategy": None})
    return fine_tune(job, observer, stop, bundle=bundle, scan=scan, resume=run)
