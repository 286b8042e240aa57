"""The export plan: which formats are asked for, where each is written (here, or by
another Keras backend in a subprocess) and which are left out with the reason — chosen
from the formats asked for and what this machine can write. The writers themselves are in
:mod:`desktop_ft.core.export.writers`."""

from __future__ import annotations

import dataclasses

from desktop_ft.core.errors import UserError
from desktop_ft.core.export.writers import FORMAT_WRITERS, ExportOptions

FORMATS = tuple(w.format for w in FORMAT_WRITERS)
DEFAULT_FORMATS = ("saved_model", "keras")
# Written by TensorFlow: on the torch and JAX backends in a TensorFlow subprocess.
TENSORFLOW_FORMATS = tuple(w.format for w in FORMAT_WRITERS if w.needs_tensorflow)


def parse_formats(text: str | list | tuple | None) -> tuple[str, ...]:
    if text is None:
        return DEFAULT_FORMATS
    names = [f.strip().lower() for f in (text.split(",") if isinstance(text, str) else text)
             if f.strip()]
    unknown = [f for f in names if f not in FORMATS]
    if unknown or not names:
        raise UserError(f"Unknown export format {', '.join(unknown) or '(none)'}. Choose "
                        f"from: {', '.join(FORMATS)}.")
    return tuple(dict.fromkeys(names))


@dataclasses.dataclass(frozen=True)
class Route:
    """Where an export's ``formats`` are written: here (``via`` None), or from a staged
    ``model.keras`` by another backend's process (``via``: ``tensorflow``; or ``torch``
    for ONNX on JAX without TensorFlow). ``info`` carries ``formats_not_written``."""
    formats: tuple
    info: dict | None
    via: str | None = None
    calibrated: bool = True      # the int8 LiteRT's inputs go along to the subprocess


def route(bundle, formats: tuple, options: ExportOptions) -> Route:
    """The route of an export from this process: on TensorFlow everything is written
    here; on torch and JAX the TensorFlow formats are written by a TensorFlow subprocess,
    or without TensorFlow ONNX by PyTorch's exporter and the rest recorded as not written
    (with the reason). A text SavedModel where tensorflow-text is missing is left out."""
    from desktop_ft.core import backend

    info = options.info
    foreign = backend.name() != "tensorflow"
    if foreign and options.in_subprocess and backend.tensorflow_available():
        # tensorflow-text not even installed (Windows): no TensorFlow process is started
        # for a SavedModel it could not write.
        formats, info = less_unwritable_saved_model(bundle, formats, info, try_import=False)
    tf_formats = [f for f in formats if f in TENSORFLOW_FORMATS]
    if tf_formats and foreign and options.in_subprocess and backend.tensorflow_available():
        return Route(formats, info, via="tensorflow")
    if tf_formats and foreign:
        # Without TensorFlow: ONNX from PyTorch's own exporter (in this process on torch,
        # from model.keras in a torch process on JAX); the rest is recorded as not
        # written, with the command that adds it later.
        from desktop_ft.core.export.onnx_litert import writes_onnx_natively

        onnx_by_torch = "onnx" in tf_formats and not writes_onnx_natively() and \
            options.in_subprocess and backend.installed("torch") and \
            backend.installed("onnxscript")
        missing = [f for f in tf_formats if f != "onnx" or not (writes_onnx_natively() or
                                                                  onnx_by_torch)]
        if missing:
            info = not_written(info, dict.fromkeys(missing, "needs TensorFlow installed"))
        if onnx_by_torch:
            kept = tuple(f for f in formats if f not in missing)
            return Route(kept, info, via="torch", calibrated=False)
        if missing:
            formats = tuple(f for f in formats if f not in missing) or ("keras",)
    formats, info = less_unwritable_saved_model(bundle, formats, info)
    return Route(formats, info)


def less_unwritable_saved_model(bundle, formats: tuple, info: dict | None,
                                try_import: bool = True):
    """(``formats``, ``info``) less a SavedModel this process cannot write (a text model
    without tensorflow-text), its reason added to ``formats_not_written``. Everything
    else is still written, so that evaluate, predict and explain have model.keras and
    tokenizer.json to run."""
    why = "saved_model" in formats and bundle.modality.saved_model_unavailable(try_import)
    if not why:
        return formats, info
    return (tuple(f for f in formats if f != "saved_model") or ("keras",),
            not_written(info, {"saved_model": why}))


def not_written(info: dict | None, reasons: dict) -> dict:
    """``info`` with ``reasons`` ({format: why}) added to its ``formats_not_written``."""
    info = dict(info or {})
    info["formats_not_written"] = {**info.get("formats_not_written", {}), **reasons}
    return info
