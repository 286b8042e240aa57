"""The keras-hub image architectures: one entry per ImageClassifier backbone of keras-hub
0.32 (presets from ``keras_hub/src/models/*/*_presets.py``), and which entry a local
folder is.

A local folder is a keras-hub preset (``config.json`` names the backbone class), a
Hugging Face transformers folder (``model_type``: vit, deit, swin) or a timm folder
(``architecture``: resnet…, efficientnet…, mobilenetv3…, densenet…), converted by
keras-hub. Preprocessing is each preset's ImageConverter (read when a preset loads);
the entry's is for ``--weights none`` and tiny test presets: ImageNet mean/std (TORCH)
for the timm- and Hugging-Face-converted networks, [-1, 1] for ViT. Parameters are the
backbone's ``count_params()`` at ``default_config`` (the first preset's network; checked
against ``desktop-ft layers --model NAME --weights none``). keras-hub publishes no
ImageNet top-1 for these presets, so the picker shows none.
"""

from __future__ import annotations

import json
from pathlib import Path

from desktop_ft.core.errors import Worded
from desktop_ft.core.models.image.entry import TF, TORCH, ImageArchitecture

_TRANSFORMER_BLOCKS = ((r"^(transformer_block_\d+)$", r"\1"),
                       (r"patching_and_embedding", "embeddings"), (r"^ln$", "top"))
# EfficientNet's block names, in keras.applications and keras-hub alike.
EFFNET_BLOCKS = ((r"^(block(\d+))([a-z])_", r"\1/\1\3"), (r"^stem_", "stem"),
                 (r"^top_", "top"), (r"^(rescaling|normalization)", ""))
# EfficientNet-B0 as keras-hub converts timm's efficientnet_b0 (its presets' source).
_EFFNET_B0 = {
    "stackwise_width_coefficients": [1.0] * 7, "stackwise_depth_coefficients": [1.0] * 7,
    "stackwise_kernel_sizes": [3, 3, 5, 3, 5, 5, 3],
    "stackwise_num_repeats": [1, 2, 2, 3, 3, 4, 1],
    "stackwise_input_filters": [32, 16, 24, 40, 80, 112, 192],
    "stackwise_output_filters": [16, 24, 40, 80, 112, 192, 320],
    "stackwise_expansion_ratios": [1, 6, 6, 6, 6, 6, 6],
    "stackwise_squeeze_and_excite_ratios": [0.25] * 7,
    "stackwise_strides": [1, 2, 2, 2, 1, 2, 1], "stackwise_block_types": ["v1"] * 7,
    "min_depth": None, "include_stem_padding": True, "use_depth_divisor_as_min_depth": True,
    "cap_round_filter_decrease": True, "stem_conv_padding": "valid",
    "batch_norm_momentum": 0.9, "batch_norm_epsilon": 1e-5, "dropout": 0,
    "projection_activation": None}
# MobileNetV3-Small 1.0 as keras-hub converts timm's mobilenetv3_small_100.
_MOBILENET_V3_SMALL = {
    "stackwise_num_blocks": [2, 3, 2, 3],
    "stackwise_expansion": [[72, 88], [96, 240, 240], [120, 144], [288, 576, 576]],
    "stackwise_num_filters": [[24, 24], [40, 40, 40], [48, 48], [96, 96, 96]],
    "stackwise_kernel_size": [[3, 3], [5, 5, 5], [5, 5], [5, 5, 5]],
    "stackwise_num_strides": [[2, 1], [2, 1, 1], [1, 1], [2, 1, 1]],
    "stackwise_se_ratio": [[None, None], [0.25] * 3, [0.25] * 2, [0.25] * 3],
    "stackwise_activation": [["relu", "relu"], ["hard_swish"] * 3, ["hard_swish"] * 2,
                             ["hard_swish"] * 3],
    "stackwise_padding": [[1, 1], [2, 2, 2], [2, 2], [2, 2, 2]],
    "output_num_filters": 1024, "input_num_filters": 16, "depthwise_filters": 16,
    "depthwise_stride": 2, "depthwise_residual": False, "squeeze_and_excite": 0.5,
    "last_layer_filter": 576, "input_activation": "hard_swish",
    "output_activation": "hard_swish"}

