"""Running an export folder: what ``desktop-ft evaluate`` and ``predict`` use."""

from __future__ import annotations

import json
import os
from pathlib import Path

from desktop_ft.core import backend, runtime
from desktop_ft.core.errors import UserError
from desktop_ft.core.export.labels_file import read_labels
from desktop_ft.core.models.decision import Decision


class ExportedModel:
    """Runs an export: its ``saved_model/`` where this machine can run it.

    With ``fallback`` (evaluate, predict), an export whose SavedModel cannot run here —
    exported without one, no TensorFlow, or a text model without tensorflow-text (no
    Windows wheel) — runs its ``model.keras`` (+ ``tokenizer.json``) on the active Keras
    backend instead, or else a text model's ``model.onnx`` + ``tokenizer.json`` in
    onnxruntime. ``runs`` names what runs (``saved_model``, ``model.keras``,
    ``model.onnx``); ``note`` says why, when it is not the SavedModel. Without
    ``fallback`` (parity checks of the SavedModel itself) that is an error."""

    def __init__(self, folder: str | os.PathLike, kind: str | None = None, *,
                 fallback: bool = False):
        folder = Path(folder).expanduser()
        if not (folder / "saved_model").is_dir() and not (folder / "export.json").is_file():
            raise UserError(f"{folder} is not a desktop-ft export (no saved_model/ inside).")
        meta = {}
        if (folder / "export.json").exists():
            meta = json.loads((folder / "export.json").read_text())
        self.meta = meta
        self.kind = kind or meta.get("input", "images")
        # labels.json: a list, or for a multi-label model labels and their thresholds.
        self.labels, thresholds = read_labels(folder, meta)
        self.decision = Decision.from_dict(meta.get("decision"))
        if thresholds is not None:
            self.decision = self.decision.replace(multi_label=True, thresholds=thresholds)
        self.note: str | None = None
        why = _saved_model_missing(folder, self.kind, meta)
        if why is None:
            self.runs = "saved_model"
            self._predict = _saved_model_runner(folder / "saved_model", self.kind)
            return
        if not fallback:
            raise UserError(f"{folder}: {why}.")
        self.runs, self._predict = _fallback_runner(folder, self.kind, why)
        self.note = f"Ran {self.runs} of {folder.name}: {why}."

    def predict_proba(self, inputs, batch_size: int = 32):
        """Probabilities ``[N, num_classes]``: images (uint8 arrays, any size) or strings."""
        import numpy as np

        if not len(inputs):
            return np.zeros((0, len(self.labels)), np.float32)
        return np.asarray(self._predict(list(inputs), batch_size), np.float32)


def _saved_model_missing(folder: Path, kind: str, meta: dict) -> str | None:
    """Why ``folder``'s SavedModel cannot run here, or None."""
    if not (folder / "saved_model").is_dir():
        reason = (meta.get("formats_not_written") or {}).get("saved_model")
        return ("it has no SavedModel (" + (reason or "exported without saved_model") +
                f"); add it with: desktop-ft export {folder} OUT --formats "
                "saved_model,keras")
    if not backend.tensorflow_available():
        return "its SavedModel needs TensorFlow: pip install tensorflow"
    if kind == "text":
        runtime.configure()
        return backend.tensorflow_text_missing()
    return None


def _saved_model_runner(path: Path, kind: str):
    runtime.configure()
    import numpy as np
    import tensorflow as tf

    if kind == "text":
        import tensorflow_text  # noqa: F401  registers the tokenizer ops

    serve = tf.saved_model.load(str(path)).signatures["serving_default"]

    def predict(inputs, batch_size):
        if kind == "text":
            return np.concatenate([
                np.asarray(serve(texts=tf.constant(inputs[i:i + batch_size]))["probs"])
                for i in range(0, len(inputs), batch_size)])
        # Images in one call must share a size: group by shape, keep the input order.
        probs = [None] * len(inputs)
        by_shape: dict[tuple, list[int]] = {}
        for i, img in enumerate(inputs):
            by_shape.setdefault(tuple(np.shape(img)), []).append(i)
        for idx in by_shape.values():
            for j in range(0, len(idx), batch_size):
                chunk = idx[j:j + batch_size]
                batch = np.stack([np.asarray(inputs[i], dtype=np.uint8) for i in chunk])
                out = np.asarray(serve(images=tf.constant(batch))["probs"])
                for k, i in enumerate(chunk):
                    probs[i] = out[k]
        return np.stack(probs)
    return predict


def _fallback_runner(folder: Path, kind: str, why: str):
    """("model.keras" | "model.onnx", predict) for an export whose SavedModel cannot
    run here."""
    if (folder / "model.keras").is_file():
        from desktop_ft.core.explain import load_export_bundle

        bundle = load_export_bundle(folder)
        return "model.keras", lambda inputs, batch_size: bundle.predict_proba(
            inputs, batch_size=batch_size)
    if kind == "text" and (folder / "model.onnx").is_file() and \
            (folder / "tokenizer.json").is_file():
        return "model.onnx", _onnx_text_runner(folder)
    raise UserError(f"{folder}: {why}; and it has no model.keras (nor, for text, "
                    "model.onnx and tokenizer.json) to run instead.")


def _onnx_text_runner(folder: Path):
    """Strings → probabilities by ``tokenizer.json`` (which pads and truncates to the
    model's sequence length) and ``model.onnx`` in onnxruntime: no TensorFlow, no Keras."""
    import numpy as np
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    session = ort.InferenceSession(str(folder / "model.onnx"),
                                   providers=["CPUExecutionProvider"])

    def predict(texts, batch_size):
        out = []
        for i in range(0, len(texts), batch_size):
            encoded = tokenizer.encode_batch(texts[i:i + batch_size])
            feed = {"token_ids": np.array([e.ids for e in encoded], np.int32),
                    "padding_mask": np.array([e.attention_mask for e in encoded], np.int32)}
            out.append(session.run(["probs"], {x.name: feed[x.name.split(":")[0]]
                                               for x in session.get_inputs()})[0])
        return np.concatenate(out)
    return predict
