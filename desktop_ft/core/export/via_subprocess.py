"""Exports written by another Keras backend in a subprocess (the backend is fixed per
process): TensorFlow for the SavedModel, ONNX and LiteRT from the torch and JAX backends,
or torch for ONNX on JAX without TensorFlow. The subprocess is
:mod:`desktop_ft.core.export.tf_export`."""

from __future__ import annotations

import json
import os
from pathlib import Path

from desktop_ft.core import atomic
from desktop_ft.core.errors import UserError
from desktop_ft.core.export import staging
from desktop_ft.core.export.parity import parity_samples


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


class SubprocessExport:
    """An export written by another Keras backend's process (``route.via``: TensorFlow;
    or torch for ONNX on JAX without TensorFlow; the backend is fixed per process) from
    a staged ``model.keras`` export, with parity against this process's model: its
    probabilities for the parity inputs go along, and, for TensorFlow, the int8 LiteRT's
    calibration and held-out inputs, so that it is calibrated and measured as on
    TensorFlow."""

    NAMES = {"tensorflow": "TensorFlow", "torch": "PyTorch"}

    def __init__(self, job, route):
        self.job, self.route = job, route
        self.timeout = staging.export_timeout()
        self.checks = parity_samples(job.bundle, job.options.samples)
        self.probs = job.bundle.predict_proba(self.checks)

    def run(self, stage: Path) -> dict:
        """The subprocess's export record; ``stage`` holds the staged export
        (``stage/export``) and the files written here for the subprocess."""
        import subprocess
        import sys

        import numpy as np

        job, via, formats = self.job, self.route.via, self.route.formats
        arrays = {f"input_{i}": np.asarray(x) for i, x in enumerate(self.checks)}
        np.savez(stage / "reference.npz", probs=self.probs, **arrays)
        calibrated = self.route.calibrated
        write_calibration(stage / "calibration.npz",
                          job.options.representative if calibrated else None,
                          job.options.validation if calibrated else None)
        job.observer.on_status(f"Writing {', '.join(formats)} with {self.NAMES[via]}…")
        env = {**os.environ, "KERAS_BACKEND": via}
        proc = subprocess.Popen(
            [sys.executable, "-m", "desktop_ft.core.export.tf_export", str(stage / "export"),
             str(job.out), ",".join(formats), str(stage / "reference.npz"), via,
             str(stage / "calibration.npz")],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        staging.add_owner(stage, proc.pid)
        stdout, stderr = _communicate_unless_stopped(proc, job.stop, job.out,
                                                     self.NAMES[via], self.timeout)
        lines = stdout.strip().splitlines()
        if proc.returncode != 0 or not lines:
            why = (stderr.strip().splitlines() or ["no output"])[-1]
            why = why.removeprefix("desktop-ft: error: ")
            raise UserError(why if "previous export" in why or "nothing was written" in why
                            else f"Export through {self.NAMES[via]} failed: {why}")
        return json.loads(lines[-1])


def write_calibration(path: Path, representative, validation) -> None:
    """Raw training inputs (``rep_i``) and held-out inputs with labels (``val_i``,
    ``val_labels``) for the subprocess; see :func:`read_calibration`."""
    import numpy as np

    arrays = {f"rep_{i}": np.asarray(x) for i, x in enumerate(representative or [])}
    if validation is not None and len(validation[0]):
        arrays.update({f"val_{i}": np.asarray(x) for i, x in enumerate(validation[0])})
        labels = list(validation[1])
        if labels and isinstance(labels[0], (tuple, list)):    # multi-label: -1 pads a set
            width = max(1, *(len(s) for s in labels))
            arrays["val_label_sets"] = np.array([list(s) + [-1] * (width - len(s))
                                                 for s in labels], np.int64)
        else:
            arrays["val_labels"] = np.asarray(labels, dtype=np.int64)
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
        labels = saved["val_labels"].tolist() if "val_labels" in saved.files else \
            [tuple(i for i in row if i >= 0) for row in saved["val_label_sets"].tolist()] \
            if "val_label_sets" in saved.files else []
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

