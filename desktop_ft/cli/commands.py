"""The subcommands: each turns parsed arguments into calls on ``desktop_ft.core``."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path

from desktop_ft.cli.printing import PrintingObserver, print_evaluation
from desktop_ft.cli.runs_command import cmd_runs
from desktop_ft.core import interrupts
from desktop_ft.core.errors import UserError


def _spec_from_args(args, base: dict | None = None):
    from desktop_ft.core.models import ModelSpec, check_spec, modality_for

    d = dict(base or {})
    for key, attr in (("architecture", "model"), ("weights", "weights"),
                      ("image_size", "image_size"), ("head", "head"), ("preset", "preset"),
                      ("seq_len", "seq_len"), ("precision", "precision")):
        value = getattr(args, attr, None)
        if value is not None:
            d[key] = value
    if getattr(args, "train_bn", None):
        d["train_bn"] = True
    if getattr(args, "augment", None) is not None:
        d["augment"] = [a.strip() for a in args.augment.split(",") if a.strip()]
    if "num_classes" in vars(args) and args.num_classes is not None:
        d["num_classes"] = args.num_classes
    # The network's own defaults (its input size …) for what was not given.
    modality = modality_for(d.get("architecture", ModelSpec().architecture))
    for key, value in modality.spec_defaults().items():
        d.setdefault(key, value)
    return check_spec(ModelSpec.from_dict(d))


def cmd_models(args) -> int:
    from desktop_ft.core.models import model_table

    rows = model_table()
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{'NAME':<20} {'INPUT':<24} {'PARAMS':>8} {'TOP-1':>6}  PRETRAINED WEIGHTS")
    for r in rows:
        top1 = f"{r['top1']:.1f}" if r["top1"] is not None else "—"
        params = f"{r['params'] / 1e6:.1f} M" if r["params"] else "—"
        print(f"{r['name']:<20} {r['input']:<24} {params:>8} {top1:>6}  {r['weights']}")
    return 0


def cmd_layers(args) -> int:
    from desktop_ft.core.models import load_model
    from desktop_ft.core.training import prepare_strategy

    spec = _spec_from_args(args)
    out = sys.stderr if args.json else sys.stdout
    observer = PrintingObserver(out)
    bundle = load_model(spec, observer)
    bundle = prepare_strategy(bundle, args.strategy or "auto",
                              unfreeze_last=1 if args.unfreeze_last is None
                              else args.unfreeze_last, lora_rank=args.lora_rank or 4,
                              patterns=getattr(args, "patterns", None) or [],
                              observer=observer)
    tree = bundle.tree
    tree.apply_to_model()
    if args.json:
        rows = [{"path": n.path, "name": n.name, "kind": n.kind, "state": n.state,
                 "params": n.params, "trainable_params": n.trainable_params,
                 "output_shape": n.output_shape} for n in tree.nodes()]
        print(json.dumps({"nodes": rows, **tree.summary()}))
    else:
        print(tree.render())
    return 0


def cmd_scan(args) -> int:
    from desktop_ft.core import data

    scan = data.scan(args.data, args.kind, text_column=args.text_column,
                     label_column=args.label_column)
    if args.json:
        print(json.dumps(scan.summary()))
        return 0
    s = scan.summary()
    print(f"{scan.kind} dataset, {s['layout']}: {len(scan.classes)} classes")
    for name, n in s["counts"].items():
        print(f"  {name}: {n}")
    for split in ("train", "val", "test"):
        if split in s:
            print(f"{split}: {s[split]} examples")
    for item in s["skipped"]:
        print(f"skipped {item['path']}: {item['reason']}")
    for w in s["warnings"]:
        print(f"warning: {w}")
    return 0


JOB_KEYS = ("data", "val_data", "val_split", "strategy", "unfreeze_last", "epochs",
            "batch_size", "lr", "optimizer", "early_stopping", "class_weights", "seed",
            "text_column", "label_column", "lora_rank", "phase1_epochs", "feature_cache",
            "cache_budget_mb", "jit_compile", "keep_runs", "max_runs_gb")


def _project_from_args(args):
    """The job to run as a :class:`~desktop_ft.core.project.Project`: the project file's
    (when given) with the command line's options on top."""
    from desktop_ft.core.project import Project, load_project
    from desktop_ft.core.training import TrainJob

    project = load_project(args.project) if args.project else None
    job_d = project.job.to_dict() if project else {}
    job_d["model"] = _spec_from_args(args, job_d.get("model"))
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
    if not job_d.get("data"):
        raise UserError("train needs --data PATH (or a --project that names its data).")
    job = TrainJob.from_dict(job_d)
    if keep_tree:
        return Project(job, tree=project.tree, peft=project.peft)
    return Project(job)


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
    return _finish(args, result, observer, out_stream)


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
            "dies is noticed at the next step; a machine that vanishes within JAX's "
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
    return _finish(args, result, observer, out_stream)


def cmd_export(args) -> int:
    from desktop_ft.core import export
    from desktop_ft.core.export.reexport import source_for_reexport

    out_stream = sys.stderr if args.json else sys.stdout
    observer = PrintingObserver(out_stream)
    src = source_for_reexport(args.src, best=args.best, observer=observer)
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


