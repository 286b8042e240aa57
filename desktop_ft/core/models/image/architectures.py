"""The image architectures: one entry each, over ``keras.applications`` and keras-hub.

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

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

_KA = "https://storage.googleapis.com/tensorflow/keras-applications/"

# (scale, offset, bgr): model input = (x[..., ::-1] if bgr else x) * scale + offset
CAFFE = ((1.0, 1.0, 1.0), (-103.939, -116.779, -123.68), True)
TF = ((1 / 127.5,) * 3, (-1.0,) * 3, False)
TORCH = (tuple(1 / (255.0 * s) for s in (0.229, 0.224, 0.225)),
         tuple(-m / s for m, s in zip((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))), False)
RAW = ((1.0,) * 3, (0.0,) * 3, False)          # the model normalizes inside


@dataclass(frozen=True)
class ImageArchitecture:
    name: str                      # CLI name (snake_case)
    title: str                     # the picker's line
    builder: str                   # keras.applications.<builder> or keras_hub.models.<builder>
    source: str                    # "keras.applications" | "keras_hub"
    preprocessing: tuple           # (scale, offset, bgr), see above
    imagenet: tuple | None         # (file, url, hash) of the no-top ImageNet weights
    blocks: tuple                  # ((regex, group), ...): a layer's tree group by name
    params: int                    # of the no-top backbone at the default size
    top1: float | None             # ImageNet top-1 (%), as Keras documents it
    default_size: int = 224
    min_size: int = 32
    fixed_size: bool = False       # positional embeddings fix the size (ViT)
    pooling: str = "avg2d"         # "avg2d" (feature map) | "avg1d" (tokens)
    chain: bool = False            # the backbone is one chain: its layers are flattened
    imagenet_top: tuple | None = None   # (file, url, hash) with fc1/fc2 ("original" head)
    presets: tuple = ()            # keras-hub preset names
    default_config: dict = field(default_factory=dict)   # keras-hub, --weights none
    tiny_config: dict = field(default_factory=dict)      # keras-hub, tests
    expand: tuple = ()             # container layers whose sublayers are tree rows
    hf_model_types: tuple = ()     # config.json "model_type" values of its HF folders
    speed: float | None = None     # images/s, inference at 224 px, 2-core CPU (bench/)
    signature: str = ""            # a weighted layer only this network names so

    @property
    def has_bn(self) -> bool:
        return self.source == "keras.applications" and not self.name.startswith(
            ("vgg", "convnext"))

    @property
    def offers_lora(self) -> bool:
        """Dense/EinsumDense layers to adapt: transformers."""
        return self.pooling == "avg1d"

    @property
    def original_head(self) -> bool:
        return self.imagenet_top is not None

    def group_of(self, layer_name: str) -> str | None:
        """The tree group a backbone layer belongs to; ``None``: the group of the layer
        before it; ``""``: the group of the layer after it."""
        for pattern, group in self.blocks:
            m = re.search(pattern, layer_name)
            if m:
                return m.expand(group) if group else ""
        return None

    def describe(self) -> str:
        top1 = f"{self.top1:.1f} %" if self.top1 is not None else "—"
        return f"{self.params / 1e6:.1f} M params · ImageNet top-1 {top1}" + (
            f" · {self.speed:.0f} img/s (CPU)" if self.speed else "")


def _ka(file, hash_, folder):
    return (file, f"{_KA}{folder}/{file}", hash_)


_VGG_BLOCKS = ((r"^(block\d+)_", r"\1"), (r"^(fc\d|flatten)$", "classifier"))
_RESNET_BLOCKS = ((r"^(conv\d)_", r"\1"), (r"^pool1_", "conv1"))   # post_bn: conv5
_EFFNET_BLOCKS = ((r"^(block(\d+))([a-z])_", r"\1/\1\3"), (r"^stem_", "stem"),
                  (r"^top_", "top"), (r"^(rescaling|normalization)", ""))
_MNV3_BLOCKS = ((r"^(expanded_conv_\d+)_", r"\1"), (r"^expanded_conv_", "expanded_conv_0"),
                (r"^conv_1", "top"), (r"^(conv|conv_bn)$", "stem"), (r"^rescaling", ""))

ARCHITECTURES: dict[str, ImageArchitecture] = {a.name: a for a in (
    ImageArchitecture(
        "vgg16", "VGG16 — images", "VGG16", "keras.applications", CAFFE,
        _ka("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
            "6d6bbae143d832006294945121d1f1fc", "vgg16"),
        _VGG_BLOCKS, 14_714_688, 71.3, chain=True,
        imagenet_top=_ka("vgg16_weights_tf_dim_ordering_tf_kernels.h5",
                         "64373286793e3c8b2b4e3219cbf3544b", "vgg16"),
        speed=3.8, signature="block5_conv3"),
    ImageArchitecture(
        "vgg19", "VGG19 — images", "VGG19", "keras.applications", CAFFE,
        _ka("vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
            "253f8cb515780f3b799900260a226db6", "vgg19"),
        _VGG_BLOCKS, 20_024_384, 71.3, chain=True,
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
        _EFFNET_BLOCKS, p, t, default_size=s, speed=v, signature="block1a_project_conv")
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
        27_820_128, 81.3, speed=1.3, signature="convnext_tiny_stem"),
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
    ImageArchitecture(
        "vit", "ViT (keras-hub) — images", "ViTBackbone", "keras_hub", TF, None,
        ((r"^(transformer_block_\d+)$", r"\1"), (r"patching_and_embedding", "embeddings"),
         (r"^ln$", "top")),
        85_798_656, None, fixed_size=True, pooling="avg1d", expand=("ViTEncoder",),
        presets=("vit_base_patch16_224_imagenet", "vit_base_patch16_224_imagenet21k",
                 "vit_large_patch16_224_imagenet"),
        default_config={"image_shape": (224, 224, 3), "patch_size": 16, "num_layers": 12,
                        "num_heads": 12, "hidden_dim": 768, "mlp_dim": 3072,
                        "use_mha_bias": True},
        tiny_config={"image_shape": (32, 32, 3), "patch_size": 8, "num_layers": 2,
                     "num_heads": 2, "hidden_dim": 16, "mlp_dim": 32,
                     "use_mha_bias": True},
        hf_model_types=("vit",), signature="vit_patching_and_embedding"),
    ImageArchitecture(
        "deit", "DeiT (keras-hub) — images", "DeiTBackbone", "keras_hub", TORCH, None,
        ((r"^(transformer_block_\d+)$", r"\1"), (r"patching_and_embedding", "embeddings"),
         (r"^ln$", "top")),
        85_800_192, None, fixed_size=True, pooling="avg1d", expand=("DeiTEncoder",),
        presets=("deit_tiny_distilled_patch16_224_imagenet",
                 "deit_small_distilled_patch16_224_imagenet",
                 "deit_base_distilled_patch16_224_imagenet"),
        default_config={"image_shape": (224, 224, 3), "patch_size": 16, "num_layers": 12,
                        "num_heads": 12, "hidden_dim": 768, "intermediate_dim": 3072},
        tiny_config={"image_shape": (32, 32, 3), "patch_size": 8, "num_layers": 2,
                     "num_heads": 2, "hidden_dim": 16, "intermediate_dim": 32},
        hf_model_types=("deit",), signature="deit_patching_and_embedding"),
)}


def architecture_for_folder(path) -> ImageArchitecture | None:
    """The keras-hub entry whose preset (or Hugging Face) folder ``path`` is, from its
    config.json; None when it is not one."""
    config = Path(path) / "config.json"
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    class_name = str(data.get("class_name", ""))
    model_type = str(data.get("model_type", ""))
    for arch in ARCHITECTURES.values():
        if arch.source == "keras_hub" and (class_name == arch.builder
                                           or model_type in arch.hf_model_types):
            return arch
    return None
