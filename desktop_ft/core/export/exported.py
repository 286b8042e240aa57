"""Running an export's SavedModel: what ``desktop-ft evaluate`` and ``predict`` use."""

from __future__ import annotations

import json
import os
from pathlib import Path

from desktop_ft.core import backend, runtime
from desktop_ft.core.errors import UserError


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

