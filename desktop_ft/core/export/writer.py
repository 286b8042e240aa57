"""``export_model``: every format written into a temporary folder beside the target and
swapped in atomically, with parity measured and ``export.json`` + the model card."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from desktop_ft.core import atomic, backend, compat, runtime
from desktop_ft.core.errors import UserError, describe_exception
from desktop_ft.core.export import saved_model
from desktop_ft.core.export.formats import (parse_formats, tokenizer_matches, write_formats,
                                            writes_onnx_natively)
from desktop_ft.core.export.model_card import model_card
from desktop_ft.core.export.parity import (measure_parity, parity_line, parity_samples,
                                           predict_with)
from desktop_ft.core.export.via_subprocess import export_in_subprocess, not_written_note
from desktop_ft.core.observer import Observer
from desktop_ft.core.training import peft

FORMAT_VERSION = 1
TENSORFLOW_FORMATS = ("saved_model", "onnx", "litert")


def tokenizer_record(bundle, folder: Path, checks: list, saved_model: bool) -> dict:
    """What ``export.json`` says of the ``tokenizer.json`` just written: its source, that
    it gives the app's ids on ``checks``, and (with a SavedModel) the texts on which the
    SavedModel's TensorFlow tokenizer differs."""
    record = bundle.modality.tokenizer_record(bundle, saved_model, checks)
    record["matches_app"] = tokenizer_matches(bundle, folder / "tokenizer.json", checks)
    return record


