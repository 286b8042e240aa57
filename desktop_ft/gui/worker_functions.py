"""The functions the window's workers run. Plain functions over core: they may use
TensorFlow and Qt's QImage (safe off the GUI thread), never widgets."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from desktop_ft.core.errors import UserError

THUMBS_PER_CLASS = 4


def warm_up() -> str:
    from desktop_ft.core import runtime

    runtime.configure()
    return runtime.device_description()


def load_model(spec: dict, observer, stop, allow_fallback: bool):
    """(bundle, note). With ``allow_fallback`` (the built-in sample only), weights that
    cannot be downloaded fall back to what the modality offers offline (random weights),
    with a note, so Train works offline."""
    from desktop_ft.core.models import ModelSpec, modality_for, load_model

    spec = ModelSpec.from_dict(spec)
    try:
        return load_model(spec, observer, stop), ""
    except UserError as e:
        modality = modality_for(spec.architecture)
        fallback = modality.offline_fallback(spec) if allow_fallback else None
        if fallback is None or stop.is_set():
            raise
        spec, note = fallback
        note = f"{note} ({str(e).split('. ')[0]})"
        modality_for(spec.architecture).check_spec(spec)
        return load_model(spec, observer, stop), note


def scan_data(path: str, stop, columns: tuple | None = None) -> dict:
    """``{"path", "columns", "scan", "samples"}`` — ``samples``: thumbnails or sample texts
    per class. A table also brings its header (``"header"``) and the (text, label)
    ``columns`` asked for (None: found by name; a third, True: several labels per row);
    when they give no usable data, ``scan`` is None and ``"message"`` says why, so the
    window can offer the header instead."""
    from desktop_ft.core import data

    text_column, label_column = (columns or (None, None))[:2]
    several = bool(columns and len(columns) > 2 and columns[2])
    is_table = Path(path).suffix.lower() in data.TABLE_EXTENSIONS and Path(path).is_file()
    out = {"path": path, "columns": (text_column, label_column, several), "scan": None,
           "samples": {}, "header": data.table_columns(path) if is_table else []}
    try:
        out["scan"] = data.scan(path, stop=stop, text_column=text_column,
                                label_column=label_column, multi_label=several or None)
    except UserError as e:
        if not is_table:
            raise
        out["message"] = e.window_message
        return out
    out["samples"] = samples_of(out["scan"])
    if stop.is_set():     # cancelled after the last file: the scan is not applied either
        raise data.ScanCancelled(f"Scanning {path} was cancelled.")
    return out


def samples_of(scan) -> dict:
    out = {}
    for y, name in enumerate(scan.classes):
        items = [it for it, lbl in zip(scan.train.items, scan.train.labels)
                 if (y in lbl if isinstance(lbl, tuple) else lbl == y)]
        picked = items[:THUMBS_PER_CLASS]
        out[name] = [thumbnail(p) for p in picked] if scan.kind == "images" else \
            [t[:80] for t in picked]
    return out


def thumbnail(path: str) -> QImage:
    img = QImage(path)
    if img.isNull():
        return img
    return img.scaled(48, 48, Qt.AspectRatioMode.KeepAspectRatio,
                      Qt.TransformationMode.SmoothTransformation)


def sample_dataset() -> str:
    from desktop_ft.core.data.sample_data import make_sample_dataset

    return str(make_sample_dataset())


def prepare_strategy(bundle, key: str, unfreeze_last: int, lora_rank: int, observer, stop):
    from desktop_ft.core.training import prepare_strategy

    return prepare_strategy(bundle, key, unfreeze_last=unfreeze_last, lora_rank=lora_rank,
                            observer=observer, stop=stop)


def with_classes(bundle, scan):
    from desktop_ft.core.models import with_num_classes

    return with_num_classes(bundle, scan.num_classes, list(scan.classes),
                            multi_label=scan.multi_label)


def fine_tune(job: dict, observer, stop, bundle, scan, allow_fallback: bool):
    """(result, note, mistakes): train the loaded model — or load it first, in this same
    worker, when none is — and list the held-out examples it got wrong."""
    from desktop_ft.core.training import TrainJob, fine_tune

    note = ""
    if bundle is None:
        bundle, note = load_model(job["model"], observer, stop, allow_fallback)
        job = {**job, "model": bundle.spec.to_dict()}
    result = fine_tune(TrainJob.from_dict(job), observer, stop, bundle=bundle, scan=scan)
    return result, note, mistakes_of(result)


def mistakes_of(result) -> list[dict]:
    """The wrong held-out predictions, most confident first, with thumbnails (images);
    multi-label: the rows with any wrong label at the model's thresholds."""
    from desktop_ft.core.explain import mistakes
    from desktop_ft.core.training.metrics import label_set_mistakes

    if result.bundle.multi_label:
        wrong = label_set_mistakes(result.eval_items, result.eval_labels, result.eval_probs,
                                   result.classes, result.bundle.decision.label_thresholds(
                                       len(result.classes)))
    else:
        wrong = mistakes(result.eval_items, result.eval_labels, result.eval_probs,
                         result.classes)
    if result.bundle.input_kind == "images":
        for m in wrong:
            m["thumbnail"] = thumbnail(m["item"])
    return wrong


