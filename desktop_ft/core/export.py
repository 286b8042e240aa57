"""Export a trained model: a raw-input TensorFlow SavedModel, the .keras file, labels and
a record of what was trained — written atomically (docs/ARCHITECTURE.md, "Export").

``OUT/saved_model``  endpoint ``serve`` (= ``serving_default``). Images: ``uint8
                     [N, H, W, 3]`` of any H, W (resize + the network's preprocessing inside).
                     Text: ``string [N]`` (tokenizer inside; loading needs
                     ``import tensorflow_text``). Returns ``probs`` (float32
                     ``[N, num_classes]``), ``class_index`` (int64 ``[N]``) and ``label``
                     (string ``[N]``).
``OUT/model.keras``  the Keras model.
``OUT/labels.json``  class names in output order.
``OUT/export.json``  model, weights source, strategy, counts, input size, metrics, parity.

Example:
    >>> info = export_model(result.bundle, "out/", labels=result.classes,
    ...                     samples=[...], extra={"metrics": ...})
    >>> ExportedModel("out/").predict_proba([image])   # runs the SavedModel
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import time
from pathlib import Path

from desktop_ft.core import atomic, backend, runtime
from desktop_ft.core.errors import UserError, describe_exception
from desktop_ft.core.export_formats import (parse_formats, tokenizer_matches, write_formats,
                                           writes_onnx_natively)
from desktop_ft.core.model_card import model_card
from desktop_ft.core.observer import Observer
from desktop_ft.core.training import peft

FORMAT_VERSION = 1


def tokenizer_record(bundle, folder: Path, checks: list, saved_model: bool) -> dict:
    """What ``export.json`` says of the ``tokenizer.json`` just written: its source, that
    it gives the app's ids on ``checks``, and (with a SavedModel) the texts on which the
    SavedModel's TensorFlow tokenizer differs."""
    record = bundle.family_impl.tokenizer_record(bundle, saved_model, checks)
    record["matches_app"] = tokenizer_matches(bundle, folder / "tokenizer.json", checks)
    return record


def _dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _serve_function(bundle, labels: list[str]):
    """The raw-input ``tf.function`` that becomes the ``serve`` endpoint."""
    import tensorflow as tf

    label_table = tf.constant(labels)
    binary = bundle.binary

    def outputs(raw):
        raw = tf.cast(raw, tf.float32)
        probs = tf.concat([1.0 - raw, raw], axis=-1) if binary else raw
        index = tf.argmax(probs, axis=-1)
        return {"probs": probs, "class_index": index, "label": tf.gather(label_table, index)}

    return bundle.family_impl.serve_function(bundle, outputs)


def write_saved_model(bundle, path: Path, labels: list[str]) -> None:
    import keras

    archive = keras.export.ExportArchive()
    archive.track(bundle.model)
    for extra in bundle.family_impl.archive_extras(bundle):
        archive.track(extra)
    archive.add_endpoint("serve", _serve_function(bundle, labels))
    # Keras 3.15's archive would store every weight twice: once as the Keras variable
    # tracked by track(), once as the tf.Variable the endpoint captures (write_out tracks
    # those itself). Keep only the captured ones: the SavedModel's variables are then the
    # size of model.keras's weights, and the endpoint restores exactly what it uses.
    for attr in ("variables", "trainable_variables", "non_trainable_variables"):
        setattr(archive._tf_trackable, attr, [])
    archive.write_out(str(path), verbose=False)