def _dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def export_model(bundle, out: str | os.PathLike, labels: list[str], *,
                 samples: list | None = None, info: dict | None = None,
                 observer: Observer | None = None, merge_lora: bool = False,
                 formats=None, representative: list | None = None,
                 validation: tuple | None = None, app_probs=None,
                 staged: Path | None = None, in_subprocess: bool = True,
                 stop=None) -> dict:
    """Write ``OUT/`` atomically; return the ``export.json`` contents plus ``path``.

    ``formats``: any of ``saved_model, keras, onnx, litert`` (default the first two);
    ``labels.json``, ``export.json`` and the model card ``README.md`` are always written.
    ``samples`` are raw inputs (uint8 images or strings) used to measure parity between
    the in-memory Keras model and each format. ``representative`` (raw training inputs)
    calibrates the int8 LiteRT model; ``validation`` (raw inputs, labels) measures its
    accuracy. A failure leaves a previous export at ``out`` untouched. A LoRA model also
    gets ``adapters.lora.h5`` (the adapters and head alone); with ``merge_lora`` its
    ``model.keras`` has the adapters merged into the kernels (no LoRA layers).

    On the torch and jax backends the SavedModel, ONNX and LiteRT formats are written
    by TensorFlow in a subprocess from ``model.keras`` (:mod:`desktop_ft.core.export.tf_export`)
    and their parity is measured against this process's model (``app_probs``: its
    probabilities for ``samples``; ``staged``: the folder where it wrote ``model.keras``
    and the LoRA adapters, copied as they are). Without TensorFlow installed, ONNX comes
    from PyTorch's exporter (on JAX: in a torch subprocess, the same way), the other
    formats are not written, and the status line says what is missing.
    ``in_subprocess=False`` (that subprocess itself) writes everything here. ``stop``
    (a threading.Event) cancels between steps, and ends the subprocess at once.
    """
    formats = parse_formats(formats)
    observer = observer or Observer()
    out = Path(out).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise UserError(f"Export target {out} is a file; choose a folder.")
    if out.is_dir() and any(out.iterdir()) and not (out / "export.json").exists():
        raise UserError(f"{out} already holds files that are not a desktop-ft export; choose a "
                        "new or empty folder (nothing was written).")
    if len(labels) != bundle.num_classes:
        raise UserError(f"{len(labels)} labels for a model with {bundle.num_classes} outputs.")
    out.parent.mkdir(parents=True, exist_ok=True)
    if backend.name() != "tensorflow" and in_subprocess and backend.tensorflow_available():
        # tensorflow-text not even installed (Windows): no TensorFlow process is started
        # for a SavedModel it could not write.
        formats, info = _less_unwritable_saved_model(bundle, formats, info, try_import=False)
    tf_formats = [f for f in formats if f in TENSORFLOW_FORMATS]
    if tf_formats and backend.name() != "tensorflow" and in_subprocess:
        if backend.tensorflow_available():
            return export_in_subprocess(bundle, out, labels, samples, info, observer,
                                        merge_lora, formats, "tensorflow", stop=stop,
                                        write_keras=export_model,
                                        representative=representative, validation=validation)
    if tf_formats and backend.name() != "tensorflow":
        # Without TensorFlow: ONNX from PyTorch's own exporter (in this process on torch,
        # from model.keras in a torch process on JAX); the rest is recorded as not
        # written, with the command that adds it later.
        onnx_by_torch = "onnx" in tf_formats and not writes_onnx_natively() and \
            in_subprocess and backend.installed("torch") and backend.installed("onnxscript")
        missing = [f for f in tf_formats if f != "onnx" or not (writes_onnx_natively() or
                                                                  onnx_by_torch)]
        if missing:
            info = _not_written(info, dict.fromkeys(missing, "needs TensorFlow installed"))
        if onnx_by_torch:
            kept = tuple(f for f in formats if f not in missing)
            return export_in_subprocess(bundle, out, labels, samples, info, observer,
                                        merge_lora, kept, "torch", stop=stop,
                                        write_keras=export_model)
        if missing:
            formats = tuple(f for f in formats if f not in missing) or ("keras",)
    formats, info = _less_unwritable_saved_model(bundle, formats, info)
    atomic.recover(out)       # what an export killed earlier left behind
    needed = estimate_export_bytes(bundle, formats)
    free = shutil.disk_usage(out.parent).free
    if free < needed:
        raise UserError(disk_full_message(out.parent, needed, free, out))
    tmp = atomic.temp_beside(out)
    try:
        t0 = time.perf_counter()
        if "saved_model" in formats:
            observer.on_status("Writing SavedModel…")
            saved_model.write_saved_model(bundle, tmp / "saved_model", labels)
        _check_stop(stop)
        state = bundle.peft()
        checks = list(samples) if app_probs is not None else parity_samples(bundle, samples)
        extra: dict = {"lora_rank": state["lora_rank"], "quantized": state["quantized"],
                       "lora_merged": False}
        if merge_lora:
            merged = peft.merged_model(bundle)
            merged.save(str(tmp / "model.keras"))
            import numpy as np

            diff = np.abs(predict_with(merged, bundle, checks) - bundle.predict_proba(checks))
            extra["lora_merged"] = True
            extra["merged_parity_max_abs_diff"] = float(diff.max())
        elif "keras" in formats and staged is not None:
            shutil.copyfile(staged / "model.keras", tmp / "model.keras")   # as trained
        elif "keras" in formats:
            observer.on_status("Writing model.keras…")
            save_keras_without_optimizer(bundle.model, tmp / "model.keras")
        if staged is not None and (staged / "adapters.lora.h5").is_file():
            shutil.copyfile(staged / "adapters.lora.h5", tmp / "adapters.lora.h5")
        elif state["lora_rank"] is not None:
            extra["adapter_bytes"] = peft.save_adapters(bundle, tmp / "adapters.lora.h5")
        extra["weights_bytes"], extra["weights_bytes_float32"] = peft.weights_bytes(bundle.model)
        (tmp / "labels.json").write_text(json.dumps(list(labels), indent=2))
        parity = {"max_abs_diff": None, "samples": len(checks), "differs": []}
        differing = set()
        if bundle.modality.write_tokenizer(bundle, tmp / "tokenizer.json"):
            extra["tokenizer"] = tokenizer_record(bundle, tmp, checks,
                                                  "saved_model" in formats)
            differing = {d["index"] for d in extra["tokenizer"].get("saved_model_differs", [])}
        if "saved_model" in formats:
            observer.on_status("Checking the SavedModel against the Keras model…")
            # Over every text: those whose SavedModel token ids differ count in the
            # figure and are listed beside it (parity_differs) with their own difference.
            parity = measure_parity(bundle, tmp, checks, app_probs, listed=differing)
            if differing:
                extra["parity_differs"] = parity["differs"]
                extra["parity_max_abs_diff_same_ids"] = parity["same_ids_max_abs_diff"]
        _check_stop(stop)
        extra["formats"] = write_formats(bundle, tmp, formats, checks, representative,
                                         validation, observer)
        _check_stop(stop)
        trainable, frozen = bundle.tree.totals()
        record = {
            "format_version": FORMAT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "model": bundle.architecture,
            "input": bundle.input_kind,
            "weights": bundle.weights_source,
            "spec": bundle.spec.to_dict(),
            **bundle.modality.export_fields(bundle),
            "output_activation": "sigmoid" if bundle.binary else "softmax",
            "backend": backend.name(),
            "device": runtime.device_description(),
            "classes": list(labels),
            "strategy": bundle.tree.strategy,
            "trainable_params": trainable,
            "frozen_params": frozen,
            "frozen_layers": [leaf.path for leaf in bundle.tree.leaves()
                              if leaf.variables and leaf.state == "off"],
            "parity_max_abs_diff": parity["max_abs_diff"],
            "parity_samples": parity["samples"],
            "formats_written": [f for f in formats if f in ("saved_model", "keras")
                                or f in extra["formats"]] + (["keras"] if merge_lora and
                                                             "keras" not in formats else []),
            "saved_model_bytes": _dir_size(tmp / "saved_model")
            if (tmp / "saved_model").exists() else None,
            "keras_bytes": (tmp / "model.keras").stat().st_size
            if (tmp / "model.keras").exists() else None,
            "export_seconds": None,
            **extra,
            "signature": {
                "endpoint": "serve",
                "input": bundle.modality.signature_input(),
                "outputs": {"probs": "float32 [N, num_classes]", "class_index": "int64 [N]",
                            "label": "string [N]"},
            },
            **(info or {}),
        }
        record["export_seconds"] = round(time.perf_counter() - t0, 2)
        (tmp / "export.json").write_text(json.dumps(record, indent=2))
        (tmp / "README.md").write_text(model_card(record), encoding="utf-8")
        atomic.replace_dir(tmp, out)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        kept = f"the previous export in {out} is unchanged" if out.exists() else \
            "nothing was written"
        if isinstance(e, _Cancelled):
            raise UserError(f"Export cancelled; {kept}.") from None
        if isinstance(e, (UserError, KeyboardInterrupt)):
            raise
        if _is_disk_full(e):
            raise UserError(disk_full_message(out.parent, needed,
                                              shutil.disk_usage(out.parent).free, out),
                            details=describe_exception(e)) from e
        raise UserError(f"Export failed ({describe_exception(e)[:300]}); {kept}.",
                        details=describe_exception(e)) from e
    observer.on_status(f"Exported to {out}: " + parity_line(record) + ".")
    if record.get("formats_not_written"):
        observer.on_status(not_written_note(record["formats_not_written"], out))
    return {**record, "path": str(out)}