def predict(bundle, item, explain: bool):
    """``{"item", "probs", "explanation", "image"}`` — the explanation (a heatmap or word
    scores) only when asked for; ``image`` is the decoded image (for the overlay)."""
    from desktop_ft.core.data.datasets import load_inputs
    from desktop_ft.core.explain import explain as explain_inputs

    try:
        x = load_inputs(bundle.input_kind, [item])
    except (OSError, ValueError) as e:
        raise UserError(f"Cannot read {item} as an image ({e}).") from None
    outcome = {"item": item, "explanation": None,
               "image": x[0] if bundle.input_kind == "images" else None}
    if explain:   # the explanation carries the probabilities: one pass, not two
        outcome["explanation"] = explain_inputs(bundle, x)[0]
        outcome["probs"] = list(outcome["explanation"]["probs"])
    else:
        outcome["probs"] = bundle.predict_proba(x)[0].tolist()
    return outcome


def write_report(path: str, result, mistakes: list[dict], export_record: dict | None,
                 data: str) -> str:
    from desktop_ft.core.report import write_report

    meta = {**result.summary(), "history": result.history, **(export_record or {})}
    plain = [{k: v for k, v in m.items() if k != "thumbnail"} for m in mistakes]
    return str(write_report(path, evaluation=result.evaluation or {}, mistakes=plain,
                            kind=result.bundle.input_kind, meta=meta, data=data,
                            title=f"desktop-ft report — {result.bundle.modality.title}"))


def export(bundle, out: str, result, observer, formats=None, stop=None):
    from desktop_ft.core.export import export_model

    return export_model(bundle, out, bundle.classes, samples=result.parity_samples(),
                        info=result.export_info(), observer=observer, formats=formats,
                        representative=result.parity_samples(64),
                        validation=result.validation_inputs(), stop=stop)


def replay_project(project, observer, stop):
    """(bundle, scan, samples, table) for a project: its data scanned, its model loaded and
    set up as saved; ``table``: the header and the columns a table was read by."""
    import dataclasses

    from desktop_ft.core import data
    from desktop_ft.core.project import replay

    # The session holds the data as it was read; training validates on the job's
    # validation data itself, so clearing it under Advanced takes effect.
    data_only = dataclasses.replace(project, job=dataclasses.replace(project.job,
                                                                     val_data=None))
    bundle, scan = replay(data_only, observer, stop)
    is_table = Path(scan.root).is_file()
    table = {"header": data.table_columns(scan.root) if is_table else [],
             "columns": (project.job.text_column, project.job.label_column,
                         project.job.multi_label)}
    return bundle, scan, samples_of(scan), table


def resume(path: str, observer, stop):
    """(result, note, mistakes, samples) for a resumed run, like :func:`fine_tune`."""
    from desktop_ft.core.training.resume import resume_run

    result = resume_run(path, observer, stop)
    return result, "", mistakes_of(result), samples_of(result.scan)


def export_run(run_path: str, out: str, observer, formats=None, stop=None):
    from desktop_ft.core.export import export_model
    from desktop_ft.core.export.reexport import source_for_reexport

    src = source_for_reexport(run_path, observer=observer)
    record = export_model(src.bundle, out, src.bundle.classes, samples=src.samples,
                          info=src.info, observer=observer, formats=formats,
                          representative=src.representative, validation=src.validation,
                          stop=stop)
    src.after_export(record)
    return record


# ---------------------------------------------------------------------- the Runs dialog
def run_sizes(paths: list[str], observer, stop) -> dict[str, int | None]:
    """Each run folder's disk use in bytes (None: it vanished or cannot be read), run by
    run with progress; stops between runs when cancelled (legacy runs hold 1-2 GB)."""
    from desktop_ft.core.training.runs import disk_usage

    sizes: dict[str, int | None] = {}
    for i, path in enumerate(paths):
        if stop.is_set():
            break
        try:
            sizes[path] = disk_usage(Path(path))
        except OSError:        # deleted meanwhile (another process), unreadable
            sizes[path] = None
        observer.on_progress(i + 1, len(paths), Path(path).name)
    return sizes


def delete_run(path: str) -> str:
    from desktop_ft.core.training.runs import delete_run

    delete_run(path)
    return path


def plan_cleanup(keep: int, max_bytes: float, observer, stop) -> list[dict]:
    """The runs the Settings cap removes (summaries with their sizes), oldest first."""
    from desktop_ft.core.training.retention import plan_prune
    from desktop_ft.core.training.runs import list_runs

    runs = list_runs(sizes=False)
    sizes = run_sizes([r["path"] for r in runs], observer, stop)
    if stop.is_set():
        return []
    return plan_prune([{**r, "bytes": sizes.get(r["path"])} for r in runs], keep, max_bytes)


def remove_runs(runs: list[dict], observer, stop) -> list[dict]:
    """Delete these runs one by one with progress (skipping any that cannot be, as
    :func:`~desktop_ft.core.training.retention.remove_runs`); those removed."""
    from desktop_ft.core.training.retention import remove_runs as remove

    removed = []
    for i, run in enumerate(runs):
        if stop.is_set():
            break
        observer.on_progress(i, len(runs), run["name"])
        removed += remove([run])
    return removed
