"""Tiny image networks for tests: a keras-hub row's tiny configuration (2 layers, a few
channels) saved as a preset folder, as a user's download would be; ``keras.applications``
constructors at a tiny width and depth for the conformance test; and VGG16's layers at a
few channels for tests whose point is not the network."""

from __future__ import annotations

from desktop_ft.core.models.image.architectures import EFFNET_B0, MOBILENET_V3_SMALL

# Each keras-hub row's tiny configuration (two layers or stages, a few channels): what
# the tests build, save as a preset folder and load back as a user's download would be.
TINY_CONFIGS = {
    "vit": {"image_shape": (32, 32, 3), "patch_size": 8, "num_layers": 2,
            "num_heads": 2, "hidden_dim": 16, "mlp_dim": 32,
            "use_mha_bias": True},
    "deit": {"image_shape": (32, 32, 3), "patch_size": 8, "num_layers": 2,
             "num_heads": 2, "hidden_dim": 16, "intermediate_dim": 32},
    # Stochastic depth on: frozen blocks must still compute as at inference.
    "swin": {"image_shape": (32, 32, 3), "patch_size": 4, "embed_dim": 8,
             "depths": (2, 2), "num_heads": (2, 2), "window_size": 4,
             "drop_path": 0.1},
    # keras-hub requires 64 filters in the first stage.
    "resnet": {"input_conv_filters": [64], "input_conv_kernel_sizes": [3],
               "stackwise_num_filters": [64, 16], "stackwise_num_blocks": [1, 1],
               "stackwise_num_strides": [1, 2], "block_type": "basic_block"},
    # Stochastic depth on (dropout): frozen blocks must still compute as at inference.
    # num_features stays 1280: keras-hub 0.32's get_config leaves it out, so a preset
    # saved with another width does not load back.
    "efficientnet": {**EFFNET_B0, "stackwise_width_coefficients": [1.0] * 2,
                     "stackwise_depth_coefficients": [1.0] * 2,
                     "stackwise_kernel_sizes": [3, 3], "stackwise_num_repeats": [1, 2],
                     "stackwise_input_filters": [8, 8], "stackwise_output_filters": [8, 16],
                     "stackwise_expansion_ratios": [1, 2],
                     "stackwise_squeeze_and_excite_ratios": [0.25, 0.25],
                     "stackwise_strides": [1, 2], "stackwise_block_types": ["v1", "v1"],
                     "stackwise_force_input_filters": [0, 0],
                     "stackwise_nores_option": [False, False], "dropout": 0.2},
    "mobilenet": {**MOBILENET_V3_SMALL, "stackwise_num_blocks": [1, 2],
                  "stackwise_expansion": [[16], [24, 24]],
                  "stackwise_num_filters": [[8], [16, 16]],
                  "stackwise_kernel_size": [[3], [3, 3]],
                  "stackwise_num_strides": [[2], [2, 1]],
                  "stackwise_se_ratio": [[None], [0.25, 0.25]],
                  "stackwise_activation": [["relu"], ["hard_swish", "hard_swish"]],
                  "stackwise_padding": [[1], [1, 1]], "output_num_filters": 32,
                  "input_num_filters": 8, "depthwise_filters": 8,
                  "last_layer_filter": 32},
    "densenet": {"stackwise_num_repeats": [2, 2], "compression_ratio": 0.5,
                 "growth_rate": 4},
}


def tiny_config(arch) -> dict:
    """The keras-hub row's tiny configuration (:data:`TINY_CONFIGS`)."""
    return TINY_CONFIGS.get(arch.name, {})


def tiny_size(arch) -> int:
    """The tiny preset's image size: its positional embeddings' or the entry's least."""
    shape = tiny_config(arch).get("image_shape")
    return int(shape[0]) if arch.fixed_size else arch.min_size


def make_preset(arch, folder, num_classes: int = 3, config: dict | None = None):
    """``folder`` as a keras-hub preset of ``arch`` at its tiny configuration (or
    ``config``)."""
    import keras_hub

    backbone = getattr(keras_hub.models, arch.builder)(**(config or tiny_config(arch)))
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
    strides as the full network, one or two blocks a stage and a few channels (the seven
    entries below took 194 s through the conformance test alone at full width on two
    cores, 58 s tiny; measured 2026-11-30). ``None``:
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


def narrow_vgg16(include_top=True, weights=None, input_shape=None, **_):
    """``keras.applications.VGG16``'s layers — the same names, 13 convolutions in five
    blocks, pools and (with ``include_top``) flatten/fc1/fc2/predictions — at a few
    channels each: 0.49 M parameters instead of 14.7 M (enough that int8 weights
    still dominate a LiteRT file). For tests whose point is not the network — the
    export formats, int8 calibration from torch, two-worker training, the torch and
    jax image flows (``backend_flow.py --narrow-vgg16``), the soak's image cycles, the
    strategy tests (two-phase, on every backend) — where the full width's every
    export and ONNX/LiteRT conversion moved ~60 MB a file.
    (Not where the network is the point: Grad-CAM's localization, checkpoint sizes, the
    disk-full export.)"""
    import keras
    from keras import layers

    x = inputs = keras.Input(shape=input_shape or (224, 224, 3))
    for block, (width, convs) in enumerate(((8, 2), (16, 2), (32, 3), (64, 3), (128, 3)), 1):
        for i in range(1, convs + 1):
            x = layers.Conv2D(width, 3, activation="relu", padding="same",
                              name=f"block{block}_conv{i}")(x)
        x = layers.MaxPooling2D(2, strides=2, name=f"block{block}_pool")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(32, activation="relu", name="fc1")(x)
        x = layers.Dense(32, activation="relu", name="fc2")(x)
        x = layers.Dense(1000, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, x, name="vgg16")


def narrow_vgg16_cli(backend: str = "tensorflow") -> list:
    """The command line of ``desktop-ft`` whose ``vgg16`` is :func:`narrow_vgg16`, on
    ``backend`` (the child sets KERAS_BACKEND itself, before Keras is imported to patch
    it; pass ``--backend`` too when the command says which it wants)."""
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    return [sys.executable, "-c", "\n".join((
        "import os, sys",
        f"os.environ['KERAS_BACKEND'] = {backend!r}",
        f"sys.path.insert(0, {str(root)!r})",
        "import keras",
        "from tests.core.image_presets import narrow_vgg16",
        "keras.applications.VGG16 = narrow_vgg16",
        "from desktop_ft.cli import main",
        "sys.exit(main(sys.argv[1:]))"))]
