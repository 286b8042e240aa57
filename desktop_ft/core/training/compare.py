"""Runs compared side by side: what each run trained with (its settings), how it went
(its per-epoch curves) and where it ended (final and best metrics), and the names of the
settings that differ between them. ``desktop-ft runs --compare`` prints or writes it
(:func:`desktop_ft.core.report.write_compare_report`, a self-contained page); the Runs dialog's
Compare shows it.

Only each run's ``run.json`` is read (:meth:`Run.open`): a run another process is still
training can be compared, its files are left alone. Runs recorded before the resolved
settings were kept in run.json (``record["settings"]``) show what their job asked for
(e.g. the learning rate left to the default shows as ``None``)."""

from __future__ import annotations

import hashlib
import os

from desktop_ft.core.errors import UserError
from desktop_ft.core.training.runs import Run

# The settings compared, in the order shown, with what the window and the page call them.
LABELS = {
    "architecture": "Network", "weights": "Weights", "image_size": "Image size",
    "seq_len": "Sequence length", "head": "Head", "dropout": "Dropout",
    "strategy": "Strategy", "unfreeze_last": "Last N blocks", "lora_rank": "LoRA rank",
    "patterns": "Freeze / unfreeze patterns", "trainable_params": "Trainable parameters",
    "learning_rate": "Learning rate", "schedule": "Schedule", "optimizer": "Optimizer",
    "weight_decay": "Weight decay", "label_smoothing": "Label smoothing",
    "epochs": "Epochs", "batch_size": "Batch size", "early_stopping": "Early stopping",
    "monitor": "Stop/keep best by",
    "augmentation": "Augmentation", "class_weights": "Class weights",
    "precision": "Precision", "data": "Data", "val_data": "Validation data",
    "val_split": "Validation split", "corrections": "Label corrections", "seed": "Seed",
    "split": "Split",
}
# Per-epoch values shown, the first found in any run of each group.
CURVES = (("val_loss", "Validation loss"), ("val_accuracy", "Validation accuracy"),
          ("val_macro_f1", "Validation macro-F1"), ("loss", "Training loss"),
          ("accuracy", "Training accuracy"))


def _split_digest(split: dict | None) -> str | None:
    """The split as a count and a short fingerprint: two runs on the same files and
    labels but another draw of the validation set show different fingerprints."""
    if not split or not split.get("train"):
        return None
    parts = [split.get("train") or {}, split.get("val") or {}]
    h = hashlib.sha256(repr([(p.get("items"), p.get("labels")) for p in parts]).encode())
    n_val = len(parts[1].get("items") or [])
    return f"{len(parts[0].get('items') or [])} train / {n_val} validation " \
           f"({h.hexdigest()[:8]})"


def _schedule(job: dict, record: dict) -> str:
    shape = _rate_shape(job)
    if job.get("two_phase") or job.get("strategy") == "two-phase":
        at = record.get("phase2_epoch") or job.get("phase1_epochs") or "val_loss plateau"
        return f"{shape}; two-phase (lr / 10 from epoch {at})" if isinstance(at, int) \
            else f"{shape}; two-phase (lr / 10 after the {at})"
    return shape


def _rate_shape(job: dict) -> str:
    """The rate's schedule, e.g. "linear, 10 % warm-up"; a run recorded before schedules
    existed (no ``schedule`` key) trained at a constant rate."""
    from desktop_ft.core.models import modality_for
    from desktop_ft.core.training.schedules import ONE_CYCLE_WARMUP

    if "schedule" not in job:
        return "constant"
    kind, warmup = job.get("schedule"), job.get("warmup")
    if kind is None:
        try:
            kind, default = modality_for((job.get("model") or {}).get("architecture")).schedule
        except Exception:   # a network this version no longer knows
            return "the model's default"
    else:
        default = ONE_CYCLE_WARMUP if kind == "one-cycle" else 0.0
    warmup = default if warmup is None else warmup
    return f"{kind}, {warmup:.0%} warm-up" if warmup else kind


def _weight_decay(job: dict, resolved: dict) -> float:
    """The decay the optimizer ran with: the job's, else its default (AdamW 0.01)."""
    if job.get("weight_decay") is not None:
        return job["weight_decay"]
    return 0.01 if (resolved.get("optimizer") or job.get("optimizer")) == "adamw" else 0


def _augmentation(model: dict) -> str:
    """e.g. "flip, rotation" or "rotation, zoom (strength ×2)"."""
    names = ", ".join(model.get("augment") or [])
    strength = model.get("augment_strength", 1.0)
    return f"{names} (strength ×{strength:g})" if names and strength != 1 else names or "none"


