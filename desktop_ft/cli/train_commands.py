"""``train`` (a new run or ``--resume``, one process or a JAX group) and ``export`` (a run
folder or an export, again): the commands that train and write models."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading

from desktop_ft.cli.model_args import spec_from_args
from desktop_ft.cli.printing import PrintingObserver, print_evaluation
from desktop_ft.core import interrupts
from desktop_ft.core.errors import UserError


JOB_KEYS = ("data", "val_data", "val_split", "strategy", "unfreeze_last", "epochs",
            "batch_size", "lr", "optimizer", "weight_decay", "label_smoothing", "schedule",
            "warmup", "early_stopping", "monitor", "class_weights", "seed",
            "text_column", "label_column", "multi_label", "lora_rank", "phase1_epochs",
            "feature_cache",
            "cache_budget_mb", "jit_compile", "keep_runs", "max_runs_gb", "corrections")


def _project_from_args(args):
    """The job to run as a :class:`~desktop_ft.core.project.Project`: the project file's
    (when given) with the command line's options on top."""
    from desktop_ft.core.project import Project, load_project
    from desktop_ft.core.training import TrainJob

    project = load_project(args.project) if args.project else None
    job_d = project.job.to_dict() if project else {}
    job_d["model"] = spec_from_args(args, job_d.get("model"))
    for key in JOB_KEYS:
        value = getattr(args, key, None)
        if value is not None:
            job_d[key] = value
    if getattr(args, "patterns", None):
        job_d["patterns"] = list(job_d.get("patterns", [])) + list(args.patterns)
    keep_tree = project is not None and project.tree is not None and args.strategy is None
    if keep_tree:
        job_d["strategy"] = None   # the project's tree, exactly as saved
    elif job_d.get("strategy") is None:
        job_d["strategy"] = "auto"
    if args.corrections and not os.path.isfile(args.corrections):
        raise UserError(f"--corrections {args.corrections}: no such file.")
    if not job_d.get("data"):
        raise UserError(f"{args.command} needs --data PATH (or a --project that names its "
                        "data).")
    job = TrainJob.from_dict(job_d)
    unknown = args.unknown_below if getattr(args, "unknown_below", None) is not None else \
        project.unknown_below if project else None
    if keep_tree:
        return Project(job, tree=project.tree, peft=project.peft, unknown_below=unknown)
    return Project(job, unknown_below=unknown)


def cmd_train(args) -> int:
    from desktop_ft.core import distribution

    if args.distributed:
        _distribution_from_flags(args)
        distribution.distribution_strategy(distributed=True)   # before any other TF/JAX work
    try:
        return _resume(args) if args.resume else _train(args)
    except BaseException as e:
        if distribution.multi_process():
            distribution.leave_after_failure(_group_failure(e), _exit_code(e))
        raise


def _train(args) -> int:
    from desktop_ft.core.project import replay
    from desktop_ft.core.training import fine_tune

    project = _project_from_args(args)
    job = project.job
    if args.merge_lora and job.strategy != "lora":
        raise UserError("--merge-lora goes with --strategy lora.")
    if not args.export:
        raise UserError("train needs --export OUT: the folder to write the trained model to "
                        "(or --resume RUN_DIR to continue a run).")
    out_stream = sys.stderr if args.json else sys.stdout
    observer = PrintingObserver(out_stream)
    stop = threading.Event()
    _install_sigint(stop, out_stream)
    if project.tree is not None:
        bundle, scan = replay(project, observer, stop)
        result = fine_tune(job, observer, stop, bundle=bundle, scan=scan,
                           run_dir=args.run_dir)
    else:
        result = fine_tune(job, observer, stop, run_dir=args.run_dir)
    _answer_unknown_below(result.bundle, project.unknown_below, out_stream)
    return _finish(args, result, observer, out_stream)