HUB_ARCHITECTURES = (
    ImageArchitecture(
        "vit", "ViT (keras-hub) — images", "ViTBackbone", "keras_hub", TF, None,
        _TRANSFORMER_BLOCKS, 85_798_656, None, fixed_size=True, pooling="avg1d",
        has_bn=False, expand=("ViTEncoder",), lora_targets=("query", "value"),
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
        _TRANSFORMER_BLOCKS, 85_800_192, None, fixed_size=True, pooling="avg1d",
        has_bn=False, expand=("DeiTEncoder",), lora_targets=("query", "value"),
        presets=("deit_tiny_distilled_patch16_224_imagenet",
                 "deit_small_distilled_patch16_224_imagenet",
                 "deit_base_distilled_patch16_224_imagenet"),
        default_config={"image_shape": (224, 224, 3), "patch_size": 16, "num_layers": 12,
                        "num_heads": 12, "hidden_dim": 768, "intermediate_dim": 3072},
        tiny_config={"image_shape": (32, 32, 3), "patch_size": 8, "num_layers": 2,
                     "num_heads": 2, "hidden_dim": 16, "intermediate_dim": 32},
        hf_model_types=("deit",), signature="deit_patching_and_embedding"),
    ImageArchitecture(
        "swin", "Swin Transformer (keras-hub) — images", "SwinTransformerBackbone",
        "keras_hub", TORCH, None,
        # The final norm joins the last stage: "partial" then trains more than a norm.
        ((r"^(stage_\d+)$", r"\1"), (r"^(patch_embedding|pos_drop)$", "embeddings")),
        27_519_354, None, fixed_size=True, pooling="avg1d", has_bn=False,
        lora_targets=("attention_qkv",),
        presets=("swin_tiny_patch4_window7_224", "swin_small_patch4_window7_224",
                 "swin_base_patch4_window7_224", "swin_base_patch4_window12_384",
                 "swin_large_patch4_window7_224", "swin_large_patch4_window12_384"),
        default_config={"image_shape": (224, 224, 3), "patch_size": 4, "embed_dim": 96,
                        "depths": (2, 2, 6, 2), "num_heads": (3, 6, 12, 24),
                        "window_size": 7, "mlp_ratio": 4.0, "qkv_bias": True,
                        "drop_path": 0.1},
        # Stochastic depth on: frozen blocks must still compute as at inference.
        tiny_config={"image_shape": (32, 32, 3), "patch_size": 4, "embed_dim": 8,
                     "depths": (2, 2), "num_heads": (2, 2), "window_size": 4,
                     "drop_path": 0.1},
        hf_model_types=("swin",), speed=7.4),
    ImageArchitecture(
        "resnet", "ResNet (keras-hub) — images", "ResNetBackbone", "keras_hub", TORCH, None,
        # ResNetV2's post_bn joins the last stage (a group of BatchNorm alone would
        # not train under "partial").
        ((r"^(stack\d+)_(block\d+)_", r"\1/\2"), (r"^(conv\d|pool1)_", "stem")),
        23_561_152, None,
        presets=("resnet_18_imagenet", "resnet_50_imagenet", "resnet_101_imagenet",
                 "resnet_152_imagenet", "resnet_v2_50_imagenet", "resnet_v2_101_imagenet",
                 "resnet_vd_18_imagenet", "resnet_vd_34_imagenet", "resnet_vd_50_imagenet",
                 "resnet_vd_50_ssld_imagenet", "resnet_vd_50_ssld_v2_imagenet",
                 "resnet_vd_50_ssld_v2_fix_imagenet", "resnet_vd_101_imagenet",
                 "resnet_vd_101_ssld_imagenet", "resnet_vd_152_imagenet",
                 "resnet_vd_200_imagenet"),
        default_config={"input_conv_filters": [64], "input_conv_kernel_sizes": [7],
                        "stackwise_num_filters": [64, 128, 256, 512],
                        "stackwise_num_blocks": [3, 4, 6, 3],
                        "stackwise_num_strides": [1, 2, 2, 2],
                        "block_type": "bottleneck_block", "use_pre_activation": False},
        # keras-hub requires 64 filters in the first stage.
        tiny_config={"input_conv_filters": [64], "input_conv_kernel_sizes": [3],
                     "stackwise_num_filters": [64, 16], "stackwise_num_blocks": [1, 1],
                     "stackwise_num_strides": [1, 2], "block_type": "basic_block"},
        timm_architectures=("resnet",), speed=12.6),
    ImageArchitecture(
        "efficientnet", "EfficientNet (keras-hub) — images", "EfficientNetBackbone",
        "keras_hub", TORCH, None, EFFNET_BLOCKS, 4_049_564, None,
        presets=("efficientnet_b0_ra_imagenet", "efficientnet_b0_ra4_e3600_r224_imagenet",
                 "efficientnet_b1_ft_imagenet", "efficientnet_b1_ra4_e3600_r240_imagenet",
                 "efficientnet_b2_ra_imagenet", "efficientnet_b3_ra2_imagenet",
                 "efficientnet_b4_ra2_imagenet", "efficientnet_b5_sw_imagenet",
                 "efficientnet_b5_sw_ft_imagenet", "efficientnet_el_ra_imagenet",
                 "efficientnet_em_ra2_imagenet", "efficientnet_es_ra_imagenet",
                 "efficientnet2_rw_m_agc_imagenet", "efficientnet2_rw_s_ra2_imagenet",
                 "efficientnet2_rw_t_ra2_imagenet", "efficientnet_lite0_ra_imagenet"),
        default_config=_EFFNET_B0,
        # Stochastic depth on (dropout): frozen blocks must still compute as at inference.
        # num_features stays 1280: keras-hub 0.32's get_config leaves it out, so a preset
        # saved with another width does not load back.
        tiny_config={**_EFFNET_B0, "stackwise_width_coefficients": [1.0] * 2,
                     "stackwise_depth_coefficients": [1.0] * 2,
                     "stackwise_kernel_sizes": [3, 3], "stackwise_num_repeats": [1, 2],
                     "stackwise_input_filters": [8, 8], "stackwise_output_filters": [8, 16],
                     "stackwise_expansion_ratios": [1, 2],
                     "stackwise_squeeze_and_excite_ratios": [0.25, 0.25],
                     "stackwise_strides": [1, 2], "stackwise_block_types": ["v1", "v1"],
                     "stackwise_force_input_filters": [0, 0],
                     "stackwise_nores_option": [False, False], "dropout": 0.2},
        timm_architectures=("efficientnet",), speed=31.0),
    ImageArchitecture(
        "mobilenet", "MobileNetV3 (keras-hub) — images", "MobileNetBackbone", "keras_hub",
        TORCH, None,
        ((r"^(block_\d+)_\d+$", r"\1"), (r"^(input_|activation$)", "stem")),
        939_120, None,
        presets=("mobilenet_v3_small_100_imagenet", "mobilenet_v3_small_050_imagenet",
                 "mobilenet_v3_large_100_imagenet", "mobilenet_v3_large_100_imagenet_21k"),
        default_config=_MOBILENET_V3_SMALL,
        tiny_config={**_MOBILENET_V3_SMALL, "stackwise_num_blocks": [1, 2],
                     "stackwise_expansion": [[16], [24, 24]],
                     "stackwise_num_filters": [[8], [16, 16]],
                     "stackwise_kernel_size": [[3], [3, 3]],
                     "stackwise_num_strides": [[2], [2, 1]],
                     "stackwise_se_ratio": [[None], [0.25, 0.25]],
                     "stackwise_activation": [["relu"], ["hard_swish", "hard_swish"]],
                     "stackwise_padding": [[1], [1, 1]], "output_num_filters": 32,
                     "input_num_filters": 8, "depthwise_filters": 8,
                     "last_layer_filter": 32},
        timm_architectures=("mobilenetv3",), speed=18.6),
    ImageArchitecture(
        "densenet", "DenseNet (keras-hub) — images", "DenseNetBackbone", "keras_hub", TORCH,
        None,
        ((r"^(stack\d+)_(block\d+)_", r"\1/\2"), (r"^transition(\d+)_", r"stack\1/transition"),
         (r"^(conv1_|pool1$)", "stem")),            # the final bn: the last stack
        7_037_504, None,
        presets=("densenet_121_imagenet", "densenet_169_imagenet", "densenet_201_imagenet"),
        default_config={"stackwise_num_repeats": [6, 12, 24, 16], "compression_ratio": 0.5,
                        "growth_rate": 32},
        tiny_config={"stackwise_num_repeats": [2, 2], "compression_ratio": 0.5,
                     "growth_rate": 4},
        timm_architectures=("densenet",), speed=14.6),
)