def run_settings(record: dict) -> dict:
    """What a run trained with, by the names of :data:`LABELS` (None: not recorded)."""
    job, resolved = record.get("job") or {}, record.get("settings") or {}
    model = job.get("model") or {}
    strategy = resolved.get("strategy") or job.get("strategy")
    return {
        "architecture": record.get("model") or model.get("architecture"),
        "weights": resolved.get("weights") or model.get("preset") or model.get("weights"),
        "image_size": model.get("image_size") if not model.get("preset") else None,
        "seq_len": model.get("seq_len") if model.get("preset") else None,
        "head": model.get("head"), "dropout": model.get("dropout"),
        "strategy": strategy,
        "unfreeze_last": job.get("unfreeze_last") if strategy == "last-n" else None,
        "lora_rank": job.get("lora_rank") if strategy in ("lora", "qlora") else None,
        "patterns": ", ".join(f"{a} {g}" for a, g in job.get("patterns") or []) or None,
        "trainable_params": resolved.get("trainable_params"),
        "learning_rate": resolved.get("learning_rate", job.get("lr")),
        "schedule": _schedule(job, record),
        "optimizer": resolved.get("optimizer") or job.get("optimizer"),
        "weight_decay": _weight_decay(job, resolved),
        "label_smoothing": job.get("label_smoothing") or 0,
        "epochs": job.get("epochs"), "batch_size": job.get("batch_size"),
        "early_stopping": job.get("early_stopping") or "off",
        "monitor": job.get("monitor") or "val_loss",
        "augmentation": _augmentation(model),
        "class_weights": bool(job.get("class_weights")),
        "precision": model.get("precision"),
        "data": job.get("data"), "val_data": job.get("val_data"),
        "val_split": job.get("val_split") if not job.get("val_data") else None,
        "corrections": job.get("corrections"),
        "seed": job.get("seed"), "split": _split_digest(record.get("split")),
    }


def _metrics(history: dict, best: dict | None, evaluation: dict | None) -> tuple[dict, dict]:
    """(final, best): the last epoch's values, and the best epoch's (by its monitor)."""
    final = {k: v[-1] for k, v in history.items() if v}
    if evaluation and evaluation.get("accuracy") is not None:
        final["evaluation_accuracy"] = evaluation["accuracy"]
    if evaluation and evaluation.get("macro_f1") is not None:
        final["evaluation_macro_f1"] = evaluation["macro_f1"]
    best_metrics = {}
    if best:
        i = int(best["epoch"]) - 1
        best_metrics = {"epoch": best["epoch"], "monitor": best.get("monitor"),
                        **{k: v[i] for k, v in history.items() if i < len(v)}}
    return final, best_metrics


def describe_run(run: Run) -> dict:
    record = run.record
    history = {k: [float(x) for x in v] for k, v in (record.get("history") or {}).items()}
    final, best = _metrics(history, record.get("best"), record.get("evaluation"))
    return {"path": str(run.path), "name": run.path.name, "status": run.status,
            "note": record.get("note", ""), "created": record.get("created"),
            "epochs_done": record.get("epochs_done", 0),
            "settings": run_settings(record), "curves": history,
            "final": final, "best": best}


def compare_runs(paths: list[str | os.PathLike]) -> dict:
    """``{"runs": [...], "differs": [setting names]}`` for two or more run folders."""
    if len(paths) < 2:
        raise UserError("Comparing needs two or more runs.")
    runs = [describe_run(Run.open(p)) for p in paths]
    differs = [name for name in LABELS
               if len({repr(r["settings"][name]) for r in runs}) > 1]
    return {"runs": runs, "differs": differs}


def curve_names(comparison: dict) -> list[tuple[str, str]]:
    """The (key, title) of each per-epoch curve some compared run recorded."""
    return [(k, title) for k, title in CURVES
            if any(r["curves"].get(k) for r in comparison["runs"])]


def format_value(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def metric_rows(comparison: dict) -> list[tuple[str, list[str]]]:
    """The metrics table: (row title, one cell per run)."""
    runs = comparison["runs"]
    rows = [("Epochs done", [str(r["epochs_done"]) for r in runs]),
            ("Best epoch", [format_value(r["best"].get("epoch")) for r in runs])]
    for key, title in curve_names(comparison):
        if key.startswith("val_"):
            rows.append((f"{title}, final", [format_value(r["final"].get(key)) for r in runs]))
            rows.append((f"{title}, best epoch",
                         [format_value(r["best"].get(key)) for r in runs]))
    for key, title in (("evaluation_accuracy", "Held-out accuracy (evaluation)"),
                       ("evaluation_macro_f1", "Held-out macro-F1 (evaluation)")):
        if any(key in r["final"] for r in runs):
            rows.append((title, [format_value(r["final"].get(key)) for r in runs]))
    return rows
