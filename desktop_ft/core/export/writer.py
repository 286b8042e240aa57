"""``export_model``: the plan's format writers run into a temporary folder beside the
target, which is swapped in atomically, with parity measured and ``export.json`` + the
model card written last. :mod:`.plan` chooses what is written where, :mod:`.writers`
holds one writer per format."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from desktop_ft.core import atomic, backend, runtime
from desktop_ft.core.errors import UserError, describe_exception
from desktop_ft.core.export import staging
from desktop_ft.core.export.parity import parity_line
from desktop_ft.core.export.plan import Route, parse_formats, route
from desktop_ft.core.export.via_subprocess import SubprocessExport, not_written_note
from desktop_ft.core.export.writers import (ExportContext, ExportJob, ExportOptions,
                                            plan_writers, write_all)
from desktop_ft.core.observer import Observer

FORMAT_VERSION = 1


def export_model(bundle, out: str | os.PathLike, labels: list[str], *,
                 observer: Observer | None = None, stop=None, **options) -> dict:
    """Write ``OUT/`` atomically; return the ``export.json`` contents plus ``path``.

    ``options`` are :class:`~desktop_ft.core.export.writers.ExportOptions`' fields:
    ``formats`` (default SavedModel and .keras), ``samples`` (raw inputs for parity),
    ``info``, ``merge_lora``, ``representative`` and ``validation`` (the int8 LiteRT's
    calibration and accuracy), and the subprocess's own ``app_probs``, ``staged`` and
    ``in_subprocess``. ``labels.json``, ``export.json`` and the model card ``README.md``
    are always written; a LoRA model also gets ``adapters.lora.h5``. A failure leaves a
    previous export at ``out`` untouched.

    On the torch and jax backends the SavedModel, ONNX and LiteRT formats are written
    by TensorFlow in a subprocess from ``model.keras`` (:mod:`desktop_ft.core.export.tf_export`)
    with parity against this process's model. Without TensorFlow installed, ONNX comes
    from PyTorch's exporter (on JAX: in a torch subprocess, the same way), the other
    formats are not written, and the status line says what is missing. ``stop`` (a
    threading.Event) cancels between steps, and ends the subprocess at once.
    """
    options = ExportOptions(**options)
    formats = parse_formats(options.formats)
    out = _target(Path(out).expanduser().resolve())
    if len(labels) != bundle.num_classes:
        raise UserError(f"{len(labels)} labels for a model with {bundle.num_classes} outputs.")
    out.parent.mkdir(parents=True, exist_ok=True)
    job = ExportJob(bundle, out, labels, options, observer or Observer(), stop)
    way = route(bundle, formats, options)
    if way.via is not None:
        return export_through(job, way)
    return _export_here(job, way)


def _target(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise UserError(f"Export target {out} is a file; choose a folder.")
    if out.is_dir() and any(out.iterdir()) and not (out / "export.json").exists():
        raise UserError(f"{out} already holds files that are not a desktop-ft export; choose a "
                        "new or empty folder (nothing was written).")
    return out


def export_through(job: ExportJob, way: Route) -> dict:
    """Stage a ``model.keras`` export here, then let another Keras backend
    (``way.via``) write ``way.formats`` from it in a subprocess, with parity against
    this model."""
    process = SubprocessExport(job, way)
    stage = staging.new_stage(job.out.parent)
    try:
        keras_only = ExportOptions(info=way.info, merge_lora=job.options.merge_lora,
                                   formats=("keras",))
        _export_here(ExportJob(job.bundle, stage / "export", job.labels, keras_only,
                               Observer(), job.stop), Route(("keras",), way.info))
        record = process.run(stage)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    _report(job.observer, record, job.out)
    return record


def _export_here(job: ExportJob, way: Route) -> dict:
    """Every writer of ``way.formats`` into a folder beside ``job.out``, swapped in."""
    bundle, out, formats = job.bundle, job.out, way.formats
    atomic.recover(out)       # what an export killed earlier left behind
    needed = estimate_export_bytes(bundle, formats)
    free = shutil.disk_usage(out.parent).free
    if free < needed:
        raise UserError(disk_full_message(out.parent, needed, free, out))
    tmp = atomic.temp_beside(out)
    try:
        t0 = time.perf_counter()
        ctx = ExportContext.start(job, tmp, formats)
        write_all(ctx, plan_writers(formats, job.options.merge_lora),
                  lambda: _check_stop(job.stop))
        record = export_record(ctx, way.info)
        record["export_seconds"] = round(time.perf_counter() - t0, 2)
        (tmp / "export.json").write_text(json.dumps(record, indent=2))
        from desktop_ft.core.export.model_card import model_card

        (tmp / "README.md").write_text(model_card(record), encoding="utf-8")
        atomic.replace_dir(tmp, out)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, (UserError, KeyboardInterrupt)):
            raise
        raise _failure(e, out, needed) from (None if isinstance(e, _Cancelled) else e)
    _report(job.observer, record, out)
    return {**record, "path": str(out)}


def export_record(ctx: ExportContext, info: dict | None) -> dict:
    """``export.json``: what was trained, how, and what each format's writer found."""
    bundle, formats, merge_lora = ctx.bundle, ctx.plan, ctx.job.options.merge_lora
    trainable, frozen = bundle.tree.totals()
    tmp = ctx.folder
    return {
        "format_version": FORMAT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "model": bundle.architecture,
        "input": bundle.input_kind,
        "weights": bundle.weights_source,
        "spec": bundle.spec.to_dict(),
        **bundle.modality.export_fields(bundle),
        "output_activation": output_activation(bundle),
        # How probabilities become answers; every format's probs are calibrated by it.
        "decision": bundle.decision.to_dict(),
        "calibration": calibration_summary(bundle.decision),
        "backend": backend.name(),
        "device": runtime.device_description(),
        "classes": list(ctx.job.labels),
        "strategy": bundle.tree.strategy,
        "trainable_params": trainable,
        "frozen_params": frozen,
        "frozen_layers": [leaf.path for leaf in bundle.tree.leaves()
                          if leaf.variables and leaf.state == "off"],
        "parity_max_abs_diff": ctx.parity["max_abs_diff"],
        "parity_samples": ctx.parity["samples"],
        "formats_written": [f for f in formats if f in ("saved_model", "keras")
                            or f in ctx.formats] + (["keras"] if merge_lora and
                                                    "keras" not in formats else []),
        "saved_model_bytes": _dir_size(tmp / "saved_model")
        if (tmp / "saved_model").exists() else None,
        "keras_bytes": (tmp / "model.keras").stat().st_size
        if (tmp / "model.keras").exists() else None,
        "export_seconds": None,
        **ctx.fields,
        "formats": ctx.formats,
        "signature": {
            "endpoint": "serve",
            "input": bundle.modality.signature_input(),
            "outputs": signature_outputs(bundle.decision),
        },
        **(info or {}),
    }


