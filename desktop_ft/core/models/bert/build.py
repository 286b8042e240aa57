"""BERT text classifiers from keras-hub.

Sources (``spec.preset``):
    * a keras-hub preset name (``bert_tiny_en_uncased`` …; downloaded and cached by
      keras-hub on a machine with network access),
    * a local keras-hub preset folder (``metadata.json`` + ``config.json`` + weights),
    * a local Hugging Face BERT folder (``config.json`` + ``model.safetensors`` +
      ``vocab.txt``), converted by keras-hub on load.

Pickled PyTorch checkpoints (``pytorch_model.bin`` without safetensors) are refused:
unpickling an untrusted file can run arbitrary code."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from desktop_ft.core.errors import UserError, describe_exception
from desktop_ft.core.models.base import Family, ModelBundle, ModelSpec
from desktop_ft.core.observer import Observer

HEAD_LAYERS = {"classifier_dropout", "logits"}


def describe_source(preset: str) -> str:
    """Validate ``preset`` and say what it is: "keras-hub preset folder", "Hugging Face
    folder" or "keras-hub preset". Raises :class:`UserError` for anything unusable."""
    p = Path(preset).expanduser()
    looks_like_path = p.exists() or "/" in preset or "\\" in preset or preset.startswith(".")
    if not looks_like_path:
        import keras_hub

        known = sorted(keras_hub.models.BertBackbone.presets)
        if preset not in known and not preset.startswith(("kaggle://", "hf://")):
            raise UserError(f"Unknown BERT preset '{preset}'. Known presets include: "
                            f"{', '.join(known[:10])}, … — or give a local folder.")
        return "keras-hub preset"
    if not p.is_dir():
        raise UserError(f"BERT source {p} is not a folder. Expected a keras-hub preset folder "
                        "or a Hugging Face BERT folder (config.json + model.safetensors + "
                        "vocab.txt).")
    names = {f.name for f in p.iterdir()}
    if "metadata.json" in names and "config.json" in names:
        return "keras-hub preset folder"
    has_safetensors = "model.safetensors" in names or "model.safetensors.index.json" in names
    if "config.json" in names and has_safetensors:
        try:
            model_type = json.loads((p / "config.json").read_text()).get("model_type")
        except (OSError, ValueError) as e:
            raise UserError(f"{p / 'config.json'} is not valid JSON ({e}).") from None
        if model_type != "bert":
            raise UserError(f"{p} holds a '{model_type}' model; only BERT checkpoints "
                            "(model_type 'bert') are supported.")
        if "vocab.txt" not in names:
            raise UserError(f"{p} has no vocab.txt; the BERT tokenizer needs it.")
        return "Hugging Face folder"
    if "pytorch_model.bin" in names:
        raise UserError(f"{p} only has pytorch_model.bin, a pickled PyTorch checkpoint. It is "
                        "not loaded because unpickling an untrusted file can run code. Convert "
                        "it to model.safetensors (e.g. with the transformers library's "
                        "save_pretrained(safe_serialization=True)) and try again.")
    raise UserError(f"{p} is not a BERT model folder. Expected a keras-hub preset folder "
                    "(metadata.json + config.json) or a Hugging Face folder (config.json + "
                    "model.safetensors + vocab.txt).")


def require_tokenizer_ops() -> None:
    """keras-hub's BERT tokenizer is a tensorflow-text op, on every Keras backend."""
    from desktop_ft.core import backend

    missing = [p for p in ("tensorflow", "tensorflow_text") if not backend.installed(p)]
    if missing:
        raise UserError(f"BERT needs TensorFlow and tensorflow-text for its tokenizer, on "
                        f"every backend ({' and '.join(missing)} not installed): pip install "
                        "tensorflow tensorflow-text. Images (VGG16) train without them.")


def build(family: Family, spec: ModelSpec, observer: Observer,
          stop: threading.Event | None = None) -> ModelBundle:
    require_tokenizer_ops()
    import keras_hub

    kind = describe_source(spec.preset)
    observer.on_status(f"Loading BERT from {kind} {spec.preset}…")
    source = str(Path(spec.preset).expanduser()) if kind != "keras-hub preset" else spec.preset
    try:
        backbone = keras_hub.models.BertBackbone.from_preset(source)
        max_len = backbone.max_sequence_length
        seq_len = min(spec.seq_len, max_len)
        if seq_len != spec.seq_len:
            observer.on_status(f"Sequence length {spec.seq_len} exceeds this model's maximum; "
                               f"using {max_len}.")
            spec = ModelSpec.from_dict({**spec.to_dict(), "seq_len": seq_len})
        preprocessor = keras_hub.models.BertTextClassifierPreprocessor.from_preset(
            source, sequence_length=seq_len)
    except UserError:
        raise
    except Exception as e:
        hint = (" keras-hub downloads presets on first use; without network access give a "
                "local folder instead (a keras-hub preset or a Hugging Face BERT folder)."
                if kind == "keras-hub preset" else "")
        why = describe_exception(e)
        window_hint = (" keras-hub downloads presets on first use; without network access "
                       "choose a local folder with \"Folder…\" (a keras-hub preset or a "
                       "Hugging Face BERT folder)." if kind == "keras-hub preset" else "")
        raise UserError(f"Could not load BERT from {spec.preset}: {why}.{hint}",
                        window_message=f"Could not load BERT from {spec.preset}: {why}."
                        f"{window_hint}", details=why) from e
    bundle = classifier(family, backbone, preprocessor, spec)
    bundle.weights_source = f"{kind} {spec.preset}"
    return bundle


def classifier(family: Family, backbone, preprocessor, spec: ModelSpec) -> ModelBundle:
    import keras_hub

    binary = spec.num_classes == 2
    model = keras_hub.models.BertTextClassifier(
        backbone=backbone, num_classes=1 if binary else spec.num_classes,
        preprocessor=preprocessor, activation="sigmoid" if binary else "softmax",
        dropout=spec.dropout if spec.dropout else 0.1)
    return ModelBundle(spec=spec, model=model, new_layers=set(HEAD_LAYERS), weights_source="",
                       family_impl=family,
                       parts={"backbone": backbone, "preprocessor": preprocessor})