def cmd_evaluate(args) -> int:
    from desktop_ft.core import data
    from desktop_ft.core.data.datasets import load_inputs
    from desktop_ft.core.training import metrics_from_probs

    exported = _open_export(args.out)
    scan = data.scan(args.data, exported.kind, classes=exported.labels,
                     text_column=args.text_column, label_column=args.label_column)
    items, labels = list(scan.train.items), list(scan.train.labels)
    for split in (scan.val, scan.test):
        if split is not None:
            items += split.items
            labels += split.labels
    probs = exported.predict_proba(load_inputs(exported.kind, items))
    ev = metrics_from_probs(labels, probs, exported.labels)
    ev["split"] = "given"
    ev["skipped"] = [{"path": p, "reason": r} for p, r in scan.skipped]
    if args.report:
        from desktop_ft.core.explain import mistakes
        from desktop_ft.core.report import write_report

        wrong = mistakes(items, labels, probs, exported.labels)
        ev["report"] = str(write_report(args.report, evaluation=ev, mistakes=wrong,
                                        kind=exported.kind, meta=exported.meta,
                                        data=str(args.data),
                                        title=f"desktop-ft report — {Path(args.out).name}"))
    if args.json:
        print(json.dumps(ev))
    else:
        for p, r in scan.skipped:
            print(f"skipped {p}: {r}")
        print_evaluation(ev, sys.stdout)
        if args.report:
            print(f"Report written to {ev['report']}")
    return 0


def cmd_predict(args) -> int:
    exported = _open_export(args.out)
    inputs = args.inputs
    if exported.kind == "images":
        probs = exported.predict_proba(_read_images(inputs))
    else:
        probs = exported.predict_proba(list(inputs))
    rows = []
    for item, p in zip(inputs, probs):
        best = int(p.argmax())
        rows.append({"input": item, "label": exported.labels[best],
                     "probs": {c: float(v) for c, v in zip(exported.labels, p)}})
    if args.json:
        print(json.dumps(rows))
    else:
        for row in rows:
            probs_text = ", ".join(f"{c} {v:.3f}" for c, v in row["probs"].items())
            print(f"{row['input']}: {row['label']}  ({probs_text})")
    return 0


def _open_export(folder: str):
    """The export's SavedModel, or where it cannot run here (no tensorflow-text on
    Windows, none written) its model.keras or ONNX file, saying so on stderr."""
    from desktop_ft.core.export import ExportedModel

    exported = ExportedModel(folder, fallback=True)
    if exported.note:
        print(exported.note, file=sys.stderr)
    return exported


def _read_images(paths: list[str]) -> list:
    from desktop_ft.core.data.datasets import load_image_rgb

    decoded = []
    for path in paths:
        try:
            decoded.append(load_image_rgb(path))
        except (OSError, ValueError) as e:
            raise UserError(f"Cannot read image {path}: {e}") from None
    return decoded


def cmd_explain(args) -> int:
    from desktop_ft.core import explain as ex

    if not 0 <= args.opacity <= 1:
        raise UserError(f"--opacity must be from 0 to 1, got {args.opacity}.")
    bundle = ex.load_export_bundle(args.out)
    images = bundle.input_kind == "images"
    inputs = _read_images(args.inputs) if images else list(args.inputs)
    explained = ex.explain(bundle, inputs)
    classes = bundle.classes
    rows = []
    for item, e in zip(args.inputs, explained):
        best = max(range(len(e["probs"])), key=e["probs"].__getitem__)
        row = {"input": item, "label": classes[best],
               "probs": dict(zip(classes, e["probs"]))}
        if images:
            row.update(heatmap=[[round(float(v), 4) for v in r] for r in e["heatmap"]],
                       layer=e["layer"])
        else:
            row.update(tokens=e["tokens"], scores=[round(s, 4) for s in e["scores"]])
        rows.append(row)
    written = []
    if args.write:
        target = Path(args.write)
        if images:
            for k, (raw, e) in enumerate(zip(inputs, explained)):
                path = target if k == 0 else \
                    target.with_name(f"{target.stem}_{k + 1}{target.suffix or '.png'}")
                ex.write_png(path, ex.overlay(raw, e["heatmap"], args.opacity))
                written.append(str(path))
        else:
            ex.write_text_html(target, explained, inputs, classes)
            written.append(str(target))
    if args.json:
        print(json.dumps(rows))
        return 0
    for row, e in zip(rows, explained):
        print(f"{row['input']}: {row['label']} ({row['probs'][row['label']]:.1%})")
        if images:
            print(f"  heatmap from {e['layer']}; strongest at row/column "
                  f"{_peak(e['heatmap'])} of {e['heatmap'].shape[0]}×{e['heatmap'].shape[1]}")
        else:
            ranked = sorted(ex.words(e["tokens"], e["scores"]), key=lambda w: -w[1])[:5]
            print("  most important: " + ", ".join(f"{w} {s:.2f}" for w, s in ranked))
    for path in written:
        print(f"Wrote {path}")
    return 0


def _peak(heatmap) -> tuple[int, int]:
    import numpy as np

    return tuple(int(i) for i in np.unravel_index(int(np.argmax(heatmap)), heatmap.shape))


COMMANDS = {"models": cmd_models, "layers": cmd_layers, "scan": cmd_scan, "train": cmd_train,
            "export": cmd_export, "runs": cmd_runs, "evaluate": cmd_evaluate,
            "predict": cmd_predict, "explain": cmd_explain}