def output_activation(bundle) -> str:
    if bundle.multi_label:
        return "sigmoid (per label)"
    return "sigmoid" if bundle.binary else "softmax"


def signature_outputs(decision) -> dict:
    """What the SavedModel's ``serve`` returns, by output name."""
    if decision.multi_label:
        return {"probs": "float32 [N, num_labels], each label's probability in label order",
                "predicted": "bool [N, num_labels], probs >= the label's threshold "
                             "(labels.json)"}
    return {"probs": "float32 [N, num_classes]", "class_index": "int64 [N]",
            "label": "string [N]"}


def calibration_summary(decision) -> dict | None:
    """``export.json``'s ``calibration``: the temperature every format applies and the
    calibration error before and after it on the split it was fitted on (None for a
    multi-label model: its probabilities are per label, judged by thresholds)."""
    if decision.multi_label:
        return None
    record = decision.calibration or {}
    return {"temperature": decision.temperature,
            **{k: record.get(k) for k in ("ece_before", "ece_after", "examples", "fit_on")},
            **({"why": record["why"]} if record.get("why") else {})}


def _report(observer: Observer, record: dict, out: Path) -> None:
    observer.on_status(f"Exported to {out}: " + parity_line(record) + ".")
    if record.get("formats_not_written"):
        observer.on_status(not_written_note(record["formats_not_written"], out))


def _failure(e: BaseException, out: Path, needed: int) -> UserError:
    """What an export that failed with ``e`` (not a UserError) raises, its temporary
    folder removed."""
    kept = f"the previous export in {out} is unchanged" if out.exists() else \
        "nothing was written"
    if isinstance(e, _Cancelled):
        return UserError(f"Export cancelled; {kept}.")
    if _is_disk_full(e):
        return UserError(disk_full_message(out.parent, needed,
                                           shutil.disk_usage(out.parent).free, out),
                         details=describe_exception(e))
    return UserError(f"Export failed ({describe_exception(e)[:300]}); {kept}.",
                     details=describe_exception(e))


def _dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


class _Cancelled(Exception):
    pass


def _check_stop(stop) -> None:
    if stop is not None and stop.is_set():
        raise _Cancelled


def estimate_export_bytes(bundle, formats) -> int:
    """Room an export needs (its temporary folder lives beside the target): the weights
    once per format that holds them, plus a margin."""
    from desktop_ft.core.training import peft

    _, float32 = peft.weights_bytes(bundle.model)
    copies = sum(1 for f in ("saved_model", "keras", "onnx") if f in formats)
    copies += 1.5 if "litert" in formats else 0     # float + int8 flatbuffers
    return int(float32 * max(copies, 0.1) * 1.1) + (1 << 20)


def _is_disk_full(e: BaseException) -> bool:
    import errno

    while e is not None:
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            return True
        text = f"{type(e).__name__} {e}"
        if "No space left" in text or ("ResourceExhausted" in text and "SaveV2" in text):
            return True
        e = e.__cause__ or e.__context__
    return False


def disk_full_message(folder: Path, needed: int, free: int, out: Path) -> str:
    kept = f"the previous export in {out} is unchanged" if out.exists() else \
        "nothing was written"
    return (f"Not enough disk space in {folder}: the export needs about "
            f"{needed / 1e6:,.0f} MB and {free / 1e6:,.0f} MB are free; {kept}. Free some "
            "space or export to another disk.")
