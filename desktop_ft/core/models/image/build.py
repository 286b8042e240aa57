"""Building an image model: the entry's backbone, its weights, and a new head.

Heads:
    ``gap``      pooled features → Dropout → Dense (any image size the entry allows):
                 GlobalAveragePooling2D over a feature map, GlobalAveragePooling1D over
                 a transformer's tokens.
    ``original`` keep ImageNet's flatten/fc1/fc2 (VGG, 224×224 only) and replace only the
                 ``predictions`` layer — the first of the three classic ways to transfer.

A chain-shaped backbone (VGG) is flattened into the model, so the feature cache can cut it
anywhere; any other backbone is one nested layer (``backbone``) of the model.
"""

from __future__ import annotations

import threading
from pathlib import Path

from desktop_ft.core import compat
from desktop_ft.core.errors import (UserError, window_text, describe_exception,
                                   is_fetch_error, is_refused_file_error)
from desktop_ft.core.models.base import Modality, ModelBundle, ModelSpec
from desktop_ft.core.models.shared import preset_errors
from desktop_ft.core.models.image.weights import download_imagenet, load_weights_file
from desktop_ft.core.observer import Observer


def build(modality: Modality, spec: ModelSpec, observer: Observer,
          stop: threading.Event | None = None) -> ModelBundle:
    arch = modality.arch
    short = arch.short
    observer.on_status(f"Building {short}…")
    if arch.source == "keras_hub":
        backbone, source, preprocessing, size = _hub_backbone(arch, spec)
        if size != spec.image_size:
            spec = spec.replace(image_size=size)
    else:
        backbone, source = _applications_backbone(arch, spec, observer, stop)
        preprocessing = arch.preprocessing
    observer.on_status(f"{short} weights: {source}")
    bundle = attach_head(modality, backbone, spec)
    bundle.weights_source = source
    bundle.parts["preprocessing"] = preprocessing
    return bundle


def _applications_backbone(arch, spec, observer, stop):
    import keras

    include_top = spec.head == "original"
    shape = (spec.image_size, spec.image_size, 3)
    weights = spec.weights or "none"
    with compat.fresh_layer_names():
        backbone = getattr(keras.applications, arch.builder)(
            include_top=include_top, weights=None, input_shape=shape)
    if weights.lower() == "imagenet":
        path = download_imagenet(arch, include_top, observer, stop)
        backbone.load_weights(str(path))
        return backbone, f"imagenet ({path.name})"
    if weights.lower() in ("none", ""):
        return backbone, "none (random initialisation)"
    n = load_weights_file(backbone, weights, arch)
    return backbone, f"file {Path(weights).name} ({n} layers loaded)"


def _unloadable_preset(preset, e: Exception) -> UserError | None:
    """What to tell the user when keras-hub cannot load ``preset``: offline advice for a
    failed download or a missing file; the cause alone for files refused as they are
    (keras-hub's ValueError for an unknown name or another model's folder, a truncated
    weights file); None for anything else."""
    if is_fetch_error(e):
        failed = f"Could not load the keras-hub preset '{preset}' ({describe_exception(e)})."
        return UserError(f"{failed} Offline, use a local preset folder, or --weights none.",
                         window_message=f"{failed} Offline, choose a local preset folder "
                                        "(Preset or folder → Folder…).")
    if is_refused_file_error(e):
        return UserError(f"Could not load the keras-hub preset '{preset}': "
                         f"{describe_exception(e)}.")
    return None


def _hub_backbone(arch, spec):
    """(backbone, source, preprocessing, image size) of a keras-hub entry: a preset name
    or folder (keras-hub preset, Hugging Face or timm), or the entry's default
    configuration with random weights. A network whose size is free takes the spec's."""
    import keras_hub

    from desktop_ft.core.models.image.folders import folder_mismatch

    cls = getattr(keras_hub.models, arch.builder)
    if not spec.preset:
        with compat.fresh_layer_names():
            backbone = cls(**_sized(cls, dict(arch.default_config), arch, spec))
        return backbone, "none (random initialisation)", arch.preprocessing, \
            _size(arch, backbone, spec)
    if Path(str(spec.preset)).expanduser().is_dir():
        wrong = folder_mismatch(Path(str(spec.preset)).expanduser(), arch)
        if wrong:
            raise UserError(wrong, window_message=window_text(wrong))
    with preset_errors(lambda e: _unloadable_preset(spec.preset, e)):
        # num_classes: the preset's own head is not loaded (only its backbone is used).
        classifier = keras_hub.models.ImageClassifier.from_preset(
            spec.preset, num_classes=2, load_weights=spec.weights != "none")
    backbone = classifier.backbone
    if not isinstance(backbone, cls):
        raise UserError(f"'{spec.preset}' holds a {type(backbone).__name__}, not a "
                        f"{arch.builder}: choose its own entry in the model list.")
    converter = getattr(classifier.preprocessor, "image_converter", None)
    preprocessing = arch.preprocessing
    if converter is not None and (converter.scale is not None
                                  or converter.offset is not None):
        scale = _per_channel(converter.scale if converter.scale is not None else 1.0)
        offset = _per_channel(converter.offset if converter.offset is not None else 0.0)
        preprocessing = (scale, offset, False)
    weights = "none (random initialisation)" if spec.weights == "none" else \
        f"keras-hub preset {Path(str(spec.preset)).name}"
    if spec.weights == "none" or not arch.fixed_size:
        with compat.fresh_layer_names():
            clone = cls.from_config(_sized(cls, backbone.get_config(), arch, spec))
        if spec.weights != "none":
            clone.set_weights(backbone.get_weights())
        backbone = clone
    return backbone, weights, preprocessing, _size(arch, backbone, spec)


