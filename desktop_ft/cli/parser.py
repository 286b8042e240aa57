"""The ``desktop-ft`` argument parser. Choice lists come from core, never typed again."""

from __future__ import annotations

import argparse
import os

from desktop_ft import __version__
from desktop_ft.core.backend import BACKENDS
from desktop_ft.core.export.plan import DEFAULT_FORMATS, FORMATS
from desktop_ft.core.models import ARCHITECTURES, ModelSpec
from desktop_ft.core.runtime import PRECISIONS
from desktop_ft.core.training import JOB_STRATEGIES, OPTIMIZERS
from desktop_ft.core.training.monitor import MONITORS
from desktop_ft.core.training.schedules import SCHEDULES
from desktop_ft.core.training.retention import DEFAULT_KEEP, DEFAULT_MAX_GB

EPILOG = """examples:
  desktop-ft models
  desktop-ft layers --model vgg16 --weights none --image-size 32 --strategy partial
  desktop-ft train --model mobilenet_v2 --weights imagenet --data photos/ --export out/
  desktop-ft train --model vgg16 --weights imagenet --data photos/ --export out/
  desktop-ft train --model bert --preset bert_tiny_en_uncased --data reviews.csv --export out/
  desktop-ft train --model xlm_roberta --preset ./xlm-roberta-base/ --data avis.csv --export out/
  desktop-ft layers --model deberta_v3 --weights none --seq-len 64
  desktop-ft evaluate out/ --data photos_test/
  desktop-ft predict out/ cat.jpg dog.png
"""


DEFAULT_SPEC = ModelSpec()


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


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a probability from 0 to 1, got "
                                         f"'{text}'") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a probability from 0 to 1, got {value} "
                                         "(0.6 means 60 %)")
    return value


UNKNOWN_HELP = ("answer 'unknown' when the top (calibrated) probability is below P, e.g. "
                "0.6: 'none of these' for inputs unlike any class")


def _add_unknown_arg(p: argparse.ArgumentParser, more: str = "") -> None:
    p.add_argument("--unknown-below", type=_probability, default=None, metavar="P",
                   help=UNKNOWN_HELP + more)


def _add_backend_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=BACKENDS, default=None,
                   help="Keras backend: tensorflow, torch or jax (default: KERAS_BACKEND, "
                        "else tensorflow)")


def _add_retention_args(p, what: str) -> None:
    p.add_argument("--keep-runs", type=int, default=None, metavar="N",
                   help=f"{what} the last N finished runs (default {DEFAULT_KEEP}; "
                        "0 keeps every run)")
    p.add_argument("--max-runs-gb", type=float, default=None, metavar="GB",
                   help=f"... and at most GB in all, whichever comes first (default "
                        f"{DEFAULT_MAX_GB:g}; 0: no size cap)")


