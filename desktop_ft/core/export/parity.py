"""Parity: how far each exported format answers from the app's own Keras model, on raw
inputs (real samples plus the modality's synthetic ones)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from desktop_ft.core.export.exported import ExportedModel


def parity_samples(bundle, samples: list | None = None) -> list:
    """Raw inputs for the parity check: the given (real) samples plus the modality's
    synthetic ones (images at odd sizes, sentences with punctuation)."""
    return list(samples or []) + bundle.modality.synthetic_inputs()


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


def predict_with(model, bundle, inputs):
    """Class probabilities from another Keras model of the same modality (the merged one)."""
    twin = dataclasses.replace(bundle, model=model)
    return twin.predict_proba(inputs)


def measure_parity(bundle, folder: Path, samples: list, app_probs=None,
                   listed=()) -> dict:
    """Max |Keras − reloaded SavedModel| over every one of ``samples`` (raw inputs);
    ``app_probs``: the app's own probabilities when it runs on another backend.
    ``listed``: indices of samples to name beside the figure with their own difference
    (texts whose SavedModel token ids differ from the app's): they count in it too;
    ``same_ids_max_abs_diff`` is the figure over the others."""
    import numpy as np

    if not len(samples):
        return {"max_abs_diff": 0.0, "samples": 0, "differs": []}
    exported = ExportedModel(folder, kind=bundle.input_kind)
    keras_probs = bundle.predict_proba(samples) if app_probs is None else app_probs
    saved_probs = exported.predict_proba(samples)
    per_sample = np.max(np.abs(np.asarray(keras_probs) - np.asarray(saved_probs)), axis=-1)
    differs = [{"index": int(i), "text": str(samples[i])[:200],
                "max_abs_diff": float(per_sample[i])} for i in sorted(listed)]
    same = np.delete(per_sample, sorted(listed))
    return {"max_abs_diff": float(per_sample.max()), "samples": len(samples),
            "differs": differs, "same_ids_max_abs_diff": float(same.max()) if len(same)
            else None}
