"""``desktop-ft``: the command line over ``desktop_ft.core`` — the same code paths as the GUI.

No subcommand starts the desktop app. Errors print one line (no traceback unless
``--debug``) and exit non-zero.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time

from desktop_ft import __version__

EPILOG = """examples:
  desktop-ft layers --model vgg16 --weights none --image-size 32 --strategy partial
  desktop-ft train --model vgg16 --weights imagenet --data photos/ --export out/
  desktop-ft train --model bert --preset bert_tiny_en_uncased --data reviews.csv --export out/
  desktop-ft evaluate out/ --data photos_test/
  desktop-ft predict out/ cat.jpg dog.png
"""


class _Pattern(argparse.Action):
    """--freeze/--unfreeze append (action, glob) to one list, keeping command-line order."""

    def __call__(self, parser, namespace, value, option_string=None):
        patterns = list(getattr(namespace, "patterns", None) or [])
        patterns.append((self.const, value))
        namespace.patterns = patterns


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number ≥ 1, got {value}")
    return value


def _add_model_args(p: argparse.ArgumentParser, for_training: bool) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--model", choices=["vgg16", "bert"], default=None,
                   help="model family (default: vgg16, or the project's)")
    g.add_argument("--weights", default=None,
                   help="VGG16 weights: imagenet, none, or a .h5/.weights.h5 file "
                        "(default: imagenet)")
    g.add_argument("--image-size", type=int, default=None, help="VGG16 input size (default 224)")
    g.add_argument("--head", choices=["gap", "original"], default=None,
                   help="VGG16 head: gap (GAP→Dropout→Dense) or original (keep fc1/fc2, "
                        "replace predictions; 224 px)")
    g.add_argument("--preset", default=None,
                   help="BERT: keras-hub preset name, keras-hub preset folder or Hugging Face "
                        "BERT folder")
    g.add_argument("--seq-len", type=int, default=None, help="BERT sequence length (default 128)")
    g.add_argument("--augment", default=None, metavar="LIST",
                   help="VGG16 data augmentation inside the model, comma-separated: flip, "
                        "rotation, zoom, contrast (default: none)")
    g.add_argument("--precision", choices=["auto", "float32", "mixed_float16", "mixed_bfloat16"],
                   default=None, help="auto: mixed precision on GPUs that support it, never "
                   "float16 on CPU (default auto)")
    s = p.add_argument_group("what trains")
    from desktop_ft.core.layer_tree import STRATEGIES

    s.add_argument("--strategy", choices=STRATEGIES, default=None,
                   help="head: only the new head; partial: also the last N blocks/layers; "
                        "full: everything; bitfit: biases + head; lora: low-rank adapters "
                        "(BERT); qlora: int8 backbone + LoRA (BERT); two-phase: head first, "
                        "then the partial layers at lr/10 (default: head)")
    s.add_argument("--lora-rank", type=_positive_int, default=None, metavar="N",
                   help="rank of the LoRA adapters (default 4)")
    s.add_argument("--unfreeze-last", type=int, default=None, metavar="N",
                   help="blocks (VGG16) or transformer layers (BERT) the partial strategy "
                        "unfreezes (default 1)")
    s.add_argument("--unfreeze", action=_Pattern, const="unfreeze", metavar="GLOB",
                   help="unfreeze layers whose path or name matches (repeatable, in order)")
    s.add_argument("--freeze", action=_Pattern, const="freeze", metavar="GLOB",
                   help="freeze layers whose path or name matches (repeatable, in order)")
    if not for_training:
        p.add_argument("--num-classes", type=int, default=2, help="head size to show (default 2)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="desktop-ft", description="Transfer learning and fine-tuning with Keras. "
        "Without a command, opens the desktop app.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"desktop-ft {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("layers", help="print the layer tree with trainable state and counts")
    _add_model_args(p, for_training=False)
    p.add_argument("--json", action="store_true", help="print the tree as JSON")

    p = sub.add_parser("scan", help="check a dataset: classes, counts, skipped files, warnings")
    p.add_argument("data", help="image/text folder or CSV/TSV file")
    p.add_argument("--kind", choices=["images", "text"], default=None)
    p.add_argument("--text-column", default=None)
    p.add_argument("--label-column", default=None)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("train", help="fine-tune a model and export it",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--project", default=None, metavar="FILE",
                   help="a project file saved by the app; other options override it")
    _add_model_args(p, for_training=True)
    d = p.add_argument_group("data")
    d.add_argument("--data", default=None, help="image folder (one subfolder per class), text "
                   "folder, or CSV/TSV")
    d.add_argument("--val-data", default=None, help="explicit validation folder/file")
    d.add_argument("--val-split", type=float, default=None,
                   help="fraction held out for validation, stratified (default 0.2)")
    d.add_argument("--text-column", default=None, help="CSV text column (default: text, "
                   "sentence, review, …)")
    d.add_argument("--label-column", default=None, help="CSV label column (default: label, "
                   "class, …)")
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=_positive_int, default=None, help="default 10")
    t.add_argument("--batch-size", type=_positive_int, default=None, help="default 32")
    t.add_argument("--lr", type=float, default=None, help="learning rate (default: Adam 1e-3 "
                   "for a new head, 1e-4 to fine-tune VGG16; AdamW 5e-5 for BERT)")
    t.add_argument("--optimizer", choices=["adam", "adamw", "sgd"], default=None)
    t.add_argument("--early-stopping", type=int, default=None, metavar="PATIENCE",
                   help="stop after PATIENCE epochs without val_loss improvement and restore "
                        "the best weights (default: off)")
    t.add_argument("--class-weights", action="store_true", default=None,
                   help="weight classes inversely to their frequency")
    t.add_argument("--seed", type=int, default=None, help="default 0")
    t.add_argument("--phase1-epochs", type=int, default=None, metavar="N",
                   help="two-phase: epochs of phase 1 (default: until val_loss stops "
                        "improving, at most half the epochs)")
    f = p.add_argument_group("speed")
    f.add_argument("--no-feature-cache", dest="feature_cache", action="store_false",
                   default=None, help="do not train on cached features of the frozen prefix")
    f.add_argument("--cache-budget", dest="cache_budget_mb", type=int, default=None,
                   metavar="MB", help="memory for cached features (default 2048)")
    f.add_argument("--jit", dest="jit_compile", action="store_true", default=None,
                   help="compile with XLA")
    f.add_argument("--distributed", action="store_true",
                   help="multi-worker training from TF_CONFIG (the chief exports)")
    p.add_argument("--merge-lora", action="store_true",
                   help="lora: write model.keras with the adapters merged into the kernels")
    p.add_argument("--export", required=False, metavar="OUT",
                   help="export folder (SavedModel, model.keras, labels.json, export.json)")
    p.add_argument("--json", action="store_true", help="end with one JSON line summarising")

    p = sub.add_parser("evaluate", help="evaluate an export's SavedModel on labelled data")
    p.add_argument("out", metavar="OUT", help="an export folder")
    p.add_argument("--data", required=True)
    p.add_argument("--text-column", default=None)
    p.add_argument("--label-column", default=None)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("predict", help="classify image files or sentences with an export")
    p.add_argument("out", metavar="OUT", help="an export folder")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, or strings for a "
                   "text model")
    p.add_argument("--json", action="store_true")
    return parser


# ----------------------------------------------------------------------------- printing

class PrintingObserver:
    """Prints status lines and a per-epoch progress bar (redrawn per batch on a TTY)."""

    def __init__(self, stream=None, quiet: bool = False):
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.quiet = quiet
        self.steps = 0
        self.epochs = 0
        self._last_draw = 0.0
        self._t0 = 0.0

    def _print(self, text: str) -> None:
        if not self.quiet:
            print(text, file=self.stream, flush=True)

    def on_status(self, message: str) -> None:
        self._print(message)

    def on_progress(self, done, total, what) -> None:
        if self.tty and total and not self.quiet:
            self.stream.write(f"\r{what}: {done / total:6.1%} ({done / 1e6:.1f} of "
                              f"{total / 1e6:.1f} MB)")
            if done >= total:
                self.stream.write("\n")
            self.stream.flush()

    def on_train_begin(self, info: dict) -> None:
        self.steps = info["steps_per_epoch"]
        self.epochs = info["epochs"]
        self._print(f"Training on {info['train_examples']} examples, validating on "
                    f"{info['val_examples']}; {self.epochs} epoch(s) of {self.steps} batch(es).")

    def on_batch(self, epoch: int, batch: int, logs: dict) -> None:
        if batch == 0:
            self._t0 = time.perf_counter()
        now = time.perf_counter()
        if not self.tty or self.quiet or (now - self._last_draw < 0.1 and batch + 1 < self.steps):
            return
        self._last_draw = now
        done = (batch + 1) / max(self.steps, 1)
        bar = "█" * int(done * 24) + "·" * (24 - int(done * 24))
        eta = (now - self._t0) / (batch + 1) * (self.steps - batch - 1)
        self.stream.write(f"\rEpoch {epoch + 1}/{self.epochs} {bar} {batch + 1}/{self.steps} "
                          f"loss {logs.get('loss', float('nan')):.4f} "
                          f"acc {logs.get('accuracy', float('nan')):.3f} ETA {eta:4.0f}s ")
        self.stream.flush()

    def on_epoch(self, epoch: int, logs: dict) -> None:
        if self.tty and not self.quiet:
            self.stream.write("\r")
        parts = [f"Epoch {epoch + 1}/{self.epochs}", f"{logs.get('seconds', 0):.1f}s"]
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            if key in logs:
                parts.append(f"{key} {logs[key]:.4f}")
        self._print("  ".join(parts) + " " * 8)

    def on_train_end(self, summary: dict) -> None:
        pass


def _print_evaluation(ev: dict, stream) -> None:
    if not ev:
        return
    print(f"Accuracy on {ev['examples']} {ev.get('split', 'held-out')} examples: "
          f"{ev['accuracy']:.4f}", file=stream)
    width = max(len(c) for c in ev["classes"])
    for name, acc in ev["per_class_accuracy"].items():
        text = "n/a" if acc is None else f"{acc:.4f}"
        print(f"  {name:<{width}}  {text}", file=stream)
    print("Confusion matrix (rows: true, columns: predicted):", file=stream)
    print("  " + " " * width + "  " + " ".join(f"{c[:8]:>8}" for c in ev["classes"]), file=stream)
    for name, row in zip(ev["classes"], ev["confusion_matrix"]):
        print(f"  {name:<{width}}  " + " ".join(f"{v:>8}" for v in row), file=stream)


# ----------------------------------------------------------------------------- commands

def _spec_from_args(args, base: dict | None = None):
    from desktop_ft.core.models import ModelSpec

    d = dict(base or {})
    for key, attr in (("family", "model"), ("weights", "weights"), ("image_size", "image_size"),
                      ("head", "head"), ("preset", "preset"), ("seq_len", "seq_len"),
                      ("precision", "precision")):
        value = getattr(args, attr, None)
        if value is not None:
            d[key] = value
    if getattr(args, "augment", None) is not None:
        d["augment"] = [a.strip() for a in args.augment.split(",") if a.strip()]
    if "num_classes" in vars(args) and args.num_classes is not None:
        d["num_classes"] = args.num_classes
    return ModelSpec.from_dict(d)


def cmd_layers(args) -> int:
    from desktop_ft.core.models import load_model

    spec = _spec_from_args(args)
    out = sys.stderr if args.json else sys.stdout
    observer = PrintingObserver(out)
    bundle = load_model(spec, observer)
    from desktop_ft.core import peft

    strategy = args.strategy or "head"
    bundle = peft.prepare_strategy(bundle, strategy, args.lora_rank or 4, observer)
    tree = bundle.tree
    tree.apply_strategy(strategy, args.unfreeze_last or 1)
    tree.apply_patterns(getattr(args, "patterns", None) or [])
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


def _job_from_args(args):
    from desktop_ft.core.project import load_project
    from desktop_ft.core.train import TrainJob

    job_d, tree_states, peft_strategy = {}, None, None
    if args.project:
        project = load_project(args.project)
        job_d, tree_states = project["job"], project.get("tree")
    spec = _spec_from_args(args, job_d.get("model"))
    job_d["model"] = spec
    for key in ("data", "val_data", "val_split", "strategy", "unfreeze_last", "epochs",
                "batch_size", "lr", "optimizer", "early_stopping", "class_weights", "seed",
                "text_column", "label_column", "lora_rank", "phase1_epochs", "feature_cache",
                "cache_budget_mb", "jit_compile"):
        value = getattr(args, key, None)
        if value is not None:
            job_d[key] = value
    if getattr(args, "patterns", None):
        job_d["patterns"] = list(job_d.get("patterns", [])) + list(args.patterns)
    if tree_states is not None and args.strategy is None:
        job_d["strategy"] = None   # the project's tree, exactly as saved
        peft_strategy = job_d.get("peft_strategy")   # LoRA/int8 to redo before the tree
    elif "strategy" not in job_d or job_d["strategy"] is None:
        job_d["strategy"] = args.strategy or "head"
    if not job_d.get("data"):
        from desktop_ft.core.errors import UserError

        raise UserError("train needs --data PATH (or a --project that names its data).")
    return TrainJob.from_dict(job_d), tree_states, peft_strategy


def cmd_train(args) -> int:
    from desktop_ft.core import export, train
    from desktop_ft.core.errors import UserError

    job, tree_states, peft_strategy = _job_from_args(args)
    if args.merge_lora and job.strategy != "lora":
        raise UserError("--merge-lora goes with --strategy lora.")
    if not args.export:
        raise UserError("train needs --export OUT: the folder to write the trained model to.")
    from desktop_ft.core import speed

    if args.distributed:
        speed.distribution_strategy(distributed=True)   # before any other TF work
    out_stream = sys.stderr if args.json else sys.stdout
    observer = PrintingObserver(out_stream)
    stop = threading.Event()
    _install_sigint(stop, out_stream)
    if tree_states is not None:
        bundle, scan = train.prepare(job, observer, stop)
        if peft_strategy:
            from desktop_ft.core import peft

            bundle = peft.prepare_strategy(bundle, peft_strategy, job.lora_rank, observer,
                                           stop)
        bundle.tree.set_states(tree_states)
        result = train.fine_tune(job, observer, stop, bundle=bundle, scan=scan)
    else:
        result = train.fine_tune(job, observer, stop)
    summary = result.summary()
    _print_evaluation(result.evaluation, out_stream)
    if args.distributed and not speed.is_chief():
        summary["export"] = None
        print("Not the chief worker: the chief exports.", file=out_stream)
        if args.json:
            print(json.dumps(summary))
        return 0
    record = export.export_model(result.bundle, args.export, result.classes,
                                 samples=result.parity_samples(), info=result.export_info(),
                                 observer=observer, merge_lora=args.merge_lora)
    summary["export"] = os.path.abspath(args.export)
    summary["parity_max_abs_diff"] = record["parity_max_abs_diff"]
    summary["epoch_seconds"] = [round(s, 3) for s in result.epoch_seconds]
    if args.json:
        print(json.dumps(summary))
    return 0


def _install_sigint(stop: threading.Event, stream) -> None:
    """First Ctrl-C stops after the current batch (the model is still exported); the
    second aborts."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("\nStopping after this batch… (Ctrl-C again to abort)", file=stream, flush=True)

    signal.signal(signal.SIGINT, handler)