def _add_model_args(p: argparse.ArgumentParser, for_training: bool) -> None:
    _add_backend_arg(p)
    g = p.add_argument_group("model")
    g.add_argument("--model", choices=list(ARCHITECTURES), default=None, metavar="NAME",
                   help=f"the network, one of {', '.join(ARCHITECTURES)} (`desktop-ft models` "
                        f"lists them; default: {DEFAULT_SPEC.architecture}, or the project's)")
    g.add_argument("--weights", default=None,
                   help="image models: imagenet, none, a weights file (.h5/.weights.h5, "
                        "full or no-top) or a saved model (.keras/.h5) whose backbone is "
                        f"found inside (default: {DEFAULT_SPEC.weights}); text and keras-hub "
                        "models: none builds random weights (with --preset: its "
                        "configuration and tokenizer)")
    g.add_argument("--image-size", type=int, default=None,
                   help="image input size in pixels (default: the network's, see "
                        "`desktop-ft models`)")
    g.add_argument("--head", choices=["gap", "original"], default=None,
                   help="image head: gap (pooled features→Dropout→Dense) or original (VGG: "
                        "keep fc1/fc2, replace predictions; 224 px)")
    g.add_argument("--train-bn", action="store_true", default=None,
                   help="let BatchNormalization layers in unfrozen blocks train (default: "
                        "they stay frozen, as Keras's fine-tuning guide advises)")
    g.add_argument("--preset", default=None,
                   help="text and keras-hub image models: keras-hub preset name, keras-hub "
                        "preset folder or Hugging Face folder (safetensors; a text "
                        "model's own tokenizer is used)")
    g.add_argument("--seq-len", type=int, default=None,
                   help="text sequence length in tokens (default 128)")
    g.add_argument("--augment", default=None, metavar="LIST",
                   help="image data augmentation inside the model, comma-separated: flip, "
                        "rotation, zoom, contrast (default: none)")
    g.add_argument("--augment-strength", type=float, default=None, metavar="S",
                   help="scale the rotation, zoom and contrast ranges: 0.5 halves them, 2 "
                        "doubles them (default 1: up to 18 degrees, 10 %% zoom, 20 %% contrast)")
    g.add_argument("--precision", choices=PRECISIONS,
                   default=None, help="auto: mixed precision on GPUs that support it, never "
                   "float16 on CPU (default auto)")
    s = p.add_argument_group("what trains")
    s.add_argument("--strategy", choices=JOB_STRATEGIES, default=None,
                   help="auto: only the new head on pretrained weights, everything on "
                        "random ones; head: only the new head; partial: also the last N "
                        "blocks/layers; full: everything; bitfit: biases + head; lora: "
                        "low-rank adapters (text models, and ViT, DeiT and Swin); qlora: "
                        "int8 backbone + LoRA (the same models); "
                        "two-phase: head first, then the partial layers at lr/10 "
                        "(default: auto)")
    s.add_argument("--lora-rank", type=_positive_int, default=None, metavar="N",
                   help="rank of the LoRA adapters (default 4)")
    s.add_argument("--unfreeze-last", type=int, default=None, metavar="N",
                   help="blocks (image models) or encoder layers (transformers) the partial "
                        "strategy unfreezes (default 1)")
    s.add_argument("--unfreeze", action=_Pattern, const="unfreeze", metavar="GLOB",
                   help="unfreeze layers whose path or name matches (repeatable, in order)")
    s.add_argument("--freeze", action=_Pattern, const="freeze", metavar="GLOB",
                   help="freeze layers whose path or name matches (repeatable, in order)")
    if not for_training:
        p.add_argument("--num-classes", type=int, default=2, help="head size to show (default 2)")


