"""The image architectures: one entry each, over ``keras.applications`` (here) and
keras-hub (:mod:`.hub_architectures`); :class:`~.entry.ImageArchitecture` says what an
entry holds.

An entry is data: how to build the backbone (a ``keras.applications`` constructor or a
keras-hub backbone class), its preprocessing (one affine map per channel after an
optional RGB→BGR flip, what each ``preprocess_input`` does), its allowed and default
image sizes, how its layers are grouped into blocks for the tree, where its pooled
features are, where ImageNet weights come from, and what the picker shows (parameters
of the no-top backbone, ImageNet top-1 as Keras documents it, and CPU speed measured by
``bench/image_backbones.py``). Adding an architecture is one entry here plus, for
keras-hub ones, a tiny configuration (tests/core/image_presets.py).
"""

from __future__ import annotations

from desktop_ft.core.models.image.entry import (CAFFE, RAW, TF, TORCH,  # noqa: F401
                                                ImageArchitecture)
from desktop_ft.core.models.image.hub_architectures import (  # noqa: F401
    EFFNET_BLOCKS, HUB_ARCHITECTURES, architecture_for_folder)

_KA = "https://storage.googleapis.com/tensorflow/keras-applications/"


def _ka(file, hash_, folder):
    return (file, f"{_KA}{folder}/{file}", hash_)


_VGG_BLOCKS = ((r"^(block\d+)_", r"\1"), (r"^(fc\d|flatten)$", "classifier"))
_RESNET_BLOCKS = ((r"^(conv\d)_", r"\1"), (r"^pool1_", "conv1"))   # post_bn: conv5
_MNV3_BLOCKS = ((r"^(expanded_conv_\d+)_", r"\1"), (r"^expanded_conv_", "expanded_conv_0"),
                (r"^conv_1", "top"), (r"^(conv|conv_bn)$", "stem"), (r"^rescaling", ""))

ARCHITECTURES: dict[str, ImageArchitecture] = {a.name: a for a in (
    ImageArchitecture(
        "vgg16", "VGG16 — images", "VGG16", "keras.applications", CAFFE,
        _ka("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
            "6d6bbae143d832006294945121d1f1fc", "vgg16"),
        _VGG_BLOCKS, 14_714_688, 71.3, chain=True, has_bn=False,
        imagenet_top=_ka("vgg16_weights_tf_dim_ordering_tf_kernels.h5",
                         "64373286793e3c8b2b4e3219cbf3544b", "vgg16"),
        speed=3.8, signature="block5_conv3"),
    ImageArchitecture(
        "vgg19", "VGG19 — images", "VGG19", "keras.applications", CAFFE,
        _ka("vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
            "253f8cb515780f3b799900260a226db6", "vgg19"),
        _VGG_BLOCKS, 20_024_384, 71.3, chain=True, has_bn=False,
        imagenet_top=_ka("vgg19_weights_tf_dim_ordering_tf_kernels.h5",
                         "cbe5617147190e668d6c5d5026f83318", "vgg19"),
        speed=2.0, signature="block5_conv4"),
    ImageArchitecture(
        "resnet50_v2", "ResNet50V2 — images", "ResNet50V2", "keras.applications", TF,
        _ka("resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
            "fac2f116257151a9d068a22e544a4917", "resnet"),
        _RESNET_BLOCKS, 23_564_800, 76.0, speed=9.2, signature="conv2_block1_preact_bn"),
    ImageArchitecture(
        "mobilenet_v2", "MobileNetV2 — images", "MobileNetV2", "keras.applications", TF,
        _ka("mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5", None,
            "mobilenet_v2"),
        ((r"^(block_\d+)_", r"\1"), (r"^expanded_conv_", "block_0"),
         (r"^(Conv_1|out_relu)", "top"), (r"^(Conv1|bn_Conv1)", "stem")),
        2_257_984, 71.3, speed=26.9, signature="bn_Conv1"),
    ImageArchitecture(
        "mobilenet_v3_small", "MobileNetV3-Small — images", "MobileNetV3Small",
        "keras.applications", RAW,
        _ka("weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5",
            "d3e8ec802a04aa4fc771ee12a9a9b836", "mobilenet_v3"),
        _MNV3_BLOCKS, 939_120, 68.1, speed=88.9, signature="expanded_conv_depthwise_bn"),
    ImageArchitecture(
        "mobilenet_v3_large", "MobileNetV3-Large — images", "MobileNetV3Large",
        "keras.applications", RAW,
        _ka("weights_mobilenet_v3_large_224_1.0_float_no_top_v2.h5",
            "07fb09a5933dd0c8eaafa16978110389", "mobilenet_v3"),
        _MNV3_BLOCKS, 2_996_352, 75.6, speed=35.3, signature="expanded_conv_depthwise_bn"),
    *(ImageArchitecture(
        f"efficientnet_v2_b{i}", f"EfficientNetV2-B{i} — images", f"EfficientNetV2B{i}",
        "keras.applications", RAW,
        _ka(f"efficientnetv2-b{i}_notop.h5", h, "efficientnet_v2"),
        EFFNET_BLOCKS, p, t, default_size=s, speed=v, signature="block1a_project_conv")
      for i, h, p, t, s, v in (
          (0, "893217f2bb855e2983157299931e43ff", 5_919_312, 78.7, 224, 21.5),
          (1, "0e80663031ca32d657f9caa404b6ec37", 6_931_124, 79.8, 240, 20.7),
          (2, "1dfe2e7a5d45b6632553a8961ea609eb", 8_769_374, 80.5, 260, 17.3),
          (3, "f6abf7b5849ac99a89b50dd3fd532856", 12_930_622, 82.0, 300, 11.9))),
    ImageArchitecture(
        "convnext_tiny", "ConvNeXt-Tiny — images", "ConvNeXtTiny", "keras.applications", RAW,
        _ka("convnext_tiny_notop.h5",
            "d547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1", "convnext"),
        ((r"_stage_(\d+)_block_(\d+)_", r"stage_\1/block_\2"), (r"_downsampling_", ""),
         (r"_(prestem|stem)", "stem"), (r"^layer_normalization$", "top")),
        27_820_128, 81.3, has_bn=False, speed=1.3, signature="convnext_tiny_stem"),
    ImageArchitecture(
        "densenet121", "DenseNet121 — images", "DenseNet121", "keras.applications", TORCH,
        _ka("densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
            "30ee3e1110167f948a6b9946edeeb738", "densenet"),
        ((r"^(conv\d)_", r"\1"), (r"^pool1$", "conv1")),     # the final bn: conv5
        7_037_504, 75.0, speed=8.4, signature="conv5_block16_1_bn"),
    ImageArchitecture(
        "xception", "Xception — images", "Xception", "keras.applications", TF,
        _ka("xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
            "b0042744bf5b25fce3cb969f33bebb97", "xception"),
        ((r"^(block\d+)_", r"\1"),), 20_861_480, 79.0, default_size=299, min_size=71,
        speed=7.4, signature="block1_conv1_bn"),
    *HUB_ARCHITECTURES,
)}

