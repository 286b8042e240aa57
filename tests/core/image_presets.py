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


def tiny_application(arch):
    """The entry's ``keras.applications`` constructor at a tiny width and depth, where
    Keras builds it from a configurable function: the same code, layer names, blocks and
    strides as the full network, one or two blocks a stage and a few channels (at 32 px
    a full-width EfficientNetV2-B3 took 27 s to build and train here; this 3). ``None``:
    the constructor has no such knobs (VGG, MobileNet, Xception), and the entry is built
    as it is."""
    from keras.src.applications import convnext, densenet, efficientnet_v2, resnet

    def efficientnet(name):
        return lambda **kw: efficientnet_v2.EfficientNetV2(
            width_coefficient=0.25, depth_coefficient=0.1, default_size=224, name=name,
            **kw)

    def resnet_v2(**kw):
        def stack_fn(x):
            for stage, filters in (("conv2", 4), ("conv3", 8), ("conv4", 8)):
                x = resnet.stack_residual_blocks_v2(x, filters, 2, name=stage)
            return resnet.stack_residual_blocks_v2(x, 8, 2, stride1=1, name="conv5")
        return resnet.ResNet(stack_fn, True, True, name="resnet50v2", **kw)

    builders = {
        **{f"EfficientNetV2B{i}": efficientnet(f"efficientnetv2-b{i}") for i in range(4)},
        "ConvNeXtTiny": lambda **kw: convnext.ConvNeXt(
            depths=[1, 1, 2, 1], projection_dims=[8, 8, 16, 16], name="convnext_tiny", **kw),
        "DenseNet121": lambda **kw: densenet.DenseNet([1, 2, 1, 1], name="densenet121", **kw),
        "ResNet50V2": resnet_v2,
    }
    return builders.get(arch.builder) if arch.source == "keras.applications" else None