def _read_config(path) -> dict | None:
    try:
        data = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def architecture_for_folder(path) -> ImageArchitecture | None:
    """The keras-hub entry whose preset, Hugging Face or timm folder ``path`` is, from
    its config.json; None when it is not one."""
    data = _read_config(path)
    if data is None:
        return None
    class_name = str(data.get("class_name", ""))
    model_type = str(data.get("model_type", ""))
    timm = str(data.get("architecture", ""))
    for arch in HUB_ARCHITECTURES:
        if class_name == arch.builder or model_type in arch.hf_model_types or (
                timm and arch.timm_architectures
                and timm.startswith(arch.timm_architectures)):
            return arch
    return None


def folder_mismatch(path, arch: ImageArchitecture) -> str | None:
    """One line saying why the local folder ``path`` cannot load as ``arch`` and what to
    use instead; None when it is ``arch``'s (or says nothing: keras-hub will tell)."""
    data = _read_config(path)
    if data is None:
        return None
    found = architecture_for_folder(path)
    if found is arch:
        return None
    what = (f"a keras-hub {data['class_name']}" if data.get("class_name") else
            f"a Hugging Face '{data['model_type']}' model" if data.get("model_type") else
            f"a timm '{data['architecture']}' model" if data.get("architecture") else None)
    if what is None:
        return None
    if found is not None:
        return Worded(f"{path} holds {what}, not {arch.short}: use --model {found.name} "
                      f"({found.short}).", window=f"{path} holds {what}, not {arch.short}: "
                      f"choose {found.short} under Network.")
    known = ", ".join(a.name for a in HUB_ARCHITECTURES)
    facts = f"{path} holds {what}, which no image entry loads. keras-hub image entries: {known}"
    return Worded(f"{facts} (`desktop-ft models`); a keras.applications network takes a "
                  "Keras weights file (--weights FILE).",
                  window=f"{facts}; a keras.applications network takes a Keras weights "
                         "file (Weights → From file…).")
