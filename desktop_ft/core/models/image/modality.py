"""The image modality: one :class:`ImageModality` per entry of the architecture table
(:mod:`.architectures`), each the entry's backbone under a new head.

Example:
    >>> from desktop_ft.core.models import ModelSpec, load_model
    >>> bundle = load_model(ModelSpec("mobilenet_v2", weights="none", image_size=64,
    ...                               num_classes=3))
    >>> bundle.model.output_shape
    (None, 3)
"""

from __future__ import annotations

from desktop_ft.core.errors import UserError
from desktop_ft.core.models.base import Modality, ModelBundle, ModelSpec
from desktop_ft.core.models.shared import needs_preset
from desktop_ft.core.models.image import build as build_mod
from desktop_ft.core.models.image import preprocess as pre
from desktop_ft.core.models.image import raw_input
from desktop_ft.core.models.image import tree as tree_mod
from desktop_ft.core.models.image.architectures import ARCHITECTURES
from desktop_ft.core.models.image.entry import ImageArchitecture


class ImageModality(Modality):
    input_kind = "images"
    augmentations = pre.AUGMENTATIONS
    raw_input = raw_input
    finetune_lr = 1e-4
    few_params_lr = 1e-3
    optimizer = "adam"

    def __init__(self, arch: ImageArchitecture):
        super().__init__(arch)
        self.min_image_size = arch.min_size
        fields = ["augment", "augment_strength"]
        if arch.source == "keras_hub":
            fields += ["preset"] + ([] if arch.fixed_size else ["image_size"])
        else:
            fields += ["weights", "image_size"]
        fields += ["head"] if arch.original_head else []
        fields += ["train_bn"] if arch.has_bn else []
        self.spec_fields = tuple(fields)
        self.lora_unavailable = None if arch.offers_lora else (
            f"LoRA and int8 quantization need Dense layers to adapt: {self.short}'s "
            "backbone has only convolutions. Use head, partial, full, bitfit or two-phase.")

    def spec_defaults(self) -> dict:
        defaults = {"image_size": self.arch.default_size, "head": "gap", "train_bn": False}
        if self.arch.imagenet:
            defaults["weights"] = "imagenet"
        return defaults

    def offline_fallback(self, spec: ModelSpec):
        if spec.weights != "imagenet":
            return None
        note = ("ImageNet weights are not available. Using weights None (random "
                "initialisation) so you can train the sample dataset now; choose ImageNet "
                "or a weights file later for real transfer learning.")
        return spec.replace(weights="none"), note

    def table_row(self) -> dict:
        arch = self.arch
        if arch.fixed_size:
            size = f"images {arch.default_size} px (preset)"
        else:
            size = f"images {arch.default_size} px (≥{arch.min_size})"
        if arch.source == "keras_hub":
            weights = f"keras-hub presets ({', '.join(arch.presets[:2])}, …) or a folder"
        else:
            weights = f"ImageNet via keras.applications ({arch.imagenet[0]})"
        return {**super().table_row(), "input": size, "params": arch.params,
                "top1": arch.top1, "speed": arch.speed, "weights": weights}

    # ---------------------------------------------------------------- spec and build
    def check_spec(self, spec: ModelSpec) -> None:
        if spec.head not in ("gap", "original"):
            raise UserError(f"Unknown head '{spec.head}'. Choose gap or original.")
        if spec.head == "original":
            if not self.arch.original_head:
                raise UserError(f"The original head (ImageNet's fc1/fc2 kept) exists for VGG "
                                f"only; {self.short} takes the gap head.")
            if spec.image_size != 224:
                raise UserError("The original head (ImageNet's fc1/fc2 kept, predictions "
                                "replaced) needs --image-size 224; its Flatten layer is "
                                f"fixed to 7x7x512 features. Got {spec.image_size}.",
                                window_message="The original head (ImageNet's fc1/fc2 "
                                "kept) needs an image size of 224 px.")
        if not self.arch.fixed_size and spec.image_size < self.arch.min_size:
            m = self.arch.min_size
            raise UserError(f"--image-size must be at least {m}: {self.short} needs images "
                            f"of at least {m}x{m} pixels, got {spec.image_size}.",
                            window_message=f"{self.short} needs an image size of at least "
                            f"{m} px.")
        if self.arch.source == "keras_hub" and not spec.preset and spec.weights != "none":
            raise needs_preset(self.short, self.arch.presets[0],
                               "; --weights none builds it with random weights")
        if spec.train_bn and not self.arch.has_bn:
            raise UserError(f"{self.short} has no BatchNormalization layers to train.")
        if not 0 < spec.augment_strength <= pre.MAX_AUGMENT_STRENGTH:
            raise UserError(f"--augment-strength must be above 0 and at most "
                            f"{pre.MAX_AUGMENT_STRENGTH:g}, got {spec.augment_strength}.",
                            window_message="Augmentation strength (Model panel) must be "
                            f"above 0 and at most {pre.MAX_AUGMENT_STRENGTH:g}, got "
                            f"{spec.augment_strength}.")
        unknown = [a for a in spec.augment if a not in pre.AUGMENTATIONS]
        if unknown:
            raise UserError(f"Unknown augmentation {', '.join(unknown)}. Choose from: "
                            f"{', '.join(pre.AUGMENTATIONS)}.")

    def uses_pretrained_weights(self, spec: ModelSpec) -> bool:
        if self.arch.source == "keras_hub":
            return bool(spec.preset) and spec.weights != "none"
        return (spec.weights or "none").lower() not in ("none", "")

    def training_bytes_per_example(self, spec: ModelSpec) -> int:
        # VGG16's conv outputs per input pixel: 2×64 + 2×128/4 + 3×256/16 + 3×512/64 +
        # 3×512/256 ≈ 200 floats; ×4 bytes, ×2 for their gradients. The others keep
        # fewer channels at full resolution: an upper estimate for them.
        return int(spec.image_size ** 2 * 200 * 4 * 2)

    def build(self, spec, observer, stop=None) -> ModelBundle:
        return build_mod.build(self, spec, observer, stop)

    def rebuild_head(self, bundle: ModelBundle, spec: ModelSpec) -> ModelBundle:
        new = build_mod.attach_head(self, bundle.parts["base"], spec)
        new.weights_source = bundle.weights_source
        new.parts["preprocessing"] = bundle.parts["preprocessing"]
        return new

    def build_tree(self, bundle: ModelBundle):
        return tree_mod.build_tree(bundle)

    def chain_layers(self, model) -> list:
        return tree_mod.chain_layers(model)

    def explain(self, bundle: ModelBundle, images, label=None) -> list[dict]:
        from desktop_ft.core.models.image.gradcam import grad_cam

        return grad_cam(bundle, images, label)

    # ---------------------------------------------------------------- data and inference
    def make_dataset(self, bundle, split, batch_size, *, shuffle, seed=0, epochs=None,
                     class_weights=None, on_unreadable=None):
        from desktop_ft.core.data import datasets

        size, how = bundle.spec.image_size, bundle.parts["preprocessing"]
        feed = datasets.ImageFeed(
            preprocess=lambda img: pre.preprocess_uint8(img[None], size, how)[0],
            preprocess_numpy=lambda img: pre.preprocess_to_numpy(img, size, how),
            num_classes=bundle.num_classes, binary=bundle.binary,
            example_bytes=size * size * 3 * 4)
        return datasets.image_dataset(split, feed, batch_size, shuffle=shuffle, seed=seed,
                                      epochs=epochs, class_weights=class_weights,
                                      on_unreadable=on_unreadable)

    def model_inputs(self, bundle: ModelBundle, images):
        import numpy as np

        size, how = bundle.spec.image_size, bundle.parts["preprocessing"]
        return np.stack([pre.preprocess_to_numpy(img, size, how) for img in images])

    # ---------------------------------------------------------------- PEFT
    def add_lora(self, bundle: ModelBundle, rank: int) -> None:
        if not self.arch.offers_lora:
            super().add_lora(bundle, rank)
        bundle.parts["base"].enable_lora(rank, target_layer_names=list(self.arch.lora_targets))

    def quantize_int8(self, bundle: ModelBundle) -> None:
        if not self.arch.offers_lora:
            super().quantize_int8(bundle)
        from desktop_ft.core.models.adapters import quantize_backbone

        quantize_backbone(bundle.parts["base"])

    def merged_model(self, bundle: ModelBundle):
        from desktop_ft.core.models.adapters import merged_copy

        return merged_copy(bundle.model, bundle.parts["base"],
                           lambda fresh: build_mod.attach_head(self, fresh, bundle.spec).model)

    # ---------------------------------------------------------------- export
    def serve_function(self, bundle: ModelBundle, outputs):
        import tensorflow as tf

        model, size = bundle.model, bundle.spec.image_size
        how = bundle.parts["preprocessing"]

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8,
                                                    name="images")])
        def serve(images):
            return outputs(model(pre.preprocess_uint8(images, size, how), training=False))
        return serve

    def synthetic_inputs(self) -> list:
        import numpy as np

        rng = np.random.default_rng(0)
        return [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8),
                rng.integers(0, 256, (301, 203, 3), dtype=np.uint8)]

    def export_fields(self, bundle: ModelBundle) -> dict:
        scale, offset, bgr = bundle.parts["preprocessing"]
        return {"head": bundle.spec.head, "image_size": bundle.spec.image_size,
                "sequence_length": None, "architecture": self.arch.name,
                "preprocessing": {"scale": list(scale), "offset": list(offset),
                                  "bgr": bool(bgr)}}

    def signature_input(self) -> str:
        return "uint8 [N, H, W, 3], any H and W"

    def attach_saved_assets(self, bundle: ModelBundle, folder) -> None:
        """A bundle read back from an export: its preprocessing from ``export.json``
        (a keras-hub preset may declare its own), else the entry's."""
        from pathlib import Path

        bundle.parts.setdefault("preprocessing", self.arch.preprocessing)
        names = {layer.name for layer in bundle.model.layers}
        if not bundle.new_layers:
            bundle.new_layers = names & {"head_pool", "head_dropout", "head_output",
                                         "predictions_new"}
        if not self.arch.chain and "base" not in bundle.parts and "backbone" in names:
            bundle.parts["base"] = bundle.model.get_layer("backbone")
        saved = saved_preprocessing(Path(folder) / "export.json")
        if saved is not None:
            bundle.parts["preprocessing"] = saved