def _less_unwritable_saved_model(bundle, formats: tuple, info: dict | None,
                                 try_import: bool = True):
    """(``formats``, ``info``) less a SavedModel this process cannot write (a text model
    without tensorflow-text), its reason added to ``formats_not_written``. Everything
    else is still written, so that evaluate, predict and explain have model.keras and
    tokenizer.json to run."""
    why = "saved_model" in formats and bundle.modality.saved_model_unavailable(try_import)
    if not why:
        return formats, info
    return (tuple(f for f in formats if f != "saved_model") or ("keras",),
            _not_written(info, {"saved_model": why}))


def _not_written(info: dict | None, reasons: dict) -> dict:
    """``info`` with ``reasons`` ({format: why}) added to its ``formats_not_written``."""
    info = dict(info or {})
    info["formats_not_written"] = {**info.get("formats_not_written", {}), **reasons}
    return info


class _Cancelled(Exception):
    pass


def _check_stop(stop) -> None:
    if stop is not None and stop.is_set():
        raise _Cancelled


def estimate_export_bytes(bundle, formats) -> int:
    """Room an export needs (its temporary folder lives beside the target): the weights
    once per format that holds them, plus a margin."""
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


def save_keras_without_optimizer(model, path: Path) -> None:
    """``model.keras`` for inference: the weights once, without the optimizer's state
    (which would double or triple the file after fine-tuning)."""
    optimizer = getattr(model, "optimizer", None)
    model.optimizer = None
    try:
        with compat.keras_weights_through_disk():
            model.save(str(path))
    finally:
        model.optimizer = optimizer

