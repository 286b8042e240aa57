"""Why a model decides as it does: the validation examples it gets wrong, and per-input
explanations — Grad-CAM heatmaps for images, token importance for text — computed by
the model's modality (``Modality.explain``), drawn here as pictures and HTML.

Example:
    >>> bundle = load_export_bundle("out/")
    >>> [e] = explain(bundle, [image])
    >>> overlay(image, e["heatmap"]).shape == image.shape
    True
"""

from __future__ import annotations

import html
import json
import os
import warnings
from pathlib import Path

from desktop_ft.core.errors import UserError
from desktop_ft.core.models import ModelBundle, ModelSpec, modality_for
from desktop_ft.core.models.decision import Decision


def mistakes(items: list, labels: list[int], probs, classes: list[str]) -> list[dict]:
    """The wrongly predicted examples, most confident first: ``item`` (path or text),
    ``true``, ``predicted``, ``confidence`` (of the prediction) and ``probs`` by class."""
    out = []
    for item, label, p in zip(items, labels, probs):
        p = [float(v) for v in p]
        pred = max(range(len(p)), key=p.__getitem__)
        if pred != label:
            out.append({"item": item, "true": classes[label], "predicted": classes[pred],
                        "confidence": p[pred], "probs": dict(zip(classes, p))})
    return sorted(out, key=lambda m: -m["confidence"])


def explain(bundle: ModelBundle, inputs: list, label: int | None = None) -> list[dict]:
    """The modality's explanation of each raw input (see ``Modality.explain``): of the
    most probable class or label, or of the class or label of index ``label``."""
    if label is not None and not 0 <= int(label) < bundle.num_classes:
        raise UserError(f"There is no label {label} to explain: the model has "
                        f"{bundle.num_classes} (0 to {bundle.num_classes - 1}).")
    if not len(inputs):
        return []
    return bundle.modality.explain(bundle, inputs, label)


def load_export_bundle(folder: str | os.PathLike) -> ModelBundle:
    """The Keras model of an export folder (``model.keras``, loaded in safe mode), as a
    bundle its modality can explain."""
    folder = Path(folder).expanduser()
    meta_file, keras_file = folder / "export.json", folder / "model.keras"
    if not meta_file.is_file() or not keras_file.is_file():
        raise UserError(f"{folder} is not a desktop-ft export (it needs export.json and "
                        "model.keras).")
    meta = json.loads(meta_file.read_text())
    default = ModelSpec().architecture
    spec = ModelSpec.from_dict(meta.get("spec") or {"architecture": meta.get("model", default)})
    modality = modality_for(spec.architecture)
    from desktop_ft.core import runtime

    runtime.configure()
    import keras

    if modality.input_kind == "text":
        import keras_hub  # noqa: F401  registers the keras-hub classes model.keras uses
    with warnings.catch_warnings():
        # The saved optimizer's state is not needed to explain (nor loaded: compile=False).
        warnings.simplefilter("ignore", UserWarning)
        model = keras.saving.load_model(str(keras_file), safe_mode=True, compile=False)
    bundle = ModelBundle(spec=spec, model=model, new_layers=set(), modality=modality,
                         weights_source=meta.get("weights", ""),
                         classes=list(meta.get("classes") or []),
                         # model.keras is the raw model: the export's temperature
                         # (and "unknown" threshold) apply on top, as in its other formats.
                         decision=Decision.from_dict(meta.get("decision")))
    modality.attach_saved_assets(bundle, folder)
    return bundle


def heat_colours(heatmap):
    """``[H, W]`` in [0, 1] → ``uint8 [H, W, 3]``: dark blue → cyan → yellow → red."""
    import numpy as np

    h = np.clip(np.asarray(heatmap, dtype=np.float32), 0, 1)
    stops = np.array([[0, 0, 130], [0, 200, 255], [255, 230, 0], [230, 20, 0]], np.float32)
    pos = h * (len(stops) - 1)
    i = np.minimum(pos.astype(int), len(stops) - 2)
    t = (pos - i)[..., None]
    return (stops[i] * (1 - t) + stops[i + 1] * t).astype(np.uint8)


def overlay(image, heatmap, opacity: float = 0.5):
    """The image with the heatmap blended over it (``opacity`` 0: image, 1: heatmap);
    where the heatmap is weak the image shows through."""
    import numpy as np

    img = np.asarray(image, dtype=np.float32)
    h = np.clip(np.asarray(heatmap, dtype=np.float32), 0, 1)[..., None]
    alpha = opacity * np.sqrt(h)
    out = img * (1 - alpha) + heat_colours(h[..., 0]).astype(np.float32) * alpha
    return np.clip(out, 0, 255).astype(np.uint8)


def words(tokens: list[str], scores: list[float]) -> list[tuple[str, float]]:
    """Word pieces joined into words (``##`` continuations), each scored by its most
    important piece."""
    out: list[tuple[str, float]] = []
    for token, score in zip(tokens, scores):
        if token.startswith("##") and out:
            word, best = out[-1]
            out[-1] = (word + token[2:], max(best, score))
        else:
            out.append((token, score))
    return out


def highlighted_html(tokens: list[str], scores: list[float]) -> str:
    """The text as HTML spans, each word's background as strong as its importance."""
    spans = []
    for word, score in words(tokens, scores):
        spans.append(f'<span title="{score:.2f}" style="background: rgba(255, 140, 0, '
                     f'{0.08 + 0.8 * score:.2f}); padding: 1px 2px; border-radius: 3px">'
                     f"{html.escape(word)}</span>")
    return " ".join(spans)


def write_png(path: str | os.PathLike, image) -> None:
    from PIL import Image

    Image.fromarray(image).save(str(path))


def write_text_html(path: str | os.PathLike, explained: list[dict], texts: list[str],
                    classes: list[str]) -> None:
    """One page with each text highlighted and its prediction."""
    rows = []
    for text, e in zip(texts, explained):
        best = max(range(len(e["probs"])), key=e["probs"].__getitem__)
        rows.append(f"<p><b>{html.escape(classes[best])}</b> ({e['probs'][best]:.1%}) — "
                    f"{highlighted_html(e['tokens'], e['scores'])}<br><small>"
                    f"{html.escape(text)}</small></p>")
    Path(path).write_text("<!doctype html><meta charset='utf-8'><title>desktop-ft "
                          "explanations</title><body style='font-family: sans-serif'>"
                          + "\n".join(rows) + "</body>", encoding="utf-8")