def parity_samples(bundle, samples: list | None = None) -> list:
    """Raw inputs for the parity check: the given (real) samples plus the family's
    synthetic ones (images at odd sizes, sentences with punctuation)."""
    return list(samples or []) + bundle.family_impl.synthetic_inputs()


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
    by TensorFlow in a subprocess from ``model.keras`` (:mod:`desktop_ft.core.tf_export`)
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
    tf_formats = [f for f in formats if f in TENSORFLOW_FORMATS]
    if tf_formats and backend.name() != "tensorflow" and in_subprocess:
        if backend.tensorflow_available():
            return _export_in_subprocess(bundle, out, labels, samples, info, observer,
                                         merge_lora, formats, "tensorflow", stop)
    if tf_formats and backend.name() != "tensorflow":
        # Without TensorFlow: ONNX from PyTorch's own exporter (in this process on torch,
        # from model.keras in a torch process on JAX); the rest is recorded as not
        # written, with the command that adds it later.
        onnx_by_torch = "onnx" in tf_formats and not writes_onnx_natively() and \
            in_subprocess and backend.installed("torch") and backend.installed("onnxscript")
        missing = [f for f in tf_formats if f != "onnx" or not (writes_onnx_natively() or
                                                                  onnx_by_torch)]
        if missing:
            observer.on_status(without_tensorflow_note(missing, out))
            info = {**(info or {}), "formats_not_written": {
                f: "needs TensorFlow installed" for f in missing}}
        if onnx_by_torch:
            kept = tuple(f for f in formats if f not in missing)
            return _export_in_subprocess(bundle, out, labels, samples, info, observer,
                                         merge_lora, kept, "torch", stop)
        if missing:
            formats = tuple(f for f in formats if f not in missing) or ("keras",)
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
            write_saved_model(bundle, tmp / "saved_model", labels)
        _check_stop(stop)
        state = bundle.peft()
        checks = list(samples) if app_probs is not None else parity_samples(bundle, samples)
        extra: dict = {"lora_rank": state["lora_rank"], "quantized": state["quantized"],
                       "lora_merged": False}
        if merge_lora:
            merged = peft.merged_model(bundle)
            merged.save(str(tmp / "model.keras"))
            import numpy as np

            diff = np.abs(_predict_with(merged, bundle, checks) - bundle.predict_proba(checks))
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
        parity = {"max_abs_diff": None, "samples": len(checks)}
        same_ids = list(range(len(checks)))
        if bundle.family_impl.write_tokenizer(bundle, tmp / "tokenizer.json"):
            extra["tokenizer"] = tokenizer_record(bundle, tmp, checks,
                                                  "saved_model" in formats)
            differing = {d["index"] for d in extra["tokenizer"].get("saved_model_differs", [])}
            same_ids = [i for i in same_ids if i not in differing]
        if "saved_model" in formats:
            observer.on_status("Checking the SavedModel against the Keras model…")
            # (Texts whose SavedModel token ids differ are listed, not averaged in.)
            parity = measure_parity(bundle, tmp, [checks[i] for i in same_ids],
                                    None if app_probs is None else
                                    [app_probs[i] for i in same_ids])
        _check_stop(stop)
        extra["formats"] = write_formats(bundle, tmp, formats, checks, representative,
                                         validation, observer)
        _check_stop(stop)
        trainable, frozen = bundle.tree.totals()
        record = {
            "format_version": FORMAT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "model": bundle.family,
            "input": bundle.input_kind,
            "weights": bundle.weights_source,
            "spec": bundle.spec.to_dict(),
            **bundle.family_impl.export_fields(bundle),
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
                "input": bundle.family_impl.signature_input(),
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
    return {**record, "path": str(out)}


TENSORFLOW_FORMATS = ("saved_model", "onnx", "litert")


def without_tensorflow_note(missing, out) -> str:
    names = {"saved_model": "SavedModel", "onnx": "ONNX", "litert": "LiteRT"}
    listed = ", ".join(names[f] for f in missing)
    return (f"The {listed} export needs TensorFlow, which is not installed: wrote "
            f"model.keras, labels.json and export.json. With TensorFlow installed (pip "
            f"install tensorflow), add it with: desktop-ft export {out} NEW_OUT --formats "
            f"{','.join(['keras', *missing])}")


class _Cancelled(Exception):
    pass


def _check_stop(stop) -> None:
    if stop is not None and stop.is_set():
        raise _Cancelled


def _export_in_subprocess(bundle, out: Path, labels, samples, info, observer,
                          merge_lora: bool, formats, via: str, stop=None) -> dict:
    """Stage a ``model.keras`` export, then let another Keras backend (``via``:
    TensorFlow; or torch for ONNX on JAX without TensorFlow) write every format from it
    in a subprocess (the backend is fixed per process), with parity against this model."""
    import subprocess
    import sys
    import tempfile

    import numpy as np

    checks = parity_samples(bundle, samples)
    probs = bundle.predict_proba(checks)
    stage = Path(tempfile.mkdtemp(prefix=".desktop-ft-stage-", dir=out.parent))
    try:
        export_model(bundle, stage / "export", labels, info=info, merge_lora=merge_lora,
                     formats=("keras",))
        arrays = {f"input_{i}": np.asarray(x) for i, x in enumerate(checks)}
        np.savez(stage / "reference.npz", probs=probs, **arrays)
        names = {"tensorflow": "TensorFlow", "torch": "PyTorch"}
        observer.on_status(f"Writing {', '.join(formats)} with {names[via]}…")
        env = {**os.environ, "KERAS_BACKEND": via}
        proc = subprocess.Popen(
            [sys.executable, "-m", "desktop_ft.core.tf_export", str(stage / "export"),
             str(out), ",".join(formats), str(stage / "reference.npz"), via],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        stdout, stderr = _communicate_unless_stopped(proc, stop, out)
        lines = stdout.strip().splitlines()
        if proc.returncode != 0 or not lines:
            why = (stderr.strip().splitlines() or ["no output"])[-1]
            why = why.removeprefix("desktop-ft: error: ")
            raise UserError(why if "previous export" in why or "nothing was written" in why
                            else f"Export through {names[via]} failed: {why}")
        record = json.loads(lines[-1])
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    observer.on_status(f"Exported to {out}: " + parity_line(record) + ".")
    return record


def _communicate_unless_stopped(proc, stop, out: Path) -> tuple[str, str]:
    """The subprocess's (stdout, stderr); ``stop`` set ends it (it writes beside ``out``
    and swaps in atomically, so the previous export stays) and cancels the export."""
    import subprocess

    while True:
        try:
            return proc.communicate(timeout=0.2)
        except subprocess.TimeoutExpired:
            if stop is not None and stop.is_set():
                proc.kill()
                proc.communicate()
                atomic.recover(out)
                kept = f"the previous export in {out} is unchanged" if out.exists() else \
                    "nothing was written"
                raise UserError(f"Export cancelled; {kept}.") from None


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


def parity_line(record: dict) -> str:
    """"parity SavedModel 1.2e-08, ONNX 3.0e-08, …" — max |app − format| per format."""
    parts = parity_parts(record)
    return "parity " + ", ".join(parts) if parts else "no format to check (Keras only)"


def parity_parts(record: dict) -> list[str]:
    parts = []
    if record.get("parity_max_abs_diff") is not None:
        parts.append(f"SavedModel {record['parity_max_abs_diff']:.1e}")
    names = {"onnx": "ONNX", "litert": "LiteRT", "litert_int8": "LiteRT int8"}
    for key, name in names.items():
        if key in record.get("formats", {}):
            parts.append(f"{name} {record['formats'][key]['parity_max_abs_diff']:.1e}")
    return parts


def save_keras_without_optimizer(model, path: Path) -> None:
    """``model.keras`` for inference: the weights once, without the optimizer's state
    (which would double or triple the file after fine-tuning)."""
    optimizer = getattr(model, "optimizer", None)
    model.optimizer = None
    try:
        with _weights_through_disk():
            model.save(str(path))
    finally:
        model.optimizer = optimizer


@contextlib.contextmanager
def _weights_through_disk():
    """Keras 3 builds ``model.weights.h5`` in memory and then copies it into the
    ``.keras`` zip — twice the weights' size at the peak of an export (+114 MB for
    VGG16, the highest point of a whole training job; measured), unless it thinks memory
    is short: then it writes them to a temporary file beside the target first. Take
    that path always (assets, such as BERT's vocabulary, are saved as usual)."""
    try:
        from keras.src.saving import saving_lib
    except ImportError:
        yield
        return
    original = getattr(saving_lib, "is_memory_sufficient", None)
    if original is None:
        yield
        return
    saving_lib.is_memory_sufficient = lambda model: False
    try:
        yield
    finally:
        saving_lib.is_memory_sufficient = original


def _predict_with(model, bundle, inputs):
    """Class probabilities from another Keras model of the same family (the merged one)."""
    twin = dataclasses.replace(bundle, model=model)
    return twin.predict_proba(inputs)


def measure_parity(bundle, folder: Path, samples: list, app_probs=None) -> dict:
    """Max |Keras − reloaded SavedModel| over ``samples`` (raw inputs); ``app_probs``:
    the app's own probabilities when it runs on another backend."""
    import numpy as np

    exported = ExportedModel(folder, kind=bundle.input_kind)
    keras_probs = bundle.predict_proba(samples) if app_probs is None else app_probs
    saved_probs = exported.predict_proba(samples)
    diff = float(np.max(np.abs(keras_probs - saved_probs))) if len(samples) else 0.0
    return {"max_abs_diff": diff, "samples": len(samples)}


class ExportedModel:
    """Runs ``OUT/saved_model`` — what ``desktop-ft evaluate``/``predict`` use."""

    def __init__(self, folder: str | os.PathLike, kind: str | None = None):
        folder = Path(folder).expanduser()
        sm = folder / "saved_model"
        if not sm.is_dir():
            if (folder / "export.json").is_file():
                raise UserError(f"{folder} has no SavedModel (it was exported without "
                                "saved_model); evaluate and predict run the SavedModel. Add "
                                f"it with: desktop-ft export {folder} OUT --formats "
                                "saved_model,keras")
            raise UserError(f"{folder} is not a desktop-ft export (no saved_model/ inside).")
        meta = {}
        if (folder / "export.json").exists():
            meta = json.loads((folder / "export.json").read_text())
        self.meta = meta
        self.kind = kind or meta.get("input", "images")
        labels_file = folder / "labels.json"
        self.labels = json.loads(labels_file.read_text()) if labels_file.exists() else \
            meta.get("classes", [])

        if not backend.tensorflow_available():
            raise UserError("Evaluate and predict run the export's SavedModel, which needs "
                            "TensorFlow: pip install tensorflow (explain runs model.keras "
                            "on any backend).")
        runtime.configure()
        import tensorflow as tf

        if self.kind == "text":
            import tensorflow_text  # noqa: F401  registers the tokenizer ops

        self._loaded = tf.saved_model.load(str(sm))
        self._serve = self._loaded.signatures["serving_default"]

    def predict_proba(self, inputs, batch_size: int = 32):
        """Probabilities ``[N, num_classes]``: images (uint8 arrays, any size) or strings."""
        import numpy as np
        import tensorflow as tf

        if not len(inputs):
            return np.zeros((0, len(self.labels)), np.float32)
        if self.kind == "text":
            outs = [self._serve(texts=tf.constant(list(inputs[i:i + batch_size])))["probs"]
                    for i in range(0, len(inputs), batch_size)]
            return np.concatenate([np.asarray(o) for o in outs])
        # Images in one call must share a size: group by shape, keep the input order.
        probs = [None] * len(inputs)
        by_shape: dict[tuple, list[int]] = {}
        for i, img in enumerate(inputs):
            by_shape.setdefault(tuple(np.shape(img)), []).append(i)
        for idx in by_shape.values():
            for j in range(0, len(idx), batch_size):
                chunk = idx[j:j + batch_size]
                batch = np.stack([np.asarray(inputs[i], dtype=np.uint8) for i in chunk])
                out = np.asarray(self._serve(images=tf.constant(batch))["probs"])
                for k, i in enumerate(chunk):
                    probs[i] = out[k]
        return np.stack(probs).astype(np.float32)