def cmd_evaluate(args) -> int:
    from desktop_ft.core import data
    from desktop_ft.core.export import ExportedModel
    from desktop_ft.core.train import load_inputs, metrics_from_probs

    exported = ExportedModel(args.out)
    scan = data.scan(args.data, exported.kind, classes=exported.labels,
                     text_column=args.text_column, label_column=args.label_column)
    items, labels = list(scan.train.items), list(scan.train.labels)
    for split in (scan.val, scan.test):
        if split is not None:
            items += split.items
            labels += split.labels
    family = "vgg16" if exported.kind == "images" else "bert"
    probs = exported.predict_proba(load_inputs(family, items))
    ev = metrics_from_probs(labels, probs, exported.labels)
    ev["split"] = "given"
    ev["skipped"] = [{"path": p, "reason": r} for p, r in scan.skipped]
    if args.json:
        print(json.dumps(ev))
    else:
        for p, r in scan.skipped:
            print(f"skipped {p}: {r}")
        _print_evaluation(ev, sys.stdout)
    return 0


def cmd_predict(args) -> int:
    from desktop_ft.core.data import load_image_rgb
    from desktop_ft.core.errors import UserError
    from desktop_ft.core.export import ExportedModel

    exported = ExportedModel(args.out)
    inputs = args.inputs
    if exported.kind == "images":
        decoded = []
        for path in inputs:
            try:
                decoded.append(load_image_rgb(path))
            except (OSError, ValueError) as e:
                raise UserError(f"Cannot read image {path}: {e}") from None
        probs = exported.predict_proba(decoded)
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


COMMANDS = {"layers": cmd_layers, "scan": cmd_scan, "train": cmd_train,
            "evaluate": cmd_evaluate, "predict": cmd_predict}


def main(argv: list[str] | None = None) -> int:
    from desktop_ft.core.runtime import quiet_tensorflow

    quiet_tensorflow()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        from desktop_ft.gui.app import run_app

        return run_app()
    from desktop_ft.core.errors import UserError

    try:
        if args.command != "scan" and not getattr(args, "distributed", False):
            # (A multi-worker strategy must be created before TensorFlow initialises.)
            from desktop_ft.core.runtime import configure

            configure()
        return COMMANDS[args.command](args)
    except UserError as e:
        if args.debug:
            raise
        print(f"desktop-ft: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("desktop-ft: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # anything unexpected: one line, --debug for the traceback
        if args.debug:
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        print(f"desktop-ft: error: {type(e).__name__}: {first} (run with --debug for the "
              "traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
