"""Exports written by another Keras backend in a subprocess (the backend is fixed per
process): TensorFlow for the SavedModel, ONNX and LiteRT from the torch and JAX backends,
or torch for ONNX on JAX without TensorFlow. The subprocess is
:mod:`desktop_ft.core.export.tf_export`."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from desktop_ft.core import atomic
from desktop_ft.core.errors import UserError
from desktop_ft.core.export import staging
from desktop_ft.core.export.parity import parity_line, parity_samples


def not_written_note(not_written: dict, out) -> str:
    """The status line of an export that left formats out (``{format: why}``, as
    ``export.json``'s ``formats_not_written``): which, why, and the command that adds
    them later from this export on a machine that has what they need."""
    names = {"saved_model": "SavedModel", "onnx": "ONNX", "litert": "LiteRT"}
    reasons = "; ".join(f"{names.get(f, f)}: {why}" for f, why in not_written.items())
    them = "it" if len(not_written) == 1 else "them"
    return (f"Not written — {reasons}. The other formats were written; add {them} later "
            f"where that is installed: desktop-ft export {out} NEW_OUT --formats "
            f"{','.join(['keras', *not_written])}")


def export_in_subprocess(bundle, out: Path, labels, samples, info, observer,
                         merge_lora: bool, formats, via: str, *, stop, write_keras,
                         representative: list | None = None,
                         validation: tuple | None = None) -> dict:
    """Stage a ``model.keras`` export, then let another Keras backend (``via``:
    TensorFlow; or torch for ONNX on JAX without TensorFlow) write every format from it
    in a subprocess (the backend is fixed per process), with parity against this model.
    ``write_keras`` is ``export_model`` (which calls this: passed in, not imported).
    ``representative`` and ``validation`` go along, so that the int8 LiteRT model is
    calibrated on training inputs and its held-out accuracy measured, as on TensorFlow."""
    import subprocess
    import sys

    import numpy as np

    timeout = staging.export_timeout()
    checks = parity_samples(bundle, samples)
    probs = bundle.predict_proba(checks)
    stage = staging.new_stage(out.parent)
    try:
        write_keras(bundle, stage / "export", labels, info=info, merge_lora=merge_lora,
                     formats=("keras",))
        arrays = {f"input_{i}": np.asarray(x) for i, x in enumerate(checks)}
        np.savez(stage / "reference.npz", probs=probs, **arrays)
        write_calibration(stage / "calibration.npz", representative, validation)
        names = {"tensorflow": "TensorFlow", "torch": "PyTorch"}
        observer.on_status(f"Writing {', '.join(formats)} with {names[via]}…")
        env = {**os.environ, "KERAS_BACKEND": via}
        proc = subprocess.Popen(
            [sys.executable, "-m", "desktop_ft.core.export.tf_export", str(stage / "export"),
             str(out), ",".join(formats), str(stage / "reference.npz"), via,
             str(stage / "calibration.npz")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        staging.add_owner(stage, proc.pid)
        stdout, stderr = _communicate_unless_stopped(proc, stop, out, names[via], timeout)
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
    if record.get("formats_not_written"):
        observer.on_status(not_written_note(record["formats_not_written"], out))
    return record


def write_calibration(path: Path, representative, validation) -> None:
    """Raw training inputs (``rep_i``) and held-out inputs with labels (``val_i``,
    ``val_labels``) for the subprocess; see :func:`read_calibration`."""
    import numpy as np

    arrays = {f"rep_{i}": np.asarray(x) for i, x in enumerate(representative or [])}
    if validation is not None and len(validation[0]):
        arrays.update({f"val_{i}": np.asarray(x) for i, x in enumerate(validation[0])})
        arrays["val_labels"] = np.asarray(validation[1], dtype=np.int64)
    np.savez(path, **arrays)


def read_calibration(path: Path, kind: str) -> tuple[list | None, tuple | None]:
    """(representative, validation) as :func:`write_calibration` saved them (None for
    what was not given); texts come back as ``str``."""
    import numpy as np

    def value(a):
        return str(a) if kind == "text" else a

    with np.load(path, allow_pickle=False) as saved:
        reps = [value(saved[f"rep_{i}"]) for i in range(len(saved.files))
                if f"rep_{i}" in saved.files]
        vals = [value(saved[f"val_{i}"]) for i in range(len(saved.files))
                if f"val_{i}" in saved.files]
        labels = saved["val_labels"].tolist() if "val_labels" in saved.files else []
    return reps or None, ((vals, labels) if vals else None)


def _communicate_unless_stopped(proc, stop, out: Path, via: str,
                                timeout: float) -> tuple[str, str]:
    """The subprocess's (stdout, stderr); ``stop`` set, or ``timeout`` seconds passed
    (a stuck conversion would otherwise hold the export forever), ends it (it writes
    beside ``out`` and swaps in atomically, so the previous export stays) and cancels
    the export."""
    import subprocess
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            return proc.communicate(timeout=min(0.2, max(deadline - time.monotonic(), 0)))
        except subprocess.TimeoutExpired:
            stopped = stop is not None and stop.is_set()
            if not stopped and time.monotonic() < deadline:
                continue
            proc.kill()
            proc.communicate()
            atomic.recover(out)
            kept = f"the previous export in {out} is unchanged" if out.exists() else \
                "nothing was written"
            raise UserError(f"Export cancelled; {kept}." if stopped
                            else staging.timeout_message(timeout, via, kept)) from None

