"""The VGG16 family: images in, ``keras.applications.VGG16`` with a new head.

Example:
    >>> from desktop_ft.core.models import ModelSpec, load_model
    >>> bundle = load_model(ModelSpec("vgg16", weights="none", image_size=32, num_classes=3))
    >>> bundle.model.output_shape
    (None, 3)
"""

from __future__ import annotations

from desktop_ft.core import datasets
from desktop_ft.core.errors import UserError
from desktop_ft.core.models.base import (Family, ModelBundle, ModelSpec, predict_batch,
                                         to_class_probs)
from desktop_ft.core.models.vgg16 import build as build_mod
from desktop_ft.core.models.vgg16 import tree as tree_mod

NO_LORA = ("LoRA and int8 quantization are offered for BERT only: VGG16's no-top "
           "backbone has no Dense layers (only convolutions), and only the 'original' "
           "head's fc1/fc2 would qualify. Use head, partial, full, bitfit or two-phase.")


class Vgg16Family(Family):
    name = "vgg16"
    title = "VGG16 — images"
    input_kind = "images"
    spec_fields = ("weights", "image_size", "head", "augment")
    unit_name = "blocks"
    augmentations = build_mod.AUGMENTATIONS
    lora_unavailable = NO_LORA
    finetune_lr = 1e-4
    few_params_lr = 1e-3
    optimizer = "adam"

    def check_spec(self, spec: ModelSpec) -> None:
        if spec.head not in ("gap", "original"):
            raise UserError(f"Unknown head '{spec.head}'. Choose gap or original.")
        if spec.head == "original" and spec.image_size != 224:
            raise UserError("The original head (ImageNet's fc1/fc2 kept, predictions "
                            "replaced) needs --image-size 224; its Flatten layer is fixed "
                            f"to 7x7x512 features. Got {spec.image_size}.",
                            window_message="The original head (ImageNet's fc1/fc2 kept) "
                            "needs an image size of 224 px.")
        if spec.image_size < 32:
            raise UserError(f"--image-size must be at least 32: VGG16 needs images of at "
                            f"least 32x32 pixels, got {spec.image_size}.",
                            window_message="VGG16 needs an image size of at least 32 px.")
        unknown = [a for a in spec.augment if a not in build_mod.AUGMENTATIONS]
        if unknown:
            raise UserError(f"Unknown augmentation {', '.join(unknown)}. Choose from: "
                            f"{', '.join(build_mod.AUGMENTATIONS)}.")

    def uses_pretrained_weights(self, spec: ModelSpec) -> bool:
        return (spec.weights or "none").lower() not in ("none", "")

    def training_bytes_per_example(self, spec: ModelSpec) -> int:
        # Conv outputs per pixel of input: 2×64 + 2×128/4 + 3×256/16 + 3×512/64 + 3×512/256
        # ≈ 200 floats; ×4 bytes, ×2 for their gradients.
        return int(spec.image_size ** 2 * 200 * 4 * 2)

    def build(self, spec, observer, stop=None) -> ModelBundle:
        return build_mod.build(self, spec, observer, stop)

    def rebuild_head(self, bundle: ModelBundle, spec: ModelSpec) -> ModelBundle:
        new = build_mod.attach_head(self, bundle.parts["base"], spec)
        new.weights_source = bundle.weights_source
        return new

    def build_tree(self, bundle: ModelBundle):
        return tree_mod.build_tree(bundle)

    def chain_layers(self, model) -> list:
        return tree_mod.chain_layers(model)

    def explain(self, bundle: ModelBundle, images) -> list[dict]:
        from desktop_ft.core.models.vgg16.explain import grad_cam

        return grad_cam(bundle, images)

    def make_dataset(self, bundle, split, batch_size, *, shuffle, seed=0, epochs=None,
                     class_weights=None, on_unreadable=None):
        size = bundle.spec.image_size
        return datasets.image_dataset(
            split, bundle.num_classes, batch_size, shuffle=shuffle, seed=seed,
            binary=bundle.binary, example_bytes=size * size * 3 * 4, epochs=epochs,
            class_weights=class_weights, on_unreadable=on_unreadable,
            preprocess=lambda img: build_mod.preprocess_uint8(img[None], size)[0],
            preprocess_numpy=lambda img: build_mod.preprocess_to_numpy(img, size))

    def predict_proba(self, bundle: ModelBundle, images, batch_size: int = 32):
        import numpy as np

        size = bundle.spec.image_size
        batches = []
        for i in range(0, len(images), batch_size):
            chunk = np.stack([build_mod.preprocess_to_numpy(img, size)
                              for img in images[i:i + batch_size]])
            batches.append(predict_batch(bundle.model, chunk).astype(np.float32))
        probs = np.concatenate(batches) if batches else \
            np.zeros((0, 1 if bundle.binary else bundle.num_classes), np.float32)
        return to_class_probs(probs, bundle.binary)

    def serve_function(self, bundle: ModelBundle, outputs):
        import tensorflow as tf

        model, size = bundle.model, bundle.spec.image_size

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8,
                                                    name="images")])
        def serve(images):
            return outputs(model(build_mod.preprocess_uint8(images, size), training=False))
        return serve

    def synthetic_inputs(self) -> list:
        import numpy as np

        rng = np.random.default_rng(0)
        return [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8),
                rng.integers(0, 256, (301, 203, 3), dtype=np.uint8)]

    def export_fields(self, bundle: ModelBundle) -> dict:
        return {"head": bundle.spec.head, "image_size": bundle.spec.image_size,
                "sequence_length": None}

    def signature_input(self) -> str:
        return "uint8 [N, H, W, 3], any H and W"

    def raw_input_model(self, bundle: ModelBundle):
        from desktop_ft.core.models.vgg16 import formats

        return formats.raw_input_model(bundle)

    def format_inputs(self, bundle: ModelBundle, raw_inputs) -> dict:
        from desktop_ft.core.models.vgg16 import formats

        return formats.format_inputs(bundle, raw_inputs)


FAMILY = Vgg16Family()
