"""Loading a text classifier: the checkpoint (keras-hub backbone) and its own tokenizer.

Sources (``spec.preset``):
    * a keras-hub preset name (downloaded and cached by keras-hub on a machine with
      network access),
    * a local keras-hub preset folder (``metadata.json`` + ``config.json`` + weights),
    * a local Hugging Face folder (``config.json`` + ``model.safetensors`` + the
      tokenizer's files), converted by keras-hub on load.

``--weights none`` builds the architecture with random weights: from the source's
configuration (and its tokenizer) when one is given, else from the entry's default
configuration (to look at its layers; training then needs a tokenizer).

Pickled PyTorch checkpoints (``pytorch_model.bin`` without safetensors) are refused:
unpickling an untrusted file can run arbitrary code.

The classifier has no keras-hub preprocessor: token ids come from
:class:`~.tokenizer.CheckpointTokenizer` on every backend (keras-hub's own tokenizers
are tensorflow-text ops).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from desktop_ft.core.errors import (UserError, Worded, window_text, describe_exception,
                                   is_fetch_error, is_refused_file_error)
from desktop_ft.core.models.base import Modality, ModelBundle, ModelSpec
from desktop_ft.core.models.shared import preset_errors
from desktop_ft.core.models.text.architectures import (ARCHITECTURES, TextArchitecture,
                                                       architecture_for_model_type)
from desktop_ft.core.models.text.tokenizer import CheckpointTokenizer
from desktop_ft.core.observer import Observer

KERAS_HUB_PRESET = "keras-hub preset"
KERAS_HUB_FOLDER = "keras-hub preset folder"
HF_FOLDER = "Hugging Face folder"


def describe_source(preset: str, arch: TextArchitecture | None = None) -> str:
    """Validate ``preset`` for ``arch`` (default BERT) and say what it is:
    "keras-hub preset folder", "Hugging Face folder" or "keras-hub preset". Raises
    :class:`UserError` for anything unusable."""
    arch = arch or ARCHITECTURES["bert"]
    p = Path(preset).expanduser()
    looks_like_path = p.exists() or "/" in preset or "\\" in preset or preset.startswith(".")
    if not looks_like_path:
        known = sorted(_keras_hub_class(arch.backbone).presets)
        if preset not in known and not preset.startswith(("kaggle://", "hf://")):
            raise UserError(f"Unknown {arch.short} preset '{preset}'. Known "
                            f"presets include: {', '.join(known[:10])}, … — or give a local "
                            "folder.")
        return KERAS_HUB_PRESET
    if not p.is_dir():
        raise UserError(f"Text model source {p} is not a folder. Expected a keras-hub preset "
                        "folder or a Hugging Face folder (config.json + model.safetensors + "
                        "the tokenizer's files).")
    names = {f.name for f in p.iterdir()}
    if "metadata.json" in names and "config.json" in names:
        _check_keras_hub_folder(p, arch)
        return KERAS_HUB_FOLDER
    has_safetensors = "model.safetensors" in names or "model.safetensors.index.json" in names
    if "config.json" in names and has_safetensors:
        try:
            model_type = json.loads((p / "config.json").read_text()).get("model_type")
        except (OSError, ValueError) as e:
            raise UserError(f"{p / 'config.json'} is not valid JSON ({e}).") from None
        if model_type not in arch.hf_model_types:
            other = architecture_for_model_type(str(model_type))
            hint = _choose(other) or f" Supported: {', '.join(ARCHITECTURES)}."
            problem = f"{p} holds a '{model_type}' model, not {arch.short}."
            raise UserError(f"{problem}{hint}", window_message=f"{problem}{window_text(hint)}")
        if not arch.hf_folders:
            raise UserError(f"keras-hub cannot convert Hugging Face {arch.name} folders; use "
                            f"a keras-hub preset ({', '.join(arch.presets[:3])}, …).")
        return HF_FOLDER
    if "pytorch_model.bin" in names:
        raise UserError(f"{p} only has pytorch_model.bin, a pickled PyTorch checkpoint. It is "
                        "not loaded because unpickling an untrusted file can run code. Convert "
                        "it to model.safetensors (e.g. with the transformers library's "
                        "save_pretrained(safe_serialization=True)) and try again.")
    raise UserError(f"{p} is not a text model folder. Expected a keras-hub preset folder "
                    "(metadata.json + config.json) or a Hugging Face folder (config.json + "
                    "model.safetensors + tokenizer.json or vocab.txt).")


def _check_keras_hub_folder(p: Path, arch: TextArchitecture) -> None:
    try:
        class_name = json.loads((p / "config.json").read_text()).get("class_name", "")
    except (OSError, ValueError) as e:
        raise UserError(f"{p / 'config.json'} is not valid JSON ({e}).") from None
    if class_name and class_name != arch.backbone:
        other = next((a for a in ARCHITECTURES.values() if a.backbone == class_name), None)
        hint = _choose(other)
        problem = f"{p} holds a keras-hub {class_name}, not a {arch.backbone}."
        raise UserError(f"{problem}{hint}", window_message=f"{problem}{window_text(hint)}")


def _choose(other) -> str:
    """" Choose <the right architecture>." — by its flag for the CLI, under Network in the
    window; "" when none fits."""
    if other is None:
        return ""
    short = other.short
    return Worded(f" Choose {short} (--model {other.name}).",
                  window=f" Choose {short} under Network.")


def _keras_hub_class(name: str):
    import keras_hub

    return getattr(keras_hub.models, name)


def _unloadable(arch: TextArchitecture, preset: str, kind: str,
                e: Exception) -> UserError | None:
    """What to tell the user when ``preset`` cannot be loaded: the cause, with advice
    about working offline when a download failed or a file is missing; files refused as
    they are (keras-hub's ValueError, a truncated safetensors file) with the cause only.
    None for anything else: a fault in the code propagates as it is."""
    fetch = is_fetch_error(e)
    if not (fetch or is_refused_file_error(e)):
        return None
    why = describe_exception(e)
    advice = fetch and kind == KERAS_HUB_PRESET
    hint = (" keras-hub downloads presets on first use; without network access give a "
            "local folder instead (a keras-hub preset or a Hugging Face folder)."
            if advice else "")
    window_hint = (" keras-hub downloads presets on first use; without network access "
                   "choose a local folder with \"Folder…\" (a keras-hub preset or a "
                   "Hugging Face folder)." if advice else "")
    return UserError(f"Could not load {arch.name} from {preset}: {why}.{hint}",
                     window_message=f"Could not load {arch.name} from {preset}: "
                     f"{why}.{window_hint}", details=why)


def build(modality: Modality, spec: ModelSpec, observer: Observer,
          stop: threading.Event | None = None) -> ModelBundle:
    arch = modality.arch
    random = spec.weights == "none"
    if not spec.preset:
        if not random:
            raise UserError(f"{arch.short} needs a preset name or a local "
                            "folder (--preset), or --weights none.",
                            window_message=f"{arch.short} needs a preset "
                                           "name or a local folder (Preset or folder → "
                                           "Folder…).")
        observer.on_status(f"Building {arch.name} with random weights (default "
                           "configuration)…")
        backbone = _keras_hub_class(arch.backbone)(**arch.default_config)
        spec = _fit_seq_len(spec, backbone, observer)
        bundle = classifier(modality, backbone, None, spec)
        bundle.weights_source = "none (random, default configuration)"
        return bundle
    kind = describe_source(spec.preset, arch)
    what = "configuration" if random else "weights"
    observer.on_status(f"Loading {arch.name} {what} from {kind} {spec.preset}…")
    source = str(Path(spec.preset).expanduser()) if kind != KERAS_HUB_PRESET else spec.preset
    with preset_errors(lambda e: _unloadable(arch, spec.preset, kind, e)):
        backbone = _keras_hub_class(arch.backbone).from_preset(source,
                                                               load_weights=not random)
        tokenizer = CheckpointTokenizer.from_source(source, arch)
    if tokenizer.vocabulary_size > backbone.vocabulary_size:
        raise UserError(f"The tokenizer of {spec.preset} has {tokenizer.vocabulary_size:,} "
                        f"tokens but the model only {backbone.vocabulary_size:,} embeddings: "
                        "they do not belong together.")
    spec = _fit_seq_len(spec, backbone, observer)
    bundle = classifier(modality, backbone, tokenizer, spec)
    bundle.weights_source = f"{kind} {spec.preset}" if not random else \
        f"none (random, configuration of {kind} {spec.preset})"
    return bundle


def _fit_seq_len(spec: ModelSpec, backbone, observer: Observer) -> ModelSpec:
    max_len = backbone.max_sequence_length
    if spec.seq_len <= max_len:
        return spec
    observer.on_status(f"Sequence length {spec.seq_len} exceeds this model's maximum; using "
                       f"{max_len}.")
    return spec.replace(seq_len=max_len)


def classifier(modality: Modality, backbone, tokenizer: CheckpointTokenizer | None,
               spec: ModelSpec) -> ModelBundle:
    """The architecture's keras-hub TextClassifier over ``backbone`` (no preprocessor),
    with the head ``spec.output_units()`` says (one sigmoid for two classes, a softmax for
    more, one sigmoid per label for multi-label)."""
    arch = modality.arch
    units, activation = spec.output_units()
    model = _keras_hub_class(arch.classifier)(
        backbone=backbone, num_classes=units,
        preprocessor=None, activation=activation,
        dropout=spec.dropout if spec.dropout else 0.1)
    new = {layer.name for layer in model.layers
           if layer is not backbone and not layer.name.endswith(("_ids", "padding_mask"))
           and type(layer).__name__ != "InputLayer"}
    return ModelBundle(spec=spec, model=model, new_layers=new, weights_source="",
                       modality=modality,
                       parts={"backbone": backbone, "tokenizer": tokenizer})


def require_tokenizer(bundle: ModelBundle) -> CheckpointTokenizer:
    tokenizer = bundle.parts.get("tokenizer")
    if tokenizer is None:
        raise UserError("This model has random weights and no tokenizer: give a preset or a "
                        "folder (--preset) whose tokenizer it should use.",
                        window_message="This model has random weights and no tokenizer: "
                                       "give a preset or a folder whose tokenizer it should "
                                       "use (Preset or folder), and load it again.")
    return tokenizer
