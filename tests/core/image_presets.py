"""Tiny keras-hub image presets for the conformance test: an entry's ``tiny_config``
(2 layers, a few channels) saved as a preset folder, as a user's download would be."""

from __future__ import annotations


def tiny_size(arch) -> int:
    """The tiny preset's image size: its positional embeddings' or the entry's least."""
    shape = arch.tiny_config.get("image_shape")
    return int(shape[0]) if arch.fixed_size else arch.min_size


def make_preset(arch, folder, num_classes: int = 3):
    import keras_hub

    backbone = getattr(keras_hub.models, arch.builder)(**arch.tiny_config)
    size = (tiny_size(arch),) * 2
    task = arch.builder.replace("Backbone", "ImageClassifier")
    scale, offset, _ = arch.preprocessing
    converter = getattr(keras_hub.layers, arch.builder.replace("Backbone", "ImageConverter"))(
        image_size=size, scale=list(scale), offset=list(offset))
    preprocessor = getattr(keras_hub.models, task + "Preprocessor")(image_converter=converter)
    classifier = getattr(keras_hub.models, task)(backbone=backbone, num_classes=num_classes,
                                                 preprocessor=preprocessor)
    classifier.save_to_preset(str(folder))
    return folder