class OneLineParser(argparse.ArgumentParser):
    """Usage errors in one line (argparse prints the whole usage), with argparse's exit
    status 2; other errors exit 1. ``required_unless={"export": "resume"}``: ``--export``
    is required unless ``--resume`` is given (argparse cannot say so itself)."""

    def __init__(self, *args, required_unless: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.required_unless = required_unless or {}

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        for dest, unless in self.required_unless.items():
            if getattr(namespace, dest, None) is None and not getattr(namespace, unless, None):
                self.error(f"the following arguments are required: --{dest} (unless "
                           f"--{unless} is given)")
        return namespace, extras

    def error(self, message: str):
        command = self.prog.removeprefix("desktop-ft").strip()
        self.exit(2, f"desktop-ft: error: {command + ': ' if command else ''}{message} "
                     f"(see `{self.prog} --help`)\n")


MULTI_LABEL_HELP = ("read the table's label cells as several labels per row, separated by "
                    "; or | (found by itself when a cell holds several; one 0/1 column per "
                    "label is always read so)")


def _add_data_and_training_args(p) -> None:
    """The data and training options of ``train``, which ``label-issues`` takes too."""
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
    d.add_argument("--multi-label", action="store_true", default=None,
                   help=MULTI_LABEL_HELP)
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=_positive_int, default=None, help="default 10")
    t.add_argument("--batch-size", type=_positive_int, default=None, help="default 32")
    t.add_argument("--lr", type=float, default=None, help="learning rate (default: 1e-3 when "
                   "few parameters train — a head, adapters, biases; else 1e-4 for image "
                   "models, 5e-5 for text models)")
    t.add_argument("--optimizer", choices=OPTIMIZERS, default=None,
                   help="default: adam (image models), adamw (text models)")
    t.add_argument("--weight-decay", type=float, default=None, metavar="W",
                   help="decoupled weight decay of adamw and sgd (default: 0.01 with "
                        "adamw, none with sgd; with the default optimizer of image "
                        "models, adam, it trains with adamw)")
    t.add_argument("--label-smoothing", type=float, default=None, metavar="F",
                   help="pull the training targets this far towards uniform, e.g. 0.1 "
                        "(default 0)")
    t.add_argument("--schedule", choices=SCHEDULES, default=None,
                   help="the learning rate over each phase's steps: constant, cosine, linear "
                        "decay or one-cycle (default: constant, measured best; see "
                        "BENCHMARKS.md)")
    t.add_argument("--warmup", type=float, default=None, metavar="F",
                   help="ramp the rate up over this fraction of each phase's steps "
                        "(default: 0.25 with one-cycle, else 0)")
    t.add_argument("--early-stopping", type=int, default=None, metavar="PATIENCE",
                   help="stop after PATIENCE epochs without improvement of --monitor and "
                        "restore the best weights (default: off)")
    t.add_argument("--monitor", choices=MONITORS, default=None,
                   help="what early stopping and the run's best checkpoint follow (default "
                        "val_loss); val_macro_f1 suits imbalanced classes")
    t.add_argument("--class-weights", action="store_true", default=None,
                   help="weight classes inversely to their frequency")
    t.add_argument("--seed", type=int, default=None, help="default 0")
    t.add_argument("--phase1-epochs", type=int, default=None, metavar="N",
                   help="two-phase: epochs of phase 1 (default: until --monitor stops "
                        "improving, at most half the epochs)")
    d.add_argument("--corrections", default=None, metavar="FILE", type=_absolute,
                   help="a corrections file (JSON) of suspect-label decisions that the "
                        "scan applies: relabel, exclude or keep per file or row")


def _add_job_args(p):
    """What ``label-issues`` and ``lr-find`` take from ``train``: a project file, the
    model, data, training and feature-cache options."""
    p.add_argument("--project", default=None, metavar="FILE",
                   help="a project file saved by the app; other options override it")
    _add_model_args(p, for_training=True)
    _add_data_and_training_args(p)
    _add_cache_args(p)


def _add_cache_args(p):
    """The feature-cache options (``train``, ``label-issues``); returns their group."""
    f = p.add_argument_group("speed")
    f.add_argument("--no-feature-cache", dest="feature_cache", action="store_false",
                   default=None, help="do not train on cached features of the frozen prefix")
    f.add_argument("--cache-budget", dest="cache_budget_mb", type=int, default=None,
                   metavar="MB", help="memory for cached features (default 2048)")
    return f