def _size(arch, backbone, spec) -> int:
    """A transformer's size is its positional embeddings'; a CNN takes any."""
    return int(backbone.image_shape[0]) if arch.fixed_size else spec.image_size


def _sized(cls, config: dict, arch, spec) -> dict:
    """A backbone configuration for ``spec.image_size`` when the size is free (a CNN is
    then built, or rebuilt from a preset, at that size: its layers have known output
    sizes, which Grad-CAM's choice of map and the tree's shapes read)."""
    if not arch.fixed_size:
        import inspect

        takes = inspect.signature(cls.__init__).parameters
        key = "image_shape" if "image_shape" in takes else "input_shape"   # EfficientNet
        config[key] = (spec.image_size, spec.image_size, 3)
    return config


def _per_channel(value) -> tuple:
    import numpy as np

    arr = np.broadcast_to(np.asarray(value, np.float64).reshape(-1), (3,))
    return tuple(float(v) for v in arr)


def augmentation_layers(names: list[str], strength: float = 1.0) -> list:
    """Keras preprocessing layers, active only in training (identity at inference, so
    try-it and the export are unaffected). They work on preprocessed pixels. ``strength``
    scales the rotation, zoom and contrast factors (``AUGMENT_FACTORS``; 1: as they are)."""
    import keras

    from desktop_ft.core.models.image.preprocess import AUGMENT_FACTORS

    f = {name: factor * strength for name, factor in AUGMENT_FACTORS.items()}
    factories = {
        "flip": lambda: keras.layers.RandomFlip("horizontal", name="augment_flip"),
        "rotation": lambda: keras.layers.RandomRotation(f["rotation"], fill_mode="reflect",
                                                        name="augment_rotation"),
        "zoom": lambda: keras.layers.RandomZoom(f["zoom"], fill_mode="reflect",
                                                name="augment_zoom"),
        "contrast": lambda: keras.layers.RandomContrast(f["contrast"], name="augment_contrast"),
    }
    return [factories[n]() for n in names]


def attach_head(modality: Modality, backbone, spec: ModelSpec) -> ModelBundle:
    """The trained model: [augmentation] → backbone (its layer objects, so weights are
    shared) → head."""
    import keras

    from desktop_ft.core.runtime import mixed_precision_enabled

    arch = modality.arch
    units, activation = spec.output_units()
    inputs = keras.Input(shape=(spec.image_size, spec.image_size, 3), name="image")
    x = inputs
    for layer in augmentation_layers(spec.augment, spec.augment_strength):
        x = layer(x)
    if arch.chain:
        stop_at = "fc2" if spec.head == "original" else None
        for layer in backbone.layers[1:]:
            x = layer(x)
            if layer.name == stop_at:
                break
    else:
        backbone.name = "backbone"
        x = backbone(x)
    # Under mixed precision the output layer computes in float32 for stable softmax/loss.
    out_dtype = "float32" if mixed_precision_enabled() else None
    if spec.head == "original":
        out = keras.layers.Dense(units, activation=activation, name="predictions_new",
                                 dtype=out_dtype)(x)
        new = {"predictions_new"}
    else:
        pool = keras.layers.GlobalAveragePooling1D if arch.pooling == "avg1d" else \
            keras.layers.GlobalAveragePooling2D
        x = pool(name="head_pool")(x)
        x = keras.layers.Dropout(spec.dropout, name="head_dropout")(x)
        out = keras.layers.Dense(units, activation=activation, name="head_output",
                                 dtype=out_dtype)(x)
        new = {"head_pool", "head_dropout", "head_output"}
    model = keras.Model(inputs, out, name=f"{arch.name}_{spec.head}")
    return ModelBundle(spec=spec, model=model, new_layers=new, weights_source="",
                       modality=modality, parts={"base": backbone})