def saved_preprocessing(path) -> tuple | None:
    """``(scale, offset, bgr)`` as an export's ``export.json`` records it; None where it
    records none (no export.json: a bare model; no field: an export from before it).
    A record that cannot be read is an error: the architecture's default in its place
    would feed the network other numbers than it was trained on, and it would predict
    wrongly without a word."""
    import json
    import math

    if not path.is_file():
        return None
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UserError(f"{path} cannot be read ({e}); its preprocessing record is needed "
                        "to feed the model as it was trained.") from e
    if not isinstance(info, dict) or "preprocessing" not in info:
        return None
    p = info["preprocessing"]

    def bad(field: str, want: str) -> UserError:
        return UserError(f"{path}: '{field}' is not {want} (found {json.dumps(p)[:200]}); "
                         "the model cannot be fed as it was trained. Export it again.")

    if not isinstance(p, dict):
        raise bad("preprocessing", "a record of scale, offset and bgr")
    values = []
    for key in ("scale", "offset"):
        v = p.get(key)
        if not (isinstance(v, list) and len(v) == 3 and all(
                isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                for x in v)):
            raise bad(f"preprocessing.{key}", "three numbers (one per channel)")
        values.append(tuple(float(x) for x in v))
    if not isinstance(p.get("bgr"), bool):
        raise bad("preprocessing.bgr", "true or false")
    return values[0], values[1], p["bgr"]


# One ImageModality per row of the table, by the architecture's name.
BY_ARCHITECTURE: dict[str, ImageModality] = {name: ImageModality(arch)
                                             for name, arch in ARCHITECTURES.items()}