def _answer_unknown_below(bundle, value: float | None, trained_now=None) -> None:
    """The model answers "unknown" below ``value`` (None: as it does): the export's
    decision carries it. Not offered for a multi-label model: an error, or after
    training (``trained_now``: where to say so) a note, so the training is not lost."""
    from desktop_ft.core.training.calibration import with_unknown_below

    if value is not None and bundle.multi_label and trained_now is not None:
        print(f"Note: not answering 'unknown' below {value:g}: a model with several labels "
              "per example answers each label at its own threshold.", file=trained_now)
        return
    bundle.decision = with_unknown_below(bundle.decision, value)


def _distribution_from_flags(args) -> None:
    """--job-addresses, --num-processes, --process-id: Keras's own variables, which
    ``keras.distribution.initialize()`` reads."""
    from desktop_ft.core.distribution import JAX_VARIABLES

    for name, value in zip(JAX_VARIABLES, (args.job_addresses, args.num_processes,
                                           args.process_id)):
        if value is not None:
            os.environ[name] = str(value)


def _group_failure(e: BaseException) -> str:
    """One line for a process of a JAX group whose training ended in an error: most
    often another process died (its connection closed in the middle of a step)."""
    from desktop_ft.core import distribution

    strategy = distribution.distribution_strategy()
    why = "interrupted" if isinstance(e, KeyboardInterrupt) else \
        (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
    return (f"process {strategy.process_index} of {strategy.processes} stopped: {why}. "
            "When one process of the group fails or is stopped, all stop (a process that "
            "dies is noticed at the next step; a machine that vanishes, within JAX's "
            "100-second heartbeat timeout); process 0's run folder resumes with "
            f"--distributed --resume RUN_DIR on {strategy.processes} processes.")


def _exit_code(e: BaseException) -> int:
    return getattr(e, "exit_code", None) or interrupts.termination_code() or \
        (130 if isinstance(e, KeyboardInterrupt) else 1)


def _finish(args, result, observer, out_stream) -> int:
    """Print the evaluation, export, and end with the JSON summary."""
    from desktop_ft.core import distribution, export

    summary = result.summary()
    if getattr(args, "distributed", False) and not distribution.is_chief():
        summary["export"] = None
        print("Not process 0: process 0 writes the run folder and the export.",
              file=out_stream)
        if args.json:
            print(json.dumps(summary))
        return 0
    print_evaluation(result.evaluation, out_stream)
    if args.export:
        record = export.export_model(result.bundle, args.export, result.classes,
                                     samples=result.parity_samples(),
                                     info=result.export_info(), observer=observer,
                                     merge_lora=args.merge_lora, formats=args.formats,
                                     representative=result.parity_samples(64),
                                     validation=result.validation_inputs())
        summary["export"] = os.path.abspath(args.export)
        summary["parity_max_abs_diff"] = record["parity_max_abs_diff"]
        summary["formats"] = record["formats"]
    summary["epoch_seconds"] = [round(s, 3) for s in result.epoch_seconds]
    if args.json:
        print(json.dumps(summary))
    return 0


def _resume(args) -> int:
    from desktop_ft.core.training.resume import resume_run

    out_stream = sys.stderr if args.json else sys.stdout
    observer = PrintingObserver(out_stream)
    stop = threading.Event()
    _install_sigint(stop, out_stream)
    result = resume_run(args.resume, observer, stop)
    _answer_unknown_below(result.bundle, args.unknown_below, out_stream)
    return _finish(args, result, observer, out_stream)


def cmd_export(args) -> int:
    from desktop_ft.core import export
    from desktop_ft.core.export.reexport import source_for_reexport

    out_stream = sys.stderr if args.json else sys.stdout
    observer = PrintingObserver(out_stream)
    src = source_for_reexport(args.src, best=args.best, observer=observer)
    _answer_unknown_below(src.bundle, args.unknown_below)
    record = export.export_model(src.bundle, args.out, src.bundle.classes,
                                 samples=src.samples, info=src.info, observer=observer,
                                 merge_lora=args.merge_lora, formats=args.formats,
                                 representative=src.representative,
                                 validation=src.validation)
    src.after_export(record)
    summary = {"export": record["path"], "source": str(src.path), **src.summary,
               "parity_max_abs_diff": record["parity_max_abs_diff"],
               "formats": record["formats"]}
    print(f"Exported {src.description} to {record['path']}: {export.parity_line(record)}.",
          file=out_stream)
    if args.json:
        print(json.dumps(summary))
    return 0


def _replayed_project(args):
    """What label-issues and lr-find start from: the project (file and flags), where to
    print, a printing observer, a stop event Ctrl+C sets, and ``bundle``/``scan`` replayed
    from a project file's tree (else None: the job loads them)."""
    from desktop_ft.core.project import replay

    project = _project_from_args(args)
    out_stream = sys.stderr if args.json else sys.stdout
    observer = PrintingObserver(out_stream)
    stop = threading.Event()
    _install_sigint(stop, out_stream)
    bundle = scan = None
    if project.tree is not None:
        bundle, scan = replay(project, observer, stop)
    return project, out_stream, observer, stop, {"bundle": bundle, "scan": scan}


def cmd_label_issues(args) -> int:
    """Suspect labels: train per fold, rank with Confident Learning, print most suspect
    first (and end with one JSON object with ``--json``)."""
    from desktop_ft.core.training.label_issues import find_suspects

    project, out_stream, observer, stop, loaded = _replayed_project(args)
    found = find_suspects(project.job, observer, stop, folds=args.folds, **loaded)
    suspects = found["suspects"]
    how = "the head on cached features" if found["cached"] else "the whole model"
    print(f"{len(suspects)} suspect label(s) among {found['examples']} training examples "
          f"({found['folds']}-fold, {how}), most suspect first:", file=out_stream)
    for s in suspects:
        print(f"  {s['score']:.3f}  {s['item']}: given {s['given']}, suggested "
              f"{s['suggested']}", file=out_stream)
    if args.json:
        print(json.dumps(found))
    return 0


def cmd_lr_find(args) -> int:
    """Learning-rate range test: print the suggestion (and end with one JSON object with
    ``--json``)."""
    from desktop_ft.core.training.lr_finder import find_learning_rate

    project, out_stream, observer, stop, loaded = _replayed_project(args)
    found = find_learning_rate(project.job, observer, stop,
                               sweep=(args.start_lr, args.end_lr, args.steps),
                               rule=args.rule, **loaded)
    curve = found["curve"]
    low = min(curve, key=lambda p: p["loss"])
    how = "the head on cached features" if found["cached"] else "the whole model"
    print(f"Swept {curve[0]['lr']:.3g} to {curve[-1]['lr']:.3g} in {len(curve)} steps "
          f"({how}{', stopped when the loss diverged' if found['stopped_early'] else ''}); "
          f"lowest smoothed loss {low['loss']:.4g} at {low['lr']:.3g}.", file=out_stream)
    print(f"Suggested learning rate ({found['rule']}): {found['suggestion']:.3g}",
          file=out_stream)
    if args.json:
        print(json.dumps(found))
    return 0


def _install_sigint(stop: threading.Event, stream) -> None:
    """First Ctrl-C stops after the current batch (the model is still exported); the
    second aborts at once, leaving the run folder resumable."""
    if threading.current_thread() is not threading.main_thread():
        return

    from desktop_ft.core import distribution

    # Several JAX processes step together: one that stops alone would leave the others
    # waiting for it, so there the first Ctrl-C aborts (and all stop; see cmd_train).
    together = distribution.multi_process()

    def handler(signum, frame):
        if stop.is_set() or together:
            interrupts.begin_termination(130)
            raise KeyboardInterrupt
        stop.set()
        print("\nStopping after this batch… (Ctrl-C again to abort)", file=stream, flush=True)

    signal.signal(signal.SIGINT, handler)