def _absolute(text: str) -> str:
    return os.path.abspath(os.path.expanduser(text))


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="desktop-ft", description="Transfer learning and fine-tuning with Keras. "
        "Without a command, opens the desktop app.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"desktop-ft {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("models", help="list the networks: input, parameters, ImageNet top-1, "
                       "where pretrained weights come from")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("layers", help="print the layer tree with trainable state and counts")
    _add_model_args(p, for_training=False)
    p.add_argument("--json", action="store_true", help="print the tree as JSON")

    p = sub.add_parser("scan", help="check a dataset: classes, counts, skipped files, warnings")
    p.add_argument("data", help="image/text folder or CSV/TSV file")
    p.add_argument("--kind", choices=["images", "text"], default=None)
    p.add_argument("--text-column", default=None)
    p.add_argument("--label-column", default=None)
    p.add_argument("--multi-label", action="store_true", default=None, help=MULTI_LABEL_HELP)
    p.add_argument("--corrections", default=None, metavar="FILE", type=_absolute,
                   help="apply this corrections file (suspect-label decisions)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("train", help="fine-tune a model and export it",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       usage="%(prog)s (--data PATH | --project FILE) --export OUT "
                             "[options]\n       %(prog)s --resume RUN_DIR [--export OUT] "
                             "[options]",
                       required_unless={"export": "resume"})
    p.add_argument("--project", default=None, metavar="FILE",
                   help="a project file saved by the app; other options override it")
    _add_model_args(p, for_training=True)
    _add_data_and_training_args(p)
    f = _add_cache_args(p)
    f.add_argument("--jit", dest="jit_compile", action="store_true", default=None,
                   help="compile with XLA")
    f.add_argument("--distributed", action="store_true",
                   help="train with other processes, on other machines too: TensorFlow "
                        "workers from TF_CONFIG (the chief exports), or JAX processes "
                        "from KERAS_DISTRIBUTION_* or the three flags below (process 0 "
                        "exports); see README")
    f.add_argument("--job-addresses", default=None, metavar="HOST:PORT[,…]",
                   help="JAX: process 0's address (KERAS_DISTRIBUTION_JOB_ADDRESSES)")
    f.add_argument("--num-processes", type=_positive_int, default=None, metavar="N",
                   help="JAX: how many processes train (KERAS_DISTRIBUTION_NUM_PROCESSES)")
    f.add_argument("--process-id", type=int, default=None, metavar="I",
                   help="JAX: this process, 0 to N-1 (KERAS_DISTRIBUTION_PROCESS_ID)")
    r = p.add_argument_group("runs")
    r.add_argument("--run-dir", default=None, metavar="DIR",
                   help="where the run folder goes (checkpoint after every epoch; default: "
                        "the user's data folder, see `desktop-ft runs`)")
    _add_retention_args(r, "when the run ends, remove older finished runs to keep")
    r.add_argument("--resume", default=None, metavar="RUN_DIR",
                   help="continue an interrupted run at its next epoch (same data split, "
                        "optimizer state and history)")
    p.add_argument("--merge-lora", action="store_true",
                   help="lora: write model.keras with the adapters merged into the kernels")
    p.add_argument("--formats", default=None, metavar="LIST",
                   help=f"comma-separated, from {','.join(FORMATS)} (default "
                        f"{','.join(DEFAULT_FORMATS)}); litert also writes model_int8.tflite")
    # Required unless --resume (required_unless above): a resumed run may only continue.
    p.add_argument("--export", metavar="OUT",
                   help="export folder (SavedModel, model.keras, labels.json, export.json); "
                        "required, except with --resume")
    _add_unknown_arg(p, "; kept in the export's metadata (default: the project's)")
    p.add_argument("--json", action="store_true", help="end with one JSON line summarising")

    p = sub.add_parser("label-issues", help="find training examples whose label looks "
                       "wrong (out-of-fold predictions + Confident Learning), most suspect "
                       "first", usage="%(prog)s (--data PATH | --project FILE) [options]")
    _add_job_args(p)
    p.add_argument("--folds", type=_positive_int, default=5,
                   help="k of the k-fold out-of-fold predictions (default 5)")
    p.add_argument("--json", action="store_true",
                   help="end with one JSON object listing the suspects")

    p = sub.add_parser("lr-find", help="learning-rate range test: train a few hundred "
                       "steps at exponentially growing rates, suggest one; the model is "
                       "left as it was", usage="%(prog)s (--data PATH | --project FILE) "
                       "[options]")
    _add_job_args(p)
    p.add_argument("--steps", type=_positive_int, default=100,
                   help="steps of the sweep (default 100; fewer on tiny data)")
    p.add_argument("--start-lr", type=float, default=1e-7, help="default 1e-7")
    p.add_argument("--end-lr", type=float, default=10.0, help="default 10")
    p.add_argument("--rule", choices=("valley", "steepest"), default="valley",
                   help="valley (fastai's default: inside the longest falling stretch) or "
                        "steepest (where the loss falls fastest)")
    p.add_argument("--json", action="store_true",
                   help="end with one JSON object: curve, suggestion, rule")

    p = sub.add_parser("export", help="export again without retraining, from a run's "
                       "checkpoint or an earlier export, in other formats")
    p.add_argument("src", metavar="SRC", help="a run folder (see `desktop-ft runs`) or an "
                   "export folder")
    p.add_argument("out", metavar="OUT", help="the export folder to write")
    _add_backend_arg(p)
    p.add_argument("--best", action="store_true",
                   help="the best epoch's checkpoint (by validation loss) instead of the last")
    p.add_argument("--merge-lora", action="store_true")
    p.add_argument("--formats", default=None, metavar="LIST",
                   help=f"comma-separated, from {','.join(FORMATS)} (default "
                        f"{','.join(DEFAULT_FORMATS)})")
    _add_unknown_arg(p, "; kept in the export's metadata (default: the source's)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("runs", help="list training runs (status, epochs, best metric, disk "
                       "use), or delete them")
    p.add_argument("--run-dir", default=None, metavar="DIR", help="where to look (default: "
                   "the user's data folder)")
    p.add_argument("--delete", nargs="+", default=None, metavar="RUN",
                   help="delete these runs (folder paths or names)")
    p.add_argument("--prune", action="store_true",
                   help="remove the oldest finished, stopped and failed runs beyond the cap "
                        "(interrupted and running runs are kept)")
    _add_retention_args(p, "with --prune: keep")
    p.add_argument("--dry-run", action="store_true",
                   help="with --prune: list what would be removed, remove nothing")
    p.add_argument("--compare", nargs="+", default=None, metavar="RUN",
                   help="compare two or more runs (folder paths or names): the settings "
                        "that differ, their curves and final and best metrics")
    p.add_argument("--html", default=None, metavar="FILE.html",
                   help="with --compare: also write a self-contained HTML page")
    p.add_argument("--note", nargs=2, default=None, metavar=("RUN", "TEXT"),
                   help="keep TEXT as the run's note (\"\" clears it)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("evaluate", help="evaluate an export on labelled data (its "
                       "SavedModel; model.keras or model.onnx where that cannot run here)")
    p.add_argument("out", metavar="OUT", help="an export folder")
    p.add_argument("--data", required=True)
    p.add_argument("--text-column", default=None)
    p.add_argument("--label-column", default=None)
    p.add_argument("--report", default=None, metavar="FILE.html",
                   help="also write a self-contained HTML report (curves, per-class "
                        "accuracy, confusion matrix, top mistakes, parity)")
    _add_unknown_arg(p, "; reports how many were answered unknown and the accuracy on "
                     "the rest (default: the export's)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("explain", help="show what an export's model looks at: Grad-CAM "
                       "heatmaps for images, word importance for text")
    p.add_argument("out", metavar="OUT", help="an export folder")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, or strings for a "
                   "text model")
    p.add_argument("--out", dest="write", default=None, metavar="FILE.png|FILE.html",
                   help="write the heatmap over the image (one PNG per image: FILE.png, "
                        "FILE_2.png, …) or the highlighted texts (HTML)")
    p.add_argument("--opacity", type=float, default=0.5, help="heatmap opacity (0–1)")
    p.add_argument("--label", default=None, metavar="NAME", help="show the evidence for this "
                   "class or label (default: the most probable one)")
    _add_backend_arg(p)
    p.add_argument("--json", action="store_true",
                   help="end with one JSON line: a list with one object per input")

    p = sub.add_parser("predict", help="classify image files or sentences with an export")
    p.add_argument("out", metavar="OUT", help="an export folder")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, or strings for a "
                   "text model")
    _add_unknown_arg(p, " (default: the export's)")
    p.add_argument("--json", action="store_true")
    return parser
