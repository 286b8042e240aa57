"""The TensorFlow side of an export made on the torch or jax backend, run in its own
process (Keras fixes its backend per process)::

    python -m desktop_ft.core.export.tf_export STAGED OUT FORMATS REF.npz [BACKEND [CALIB.npz]]

``BACKEND`` is ``tensorflow`` (the default) or ``torch``: a JAX model's ONNX file on a
machine without TensorFlow is written by PyTorch's exporter this way.

``STAGED_EXPORT`` is a ``model.keras`` export written by the training backend;
``REF.npz`` holds the parity inputs (``input_0`` …) and that backend's
probabilities for them (``probs``); ``CALIB.npz`` the training inputs that calibrate an
int8 LiteRT model and the held-out inputs and labels that measure it
(:func:`desktop_ft.core.export.via_subprocess.write_calibration`). The model is reloaded
on TensorFlow and exported to ``OUT`` as any export is (atomically, every format asked
for), with parity measured against the training backend's probabilities. Prints the
export record as one JSON line; errors as one ``desktop-ft: error:`` line and exit
status 1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from desktop_ft.core import backend, runtime
    from desktop_ft.core.errors import UserError

    try:
        staged, out, formats, reference, *rest = argv
        via = rest[0] if rest else "tensorflow"
        calibration = Path(rest[1]) if len(rest) > 1 else None
        if via == "tensorflow":
            runtime.quiet_tensorflow()
        backend.select(via)
        from desktop_ft.core.export import staging

        staging.end_with_parent()   # killed, the exporting process would read no result
        import numpy as np

        from desktop_ft.core.export import export_model
        from desktop_ft.core.export.reexport import source_for_reexport
        from desktop_ft.core.export.via_subprocess import read_calibration

        source = source_for_reexport(staged)
        with np.load(reference, allow_pickle=False) as ref:
            inputs = [ref[f"input_{i}"] for i in range(len(ref.files) - 1)]
            probs = ref["probs"]
        if source.bundle.input_kind == "text":
            inputs = [str(x) for x in inputs]
        representative, validation = read_calibration(calibration, source.bundle.input_kind) \
            if calibration is not None and calibration.is_file() else (None, None)
        meta = json.loads((source.path / "export.json").read_text())
        info = {k: v for k, v in meta.items() if k not in _RECOMPUTED}
        record = export_model(source.bundle, out, source.bundle.classes, samples=inputs,
                              info={**info, ("saved_model_written_by" if via == "tensorflow"
                                             else "onnx_written_by"):
                                    f"{via} (model.keras reloaded in a subprocess)"},
                              formats=formats.split(","), app_probs=probs,
                              representative=representative or inputs,
                              validation=validation,
                              staged=source.path, in_subprocess=False)
    except UserError as e:
        print(f"desktop-ft: error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(record))
    return 0


# What export_model computes again for the formats it writes; every other key of the
# staged export.json (what was trained, how, on which backend) is carried over.
_RECOMPUTED = ("format_version", "created", "parity_max_abs_diff", "parity_samples",
               "formats_written", "formats", "saved_model_bytes", "keras_bytes",
               "export_seconds", "signature", "weights_bytes", "weights_bytes_float32",
               "path", "tokenizer", "parity_differs", "parity_max_abs_diff_same_ids")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
